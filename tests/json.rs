//! The `--json` document of every reporting command: one line on stdout
//! that parses, carries `schema` 1, and has exactly the keys docs/json.md
//! documents, at the top and in every list item.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use common::{ok, ppd, prepare_pkg, run};
use serde_json::Value;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Parses the one-line document and checks it against the schema; returns it.
fn doc(out: &std::process::Output, command: &str, context: &[&str]) -> Value {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "not one line: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut want = set(&[
        "schema",
        "command",
        "stats",
        "conflicts",
        "overwrites",
        "findings",
        "rewrites",
    ]);
    want.extend(set(context));
    assert_eq!(keys(&v), want, "{command}: {v}");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["command"], command);
    for (k, n) in v["stats"].as_object().unwrap() {
        assert!(n.is_number(), "{command}: stats.{k} = {n}");
    }
    let item_keys = [
        (
            "conflicts",
            set(&[
                "tree",
                "path",
                "providers",
                "winner",
                "installers",
                "found",
                "replaced",
            ]),
        ),
        (
            "overwrites",
            set(&["tree", "path", "package", "owner", "how"]),
        ),
        (
            "findings",
            set(&[
                "part", "path", "rule", "severity", "tag", "entry", "message",
            ]),
        ),
        (
            "rewrites",
            set(&[
                "tree",
                "path",
                "full_path",
                "kind",
                "target",
                "changes",
                "aliases",
            ]),
        ),
    ];
    for (list, want) in item_keys {
        for item in v[list].as_array().unwrap() {
            assert_eq!(keys(item), want, "{command}: {list}: {item}");
        }
    }
    for c in v["conflicts"].as_array().unwrap() {
        for p in c["providers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(c["installers"].as_array().unwrap())
        {
            assert_eq!(keys(p), set(&["package", "kind"]), "{p}");
        }
    }
    v
}

