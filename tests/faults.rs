//! Killed at every step: each writing command is run under strace with
//! SIGKILL injected at its Nth rename, link, symlink, mkdir or unlink, for
//! N = 1, 2, ... until a run completes, and at each open that creates a
//! file; after each kill the command is run
//! again and the result must equal a clean run's: content, modes, mtimes,
//! link groups, symlink texts, and no temporary or other stray file left in
//! or beside the trees. The trees are small so the whole suite takes
//! seconds.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The system calls a kill is injected at: every way ppd creates, links,
/// renames or removes a name.
const STEPS: &str =
    "rename,renameat,renameat2,link,linkat,symlink,symlinkat,mkdir,mkdirat,unlink,unlinkat";

/// The opens: only those that create a file are kill points.
const OPENS: &str = "open,openat,creat";

/// A package's own file named like a temporary: an entry in every run
/// (rsync copies it), never swept, whatever run was killed.
const PACKAGE_TMP_NAME: &str = ".ppd-tmp.77.1";

/// Every entry a setup makes gets this mtime, so runs compare equal.
const T0: i64 = 1_700_000_000;

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    set_mtime(p, T0, 0);
}

fn symlink(target: &str, p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
    set_mtime(p, T0, 0);
}

/// Gives every directory below `root` the mtime `T0`.
fn settle_dirs(root: &Path) {
    for (rel, s) in snapshot(root) {
        if s.kind == "d" {
            set_mtime(&at(root, &rel), T0, 0);
        }
    }
}

/// One entry as compared: type, mode, owner, mtime, size, symlink text,
/// content, and the link group (the first compared path with its inode).
type Entry = (
    &'static str,
    u32,
    (u32, u32),
    (i64, i64),
    u64,
    Option<Vec<u8>>,
    Vec<u8>,
    String,
);

/// Everything compared of `dirs` (relative to `root`): each tree's entries,
/// and the names beside each tree (manifests, locks: nothing else).
fn state(root: &Path, dirs: &[&str], dir_mtimes: bool) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut groups: BTreeMap<(u64, u64), String> = BTreeMap::new();
    for d in dirs {
        let tree = root.join(d);
        for (rel, s) in snapshot(&tree) {
            let path = format!("{d}/{}", String::from_utf8_lossy(&rel));
            let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
            assert!(
                !name.starts_with(b".ppd-tmp.") || name == PACKAGE_TMP_NAME.as_bytes(),
                "a temporary is left: {path}"
            );
            let group = if s.kind == "d" {
                String::new()
            } else {
                groups.entry((s.dev, s.ino)).or_insert(path.clone()).clone()
            };
            let data = if s.kind == "f" {
                std::fs::read(at(&tree, &rel)).unwrap()
            } else {
                Vec::new()
            };
            // Lists file-list writes get the time of writing.
            let mtime = if rel.is_empty() || *d == "build" || (s.kind == "d" && !dir_mtimes) {
                (0, 0)
            } else {
                s.mtime
            };
            out.insert(
                path,
                (
                    s.kind,
                    s.mode,
                    (s.uid, s.gid),
                    mtime,
                    s.size,
                    s.target,
                    data,
                    group,
                ),
            );
        }
        // Beside the tree: nothing but ppd's manifest, its record of reported
        // conflicts, and an empty lock.
        let parent = tree.parent().unwrap();
        let me = tree.file_name().unwrap().to_string_lossy().into_owned();
        for e in std::fs::read_dir(parent).unwrap() {
            let e = e.unwrap();
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = n.strip_prefix(&format!(".{me}.")) {
                assert!(
                    ["ppd-manifest", "ppd-lock", "ppd-reported"].contains(&rest),
                    "a stray file beside {d}: {n}"
                );
                if rest == "ppd-lock" {
                    assert_eq!(e.metadata().unwrap().len(), 0, "{d}'s lock is still marked");
                }
            }
        }
    }
    out
}

/// The entries that differ, with both sides.
fn diff(a: &BTreeMap<String, Entry>, b: &BTreeMap<String, Entry>) -> String {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "\n  {k}:\n    clean: {:?}\n    got:   {:?}",
                a.get(k),
                b.get(k)
            )
        })
        .collect()
}

