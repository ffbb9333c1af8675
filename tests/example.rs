//! The built-in example (`example/`) end to end: a Buildroot-style make
//! build of 45 packages through per-package directories, driven by the
//! `mk/` fragments and the ppd binary under test.
//!
//! Each test builds into its own temporary output directory (`O=`), with a
//! small toolchain (`EXAMPLE_TOOLCHAIN_FILES`) to keep the runtime modest.
//! Builds that are compared reuse the same output path one after the
//! other, because the trees legitimately embed it (.pc, .la, -config files).
//! The final trees are compared by type, mode, content and symlink target,
//! not by inode or mtime, which differ from build to build by design.
//! `ppd explain` is asked about the same build's trees as it goes (a
//! toolchain file, a file the path fixup rewrote, a copy left outdated by a
//! dependency's reinstall, a path two packages install differently).

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{run, snapshot};

/// Toolchain files for the tests: enough for several directories of
/// headers, symlinks and a hard-link group, small enough to build quickly.
const TOOLCHAIN_FILES: &str = "200";

/// The programs the tests build, with the target packages they need: 20 of
/// the 40, with host tools run at build time (gen), -config scripts and a
/// dependency graph five levels deep.
const PACKAGES: &str = "app-fetch app-logd app-hello";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("example")
}

/// `make -C example O=<o> ...` with a clean environment, so neither the
/// caller's make nor its variables (O, PPD_BACKEND, HOST_DIR...) leak in.
fn make(o: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("make");
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LC_ALL", "C")
        .arg("-C")
        .arg(example_dir())
        .arg(format!("O={}", o.display()))
        .arg(format!("PPD={}", env!("CARGO_BIN_EXE_ppd")))
        .arg(format!("EXAMPLE_TOOLCHAIN_FILES={TOOLCHAIN_FILES}"))
        .arg(format!("EXAMPLE_PACKAGES={PACKAGES}"))
        .args(args);
    // The one variable the suite may run in (scripts/test-filesystems.sh):
    // mk/ppd.mk passes it on as --link-mode.
    if let Some(mode) = std::env::var_os("PPD_LINK_MODE") {
        c.env("PPD_LINK_MODE", mode);
    }
    c
}

fn show(cmd: &Command, out: &Output) -> String {
    format!(
        "{cmd:?} exited with {}\nstdout (tail):\n{}\nstderr (tail):\n{}",
        out.status,
        tail(&out.stdout),
        tail(&out.stderr)
    )
}

fn tail(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs make and asserts success.
fn make_ok(o: &Path, args: &[&str]) -> Output {
    let mut cmd = make(o, args);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", show(&cmd, &out));
    out
}

/// What a final tree entry looks like, minus identity and time.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(Vec<u8>),
}

/// The final host and target trees and the aggregated file lists (as sorted
/// lines: Buildroot's per-package lists are ordered by mtime and inode).
fn final_state(o: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for tree in ["host", "target"] {
        let root = o.join(tree);
        for (rel, s) in snapshot(&root) {
            let path = common::at(&root, &rel);
            let e = match s.kind {
                "d" => Entry::Dir(s.mode),
                "l" => Entry::Link(s.target.unwrap()),
                "f" => Entry::File(s.mode, std::fs::read(&path).unwrap()),
                k => panic!("unexpected {k} entry {path:?}"),
            };
            out.insert(format!("{tree}/{}", String::from_utf8_lossy(&rel)), e);
        }
    }
    for list in ["", "-staging", "-host"] {
        let name = format!("packages-file-list{list}.txt");
        let text = std::fs::read(o.join("build").join(&name)).unwrap();
        let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        lines.sort();
        out.insert(format!("build/{name}"), Entry::File(0, lines.join(&b'\n')));
    }
    out
}

fn assert_same(what: &str, a: &BTreeMap<String, Entry>, b: &BTreeMap<String, Entry>) {
    let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).take(10).collect();
    let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).take(10).collect();
    let differ: Vec<_> = a
        .iter()
        .filter(|(k, v)| b.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k)
        .take(10)
        .collect();
    assert!(
        only_a.is_empty() && only_b.is_empty() && differ.is_empty(),
        "{what}: final trees differ\n only in first: {only_a:?}\n only in second: {only_b:?}\n \
         different: {differ:?}"
    );
}

