//! `ppd finalize` and `ppd copy-tree` against the commands they replace:
//! Buildroot's single copy-mode rsync, the old hard-link rsync loop, and the
//! per-rootfs `rsync -auH --exclude=...`, on generated package sets with
//! overwrites, hard-link groups within and across packages, symlinks,
//! unusual modes and owners, nanosecond mtimes and sparse files.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{at, ok, ppd, run, set_mtime, snapshot, Rng, Snap};

fn is_root() -> bool {
    nix_uid() == 0
}

fn nix_uid() -> u32 {
    fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1)
}

fn write_file(p: &Path, data: &[u8], mode: u32, mtime: (i64, u32)) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = fs::remove_file(p);
    fs::write(p, data).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(p, mtime.0, mtime.1);
}

/// Creates a symlink with an old mtime. rsync compares times in whole
/// seconds before setting them, so an entry made in the same second as its
/// copy would keep the copy's own time there: real installs are older.
fn symlink(target: &str, p: &Path) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = fs::remove_file(p);
    std::os::unix::fs::symlink(target, p).unwrap();
    set_mtime(p, 1_550_000_000 + target.len() as i64, 123_456_789);
}

/// Hard-links (or recreates, for symlinks) everything of `from` into `to`,
/// like a `prepare` of one dependency: later calls win a path.
fn merge_links(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            merge_links(&src, &dst);
            let md = fs::metadata(&src).unwrap();
            fs::set_permissions(&dst, md.permissions()).unwrap();
        } else {
            let _ = fs::remove_file(&dst);
            if ft.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
                let md = fs::symlink_metadata(&src).unwrap();
                set_mtime(&dst, md.mtime(), md.mtime_nsec() as u32);
            } else {
                fs::hard_link(&src, &dst).unwrap();
            }
        }
    }
}

/// Sets every directory's mtime below `root` (after all entries exist).
fn stamp_dirs(root: &Path, rng: &mut Rng) {
    for (rel, s) in snapshot(root) {
        if s.kind == "d" {
            set_mtime(
                &at(root, &rel),
                1_600_000_000 + rng.below(1000) as i64,
                rng.below(1_000_000_000) as u32,
            );
        }
    }
}

