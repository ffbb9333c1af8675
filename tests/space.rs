//! A full or read-only filesystem: `prepare`, `finalize`, `copy-tree`,
//! `fixup-paths`, `file-list` and `unshare` on a small tmpfs, run with no space left (ENOSPC, blocks
//! and inodes, with a few left over so that the run fails at different
//! points) and remounted read-only (EROFS). Each time:
//! - one error line `ppd: <operation> <path>: <reason>`, exit 2;
//! - the sources and the destination's pre-existing entries are unchanged
//!   (inode, size, mtime, content), and no temporary is left anywhere;
//! - after space is freed (or the mount is writable again) the same
//!   command converges to the tree a clean run gives.
//!
//! Mounting needs root: otherwise each test is recorded as skipped.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A tmpfs mounted on a temporary directory, unmounted on drop, in the
/// test thread's own mount namespace ([`private_mounts`]): a killed test
/// leaves no mount behind.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` bytes and `inodes` inodes; None (after
    /// recording a skip) where mounting is impossible.
    fn mount(size: u64, inodes: u64) -> Option<Tmpfs> {
        if skip_unless_root("mounting a tmpfs")
            || skip_without(&["mount", "umount"])
            || !private_mounts("mounting a tmpfs")
        {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},nr_inodes={inodes},mode=755"))
            .arg("tmpfs")
            .arg(dir.path()));
        if !out.status.success() {
            skip(&format!(
                "cannot mount a tmpfs here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, opts: &str) {
        ok(Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(self.path()));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `root` through `root/fill`: data until ENOSPC,
/// then empty files until no inode is left; then frees `inodes` inodes and
/// `pages` pages of data again.
fn fill(root: &Path, inodes: usize, pages: u64) {
    let dir = root.join("fill");
    std::fs::create_dir(&dir).unwrap();
    let mut f = std::fs::File::create(dir.join("data")).unwrap();
    let chunk = vec![0x5a; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // The last partial write may have stopped short of a page.
    let _ = f.write_all(&chunk[..4096]);
    let len = f.metadata().unwrap().len();
    let mut n = 0;
    while std::fs::File::create(dir.join(format!("i{n}"))).is_ok() {
        n += 1;
    }
    for i in 0..inodes.min(n) {
        std::fs::remove_file(dir.join(format!("i{i}"))).unwrap();
    }
    f.set_len(len.saturating_sub(pages * 4096)).unwrap();
}

fn unfill(root: &Path) {
    std::fs::remove_dir_all(root.join("fill")).unwrap();
}

/// One command under test.
struct Case {
    name: &'static str,
    /// Builds the inputs and the destination's pre-existing entries in `root`.
    setup: fn(&Path),
    /// The command line, run in `root`.
    args: &'static [&'static str],
    /// Trees the command only reads.
    sources: &'static [&'static str],
    /// The destination(s) compared with a clean run.
    dests: &'static [&'static str],
    /// Pre-existing entries in the destination the command must not touch.
    kept: &'static [&'static str],
}

/// A deterministic tree: directories, files of several pages, symlinks,
/// a hard-link pair, modes and nanosecond mtimes; text files naming the
/// per-package directory for fixup-paths.
fn tree(root: &Path, tag: &str, n: usize) {
    for i in 0..n {
        let d = root.join(format!("usr/lib{}/{tag}", i % 4));
        std::fs::create_dir_all(&d).unwrap();
        let body = format!("prefix=/x/per-package/{tag}/host/usr\n").repeat(40 + 30 * i);
        let f = d.join(format!("{tag}{i}.pc"));
        std::fs::write(&f, body).unwrap();
        std::fs::set_permissions(
            &f,
            std::os::unix::fs::PermissionsExt::from_mode(0o640 + (i as u32 % 2) * 0o100),
        )
        .unwrap();
        set_mtime(&f, 1_600_000_000 + i as i64, 123_000_000 + i as u32);
        symlink(format!("{tag}{i}.pc"), d.join(format!("link{i}"))).unwrap();
        set_mtime(&d.join(format!("link{i}")), 1_600_000_100, i as u32);
    }
    let f = root.join(format!("usr/bin/{tag}-tool"));
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, "#!/bin/sh\n").unwrap();
    std::fs::hard_link(&f, root.join(format!("usr/bin/{tag}-alias"))).unwrap();
    set_mtime(&f, 1_600_000_200, 0);
}

