//! Rebuilds that cannot corrupt dependents (`ppd unshare`), `ppd outdated`
//! naming exactly the packages whose copies differ, and the images list
//! (`file-list --images-dir`) against Buildroot's find/sort/comm.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;

const STAGING: &str = "aarch64-buildroot-linux-gnu/sysroot";

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn prepare(pp: &Path, pkg: &str, deps: &[&str]) {
    ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(pp)
        .args(["--pkg", pkg, "--fixup-paths"])
        .args(deps));
}

fn file_list(pp: &Path, pkg: &str, out: &Path) {
    ok(ppd()
        .arg("file-list")
        .arg("--per-package-dir")
        .arg(pp)
        .args(["--pkg", pkg, "--staging-subdir", STAGING, "--out-dir"])
        .arg(out));
}

fn unshare(pp: &Path, pkg: &str, lists: &Path) -> String {
    let out = ok(ppd()
        .args(["unshare", "-v", "--per-package-dir"])
        .arg(pp)
        .args(["--pkg", pkg, "--staging-subdir", STAGING, "--list-dir"])
        .arg(lists));
    String::from_utf8(out.stderr).unwrap()
}

fn outdated(pp: &Path, extra: &[&str]) -> String {
    let out = ok(ppd()
        .arg("outdated")
        .args(extra)
        .arg("--per-package-dir")
        .arg(pp));
    assert!(out.stderr.is_empty() || extra.contains(&"-v"));
    String::from_utf8(out.stdout).unwrap()
}

/// A small build: zlib (a library with a -config script), libfoo on zlib,
/// app on libfoo, and tool on nothing; each package's lists written as
/// Buildroot's install step ends.
struct Build {
    _dir: tempfile::TempDir,
    pp: std::path::PathBuf,
    build: std::path::PathBuf,
}