/// Builds `n` packages under `dir/per-package`, each depending on a few
/// earlier ones (their trees hard-linked in first, as `prepare` does), then
/// installing its own files. Returns the package names in merge order.
fn gen_packages(dir: &Path, seed: u64, n: usize, tree: &str) -> Vec<String> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let pp = dir.join("per-package");
    let names: Vec<String> = (0..n).map(|i| format!("p{i:02}")).collect();
    let modes = [0o644, 0o755, 0o600, 0o444, 0o4755, 0o640, 0o2711];
    for (i, name) in names.iter().enumerate() {
        let root = pp.join(name).join(tree);
        fs::create_dir_all(&root).unwrap();
        for (d, dep) in names[..i].iter().enumerate() {
            if rng.below(3) == 0 || d == 0 {
                merge_links(&pp.join(dep).join(tree), &root);
            }
        }
        let mut mt = || {
            (
                1_500_000_000 + rng.below(100_000) as i64,
                rng.below(1_000_000_000) as u32,
            )
        };
        let mtimes: Vec<(i64, u32)> = (0..16).map(|_| mt()).collect();
        let mut k = 0;
        let mut next_mtime = || {
            k += 1;
            mtimes[k % mtimes.len()]
        };
        // Own files in shared and private directories.
        for f in 0..(3 + rng.below(6)) {
            let d = rng
                .pick(&["usr/bin", "usr/lib", "etc", "usr/share/doc", "opt/x/y"])
                .to_string();
            let len = rng.below(3000) as usize;
            let data: Vec<u8> = (0..len).map(|j| (j as u64 * 31 + seed + f) as u8).collect();
            let mode = *rng.pick(&modes);
            write_file(
                &root.join(&d).join(format!("{name}-{f}")),
                &data,
                mode,
                next_mtime(),
            );
        }
        // Overwrites: the same paths with different content.
        if rng.below(2) == 0 {
            let body = format!("info dir of {name}\n").repeat(1 + i);
            write_file(
                &root.join("usr/share/info/dir"),
                body.as_bytes(),
                0o644,
                next_mtime(),
            );
        }
        if rng.below(3) == 0 {
            write_file(
                &root.join("etc/os.conf"),
                name.as_bytes(),
                0o600,
                next_mtime(),
            );
        }
        // The same bytes installed separately: not an overwrite.
        write_file(
            &root.join("usr/share/licenses/COMMON"),
            b"same text\n",
            0o644,
            next_mtime(),
        );
        // A hard-link group of the package's own.
        let a = root.join(format!("usr/bin/{name}-a"));
        write_file(
            &a,
            format!("multi-call {name}").as_bytes(),
            0o755,
            next_mtime(),
        );
        fs::create_dir_all(root.join("usr/libexec")).unwrap();
        fs::hard_link(&a, root.join(format!("usr/bin/{name}-b"))).unwrap();
        fs::hard_link(&a, root.join(format!("usr/libexec/{name}-c"))).unwrap();
        // A link to a dependency's inode under a new name: a group across packages.
        if i > 0 {
            let dep_a = root.join("usr/bin/p00-a");
            if dep_a.exists() {
                let _ = fs::remove_file(root.join(format!("usr/bin/{name}-alias")));
                fs::hard_link(&dep_a, root.join(format!("usr/bin/{name}-alias"))).unwrap();
            }
        }
        // Symlinks: relative, absolute, dangling, to a directory, and one
        // that replaces a dependency's file.
        symlink(
            &format!("{name}-a"),
            &root.join(format!("usr/bin/{name}-sym")),
        );
        symlink(
            "/usr/bin/nowhere",
            &root.join(format!("usr/bin/{name}-abs")),
        );
        symlink("../lib", &root.join("usr/lib64"));
        if i % 3 == 2 {
            symlink("p00-0", &root.join("usr/bin/swap"));
        } else {
            write_file(
                &root.join("usr/bin/swap"),
                name.as_bytes(),
                0o755,
                next_mtime(),
            );
        }
        // A sparse file: 4 MiB with 4 KiB of data in the middle.
        if i == n / 2 {
            let p = root.join("usr/lib/firmware.img");
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            let f = fs::File::create(&p).unwrap();
            f.set_len(4 << 20).unwrap();
            std::os::unix::fs::FileExt::write_at(&f, &[0xab; 4096], 2 << 20).unwrap();
            drop(f);
            set_mtime(&p, 1_600_000_123, 456);
        }
        // Unusual directory modes and, as root, owners.
        fs::create_dir_all(root.join("tmp")).unwrap();
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::create_dir_all(root.join("root")).unwrap();
        fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700)).unwrap();
        if is_root() {
            let p = root.join(format!("etc/{name}-owned"));
            write_file(&p, b"owned", 0o640, next_mtime());
            std::os::unix::fs::lchown(&p, Some(1000 + i as u32), Some(2000)).unwrap();
        }
        stamp_dirs(&root, &mut rng);
    }
    names
}

/// Buildroot's copy-mode merge (`per-package-rsync ... copy`).
fn rsync_copy(pp: &Path, tree: &str, pkgs: &[String], dest: &Path) {
    fs::create_dir_all(dest).unwrap();
    let script = format!(
        "printf \"%s/{tree}/\\n\" \"$@\" | tac | rsync -a --hard-links --files-from=- --no-R -r {} {}",
        pp.display(),
        dest.display()
    );
    ok(Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(pkgs));
}

/// Buildroot's hard-link loop (`per-package-rsync ... hardlink`).
fn rsync_loop(pp: &Path, tree: &str, pkgs: &[String], dest: &Path) {
    fs::create_dir_all(dest).unwrap();
    for p in pkgs {
        let src = format!("{}/{p}/{tree}/", pp.display());
        ok(Command::new("rsync")
            .arg("-a")
            .arg("--hard-links")
            .arg(format!("--link-dest={src}"))
            .arg(&src)
            .arg(dest));
    }
}

fn finalize(
    pp: &Path,
    tree: &str,
    pkgs: &[String],
    dest: &Path,
    extra: &[&str],
) -> std::process::Output {
    ok(ppd()
        .arg("finalize")
        .args(extra)
        .arg("--per-package-dir")
        .arg(pp)
        .arg("--tree")
        .arg(tree)
        .arg("--dest")
        .arg(dest)
        .args(pkgs))
}