fn setup_copy_tree(r: &Path) {
    tree(&r.join("src"), "s", 24);
    std::fs::create_dir_all(r.join("dst")).unwrap();
    std::fs::write(r.join("dst/keep"), "mine\n").unwrap();
    set_mtime(&r.join("dst/keep"), 1_500_000_000, 7);
}

fn setup_finalize(r: &Path) {
    for p in ["a", "b"] {
        tree(&r.join("pp").join(p).join("target"), p, 12);
    }
    std::fs::create_dir_all(r.join("out")).unwrap();
    std::fs::write(r.join("out/keep"), "mine\n").unwrap();
    set_mtime(&r.join("out/keep"), 1_500_000_000, 7);
}

fn setup_prepare(r: &Path) {
    for p in ["a", "b"] {
        tree(&r.join("pp").join(p).join("host"), p, 12);
        std::fs::create_dir_all(r.join("pp").join(p).join("target")).unwrap();
    }
    std::fs::create_dir_all(r.join("pp/me/host/usr")).unwrap();
    std::fs::write(r.join("pp/me/host/usr/keep"), "mine\n").unwrap();
    set_mtime(&r.join("pp/me/host/usr/keep"), 1_500_000_000, 7);
}

fn setup_fixup(r: &Path) {
    tree(&r.join("pp/me/host"), "a", 24);
    std::fs::write(r.join("pp/me/host/keep"), "no path here\n").unwrap();
    set_mtime(&r.join("pp/me/host/keep"), 1_500_000_000, 7);
}

/// me prepared from a, plus files of its own (host and target).
fn setup_prepared(r: &Path) {
    tree(&r.join("pp/a/target"), "a", 12);
    std::fs::create_dir_all(r.join("pp/a/host")).unwrap();
    ok(ppd().current_dir(r).args(PREPARE_ME_FROM_A));
    tree(&r.join("pp/me/target/own"), "m", 6);
}

fn setup_file_list(r: &Path) {
    setup_prepared(r);
    std::fs::create_dir_all(r.join("out")).unwrap();
    std::fs::write(r.join("out/keep"), "mine\n").unwrap();
    set_mtime(&r.join("out/keep"), 1_500_000_000, 7);
}

/// me's list names every file it shares with a (and its own files).
fn setup_unshare(r: &Path) {
    setup_prepared(r);
    let mut list = String::new();
    for e in walkdir(&r.join("pp/me/target")) {
        list.push_str(&format!("me,./{e}\n"));
    }
    std::fs::create_dir_all(r.join("lists")).unwrap();
    std::fs::write(r.join("lists/.files-list.txt"), list).unwrap();
    std::fs::write(r.join("pp/me/target/keep"), "mine\n").unwrap();
    set_mtime(&r.join("pp/me/target/keep"), 1_500_000_000, 7);
}