impl Build {
    fn new() -> Build {
        let dir = tempfile::tempdir().unwrap();
        let pp = dir.path().join("per-package");
        let build = dir.path().join("build");
        let b = Build {
            pp: pp.clone(),
            build,
            _dir: dir,
        };
        prepare(&pp, "zlib", &[]);
        write(
            &pp.join(format!("zlib/host/{STAGING}/usr/bin/zlib-config")),
            "prefix=/usr\n",
        );
        std::fs::set_permissions(
            pp.join(format!("zlib/host/{STAGING}/usr/bin/zlib-config")),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        write(
            &pp.join(format!("zlib/host/{STAGING}/usr/include/zlib.h")),
            "v1\n",
        );
        write(&pp.join("zlib/target/usr/lib/libz.so.1"), "libz v1");
        std::os::unix::fs::symlink("libz.so.1", pp.join("zlib/target/usr/lib/libz.so")).unwrap();
        b.lists("zlib");
        prepare(&pp, "libfoo", &["zlib"]);
        write(&pp.join("libfoo/target/usr/lib/libfoo.so.1"), "foo");
        b.lists("libfoo");
        prepare(&pp, "app", &["libfoo"]);
        write(&pp.join("app/target/usr/bin/app"), "app");
        b.lists("app");
        prepare(&pp, "tool", &[]);
        write(&pp.join("tool/host/bin/tool"), "tool");
        b.lists("tool");
        b
    }

    fn lists(&self, pkg: &str) {
        file_list(&self.pp, pkg, &self.build.join(pkg));
    }

    fn at(&self, pkg: &str, rel: &str) -> std::path::PathBuf {
        self.pp.join(pkg).join(rel)
    }
}

#[test]
fn a_rebuild_writing_in_place_does_not_reach_dependents() {
    let b = Build::new();
    let cfg = format!("host/{STAGING}/usr/bin/zlib-config");
    let before = std::fs::symlink_metadata(b.at("zlib", &cfg)).unwrap();
    // zlib's file is shared with libfoo and app (prepare hard-links it).
    assert_eq!(before.nlink(), 3);
    assert_eq!(
        std::fs::symlink_metadata(b.at("app", &cfg)).unwrap().ino(),
        before.ino()
    );

    // make zlib-rebuild: unshare first, then an install step that writes
    // into the existing file (sed ... > file), and one that replaces it.
    let stats = unshare(&b.pp, "zlib", &b.build.join("zlib"));
    assert!(
        stats.contains("own entries of zlib examined, 3 shared files given a private inode"),
        "{stats}"
    );
    let after = std::fs::symlink_metadata(b.at("zlib", &cfg)).unwrap();
    assert_ne!(after.ino(), before.ino(), "a private inode");
    assert_eq!(after.nlink(), 1);
    assert_eq!(after.mode(), before.mode(), "mode kept");
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec()),
        "nanosecond mtime kept"
    );
    assert_eq!(std::fs::read(b.at("zlib", &cfg)).unwrap(), b"prefix=/usr\n");
    // The dependents still share the old inode between themselves.
    let dep = std::fs::symlink_metadata(b.at("libfoo", &cfg)).unwrap();
    assert_eq!((dep.ino(), dep.nlink()), (before.ino(), 2));
    // Symlinks are never copied.
    assert_eq!(
        std::fs::symlink_metadata(b.at("zlib", "target/usr/lib/libz.so"))
            .unwrap()
            .ino(),
        std::fs::symlink_metadata(b.at("libfoo", "target/usr/lib/libz.so"))
            .unwrap()
            .ino()
    );

    // Nothing is outdated yet: the copies hold the same bytes, mode and mtime.
    assert_eq!(outdated(&b.pp, &[]), "");

    // The install writes in place.
    std::thread::sleep(std::time::Duration::from_millis(10));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(b.at("zlib", &cfg))
            .unwrap();
        f.write_all(b"prefix=/opt\n").unwrap();
    }
    assert_eq!(
        std::fs::read(b.at("libfoo", &cfg)).unwrap(),
        b"prefix=/usr\n"
    );
    assert_eq!(std::fs::read(b.at("app", &cfg)).unwrap(), b"prefix=/usr\n");

    // ppd outdated names libfoo (its copy differs from zlib's), then app
    // (it copies from libfoo), in that order, and nothing else.
    assert_eq!(
        outdated(&b.pp, &[]),
        "libfoo: 1 copy differs from what zlib provides now; refresh: make libfoo-reconfigure\n\
         app: copies from libfoo, refreshed before it; refresh: make app-reconfigure\n\
         make libfoo-reconfigure app-reconfigure\n"
    );
    assert_eq!(
        outdated(&b.pp, &["-v"]),
        format!(
            "libfoo: 1 copy differs from what zlib provides now; refresh: make libfoo-reconfigure\n\
             \x20 changed host/{STAGING}/usr/bin/zlib-config from zlib\n\
             app: copies from libfoo, refreshed before it; refresh: make app-reconfigure\n\
             make libfoo-reconfigure app-reconfigure\n"
        )
    );

    // make libfoo-reconfigure app-reconfigure: nothing left to refresh.
    prepare(&b.pp, "libfoo", &["zlib"]);
    assert_eq!(
        outdated(&b.pp, &[]),
        "app: 1 copy differs from what libfoo provides now; refresh: make app-reconfigure\n\
         make app-reconfigure\n"
    );
    prepare(&b.pp, "app", &["libfoo"]);
    assert_eq!(outdated(&b.pp, &[]), "");
    assert_eq!(std::fs::read(b.at("app", &cfg)).unwrap(), b"prefix=/opt\n");
}

#[test]
fn a_file_the_dependency_stops_installing_is_gone() {
    let b = Build::new();
    std::fs::remove_file(b.at("zlib", &format!("host/{STAGING}/usr/include/zlib.h"))).unwrap();
    assert_eq!(
        outdated(&b.pp, &["-v", "-j1"]),
        format!(
            "libfoo: 1 copy differs from what zlib provides now; refresh: make libfoo-reconfigure\n\
             \x20 gone host/{STAGING}/usr/include/zlib.h from zlib\n\
             app: copies from libfoo, refreshed before it; refresh: make app-reconfigure\n\
             make libfoo-reconfigure app-reconfigure\n"
        )
    );
    // Asking about some packages only.
    assert_eq!(outdated(&b.pp, &["tool"]), "");
}

