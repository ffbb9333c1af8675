//! Deep trees: every command on a branch 3,000 directories deep (a path
//! of 6,000 bytes below the tree, longer than `PATH_MAX`) gives the same
//! result as on the same files at the top of the tree, and never runs
//! out of stack.
//!
//! Trees are made and read with `openat`/`fstatat` from the root down,
//! since their deepest paths cannot be named by a path.

mod common;

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use rustix::fs::{mkdirat, openat, statat, AtFlags, Mode, OFlags, CWD};

/// Levels of the deep branch: `d/d/.../d`, 6,000 bytes.
const DEPTH: usize = 3000;

fn workspace() -> tempfile::TempDir {
    let b = tempfile::Builder::new()
        .prefix("ppd-deep.")
        .tempdir_in("/dev/shm");
    b.or_else(|_| tempfile::tempdir()).unwrap()
}

fn dir_fd(at: &impl AsFd, name: &[u8]) -> OwnedFd {
    openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("opening {}: {e}", String::from_utf8_lossy(name)))
}

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

fn write_at(dir: &impl AsFd, name: &str, data: &[u8]) {
    let fd = openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    std::fs::File::from(fd).write_all(data).unwrap();
}

fn read_at(dir: &impl AsFd, name: &str) -> Vec<u8> {
    let fd = openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW, Mode::empty()).unwrap();
    std::fs::read(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
}

fn ino_at(dir: &impl AsFd, name: &str) -> u64 {
    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).unwrap().st_ino
}

fn stderr(o: &Output) -> String {
    let s = String::from_utf8_lossy(&o.stderr);
    // A message naming a deep path is long: keep the test's output short.
    s.chars().take(2000).collect()
}

fn in_dir(ws: &Path) -> Command {
    let mut c = ppd();
    c.current_dir(ws);
    c
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
    let t = workspace();
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
