//! `ppd unshare`: before a package's steps run again (`-rebuild`,
//! `-reinstall`, `-reconfigure`), give each file it installed itself that
//! other trees share through hard links a private inode, so an install
//! step that writes into an existing file (`sed ... > $(DESTDIR)/usr/bin/
//! foo-config`, `cp` onto it, `echo >>`) changes only this package's copy
//! and never the copies its dependents were prepared with.
//!
//! Which files: the ones the package's last install listed as its own, in
//! the `.files-list.txt`, `-staging` and `-host` lists beside its build
//! (the lists exist only once the package has been installed, so a first
//! build costs nothing). A listed regular file with more than one link is
//! copied to a temporary in the same directory (same mode, owner and
//! nanosecond mtime, data moved in the kernel) and renamed over the
//! original; the other trees keep the old inode. Nothing else is touched:
//! symlinks cannot be written through, and files the package got from its
//! dependencies are theirs (an in-place edit of those is reported by
//! `file-list`).
//!
//! With `--remove` (before a re-prepare: the configure step of a
//! `-reconfigure`), the listed files and symlinks are removed instead, and
//! the directories that leaves empty: the package's trees then start from
//! what its dependencies provide, as in a clean build, so a file the package
//! stops installing does not linger in its trees and the final ones, and a
//! dependency file it had replaced comes back with the re-prepare.
//!
//! The copies are what the dependents now hold apart from the package; once
//! the package's install has run, `ppd outdated` names the dependents whose
//! copies differ from it.

use std::path::PathBuf;

use crate::fsx::Errno;
use anyhow::Result;

use crate::fsx::{self, DirFd, FsError, Kind};

/// What to unshare.
#[derive(Clone, Debug)]
pub struct UnshareConfig {
    /// The per-package directory root.
    pub per_package_dir: PathBuf,
    /// The package.
    pub pkg: String,
    /// Staging relative to the host tree.
    pub staging_subdir: Option<PathBuf>,
    /// The directory holding the package's `.files-list*.txt`.
    pub list_dir: PathBuf,
    /// Remove the listed entries instead of copying them.
    pub remove: bool,
    /// Only say what would be done.
    pub dry_run: bool,
}

/// The outcome.
#[derive(Debug, Default)]
pub struct UnshareReport {
    /// Files given a private inode (or removed, with `remove`; or that would
    /// be, in a dry run), as full paths, sorted.
    pub copied: Vec<PathBuf>,
    /// Directories removed because they became empty.
    pub dirs_removed: usize,
    /// Listed entries examined.
    pub examined: usize,
    /// Bytes copied.
    pub bytes: u64,
}

/// Returns the tree each list describes, relative to the package's directory.
fn lists(cfg: &UnshareConfig) -> Vec<(&'static str, PathBuf)> {
    let host = PathBuf::from("host");
    let staging = match &cfg.staging_subdir {
        Some(s) => host.join(s),
        None => host.clone(),
    };
    vec![
        (".files-list.txt", PathBuf::from("target")),
        (".files-list-staging.txt", staging),
        (".files-list-host.txt", host),
    ]
}

/// The relative paths of `pkg`'s lines (`pkg,./path`) of a list.
fn own_paths<'a>(list: &'a [u8], pkg: &str) -> Vec<&'a [u8]> {
    let prefix = format!("{pkg},./");
    list.split(|&b| b == b'\n')
        .filter_map(|l| l.strip_prefix(prefix.as_bytes()))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Gives the package's own shared files private inodes.
