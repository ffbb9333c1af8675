//! Advisory locks that serialize ppd processes writing the same tree.
//!
//! The lock file sits beside the destination, never inside it
//! (`<parent>/.<name>.ppd-lock`), so it never shows up in a tree, a file
//! list or a final merge. `flock` semantics: the kernel drops the lock when
//! the process dies, so a SIGKILLed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct TreeLock {
    _file: File,
    path: PathBuf,
}

impl TreeLock {
    /// Returns the lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Returns the path of the lock file guarding `dest`.
pub fn lock_path(dest: &Path) -> PathBuf {
    sidecar(dest, "ppd-lock")
}

/// Returns `<parent>/.<name>.<suffix>`: a file beside `dest`, never inside it.
pub fn sidecar(dest: &Path, suffix: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_owned());
    let parent = dest.parent().unwrap_or(Path::new("/"));
    parent.join(format!(".{name}.{suffix}"))
}

/// Takes the exclusive lock for `dest`, waiting for another ppd holding it.
/// Creates the parent directory if needed.
pub fn lock(dest: &Path) -> Result<TreeLock> {
    let path = lock_path(dest);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating directory {}", parent.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(TreeLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_is_beside_the_tree() {
        assert_eq!(
            lock_path(Path::new("/o/per-package/foo/host")),
            Path::new("/o/per-package/foo/.host.ppd-lock")
        );
    }

    #[test]
    fn second_lock_waits_for_the_first() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("host");
        let held = lock(&dest).unwrap();
        let f = File::open(held.path()).unwrap();
        assert!(f.try_lock().is_err());
        drop(held);
        assert!(f.try_lock().is_ok());
    }
}