/// What rsync -a keeps, plus content and the hard-link group structure
/// (each path mapped to the first path of its inode), without inode numbers.
fn logical(root: &Path) -> BTreeMap<Vec<u8>, (Snap, Vec<u8>, Vec<u8>)> {
    let snap = snapshot(root);
    let mut first: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    snap.into_iter()
        .map(|(rel, mut s)| {
            let group = if s.kind == "f" {
                first
                    .entry((s.dev, s.ino))
                    .or_insert_with(|| rel.clone())
                    .clone()
            } else {
                Vec::new()
            };
            let data = if s.kind == "f" {
                fs::read(at(root, &rel)).unwrap()
            } else {
                Vec::new()
            };
            (s.dev, s.ino) = (0, 0);
            if s.kind == "d" {
                s.nlink = 0;
            }
            (rel, (s, data, group))
        })
        .collect()
}

fn assert_same_trees(ours: &Path, theirs: &Path) {
    let (a, b) = (logical(ours), logical(theirs));
    let keys_a: Vec<_> = a
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    let keys_b: Vec<_> = b
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(keys_a, keys_b, "paths differ");
    for (k, va) in &a {
        assert_eq!(va, &b[k], "entry {} differs", String::from_utf8_lossy(k));
    }
}

fn source_inodes(pp: &Path) -> std::collections::HashSet<(u64, u64)> {
    snapshot(pp)
        .into_values()
        .filter(|s| s.kind == "f")
        .map(|s| (s.dev, s.ino))
        .collect()
}

fn skip_without(tool: &str) -> bool {
    common::skip_without(&[tool])
}

#[test]
fn copy_mode_matches_buildroot_rsync() {
    if skip_without("rsync") {
        return;
    }
    for seed in 1..=4 {
        let t = tempfile::tempdir().unwrap();
        let pkgs = gen_packages(t.path(), seed, 7, "target");
        let pp = t.path().join("per-package");
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        rsync_copy(&pp, "target", &pkgs, &theirs);
        finalize(&pp, "target", &pkgs, &ours, &[]);
        assert_same_trees(&ours, &theirs);
        // New inodes: nothing in the final tree is a per-package inode.
        let src = source_inodes(&pp);
        for (rel, s) in snapshot(&ours) {
            assert!(
                !src.contains(&(s.dev, s.ino)) || s.kind != "f",
                "{} shares an inode with a per-package tree",
                String::from_utf8_lossy(&rel)
            );
        }
        // The cross-package group is one inode with three or more names.
        let snap = snapshot(&ours);
        let a = &snap[&b"usr/bin/p00-a"[..]];
        assert!(a.nlink >= 3, "p00-a has {} links", a.nlink);
    }
}

#[test]
fn hardlink_mode_matches_the_rsync_loop() {
    if skip_without("rsync") {
        return;
    }
    for seed in 5..=7 {
        let t = tempfile::tempdir().unwrap();
        let pkgs = gen_packages(t.path(), seed, 6, "host");
        let pp = t.path().join("per-package");
        let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
        rsync_loop(&pp, "host", &pkgs, &theirs);
        finalize(&pp, "host", &pkgs, &ours, &["--conflicts=ignore"]);
        finalize(
            &pp,
            "host",
            &pkgs,
            &ours,
            &["--mode=hardlink", "--conflicts=ignore"],
        );
        let ours_snap = snapshot(&ours);
        let theirs_snap = snapshot(&theirs);
        assert_eq!(ours_snap.len(), theirs_snap.len());
        for (k, a) in &theirs_snap {
            let b = &ours_snap[k];
            // Files are the very same inodes as rsync's links.
            if a.kind == "f" {
                assert_eq!(
                    (a.dev, a.ino),
                    (b.dev, b.ino),
                    "{}",
                    String::from_utf8_lossy(k)
                );
            }
            assert_eq!(
                (a.kind, a.mode, a.mtime, &a.target, a.uid, a.gid),
                (b.kind, b.mode, b.mtime, &b.target, b.uid, b.gid),
                "{}",
                String::from_utf8_lossy(k)
            );
        }
    }
}