fn stdout_has(out: &Output, needle: &str) -> bool {
    String::from_utf8_lossy(&out.stdout).contains(needle)
}

/// The line the example's last check prints when every target program and
/// host tool ran from the final trees without LD_LIBRARY_PATH.
const RAN: &str = "check-run: 3 target programs and 2 host tools run from the final trees";

fn skip_without_make() -> bool {
    common::skip_without(&["make", "gcc"])
}

/// The example built with `make -j4` in a new workspace: (workspace,
/// output directory, its [`final_state`]); `None` after the skip
/// [`skip_without_make`] records.
fn built_j4() -> Option<(tempfile::TempDir, PathBuf, BTreeMap<String, Entry>)> {
    if skip_without_make() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("out");
    make_ok(&o, &["-j4"]);
    let first = final_state(&o);
    Some((tmp, o, first))
}

#[test]
fn parallel_build_gives_the_serial_build_final_trees() {
    if skip_without_make() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("out");

    let out = make_ok(&o, &["-j1"]);
    assert!(stdout_has(&out, RAN), "{}", tail(&out.stdout));
    let serial = final_state(&o);
    // The programs the final check ran are really there, with $ORIGIN
    // RPATHs that survived fix-rpath.
    assert!(matches!(
        serial.get("target/usr/bin/app-fetch"),
        Some(Entry::File(0o755, _))
    ));
    assert!(
        matches!(serial.get("target/usr/lib/libjson.so.1"), Some(Entry::Link(t)) if t == b"libjson.so.1.0")
    );
    // Nothing in the final host tree still names a per-package directory.
    let ppd_prefix = format!("{}/per-package/", o.display());
    for (path, e) in &serial {
        if let Entry::File(_, data) = e {
            let text = !data.contains(&0);
            assert!(
                !(text && memchr::memmem::find(data, ppd_prefix.as_bytes()).is_some()),
                "{path} still names {ppd_prefix}"
            );
        }
    }

    // The whole output directory passes the RPATH audit, each part with its
    // own rules: no error, no warning.
    let audit = common::ok(
        common::ppd()
            .args(["check-rpath", "--audit", "--json", "--buildroot-output"])
            .arg(&o),
    );
    let v: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(
        (
            v["stats"]["errors"].as_u64(),
            v["stats"]["warnings"].as_u64()
        ),
        (Some(0), Some(0)),
        "{v:#}"
    );
    let parts: Vec<(&str, u64)> = v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["elf_files"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        parts.iter().map(|p| p.0).collect::<Vec<_>>(),
        ["host", "staging", "target"]
    );
    assert!(parts.iter().all(|p| p.1 > 0), "{parts:?}");

    std::fs::remove_dir_all(&o).unwrap();
    let out = make_ok(&o, &["-j8"]);
    assert!(stdout_has(&out, RAN));
    assert_same("make -j1 vs make -j8", &serial, &final_state(&o));
}

