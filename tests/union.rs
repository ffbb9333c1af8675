//! `ppd prepare` taking its dependencies' trees from their manifests: the
//! same trees, conflicts and manifests as reading every directory (the
//! dependencies' manifests moved away) and as the real rsync loop, with
//! dependencies installed into after their prepare, changed behind ppd's
//! back, restored from a copy, or with a damaged, truncated, missing or
//! older-format manifest; on the temporary directory's file system and
//! again on XFS, btrfs and tmpfs (as root), whose directory ctimes, which
//! the manifests' directory records are trusted by, behave differently.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const TREES: [&str; 2] = ["host", "target"];

/// A dependency-free package's trees: nested directories (several
/// entries per directory, as real packages have), files with odd modes
/// and nanosecond mtimes, symlinks, a hard-link group, and a file shared
/// with other packages (one inode in several trees).
fn base_package(pp: &Path, name: &str, rng: &mut Rng) {
    for tree in TREES {
        let root = pp.join(name).join(tree);
        for d in [
            "usr/lib/pkgconfig",
            "usr/include/sub",
            "usr/share/doc",
            "etc",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let dirs = [
            "usr/lib",
            "usr/lib/pkgconfig",
            "usr/include/sub",
            "usr/share/doc",
            "etc",
        ];
        let mut first = None;
        for i in 0..8 {
            let d = rng.pick(&dirs);
            // Some names every package has: conflicts and same-inode
            // duplicates.
            let file = if i < 2 {
                format!("common{i}")
            } else {
                format!("{name}-{i}")
            };
            let p = root.join(d).join(file);
            if p.exists() {
                continue;
            }
            std::fs::write(&p, format!("{name} {}", rng.next())).unwrap();
            let mode = *rng.pick(&[0o644, 0o755, 0o600, 0o444]);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            set_mtime(&p, 1_400_000_000 + rng.below(1000) as i64, 17);
            first.get_or_insert(p);
        }
        let f = first.unwrap();
        std::fs::hard_link(&f, root.join("usr/lib").join(format!("{name}-group"))).unwrap();
        let shared = pp.join("../shared");
        std::fs::create_dir_all(&shared).unwrap();
        let s = shared.join(tree);
        if !s.exists() {
            std::fs::write(&s, "shared").unwrap();
        }
        std::fs::hard_link(&s, root.join("usr/share/shared")).unwrap();
        std::os::unix::fs::symlink(format!("{name}-2"), root.join(format!("usr/lib/{name}.so")))
            .unwrap();
        std::os::unix::fs::symlink("../lib", root.join("usr/include/lib")).unwrap();
        for d in dirs.iter().chain(&["", "usr", "usr/include", "usr/share"]) {
            set_mtime(&root.join(d), 1_300_000_000 + rng.below(100) as i64, 5);
        }
    }
}

/// `ppd prepare` of `pkg` from `deps`, with hard links whatever the file
/// system (the comparisons below are of inodes; `auto` clones on XFS and
/// btrfs, a new inode per prepare).
fn prepare_pkg(pp: &Path, pkg: &str, deps: &[&str]) {
    ok(ppd()
        .args([
            "prepare",
            "--link-mode",
            "hardlink",
            "--conflicts",
            "ignore",
        ])
        .arg("--per-package-dir")
        .arg(pp)
        .args(["--pkg", pkg])
        .args(deps));
}

/// The world: four base packages, three packages built on them (two of
/// them install files afterwards, into new and into prepared
/// directories), each prepared by ppd so it has manifests.
fn world(r: &Path) -> PathBuf {
    let pp = r.join("per-package");
    let mut rng = Rng(0x5eed);
    for b in ["b0", "b1", "b2", "b3"] {
        base_package(&pp, b, &mut rng);
    }
    prepare_pkg(&pp, "m0", &["b0", "b1"]);
    prepare_pkg(&pp, "m1", &["b1", "b2"]);
    prepare_pkg(&pp, "m2", &["b0", "b2", "b3"]);
    for (m, n) in [("m0", 3), ("m1", 5)] {
        for tree in TREES {
            let root = pp.join(m).join(tree);
            std::fs::create_dir_all(root.join("usr/lib/own")).unwrap();
            for i in 0..n {
                std::fs::write(root.join(format!("usr/lib/own/f{i}")), m).unwrap();
            }
            std::fs::write(root.join("usr/include/sub/own.h"), m).unwrap();
            for d in ["usr/lib/own", "usr/lib", "usr/include/sub"] {
                set_mtime(&root.join(d), 1_300_000_000, 7);
            }
            // An install replacing a dependency's file (a new inode).
            let victim = root.join("usr/lib/common0");
            if victim.exists() {
                std::fs::remove_file(&victim).unwrap();
                std::fs::write(&victim, format!("{m}'s own")).unwrap();
            }
        }
    }
    pp
}

/// The dependencies of the package whose preparation is compared.
const TOP: &[&str] = &["b3", "m0", "m1", "m2"];

/// `ppd prepare` of `TOP` into `out` (its trees `out/host`,
/// `out/target`); returns its stderr and the number of directories it
/// read (`getdents64` calls under strace, when it is there).
fn prepare_into(pp: &Path, out: &Path, deps: &[&str]) -> (String, Option<usize>) {
    let traced = have("strace");
    let log = out.with_extension("strace");
    let mut cmd = if traced {
        let mut c = Command::new("strace");
        c.args(["-f", "-qq", "-e", "trace=getdents64", "-o"])
            .arg(&log)
            .arg(env!("CARGO_BIN_EXE_ppd"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_ppd"))
    };
    let o = ok(prepare_args(
        &mut cmd,
        pp,
        out,
        &["--conflicts", "warn"],
        deps,
    ));
    let reads = traced.then(|| {
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        text.lines().filter(|l| l.contains("getdents64(")).count()
    });
    (String::from_utf8_lossy(&o.stderr).into_owned(), reads)
}

/// Adds `prepare OPTS --per-package-dir PP --host-dir OUT/host
/// --target-dir OUT/target DEPS` to `cmd`, outside any make.
fn prepare_args<'c>(
    cmd: &'c mut Command,
    pp: &Path,
    out: &Path,
    opts: &[&str],
    deps: &[&str],
) -> &'c mut Command {
    cmd.env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .arg("prepare")
        .args(["--link-mode", "hardlink"])
        .args(opts)
        .arg("--per-package-dir")
        .arg(pp)
        .arg("--host-dir")
        .arg(out.join("host"))
        .arg("--target-dir")
        .arg(out.join("target"))
        .args(deps)
}

/// The directories a dry-run `ppd prepare` of `dep` into `out` opens from
/// their parents below the dependency's tree roots (relative `openat` calls
/// of directories, under strace: how a scan descends; reading a symlink's
/// target for the plan reaches its directory with one `openat2` from the
/// root instead).
fn dirs_opened_below(pp: &Path, out: &Path, dep: &str) -> usize {
    let log = out.with_extension("open-strace");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=openat,openat2", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_ppd"));
    ok(prepare_args(&mut cmd, pp, out, &["-n"], &[dep]));
    let text = std::fs::read_to_string(&log).unwrap();
    // Every other open names an absolute path: the trees' roots, the
    // manifests, the per-package directory.
    text.lines()
        .filter(|l| l.contains("openat(") && l.contains("O_DIRECTORY") && !l.contains("AT_FDCWD"))
        .count()
}