#[test]
fn sparse_files_stay_sparse() {
    let t = tempfile::tempdir().unwrap();
    let pkgs = gen_packages(t.path(), 11, 4, "target");
    let pp = t.path().join("per-package");
    let dest = t.path().join("out");
    finalize(&pp, "target", &pkgs, &dest, &["--conflicts=ignore"]);
    let md = fs::metadata(dest.join("usr/lib/firmware.img")).unwrap();
    assert_eq!(md.len(), 4 << 20);
    assert!(
        md.blocks() * 512 <= 64 * 1024,
        "{} blocks allocated",
        md.blocks()
    );
    let data = fs::read(dest.join("usr/lib/firmware.img")).unwrap();
    assert!(data[..2 << 20].iter().all(|&b| b == 0));
    assert!(data[(2 << 20)..(2 << 20) + 4096].iter().all(|&b| b == 0xab));
}

fn stats(out: &std::process::Output) -> serde_json::Value {
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    v["stats"].clone()
}

#[test]
fn rerun_without_change_rewrites_nothing_and_a_change_propagates() {
    let t = tempfile::tempdir().unwrap();
    let pkgs = gen_packages(t.path(), 21, 6, "target");
    let pp = t.path().join("per-package");
    let dest = t.path().join("out");
    // Nothing in the destination that no package provides is deleted.
    write_file(
        &dest.join("etc/local.conf"),
        b"mine",
        0o600,
        (1_400_000_000, 1),
    );
    finalize(&pp, "target", &pkgs, &dest, &["--conflicts=ignore"]);
    let before = snapshot(&dest);
    let out = finalize(
        &pp,
        "target",
        &pkgs,
        &dest,
        &["--conflicts=ignore", "--json"],
    );
    assert_eq!(
        snapshot(&dest),
        before,
        "a no-change re-run changed the tree"
    );
    let s = stats(&out);
    assert_eq!(
        (s["copied"].as_u64(), s["replaced"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert!(dest.join("etc/local.conf").exists());

    // Change the winning file of one path (a new inode, as installs do).
    let last = pkgs.last().unwrap();
    let changed = pp.join(last).join("target/usr/share/licenses/COMMON");
    write_file(&changed, b"new license text\n", 0o644, (1_700_000_000, 5));
    let out = finalize(
        &pp,
        "target",
        &pkgs,
        &dest,
        &["--conflicts=ignore", "--json"],
    );
    let after = snapshot(&dest);
    let rel = &b"usr/share/licenses/COMMON"[..];
    assert_eq!(
        fs::read(dest.join("usr/share/licenses/COMMON")).unwrap(),
        b"new license text\n"
    );
    assert_ne!(after[rel].ino, before[rel].ino, "replaced in place");
    assert_eq!(after[rel].mtime, (1_700_000_000, 5));
    for (k, b) in &before {
        if k.as_slice() != rel && b.kind == "f" {
            assert_eq!(
                after[k].ino,
                b.ino,
                "{} was rewritten",
                String::from_utf8_lossy(k)
            );
        }
    }
    let s = stats(&out);
    assert_eq!(s["replaced"].as_u64(), Some(1), "{s}");
}

#[test]
fn copy_over_a_hardlinked_tree_breaks_every_link() {
    let t = tempfile::tempdir().unwrap();
    let pkgs = gen_packages(t.path(), 31, 4, "target");
    let pp = t.path().join("per-package");
    let dest = t.path().join("out");
    finalize(
        &pp,
        "target",
        &pkgs,
        &dest,
        &["--mode=hardlink", "--conflicts=ignore"],
    );
    finalize(&pp, "target", &pkgs, &dest, &["--conflicts=ignore"]);
    let src = source_inodes(&pp);
    for (rel, s) in snapshot(&dest) {
        assert!(
            s.kind != "f" || !src.contains(&(s.dev, s.ino)),
            "{} still is a per-package inode",
            String::from_utf8_lossy(&rel)
        );
    }
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let t = tempfile::tempdir().unwrap();
    let pkgs = gen_packages(t.path(), 41, 8, "host");
    let pp = t.path().join("per-package");
    let (one, many) = (t.path().join("one"), t.path().join("many"));
    let a = finalize(
        &pp,
        "host",
        &pkgs,
        &one,
        &[
            "-j1",
            "--report",
            t.path().join("r1.json").to_str().unwrap(),
        ],
    );
    let b = finalize(
        &pp,
        "host",
        &pkgs,
        &many,
        &[
            "-j8",
            "--report",
            t.path().join("r8.json").to_str().unwrap(),
        ],
    );
    assert_same_trees(&one, &many);
    let norm = |o: &std::process::Output, d: &Path| {
        String::from_utf8_lossy(&o.stderr).replace(d.to_str().unwrap(), "DEST")
    };
    assert_eq!(norm(&a, &one), norm(&b, &many));
    let r1: serde_json::Value =
        serde_json::from_slice(&fs::read(t.path().join("r1.json")).unwrap()).unwrap();
    let r8: serde_json::Value =
        serde_json::from_slice(&fs::read(t.path().join("r8.json")).unwrap()).unwrap();
    assert_eq!(r1["overwrites"], r8["overwrites"]);
}

#[test]
fn overwrite_report_names_every_package_and_the_winner() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let mt = (1_600_000_000, 0);
    for (p, body) in [("a", "A"), ("b", "B"), ("c", "C")] {
        write_file(
            &pp.join(p).join("target/etc/conf"),
            body.as_bytes(),
            0o644,
            mt,
        );
        // Identical bytes, separate inodes: not an overwrite.
        write_file(&pp.join(p).join("target/usr/COPYING"), b"same", 0o644, mt);
    }
    // The same inode shared through a dependency: not an overwrite.
    write_file(&pp.join("a/target/lib/libz.so"), b"zlib", 0o755, mt);
    fs::create_dir_all(pp.join("c/target/lib")).unwrap();
    fs::hard_link(
        pp.join("a/target/lib/libz.so"),
        pp.join("c/target/lib/libz.so"),
    )
    .unwrap();
    symlink("x", &pp.join("b/target/lib/libq.so"));
    symlink("y", &pp.join("c/target/lib/libq.so"));
    let dest = t.path().join("out");
    let report = t.path().join("report.json");
    let pkgs = ["a", "b", "c"].map(String::from);
    let out = run(ppd()
        .arg("finalize")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--tree", "target", "--conflicts=error", "--report"])
        .arg(&report)
        .arg("--dest")
        .arg(&dest)
        .args(&pkgs));
    assert_eq!(out.status.code(), Some(1));
    let d = dest.display();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: conflict: {d}/etc/conf is provided differently by a (file), b (file), c (file); c wins\n\
             ppd: conflict: {d}/lib/libq.so is provided differently by b (symlink), c (symlink); c wins\n"
        )
    );
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["tree"], "target");
    assert_eq!(r["overwrites"].as_array().unwrap().len(), 2);
    assert_eq!(r["overwrites"][0]["path"], "etc/conf");
    assert_eq!(
        r["overwrites"][0]["packages"],
        serde_json::json!(["a", "b", "c"])
    );
    assert_eq!(r["overwrites"][0]["winner"], "c");
    assert_eq!(fs::read(dest.join("etc/conf")).unwrap(), b"C");
    // Warn (the default) reports and succeeds; ignore is silent.
    let out = ok(ppd()
        .arg("finalize")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--tree", "target", "--dest"])
        .arg(&dest)
        .args(&pkgs));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 2);
    let out = ok(ppd()
        .arg("finalize")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--tree", "target", "--conflicts=ignore", "--dest"])
        .arg(&dest)
        .args(&pkgs));
    assert!(out.stderr.is_empty());
}