#[test]
fn rsync_macros_and_the_buildroot_drop_in_give_the_ppd_final_trees() {
    if skip_without_make() {
        return;
    }
    if common::skip_without(&["rsync", "file"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("out");

    make_ok(&o, &["-j4", "PPD_BACKEND=ppd"]);
    let with_ppd = final_state(&o);
    // Under the ppd backend every per-package operation is ppd, the path
    // fixup of host-finalize included, and the timing log names it so.
    let log = std::fs::read_to_string(o.join("ppd-timing.log")).unwrap();
    let ops = timed_ops(&log);
    assert_eq!(
        ops,
        [
            "ppd check-rpath",
            "ppd file-list",
            "ppd finalize",
            "ppd fix-rpath",
            "ppd fixup-paths",
            "ppd prepare"
        ],
        "{log}"
    );
    assert!(!o.join("per-package/libjson/host/bin/rsync").exists());

    for (backend, want) in [
        (
            "rsync",
            &[
                "find|sort|comm (file-list)",
                "grep|file|sed (fixup-paths)",
                "ppd check-rpath",
                "ppd fix-rpath",
                "rsync --files-from (finalize)",
                "rsync --link-dest (prepare)",
            ][..],
        ),
        (
            "buildroot",
            &[
                "find|sort|comm (file-list)",
                "ppd check-rpath",
                "ppd finalize",
                "ppd fix-rpath",
                "ppd fixup-paths",
                "ppd prepare",
            ][..],
        ),
    ] {
        std::fs::remove_dir_all(&o).unwrap();
        let out = make_ok(&o, &["-j4", &format!("PPD_BACKEND={backend}")]);
        assert!(stdout_has(&out, RAN));
        assert_same(&format!("ppd vs {backend}"), &with_ppd, &final_state(&o));
        let log = std::fs::read_to_string(o.join("ppd-timing.log")).unwrap();
        assert_eq!(timed_ops(&log), want, "{backend}: {log}");
    }
}

/// The distinct operations of a timing log ("<what ran> <microseconds>"
/// per line), sorted.
fn timed_ops(log: &str) -> Vec<String> {
    let ops: std::collections::BTreeSet<String> = log
        .lines()
        .map(|l| l.rsplit_once(' ').map_or(l, |(op, _)| op).to_owned())
        .collect();
    ops.into_iter().collect()
}

#[test]
fn an_undeclared_dependency_is_invisible() {
    if skip_without_make() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("out");

    // libjson is built and installed, but broken-undeclared does not list
    // it: its per-package directory must not have it.
    make_ok(&o, &["-j4", "libjson"]);
    assert!(o
        .join("per-package/libjson/host/x86_64-example-linux-gnu/sysroot/usr/include/libjson.h")
        .exists());
    let mut cmd = make(&o, &["-j4", "broken-undeclared"]);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", show(&cmd, &out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "libtool-check: {}/per-package/broken-undeclared/host/\
             x86_64-example-linux-gnu/sysroot/usr/lib/libjson.la: no such file",
            o.display()
        )),
        "{}",
        show(&cmd, &out)
    );
    assert!(!o.join("per-package/broken-undeclared/host/x86_64-example-linux-gnu/sysroot/usr/include/libjson.h").exists());
    assert!(!o.join("build/broken-undeclared/.stamp_configured").exists());

    // Without per-package directories the same package builds, because
    // libjson happens to be in the shared tree: the bug PPD exposes.
    let o2 = tmp.path().join("out-global");
    make_ok(&o2, &["PER_PACKAGE=n", "libjson"]);
    make_ok(&o2, &["PER_PACKAGE=n", "broken-undeclared"]);
}

fn mtime_ns(p: &Path) -> i128 {
    let md = std::fs::metadata(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128
}

/// The staging directory inside a host tree.
const STAGING: &str = "x86_64-example-linux-gnu/sysroot";

/// `ppd explain --json` on paths of the example's output directory: the
/// document, after checking its schema and command.
fn explain(o: &Path, paths: &[&str]) -> serde_json::Value {
    let out = common::ok(
        common::ppd()
            .args(["explain", "--json", "--per-package-dir"])
            .arg(o.join("per-package"))
            .args(paths.iter().map(|p| o.join(p))),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["schema"], &v["command"]),
        (&1.into(), &"explain".into())
    );
    v
}

/// The names of a list of package names in a document.
fn names(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect()
}

