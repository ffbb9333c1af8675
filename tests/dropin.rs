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

fn prepare(pp: &Path, pkg: &str, deps: &[&str]) {
    ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(pp)
        .arg("--host-dir")
        .arg(pp.join(pkg).join("host"))
        .arg("--target-dir")
        .arg(pp.join(pkg).join("target"))
        .args(deps));
}

fn finalize_all(root: &Path, conflicts: &str) -> (Option<i32>, String) {
    let out = run(ppd()
        .args(["finalize", "--tree", "target", "--conflicts", conflicts])
        .arg("--per-package-dir")
        .arg(root.join("per-package"))
        .arg("--dest")
        .arg(root.join("target"))
        .args(["alpha", "beta", "gamma"]));
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn an_outdated_copy_winning_the_final_merge_is_warned_about_once() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("per-package");
    // alpha installs a file; beta gets it from alpha, gamma from both.
    write(&pp.join("alpha/target/etc/version.txt"), "1.0\n");
    std::fs::create_dir_all(pp.join("alpha/host")).unwrap();
    prepare(&pp, "beta", &["alpha"]);
    write(&pp.join("beta/target/usr/bin/b"), "b\n");
    prepare(&pp, "gamma", &["alpha", "beta"]);
    let version = r.join("target/etc/version.txt");
    // One inode everywhere: no conflict, nothing said.
    assert_eq!(finalize_all(r, "warn"), (Some(0), String::new()));
    assert_eq!(std::fs::read_to_string(&version).unwrap(), "1.0\n");

    // alpha-rebuild installs a new file (a new inode): the dependents keep
    // the old one, and the last of them still wins the path, as with
    // Buildroot's rsync; ppd says so and names the package to reconfigure.
    let new = pp.join("alpha/target/etc/version.txt.new");
    write(&new, "2.0\n");
    std::fs::rename(&new, pp.join("alpha/target/etc/version.txt")).unwrap();
    let line = format!(
        "ppd: warning: {} is gamma's outdated copy (through beta) of a file alpha provides \
         differently now; make beta-reconfigure refreshes it (make ppd-outdated lists every \
         package to refresh)\n",
        version.display()
    );
    assert_eq!(finalize_all(r, "warn"), (Some(0), line.clone()));
    assert_eq!(std::fs::read_to_string(&version).unwrap(), "1.0\n");
    // Not repeated by the next no-op make; not a conflict that fails the
    // build, but shown by --conflicts error every time.
    assert_eq!(finalize_all(r, "warn"), (Some(0), String::new()));
    assert_eq!(finalize_all(r, "error"), (Some(0), line.clone()));

    // beta reconfigured: gamma's copy is now the one to refresh.
    prepare(&pp, "beta", &["alpha"]);
    let line = format!(
        "ppd: warning: {} is gamma's outdated copy of a file beta provides differently now; \
         make gamma-reconfigure refreshes it (make ppd-outdated lists every package to \
         refresh)\n",
        version.display()
    );
    assert_eq!(finalize_all(r, "warn"), (Some(0), line));
    // gamma reconfigured too: one inode again, the new version, silence.
    prepare(&pp, "gamma", &["alpha", "beta"]);
    assert_eq!(finalize_all(r, "warn"), (Some(0), String::new()));
    assert_eq!(std::fs::read_to_string(&version).unwrap(), "2.0\n");
}
