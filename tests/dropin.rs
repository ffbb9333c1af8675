//! What mk/buildroot.mk relies on beyond the single commands: final-merge
//! conflicts reported once per change rather than on every no-op `make`.

mod common;

use std::path::Path;

use common::*;

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn finalize(root: &Path, conflicts: &str) -> (Option<i32>, String) {
    let out = run(ppd()
        .args(["finalize", "--tree", "target", "--conflicts", conflicts])
        .arg("--per-package-dir")
        .arg(root.join("per-package"))
        .arg("--dest")
        .arg(root.join("target"))
        .args(["alpha", "beta"]));
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn a_final_merge_conflict_is_reported_once_per_change() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("per-package");
    write(&pp.join("alpha/target/etc/app.conf"), "alpha's\n");
    write(&pp.join("beta/target/etc/app.conf"), "beta's\n");
    write(&pp.join("beta/target/usr/bin/b"), "b");
    let line = format!(
        "ppd: conflict: {} is provided differently by alpha (file), beta (file); beta wins\n",
        r.join("target/etc/app.conf").display()
    );
    assert_eq!(finalize(r, "warn"), (Some(0), line.clone()));
    // Every later make: nothing new, nothing said.
    assert_eq!(finalize(r, "warn"), (Some(0), String::new()));
    assert_eq!(finalize(r, "warn"), (Some(0), String::new()));
    // A conflict that fails the build fails every run until fixed.
    assert_eq!(finalize(r, "error"), (Some(1), line.clone()));
    assert_eq!(finalize(r, "error"), (Some(1), line.clone()));
    // Fixed, then made again: reported again.
    std::fs::remove_file(pp.join("alpha/target/etc/app.conf")).unwrap();
    assert_eq!(finalize(r, "warn"), (Some(0), String::new()));
    write(&pp.join("alpha/target/etc/app.conf"), "alpha's again\n");
    assert_eq!(finalize(r, "warn"), (Some(0), line.clone()));
    assert_eq!(finalize(r, "warn"), (Some(0), String::new()));
    // The record beside the tree holds the lines reported.
    let record = r.join(".target.ppd-reported");
    let before = std::fs::read(&record).unwrap();
    assert_eq!(before, line.strip_prefix("ppd: ").unwrap().as_bytes());
}