#[test]
fn a_file_the_dependency_installs_now_is_new() {
    let b = Build::new();
    write(
        &b.at("zlib", &format!("host/{STAGING}/usr/include/zconf.h")),
        "new\n",
    );
    // A ppd temporary left by a killed run (its tree's lock marked, then
    // the temporary made) is nobody's file.
    std::fs::write(b.at("zlib", ".target.ppd-lock"), "marked\n").unwrap();
    write(&b.at("zlib", "target/usr/lib/.ppd-tmp.1.2"), "x");
    // A file libfoo deleted from its own tree after prepare is not new to
    // libfoo; app's copy of it is gone from what libfoo provides.
    std::fs::remove_file(b.at("libfoo", "target/usr/lib/libz.so.1")).unwrap();
    assert_eq!(
        outdated(&b.pp, &["-v"]),
        format!(
            "libfoo: 1 copy differs from what zlib provides now; refresh: make libfoo-reconfigure\n\
             \x20 new host/{STAGING}/usr/include/zconf.h from zlib\n\
             app: 1 copy differs from what libfoo provides now; copies from libfoo, refreshed \
             before it; refresh: make app-reconfigure\n\
             \x20 gone target/usr/lib/libz.so.1 from libfoo\n\
             make libfoo-reconfigure app-reconfigure\n"
        )
    );
    prepare(&b.pp, "libfoo", &["zlib"]);
    prepare(&b.pp, "app", &["libfoo"]);
    assert_eq!(outdated(&b.pp, &[]), "");
}

#[test]
fn unshare_before_a_first_install_or_without_lists_does_nothing() {
    let b = Build::new();
    let stats = unshare(&b.pp, "tool", &b.build.join("nothing-here"));
    assert!(stats.contains("0 own entries of tool examined"), "{stats}");
    // tool's own file is not shared: examined, not copied.
    let ino = std::fs::symlink_metadata(b.at("tool", "host/bin/tool"))
        .unwrap()
        .ino();
    let stats = unshare(&b.pp, "tool", &b.build.join("tool"));
    assert!(
        stats.contains("1 own entries of tool examined, 0 shared files"),
        "{stats}"
    );
    assert_eq!(
        std::fs::symlink_metadata(b.at("tool", "host/bin/tool"))
            .unwrap()
            .ino(),
        ino
    );
    // A dry run names the copies and makes none.
    let zl = b.at("zlib", "target/usr/lib/libz.so.1");
    let ino = std::fs::symlink_metadata(&zl).unwrap().ino();
    let out = ok(ppd()
        .args(["unshare", "-n", "--per-package-dir"])
        .arg(&b.pp)
        .args(["--pkg", "zlib", "--staging-subdir", STAGING, "--list-dir"])
        .arg(b.build.join("zlib")));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("copy {}\n", zl.display())), "{text}");
    assert_eq!(std::fs::symlink_metadata(&zl).unwrap().ino(), ino);
}

/// Buildroot's pkg_size_before / pkg_size_after for the images directory,
/// as pkg-generic.mk runs them.
fn shell_images(images: &Path, work: &Path, pkg: &str, after: bool) {
    let script = if !after {
        format!(
            "cd '{}'; LC_ALL=C find . -not -path './{STAGING}/*' \\( -type f -o -type l \\) \
             -printf '%T@:%i:%#m:%y:%s,%p\\n' | LC_ALL=C sort > '{w}/.files-list-images.before'",
            images.display(),
            w = work.display()
        )
    } else {
        format!(
            "cd '{}'; LC_ALL=C find . -not -path './{STAGING}/*' \\( -type f -o -type l \\) \
             -printf '%T@:%i:%#m:%y:%s,%p\\n' | LC_ALL=C sort > '{w}/.files-list-images.after'
             LC_ALL=C comm -13 '{w}/.files-list-images.before' '{w}/.files-list-images.after' \
             | sed -r -e 's/^[^,]+/{pkg}/' > '{w}/.files-list-images.txt'
             rm -f '{w}/.files-list-images.before' '{w}/.files-list-images.after'",
            images.display(),
            w = work.display()
        )
    };
    assert!(Command::new("bash")
        .arg("-c")
        .arg(script)
        .status()
        .unwrap()
        .success());
}

