//! ppd against the real Buildroot: `tests/buildroot/run.sh` builds one
//! per-package directory configuration (aarch64, the few dozen local
//! packages of `tests/buildroot/external`) twice, with Buildroot's own
//! macros and with `mk/buildroot.mk`, compares the host, staging and target
//! trees and the package file lists, checks the ppd build's log for stock
//! commands, and runs the everyday workflows (no-op make, rebuild,
//! reconfigure, dirclean, a conflict) on the ppd build.
//!
//! It needs a Buildroot source: `../shared/buildroot/buildroot-2026.05.1.tar.xz`
//! beside the project, or `PPD_BUILDROOT` naming a tarball or a tree.
//! Without one the test is skipped (and says so). The work directory,
//! with the ppd build's output in `out/`, stays in
//! `target/tmp/buildroot-test` for inspection; run.sh prints its path.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Buildroot source the test builds: `PPD_BUILDROOT`, else the tarball
/// in `../shared/buildroot/`.
fn buildroot_source() -> PathBuf {
    match std::env::var_os("PPD_BUILDROOT") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/buildroot/buildroot-2026.05.1.tar.xz"),
    }
}

/// Prints `SKIP <test>: <reason>` (the tests' skip convention).
fn skip(reason: &str) {
    eprintln!("SKIP buildroot::real_buildroot_builds_the_same_with_ppd: {reason}");
}

#[test]
fn real_buildroot_builds_the_same_with_ppd() {
    let src = buildroot_source();
    if !src.exists() {
        skip(&format!(
            "no Buildroot source at {} (set PPD_BUILDROOT to a Buildroot tarball or source tree)",
            src.display()
        ));
        return;
    }
    for tool in ["aarch64-linux-gnu-gcc", "aarch64-linux-gnu-g++", "make"] {
        if !common::have(tool) {
            let reason = format!("{tool} is not installed (scripts/test.sh installs it)");
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true and this test cannot run: {reason}"
            );
            skip(&reason);
            return;
        }
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("buildroot-test");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/buildroot/run.sh");
    // Progress goes straight to the terminal (stderr is inherited): the run
    // takes minutes.
    let status = Command::new("bash")
        .arg(&script)
        .arg("--work")
        .arg(&work)
        .env("PPD", env!("CARGO_BIN_EXE_ppd"))
        .env("BUILDROOT", &src)
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("MFLAGS")
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} failed ({status}); its checks are listed above, logs in {}/logs",
        script.display(),
        work.display()
    );
}
