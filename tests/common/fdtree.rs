//! fd-relative helpers for the tests on trees whose deepest paths are
//! longer than `PATH_MAX`: every directory is opened relative to its
//! parent (never following a symlink), so no long path is ever resolved.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use rustix::fs::{openat, Mode, OFlags};

/// A workspace on tmpfs when there is one (thousands of directories are
/// made and compared, and a disk shared with other jobs makes that slow),
/// named `<prefix>XXXXXX`.
pub fn workspace(prefix: &str) -> tempfile::TempDir {
    let b = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/dev/shm");
    b.or_else(|_| tempfile::tempdir()).unwrap()
}

/// The ppd binary (see [`super::ppd`]) started in `ws`.
pub fn in_dir(ws: &Path) -> Command {
    let mut c = super::ppd();
    c.current_dir(ws);
    c
}

/// Opens the directory `name` below `at`.
pub fn dir_fd(at: &impl AsFd, name: &[u8]) -> OwnedFd {
    openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("opening {}: {e}", String::from_utf8_lossy(name)))
}

/// Creates the file `name` in `dir` (mode 0644; it must not exist yet)
/// holding `data`.
pub fn write_at(dir: &impl AsFd, name: &str, data: &[u8]) {
    let fd = openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    std::fs::File::from(fd).write_all(data).unwrap();
}

/// The bytes of the file `name` in `dir` (never following a symlink).
pub fn read_at(dir: &impl AsFd, name: impl AsRef<[u8]>) -> Vec<u8> {
    let fd = openat(
        dir,
        name.as_ref(),
        OFlags::RDONLY | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .unwrap();
    std::fs::read(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
}