#[test]
fn rebuild_and_reconfigure_runs_converge() {
    let Some((_tmp, o, first)) = built_j4() else {
        return;
    };

    // ppd explain on the build: a toolchain header is the toolchain's
    // inode, shared by every target package's tree.
    let header = format!("per-package/app-hello/host/{STAGING}/usr/include/example/version.h");
    let v = explain(&o, &[&header]);
    let p = &v["paths"][0];
    assert_eq!(
        (&p["package"], &p["place"]),
        (&"app-hello".into(), &"per-package".into())
    );
    assert_eq!(p["copy"]["installer"], "toolchain");
    assert_eq!(p["copy"]["state"], "current");
    let shared = names(&p["shared_by"]);
    assert!(
        shared.contains(&"toolchain") && shared.contains(&"libvec"),
        "{shared:?}"
    );
    assert_eq!(p["entry"]["nlink"], shared.len());
    assert_eq!(
        p["entry"]["ino"],
        std::fs::metadata(o.join(format!(
            "per-package/toolchain/host/{STAGING}/usr/include/example/version.h"
        )))
        .unwrap()
        .ino()
    );
    assert_eq!(v["conflicts"], serde_json::json!([]));

    // libhttp's libvec.la came through libjson, whose copy the path fixup
    // had rewritten, and was rewritten again to name libhttp's directory:
    // its own inode, still libvec's file, not a conflict although every
    // package's copy differs.
    let la = format!("per-package/libhttp/host/{STAGING}/usr/lib/libvec.la");
    let text = std::fs::read_to_string(o.join(&la)).unwrap();
    assert!(
        text.contains(&format!("{}/per-package/libhttp/host/", o.display())),
        "{text}"
    );
    assert!(!text.contains("/per-package/libjson/") && !text.contains("/per-package/libvec/"));
    let v = explain(&o, &[&la]);
    let c = &v["paths"][0]["copy"];
    assert_eq!(
        (
            &c["installer"],
            &c["placed_by"],
            &c["rewritten"],
            &c["state"]
        ),
        (
            &"libvec".into(),
            &"libjson".into(),
            &true.into(),
            &"current".into()
        )
    );
    assert_eq!(v["paths"][0]["shared_by"], serde_json::json!(["libhttp"]));
    assert_eq!(v["paths"][0]["entry"]["nlink"], 1);
    assert_eq!(v["conflicts"], serde_json::json!([]));

    let stamp = o.join("build/libjson/.stamp_installed");
    let stamp_before = mtime_ns(&stamp);

    // A second make rebuilds nothing (the stamps say so) and reassembles
    // the same final trees.
    let out = make_ok(&o, &["-j4"]);
    assert!(
        !stdout_has(&out, ">>> libjson Building"),
        "{}",
        tail(&out.stdout)
    );
    assert_eq!(mtime_ns(&stamp), stamp_before);
    assert_same("second make", &first, &final_state(&o));

    // make -n still runs the ppd lines (they are marked '+' for the
    // jobserver), but with --dry-run: the plan is printed and the
    // per-package directory keeps every inode, mode and mtime.
    std::fs::remove_file(o.join("build/app-hello/.stamp_configured")).unwrap();
    let ppd_dir = o.join("per-package/app-hello");
    let before = snapshot(&ppd_dir);
    let out = make_ok(&o, &["-n", "app-hello"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("ppd prepare") && l.contains("--dry-run")),
        "{text}"
    );
    assert_eq!(before, snapshot(&ppd_dir));
    make_ok(&o, &["app-hello"]);

    // Reconfigure a library others depend on, rebuild a program, and
    // remove a package's build and per-package directories: each, followed
    // by make, converges on the same final trees.
    for (step, rebuilt) in [
        ("libfmt-reconfigure", ">>> libfmt Configuring"),
        ("app-fetch-rebuild", ">>> app-fetch Building"),
        ("libvec-reinstall", ">>> libvec Installing to target"),
    ] {
        let out = make_ok(&o, &["-j4", step]);
        assert!(stdout_has(&out, rebuilt), "{step}: {}", tail(&out.stdout));
        if step == "libvec-reinstall" {
            // libvec installed a new libvec.so.1.0; libjson still holds the
            // inode its prepare placed: outdated, and only libjson's copy
            // (its dependents copied from libjson, which still has it).
            let v = explain(&o, &["per-package/libjson/target/usr/lib/libvec.so.1.0"]);
            let p = &v["paths"][0];
            assert_eq!(
                (
                    &p["copy"]["installer"],
                    &p["copy"]["placed_by"],
                    &p["copy"]["state"]
                ),
                (&"libvec".into(), &"libvec".into(), &"outdated".into())
            );
            assert_eq!(names(&p["outdated"]), ["libjson"]);
            assert_eq!(v["stats"]["outdated"], 1);
            assert!(!names(&p["shared_by"]).contains(&"libvec"), "{p}");
        }
        make_ok(&o, &["-j4"]);
        assert_same(step, &first, &final_state(&o));
    }
    make_ok(&o, &["app-hello-dirclean"]);
    assert!(!o.join("per-package/app-hello").exists());
    let out = make_ok(&o, &["-j4"]);
    assert!(stdout_has(&out, ">>> app-hello Configuring"));
    assert_same("app-hello-dirclean", &first, &final_state(&o));

    // Two packages install one path differently (written into their
    // trees as an install step would): make's finalize reports it, and
    // explain on the final tree names both installers and the winner, the
    // last package by name.
    for (pkg, text) in [("libbase", "from libbase\n"), ("libvec", "from libvec\n")] {
        let etc = o.join(format!("per-package/{pkg}/target/etc"));
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("example.conf"), text).unwrap();
    }
    let out = make_ok(&o, &["-j4"]);
    let conf = o.join("target/etc/example.conf");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "ppd: conflict: {} is provided differently by libbase (file), libvec (file); \
             libvec wins",
            conf.display()
        )),
        "{}",
        tail(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "from libvec\n");
    let v = explain(&o, &["target/etc/example.conf"]);
    let p = &v["paths"][0];
    assert_eq!(
        (&p["place"], &p["winner"]),
        (&"final".into(), &"libvec".into())
    );
    assert_eq!(p["differs_from_winner"], false);
    let c = &v["conflicts"][0];
    assert_eq!(
        (&c["path"], &c["winner"]),
        (&"etc/example.conf".into(), &"libvec".into())
    );
    assert_eq!(
        c["installers"],
        serde_json::json!([{"package": "libbase", "kind": "file"}, {"package": "libvec", "kind": "file"}])
    );
    assert_eq!(v["stats"]["conflicts"], 1);
}

