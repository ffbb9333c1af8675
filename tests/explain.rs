//! `ppd explain` on a per-package directory that `ppd prepare` and
//! `ppd finalize` filled: a toolchain file shared by hard links, a path two
//! packages install differently, a file the path fixup rewrote, a copy left
//! outdated by a dependency's rebuild, and the final tree.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{ok, ppd, run};
use serde_json::Value;

fn write(p: &Path, data: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

/// Prepares app on toolchain, base and other, with the path fixup.
fn prepare_app(pp: &Path) {
    ok(ppd()
        .args(["prepare", "--conflicts", "ignore", "--per-package-dir"])
        .arg(pp)
        .args([
            "--pkg",
            "app",
            "--fixup-paths",
            "toolchain",
            "base",
            "other",
        ]));
}

struct Build {
    _t: tempfile::TempDir,
    out: PathBuf,
    pp: PathBuf,
}

/// toolchain, base and other, then app prepared from them (with the path
/// fixup) and the final target tree.
fn build() -> Build {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("output");
    let pp = out.join("per-package");
    write(&pp.join("toolchain/host/bin/cc"), "cc 1\n");
    write(&pp.join("toolchain/target/lib/libc.so"), "libc\n");
    write(&pp.join("base/target/etc/conf"), "from base\n");
    fs::create_dir_all(pp.join("base/host")).unwrap();
    write(&pp.join("other/target/etc/conf"), "from other\n");
    write(
        &pp.join("other/host/lib/pkgconfig/o.pc"),
        &format!("prefix={}/other/host/usr\n", pp.display()),
    );
    prepare_app(&pp);
    ok(ppd()
        .args(["finalize", "--conflicts", "ignore", "--tree", "target"])
        .arg("--per-package-dir")
        .arg(&pp)
        .arg("--dest")
        .arg(out.join("target"))
        .args(["app", "base", "other", "toolchain"]));
    Build { _t: t, out, pp }
}

fn explain_json(b: &Build, paths: &[PathBuf]) -> Value {
    let out = ok(ppd()
        .args(["explain", "--json", "--per-package-dir"])
        .arg(&b.pp)
        .args(paths));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["command"], "explain");
    v
}

fn text(b: &Build, path: &Path) -> String {
    let out = ok(ppd()
        .args(["explain", "--per-package-dir"])
        .arg(&b.pp)
        .arg(path));
    String::from_utf8(out.stdout).unwrap()
}

fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
        .trim()
}

#[test]
fn a_toolchain_file_is_the_toolchains_shared_inode() {
    let b = build();
    let cc = b.pp.join("app/host/bin/cc");
    let ino = fs::metadata(&cc).unwrap().ino();
    assert_eq!(
        ino,
        fs::metadata(b.pp.join("toolchain/host/bin/cc"))
            .unwrap()
            .ino()
    );
    let t = text(&b, &cc);
    assert_eq!(
        line(&t, "installed by:"),
        "toolchain; placed here by prepare from toolchain"
    );
    assert_eq!(line(&t, "state:"), "current: what toolchain provides now");
    assert_eq!(line(&t, "shared by:"), "2 trees: app, toolchain");
    assert!(
        line(&t, "entry:").starts_with(&format!("file, inode {ino} on device ")),
        "{t}"
    );
    assert!(
        line(&t, "entry:").contains(", 2 links, 5 bytes, mode 0644,"),
        "{t}"
    );
    assert_eq!(line(&t, "conflict:"), "none");
    let v = explain_json(&b, &[cc]);
    let p = &v["paths"][0];
    assert_eq!(p["place"], "per-package");
    assert_eq!(p["package"], "app");
    assert_eq!(p["rel"], "bin/cc");
    assert_eq!(p["entry"]["ino"], ino);
    assert_eq!(p["entry"]["nlink"], 2);
    assert_eq!(p["copy"]["installer"], "toolchain");
    assert_eq!(p["copy"]["state"], "current");
    assert_eq!(p["shared_by"], serde_json::json!(["app", "toolchain"]));
    assert_eq!(v["conflicts"], serde_json::json!([]));
}

