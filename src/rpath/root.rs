//! A tree root in which RPATH entries and library names are resolved the
//! way the loader will see them once the tree is the system root.
//!
//! Invariants:
//! - paths are root-relative byte strings without a leading slash (`""` is
//!   the root itself); a symlink's absolute target is taken relative to the
//!   root and `..` never climbs above it, like a chroot, so a target tree's
//!   `/usr/lib -> /lib` resolves inside the tree, never on the build host;
//! - every component is examined with `fstatat(AT_SYMLINK_NOFOLLOW)` below
//!   the root's descriptor, and files are opened with `openat2`
//!   (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`) once resolved, so nothing
//!   outside the root is ever read;
//! - results are cached per path: thousands of files share a handful of
//!   RPATH directories and libraries.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::elf::Class;
use crate::fsx::{self, DirFd, FileStat, FsError, Kind};

/// Symlink hops allowed in one resolution (the kernel's limit).
const MAX_HOPS: u32 = 40;

/// What a library file looks like, for machine and class matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LibHeader {
    /// ELF class.
    pub class: Class,
    /// `e_machine`.
    pub machine: u16,
}

/// A library name looked up in one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LibLookup {
    /// Nothing by that name.
    Missing,
    /// Something that is not a readable ELF file (the loader skips it).
    NotElf,
    /// An ELF file.
    Elf(LibHeader),
}

/// A resolution result: canonical root-relative path and kind, if any.
type Resolved = Option<(Vec<u8>, Kind)>;

/// A directory tree in which paths are resolved chroot-style.
pub struct Root {
    dir: DirFd,
    resolved: Mutex<HashMap<Vec<u8>, Resolved>>,
    libs: Mutex<HashMap<Vec<u8>, LibLookup>>,
}

impl Root {
    /// Opens the root directory named by the user.
    pub fn open(path: &Path) -> Result<Root, FsError> {
        Ok(Root {
            dir: DirFd::open(path)?,
            resolved: Mutex::new(HashMap::new()),
            libs: Mutex::new(HashMap::new()),
        })
    }

    /// Returns the path the root was opened by.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Returns the descriptor of the root directory.
    pub fn dir(&self) -> &DirFd {
        &self.dir
    }

    /// Returns the host path of a root-relative path, for messages.
    pub fn display(&self, rel: &[u8]) -> PathBuf {
        fsx::join(self.dir.path(), rel)
    }

    /// Resolves a root-relative path (leading slashes ignored), following
    /// symlinks inside the root. Returns the canonical root-relative path
    /// and the kind of what it names, or `None` if it does not exist.
    pub fn resolve(&self, path: &[u8]) -> Option<(Vec<u8>, Kind)> {
        if let Some(hit) = self.resolved.lock().expect("BUG: poisoned").get(path) {
            return hit.clone();
        }
        let result = self.resolve_uncached(path);
        self.resolved
            .lock()
            .expect("BUG: poisoned")
            .insert(path.to_vec(), result.clone());
        result
    }

    fn resolve_uncached(&self, path: &[u8]) -> Option<(Vec<u8>, Kind)> {
        let mut todo: Vec<Vec<u8>> = components_rev(path);
        let mut done: Vec<Vec<u8>> = Vec::new();
        let mut kind = Kind::Dir;
        // Thousands of names are looked up in the same few directories:
        // resolve the parent through the cache and only the last component
        // here. The walk below is sequential, so its state after the parent
        // is exactly the parent's resolution.
        if todo.len() > 1 {
            let last = todo.remove(0);
            let parent: Vec<&[u8]> = todo.iter().rev().map(Vec::as_slice).collect();
            let (p, k) = self.resolve(&parent.join(&b'/'))?;
            done = p
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            kind = k;
            todo = vec![last];
        }
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if kind != Kind::Dir {
                return None; // a component below a non-directory
            }
            if c == b".." {
                done.pop();
                continue;
            }
            done.push(c);
            let rel = done.join(&b'/');
            let st = self.lstat(&rel)?;
            kind = Kind::from_mode(st.st_mode);
            if kind == Kind::Symlink {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                let target = self.dir.readlink(&rel).ok()?;
                done.pop();
                if target.first() == Some(&b'/') {
                    done.clear();
                }
                todo.extend(components_rev(&target));
                kind = Kind::Dir;
            }
        }
        Some((done.join(&b'/'), kind))
    }

    fn lstat(&self, rel: &[u8]) -> Option<FileStat> {
        match fsx::lstat_at(self.dir.as_fd(), rel) {
            // Longer than PATH_MAX: from the parent, reached one
            // component at a time.
            Err(fsx::Errno::ENAMETOOLONG) => {
                let (parent, name) = split_last(rel);
                self.dir.open_beneath(parent).ok()?.stat(name).ok()?
            }
            r => r.ok(),
        }
    }

    /// Opens a regular file by a root-relative path that contains no
    /// symlink (a walk result or a resolved path).
    pub fn open_file(&self, rel: &[u8]) -> Result<File, FsError> {
        open_beneath(&self.dir, rel)
    }

    /// Looks up `name` in the root-relative directory `dir` the way the
    /// loader does: the name may be a symlink; what it leads to must be a
    /// regular ELF file to count.
    pub fn lookup_lib(&self, dir: &[u8], name: &[u8]) -> LibLookup {
        let mut path = dir.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        if let Some(hit) = self.libs.lock().expect("BUG: poisoned").get(&path) {
            return hit.clone();
        }
        let result = match self.resolve(&path) {
            None => LibLookup::Missing,
            Some((real, Kind::File)) => read_lib_header(self, &real),
            Some(_) => LibLookup::NotElf,
        };
        self.libs
            .lock()
            .expect("BUG: poisoned")
            .insert(path, result.clone());
        result
    }

    /// Returns true if and only if `name` exists in `dir` (following
    /// symlinks inside the root), whatever it is: the existence test
    /// Buildroot's patchelf patch applies.
    pub fn exists_in(&self, dir: &[u8], name: &[u8]) -> bool {
        !matches!(self.lookup_lib(dir, name), LibLookup::Missing)
    }

    /// Returns the `stat` of a canonical root-relative path.
    pub fn stat(&self, rel: &[u8]) -> Option<FileStat> {
        if rel.is_empty() {
            return self.dir.stat_self().ok();
        }
        self.lstat(rel)
    }
}

