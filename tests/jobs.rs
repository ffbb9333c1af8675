//! Thread budget under GNU make: tokens from the jobserver for recipes
//! marked `+`, one thread when make runs parallel jobs but hides its
//! jobserver, `-j` above everything.

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
