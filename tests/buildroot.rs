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
//!
//! A second, shorter test builds the package set of
//! `tests/buildroot/external2` (other package infrastructures, images, a
//! root filesystem) the same way in `target/tmp/buildroot-test2`. The two
//! run one after the other: each already keeps the machine's cores busy.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Held by each real-Buildroot test for its whole run.
static ONE_BUILD_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The Buildroot source the test builds: `PPD_BUILDROOT`, else the tarball
/// in `../shared/buildroot/`.
fn buildroot_source() -> PathBuf {
    match std::env::var_os("PPD_BUILDROOT") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/buildroot/buildroot-2026.05.1.tar.xz"),
    }
}

/// Runs tests/buildroot/run.sh into `target/tmp/<work>` with `args`
/// (skips without a Buildroot source or, outside CI, without `tools`).
fn run_buildroot_test(work: &str, args: &[&str], tools: &[&str]) {
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
    let mut all = vec![
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
    ];
    all.extend_from_slice(tools);
    if common::skip_without(&all) {
        return;
    }
    // A failed test poisons the lock; the next one still runs.
    let _one = ONE_BUILD_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(work);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/buildroot/run.sh");
    // Progress goes straight to the terminal (stderr is inherited): the run
    // takes minutes.
    let status = Command::new("bash")
        .arg(&script)
        .arg("--work")
        .arg(&work)
        .args(args)
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

#[test]
fn real_buildroot_builds_the_same_with_ppd() {
    run_buildroot_test("buildroot-test", &[], &[]);
}

/// The second package set (tests/buildroot/external2): autotools and cmake
/// packages, a host tool chain, a virtual package, staging-only and images
/// packages, a root filesystem tarball with overlay, post-build script,
/// users and device tables, merged /usr, odd file names, symlink farms,
/// overwrites and in-place edits; compared, a no-op make, one rebuild.
#[test]
fn real_buildroot_second_package_set_builds_the_same_with_ppd() {
    let external = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/buildroot/external2");
    run_buildroot_test(
        "buildroot-test2",
        &["--external", external.to_str().unwrap()],
        &["cmake", "pkgconf", "fakeroot"],
    );
}