fn read_lib_header(root: &Root, real: &[u8]) -> LibLookup {
    let Ok(f) = root.open_file(real) else {
        return LibLookup::NotElf;
    };
    let mut h = [0u8; 20];
    if std::os::unix::fs::FileExt::read_exact_at(&f, &mut h, 0).is_err()
        || !crate::elf::has_magic(&h)
    {
        return LibLookup::NotElf;
    }
    let class = match h[4] {
        1 => Class::Elf32,
        2 => Class::Elf64,
        _ => return LibLookup::NotElf,
    };
    let machine = match h[5] {
        2 => u16::from_be_bytes([h[18], h[19]]),
        _ => u16::from_le_bytes([h[18], h[19]]),
    };
    LibLookup::Elf(LibHeader { class, machine })
}

/// Opens a file below `dir` by a relative path, refusing symlinks in every
/// component and any escape from `dir`.
pub fn open_beneath(dir: &DirFd, rel: &[u8]) -> Result<File, FsError> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    match openat2(
        dir.as_fd(),
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    ) {
        Ok(fd) => Ok(File::from(fd)),
        // Kernels before 5.6 have no openat2, and no path longer than
        // PATH_MAX can be given to it: walk the components instead.
        Err(rustix::io::Errno::NOSYS | rustix::io::Errno::NAMETOOLONG) => {
            let (parent, name) = split_last(rel);
            dir.open_beneath(parent)?.open_file(name)
        }
        Err(e) => Err(FsError::new(
            "opening",
            dir.child_path(rel),
            crate::fsx::Errno::from(e),
        )),
    }
}

/// Splits a relative path into its parent and last component.
fn split_last(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&b""[..], rel),
    }
}

/// Splits a path into its components, reversed (so `pop` yields them in
/// order), dropping empty and `.` components.
fn components_rev(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolves_inside_the_root_like_a_chroot() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::create_dir_all(p.join("usr/lib/sub")).unwrap();
        std::fs::write(p.join("usr/lib/libz.so.1"), b"x").unwrap();
        symlink("/usr/lib", p.join("lib")).unwrap();
        symlink("../../..", p.join("usr/lib/sub/up")).unwrap();
        symlink("loop", p.join("loop")).unwrap();
        symlink("libz.so.1", p.join("usr/lib/libz.so")).unwrap();
        let r = Root::open(p).unwrap();
        assert_eq!(r.resolve(b"/lib"), Some((b"usr/lib".to_vec(), Kind::Dir)));
        assert_eq!(r.resolve(b"lib/../etc"), None);
        assert_eq!(
            r.resolve(b"/usr/lib/sub/up/usr/lib"),
            Some((b"usr/lib".to_vec(), Kind::Dir))
        );
        assert_eq!(r.resolve(b"/"), Some((Vec::new(), Kind::Dir)));
        assert_eq!(r.resolve(b"/loop"), None);
        assert_eq!(r.resolve(b"/usr/lib/libz.so/x"), None);
        assert_eq!(
            r.resolve(b"/lib/libz.so"),
            Some((b"usr/lib/libz.so.1".to_vec(), Kind::File))
        );
        assert!(r.exists_in(b"usr/lib", b"libz.so"));
        assert_eq!(r.lookup_lib(b"usr/lib", b"libz.so"), LibLookup::NotElf);
        assert_eq!(r.lookup_lib(b"usr/lib", b"libq.so"), LibLookup::Missing);
    }

    #[test]
    fn open_beneath_refuses_symlinks() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), b"x").unwrap();
        symlink("d", t.path().join("l")).unwrap();
        let d = DirFd::open(t.path()).unwrap();
        assert!(open_beneath(&d, b"d/f").is_ok());
        assert!(open_beneath(&d, b"l/f").is_err());
        assert!(open_beneath(&d, b"../x").is_err());
    }
}
