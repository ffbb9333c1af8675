//! Manifests: `ppd file-list` against Buildroot's find/sort/comm method,
//! overwrite detection, and re-preparation after a dependency changed.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::*;

const STAGING: &str = "x86_64-buildroot-linux-gnu/sysroot";

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// `ppd prepare` with hard links, whatever the file system (`auto` would
/// clone or snapshot on XFS and btrfs).
fn prepare(root: &Path, pkg: &str, deps: &[&str]) -> std::process::Output {
    ok(ppd()
        .args(["prepare", "--link-mode", "hardlink"])
        .arg("--per-package-dir")
        .arg(root.join("per-package"))
        .args(["--pkg", pkg])
        .args(deps))
}

/// Buildroot's pkg_size_before/after for one tree, exactly as pkg-generic.mk runs it.
fn find_sorted(dir: &Path, out: &Path) {
    let script = format!(
        "cd '{}' && LC_ALL=C find . -not -path './{STAGING}/*' \\( -type f -o -type l \\) \
         -printf '%T@:%i:%#m:%y:%s,%p\\n' | LC_ALL=C sort > '{}'",
        dir.display(),
        out.display()
    );
    let st = Command::new("bash").arg("-c").arg(script).status().unwrap();
    assert!(st.success());
}

fn comm_list(pkg: &str, before: &Path, after: &Path) -> Vec<u8> {
    let script = format!(
        "LC_ALL=C comm -13 '{}' '{}' | sed -r -e 's/^[^,]+/{pkg}/'",
        before.display(),
        after.display()
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap()
        .stdout
}

fn base(root: &Path) {
    let pp = root.join("per-package");
    write(&pp.join("toolchain/host/bin/gcc"), "gcc");
    write(
        &pp.join(format!("toolchain/host/{STAGING}/usr/include/stdio.h")),
        "stdio",
    );
    write(
        &pp.join(format!("toolchain/host/{STAGING}/usr/lib/libc.so.6")),
        "libc",
    );
    std::os::unix::fs::symlink(
        "libc.so.6",
        pp.join(format!("toolchain/host/{STAGING}/usr/lib/libc.so")),
    )
    .unwrap();
    write(&pp.join("toolchain/target/lib/libc.so.6"), "libc");
    write(&pp.join("zlib/host/bin/zlib-tool"), "z");
    write(
        &pp.join(format!("zlib/host/{STAGING}/usr/include/zlib.h")),
        "zlib.h",
    );
    write(
        &pp.join(format!("zlib/host/{STAGING}/usr/lib/libz.so.1")),
        "libz",
    );
    write(&pp.join("zlib/target/usr/lib/libz.so.1"), "libz");
    write(&pp.join("zlib/target/etc/zlib.conf"), "conf");
}

#[test]
fn file_lists_are_byte_identical_to_find_sort_comm() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    base(r);
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    let me = r.join("per-package/libfoo");
    let trees = [
        ("", me.join("target")),
        ("-staging", me.join("host").join(STAGING)),
        ("-host", me.join("host")),
    ];
    let work = r.join("work");
    std::fs::create_dir_all(&work).unwrap();
    for (sfx, dir) in &trees {
        find_sorted(dir, &work.join(format!("before{sfx}")));
    }
    // The install step: new files, a replaced dependency file, a symlink,
    // a renamed own file, a file with an odd name.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(&me.join("target/usr/lib/libfoo.so.1"), "foo");
    std::os::unix::fs::symlink("libfoo.so.1", me.join("target/usr/lib/libfoo.so")).unwrap();
    write(&me.join("target/usr/bin/foo tool"), "x");
    std::fs::rename(
        me.join("target/usr/bin/foo tool"),
        me.join("target/usr/bin/foo-tool"),
    )
    .unwrap();
    std::fs::remove_file(me.join("target/etc/zlib.conf")).unwrap();
    write(&me.join("target/etc/zlib.conf"), "mine");
    write(&me.join(format!("host/{STAGING}/usr/include/foo.h")), "h");
    write(
        &me.join(format!("host/{STAGING}/usr/lib/pkgconfig/foo.pc")),
        "pc",
    );
    write(&me.join("host/bin/foo-config"), "cfg");
    for (sfx, dir) in &trees {
        find_sorted(dir, &work.join(format!("after{sfx}")));
    }
    let mut cmd = ppd();
    cmd.args([
        "file-list",
        "--pkg",
        "libfoo",
        "--staging-subdir",
        STAGING,
        "--out-dir",
    ])
    .arg(&work)
    .arg("--per-package-dir")
    .arg(r.join("per-package"));
    let out = ok(&mut cmd);
    for (sfx, _) in &trees {
        let want = comm_list(
            "libfoo",
            &work.join(format!("before{sfx}")),
            &work.join(format!("after{sfx}")),
        );
        let got = std::fs::read(work.join(format!(".files-list{sfx}.txt"))).unwrap();
        assert!(!want.is_empty(), "tree {sfx} lists nothing");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "list {sfx}"
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: overwrite: libfoo replaced {} installed by zlib\n",
            me.join("target/etc/zlib.conf").display()
        )
    );
}

