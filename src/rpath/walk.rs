//! Listing the regular files of a tree for the RPATH commands, like
//! `find DIR -type f` with `-prune`s, but sorted and without following
//! symlinks anywhere below the starting directory, through the bounded
//! handles of a [`Walker`].

use crate::fsx::Errno;

use crate::fsx::{DirFd, FileKey, FsError, Kind, Meta};
use crate::walk::Walker;

/// One regular file found by a walk.
#[derive(Clone, Debug)]
pub struct FileEntry {
    /// Path relative to the walk's base directory, `/`-separated.
    pub rel: Vec<u8>,
    /// Inode identity (hard-linked names share it).
    pub key: FileKey,
    /// Mode, owner and mtime, kept when the file is rewritten.
    pub meta: Meta,
}

/// Returns the regular files below `base/start` (paths relative to `base`),
/// sorted by path, skipping every path listed in `prune` (relative to
/// `base`) and everything below it. A missing or non-directory `start`
/// yields nothing, as `find` with its errors silenced does.
pub fn regular_files(
    base: &DirFd,
    start: &[u8],
    prune: &[Vec<u8>],
) -> Result<Vec<FileEntry>, FsError> {
    let top = match base.open_beneath(start) {
        Ok(d) => d,
        Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let walker = Walker::from_dir(top);
    let mut out = Vec::new();
    let mut stack = vec![(0, start.to_vec())];
    while let Some((node, rel)) = stack.pop() {
        let dir = walker.open(node)?;
        for (name, _) in dir.list()? {
            let mut child = rel.clone();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(&name);
            if prune.contains(&child) {
                continue;
            }
            // d_type is not trusted for regular files: the inode key and
            // metadata are needed anyway.
            let Some(st) = dir.stat(&name)? else { continue };
            match Kind::from_mode(st.st_mode) {
                Kind::Dir => stack.push((walker.add(node, &name), child)),
                Kind::File => out.push(FileEntry {
                    rel: child,
                    key: FileKey::of(&st),
                    meta: Meta::of(&st),
                }),
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sorted_files_and_prunes() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::create_dir_all(p.join("a/skip")).unwrap();
        std::fs::create_dir_all(p.join("b")).unwrap();
        std::fs::write(p.join("b/2"), b"").unwrap();
        std::fs::write(p.join("a/1"), b"").unwrap();
        std::fs::write(p.join("a/skip/3"), b"").unwrap();
        std::os::unix::fs::symlink("/etc", p.join("a/l")).unwrap();
        let d = DirFd::open(p).unwrap();
        let got: Vec<_> = regular_files(&d, b"", &[b"a/skip".to_vec()])
            .unwrap()
            .into_iter()
            .map(|e| String::from_utf8(e.rel).unwrap())
            .collect();
        assert_eq!(got, ["a/1", "b/2"]);
        assert!(regular_files(&d, b"missing", &[]).unwrap().is_empty());
        assert!(regular_files(&d, b"a/l", &[]).unwrap().is_empty());
    }
}