/// Every file and symlink below `root`, relative, sorted.
fn walkdir(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

const CASES: &[Case] = &[
    Case {
        name: "file-list",
        setup: setup_file_list,
        args: &[
            "file-list",
            "--per-package-dir",
            "pp",
            "--pkg",
            "me",
            "--out-dir",
            "out",
        ],
        sources: &["pp"],
        dests: &["out"],
        kept: &["out/keep"],
    },
    Case {
        name: "unshare",
        setup: setup_unshare,
        args: &[
            "unshare",
            "--per-package-dir",
            "pp",
            "--pkg",
            "me",
            "--list-dir",
            "lists",
        ],
        sources: &["pp/a"],
        dests: &["pp/me/target"],
        kept: &["pp/me/target/keep"],
    },
    Case {
        name: "copy-tree",
        setup: setup_copy_tree,
        args: &["copy-tree", "src", "dst"],
        sources: &["src"],
        dests: &["dst"],
        kept: &["dst/keep"],
    },
    Case {
        name: "finalize",
        setup: setup_finalize,
        args: &[
            "finalize",
            "--per-package-dir",
            "pp",
            "--tree",
            "target",
            "--dest",
            "out",
            "a",
            "b",
        ],
        sources: &["pp"],
        dests: &["out"],
        kept: &["out/keep"],
    },
    Case {
        name: "prepare",
        setup: setup_prepare,
        args: &[
            "prepare",
            "--per-package-dir",
            "pp",
            "--pkg",
            "me",
            "a",
            "b",
        ],
        sources: &["pp/a", "pp/b"],
        dests: &["pp/me"],
        kept: &["pp/me/host/usr/keep"],
    },
    Case {
        name: "fixup-paths",
        setup: setup_fixup,
        args: &[
            "fixup-paths",
            "--per-package-dir",
            "/x/per-package",
            "--new-root",
            "/x/per-package/me",
            "pp/me/host",
        ],
        sources: &[],
        dests: &["pp/me/host"],
        kept: &["pp/me/host/keep"],
    },
];

fn ppd_in(root: &Path, case: &Case) -> std::process::Output {
    run(ppd()
        .current_dir(root)
        .args(case.args.iter().map(OsString::from)))
}

/// One compared entry: kind, mode, size, mtime, content hash, link group.
type Compared = (String, u32, u64, (i64, i64), u64, String);

/// What a clean run must give, compared without inode numbers: kind,
/// mode, size, mtime of files and symlinks, symlink target, content, and
/// which names share an inode.
fn state(root: &Path, dirs: &[&str]) -> BTreeMap<String, Compared> {
    let mut out = BTreeMap::new();
    for d in dirs {
        let mut groups: BTreeMap<(u64, u64), String> = BTreeMap::new();
        for (rel, s) in snapshot(&root.join(d)) {
            let path = format!("{d}/{}", String::from_utf8_lossy(&rel));
            // Beside the trees ppd keeps its manifests and locks; their
            // contents hold inode numbers.
            let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
            if memchr::memmem::find(name, b".ppd-").is_some() {
                continue;
            }
            let bytes = match s.kind {
                "f" => std::fs::read(at(&root.join(d), &rel)).unwrap(),
                "l" => s.target.clone().unwrap(),
                _ => Vec::new(),
            };
            let data = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                h.finish()
            };
            // A file list's mtime is when it was written, as Buildroot's.
            let fresh = s.kind == "d" || name.starts_with(b".files-list");
            let mtime = if fresh { (0, 0) } else { s.mtime };
            let group = if s.kind == "f" {
                groups.entry((s.dev, s.ino)).or_insert(path.clone()).clone()
            } else {
                String::new()
            };
            out.insert(
                path,
                (s.kind.to_string(), s.mode, s.size, mtime, data, group),
            );
        }
    }
    out
}

/// A source entry as compared: everything but its link count (prepare
/// links the sources' inodes) and directory mtimes.
type Shape = (&'static str, u32, (i64, i64), u64, u64, Option<Vec<u8>>);

fn shape(root: &Path) -> Vec<(Vec<u8>, Shape)> {
    snapshot(root)
        .into_iter()
        .map(|(k, s)| {
            let mtime = if s.kind == "d" { (0, 0) } else { s.mtime };
            (k, (s.kind, s.mode, mtime, s.ino, s.size, s.target))
        })
        .collect()
}

fn assert_same<V: PartialEq + std::fmt::Debug>(
    got: &BTreeMap<String, V>,
    want: &BTreeMap<String, V>,
    what: &str,
) {
    let diff: Vec<_> = want
        .keys()
        .chain(got.keys())
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| format!("{k}: got {:?}, want {:?}", got.get(k), want.get(k)))
        .collect();
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
}