/// A scenario: the starting state, the command, the trees it writes.
struct Case {
    name: &'static str,
    setup: fn(&Path),
    args: fn(&Path) -> Vec<OsString>,
    compare: &'static [&'static str],
    /// Compare directories' mtimes: not where a rewrite by rename sets
    /// them to the time of the run (the path fixup, the RPATH fix).
    dir_mtimes: bool,
}

fn run_plain(root: &Path, case: &Case) {
    ok(ppd().args((case.args)(root)));
}

/// Removes a case's tree when the test ends, passed or failed.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("strace"));
    }
}

fn fresh_root_path(case: &Case) -> PathBuf {
    std::env::temp_dir().join(format!("ppd-faults-{}-{}", case.name, std::process::id()))
}

/// A fresh copy of the case's starting state, always at the same path (so
/// that texts naming it compare equal).
fn fresh_root(case: &Case) -> PathBuf {
    let root = fresh_root_path(case);
    if root.exists() {
        std::fs::remove_dir_all(&root).unwrap();
    }
    (case.setup)(&root);
    settle_dirs(&root);
    root
}

/// Kills the command at every step in turn; returns how many runs were killed.
fn kill_at_every_step(case: &Case) -> u32 {
    let _cleanup = Cleanup(fresh_root_path(case));
    let reference = {
        let root = fresh_root(case);
        run_plain(&root, case);
        // A second run changes nothing.
        let once = state(&root, case.compare, case.dir_mtimes);
        run_plain(&root, case);
        let again = state(&root, case.compare, case.dir_mtimes);
        assert!(
            once == again,
            "{}: a re-run changed {}",
            case.name,
            diff(&once, &again)
        );
        once
    };
    // strace counts each system call of each thread on its own, and
    // `when=N` on a set of calls kills at the first thread's Nth call of
    // any of them: one call would hide another with the same N. So each
    // call is injected on its own, at every N a traced run shows: every
    // link, rename, mkdir and unlink, and of the opens those that create
    // (the others are reads, most of them the loader's).
    let mut killed = 0;
    for (call, n) in kill_points(case) {
        killed += u32::from(kill_at(case, &reference, call, n));
    }
    eprintln!("{}: killed at {killed} steps", case.name);
    killed
}