#[test]
fn in_place_edits_name_the_owner_through_the_chain() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    base(r);
    // libbar gets zlib's files; libfoo gets them through libbar.
    prepare(r, "libbar", &["toolchain", "zlib"]);
    prepare(r, "libfoo", &["libbar"]);
    let shared = r.join("per-package/libfoo/target/etc/zlib.conf");
    let orig = r.join("per-package/zlib/target/etc/zlib.conf");
    assert_eq!(
        shared.metadata().unwrap().ino(),
        orig.metadata().unwrap().ino()
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    // `echo >>` through the shared hard link: zlib's own file changes too.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&shared)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    assert_eq!(std::fs::read_to_string(&orig).unwrap(), "confmore");
    let mut cmd = ppd();
    cmd.args([
        "file-list",
        "--pkg",
        "libfoo",
        "--overwrites=error",
        "--per-package-dir",
    ])
    .arg(r.join("per-package"));
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: overwrite: libfoo edited {} in place; it is zlib's file, shared through a hard \
             link, so zlib's own tree changed too\n",
            shared.display()
        )
    );
}

/// (path, type, symlink target, inode of regular files) per entry.
type Shape = Vec<(Vec<u8>, &'static str, Option<Vec<u8>>, u64)>;

fn tree_of(root: &Path) -> Shape {
    snapshot(root)
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| {
            let ino = if v.kind == "f" { v.ino } else { 0 };
            (k, v.kind, v.target, ino)
        })
        .collect()
}

#[test]
fn a_rebuilt_dependency_converges_on_reconfigure() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("per-package");
    base(r);
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    // libfoo installs its own files, one of them replacing a zlib file.
    write(&pp.join("libfoo/target/usr/lib/libfoo.so"), "foo");
    std::fs::remove_file(pp.join("libfoo/target/usr/lib/libz.so.1")).unwrap();
    write(
        &pp.join("libfoo/target/usr/lib/libz.so.1"),
        "libfoo's own libz",
    );
    // zlib-rebuild: it drops a file, changes one (new inode), adds one.
    std::fs::remove_file(pp.join("zlib/target/etc/zlib.conf")).unwrap();
    std::fs::remove_file(pp.join("zlib/host/bin/zlib-tool")).unwrap();
    write(&pp.join("zlib/host/bin/zlib-tool2"), "z2");
    let old_hdr = pp.join(format!("zlib/host/{STAGING}/usr/include/zlib.h"));
    std::fs::remove_file(&old_hdr).unwrap();
    write(&old_hdr, "zlib.h v2");
    // libfoo-reconfigure.
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    // What a clean build gives, plus libfoo's own files.
    prepare(r, "clean", &["toolchain", "zlib"]);
    write(&pp.join("clean/target/usr/lib/libfoo.so"), "foo");
    let me = tree_of(&pp.join("libfoo/host"));
    assert_eq!(me, tree_of(&pp.join("clean/host")));
    assert!(
        !pp.join("libfoo/target/etc/zlib.conf").exists(),
        "stale file removed"
    );
    assert_eq!(
        std::fs::read_to_string(pp.join(format!("libfoo/host/{STAGING}/usr/include/zlib.h")))
            .unwrap(),
        "zlib.h v2"
    );
    assert_eq!(
        std::fs::read_to_string(pp.join("libfoo/target/usr/lib/libz.so.1")).unwrap(),
        "libfoo's own libz",
        "the package's own files are never touched"
    );
    assert_eq!(
        std::fs::read_to_string(pp.join("libfoo/target/usr/lib/libfoo.so")).unwrap(),
        "foo"
    );
}