/// Every entry under `o` (paths, types, inodes, sizes, modes, nanosecond
/// mtimes, link targets), or nothing if `o` does not exist.
fn output_state(o: &Path) -> BTreeMap<Vec<u8>, common::Snap> {
    if o.exists() {
        snapshot(o)
    } else {
        BTreeMap::new()
    }
}

/// The ppd trees of an output directory: what make -t must leave alone
/// (make itself touches stamps and targets).
fn ppd_trees(o: &Path) -> Vec<BTreeMap<Vec<u8>, common::Snap>> {
    ["per-package", "host", "target"]
        .iter()
        .map(|t| output_state(&o.join(t)))
        .collect()
}

/// Runs make with `flags` and asserts it exits `code` and changes nothing
/// under `o` (with -t: nothing in the ppd trees).
fn make_changes_nothing(o: &Path, flags: &[&str], code: i32) -> Output {
    let before = output_state(o);
    let trees = ppd_trees(o);
    let mut cmd = make(o, flags);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(code), "{}", show(&cmd, &out));
    if flags.contains(&"-t") {
        assert!(trees == ppd_trees(o), "make {flags:?} changed a ppd tree");
    } else {
        let after = output_state(o);
        let changed: Vec<String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert!(changed.is_empty(), "make {flags:?} changed {changed:?}");
    }
    out
}

/// The operations ppd's dry runs printed in make's output.
fn dry_ops(out: &Output) -> Vec<String> {
    const VERBS: [&str; 8] = [
        "mkdir", "link", "copy", "symlink", "meta", "remove", "rewrite", "write",
    ];
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split_once(' ')
                .is_some_and(|(v, rest)| VERBS.contains(&v) && rest.starts_with('/'))
        })
        .map(str::to_owned)
        .collect()
}

/// The `ppd <command>: ...` stats lines of make's output, without the
/// time and the dry-run mark.
fn stats_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("ppd ") && l.contains(": "))
        .filter(|l| !l.contains("would be"))
        .map(|l| {
            let l = l.trim_end_matches(" (dry run)");
            let l = l.rsplit_once(", ").map_or(l, |(a, _)| a);
            l.replace(" to rewrite", " rewritten")
        })
        .collect()
}

