//! Resource limits: every command finishes, with the same result, under
//! `ulimit -n 64` on a tree with a directory of 1,100 subdirectories and a
//! branch deeper than `PATH_MAX`; `-j 100000` and `PPD_JOBS=100000` start a
//! bounded number of threads.
//!
//! Each limited run is the real binary started by `sh -c 'ulimit -n 64 &&
//! exec ppd ...'`, compared with the same command at the test's own limit.
//! Trees are inspected with `openat`/`fstatat` from the root down, since
//! their deepest paths are longer than `PATH_MAX`.

mod common;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::fdtree::*;
use common::*;
use rustix::fs::{mkdirat, statat, AtFlags, Mode, CWD};

/// Subdirectories of the wide directories.
const WIDE: usize = 1100;
/// Levels of the deep branch: 110 names of 40 bytes, 4,510 bytes below
/// the tree root, longer than PATH_MAX (4,096).
const DEEP: usize = 110;
const LEVEL: &str = "level-of-a-tree-deeper-than-path-max-xx";

/// The binary under `ulimit -n 64`, with the same environment as [`ppd`].
fn limited(ws: &Path) -> Command {
    let base = ppd();
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
        .arg(base.get_program())
        .current_dir(ws);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// Runs `args` in `ws` under the limit and at the test's own limit, each
/// of which must succeed; `@` in an argument stands for `lo` and `hi`
/// respectively (each run's own output): (limited run, other run).
fn lo_and_hi(ws: &Path, args: &[&str]) -> (Output, Output) {
    let with = |tag: &str| args.iter().map(|a| a.replace('@', tag)).collect::<Vec<_>>();
    (
        ok(limited(ws).args(with("lo"))),
        ok(in_dir(ws).args(with("hi"))),
    )
}

/// What a comparison looks at, per path below a root.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Entry {
    kind: char,
    mode: u32,
    mtime: (i64, i64),
    size: i64,
    ino: u64,
    target: Option<Vec<u8>>,
    data: Option<Vec<u8>>,
}

/// Reads a tree fd-relatively (no path is ever resolved below `root`).
fn tree(root: &Path) -> BTreeMap<Vec<u8>, Entry> {
    tree_of(root, false)
}

/// [`tree`] with every file's bytes.
fn tree_data(root: &Path) -> BTreeMap<Vec<u8>, Entry> {
    tree_of(root, true)
}