#[test]
fn a_conflicting_file_names_both_installers_and_the_winner() {
    let b = build();
    let conf = b.pp.join("app/target/etc/conf");
    let t = text(&b, &conf);
    assert_eq!(
        line(&t, "conflict:"),
        "installed differently by base (file), other (file)"
    );
    assert_eq!(line(&t, "winner:"), "other");
    assert_eq!(
        line(&t, "provided by:"),
        "app (file, installed by other, current), base (file), other (file)"
    );
    let v = explain_json(&b, std::slice::from_ref(&conf));
    let c = &v["conflicts"][0];
    assert_eq!(c["path"], "etc/conf");
    assert_eq!(c["winner"], "other");
    assert_eq!(
        c["installers"],
        serde_json::json!([{"package": "base", "kind": "file"}, {"package": "other", "kind": "file"}])
    );
    assert_eq!(v["stats"]["conflicts"], 1);

    // The same path in the final tree: a copy of the last package's version.
    let fin = b.out.join("target/etc/conf");
    let t = text(&b, &fin);
    assert_eq!(
        line(&t, "in:"),
        format!("the final target tree ({})", b.out.join("target").display())
    );
    assert_eq!(line(&t, "installed by:"), "other");
    assert_eq!(
        line(&t, "winner:"),
        "other (the last package by name that provides it)"
    );
    assert_eq!(line(&t, "shared by:"), "1 tree: final");
    let v = explain_json(&b, &[fin]);
    assert_eq!(v["paths"][0]["place"], "final");
    assert_eq!(v["paths"][0]["differs_from_winner"], false);
}

#[test]
fn a_file_the_path_fixup_rewrote_still_belongs_to_its_installer() {
    let b = build();
    let pc = b.pp.join("app/host/lib/pkgconfig/o.pc");
    assert_eq!(
        fs::read_to_string(&pc).unwrap(),
        format!("prefix={}/app/host/usr\n", b.pp.display())
    );
    let t = text(&b, &pc);
    assert_eq!(
        line(&t, "installed by:"),
        "other; placed here by prepare from other, then rewritten by the path fixup"
    );
    assert_eq!(line(&t, "shared by:"), "1 tree: app");
    let v = explain_json(&b, &[pc]);
    let c = &v["paths"][0]["copy"];
    assert_eq!(c["rewritten"], true);
    assert_eq!(c["installer"], "other");
    assert_eq!(c["state"], "current");
}

#[test]
fn a_copy_is_outdated_after_its_dependency_is_rebuilt() {
    let b = build();
    // The toolchain is rebuilt: its cc is a new inode, app still has the old.
    let tc = b.pp.join("toolchain/host/bin/cc");
    fs::remove_file(&tc).unwrap();
    write(&tc, "cc 2, rebuilt\n");
    let cc = b.pp.join("app/host/bin/cc");
    let t = text(&b, &cc);
    assert_eq!(
        line(&t, "state:"),
        "outdated: toolchain provides another version now (the next prepare replaces it)"
    );
    assert_eq!(line(&t, "outdated:"), "app");
    assert_eq!(line(&t, "shared by:"), "1 tree: app");
    let v = explain_json(&b, std::slice::from_ref(&cc));
    assert_eq!(v["paths"][0]["outdated"], serde_json::json!(["app"]));
    assert_eq!(v["stats"]["outdated"], 1);

    // Re-preparing app brings the new version: current again.
    prepare_app(&b.pp);
    let v = explain_json(&b, &[cc]);
    assert_eq!(v["paths"][0]["copy"]["state"], "current");
    assert_eq!(v["stats"]["outdated"], 0);
}

#[test]
fn a_path_outside_the_trees_is_a_usage_error() {
    let b = build();
    let out = run(ppd()
        .args(["explain", "--per-package-dir"])
        .arg(&b.pp)
        .arg("/etc/passwd"));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: explaining /etc/passwd: not in a per-package tree of {} (DIR/PKG/host or \
             DIR/PKG/target) nor in the final host or target tree beside it\n",
            b.pp.display()
        )
    );
}