#[test]
fn entries_from_other_steps_dependencies_are_kept() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    base(r);
    // Download step: only toolchain; configure step: only zlib.
    prepare(r, "libfoo", &["toolchain"]);
    prepare(r, "libfoo", &["zlib"]);
    let pp = r.join("per-package");
    assert!(pp.join("libfoo/host/bin/gcc").exists());
    assert!(pp.join("libfoo/host/bin/zlib-tool").exists());
}

#[test]
fn damaged_or_missing_manifests_degrade_to_a_plain_merge() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    base(r);
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    let m = r.join("per-package/libfoo/.host.ppd-manifest");
    let data = std::fs::read(&m).unwrap();
    std::fs::write(&m, &data[..data.len() / 2]).unwrap();
    let pp = r.join("per-package");
    std::fs::remove_file(pp.join("zlib/host/bin/zlib-tool")).unwrap();
    let out = ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--pkg", "libfoo", "toolchain", "zlib"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "ppd: warning: damaged manifest {} (truncated",
            m.display()
        )),
        "{err}"
    );
    // Without a trustworthy record nothing is removed (rsync behaviour)...
    assert!(pp.join("libfoo/host/bin/zlib-tool").exists());
    // ...and the manifest is whole again for the next run.
    let out = ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--pkg", "libfoo", "toolchain", "zlib"]));
    assert!(out.stderr.is_empty());
    std::fs::remove_file(&m).unwrap();
    let out = ok(ppd()
        .args(["file-list", "--pkg", "libfoo", "--per-package-dir"])
        .arg(&pp));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("ppd: warning: no manifest {}", m.display())));
}

/// A dependency's copy of a text file rewritten by the path fixup is still
/// the installing package's file: no conflict, whether the fixup ran inside
/// prepare or as its own command (as Buildroot's macros call it).
#[test]
fn path_fixup_rewrites_are_not_conflicts() {
    for separate in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let pp = r.join("per-package");
        let pc = pp.join("zlib/host/lib/pkgconfig/zlib.pc");
        write(&pc, &format!("prefix={}/zlib/host/usr\n", pp.display()));
        std::fs::create_dir_all(pp.join("zlib/target")).unwrap();
        if separate {
            prepare(r, "libpng", &["zlib"]);
            ok(ppd()
                .arg("fixup-paths")
                .arg("--per-package-dir")
                .arg(&pp)
                .arg("--new-root")
                .arg(pp.join("libpng"))
                .arg(pp.join("libpng/host")));
        } else {
            ok(ppd()
                .arg("prepare")
                .arg("--per-package-dir")
                .arg(&pp)
                .args(["--pkg", "libpng", "--fixup-paths", "zlib"]));
        }
        let copy = pp.join("libpng/host/lib/pkgconfig/zlib.pc");
        assert_eq!(
            std::fs::read_to_string(&copy).unwrap(),
            format!("prefix={}/libpng/host/usr\n", pp.display())
        );
        assert_ne!(copy.metadata().unwrap().ino(), pc.metadata().unwrap().ino());
        let out = prepare(r, "app", &["libpng", "zlib"]);
        assert!(
            out.stderr.is_empty(),
            "separate={separate}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // An edit ppd did not make is a real conflict.
        std::fs::remove_file(&copy).unwrap();
        write(&copy, "prefix=/somewhere/else\n");
        let out = prepare(r, "app2", &["libpng", "zlib"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "ppd: conflict: {} is provided differently by libpng (file), zlib (file); zlib wins\n",
                pp.join("app2/host/lib/pkgconfig/zlib.pc").display()
            )
        );
    }
}