/// Runs the case killed at the `n`th call of `calls`, runs it again and
/// compares; returns whether the kill happened.
fn kill_at(case: &Case, reference: &BTreeMap<String, Entry>, calls: &str, n: usize) -> bool {
    let root = fresh_root(case);
    let out = run(Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject={calls}:signal=KILL:when={n}"))
        .arg(env!("CARGO_BIN_EXE_ppd"))
        .args((case.args)(&root))
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL"));
    let killed = out.status.signal() == Some(9) || out.status.code() == Some(137);
    if !killed {
        assert!(
            out.status.success(),
            "{} at {calls} {n}: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    run_plain(&root, case);
    let got = state(&root, case.compare, case.dir_mtimes);
    assert!(
        got == *reference,
        "{}: killed at {calls} call {n}, then run again: {}",
        case.name,
        diff(reference, &got)
    );
    killed
}

/// Every (call, N) to kill at, from a traced run: for each call of
/// `STEPS`, N = 1 up to the most calls one thread made; for the opens, the
/// N at which some thread's open creates a file.
fn kill_points(case: &Case) -> Vec<(&'static str, usize)> {
    let root = fresh_root(case);
    let log = root.with_extension("strace");
    ok(Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(format!("-etrace={STEPS},{OPENS}"))
        .arg(env!("CARGO_BIN_EXE_ppd"))
        .args((case.args)(&root)));
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    let calls: Vec<&'static str> = STEPS.split(',').chain(OPENS.split(',')).collect();
    let mut per_thread: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut most: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut creating = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Some((pid, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let Some(name) = calls.iter().find(|c| call.starts_with(&format!("{c}("))) else {
            continue;
        };
        let n = per_thread.entry((pid, name)).or_default();
        *n += 1;
        let m = most.entry(name).or_default();
        *m = (*m).max(*n);
        if OPENS.split(',').any(|o| o == *name) && (call.contains("O_CREAT") || *name == "creat") {
            creating.insert((*name, *n));
        }
    }
    let mut points: Vec<(&'static str, usize)> = most
        .into_iter()
        .filter(|(c, _)| !OPENS.split(',').any(|o| o == *c))
        .flat_map(|(c, m)| (1..=m).map(move |n| (c, n)))
        .collect();
    points.extend(creating);
    assert!(!points.is_empty(), "{}: nothing to kill at", case.name);
    points
}

fn have_strace() -> bool {
    !skip_without(&["strace"])
}

fn pp(root: &Path) -> PathBuf {
    root.join("per-package")
}

/// Two dependencies (one with a hard-link group, symlinks, a text file
/// naming its per-package directory), prepared once; then both change:
/// a file gets a new inode, one is removed, a directory becomes a
/// symlink, a file is added. The killed run replaces, removes, adds and
/// rewrites.
fn prepare_setup(root: &Path) {
    let pp = pp(root);
    let a = pp.join("a/host");
    write(&a.join("bin/tool"), "tool v1\n");
    write(&a.join("lib/liba.so.1"), "liba\n");
    std::fs::hard_link(a.join("lib/liba.so.1"), a.join("lib/liba-copy.so.1")).unwrap();
    symlink("liba.so.1", &a.join("lib/liba.so"));
    write(&a.join("lib64/old.so"), "old\n");
    write(&a.join("share/gone.txt"), "gone\n");
    write(
        &a.join("lib/pkgconfig/a.pc"),
        &format!("prefix={}/a/host/usr\n", pp.display()),
    );
    write(&pp.join("a/target/usr/lib/liba.so.1"), "liba\n");
    write(&a.join("bin").join(PACKAGE_TMP_NAME), "a's own\n");
    write(&pp.join("b/host/bin/b-config"), "b v1\n");
    write(&pp.join("b/target/etc/b.conf"), "b\n");
    ok(ppd()
        .arg("-j1")
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--pkg", "app", "--fixup-paths", "a", "b"]));
    // The dependencies' rebuilds.
    std::fs::remove_file(a.join("bin/tool")).unwrap();
    write(&a.join("bin/tool"), "tool v2, longer\n");
    std::fs::remove_file(a.join("share/gone.txt")).unwrap();
    std::fs::remove_dir_all(a.join("lib64")).unwrap();
    symlink("lib", &a.join("lib64"));
    write(&a.join("bin/new-tool"), "new\n");
    // b's config script: written through the shared inode, then given a
    // new inode.
    let cfg = pp.join("b/host/bin/b-config");
    std::fs::write(&cfg, "b v2 written in place\n").unwrap();
    std::fs::rename(&cfg, cfg.with_extension("x")).unwrap();
    std::fs::copy(cfg.with_extension("x"), &cfg).unwrap();
    std::fs::remove_file(cfg.with_extension("x")).unwrap();
    set_mtime(&cfg, T0, 0);
}

fn prepare_args(root: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = ["-j1", "prepare", "--per-package-dir"]
        .iter()
        .map(OsString::from)
        .collect();
    v.push(pp(root).into());
    for a in ["--pkg", "app", "--fixup-paths", "a", "b"] {
        v.push(a.into());
    }
    v
}

#[test]
fn prepare_killed_at_every_step_converges() {
    if !have_strace() {
        return;
    }
    let case = Case {
        name: "prepare",
        dir_mtimes: false,
        setup: prepare_setup,
        args: prepare_args,
        compare: &[
            "per-package/a/host",
            "per-package/b/host",
            "per-package/app/host",
            "per-package/app/target",
        ],
    };
    let killed = kill_at_every_step(&case);
    assert!(killed > 12, "only {killed} steps");
}

/// Packages with a hard-link group and symlinks, merged into a final tree
/// that already holds an older merge (one file changed, one removed from
/// its package): the killed run copies, replaces and links.
fn finalize_setup(root: &Path) {
    let pp = pp(root);
    for (pkg, n) in [("a", 1), ("b", 2)] {
        let t = pp.join(pkg).join("target");
        write(&t.join(format!("usr/lib/lib{pkg}.so.{n}")), pkg);
        symlink(
            &format!("lib{pkg}.so.{n}"),
            &t.join(format!("usr/lib/lib{pkg}.so")),
        );
        write(&t.join(format!("etc/{pkg}.conf")), pkg);
    }
    let a = pp.join("a/target");
    std::fs::hard_link(
        a.join("usr/lib/liba.so.1"),
        a.join("usr/lib/liba-alias.so.1"),
    )
    .unwrap();
    write(&pp.join("b/target/etc/a.conf"), "b's a.conf\n");
    write(&pp.join("b/target/etc").join(PACKAGE_TMP_NAME), "b's own\n");
    ok(ppd().args(finalize_args(root)));
    write(&pp.join("a/target/etc/new.conf"), "new\n");
    std::fs::remove_file(a.join("usr/lib/liba.so.1")).unwrap();
    write(&a.join("usr/lib/liba.so.1"), "liba v2\n");
    std::fs::remove_file(a.join("usr/lib/liba-alias.so.1")).unwrap();
    std::fs::hard_link(
        a.join("usr/lib/liba.so.1"),
        a.join("usr/lib/liba-alias.so.1"),
    )
    .unwrap();
}

fn finalize_args(root: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["-j1".into(), "finalize".into(), "--per-package-dir".into()];
    v.push(pp(root).into());
    v.extend(["--tree".into(), "target".into(), "--dest".into()]);
    v.push(root.join("out/target").into());
    v.extend(["a".into(), "b".into()]);
    v
}

#[test]
fn finalize_killed_at_every_step_converges() {
    if !have_strace() {
        return;
    }
    let case = Case {
        name: "finalize",
        dir_mtimes: true,
        setup: finalize_setup,
        args: finalize_args,
        compare: &["out/target"],
    };
    assert!(kill_at_every_step(&case) > 4);
}

fn copy_tree_setup(root: &Path) {
    let src = root.join("src");
    write(&src.join("a/one"), "one\n");
    write(&src.join("a/two"), "two\n");
    std::fs::hard_link(src.join("a/two"), src.join("b-two")).unwrap();
    symlink("a/one", &src.join("one-link"));
    write(&src.join("a").join(PACKAGE_TMP_NAME), "own\n");
    // An older copy to update.
    write(&root.join("dst/a/one"), "stale\n");
    filetime_old(&root.join("dst/a/one"));
    symlink("elsewhere", &root.join("dst/one-link"));
}

fn filetime_old(p: &Path) {
    set_mtime(p, 1_000_000_000, 0);
}

fn copy_tree_args(root: &Path) -> Vec<OsString> {
    vec![
        "-j1".into(),
        "copy-tree".into(),
        root.join("src").into(),
        root.join("dst").into(),
    ]
}

#[test]
fn copy_tree_killed_at_every_step_converges() {
    if !have_strace() {
        return;
    }
    let case = Case {
        name: "copy-tree",
        dir_mtimes: true,
        setup: copy_tree_setup,
        args: copy_tree_args,
        compare: &["dst"],
    };
    assert!(kill_at_every_step(&case) > 3);
}

/// A package's host tree with text files naming other packages'
/// directories (one a hard-link group) and an absolute symlink.
fn fixup_setup(root: &Path) {
    let pp = pp(root);
    let h = pp.join("app/host");
    let other = pp.join("zlib/host");
    write(
        &h.join("lib/libz.la"),
        &format!("libdir='{}/lib'\n", other.display()),
    );
    std::fs::hard_link(h.join("lib/libz.la"), h.join("lib/libz-alias.la")).unwrap();
    write(
        &h.join("lib/pkgconfig/z.pc"),
        &format!("prefix={}\n", other.display()),
    );
    write(&h.join("bin/plain"), "nothing to do\n");
    symlink(
        &format!("{}/lib/libz.so", other.display()),
        &h.join("lib/libz.so"),
    );
    std::fs::create_dir_all(pp.join("app/target")).unwrap();
}

fn fixup_args(root: &Path) -> Vec<OsString> {
    let pp = pp(root);
    vec![
        "-j1".into(),
        "fixup-paths".into(),
        "--symlinks".into(),
        "--per-package-dir".into(),
        pp.clone().into(),
        "--new-root".into(),
        pp.join("app").into(),
        pp.join("app/host").into(),
    ]
}

#[test]
fn fixup_paths_killed_at_every_step_converges() {
    if !have_strace() {
        return;
    }
    let case = Case {
        name: "fixup-paths",
        dir_mtimes: false,
        setup: fixup_setup,
        args: fixup_args,
        compare: &["per-package/app/host"],
    };
    assert!(kill_at_every_step(&case) > 3);
}

/// A host tree holding a binary whose RPATH names a per-package directory.
fn rpath_setup(root: &Path) {
    let bin = std::env::temp_dir().join(format!("ppd-faults-rpath-{}", std::process::id()));
    if !bin.exists() {
        let src = bin.with_extension("c");
        std::fs::write(&src, "int main(void){return 0;}\n").unwrap();
        let st = Command::new("gcc")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .arg("-Wl,-rpath,/nowhere/per-package/x/host/lib:/nowhere/lib")
            .status()
            .unwrap();
        assert!(st.success());
    }
    let host = root.join("host");
    std::fs::create_dir_all(host.join("bin")).unwrap();
    std::fs::create_dir_all(host.join("lib")).unwrap();
    std::fs::copy(&bin, host.join("bin/prog")).unwrap();
    set_mtime(&host.join("bin/prog"), T0, 0);
    std::fs::hard_link(host.join("bin/prog"), host.join("bin/prog-alias")).unwrap();
}

fn rpath_args(root: &Path) -> Vec<OsString> {
    vec![
        "-j1".into(),
        "fix-rpath".into(),
        "host".into(),
        "--host-dir".into(),
        root.join("host").into(),
    ]
}

#[test]
fn fix_rpath_killed_at_every_step_converges() {
    if !have_strace() {
        return;
    }
    if skip_without(&["gcc"]) {
        return;
    }
    // The binary rpath_setup builds once per process.
    let bin = std::env::temp_dir().join(format!("ppd-faults-rpath-{}", std::process::id()));
    let _bin = (Cleanup(bin.clone()), Cleanup(bin.with_extension("c")));
    let case = Case {
        name: "fix-rpath",
        dir_mtimes: false,
        setup: rpath_setup,
        args: rpath_args,
        compare: &["host"],
    };
    assert!(kill_at_every_step(&case) > 2);
}

/// A prepared package that installed files: file-list writes its lists
/// beside the build directory; a kill must leave the trees alone and the
/// lists whole after the re-run.
fn file_list_setup(root: &Path) {
    prepare_setup(root);
    ok(ppd().args(prepare_args(root)));
    write(&pp(root).join("app/target/usr/bin/app"), "app\n");
    write(&pp(root).join("app/host/share/app.txt"), "app\n");
    std::fs::create_dir_all(root.join("build")).unwrap();
}

fn file_list_args(root: &Path) -> Vec<OsString> {
    vec![
        "-j1".into(),
        "file-list".into(),
        "--per-package-dir".into(),
        pp(root).into(),
        "--pkg".into(),
        "app".into(),
        "--out-dir".into(),
        root.join("build").into(),
    ]
}

#[test]
fn file_list_killed_at_every_step_converges() {
    if !have_strace() {
        return;
    }
    let case = Case {
        name: "file-list",
        dir_mtimes: false,
        setup: file_list_setup,
        args: file_list_args,
        compare: &["build", "per-package/app/host", "per-package/app/target"],
    };
    assert!(kill_at_every_step(&case) > 3);
}

/// A temporary that a killed run left is no entry: a dependent's prepare
/// does not take it, file-list does not list it, finalize does not copy
/// it; and the next run holding the tree's lock removes it.
#[test]
fn a_left_temporary_is_never_an_entry_and_the_next_run_removes_it() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    write(&pp.join("zlib/host/lib/libz.a"), "z");
    write(&pp.join("zlib/target/lib/libz.so"), "z");
    ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--pkg", "libfoo", "zlib"]));
    // Installed by libfoo before any run died: named like a temporary,
    // but older than the mark, so an entry (rsync copies it).
    let old = pp.join("libfoo/target/lib/.ppd-tmp.4242.6");
    write(&old, "installed");
    // A name of the pattern in a tree whose lock is not marked is an entry.
    write(&pp.join("libfoo/host/.ppd-tmp.4242.8"), "installed");
    std::thread::sleep(std::time::Duration::from_millis(20));
    // As a run of libfoo killed between creating and renaming would leave
    // them: its lock marked, then the temporary created.
    std::fs::write(pp.join("libfoo/.target.ppd-lock"), "marked\n").unwrap();
    let tmp = pp.join("libfoo/target/lib/.ppd-tmp.4242.7");
    write(&tmp, "half");
    std::fs::write(
        pp.join("libfoo/.target.ppd-manifest.new"),
        "ppd-manifest 2\n",
    )
    .unwrap();
    // A name that merely looks similar is an entry.
    write(&pp.join("libfoo/target/lib/.ppd-tmp.x"), "mine");
    let out = ok(ppd()
        .arg("file-list")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--pkg", "libfoo"]));
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(!list.contains(".ppd-tmp.4242.7"), "{list}");
    assert!(list.contains("./lib/.ppd-tmp.4242.6"), "{list}");
    assert!(list.contains("./lib/.ppd-tmp.x"), "{list}");
    ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--pkg", "app", "libfoo"]));
    assert!(!pp.join("app/target/lib/.ppd-tmp.4242.7").exists());
    assert!(pp.join("app/target/lib/.ppd-tmp.x").exists());
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    assert_eq!(ino(&pp.join("app/target/lib/.ppd-tmp.4242.6")), ino(&old));
    assert_eq!(
        ino(&pp.join("app/host/.ppd-tmp.4242.8")),
        ino(&pp.join("libfoo/host/.ppd-tmp.4242.8"))
    );
    let out_dir = t.path().join("out/target");
    ok(ppd()
        .arg("finalize")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--tree", "target", "--dest"])
        .arg(&out_dir)
        .arg("libfoo"));
    assert!(!out_dir.join("lib/.ppd-tmp.4242.7").exists());
    assert_eq!(
        std::fs::read_to_string(out_dir.join("lib/.ppd-tmp.4242.6")).unwrap(),
        "installed"
    );
    assert!(tmp.exists(), "only a run holding the lock removes it");
    // libfoo's next prepare holds the lock: the target tree is swept.
    ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--pkg", "libfoo", "zlib"]));
    assert!(!tmp.exists());
    assert!(!pp.join("libfoo/.target.ppd-manifest.new").exists());
    assert_eq!(
        std::fs::metadata(pp.join("libfoo/.target.ppd-lock"))
            .unwrap()
            .len(),
        0
    );
    // Older than the mark: the package's own file.
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "installed");
    // The host tree's lock was not marked: nothing there was touched.
    assert!(pp.join("libfoo/host/.ppd-tmp.4242.8").exists());
    assert_eq!(
        std::fs::read_to_string(pp.join("libfoo/target/lib/.ppd-tmp.x")).unwrap(),
        "mine"
    );
}

/// ppd never makes a directory under a temporary's name: one found there
/// (a package installed it) is left alone by the sweep of a marked tree,
/// which used to fail on it ("Is a directory") in every later run.
#[test]
fn a_directory_named_like_a_temporary_never_fails_the_sweep() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    write(&pp.join("zlib/host/lib/libz.a"), "z");
    std::fs::create_dir_all(pp.join("zlib/target")).unwrap();
    let prepare = || {
        ok(ppd()
            .arg("prepare")
            .arg("--per-package-dir")
            .arg(&pp)
            .args(["--pkg", "libfoo", "zlib"]))
    };
    prepare();
    let dir = pp.join("libfoo/host/lib/.ppd-tmp.1.2");
    write(&dir.join("inside"), "x");
    std::fs::write(pp.join("libfoo/.host.ppd-lock"), "marked\n").unwrap();
    let tmp = pp.join("libfoo/host/lib/.ppd-tmp.4242.7");
    write(&tmp, "half");
    prepare();
    assert!(!tmp.exists());
    assert!(dir.join("inside").is_file());
    assert_eq!(
        std::fs::metadata(pp.join("libfoo/.host.ppd-lock"))
            .unwrap()
            .len(),
        0
    );
}

/// An error while replacing an entry names the user's path, never the
/// temporary standing in for it, and leaves no temporary behind.
#[test]
fn errors_name_the_users_path_never_a_temporary() {
    if !have_strace() {
        return;
    }
    for (name, setup, args, path) in [
        (
            "err-prepare",
            prepare_setup as fn(&Path),
            prepare_args as fn(&Path) -> Vec<OsString>,
            "per-package/app/host/bin/b-config",
        ),
        (
            "err-fixup-paths",
            fixup_setup,
            fixup_args,
            "per-package/app/host/lib/",
        ),
        ("err-copy-tree", copy_tree_setup, copy_tree_args, "dst/"),
    ] {
        let case = Case {
            name,
            setup,
            args,
            compare: &[],
            dir_mtimes: false,
        };
        let root = fresh_root(&case);
        let _cleanup = Cleanup(root.clone());
        let out = run(Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e"])
            .arg("inject=rename,renameat,renameat2:error=ENOSPC")
            .arg(env!("CARGO_BIN_EXE_ppd"))
            .args(args(&root)));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: {err}");
        assert!(!err.contains(".ppd-tmp."), "{name}: {err}");
        assert!(
            err.contains(&format!("{}", root.join(path).display())),
            "{name}: {err}"
        );
        assert!(
            err.contains("No space left on device") && !err.contains("os error"),
            "{name}: {err}"
        );
        let leftovers: Vec<_> = snapshot(&root)
            .into_keys()
            .filter(|k| {
                String::from_utf8_lossy(k).contains(".ppd-tmp.")
                    && !k.ends_with(PACKAGE_TMP_NAME.as_bytes())
            })
            .collect();
        assert!(leftovers.is_empty(), "{name}: {leftovers:?}");
    }
}

/// A failed replace is one line naming the path once: `ppd: replacing
/// <path>: <reason>`, exit status 2, and the package's copy is left as it
/// was (the dependency's old inode), with no temporary beside it.
#[test]
fn a_failed_replace_names_the_path_once() {
    if !have_strace() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let cfg = pp.join("b/host/bin/b-config");
    write(&cfg, "b v1\n");
    std::fs::create_dir_all(pp.join("b/target")).unwrap();
    let prepare = |cmd: &mut Command| {
        cmd.arg("prepare")
            .arg("--per-package-dir")
            .arg(&pp)
            .args(["--pkg", "app", "b"])
            .output()
            .unwrap()
    };
    let out = prepare(&mut ppd());
    assert!(out.status.success(), "{out:?}");
    // b's rebuild gives its config script a new inode: the re-prepare
    // replaces app's copy, and that rename fails.
    std::fs::remove_file(&cfg).unwrap();
    write(&cfg, "b v2\n");
    let out = prepare(
        Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e"])
            .arg("inject=rename,renameat,renameat2:error=ENOSPC")
            .arg(env!("CARGO_BIN_EXE_ppd")),
    );
    let copy = pp.join("app/host/bin/b-config");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: replacing {}: No space left on device\n",
            copy.display()
        )
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "b v1\n");
    let names: Vec<_> = std::fs::read_dir(copy.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["b-config"]);
}

/// file-list's setup, its lists written, and a dependent prepared from the
/// package: the package's own files are shared with the dependent's tree.
fn unshare_setup(root: &Path) {
    file_list_setup(root);
    ok(ppd().args(file_list_args(root)));
    ok(ppd()
        .arg("-j1")
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(pp(root))
        .args(["--pkg", "top", "app"]));
}

fn unshare_args(root: &Path) -> Vec<OsString> {
    vec![
        "-j1".into(),
        "unshare".into(),
        "--per-package-dir".into(),
        pp(root).into(),
        "--pkg".into(),
        "app".into(),
        "--list-dir".into(),
        root.join("build").into(),
    ]
}

fn unshare_remove_args(root: &Path) -> Vec<OsString> {
    let mut v = unshare_args(root);
    v.push("--remove".into());
    v
}

const UNSHARE_TREES: &[&str] = &[
    "per-package/app/host",
    "per-package/app/target",
    "per-package/top/host",
    "per-package/top/target",
];

/// A kill between a copy and its rename leaves a temporary in the
/// package's tree: the next run removes it.
#[test]
fn unshare_killed_at_every_step_converges() {
    if !have_strace() {
        return;
    }
    let case = Case {
        name: "unshare",
        // A rename sets its directory's mtime to the time of the run.
        dir_mtimes: false,
        setup: unshare_setup,
        args: unshare_args,
        compare: UNSHARE_TREES,
    };
    assert!(kill_at_every_step(&case) > 1);
}

/// A kill after the listed files were removed and before the directories
/// that left empty: the next run removes those directories.
#[test]
fn unshare_remove_killed_at_every_step_converges() {
    if !have_strace() {
        return;
    }
    let case = Case {
        name: "unshare-remove",
        dir_mtimes: false,
        setup: unshare_setup,
        args: unshare_remove_args,
        compare: UNSHARE_TREES,
    };
    assert!(kill_at_every_step(&case) > 1);
}

/// A package may install a file named exactly like a temporary
/// (`.ppd-tmp.<digits>.<digits>`); rsync copies it, and so does every
/// command: prepare links it (same inode, as `rsync --link-dest`),
/// file-list lists it, finalize and copy-tree copy it, and the next runs
/// of the trees holding it, marked or not, keep it.
#[test]
fn a_packages_file_named_like_a_temporary_is_an_entry() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    write(&pp.join("zlib/target/.ppd-tmp.123.4"), "top\n");
    write(&pp.join("zlib/target/usr/lib/.ppd-tmp.1.2"), "lib\n");
    write(&pp.join("zlib/host/usr/bin/zlib-config"), "z\n");
    let prepare = |pkg: &str, deps: &[&str]| prepare_pkg(&pp, pkg, deps);
    prepare("zlib", &[]);
    prepare("app", &["zlib"]);
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    for rel in [".ppd-tmp.123.4", "usr/lib/.ppd-tmp.1.2"] {
        assert_eq!(
            ino(&pp.join("app/target").join(rel)),
            ino(&pp.join("zlib/target").join(rel)),
            "{rel}"
        );
    }
    // rsync's result, for the same step.
    if !skip_without(&["rsync"]) {
        let r = t.path().join("rsync/target");
        std::fs::create_dir_all(&r).unwrap();
        ok(Command::new("rsync")
            .arg("-aH")
            .arg("--link-dest")
            .arg(pp.join("zlib/target"))
            .arg(format!("{}/", pp.join("zlib/target").display()))
            .arg(format!("{}/", r.display())));
        assert_eq!(
            snapshot(&r).keys().collect::<Vec<_>>(),
            snapshot(&pp.join("app/target")).keys().collect::<Vec<_>>()
        );
    }
    let build = t.path().join("build");
    std::fs::create_dir_all(&build).unwrap();
    ok(ppd()
        .arg("file-list")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--pkg", "zlib", "--out-dir"])
        .arg(&build));
    let list = std::fs::read_to_string(build.join(".files-list.txt")).unwrap();
    assert!(list.contains("zlib,./.ppd-tmp.123.4\n"), "{list}");
    assert!(list.contains("zlib,./usr/lib/.ppd-tmp.1.2\n"), "{list}");
    let out = t.path().join("out/target");
    ok(ppd()
        .arg("finalize")
        .arg("--per-package-dir")
        .arg(&pp)
        .args(["--tree", "target", "--dest"])
        .arg(&out)
        .arg("zlib"));
    assert_eq!(
        std::fs::read_to_string(out.join("usr/lib/.ppd-tmp.1.2")).unwrap(),
        "lib\n"
    );
    let copy = t.path().join("copy");
    ok(ppd()
        .arg("copy-tree")
        .arg(pp.join("zlib/target"))
        .arg(&copy));
    assert_eq!(
        std::fs::read_to_string(copy.join(".ppd-tmp.123.4")).unwrap(),
        "top\n"
    );
    // A run of app's tree that died: its lock marked (after the files
    // were there). The next run keeps them.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(pp.join("app/.target.ppd-lock"), "marked\n").unwrap();
    prepare("app", &["zlib"]);
    assert_eq!(
        ino(&pp.join("app/target/usr/lib/.ppd-tmp.1.2")),
        ino(&pp.join("zlib/target/usr/lib/.ppd-tmp.1.2"))
    );
    assert!(pp.join("app/target/.ppd-tmp.123.4").is_file());
    prepare("app", &["zlib"]);
    assert!(pp.join("app/target/.ppd-tmp.123.4").is_file());
}
