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

#[test]
fn real_buildroot_builds_the_same_with_ppd() {
    let src = buildroot_source();
    // Not a missing tool: a user's clone has no Buildroot beside it, so this
    // is a skip even under CI=true (CI runs it wherever ../shared exists).
    if !src.exists() {
        common::skip(&format!(
            "no Buildroot source at {} (set PPD_BUILDROOT to a Buildroot tarball or source tree)",
            src.display()
        ));
        return;
    }
    // scripts/test.sh installs these; under CI=true a missing one fails.
    if common::skip_without(&[
        "aarch64-linux-gnu-gcc",
        "aarch64-linux-gnu-g++",
        "make",
        "rsync",
        "patchelf",
        "pkg-config",
        "file",
        "bc",
        "cpio",
        "unzip",
        "perl",
        "python3",
        "g++",
    ]) {
        return;
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