/// Conflict tracing finds the installer through manifests it only looks up
/// (see manifest::Owned): a copy in a directory of several hundred records
/// (several runs of lines), a name the manifest escapes, and a manifest an
/// earlier ppd wrote in format 1 all trace back to the package that
/// installed them; a copy nobody's fixup made is still a conflict.
#[test]
fn conflict_tracing_looks_up_wide_escaped_and_format_1_manifests() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("per-package");
    let dir = pp.join("zlib/host/lib/pkgconfig");
    for i in 0..400 {
        write(&dir.join(format!("p{i:03}.pc")), "Name: p\n");
    }
    let names = ["zlib.pc", "we\tird\\.pc", "z\nl.pc"];
    for name in names {
        write(
            &dir.join(name),
            &format!("prefix={}/zlib/host/usr\n", pp.display()),
        );
    }
    std::fs::create_dir_all(pp.join("zlib/target")).unwrap();
    for p in ["libpng", "libjpeg"] {
        ok(ppd()
            .arg("prepare")
            .arg("--per-package-dir")
            .arg(&pp)
            .args(["--pkg", p, "--fixup-paths", "zlib"]));
    }
    let quiet = |pkg: &str| {
        let out = prepare(r, pkg, &["libpng", "libjpeg"]);
        assert!(
            out.stderr.is_empty(),
            "{pkg}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    quiet("app");
    let m = pp.join("libpng/.host.ppd-manifest");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, to_format_1(&text)).unwrap();
    quiet("app2");
    // libjpeg's copy of one name replaced by hand: only that one conflicts.
    let copy = pp.join("libjpeg/host/lib/pkgconfig").join(names[0]);
    std::fs::remove_file(&copy).unwrap();
    write(&copy, "prefix=/somewhere/else\n");
    let out = prepare(r, "app3", &["libpng", "libjpeg"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: conflict: {} is provided differently by libpng (file), libjpeg (file); libjpeg wins\n",
            pp.join("app3/host/lib/pkgconfig").join(names[0]).display()
        )
    );
}

/// A file the package wrote after deleting a dependency's (the filesystem
/// often hands back the freed inode number) is the package's own: a later
/// prepare must neither remove nor replace it.
#[test]
fn own_files_with_a_reused_inode_number_are_kept() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("per-package");
    base(r);
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    let mine = pp.join("libfoo/target/etc/zlib.conf");
    let mine2 = pp.join("libfoo/target/usr/lib/libz.so.1");
    for p in [&mine, &mine2] {
        std::fs::remove_file(p).unwrap();
        write(p, "libfoo's own");
    }
    // zlib drops one of the files and changes the other.
    std::fs::remove_file(pp.join("zlib/target/etc/zlib.conf")).unwrap();
    std::fs::remove_file(pp.join("zlib/target/usr/lib/libz.so.1")).unwrap();
    write(&pp.join("zlib/target/usr/lib/libz.so.1"), "libz v2");
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "libfoo's own");
    assert_eq!(std::fs::read_to_string(&mine2).unwrap(), "libfoo's own");
}

