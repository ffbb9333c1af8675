//! A dependency's tree changed after its manifest was written, then a
//! package prepared on it: the package's manifest records what the package
//! was given, so its `file-list` reports only what the package itself did.
//!
//! The hazard these tests pin down: a dependency's install editing a file
//! it was given through the shared inode (`>>`, `cp` onto it) changes no
//! directory, so the dependency's manifest still holds the inode's old
//! size and mtime. A record for the package taken from there instead of
//! from the entry would make the package's `file-list` report the
//! dependency's edit as the package's own; and the inode's ctime cannot
//! tell the two apart later, since every hard link another package's
//! prepare makes to the inode sets it to the current time.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

/// `ppd file-list` of `pkg`: its stderr and `.files-list.txt`.
fn file_list(pp: &Path, work: &Path, pkg: &str) -> (String, String) {
    let out = work.join(pkg);
    std::fs::create_dir_all(&out).unwrap();
    let o = ok(ppd()
        .args(["file-list", "--pkg", pkg, "--out-dir"])
        .arg(&out)
        .arg("--per-package-dir")
        .arg(pp));
    let list = std::fs::read_to_string(out.join(".files-list.txt")).unwrap();
    (String::from_utf8_lossy(&o.stderr).into_owned(), list)
}

/// base (no manifest) <- mid (prepared, then its install edits a file it
/// was given in place and adds, removes and replaces entries) <- top.
#[test]
fn a_dependency_edit_before_the_prepare_is_not_the_package_s() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let work = t.path().join("work");
    for tree in ["host", "target"] {
        let root = pp.join("base").join(tree);
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("etc/inittab"), "base\n").unwrap();
        std::fs::write(root.join("usr/lib/libbase.so"), "base").unwrap();
        std::fs::write(root.join("usr/lib/libgone.so"), "gone").unwrap();
        std::fs::write(root.join("usr/lib/libswap.so"), "swap").unwrap();
        set_mtime(&root.join("etc/inittab"), 1_400_000_000, 5);
    }
    prepare_pkg(&pp, "mid", &["base"]);
    // mid's install, after its manifest was written.
    let mid = pp.join("mid/target");
    let inittab = mid.join("etc/inittab");
    let ino = std::fs::metadata(&inittab).unwrap().ino();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&inittab)
            .unwrap();
        f.write_all(b"mid's line\n").unwrap();
    }
    assert_eq!(std::fs::metadata(&inittab).unwrap().ino(), ino);
    std::fs::write(mid.join("usr/lib/libmid.so"), "mid").unwrap();
    std::fs::remove_file(mid.join("usr/lib/libgone.so")).unwrap();
    std::fs::write(mid.join("usr/lib/new"), "replaced").unwrap();
    std::fs::rename(mid.join("usr/lib/new"), mid.join("usr/lib/libswap.so")).unwrap();
    // mid's own file-list: the edit is mid's.
    let (err, list) = file_list(&pp, &work, "mid");
    assert!(
        err.contains(&format!(
            "ppd: overwrite: mid edited {} in place",
            inittab.display()
        )),
        "{err}"
    );
    assert!(list.contains("mid,./etc/inittab\n"), "{list}");

    prepare_pkg(&pp, "top", &["mid"]);
    let top = pp.join("top/target");
    assert_eq!(
        std::fs::metadata(top.join("etc/inittab")).unwrap().ino(),
        ino
    );
    // Added, removed and replaced entries of mid are noticed.
    assert!(top.join("usr/lib/libmid.so").exists());
    assert!(!top.join("usr/lib/libgone.so").exists());
    assert_eq!(
        std::fs::read_to_string(top.join("usr/lib/libswap.so")).unwrap(),
        "replaced"
    );
    // Another package prepared on mid later links the same inode: its
    // ctime is now later than top's manifest.
    prepare_pkg(&pp, "other", &["mid"]);
    let manifest = std::fs::metadata(pp.join("top/.target.ppd-manifest")).unwrap();
    let now = std::fs::metadata(top.join("etc/inittab")).unwrap();
    assert!(
        (now.ctime(), now.ctime_nsec()) >= (manifest.mtime(), manifest.mtime_nsec()),
        "a hard link sets the inode's ctime"
    );
    // top did nothing: nothing listed, nothing reported.
    let (err, list) = file_list(&pp, &work, "top");
    assert_eq!(err, "");
    assert_eq!(list, "");

    // top's own in-place edit after its prepare is still reported (and
    // mid's tree changed with it: the inode is shared).
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(top.join("usr/lib/libbase.so"))
            .unwrap();
        f.write_all(b" and top").unwrap();
    }
    let (err, list) = file_list(&pp, &work, "top");
    assert_eq!(
        err,
        format!(
            "ppd: overwrite: top edited {} in place; it is base's file, shared through a \
             hard link, so base's own tree changed too\n",
            top.join("usr/lib/libbase.so").display()
        )
    );
    assert_eq!(list, "top,./usr/lib/libbase.so\n");
}