fn rsync_loop(pp: &Path, deps: &[&str], dest: &Path) {
    for tree in TREES {
        let d = dest.join(tree);
        std::fs::create_dir_all(&d).unwrap();
        for dep in deps {
            let src = format!("{}/{dep}/{tree}/", pp.display());
            let o = Command::new("rsync")
                .args(["-a", "--hard-links"])
                .arg(format!("--link-dest={src}"))
                .arg(&src)
                .arg(&d)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }
}

/// Entry by entry: type, mode, owner, mtime, symlink text, and the inode
/// of every file.
fn assert_same_tree(what: &str, a: &Path, b: &Path) {
    let (a, b) = (snapshot(a), snapshot(b));
    let ka: Vec<_> = a.keys().map(|k| String::from_utf8_lossy(k)).collect();
    let kb: Vec<_> = b.keys().map(|k| String::from_utf8_lossy(k)).collect();
    assert_eq!(ka, kb, "{what}: different entries");
    for (k, x) in &a {
        let y = &b[k];
        let p = format!("{what}: {}", String::from_utf8_lossy(k));
        assert_eq!(x.kind, y.kind, "type of {p}");
        assert_eq!(x.target, y.target, "target of {p}");
        assert_eq!((x.uid, x.gid), (y.uid, y.gid), "owner of {p}");
        assert_eq!(x.mtime, y.mtime, "mtime of {p}");
        if x.kind != "l" {
            assert_eq!(x.mode, y.mode, "mode of {p}");
        }
        if x.kind == "f" {
            assert_eq!(
                (x.dev, x.ino, x.size),
                (y.dev, y.ino, y.size),
                "inode of {p}"
            );
        }
    }
}

/// A manifest's entry records, with the directory of each (directory
/// records and the end line left out: directories differ between two
/// destinations).
fn entry_records(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        if let Some(d) = line.strip_prefix("D\t") {
            section = d.to_string();
        } else if line.starts_with("d\t") {
            section = line.rsplit('\t').next().unwrap().to_string();
        } else if !line.starts_with("end ") {
            out.push(format!("{section}|{line}"));
        }
    }
    out.sort();
    out
}