/// The final merge names the packages that installed the differing
/// versions, not every package tree that carries a copy of one.
#[test]
fn final_merge_conflicts_name_the_installers() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("per-package");
    write(&pp.join("skeleton/target/etc/inittab"), "skeleton's");
    std::fs::create_dir_all(pp.join("skeleton/host")).unwrap();
    prepare(r, "busybox", &["skeleton"]);
    let mine = pp.join("busybox/target/etc/inittab");
    std::fs::remove_file(&mine).unwrap();
    write(&mine, "busybox's");
    for p in ["dropbear", "zlib"] {
        prepare(r, p, &["skeleton"]);
    }
    prepare(r, "openssh", &["busybox", "zlib"]);
    let dest = r.join("target");
    let out = ok(ppd()
        .args(["finalize", "--tree", "target", "--per-package-dir"])
        .arg(&pp)
        .arg("--dest")
        .arg(&dest)
        .args(["busybox", "dropbear", "openssh", "skeleton", "zlib"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: conflict: {} is provided differently by busybox (file), skeleton (file); \
             skeleton wins\n",
            dest.join("etc/inittab").display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/inittab")).unwrap(),
        "skeleton's"
    );
}

/// Runs `ppd file-list -v` for `pkg` into `out`; returns the stats line.
fn file_list_v(root: &Path, pkg: &str, out: &Path) -> String {
    let mut cmd = ppd();
    cmd.args(["-v", "file-list", "--pkg", pkg, "--staging-subdir", STAGING])
        .args(["--overwrites", "ignore", "--out-dir"])
        .arg(out)
        .arg("--per-package-dir")
        .arg(root.join("per-package"));
    let stderr = String::from_utf8(ok(&mut cmd).stderr).unwrap();
    stderr.lines().last().unwrap_or_default().to_owned()
}

/// The number before `label` in a stats line.
fn stat_of(line: &str, label: &str) -> usize {
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {line}"));
    line[..at]
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap()
}

/// Lists (before, after) of the three trees around `install`, compared
/// with `ppd file-list`; returns how many directories it took from the
/// manifests instead of reading them.
fn assert_lists_match(root: &Path, pkg: &str, install: impl FnOnce(&Path)) -> usize {
    let me = root.join("per-package").join(pkg);
    let trees = [
        ("", me.join("target")),
        ("-staging", me.join("host").join(STAGING)),
        ("-host", me.join("host")),
    ];
    let work = root.join("work").join(pkg);
    std::fs::create_dir_all(&work).unwrap();
    for (sfx, dir) in &trees {
        find_sorted(dir, &work.join(format!("before{sfx}")));
    }
    std::thread::sleep(std::time::Duration::from_millis(10));
    install(&me);
    for (sfx, dir) in &trees {
        find_sorted(dir, &work.join(format!("after{sfx}")));
    }
    let stats = file_list_v(root, pkg, &work);
    for (sfx, _) in &trees {
        let want = comm_list(
            pkg,
            &work.join(format!("before{sfx}")),
            &work.join(format!("after{sfx}")),
        );
        let got = std::fs::read(work.join(format!(".files-list{sfx}.txt"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "list {sfx} ({stats})"
        );
    }
    stat_of(&stats, "taken from the manifests")
}

#[test]
fn unread_directories_still_show_every_change() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    // A dependency with many directories, some empty, a few files each.
    let pp = r.join("per-package");
    let mut dirs = Vec::new();
    for i in 0..12 {
        for j in 0..4 {
            let d = format!("usr/share/d{i}/s{j}");
            for k in 0..3 {
                write(
                    &pp.join(format!("dep/target/{d}/f{k}")),
                    &format!("{i}{j}{k}"),
                );
                write(&pp.join(format!("dep/host/{STAGING}/{d}/h{k}.h")), "h");
            }
            std::os::unix::fs::symlink("f0", pp.join(format!("dep/target/{d}/l0"))).unwrap();
            dirs.push(d);
        }
        std::fs::create_dir_all(pp.join(format!("dep/target/usr/empty{i}"))).unwrap();
    }
    for seed in 1..=6u64 {
        let pkg = format!("p{seed}");
        prepare(r, &pkg, &["dep"]);
        let mut rng = Rng(seed);
        let dirs = dirs.clone();
        let taken = assert_lists_match(r, &pkg, |me| {
            for n in 0..8 {
                let d = me.join("target").join(rng.pick(&dirs));
                let f = d.join(format!("f{}", rng.below(3)));
                match rng.below(9) {
                    // New entries: a file, a symlink, a subdirectory, a
                    // file in a recorded empty directory.
                    0 => write(&d.join(format!("new{n}")), "new"),
                    1 => std::os::unix::fs::symlink("f1", d.join(format!("ln{n}"))).unwrap(),
                    2 => write(&d.join(format!("sub{n}/deep/x")), "x"),
                    3 => write(
                        &me.join(format!("target/usr/empty{}/e{n}", rng.below(12))),
                        "e",
                    ),
                    // Changes of a dependency's inode in place: content,
                    // mode, mtime (all shared through the hard link).
                    4 => std::fs::write(&f, format!("edited {n}")).unwrap(),
                    5 => std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))
                        .unwrap(),
                    6 => set_mtime(&f, 1_600_000_000 + n as i64, 7),
                    // Replacement and removal.
                    7 => {
                        std::fs::remove_file(&f).unwrap_or_default();
                        write(&f, "replaced");
                    }
                    _ => std::fs::remove_file(&f).unwrap_or_default(),
                }
            }
            write(
                &me.join(format!("host/{STAGING}/usr/share/d0/s0/mine.h")),
                "m",
            );
        });
        // Most of the 130 directories were untouched and not read.
        assert!(
            taken > 60,
            "only {taken} directories taken from the manifests"
        );
    }
}