#[test]
fn the_images_list_is_byte_identical_to_buildroots() {
    let b = Build::new();
    let images = b.build.join("images");
    write(&images.join("rootfs.ext2"), "old image");
    write(&images.join("boot/Image"), "kernel");
    let shell = b.build.join("shell");
    let ours = b.build.join("libfoo");
    std::fs::create_dir_all(&shell).unwrap();
    shell_images(&images, &shell, "libfoo", false);
    ok(ppd()
        .args(["file-list", "--pkg", "libfoo", "--snapshot", "--images-dir"])
        .arg(&images)
        .arg("--out-dir")
        .arg(&ours));
    assert!(ours.join(".files-list-images.before").exists());
    // The install: a new image, a replaced one, a symlink, a name with a space.
    std::thread::sleep(std::time::Duration::from_millis(10));
    write(&images.join("u-boot.bin"), "uboot");
    std::fs::remove_file(images.join("rootfs.ext2")).unwrap();
    write(&images.join("rootfs.ext2"), "new image");
    std::os::unix::fs::symlink("rootfs.ext2", images.join("rootfs.img")).unwrap();
    write(&images.join("boot/dtb one.dtb"), "dtb");
    shell_images(&images, &shell, "libfoo", true);
    // libfoo's file lists, the images list included.
    let file_list = || {
        ok(ppd()
            .args(["file-list", "--pkg", "libfoo", "--staging-subdir", STAGING])
            .arg("--per-package-dir")
            .arg(&b.pp)
            .arg("--images-dir")
            .arg(&images)
            .arg("--out-dir")
            .arg(&ours))
    };
    file_list();
    let want = std::fs::read_to_string(shell.join(".files-list-images.txt")).unwrap();
    let got = std::fs::read_to_string(ours.join(".files-list-images.txt")).unwrap();
    assert_eq!(want.lines().count(), 4, "{want}");
    assert_eq!(got, want);
    assert!(!ours.join(".files-list-images.before").exists());
    // A -rebuild has no snapshot (configure does not run): the last list is kept.
    file_list();
    assert_eq!(
        std::fs::read_to_string(ours.join(".files-list-images.txt")).unwrap(),
        want
    );
}

#[test]
fn a_reconfigure_starts_the_trees_from_the_dependencies() {
    let b = Build::new();
    // libfoo's install also replaced a zlib file and made a directory.
    let zconf = b.at("libfoo", "target/usr/lib/libz.so.1");
    std::fs::remove_file(&zconf).unwrap();
    write(&zconf, "libfoo's libz");
    write(&b.at("libfoo", "target/usr/share/foo/data/a.txt"), "a");
    write(&b.at("libfoo", "target/usr/share/foo/b.txt"), "b");
    std::os::unix::fs::symlink("libfoo.so.1", b.at("libfoo", "target/usr/lib/libfoo.so")).unwrap();
    b.lists("libfoo");
    let zlib_ino = std::fs::symlink_metadata(b.at("zlib", "target/usr/lib/libz.so.1"))
        .unwrap()
        .ino();

    // libfoo-reconfigure: the hook removes what libfoo installed, then the
    // re-prepare fills the trees from zlib.
    let out = ok(ppd()
        .args(["unshare", "-v", "--remove", "--per-package-dir"])
        .arg(&b.pp)
        .args(["--pkg", "libfoo", "--staging-subdir", STAGING, "--list-dir"])
        .arg(b.build.join("libfoo")));
    let stats = String::from_utf8(out.stderr).unwrap();
    assert!(
        stats.contains("5 own entries of libfoo examined, 5 removed, 3 empty directories removed"),
        "{stats}"
    );
    for gone in [
        "target/usr/lib/libfoo.so.1",
        "target/usr/lib/libfoo.so",
        "target/usr/lib/libz.so.1",
        "target/usr/share",
    ] {
        assert!(
            std::fs::symlink_metadata(b.at("libfoo", gone)).is_err(),
            "{gone} still there"
        );
    }
    // zlib's own files and the dependency files libfoo did not replace stay.
    assert!(std::fs::symlink_metadata(b.at("libfoo", "target/usr/lib/libz.so")).is_ok());
    assert_eq!(
        std::fs::read(b.at("zlib", "target/usr/lib/libz.so.1")).unwrap(),
        b"libz v1"
    );
    prepare(&b.pp, "libfoo", &["zlib"]);
    assert_eq!(
        std::fs::symlink_metadata(b.at("libfoo", "target/usr/lib/libz.so.1"))
            .unwrap()
            .ino(),
        zlib_ino,
        "zlib's file is back"
    );
    // The install runs again and installs less; app's copy of the file
    // libfoo no longer installs is gone from what libfoo provides.
    write(&b.at("libfoo", "target/usr/lib/libfoo.so.1"), "foo");
    b.lists("libfoo");
    assert_eq!(
        outdated(&b.pp, &["-v"]),
        "app: 1 copy differs from what libfoo provides now; refresh: make app-reconfigure\n\
         \x20 changed target/usr/lib/libfoo.so.1 from libfoo\n\
         make app-reconfigure\n"
    );
}
