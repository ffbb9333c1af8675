//! Deep trees: no command runs out of stack on a tree 3,000 directories
//! deep, and every command gives the same result on a branch whose path
//! is longer than `PATH_MAX` as on the same files on a short branch.
//!
//! Trees are made and read with `openat`/`fstatat` from the root down,
//! since their deepest paths cannot be named by a path.

mod common;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};

use common::fdtree::*;
use common::*;
use rustix::fs::{mkdirat, openat, statat, AtFlags, Mode, OFlags, CWD};

/// Levels of the deep branch: `d/d/.../d`, 6,000 bytes.
const DEPTH: usize = 3000;

/// The directory `depth` levels below `root` (`d/d/...`), made if `make`.
fn deep(root: &Path, depth: usize, make: bool) -> OwnedFd {
    if make {
        std::fs::create_dir_all(root).unwrap();
    }
    let mut dir = dir_fd(&CWD, root.as_os_str().as_bytes());
    for _ in 0..depth {
        if make {
            match mkdirat(&dir, "d", Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => panic!("{e}"),
            }
        }
        dir = dir_fd(&dir, b"d");
    }
    dir
}

fn ino_at(dir: &impl AsFd, name: &str) -> u64 {
    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).unwrap().st_ino
}

fn stderr(o: &Output) -> String {
    let s = String::from_utf8_lossy(&o.stderr);
    // A message naming a deep path is long: keep the test's output short.
    s.chars().take(2000).collect()
}

/// `pp/a/{host,target}` with `deep.pc` (naming `pp/a`) both at the top
/// and at the bottom of a branch [`DEPTH`] levels deep.
fn make_source(ws: &Path) -> std::path::PathBuf {
    let pp = ws.join("pp");
    std::fs::create_dir_all(&pp).unwrap();
    let abs = pp.canonicalize().unwrap();
    for tree in ["host", "target"] {
        let root = pp.join("a").join(tree);
        let text = format!("prefix={}/a/{tree}\n", abs.display());
        let bottom = deep(&root, DEPTH, true);
        write_at(&bottom, "deep.pc", text.as_bytes());
        rustix::fs::symlinkat("deep.pc", &bottom, "deep-link").unwrap();
        let top = dir_fd(&CWD, root.as_os_str().as_bytes());
        write_at(&top, "deep.pc", text.as_bytes());
        rustix::fs::symlinkat("deep.pc", &top, "deep-link").unwrap();
    }
    abs
}

#[test]
fn fixup_paths_works_on_a_tree_3000_directories_deep() {
    let t = workspace("ppd-deep.");
    let ws = t.path();
    let abs = make_source(ws);
    ok(in_dir(ws).args(["prepare", "--per-package-dir", "pp", "--pkg", "b", "a"]));

    // fixup-paths on b's tree: both copies rewritten, a's left alone.
    let out = ok(in_dir(ws).args([
        "-v",
        "fixup-paths",
        "--per-package-dir",
        abs.to_str().unwrap(),
        "--new-root",
        abs.join("b").to_str().unwrap(),
        "pp/b/host",
    ]));
    assert!(stderr(&out).contains(" 2 rewritten,"), "{}", stderr(&out));
    let want = format!("prefix={}/b/host\n", abs.display());
    let b_host = ws.join("pp/b/host");
    let bottom = deep(&b_host, DEPTH, false);
    assert_eq!(read_at(&bottom, "deep.pc"), want.as_bytes());
    let top = dir_fd(&CWD, b_host.as_os_str().as_bytes());
    assert_eq!(read_at(&top, "deep.pc"), want.as_bytes());
    let a_bottom = deep(&ws.join("pp/a/host"), DEPTH, false);
    assert_ne!(ino_at(&bottom, "deep.pc"), ino_at(&a_bottom, "deep.pc"));
    assert_eq!(
        read_at(&a_bottom, "deep.pc"),
        format!("prefix={}/a/host\n", abs.display()).as_bytes()
    );

    // prepare --fixup-paths (the host tree, as Buildroot): the same for
    // c and e, at any thread count.
    for (pkg, jobs) in [("c", "1"), ("e", "8")] {
        let out = run(in_dir(ws).args([
            "-j",
            jobs,
            "prepare",
            "--per-package-dir",
            "pp",
            "--pkg",
            pkg,
            "--fixup-paths",
            "a",
        ]));
        assert_eq!(out.status.code(), Some(0), "{pkg}: {}", stderr(&out));
        let want = format!("prefix={}/{pkg}/host\n", abs.display());
        let root = ws.join("pp").join(pkg).join("host");
        assert_eq!(
            read_at(&deep(&root, DEPTH, false), "deep.pc"),
            want.as_bytes()
        );
        assert_eq!(
            read_at(&dir_fd(&CWD, root.as_os_str().as_bytes()), "deep.pc"),
            want.as_bytes()
        );
    }
}