#[test]
fn missing_package_tree_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    fs::create_dir_all(pp.join("a/target")).unwrap();
    let out = run(ppd()
        .arg("finalize")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--tree", "target", "--dest"])
        .arg(t.path().join("out"))
        .args(["a", "b"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!(
            "ppd: missing dependency tree of package b: no package b in {}\n",
            pp.display()
        )
    );
    // The package is there, its tree of this kind is not.
    fs::create_dir_all(pp.join("b/host")).unwrap();
    let out = run(ppd()
        .arg("finalize")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--tree", "target", "--dest"])
        .arg(t.path().join("out"))
        .args(["a", "b"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ppd: missing dependency tree of package b: opening directory "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn a_mistyped_package_gets_the_close_names_and_a_missing_root_is_blamed() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    for p in ["zlib", "zlib-ng", "busybox"] {
        fs::create_dir_all(pp.join(p).join("target")).unwrap();
        fs::create_dir_all(pp.join(p).join("host")).unwrap();
    }
    let prepare = |root: &Path, deps: &[&str]| {
        run(ppd()
            .arg("prepare")
            .arg("--per-package-dir")
            .arg(root)
            .args(["--pkg", "app"])
            .args(deps))
    };
    let out = prepare(&pp, &["busybox", "zlbi"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: missing dependency tree of package zlbi: no package zlbi in {} \
             (did you mean zlib?)\n",
            pp.display()
        )
    );
    let missing = t.path().join("no-such-dir");
    let out = prepare(&missing, &["zlib", "busybox"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: reading per-package directory {}: No such file or directory\n",
            missing.display()
        )
    );
}

fn copy_tree(src: &Path, dest: &Path, excludes: &[&str]) -> std::process::Output {
    let mut c = ppd();
    c.arg("copy-tree");
    for e in excludes {
        c.arg(format!("--exclude={e}"));
    }
    ok(c.arg(src).arg(dest).arg("--json"))
}

fn rsync_tree(src: &Path, dest: &Path, excludes: &[&str]) {
    let mut c = Command::new("rsync");
    c.arg("-auH");
    for e in excludes {
        c.arg(format!("--exclude={e}"));
    }
    ok(c.arg(format!("{}/", src.display())).arg(dest));
}

#[test]
fn copy_tree_matches_rsync_auh_with_excludes() {
    if skip_without("rsync") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let pkgs = gen_packages(t.path(), 51, 6, "target");
    let src: PathBuf = t.path().join("target");
    finalize(
        &t.path().join("per-package"),
        "target",
        &pkgs,
        &src,
        &["--conflicts=ignore"],
    );
    write_file(
        &src.join("THIS_IS_NOT_YOUR_ROOT_FILESYSTEM"),
        b"warning",
        0o644,
        (1_600_000_000, 7),
    );
    write_file(
        &src.join("usr/lib/libc.a"),
        b"archive",
        0o644,
        (1_600_000_000, 8),
    );
    write_file(
        &src.join("usr/share/doc/x/README"),
        b"doc",
        0o644,
        (1_600_000_000, 9),
    );
    stamp_dirs(&src, &mut Rng(7));
    let excludes = [
        "/THIS_IS_NOT_YOUR_ROOT_FILESYSTEM",
        "*.a",
        "doc/",
        "etc/os.conf",
    ];
    let (ours, theirs) = (t.path().join("ours"), t.path().join("theirs"));
    rsync_tree(&src, &theirs, &excludes);
    copy_tree(&src, &ours, &excludes);
    assert_same_trees(&ours, &theirs);
    assert!(!ours.join("THIS_IS_NOT_YOUR_ROOT_FILESYSTEM").exists());
    assert!(!ours.join("usr/share/doc").exists());

    // -u: a destination file newer than its source is kept by both.
    for d in [&ours, &theirs] {
        write_file(
            &d.join("usr/share/licenses/COMMON"),
            b"edited",
            0o644,
            (1_900_000_000, 0),
        );
    }
    // ...and a file older than its source with the same size is replaced.
    let swap = src.join("usr/bin/swap");
    if fs::symlink_metadata(&swap).unwrap().is_file() {
        set_mtime(&swap, 1_800_000_000, 0);
    }
    rsync_tree(&src, &theirs, &excludes);
    let out = copy_tree(&src, &ours, &excludes);
    assert_same_trees(&ours, &theirs);
    assert_eq!(
        fs::read(ours.join("usr/share/licenses/COMMON")).unwrap(),
        b"edited"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["stats"]["copied"].as_u64(),
        Some(u64::from(fs::symlink_metadata(&swap).unwrap().is_file())),
        "{v}"
    );
}