/// Every name below `root` that looks like a ppd temporary.
fn temporaries(root: &Path) -> Vec<String> {
    snapshot(root)
        .into_keys()
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .filter(|k| {
            let name = k.rsplit('/').next().unwrap_or("");
            name.starts_with(".ppd-tmp") || name.ends_with(".tmp") || name.ends_with(".new")
        })
        .collect()
}

/// Checks a failed run: one error line naming `reason`, exit 2; sources
/// and kept entries unchanged; no temporary.
fn check_failure(
    case: &Case,
    r: &Path,
    out: &std::process::Output,
    reason: &str,
    sources_before: &[Vec<(Vec<u8>, Shape)>],
    kept_before: &[Snap],
) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}: {err}", case.name);
    // One line; fixup-paths reports every file it could not rewrite, one
    // line each, so that none hides behind the first.
    if case.name != "fixup-paths" {
        assert_eq!(err.lines().count(), 1, "{}: one line: {err}", case.name);
    }
    for line in err.lines() {
        assert!(line.starts_with("ppd: "), "{}: {err}", case.name);
        assert!(
            line.ends_with(&format!(": {reason}")),
            "{}: {err}",
            case.name
        );
    }
    assert!(!err.contains("os error"), "{}: {err}", case.name);
    assert!(
        !err.contains(".ppd-tmp"),
        "{}: names a temporary: {err}",
        case.name
    );
    for (s, before) in case.sources.iter().zip(sources_before) {
        assert_eq!(
            &shape(&r.join(s)),
            before,
            "{}: source {s} changed",
            case.name
        );
    }
    for (k, before) in case.kept.iter().zip(kept_before) {
        let now = &snapshot(&r.join(k))[&b""[..]];
        assert_eq!(
            (now.ino, now.size, now.mtime, now.mode),
            (before.ino, before.size, before.mtime, before.mode),
            "{}: {k} changed",
            case.name
        );
    }
    assert_eq!(
        temporaries(r),
        Vec::<String>::new(),
        "{}: temporaries left",
        case.name
    );
}