/// The short branch and the deep one: the same entries below each.
const SHORT: &str = "s";
/// Levels of the deep branch: 4,200 bytes, just past `PATH_MAX`.
const BRANCH_DEPTH: usize = 2100;

/// The deep branch's path below a tree: `d/d/.../d`.
fn deep_prefix() -> String {
    vec!["d"; BRANCH_DEPTH].join("/")
}

/// A branch's directory below `root` (`s` or the deep one), made if `make`.
fn branch(root: &Path, deep_branch: bool, make: bool) -> OwnedFd {
    if deep_branch {
        deep(root, BRANCH_DEPTH, make)
    } else {
        if make {
            std::fs::create_dir_all(root.join(SHORT)).unwrap();
        }
        dir_fd(&CWD, root.join(SHORT).as_os_str().as_bytes())
    }
}

/// Replaces `name` in `dir` with a new inode holding `data`.
fn rewrite_at(dir: &impl AsFd, name: &str, data: &[u8]) {
    write_at(dir, ".new", data);
    rustix::fs::renameat(dir, ".new", dir, name).unwrap();
}

/// Both branches of `pp/a` and `pp/c` (host and target): `a` installs
/// `same`, `diff`, `x.pc` (naming `pp/a`) and `l -> x.pc`; `c` installs
/// `same` with a's bytes and `diff` with others.
fn make_branches(ws: &Path) {
    let pp = ws.join("pp");
    for tree in ["host", "target"] {
        for deep_branch in [false, true] {
            let a = branch(&pp.join("a").join(tree), deep_branch, true);
            write_at(&a, "same", b"same\n");
            write_at(&a, "diff", b"a\n");
            write_at(&a, "x.pc", b"prefix=/nowhere\n");
            rustix::fs::symlinkat("x.pc", &a, "l").unwrap();
            let c = branch(&pp.join("c").join(tree), deep_branch, true);
            write_at(&c, "same", b"same\n");
            write_at(&c, "diff", b"c\n");
        }
    }
}

/// `text` with the deep branch's path written as the short one's.
fn as_short(text: &str) -> String {
    text.replace(&deep_prefix(), SHORT)
}

/// The lines of `text` naming the short branch, and those naming the
/// deep one written as the short one's: they must be the same.
fn same_for_both_branches(what: &str, text: &str) {
    let deep = deep_prefix();
    let short_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!("/{SHORT}/")) || l.contains(&format!("\"{SHORT}/")))
        .collect();
    let deep_lines: Vec<String> = text
        .lines()
        .filter(|l| l.contains(&deep))
        .map(as_short)
        .collect();
    assert!(!short_lines.is_empty(), "{what}: {}", as_short(text));
    assert_eq!(short_lines, deep_lines, "{what}: {}", as_short(text));
}