/// Every path a traced run changed: `<fd path>, "name"` pairs of the *at
/// calls (`strace -y`) and absolute path arguments.
fn changed_paths(trace: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for line in trace.lines() {
        let mut rest = line;
        while let Some(i) = rest.find('<') {
            let Some(j) = rest[i..].find('>') else { break };
            let dir = &rest[i + 1..i + j];
            out.insert(dir.to_owned());
            rest = &rest[i + j + 1..];
            if let Some(named) = rest.strip_prefix(", \"") {
                if let Some(k) = named.find('"') {
                    out.insert(format!("{dir}/{}", &named[..k]));
                }
            }
        }
        for part in line.split('"').skip(1).step_by(2) {
            if part.starts_with('/') {
                out.insert(part.to_owned());
            }
        }
    }
    out
}

#[test]
fn make_n_q_t_change_nothing_and_dry_runs_tell_the_truth() {
    if skip_without_make() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("out");

    // Fresh: every ppd line runs (they are marked '+'), finds no
    // dependency tree yet and says what it would do after it is built;
    // the timing launcher, which make -n does not build, is left out.
    let out = make_changes_nothing(&o, &["-n", "-j4"], 0);
    assert!(!o.exists());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "ppd prepare: {}/per-package/skeleton/host would be prepared after host-skeleton is built",
            o.display()
        )),
        "{text}"
    );
    assert!(text.contains("would be assembled after"), "{text}");
    make_changes_nothing(&o, &["-q"], 1);

    // Partial: some packages built, the rest not.
    make_ok(&o, &["-j4", "libjson"]);
    let out = make_changes_nothing(&o, &["-n", "-j4"], 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("link {}/per-package/app-fetch/host/", o.display()))
            || text.contains("would be prepared after"),
        "{text}"
    );
    make_changes_nothing(&o, &["-q"], 1);
    // make -t touches the stamps itself (it cannot where a build directory
    // does not exist yet, so a built package is asked for); the ppd lines
    // of the configure step it re-runs change nothing.
    std::fs::remove_file(o.join("build/libjson/.stamp_configured")).unwrap();
    let out = make_changes_nothing(&o, &["-t", "libjson"], 0);
    assert!(
        stdout_has(&out, "touch ") && o.join("build/libjson/.stamp_configured").exists(),
        "{}",
        tail(&out.stdout)
    );

    // Finished: make -n prints only operations the next real make
    // performs, with the counts it reports.
    std::fs::remove_dir_all(&o).unwrap();
    make_ok(&o, &["-j4"]);
    let dry = make_changes_nothing(&o, &["-n", "PPD_OPTS=-v"], 0);
    make_changes_nothing(&o, &["-q"], 1);
    let ops = dry_ops(&dry);
    assert!(ops.iter().all(|l| !l.starts_with("mkdir")), "{ops:#?}");
    if common::skip_without(&["strace"]) {
        return;
    }
    let trace = tmp.path().join("trace");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-y", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=rename,renameat,renameat2,link,linkat,mkdir,mkdirat,symlink,symlinkat,\
             unlink,unlinkat,utimensat,fchmodat,fchownat,openat",
        ])
        .arg("make");
    let real = make(&o, &["PPD_OPTS=-v"]);
    cmd.args(real.get_args()).env_clear();
    for (k, v) in real.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let real = run(&mut cmd);
    assert!(real.status.success(), "{}", show(&cmd, &real));
    // The counters each dry run predicted are the real run's, except
    // host-finalize's path fixup: its dry run sees the final host tree
    // before the finalize line ahead of it re-copies the rewritten files
    // (make -n runs every line, each a dry run), so it predicts fewer.
    let comparable = |out: &Output| -> Vec<String> {
        stats_lines(out)
            .into_iter()
            .filter(|l| !l.starts_with("ppd fixup-paths:"))
            .collect()
    };
    assert_eq!(comparable(&dry), comparable(&real));
    // One printed copy per file the real finalize runs copied (the path
    // fixup's rewrites of the final host tree make them differ each run).
    let copied: usize = stats_lines(&real)
        .iter()
        .filter(|l| l.starts_with("ppd finalize:"))
        .filter_map(|l| l.split(", ").find_map(|w| w.strip_suffix(" copied")))
        .map(|n| n.parse::<usize>().unwrap())
        .sum();
    assert!(copied > 0, "{:?}", stats_lines(&real));
    assert_eq!(
        ops.iter().filter(|l| l.starts_with("copy ")).count(),
        copied,
        "{ops:#?}"
    );
    let changed = changed_paths(&std::fs::read_to_string(&trace).unwrap());
    for op in &ops {
        let path = op.split(' ').nth(1).unwrap();
        assert!(
            changed.contains(path),
            "make -n printed '{op}', which the real make did not do"
        );
    }
}