/// Adds an entry line, made from the target manifest's line of
/// `lib/libc.so.6` (in the `lib` section) by `make`, after that line, and
/// counts it in the end line.
fn add_after_libc_line(root: &Path, pkg: &str, make: impl FnOnce(&str) -> String) {
    let m = root.join(format!("per-package/{pkg}/.target.ppd-manifest"));
    let text = std::fs::read_to_string(&m).unwrap();
    let line = text
        .lines()
        .find(|l| l.ends_with("\tlibc.so.6"))
        .unwrap()
        .to_owned();
    // `end <count> root <dev> <ino>`
    let end = text.lines().last().unwrap().to_owned();
    let count: usize = end["end ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let text = text
        .replace(
            &end,
            &end.replacen(&format!("end {count}"), &format!("end {}", count + 1), 1),
        )
        .replace(&line, &format!("{line}\n{}", make(&line)));
    std::fs::write(&m, text).unwrap();
}

#[test]
fn a_stale_directory_record_falls_back_to_reading_every_directory() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    base(r);
    prepare(r, "twin", &["toolchain", "zlib"]);
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    // A record of a file that is not there, in a directory whose ctime says
    // nothing changed: only a damaged manifest (or a filesystem that does
    // not keep ctimes) can show this. The list must not depend on it.
    add_after_libc_line(r, "libfoo", |line| {
        line.replace("\tlibc.so.6", "\tghost.so")
    });
    let install = |me: &Path| write(&me.join("target/usr/lib/libfoo.so.1"), "foo");
    let twin = assert_lists_match(r, "twin", install);
    let stale = assert_lists_match(r, "libfoo", install);
    // The whole target tree was read again; the host tree was not affected.
    // (In the target tree the root, etc, lib and usr are unchanged; only
    // usr/lib, which got the new file, is read either way.)
    assert_eq!(twin - stale, 4, "twin {twin}, stale {stale}");
}

#[test]
fn a_name_recorded_twice_is_listed_once() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    base(r);
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    add_after_libc_line(r, "libfoo", str::to_owned);
    // An in-place edit in a directory nothing else changed: it is taken
    // from the manifest, where the name stands twice.
    let taken = assert_lists_match(r, "libfoo", |me| {
        std::fs::write(me.join("target/lib/libc.so.6"), "edited in place").unwrap();
    });
    assert!(taken > 0);
    let list = std::fs::read_to_string(r.join("work/libfoo/.files-list.txt")).unwrap();
    assert_eq!(list, "libfoo,./lib/libc.so.6\n");
}

/// A record line that does not parse is found by the walk, in whichever
/// directory holds it, whether that directory is read or taken from the
/// manifest: the whole manifest counts as damaged, with a warning naming
/// the line, and the tree is listed as if it had none.
#[test]
fn a_bad_record_line_found_during_the_walk_is_damage() {
    for read_lib in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        base(r);
        prepare(r, "libfoo", &["toolchain", "zlib"]);
        add_after_libc_line(r, "libfoo", |line| {
            let mut fields: Vec<&str> = line.split('\t').collect();
            fields[3] = "12x";
            fields[8] = "bad.so";
            fields.join("\t")
        });
        let me = r.join("per-package/libfoo");
        let m = me.join(".target.ppd-manifest");
        let number = std::fs::read_to_string(&m)
            .unwrap()
            .lines()
            .position(|l| l.ends_with("\tbad.so"))
            .unwrap()
            + 1;
        if read_lib {
            write(&me.join("target/lib/libfoo.so"), "foo");
        }
        let work = r.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let mut cmd = ppd();
        cmd.args(["file-list", "--pkg", "libfoo", "--out-dir"])
            .arg(&work)
            .arg("--per-package-dir")
            .arg(r.join("per-package"));
        let out = ok(&mut cmd);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "ppd: warning: damaged manifest {} (line {number}: bad inode \"12x\"): \
                 every file in {} is listed as the package's own\n",
                m.display(),
                me.join("target").display()
            )
        );
        // Every file of the target tree, as comm lists it against nothing.
        let empty = work.join("empty");
        std::fs::write(&empty, "").unwrap();
        find_sorted(&me.join("target"), &work.join("after"));
        let want = comm_list("libfoo", &empty, &work.join("after"));
        let got = std::fs::read(work.join(".files-list.txt")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        // The dependencies' files are listed too.
        assert!(String::from_utf8_lossy(&got).contains("libfoo,./lib/libc.so.6\n"));
    }
}