fn write(p: &Path, data: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

#[test]
fn every_reporting_command_prints_the_documented_document() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let pps = pp.display().to_string();
    write(&pp.join("base/host/share/x.txt"), "base\n");
    write(&pp.join("base/target/etc/conf"), "from base\n");
    write(&pp.join("other/target/etc/conf"), "from other\n");
    write(
        &pp.join("other/host/lib/pkgconfig/o.pc"),
        &format!("prefix={pps}/other/host/usr\n"),
    );

    // prepare: a conflict (etc/conf) and a rewrite (o.pc).
    let out = ok(ppd()
        .args(["prepare", "--json", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "app", "--fixup-paths", "base", "other"]));
    let v = doc(
        &out,
        "prepare",
        &["trees", "dependencies", "dry_run", "missing"],
    );
    let c = &v["conflicts"][0];
    assert_eq!(c["path"], "etc/conf");
    assert_eq!(c["winner"], "other");
    assert_eq!(c["providers"][0]["package"], "base");
    assert_eq!(v["rewrites"][0]["path"], "lib/pkgconfig/o.pc");
    assert_eq!(v["rewrites"][0]["kind"], "file");
    assert_eq!(v["stats"]["rewritten"], 1);
    assert_eq!(v["stats"]["conflicts"], 1);

    // explain: the conflict and the rewrite, as seen from app's trees.
    let out = ok(ppd()
        .args(["explain", "--json", "--per-package-dir"])
        .arg(&pp)
        .arg(pp.join("app/target/etc/conf"))
        .arg(pp.join("app/host/lib/pkgconfig/o.pc")));
    let v = doc(&out, "explain", &["paths"]);
    assert_eq!(v["conflicts"][0]["path"], "etc/conf");
    assert_eq!(v["paths"][1]["copy"]["rewritten"], true);

    // file-list: the package replaced a file it got from base.
    let x = pp.join("app/host/share/x.txt");
    fs::remove_file(&x).unwrap();
    write(&x, "app's own\n");
    let lists = t.path().join("lists");
    let out = ok(ppd()
        .args(["file-list", "--json", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "app", "--out-dir"])
        .arg(&lists));
    let v = doc(
        &out,
        "file-list",
        &["package", "per_package_dir", "dry_run"],
    );
    let o = &v["overwrites"][0];
    assert_eq!(
        (&o["path"], &o["owner"], &o["how"], &o["package"]),
        (
            &"share/x.txt".into(),
            &"base".into(),
            &"replaced".into(),
            &"app".into()
        )
    );

    // finalize: the same conflict, named by installer.
    let out = ok(ppd()
        .args([
            "finalize",
            "--json",
            "--tree",
            "target",
            "--per-package-dir",
        ])
        .arg(&pp)
        .arg("--dest")
        .arg(t.path().join("target"))
        .args(["base", "other"]));
    let v = doc(&out, "finalize", &["tree", "dest", "mode", "dry_run"]);
    assert_eq!(v["conflicts"][0]["path"], "etc/conf");
    assert_eq!(v["conflicts"][0]["winner"], "other");

    // copy-tree: a directory in SRC where DEST holds a file.
    write(&t.path().join("src/d/f"), "f\n");
    write(&t.path().join("dst/d"), "a file\n");
    let out = ok(ppd()
        .args(["copy-tree", "--json"])
        .arg(t.path().join("src"))
        .arg(t.path().join("dst")));
    let v = doc(&out, "copy-tree", &["src", "dest", "dry_run"]);
    assert_eq!(v["conflicts"][0]["found"], "file");
    assert_eq!(v["conflicts"][0]["path"], "d");

    // fixup-paths, dry run: what would be rewritten.
    let out = ok(ppd()
        .args(["fixup-paths", "-n", "--json", "--per-package-dir"])
        .arg(&pp)
        .arg("--new-root")
        .arg(t.path().join("final"))
        .arg(pp.join("other/host")));
    let v = doc(
        &out,
        "fixup-paths",
        &["per_package_dir", "new_root", "trees", "dry_run"],
    );
    assert_eq!(v["rewrites"][0]["path"], "lib/pkgconfig/o.pc");
    assert_eq!(v["dry_run"], true);

    // check-rpath, Buildroot's host check.
    let out = ok(ppd()
        .args(["check-rpath", "--json", "--host-dir"])
        .arg(pp.join("app/host"))
        .arg("app"));
    let v = doc(&out, "check-rpath", &["mode", "package", "host_dir"]);
    assert_eq!(v["mode"], "host");

    // An ELF file with per-package RPATHs for the audit and fix-rpath.
    if common::skip_without(&["patchelf"]) {
        return;
    }
    let host = pp.join("app/host");
    fs::create_dir_all(host.join("bin")).unwrap();
    fs::create_dir_all(host.join("lib")).unwrap();
    let prog = host.join("bin/prog");
    fs::copy("/bin/true", &prog).unwrap();
    ok(std::process::Command::new("patchelf")
        .arg("--set-rpath")
        .arg(format!("{pps}/base/host/lib"))
        .arg(&prog));
    let out = run(ppd()
        .args(["check-rpath", "--audit", "--json", "--root"])
        .arg(&host)
        .arg(&host));
    let v = doc(&out, "check-rpath", &["mode", "parts"]);
    assert_eq!(v["parts"][0]["name"], "audit");
    assert_eq!(out.status.code(), Some(1));
    let f = &v["findings"][0];
    assert_eq!(f["path"], prog.display().to_string());
    assert_eq!(f["severity"], "error");
    assert_eq!(f["entry"], format!("{pps}/base/host/lib"));

    let out = ok(ppd()
        .args(["fix-rpath", "-n", "--json", "--tree", "host", "--host-dir"])
        .arg(&host)
        .arg("--per-package-dir")
        .arg(&pp));
    let v = doc(&out, "fix-rpath", &["tree", "root", "dry_run"]);
    let r = &v["rewrites"][0];
    assert_eq!(
        (&r["path"], &r["kind"]),
        (&"bin/prog".into(), &"rpath".into())
    );
    assert_eq!(r["changes"][0]["old"], format!("{pps}/base/host/lib"));
}