pub fn unshare(cfg: &UnshareConfig) -> Result<UnshareReport> {
    let base = cfg.per_package_dir.join(&cfg.pkg);
    let mut report = UnshareReport::default();
    for (name, tree_rel) in lists(cfg) {
        let list_path = cfg.list_dir.join(name);
        let list = match std::fs::read(&list_path) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(FsError::new("reading file list", &list_path, fsx::errno_of(&e)).into())
            }
        };
        let tree = base.join(&tree_rel);
        let root = match DirFd::open(&tree) {
            Ok(d) => d,
            Err(e) if e.errno() == Errno::ENOENT => continue,
            Err(e) => return Err(e.into()),
        };
        // The temporaries below are written under the tree's lock, marked
        // (staging's is the host tree's): a run killed between a copy and
        // its rename leaves one, which the next locker removes.
        let lock = match cfg.dry_run {
            true => None,
            false => {
                let top: PathBuf = tree_rel.components().take(1).collect();
                Some(crate::lock::lock(&base.join(top))?)
            }
        };
        let mut emptied: std::collections::BTreeSet<Vec<u8>> = Default::default();
        let mut paths = own_paths(&list, &cfg.pkg);
        paths.sort_unstable();
        paths.dedup();
        // One open directory at a time: consecutive paths in sorted order
        // share their parent.
        let mut open: Option<(Vec<u8>, DirFd)> = None;
        for rel in paths {
            report.examined += 1;
            let (parent, leaf) = match memchr::memrchr(b'/', rel) {
                Some(i) => (&rel[..i], &rel[i + 1..]),
                None => (&b""[..], rel),
            };
            if open.as_ref().map(|(p, _)| p.as_slice()) != Some(parent) {
                open = match root.open_beneath(parent) {
                    Ok(d) => Some((parent.to_vec(), d)),
                    // Gone, or no longer a directory: nothing shared there.
                    Err(e)
                        if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) =>
                    {
                        None
                    }
                    Err(e) => return Err(e.into()),
                };
            }
            let Some((_, dir)) = &open else { continue };
            let Some(st) = dir.stat(leaf)? else {
                // Already removed by a run killed before it removed the
                // directories that left empty: finish that.
                if cfg.remove && !cfg.dry_run {
                    emptied.insert(parent.to_vec());
                }
                continue;
            };
            let kind = Kind::from_mode(st.st_mode);
            if cfg.remove {
                if kind == Kind::Dir {
                    continue;
                }
                report.copied.push(dir.child_path(leaf));
                if let Some(lock) = &lock {
                    lock.mark()?;
                    dir.unlink(leaf, false)?;
                    emptied.insert(parent.to_vec());
                }
                continue;
            }
            if kind != Kind::File || st.st_nlink < 2 {
                continue;
            }
            let full = dir.child_path(leaf);
            report.bytes += st.st_size as u64;
            if let Some(lock) = &lock {
                lock.mark()?;
                let tmp = fsx::temp_name();
                let src = fsx::At { dir, name: leaf };
                // An error names the user's file, never the temporary,
                // which goes (a later locker would sweep it otherwise).
                let copied = crate::merge::copy::copy_file(dir, src, &tmp)
                    .and_then(|_| Ok(dir.rename(&tmp, leaf)?));
                if let Err(e) = copied {
                    let _ = dir.unlink(&tmp, false);
                    return Err(match e.downcast::<FsError>() {
                        Ok(e) => e.naming(&full).into(),
                        Err(e) => e,
                    });
                }
            }
            report.copied.push(full);
        }
        drop(open);
        // Deepest first, each directory and then its parents while empty
        // (rmdir refuses a non-empty one); never the tree's root.
        let mut seen = std::collections::BTreeSet::new();
        for parent in emptied.iter().rev() {
            let mut at: &[u8] = parent;
            while !at.is_empty() && seen.insert(at.to_vec()) {
                let (up, name) = match memchr::memrchr(b'/', at) {
                    Some(i) => (&at[..i], &at[i + 1..]),
                    None => (&b""[..], at),
                };
                let Ok(d) = root.open_beneath(up) else { break };
                if d.unlink(name, true).is_err() {
                    break;
                }
                report.dirs_removed += 1;
                at = up;
            }
        }
        if let Some(lock) = lock {
            lock.done()?;
        }
    }
    report.copied.sort();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_packages_own_lines() {
        let list = b"foo,./usr/bin/a\nfoobar,./usr/bin/b\nfoo,./\nfoo,./x y\n";
        assert_eq!(own_paths(list, "foo"), [&b"usr/bin/a"[..], b"x y"]);
    }
}