fn tree_of(root: &Path, with_data: bool) -> BTreeMap<Vec<u8>, Entry> {
    let mut out = BTreeMap::new();
    let top = dir_fd(&CWD, root.as_os_str().as_bytes());
    let mut stack = vec![(top, Vec::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut names: Vec<Vec<u8>> = rustix::fs::Dir::read_from(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_bytes().to_vec())
            .filter(|n| n != b"." && n != b"..")
            .collect();
        names.sort();
        for name in names {
            let st = statat(&dir, &name[..], AtFlags::SYMLINK_NOFOLLOW).unwrap();
            let child: Vec<u8> = if rel.is_empty() {
                name.clone()
            } else {
                [&rel[..], b"/", &name[..]].concat()
            };
            let kind = match st.st_mode & 0o170000 {
                0o040000 => 'd',
                0o120000 => 'l',
                0o100000 => 'f',
                _ => 'o',
            };
            let target = (kind == 'l').then(|| {
                rustix::fs::readlinkat(&dir, &name[..], Vec::new())
                    .unwrap()
                    .into_bytes()
            });
            let data = (with_data && kind == 'f').then(|| read_at(&dir, &name));
            out.insert(
                child.clone(),
                Entry {
                    kind,
                    mode: st.st_mode & 0o7777,
                    mtime: (st.st_mtime, st.st_mtime_nsec as i64),
                    size: st.st_size,
                    ino: st.st_ino,
                    target,
                    data,
                },
            );
            if kind == 'd' {
                stack.push((dir_fd(&dir, &name), child));
            }
        }
    }
    out
}

/// The tree with directories' inode numbers left out (prepare links every
/// other entry, and makes its own directories).
fn linked(t: &BTreeMap<Vec<u8>, Entry>) -> BTreeMap<Vec<u8>, Entry> {
    t.iter()
        .map(|(k, e)| {
            let ino = if e.kind == 'd' { 0 } else { e.ino };
            (k.clone(), Entry { ino, ..e.clone() })
        })
        .collect()
}

/// The tree without inode numbers (for copies).
fn content(t: &BTreeMap<Vec<u8>, Entry>) -> BTreeMap<Vec<u8>, Entry> {
    t.iter()
        .map(|(k, e)| {
            (
                k.clone(),
                Entry {
                    ino: 0,
                    ..e.clone()
                },
            )
        })
        .collect()
}

/// Creates `DIR/a/{host,target}`: `lib` directories of [`WIDE`]
/// subdirectories each holding a text file that names `DIR/a` (and every
/// hundredth a symlink), in the host tree a `bin` directory as wide, and
/// a branch [`DEEP`] levels deep with a file and a symlink at the bottom.
fn make_source(pp: &Path) {
    std::fs::create_dir_all(pp).unwrap();
    let abs = pp.canonicalize().unwrap();
    let text = format!("prefix={}/a/host\n", abs.display());
    for tree in ["host", "target"] {
        let root = pp.join("a").join(tree);
        let subs: &[&str] = if tree == "host" {
            &["lib", "bin"]
        } else {
            &["lib"]
        };
        for &sub in subs {
            std::fs::create_dir_all(root.join(sub)).unwrap();
            for i in 0..WIDE {
                let d = root.join(sub).join(format!("d{i:04}"));
                std::fs::create_dir(&d).unwrap();
                if sub == "lib" {
                    std::fs::write(d.join("f.pc"), &text).unwrap();
                    if i % 100 == 0 {
                        std::os::unix::fs::symlink("f.pc", d.join("l")).unwrap();
                    }
                }
            }
        }
        std::fs::create_dir_all(root.join("share")).unwrap();
        let mut dir = dir_fd(&CWD, root.join("share").as_os_str().as_bytes());
        for _ in 0..DEEP {
            mkdirat(&dir, LEVEL, Mode::from_raw_mode(0o755)).unwrap();
            dir = dir_fd(&dir, LEVEL.as_bytes());
        }
        write_at(&dir, "deep.pc", text.as_bytes());
        rustix::fs::symlinkat("deep.pc", &dir, "deep-link").unwrap();
    }
}

/// Opens the deepest directory of the deep branch of `root`.
fn deep_dir(root: &Path) -> OwnedFd {
    let mut dir = dir_fd(&CWD, root.join("share").as_os_str().as_bytes());
    for _ in 0..DEEP {
        dir = dir_fd(&dir, LEVEL.as_bytes());
    }
    dir
}

fn deep_rel(name: &str) -> Vec<u8> {
    let mut p = b"share".to_vec();
    for _ in 0..DEEP {
        p.push(b'/');
        p.extend_from_slice(LEVEL.as_bytes());
    }
    p.push(b'/');
    p.extend_from_slice(name.as_bytes());
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_limit_is_in_force_in_limited_runs() {
    let out = ok(Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec cat /proc/self/limits"));
    let limits = String::from_utf8_lossy(&out.stdout);
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[3..5],
        ["64", "64"],
        "{line}"
    );
}

#[test]
fn merge_commands_work_under_ulimit_64_on_wide_and_deep_trees() {
    let t = workspace("ppd-limits.");
    let ws = t.path();
    let pp = ws.join("pp");
    make_source(&pp);
    assert!(pp.join("a/host").as_os_str().len() + deep_rel("deep.pc").len() > 4096);
    let src_host = tree(&pp.join("a/host"));
    let src_target = tree(&pp.join("a/target"));
    assert_eq!(src_host.len(), 3 * WIDE + 11 + 3 + DEEP + 2);

    // prepare: b under the limit (and with -j 256), c at the test's limit.
    for (pkg, cmd) in [
        ("b", limited(ws)),
        ("c", in_dir(ws)),
        ("d", {
            let mut c = limited(ws);
            c.args(["-j", "256"]);
            c
        }),
    ] {
        let mut cmd = cmd;
        let out = ok(cmd.args(["prepare", "--per-package-dir", "pp", "--pkg", pkg, "a"]));
        assert!(out.stderr.is_empty(), "{pkg}: {}", stderr(&out));
        // Every entry is the dependency's own inode (a symlink's too), with
        // its mode, mtime and target.
        assert_eq!(
            linked(&tree(&pp.join(pkg).join("host"))),
            linked(&src_host),
            "{pkg}"
        );
        assert_eq!(
            linked(&tree(&pp.join(pkg).join("target"))),
            linked(&src_target),
            "{pkg}"
        );
    }

    // finalize and copy-tree copy: the same content under the limit as at
    // the test's limit, and as the source.
    lo_and_hi(
        ws,
        &[
            "finalize",
            "--per-package-dir",
            "pp",
            "--tree",
            "host",
            "--dest",
            "out-@",
            "a",
        ],
    );
    let lo = content(&tree_data(&ws.join("out-lo")));
    assert_eq!(lo, content(&tree_data(&ws.join("out-hi"))));
    assert_eq!(lo, content(&tree_data(&pp.join("a/host"))));

    lo_and_hi(ws, &["copy-tree", "pp/a/target", "ct-@"]);
    let lo = content(&tree_data(&ws.join("ct-lo")));
    assert_eq!(lo, content(&tree_data(&ws.join("ct-hi"))));
    assert_eq!(lo, content(&tree_data(&pp.join("a/target"))));
}

#[test]
fn text_and_list_commands_work_under_ulimit_64_on_wide_and_deep_trees() {
    let t = workspace("ppd-limits.");
    let ws = t.path();
    let pp = ws.join("pp");
    make_source(&pp);
    let abs = pp.canonicalize().unwrap();
    for pkg in ["b", "c"] {
        ok(in_dir(ws).args(["prepare", "--per-package-dir", "pp", "--pkg", pkg, "a"]));
    }

    // fixup-paths: b under the limit, c at the test's limit; both rewrite
    // every file, the deepest included, and leave a's inodes alone.
    for (pkg, mut cmd) in [("b", limited(ws)), ("c", in_dir(ws))] {
        let out = ok(cmd.args([
            "-v",
            "fixup-paths",
            "--per-package-dir",
            abs.to_str().unwrap(),
            "--new-root",
            abs.join(pkg).to_str().unwrap(),
            &format!("pp/{pkg}/host"),
        ]));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{} rewritten", WIDE + 1)),
            "{pkg}: {err}"
        );
        let got = tree_data(&pp.join(pkg).join("host"));
        let want = format!("prefix={}/{pkg}/host\n", abs.display());
        for rel in [deep_rel("deep.pc"), b"lib/d0000/f.pc".to_vec()] {
            assert_eq!(
                got[&rel].data.as_deref(),
                Some(want.as_bytes()),
                "{pkg} {}",
                String::from_utf8_lossy(&rel)
            );
        }
    }
    let orig = format!("prefix={}/a/host\n", abs.display());
    let a = tree_data(&pp.join("a/host"));
    assert_eq!(
        a[&deep_rel("deep.pc")].data.as_deref(),
        Some(orig.as_bytes())
    );

    // file-list: b installed a file in every wide directory and at the
    // bottom of the deep branch; the same lists under the limit as at the
    // test's limit name exactly those (the rewritten files stay a's).
    for i in 0..WIDE {
        std::fs::write(pp.join(format!("b/host/lib/d{i:04}/own")), "own").unwrap();
    }
    write_at(&deep_dir(&pp.join("b/host")), "own", b"own");
    std::fs::create_dir_all(ws.join("lists-lo")).unwrap();
    std::fs::create_dir_all(ws.join("lists-hi")).unwrap();
    let (lo, hi) = lo_and_hi(
        ws,
        &[
            "file-list",
            "--per-package-dir",
            "pp",
            "--pkg",
            "b",
            "--out-dir",
            "lists-@",
        ],
    );
    assert_eq!(stderr(&lo), stderr(&hi));
    let lists_lo = tree_data(&ws.join("lists-lo"));
    assert_eq!(
        lists_lo
            .iter()
            .map(|(k, e)| (k.clone(), e.data.clone()))
            .collect::<Vec<_>>(),
        tree_data(&ws.join("lists-hi"))
            .iter()
            .map(|(k, e)| (k.clone(), e.data.clone()))
            .collect::<Vec<_>>()
    );
    let host_list = &lists_lo[&b".files-list-host.txt".to_vec()];
    let host_list = String::from_utf8_lossy(host_list.data.as_deref().unwrap());
    assert_eq!(host_list.lines().count(), WIDE + 1, "{host_list}");
    assert!(host_list.contains(&format!(
        "b,./{}\n",
        String::from_utf8_lossy(&deep_rel("own"))
    )));
    assert!(host_list.contains("b,./lib/d1099/own\n"), "{host_list}");
}

/// A program whose RPATH names the per-package directory of `a`.
fn build_prog(dir: &Path, rpath: &Path) -> bool {
    if skip_without(&["gcc", "readelf"]) {
        return false;
    }
    std::fs::write(dir.join("p.c"), "int main(void) { return 0; }\n").unwrap();
    ok(Command::new("gcc")
        .arg("-o")
        .arg(dir.join("prog"))
        .arg(dir.join("p.c"))
        .arg(format!("-Wl,-rpath,{}", rpath.display())));
    true
}

fn rpath_of(p: &Path) -> String {
    let out = ok(Command::new("readelf").arg("-d").arg(p).env("LC_ALL", "C"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("RPATH") || l.contains("RUNPATH"))
        .collect()
}

#[test]
fn rpath_commands_work_under_ulimit_64_on_wide_and_deep_trees() {
    let t = workspace("ppd-limits.");
    let ws = t.path();
    let pp = ws.join("pp");
    make_source(&pp);
    let abs = pp.canonicalize().unwrap();
    if !build_prog(ws, &abs.join("a/host/lib")) {
        return;
    }
    std::fs::copy(ws.join("prog"), pp.join("a/host/bin/d1099/prog")).unwrap();
    ok(in_dir(ws).args(["prepare", "--per-package-dir", "pp", "--pkg", "b", "a"]));

    // check-rpath: the same verdict
    // and exit status under the limit as at the test's limit.
    let args = [
        "check-rpath",
        "--per-package-dir",
        abs.to_str().unwrap(),
        "--host-dir",
        "pp/a/host",
        "a",
    ];
    let lo = run(limited(ws).arg("-v").args(args));
    let hi = run(in_dir(ws).arg("-v").args(args));
    let quiet = |o: &Output| stderr(o).split(" files,").next().unwrap().to_string();
    assert_eq!(
        (lo.status.code(), &lo.stdout, quiet(&lo)),
        (hi.status.code(), &hi.stdout, quiet(&hi))
    );
    assert_eq!(lo.status.code(), Some(0), "{}", stderr(&lo));
    assert!(
        stderr(&lo).contains("check-rpath: 1 files,"),
        "{}",
        stderr(&lo)
    );

    // fix-rpath: the same plan under the limit, then the same result.
    for (host, mut cmd) in [("pp/a/host", limited(ws)), ("pp/b/host", in_dir(ws))] {
        let out = ok(cmd.args(["fix-rpath", "-n", "host", "--host-dir", host]));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("bin/d1099/prog"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(rpath_of(&pp.join("a/host/bin/d1099/prog")).contains("/pp/a/host/lib"));
    ok(limited(ws).args(["fix-rpath", "host", "--host-dir", "pp/a/host"]));
    ok(in_dir(ws).args(["fix-rpath", "host", "--host-dir", "pp/b/host"]));
    let (a, b) = (
        rpath_of(&pp.join("a/host/bin/d1099/prog")),
        rpath_of(&pp.join("b/host/bin/d1099/prog")),
    );
    // The per-package directory is gone from the RPATH (prog needs none
    // of host/lib, so nothing is left), in both.
    assert!(a.contains("runpath") && !a.contains("/pp/"), "{a}");
    assert_eq!(a, b);
}

/// Runs `cmd` and kills it after `limit`, failing: on a 3-file tree a
/// bounded thread count finishes in well under a second.
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if start.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiter.join().unwrap()
}

#[test]
fn a_huge_job_count_is_clamped() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for n in ["a", "b", "c"] {
        std::fs::write(src.join(n), n).unwrap();
    }
    let limit = Duration::from_secs(60);
    let out = run_within(
        ppd()
            .args(["-j", "100000", "copy-tree"])
            .arg(&src)
            .arg(t.path().join("dst")),
        limit,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for n in ["a", "b", "c"] {
        assert_eq!(
            std::fs::read(t.path().join("dst").join(n)).unwrap(),
            n.as_bytes()
        );
    }
    let out = run_within(
        ppd()
            .env("PPD_JOBS", "100000")
            .args(["fixup-paths", "--per-package-dir", "/nonexistent/pp"])
            .args(["--new-root", "/x"])
            .arg(&src),
        limit,
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The inspecting commands and unshare: the same output under the limit
/// as at the test's limit, on the wide directories and the deep branch.
#[test]
fn inspecting_commands_and_unshare_work_under_ulimit_64() {
    let t = workspace("ppd-limits.");
    let ws = t.path();
    let pp = ws.join("pp");
    make_source(&pp);
    for pkg in ["b", "c"] {
        ok(in_dir(ws).args(["prepare", "--per-package-dir", "pp", "--pkg", pkg, "a"]));
    }
    // a rebuilds one file: b's and c's copies of it are outdated.
    std::fs::remove_file(pp.join("a/host/lib/d0500/f.pc")).unwrap();
    std::fs::write(pp.join("a/host/lib/d0500/f.pc"), "new\n").unwrap();
    let deep = String::from_utf8(deep_rel("deep.pc")).unwrap();
    let same = |args: &[&str]| {
        let lo = run(limited(ws).args(args));
        let hi = run(in_dir(ws).args(args));
        assert_eq!(
            (lo.status.code(), stderr(&lo)),
            (hi.status.code(), stderr(&hi)),
            "{args:?}"
        );
        assert_eq!(lo.stdout, hi.stdout, "{args:?}");
        lo
    };
    let out = same(&["outdated", "--per-package-dir", "pp"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "b: 1 copy differs from what a provides now; refresh: make b-reconfigure\n\
         c: 1 copy differs from what a provides now; refresh: make c-reconfigure\n\
         make b-reconfigure c-reconfigure\n"
    );
    for path in [
        "pp/b/host/lib/d1099/f.pc".to_owned(),
        "pp/b/host/lib/d0500/f.pc".to_owned(),
        format!("pp/b/target/{deep}"),
    ] {
        let out = same(&["explain", "--per-package-dir", "pp", &path]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("installed by: a"), "{text}");
    }
    let mut list = String::new();
    for i in 0..WIDE {
        list.push_str(&format!("b,./lib/d{i:04}/f.pc\n"));
    }
    list.push_str(&format!("b,./{deep}\n"));
    std::fs::write(ws.join("list.txt"), &list).unwrap();
    let bin_arch = [
        "check-bin-arch",
        "-p",
        "b",
        "-l",
        "list.txt",
        "-a",
        "AArch64",
        "--target-dir",
        "pp/b/target",
    ];
    same(&bin_arch);
    let out = ok(limited(ws).arg("-v").args(bin_arch));
    assert!(
        stderr(&out).contains(&format!("{} files of b examined", WIDE + 1)),
        "{}",
        stderr(&out)
    );
    let out = same(&["check-rpath", "--audit", "pp/b/target", "pp/b/host"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\n0 error(s), 0 warning(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // unshare: b under the limit, c at the test's limit; every listed
    // file gets a private inode in both.
    for (pkg, mut cmd) in [("b", limited(ws)), ("c", in_dir(ws))] {
        let dir = ws.join(format!("lists-{pkg}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(".files-list.txt"),
            list.replace("b,", &format!("{pkg},")),
        )
        .unwrap();
        let out = ok(cmd
            .args(["unshare", "--per-package-dir", "pp", "--pkg", pkg])
            .arg("--list-dir")
            .arg(&dir));
        assert!(out.stderr.is_empty(), "{pkg}: {}", stderr(&out));
        let got = tree(&pp.join(pkg).join("target"));
        let a = tree(&pp.join("a/target"));
        for rel in [b"lib/d0000/f.pc".to_vec(), deep_rel("deep.pc")] {
            assert_ne!(got[&rel].ino, a[&rel].ino, "{pkg}");
            assert_eq!(got[&rel].mtime, a[&rel].mtime, "{pkg}");
        }
    }
}