/// The commands Buildroot's rebuild and check steps run: `unshare` before
/// a package's install runs again, `outdated` after a dependency's
/// rebuild, `check-bin-arch` after an install.
#[test]
fn the_rebuild_and_arch_commands_print_the_documented_document() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let prepare = |pkg: &str, deps: &[&str]| prepare_pkg(&pp, pkg, deps);
    prepare("zlib", &[]);
    write(&pp.join("zlib/target/usr/lib/libz.so.1"), "libz v1\n");
    prepare("app", &["zlib"]);
    write(&pp.join("app/target/usr/bin/app"), "app\n");
    let lists = t.path().join("build/app");
    ok(ppd()
        .args(["file-list", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "app", "--out-dir"])
        .arg(&lists));
    prepare("top", &["app"]);

    // unshare: app's own file, shared with top, gets a private inode.
    let own = pp.join("app/target/usr/bin/app");
    let out = ok(ppd()
        .args(["unshare", "--json", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "app", "--list-dir"])
        .arg(&lists));
    let v = doc(
        &out,
        "unshare",
        &[
            "package",
            "per_package_dir",
            "list_dir",
            "remove",
            "dry_run",
            "files",
        ],
    );
    assert_eq!(v["files"], serde_json::json!([own.display().to_string()]));
    assert_eq!(v["stats"]["files"], 1);
    assert_eq!(v["stats"]["bytes"], 4);
    assert_eq!(
        (&v["remove"], &v["dry_run"]),
        (&false.into(), &false.into())
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&own).unwrap().nlink(), 1);

    // outdated: zlib rebuilt with another libz.so.1.
    let lib = pp.join("zlib/target/usr/lib/libz.so.1");
    fs::remove_file(&lib).unwrap();
    write(&lib, "libz v2, longer\n");
    let out = ok(ppd()
        .args(["outdated", "--json", "--per-package-dir"])
        .arg(&pp));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = doc(&out, "outdated", &["per_package_dir", "refresh", "make"]);
    let r = &v["refresh"][0];
    assert_eq!(r["package"], "app");
    assert_eq!(
        r["stale"],
        serde_json::json!([{"tree": "target", "path": "usr/lib/libz.so.1",
            "provider": "zlib", "how": "changed"}])
    );
    assert_eq!(v["make"], "make app-reconfigure top-reconfigure");
    let f = &v["findings"][0];
    assert_eq!(
        f["path"],
        pp.join("app/target/usr/lib/libz.so.1")
            .display()
            .to_string()
    );
    assert_eq!(
        (&f["rule"], &f["severity"]),
        (&"outdated".into(), &"warning".into())
    );
    assert_eq!(
        f["message"],
        "differs from what zlib provides now; refresh: make app-reconfigure"
    );
    assert_eq!(v["stats"]["refresh"], 2);

    // check-bin-arch: an x86-64 program where AArch64 is expected; the
    // script's ERROR line goes to stderr, the document to stdout, status 1.
    let target = t.path().join("target");
    fs::create_dir_all(target.join("usr/bin")).unwrap();
    fs::copy("/bin/true", target.join("usr/bin/true")).unwrap();
    write(&target.join("etc/conf"), "text\n");
    let list = t.path().join("files-list.txt");
    write(
        &list,
        "foo,./usr/bin/true\nfoo,./etc/conf\nbar,./usr/bin/x\n",
    );
    let out = run(ppd()
        .args([
            "check-bin-arch",
            "--json",
            "-p",
            "foo",
            "-a",
            "AArch64",
            "-l",
        ])
        .arg(&list)
        .env("TARGET_DIR", &target));
    assert_eq!(out.status.code(), Some(1));
    let v = doc(&out, "check-bin-arch", &["package", "target_dir", "arch"]);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "ERROR: architecture for \"/usr/bin/true\" is \"Advanced Micro Devices X86-64\", \
         should be \"AArch64\"\n"
    );
    let f = &v["findings"][0];
    assert_eq!(f["path"], target.join("usr/bin/true").display().to_string());
    assert_eq!(
        (&f["rule"], &f["severity"]),
        (&"bin-arch".into(), &"error".into())
    );
    assert_eq!(
        f["message"],
        "architecture is \"Advanced Micro Devices X86-64\", should be \"AArch64\""
    );
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["stats"]["wrong"], 1);
}