/// `(state, installer, placed_by)` of a per-package copy, from `ppd
/// explain --json`.
fn copy_facts(o: &Path, path: &str) -> (String, String, String) {
    let v = explain(o, &[path]);
    let c = &v["paths"][0]["copy"];
    let s = |k: &str| c[k].as_str().unwrap_or("-").to_owned();
    (s("state"), s("installer"), s("placed_by"))
}

/// `ppd outdated`'s stdout on the example's per-package directory.
fn outdated_text(o: &Path) -> String {
    let out = common::ok(
        common::ppd()
            .arg("outdated")
            .arg("--per-package-dir")
            .arg(o.join("per-package")),
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ppd unshare --dry-run` for libfmt: the files it would give a private
/// inode (those it installed that its dependents share).
fn unshare_plan(o: &Path) -> String {
    let out = common::ok(
        common::ppd()
            .args([
                "unshare",
                "--dry-run",
                "--pkg",
                "libfmt",
                "--per-package-dir",
            ])
            .arg(o.join("per-package"))
            .arg("--staging-subdir")
            .arg(STAGING)
            .arg("--list-dir")
            .arg(o.join("build/libfmt")),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The example's output directory copied away and moved back (`cp -a O
/// O.bak && rm -rf O && mv O.bak O`: every inode number and ctime new,
/// the old numbers free for the next files): explain, outdated and
/// unshare answer as before, a reconfigure and a make report no conflict,
/// and the refresh ends with the first build's final trees.
#[test]
fn a_restored_output_directory_keeps_its_provenance() {
    let Some((_tmp, o, first)) = built_j4() else {
        return;
    };
    // libvec reinstalled: libjson's copies of its files are outdated, and
    // so are the packages built on libjson.
    make_ok(&o, &["-j4", "libvec-reinstall"]);
    let header = format!("per-package/app-hello/host/{STAGING}/usr/include/example/version.h");
    let la = format!("per-package/libhttp/host/{STAGING}/usr/lib/libvec.la");
    let so = "per-package/libjson/target/usr/lib/libvec.so.1.0";
    let facts = |o: &Path| -> Vec<(String, String, String)> {
        [header.as_str(), &la, so]
            .iter()
            .map(|p| copy_facts(o, p))
            .collect()
    };
    let before = facts(&o);
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        before,
        [
            s("current", "toolchain", "toolchain"),
            s("current", "libvec", "libjson"),
            s("outdated", "libvec", "libvec"),
        ]
    );
    let stale = outdated_text(&o);
    assert!(stale.contains("libjson-reconfigure"), "{stale}");
    let unshare = unshare_plan(&o);
    assert!(unshare.starts_with("copy "), "{unshare}");

    let d = o.display();
    let st = Command::new("sh")
        .arg("-ec")
        .arg(format!("cp -a {d} {d}.bak && rm -rf {d} && mv {d}.bak {d}"))
        .status()
        .unwrap();
    assert!(st.success());

    assert_eq!(facts(&o), before, "explain after the restore");
    assert_eq!(outdated_text(&o), stale, "outdated after the restore");
    assert_eq!(unshare_plan(&o), unshare, "unshare after the restore");
    // The refresh outdated proposes, then a make: no conflict, nothing
    // left outdated, the first build's final trees.
    let refresh: Vec<&str> = stale
        .lines()
        .find_map(|l| l.strip_prefix("make "))
        .unwrap()
        .split(' ')
        .collect();
    let out = make_ok(&o, &refresh);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("conflict"), "{err}");
    assert_eq!(outdated_text(&o), "");
    let out = make_ok(&o, &["-j4"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("conflict"), "{err}");
    assert_same("restored and refreshed", &first, &final_state(&o));
    assert_eq!(
        copy_facts(&o, so),
        s("current", "libvec", "libvec"),
        "after the refresh"
    );
}
