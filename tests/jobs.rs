//! Thread budget under GNU make: tokens from the jobserver for recipes
//! marked `+`, one thread when make runs parallel jobs but hides its
//! jobserver, `-j` above everything; the named fifo of make 4.4 and later
//! (emulated: this machine's make may be older) lends its free tokens, each
//! given back, and an empty one never makes ppd wait.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn threads_reported(stderr: &[u8]) -> usize {
    let s = String::from_utf8_lossy(stderr);
    let line = s
        .lines()
        .find(|l| l.starts_with("ppd prepare:"))
        .unwrap_or_else(|| panic!("no stats line in {s}"));
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let i = words
        .iter()
        .position(|w| *w == "threads")
        .expect("threads field");
    words[i - 1].parse().unwrap()
}

fn setup(dir: &Path) {
    let f = dir.join("pp/a/host/f");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, "x").unwrap();
    std::fs::create_dir_all(dir.join("pp/a/target")).unwrap();
}

fn make(dir: &Path, recipe_prefix: &str, jobs: &str, extra: &str) -> std::process::Output {
    let mk = format!(
        "all:\n\t{recipe_prefix}$(PPD) -v {extra} prepare --per-package-dir pp --pkg me a\n"
    );
    std::fs::write(dir.join("Makefile"), mk).unwrap();
    let out = Command::new("make")
        .arg("-s")
        .arg(jobs)
        .arg("-C")
        .arg(dir)
        .arg(format!("PPD={}", env!("CARGO_BIN_EXE_ppd")))
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("PPD_JOBS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn recipes_marked_plus_get_jobserver_tokens() {
    if common::skip_without(&["make"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    setup(t.path());
    let out = make(t.path(), "+", "-j4", "");
    assert_eq!(threads_reported(&out.stderr), cores().min(4));
}

#[test]
fn explicit_jobs_win_over_make() {
    if common::skip_without(&["make"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    setup(t.path());
    let out = make(t.path(), "+", "-j4", "-j 3");
    assert_eq!(threads_reported(&out.stderr), 3);
}

#[test]
fn a_hidden_jobserver_means_one_thread_with_make_4_3() {
    if common::skip_without(&["make"]) {
        return;
    }
    let v = Command::new("make").arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&v.stdout).into_owned();
    if !v.starts_with("GNU Make 4.3") && !v.starts_with("GNU Make 4.2") {
        common::skip("make 4.4+ passes the jobserver fifo to every recipe");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    setup(t.path());
    let out = make(t.path(), "", "-j4", "");
    assert_eq!(threads_reported(&out.stderr), 1);
}

#[test]
fn outside_make_the_core_count_is_used() {
    let t = tempfile::tempdir().unwrap();
    setup(t.path());
    let out = ok(ppd()
        .current_dir(t.path())
        .arg("-v")
        .args(PREPARE_ME_FROM_A));
    assert_eq!(threads_reported(&out.stderr), cores());
}

#[test]
fn a_jobserver_named_on_stdio_is_never_read_nor_written() {
    // make never hands out descriptors 0-2; a MAKEFLAGS naming them is
    // someone else's string, and taking a "token" there would eat a byte
    // of stdin and give it back on stdout.
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    setup(t.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_ppd"))
        .arg("-v")
        .args(PREPARE_ME_FROM_A)
        .current_dir(t.path())
        .env("MAKEFLAGS", " -j4 --jobserver-auth=0,1")
        .env_remove("MAKELEVEL")
        .env_remove("PPD_JOBS")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"XYZ").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(threads_reported(&out.stderr), 1);
}

/// A Buildroot-shaped dependency set: `tc` (a toolchain: its own sysroot of
/// a few hundred files, no records), `a` and `b` (prepared from `tc`, so
/// their manifests hold its files, plus a few files of their own naming
/// their per-package directory).
fn buildroot_shaped(pp: &Path, prepare: &dyn Fn(&str, &[&str])) {
    prepare("tc", &[]);
    let sys = pp.join("tc/host/aarch64-buildroot-linux-gnu/sysroot");
    for d in 0..20 {
        let inc = sys.join(format!("usr/include/sub{d}"));
        std::fs::create_dir_all(&inc).unwrap();
        for i in 0..15 {
            std::fs::write(inc.join(format!("h{i}.h")), format!("#define X{d}_{i} 1\n")).unwrap();
        }
    }
    std::fs::create_dir_all(pp.join("tc/target/lib")).unwrap();
    for i in 0..20 {
        std::fs::write(pp.join(format!("tc/target/lib/l{i}.so")), [0x7f, b'E', i]).unwrap();
    }
    for (p, deps) in [("a", &["tc"][..]), ("b", &["tc", "a"][..])] {
        prepare(p, deps);
        let pc = pp
            .join(p)
            .join("host/aarch64-buildroot-linux-gnu/sysroot/usr/lib/pkgconfig");
        std::fs::create_dir_all(&pc).unwrap();
        std::fs::write(
            pc.join(format!("{p}.pc")),
            format!("prefix={}/{p}/host/usr\n", pp.display()),
        )
        .unwrap();
        let bin = pp.join(p).join("host/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(
            bin.join(format!("{p}-config")),
            format!("#!/bin/sh\necho {}/{p}/host\n", pp.display()),
        )
        .unwrap();
    }
}

/// A configure step (path fixup, several dependencies) of a tree this size
/// starts no worker thread whatever the budget, and its trees are the ones
/// a one-thread run makes: which thread works is all that changes.
#[test]
fn a_small_configure_step_runs_on_the_calling_thread() {
    if skip_without(&["strace"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("pp");
    let cache = t.path().join("fixup-cache");
    let prepare_cmd = |pkg: &str, deps: &[&str], jobs: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ppd"));
        c.args(["-j", jobs, "prepare", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", pkg, "--fixup-paths", "--fixup-cache"])
            .arg(&cache)
            .args(deps)
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL")
            .env_remove("PPD_JOBS");
        c
    };
    buildroot_shaped(&pp, &|p, deps| {
        ok(&mut prepare_cmd(p, deps, "1"));
    });
    let deps = ["tc", "a", "b"];
    // Once for the cache (the dependencies' files scanned), as in a build.
    ok(&mut prepare_cmd("warm", &deps, "1"));
    let trace = t.path().join("trace");
    let one = |jobs: &str, traced: bool| {
        let _ = std::fs::remove_dir_all(pp.join("app"));
        let out = if traced {
            let c = prepare_cmd("app", &deps, jobs);
            ok(Command::new("strace")
                .args(["-f", "-qq", "-e", "trace=clone,clone3", "-o"])
                .arg(&trace)
                .arg(c.get_program())
                .args(c.get_args())
                .env_remove("MAKEFLAGS")
                .env_remove("MAKELEVEL")
                .env_remove("PPD_JOBS"))
        } else {
            ok(&mut prepare_cmd("app", &deps, jobs))
        };
        assert!(out.stderr.is_empty(), "{out:?}");
        let mut view = Vec::new();
        for tree in ["host", "target"] {
            for (k, s) in snapshot(&pp.join("app").join(tree)) {
                let data = (s.kind == "f")
                    .then(|| std::fs::read(at(&pp.join("app").join(tree), &k)).unwrap());
                // A linked file is the dependency's inode; a rewritten
                // file and a directory are new inodes in each run.
                let ino = if s.kind == "f" && s.nlink > 1 {
                    s.ino
                } else {
                    0
                };
                // A directory whose files were rewritten changed now.
                let mtime = if s.kind == "d" { (0, 0) } else { s.mtime };
                view.push((tree, k, s.kind, s.mode, mtime, ino, s.target, data));
            }
        }
        view
    };
    let alone = one("1", false);
    let budget = one("4", true);
    assert_eq!(budget.len(), alone.len());
    for (b, a) in budget.iter().zip(&alone) {
        assert_eq!(b, a);
    }
    let calls = std::fs::read_to_string(&trace).unwrap();
    assert!(
        !calls.lines().any(|l| l.contains("clone")),
        "threads started:\n{calls}"
    );
    // The rewritten files are there to compare.
    let pc = alone
        .iter()
        .find(|v| v.1.ends_with(b"pkgconfig/a.pc"))
        .and_then(|v| v.7.clone())
        .unwrap();
    assert_eq!(
        String::from_utf8(pc).unwrap(),
        format!("prefix={}/app/host/usr\n", pp.display())
    );
}

/// The descriptor table is grown before any worker thread starts, to a
/// size no descriptor of the run reaches: the kernel would otherwise grow
/// it on a worker thread, and in a threaded process each growth waits for
/// an RCU grace period while other threads' opens stall behind it (about
/// a quarter of an 8-dependency prepare's wall time).
#[test]
fn the_descriptor_table_is_grown_before_threads_start() {
    if skip_without(&["strace"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("pp");
    // Eight dependencies of 40 directories each: the scan keeps their
    // handles for the merge, well past the table's first 64 slots.
    let deps: Vec<String> = (0..8).map(|i| format!("d{i}")).collect();
    for d in &deps {
        for k in 0..40 {
            let dir = pp.join(d).join("host/usr/share").join(format!("s{k}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("f"), d.as_bytes()).unwrap();
        }
        std::fs::create_dir_all(pp.join(d).join("target")).unwrap();
    }
    let trace = t.path().join("trace");
    ok(Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=clone,clone3,openat,fcntl", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_ppd"))
        .args(["-j", "4", "prepare", "--no-manifest", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "app"])
        .args(&deps)
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("PPD_JOBS"));
    let text = std::fs::read_to_string(&trace).unwrap();
    let returned = |line: &str| -> Option<i64> { line.rsplit_once("= ")?.1.trim().parse().ok() };
    let mut grown = None;
    let mut threaded = false;
    let mut highest = 0;
    for line in text.lines() {
        // "<pid> <call>(<args>) = <result>", the pid padded to five
        // columns (one space or more); paths may hold any word.
        let call = line
            .split_once(' ')
            .map_or("", |(_, rest)| rest.trim_start());
        if call.starts_with("clone") {
            threaded = true;
        } else if !threaded && line.contains("F_DUPFD_CLOEXEC") {
            grown = grown.max(returned(line));
        } else if threaded {
            highest = highest.max(returned(line).unwrap_or(0));
        }
    }
    assert!(threaded, "no worker thread started:\n{text}");
    let grown =
        grown.unwrap_or_else(|| panic!("no descriptor table growth before the threads:\n{text}"));
    assert!(
        highest > 64,
        "the run never needed a larger table (highest {highest})"
    );
    assert!(
        highest < grown,
        "descriptor {highest} opened past the grown table ({grown})"
    );
}

/// A fifo made as GNU make 4.4 and later make their jobserver
/// (`--jobserver-auth=fifo:PATH`, the default there), holding `tokens`
/// free tokens; returned with a descriptor that keeps it open for reading
/// and writing (as make does), so that neither side ever waits for the
/// other end, and through which the tokens are counted afterwards.
fn fifo_jobserver(dir: &Path, tokens: &[u8]) -> (std::path::PathBuf, std::os::fd::OwnedFd) {
    use rustix::fs::{Mode, OFlags};
    let path = dir.join("jobserver.fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &path,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let fd = rustix::fs::open(&path, OFlags::RDWR | OFlags::NONBLOCK, Mode::empty()).unwrap();
    assert_eq!(rustix::io::write(&fd, tokens).unwrap(), tokens.len());
    (path, fd)
}

/// Everything left in the fifo (it never blocks: the descriptor is
/// non-blocking).
fn drain(fd: &std::os::fd::OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) | Err(rustix::io::Errno::AGAIN) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the jobserver fifo: {e}"),
        }
    }
}

/// `ppd -v prepare` as a recipe of make 4.4 runs it, MAKEFLAGS naming the
/// fifo, under `timeout`: ppd must never wait for a token, and a run that
/// does fails the test (exit 124) instead of hanging it.
fn prepare_under_fifo(dir: &Path, fifo: &Path) -> std::process::Output {
    let plain = ppd();
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(plain.get_program());
    // With the environment ppd() gives (the make variables it clears).
    for (k, v) in plain.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    ok(cmd
        .arg("-v")
        .args(PREPARE_ME_FROM_A)
        .current_dir(dir)
        .env(
            "MAKEFLAGS",
            format!(" -j4 --jobserver-auth=fifo:{}", fifo.display()),
        )
        .env("MAKELEVEL", "1"))
}

/// Runs `ppd -v prepare` under a make 4.4 fifo jobserver holding `free`
/// tokens; returns the threads ppd reported and, sorted, the tokens in the
/// fifo once it exited.
fn with_free_tokens(free: &[u8]) -> (usize, Vec<u8>) {
    let t = tempfile::tempdir().unwrap();
    setup(t.path());
    let (fifo, fd) = fifo_jobserver(t.path(), free);
    let out = prepare_under_fifo(t.path(), &fifo);
    let mut back = drain(&fd);
    back.sort_unstable();
    (threads_reported(&out.stderr), back)
}

#[test]
fn a_make_4_4_fifo_jobserver_lends_its_free_tokens_and_gets_each_back() {
    // Three free tokens of make -j4 (the fourth is the recipe's own), of
    // distinct values: make 4.4 gives back to the fifo what it reads.
    let (threads, back) = with_free_tokens(b"+ab");
    assert_eq!(threads, cores().min(4));
    assert_eq!(back, b"+ab", "the tokens in the fifo after ppd exited");
}

#[test]
fn an_empty_fifo_jobserver_means_one_thread_without_waiting() {
    let (threads, back) = with_free_tokens(b"");
    assert_eq!(threads, 1);
    assert_eq!(back, b"", "ppd put a token it never took");
}