const MANIFESTS: [&str; 2] = [".host.ppd-manifest", ".target.ppd-manifest"];

/// Prepares `TOP` three ways (dependencies' manifests used, the same with
/// them moved away, the rsync loop) and checks that all agree; returns
/// the directories read with and without the manifests.
fn compare(r: &Path, pp: &Path, what: &str) -> (Option<usize>, Option<usize>) {
    let with = r.join(format!("with-{what}"));
    let (err_with, reads_with) = prepare_into(pp, &with, TOP);
    // The same paths, so the messages can be compared byte for byte.
    let without = r.join(format!("without-{what}"));
    std::fs::rename(&with, &without).unwrap();
    let mut hidden = Vec::new();
    for dep in TOP {
        for m in MANIFESTS {
            let p = pp.join(dep).join(m);
            if p.exists() {
                let away = r.join(format!("{dep}{m}"));
                std::fs::rename(&p, &away).unwrap();
                hidden.push((away, p));
            }
        }
    }
    let (err_without, reads_without) = prepare_into(pp, &with, TOP);
    for (away, p) in hidden {
        std::fs::rename(away, p).unwrap();
    }
    std::fs::rename(&with, r.join("tmp")).unwrap();
    std::fs::rename(&without, &with).unwrap();
    std::fs::rename(r.join("tmp"), &without).unwrap();
    assert_eq!(err_with, err_without, "{what}: messages");
    assert!(err_with.contains("ppd: conflict: "), "{what}: {err_with}");
    for tree in TREES {
        assert_same_tree(
            &format!("{what} {tree}"),
            &with.join(tree),
            &without.join(tree),
        );
    }
    for m in MANIFESTS {
        assert_eq!(
            entry_records(&with.join(m)),
            entry_records(&without.join(m)),
            "{what}: manifest records"
        );
    }
    if have("rsync") || under_ci() {
        let rs = r.join(format!("rsync-{what}"));
        rsync_loop(pp, TOP, &rs);
        for tree in TREES {
            assert_same_tree(
                &format!("{what} rsync {tree}"),
                &rs.join(tree),
                &with.join(tree),
            );
        }
    }
    (reads_with, reads_without)
}