/// A recorded directory whose subdirectory has no record (prepare leaves
/// out directories whose ctime it cannot trust; older manifests did not
/// drop their parents with them): the subdirectory must still be walked,
/// and so the parent must be read, not taken from the manifest.
#[test]
fn a_subdirectory_without_a_record_is_still_walked() {
    let t = tempfile::tempdir().unwrap();
    subdirectory_without_a_record(t.path());
}

/// The same on btrfs, where a directory's link count does not count its
/// subdirectories (always 1), so only the manifest can tell that one has
/// no record.
#[test]
fn a_subdirectory_without_a_record_is_still_walked_on_btrfs() {
    let Some(im) = image("btrfs", "manifest-subdir") else {
        return;
    };
    subdirectory_without_a_record(&im.mnt);
}

/// [`a_subdirectory_without_a_record_is_still_walked`] in `r`.
fn subdirectory_without_a_record(r: &Path) {
    base(r);
    prepare(r, "libfoo", &["toolchain", "zlib"]);
    let m = r.join("per-package/libfoo/.target.ppd-manifest");
    let text = std::fs::read_to_string(&m).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dir_line = |path: &str| {
        lines
            .iter()
            .position(|l| l.starts_with("d\t") && l.ends_with(&format!("\t{path}")))
    };
    // Both usr and usr/lib were created by prepare and recorded.
    assert!(dir_line("usr").is_some());
    let lib = dir_line("usr/lib").expect("usr/lib recorded");
    let end = lines.last().unwrap().to_string();
    let (count, root) = end["end ".len()..].split_once(' ').unwrap();
    let count: usize = count.parse().unwrap();
    // Its section stays, as that of a directory prepare did not record.
    let mut kept: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    kept[lib] = "D\tusr/lib".to_owned();
    *kept.last_mut().unwrap() = format!("end {} {root}", count - 1);
    std::fs::write(&m, kept.join("\n") + "\n").unwrap();
    // A new file in usr/lib changes usr/lib's ctime, not usr's.
    assert_lists_match(r, "libfoo", |me| {
        write(&me.join("target/usr/lib/libfoo.so.1"), "foo");
    });
    let list = std::fs::read_to_string(r.join("work/libfoo/.files-list.txt")).unwrap();
    assert_eq!(list, "libfoo,./usr/lib/libfoo.so.1\n");
}

/// A manifest over 2 MiB reaches the file in `write` calls of at most
/// 1 MiB (`fsx::WRITE_CHUNK`: larger ones were ten to a hundred times
/// slower on Linux 6.18), and holds every record.
#[test]
fn a_large_manifest_is_written_in_calls_of_at_most_one_mib() {
    if skip_without(&["strace"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let dir = r.join("per-package/a/target/usr/share/many");
    write(&dir.join("first"), "x");
    std::fs::create_dir_all(r.join("per-package/a/host")).unwrap();
    // 10,000 links with 200-byte names: about 2.5 MB of records.
    let stem = "n".repeat(196);
    for i in 1..10000 {
        std::fs::hard_link(dir.join("first"), dir.join(format!("{stem}{i:04}"))).unwrap();
    }
    let log = r.join("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "--seccomp-bpf",
        "-e",
        "trace=write",
        "-e",
        "abbrev=all",
        "-o",
    ])
    .arg(&log)
    .arg(env!("CARGO_BIN_EXE_ppd"))
    .env_remove("MAKEFLAGS")
    .env_remove("MAKELEVEL")
    .args(["prepare", "--per-package-dir"])
    .arg(r.join("per-package"))
    .args(["--pkg", "me", "a"]);
    ok(&mut cmd);
    let manifest = std::fs::read_to_string(r.join("per-package/me/.target.ppd-manifest")).unwrap();
    assert!(manifest.len() > 2 << 20, "{} bytes", manifest.len());
    assert_eq!(manifest.lines().filter(|l| l.contains(&stem)).count(), 9999);
    let sizes: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("write("))
        .map(|l| l.rsplit("= ").next().unwrap().trim().parse().unwrap())
        .collect();
    let total: u64 = sizes.iter().sum();
    assert!(total >= manifest.len() as u64, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n <= 1 << 20), "{sizes:?}");
}