/// The state `case` gives where nothing fails: set up and run in
/// `base/ref`, which is removed again.
fn reference_state(base: &Path, case: &Case) -> BTreeMap<String, Compared> {
    let reference = base.join("ref");
    std::fs::create_dir_all(&reference).unwrap();
    (case.setup)(&reference);
    let out = ppd_in(&reference, case);
    assert!(
        out.status.success(),
        "{}: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let want = state(&reference, case.dests);
    std::fs::remove_dir_all(&reference).unwrap();
    want
}

/// What a failed run must leave as it was: the shapes of the sources and
/// the root entries of the kept trees.
type Untouched = (Vec<Vec<(Vec<u8>, Shape)>>, Vec<Snap>);

/// Sets `case` up in `r`; returns what a failed run must leave as it was.
fn set_up(r: &Path, case: &Case) -> Untouched {
    std::fs::create_dir_all(r).unwrap();
    (case.setup)(r);
    let sources = case.sources.iter().map(|s| shape(&r.join(s))).collect();
    let kept = case
        .kept
        .iter()
        .map(|k| snapshot(&r.join(k))[&b""[..]].clone())
        .collect();
    (sources, kept)
}

/// Runs `case` again in `r` after a failure (`after`): it succeeds and
/// gives `want`.
fn converges(r: &Path, case: &Case, want: &BTreeMap<String, Compared>, after: &str) {
    let out = ppd_in(r, case);
    assert!(
        out.status.success(),
        "{}: run again after {after}: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same(
        &state(r, case.dests),
        want,
        &format!("{}: run again after {after}", case.name),
    );
}

/// Runs `case` once per budget of free inodes and pages on a full tmpfs,
/// then with the space freed again; returns how many runs failed.
fn full_filesystem(fs: &Tmpfs, case: &Case) -> usize {
    let base = fs.path().join(case.name);
    let want = reference_state(&base, case);

    let mut failed = 0;
    for (i, (inodes, pages)) in [(0, 0), (2, 1), (6, 2), (20, 8), (60, 40)]
        .into_iter()
        .enumerate()
    {
        let r = base.join(format!("run{i}"));
        let (sources, kept) = set_up(&r, case);
        fill(fs.path(), inodes, pages);
        let out = ppd_in(&r, case);
        if !out.status.success() {
            failed += 1;
            check_failure(case, &r, &out, "No space left on device", &sources, &kept);
        }
        unfill(fs.path());
        converges(
            &r,
            case,
            &want,
            &format!("ENOSPC (budget {inodes} inodes, {pages} pages)"),
        );
        std::fs::remove_dir_all(&r).unwrap();
    }
    failed
}

#[test]
fn no_space_left_gives_one_error_loses_nothing_and_a_rerun_converges() {
    let Some(fs) = Tmpfs::mount(16 << 20, 4000) else {
        return;
    };
    for case in CASES {
        let failed = full_filesystem(&fs, case);
        assert!(failed >= 2, "{}: only {failed} runs hit ENOSPC", case.name);
    }
}

#[test]
fn a_read_only_filesystem_gives_one_error_and_a_rerun_converges() {
    let Some(fs) = Tmpfs::mount(16 << 20, 4000) else {
        return;
    };
    for case in CASES {
        let base = fs.path().join(case.name);
        let want = reference_state(&base, case);

        let r = base.join("ro");
        let (sources, kept) = set_up(&r, case);
        fs.remount("ro");
        let out = ppd_in(&r, case);
        fs.remount("rw");
        check_failure(case, &r, &out, "Read-only file system", &sources, &kept);
        converges(&r, case, &want, "EROFS");
        std::fs::remove_dir_all(&base).unwrap();
    }
}

/// The destination on a read-only filesystem while the sources are
/// writable: the error names the destination.
#[test]
fn a_read_only_destination_is_named_in_the_error() {
    let Some(fs) = Tmpfs::mount(1 << 20, 100) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    tree(&t.path().join("src"), "s", 3);
    std::fs::create_dir(fs.path().join("dst")).unwrap();
    fs.remount("ro");
    let dst: PathBuf = fs.path().join("dst");
    let out = run(ppd().arg("copy-tree").arg(t.path().join("src")).arg(&dst));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ppd: ") && err.contains(&dst.display().to_string()),
        "{err}"
    );
    assert!(err.ends_with(": Read-only file system\n"), "{err}");
}

/// fix-rpath cannot write a file (its directory on a read-only bind
/// mount, the tree's lock beside it writable): the command names the
/// file and fails with exit 2, the file is left as it was, and a run
/// once the directory is writable again rewrites it.
#[test]
fn fix_rpath_fails_when_it_cannot_write_a_file() {
    let Some(fs) = Tmpfs::mount(16 << 20, 1000) else {
        return;
    };
    if skip_without(&["gcc", "readelf"]) {
        return;
    }
    let r = fs.path();
    let bin = r.join("pp/a/host/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(r.join("p.c"), "int main(void) { return 0; }\n").unwrap();
    ok(Command::new("gcc")
        .arg("-o")
        .arg(bin.join("prog"))
        .arg(r.join("p.c"))
        .arg(format!("-Wl,-rpath,{}/pp/a/host/lib", r.display())));
    let before = std::fs::read(bin.join("prog")).unwrap();
    ok(Command::new("mount").arg("--bind").arg(&bin).arg(&bin));
    ok(Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&bin));
    let out = run(ppd()
        .current_dir(r)
        .args(["fix-rpath", "host", "--host-dir", "pp/a/host"]));
    ok(Command::new("umount").arg(&bin));
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned()
        ),
        (
            Some(2),
            "ppd: writing pp/a/host/bin/prog: Read-only file system\n".to_owned()
        )
    );
    assert_eq!(std::fs::read(bin.join("prog")).unwrap(), before);
    assert!(temporaries(r).is_empty(), "{:?}", temporaries(r));
    let out = run(ppd()
        .current_dir(r)
        .args(["fix-rpath", "host", "--host-dir", "pp/a/host"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(std::fs::read(bin.join("prog")).unwrap(), before);
}