#[test]
fn manifests_give_the_same_union_as_reading_every_directory() {
    if skip_without(&["rsync", "strace"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    same_union_with_changes_behind_its_back(t.path());
}

/// [`manifests_give_the_same_union_as_reading_every_directory`] in `r`.
fn same_union_with_changes_behind_its_back(r: &Path) {
    let pp = world(r);
    let (with, without) = compare(r, &pp, "installed");
    let (with, without) = (with.unwrap(), without.unwrap());
    // m2, installed into by nobody, is not read at all; m0 and m1 only
    // where their own install changed them; b3 has no manifest.
    assert!(
        with * 2 < without,
        "read {with} times, {without} without manifests"
    );

    // Only the untouched dependency: nothing read but the base package.
    let only = r.join("only-m2");
    let (_, m2_reads) = prepare_into(&pp, &only, &["m2"]);
    assert_eq!(
        m2_reads,
        Some(0),
        "an unchanged dependency's tree is not read"
    );
    // Nor opened: its directories' records are checked by path (a dry run
    // scans and plans, and places nothing, so only the scan opens them).
    assert_eq!(
        dirs_opened_below(&pp, &r.join("dry-m2"), "m2"),
        0,
        "an unchanged dependency's directories are not opened"
    );

    // Changed behind ppd's back after the manifests were written.
    for tree in TREES {
        let root = pp.join("m2").join(tree);
        // Added, in a directory prepare created.
        std::fs::write(root.join("usr/share/doc/added"), "new").unwrap();
        // Removed.
        std::fs::remove_file(root.join("usr/share/shared")).unwrap();
        // Replaced by another inode (rename over it).
        let lib = root.join("usr/lib");
        let victim = std::fs::read_dir(&lib)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_file() && !p.is_symlink())
            .unwrap();
        std::fs::write(lib.join("tmp"), "replaced").unwrap();
        std::fs::rename(lib.join("tmp"), &victim).unwrap();
        // A directory removed and made again (another inode).
        std::fs::remove_dir_all(root.join("usr/include/sub")).unwrap();
        std::fs::create_dir(root.join("usr/include/sub")).unwrap();
        std::fs::write(root.join("usr/include/sub/again.h"), "again").unwrap();
    }
    // Edited in place and chmod-ed (no directory changes): the same inode,
    // which every tree sharing it sees.
    let edited = std::fs::read_dir(pp.join("m2/host/usr/lib/pkgconfig"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file() && !p.is_symlink());
    let edited = edited.unwrap_or_else(|| pp.join("m2/host/usr/lib/pkgconfig/none"));
    if edited.exists() {
        std::fs::write(&edited, "edited in place, longer than before").unwrap();
        std::fs::set_permissions(&edited, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    // Old directory mtimes, as packages' installs leave them (the rsync
    // loop leaves a directory whose mtime is the current time as it finds
    // it in the destination).
    for tree in TREES {
        for d in [
            "",
            "usr/lib",
            "usr/share/doc",
            "usr/include/sub",
            "usr/include",
        ] {
            set_mtime(&pp.join("m2").join(tree).join(d), 1_300_000_000, 9);
        }
    }
    let (with, without) = compare(r, &pp, "changed");
    assert!(with.unwrap() < without.unwrap());
}

#[test]
fn damaged_missing_old_or_foreign_manifests_mean_reading_the_tree() {
    if skip_without(&["rsync", "strace"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    reading_the_tree_without_a_good_manifest(t.path());
}

/// [`damaged_missing_old_or_foreign_manifests_mean_reading_the_tree`] in
/// `r`.
fn reading_the_tree_without_a_good_manifest(r: &Path) {
    let pp = world(r);
    // Truncated.
    let m = pp.join("m0/.host.ppd-manifest");
    let data = std::fs::read(&m).unwrap();
    std::fs::write(&m, &data[..data.len() - 20]).unwrap();
    // A bad record line (found only when the directory's records are read).
    let m = pp.join("m2/.target.ppd-manifest");
    let text = std::fs::read_to_string(&m).unwrap();
    let at = text.find("\nf\t").unwrap() + 3;
    std::fs::write(&m, format!("{}x{}", &text[..at], &text[at..])).unwrap();
    // Missing.
    std::fs::remove_file(pp.join("m1/.target.ppd-manifest")).unwrap();
    let (with, without) = compare(r, &pp, "damaged");
    assert!(with.unwrap() < without.unwrap());

    // Written by an earlier ppd: still used.
    for dep in ["m0", "m1", "m2"] {
        std::fs::remove_dir_all(pp.join(dep)).unwrap();
        prepare_pkg(
            &pp,
            dep,
            match dep {
                "m0" => &["b0", "b1"][..],
                "m1" => &["b1", "b2"],
                _ => &["b0", "b2", "b3"],
            },
        );
        for m in MANIFESTS {
            let p = pp.join(dep).join(m);
            let v1 = to_format_1(&std::fs::read_to_string(&p).unwrap());
            std::fs::write(&p, v1).unwrap();
        }
    }
    let (with, without) = compare(r, &pp, "format-1");
    assert!(with.unwrap() * 2 < without.unwrap());
    let (only, _) = prepare_into(&pp, &r.join("only-m2-v1"), &["m2"]);
    assert_eq!(only, "");

    // Restored from a copy: the manifest's inode numbers mean nothing, the
    // tree is read whole.
    for tree in TREES {
        let root = pp.join("m2").join(tree);
        let copy = pp.join("m2").join(format!("{tree}.copy"));
        let o = Command::new("cp")
            .arg("-a")
            .arg(&root)
            .arg(&copy)
            .output()
            .unwrap();
        assert!(o.status.success());
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::rename(&copy, &root).unwrap();
    }
    let (restored, _) = prepare_into(&pp, &r.join("only-m2-restored"), &["m2"]);
    assert_eq!(restored, "");
    let (with, without) = compare(r, &pp, "restored");
    let (_, m2_reads) = prepare_into(&pp, &r.join("m2-restored-reads"), &["m2"]);
    assert!(m2_reads.unwrap() > 0, "a restored tree is read");
    assert!(with.unwrap() <= without.unwrap());
}

/// Changes made to a prepared tree at once after `ppd prepare` returns
/// (within the clock tick of its last change to the tree, where the
/// filesystem's ctimes could repeat) are seen by the prepare of a package
/// built on it: an entry added to, and one removed from, a directory the
/// first prepare created and recorded.
#[test]
fn changes_right_after_prepare_are_seen() {
    let t = tempfile::tempdir().unwrap();
    changes_right_after_prepare(t.path());
}

/// [`changes_right_after_prepare_are_seen`] in `r`.
fn changes_right_after_prepare(r: &Path) {
    let pp = r.join("per-package");
    for tree in TREES {
        let lib = pp.join("base").join(tree).join("usr/lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("libbase.so"), "base").unwrap();
        std::fs::write(lib.join("libgone.so"), "gone").unwrap();
    }
    for i in 0..20 {
        let (mid, top) = (format!("mid{i}"), format!("top{i}"));
        prepare_pkg(&pp, &mid, &["base"]);
        // As the package's install would, with no delay.
        let lib = pp.join(&mid).join("host/usr/lib");
        std::fs::write(lib.join("libown.so"), "own").unwrap();
        std::fs::remove_file(lib.join("libgone.so")).unwrap();
        prepare_pkg(&pp, &top, &[&mid]);
        let got = pp.join(&top).join("host/usr/lib");
        assert!(got.join("libown.so").exists(), "round {i}: added entry");
        assert!(!got.join("libgone.so").exists(), "round {i}: removed entry");
        assert!(got.join("libbase.so").exists(), "round {i}");
    }
}

/// The checks above on another file system: whether a directory's ctime
/// moves with every change, and how finely, is the file system's (XFS,
/// btrfs and tmpfs have multigrain timestamps, ext4 the coarse clock's
/// tick), and the manifests' directory records are trusted by it.
fn on(fs: &str) {
    if skip_without(&["rsync", "strace"]) {
        return;
    }
    let Some(im) = image(fs, &format!("union-{fs}")) else {
        return;
    };
    for (i, check) in [
        same_union_with_changes_behind_its_back as fn(&Path),
        reading_the_tree_without_a_good_manifest,
        changes_right_after_prepare,
    ]
    .into_iter()
    .enumerate()
    {
        let r = im.mnt.join(i.to_string());
        std::fs::create_dir(&r).unwrap();
        check(&r);
    }
}

#[test]
fn the_union_checks_hold_on_xfs() {
    on("xfs");
}

#[test]
fn the_union_checks_hold_on_btrfs() {
    on("btrfs");
}

#[test]
fn the_union_checks_hold_on_tmpfs() {
    on("tmpfs");
}