#[test]
fn outdated_finalize_and_explain_treat_a_deep_branch_as_a_short_one() {
    let t = workspace("ppd-deep.");
    let ws = t.path();
    make_branches(ws);
    ok(in_dir(ws).args(["prepare", "--per-package-dir", "pp", "--pkg", "b", "a"]));

    // Freshly prepared: nothing is outdated (the deep copies were reported
    // "gone" when looked up by their full path).
    let out = run(in_dir(ws).args(["outdated", "--per-package-dir", "pp", "b"]));
    assert_eq!(
        (
            out.status.code(),
            as_short(&String::from_utf8_lossy(&out.stdout))
        ),
        (Some(0), String::new()),
        "{}",
        stderr(&out)
    );
    assert!(out.stderr.is_empty(), "{}", stderr(&out));

    // a rebuilds diff on both branches: both copies are changed, alike.
    for tree in ["host", "target"] {
        for deep_branch in [false, true] {
            let a = branch(&ws.join("pp/a").join(tree), deep_branch, false);
            rewrite_at(&a, "diff", b"a2\n");
        }
    }
    let out = run(in_dir(ws).args(["outdated", "--json", "--per-package-dir", "pp", "b"]));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut paths: Vec<(String, String)> = Vec::new();
    for r in doc["refresh"].as_array().unwrap() {
        for s in r["stale"].as_array().unwrap() {
            paths.push((
                as_short(s["path"].as_str().unwrap()),
                s["how"].as_str().unwrap().to_owned(),
            ));
        }
    }
    paths.sort();
    let want: Vec<(String, String)> = ["host", "host", "target", "target"]
        .iter()
        .map(|_| ("s/diff".to_owned(), "changed".to_owned()))
        .collect();
    assert_eq!(
        paths,
        want,
        "{}",
        as_short(&String::from_utf8_lossy(&out.stdout))
    );

    // finalize a and c: diff is a conflict on both branches, same (equal
    // bytes, another inode) on neither.
    let out = run(in_dir(ws).args([
        "finalize",
        "--conflicts",
        "error",
        "--per-package-dir",
        "pp",
        "--tree",
        "host",
        "--dest",
        "host",
        "a",
        "c",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    same_for_both_branches("finalize", &err);
    assert_eq!(err.lines().count(), 2, "{}", as_short(&err));
    assert!(as_short(&err).contains("host/s/diff is provided differently by"));
    assert!(!err.contains("/same"), "{}", as_short(&err));
    let bottom = deep(&ws.join("host"), BRANCH_DEPTH, false);
    assert_eq!(read_at(&bottom, "diff"), b"c\n");
    assert_eq!(read_at(&bottom, "same"), b"same\n");

    // explain: the same story for both branches, in the final tree and in
    // b's tree (only the entry's own inode and mtime differ).
    for (path, tree) in [("diff", "host"), ("same", "host"), ("diff", "pp/b/target")] {
        let explain = |branch: &str| {
            let out = run(in_dir(ws)
                .args(["explain", "--per-package-dir", "pp"])
                .arg(format!("{tree}/{branch}/{path}")));
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            let text = as_short(&String::from_utf8_lossy(&out.stdout));
            text.lines()
                .filter(|l| !l.trim_start().starts_with("entry:"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let short = explain(SHORT);
        assert!(short.len() > 4, "{short:?}");
        assert_eq!(short, explain(&deep_prefix()), "{tree}/{path}");
        assert!(
            short.iter().all(|l| !l.contains("nothing at this path")),
            "{short:?}"
        );
    }
}

fn rpath_of(dir: &impl AsFd, name: &str) -> String {
    let fd = openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW, Mode::empty()).unwrap();
    let out = ok(Command::new("readelf")
        .arg("-d")
        .arg(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .env("LC_ALL", "C"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("RPATH") || l.contains("RUNPATH"))
        .collect()
}

#[test]
fn elf_and_list_commands_treat_a_deep_branch_as_a_short_one() {
    if skip_without(&["gcc", "readelf"]) {
        return;
    }
    let t = workspace("ppd-deep.");
    let ws = t.path();
    make_branches(ws);
    let abs = ws.join("pp").canonicalize().unwrap();
    // A program whose RPATH names a's per-package directory, on both
    // branches of a's trees.
    std::fs::write(ws.join("p.c"), "int main(void) { return 0; }\n").unwrap();
    ok(Command::new("gcc")
        .arg("-o")
        .arg(ws.join("prog"))
        .arg(ws.join("p.c"))
        .arg(format!("-Wl,-rpath,{}/a/host/lib", abs.display())));
    let prog = std::fs::read(ws.join("prog")).unwrap();
    for tree in ["host", "target"] {
        for deep_branch in [false, true] {
            let a = branch(&ws.join("pp/a").join(tree), deep_branch, false);
            write_at(&a, "prog", &prog);
            rustix::fs::chmodat(&a, "prog", Mode::from_raw_mode(0o755), AtFlags::empty()).unwrap();
        }
    }
    ok(in_dir(ws).args(["prepare", "--per-package-dir", "pp", "--pkg", "b", "a"]));

    // check-rpath (Buildroot's host check) and the audit: the same
    // findings for both branches, no file that could not be read.
    let out = run(in_dir(ws)
        .args(["check-rpath", "--per-package-dir"])
        .arg(&abs)
        .args(["--host-dir", "pp/b/host", "b"]));
    let text = as_short(&format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ));
    assert!(!text.contains("too long"), "{text}");
    let out = run(in_dir(ws).args(["check-rpath", "--audit", "pp/b/target"]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("E01"), "{}", as_short(&text));
    assert!(!stderr(&out).contains("too long"), "{}", stderr(&out));
    same_for_both_branches("audit", &text);

    // fix-rpath: both programs rewritten alike, nothing failed.
    let out = run(in_dir(ws).args(["-v", "fix-rpath", "host", "--host-dir", "pp/b/host"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(" 2 rewritten, 0 failed,"),
        "{}",
        stderr(&out)
    );
    let b_host = ws.join("pp/b/host");
    let (short, deep_rpath) = (
        rpath_of(&branch(&b_host, false, false), "prog"),
        rpath_of(&branch(&b_host, true, false), "prog"),
    );
    assert!(!short.contains("/pp/"), "{short}");
    assert_eq!(short, deep_rpath);

    // check-bin-arch: both listed programs are of another architecture.
    let deep = deep_prefix();
    std::fs::write(
        ws.join("list.txt"),
        format!("b,./{SHORT}/prog\nb,./{deep}/prog\nb,./{SHORT}/same\nb,./{deep}/same\n"),
    )
    .unwrap();
    let out = run(in_dir(ws).args([
        "-v",
        "check-bin-arch",
        "-p",
        "b",
        "-l",
        "list.txt",
        "-a",
        "Nonexistent",
        "--target-dir",
        "pp/b/target",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().count(), 2, "{}", as_short(&text));
    same_for_both_branches("check-bin-arch", &text);
    assert!(
        stderr(&out).contains("4 files of b examined"),
        "{}",
        stderr(&out)
    );

    // copy-tree: both branches copied.
    ok(in_dir(ws).args(["copy-tree", "pp/b/target", "--dest", "ct"]));
    for deep_branch in [false, true] {
        let d = branch(&ws.join("ct"), deep_branch, false);
        assert_eq!(read_at(&d, "prog"), prog);
        assert_eq!(read_at(&d, "diff"), b"a\n");
    }

    // file-list: c's own files on both branches; unshare then gives b's
    // listed files private inodes on both.
    std::fs::create_dir_all(ws.join("lists")).unwrap();
    ok(in_dir(ws).args([
        "file-list",
        "--per-package-dir",
        "pp",
        "--pkg",
        "c",
        "--out-dir",
        "lists",
    ]));
    let list = String::from_utf8_lossy(&std::fs::read(ws.join("lists/.files-list.txt")).unwrap())
        .into_owned();
    same_for_both_branches("file-list", &list.replace(",./", ",\"/"));
    assert_eq!(list.lines().count(), 4, "{}", as_short(&list));
    std::fs::write(
        ws.join("lists/.files-list.txt"),
        format!("b,./{SHORT}/same\nb,./{deep}/same\n"),
    )
    .unwrap();
    for f in [".files-list-host.txt", ".files-list-staging.txt"] {
        std::fs::write(ws.join("lists").join(f), "").unwrap();
    }
    let out = ok(in_dir(ws).args([
        "-v",
        "unshare",
        "--per-package-dir",
        "pp",
        "--pkg",
        "b",
        "--list-dir",
        "lists",
    ]));
    let b_target = ws.join("pp/b/target");
    let a_target = ws.join("pp/a/target");
    for deep_branch in [false, true] {
        let b = branch(&b_target, deep_branch, false);
        let a = branch(&a_target, deep_branch, false);
        assert_ne!(ino_at(&b, "same"), ino_at(&a, "same"), "{}", stderr(&out));
        assert_eq!(read_at(&b, "same"), b"same\n");
        assert_eq!(ino_at(&b, "diff"), ino_at(&a, "diff"));
    }
}
