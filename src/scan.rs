//! Reading a source tree into memory, cheaply.
//!
//! A tree is read depth-first with `openat(O_NOFOLLOW)` and `getdents`
//! through a [`Walker`] (so a bounded number of directory handles, whatever
//! the tree's width or depth), parents always before their children. Entry types and
//! inode numbers come from the directory entries themselves: a regular file
//! is never `stat`ed unless the caller asks for file metadata (copy mode,
//! manifests) or the filesystem does not report `d_type`. Directories are
//! `fstat`ed once (their mode, owner and mtime are merged). Symlink targets
//! and metadata are read lazily, only for the entries that need them, and
//! always relative to the directory's handle (`readlinkat`, `fstatat`), so
//! paths longer than `PATH_MAX` work.
//!
//! With the tree's manifest ([`scan_known`]), a directory that prepare
//! created and nobody changed since (same inode and ctime, no other
//! subdirectory: [`DirRecord::unchanged`]) is not read: its names, types
//! and inode numbers come from the manifest, which are exactly what
//! `getdents` would give (an in-place edit keeps the inode; anything else
//! changes the directory's ctime). Only that is taken from it: sizes,
//! modes and mtimes recorded may be stale and are read from the entry
//! when needed, as for any scanned entry. Each recorded subdirectory of a
//! trusted directory is `lstat`ed by its full path to check its record,
//! believed only where that finds the recorded inode (a directory has one
//! place: whatever the path went through, that inode's metadata is its
//! own), else through its parent's handle; so a trusted directory is
//! normally not opened at all. A manifest that
//! turns out damaged, or a recorded entry that is not there, makes the
//! tree be read again in full.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::fsx::{self, DirFd, FsError, Kind, Meta};
use crate::manifest::{DirRecord, Group, Index};
use crate::walk::Walker;

/// One non-root entry of a scanned directory.
#[derive(Debug, Clone)]
pub struct SrcEntry {
    /// The file name.
    pub name: Box<[u8]>,
    /// Its type.
    pub kind: Kind,
    /// Its inode number (from `d_ino`, or `st_ino` when stat'ed).
    pub ino: u64,
    /// For a directory: the index of its own [`SrcDir`] in the tree.
    pub child: u32,
    /// For a symlink: the target text, read on first use
    /// ([`SrcTree::target`]): most symlinks of a dependency lose to a later
    /// dependency's identical copy and are never needed.
    pub target: OnceLock<Box<[u8]>>,
    /// Metadata, when known (when asked with [`ScanOptions::stat_files`];
    /// else see [`SrcTree::meta_of`]).
    pub meta: Option<Meta>,
    /// Size in bytes, when metadata is known.
    pub size: u64,
    /// Link count, when metadata is known.
    pub nlink: u64,
}

/// One scanned directory.
#[derive(Debug, Clone)]
pub struct SrcDir {
    /// Path relative to the tree root (`/`-separated, empty for the root).
    pub rel: Box<[u8]>,
    /// Its inode number as its parent's entry gave it (0 for the root and
    /// where not known).
    pub ino: u64,
    /// The directory's own metadata, read on first use
    /// ([`SrcTree::dir_meta`]): only the last source providing a directory
    /// gives it its metadata, so most are never needed.
    pub meta: OnceLock<Meta>,
    /// Its entries, in `getdents` order.
    pub entries: Vec<SrcEntry>,
}

impl SrcDir {
    /// Its own name (the last component of `rel`; empty for the root).
    pub fn name(&self) -> &[u8] {
        fsx::split_rel(&self.rel).1
    }
}

/// A whole scanned tree.
#[derive(Debug)]
pub struct SrcTree {
    /// The root as given.
    pub root: PathBuf,
    /// `st_dev` of the root; inode identity is `(dev, ino)`.
    pub dev: u64,
    /// Directories in pre-order; index 0 is the root.
    pub dirs: Vec<SrcDir>,
    /// The directories' handles, by index (see [`crate::walk`]).
    walker: Walker,
    /// Read without a manifest because none was beside it (see
    /// [`crate::merge::scan_sources`]): nothing needs to look for it again.
    pub no_manifest: bool,
}

/// What to read besides names and types.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScanOptions {
    /// `lstat` every non-directory entry too.
    pub stat_files: bool,
    /// Take the names of directories a tree's manifest describes from it
    /// ([`scan_known`]; not with `stat_files`).
    pub manifests: bool,
    /// Keep the directory handles the scan opened with the tree (within
    /// the process's budget) instead of closing them when it ends: for a
    /// merge of few trees, which reads the same directories again. With
    /// many trees their handles would take the budget the merge's own
    /// walks need.
    pub keep_handles: bool,
}

impl SrcTree {
    /// Returns the number of non-directory entries.
    pub fn leaf_count(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| d.entries.iter().filter(|e| e.kind != Kind::Dir).count())
            .sum()
    }

    /// Returns the open handle of directory `dir` (see [`crate::walk`]):
    /// every later read of the source goes through it, never by path.
    pub fn dir(&self, dir: usize) -> Result<Arc<DirFd>, FsError> {
        self.walker.open(dir as u32)
    }

    /// Keeps at most `n` of the directory handles the scan left open (see
    /// [`crate::walk::Walker::keep_at_most`]).
    pub fn keep_handles(&self, n: usize) {
        self.walker.keep_at_most(n);
    }

    /// Returns a symlink's target, reading it on first use.
    pub fn target<'e>(&self, dir: usize, e: &'e SrcEntry) -> Result<&'e [u8], FsError> {
        if let Some(t) = e.target.get() {
            return Ok(t);
        }
        let t = self.dir(dir)?.readlink(&e.name)?.into_boxed_slice();
        Ok(e.target.get_or_init(|| t))
    }

    /// Returns a directory's metadata, reading it on first use
    /// (`SrcTree::stat_known`, else `fstat` of its handle).
    pub fn dir_meta(&self, dir: usize) -> Result<Meta, FsError> {
        let d = &self.dirs[dir];
        if let Some(m) = d.meta.get() {
            return Ok(*m);
        }
        let st = match self.stat_known(&d.rel, b"", d.ino) {
            Some(st) => st,
            None => self.dir(dir)?.stat_self()?,
        };
        Ok(*d.meta.get_or_init(|| Meta::of(&st)))
    }

    /// `lstat` of the entry `name` of directory `dir` by its full path,
    /// believed only if it finds the inode `ino` the scan found there
    /// (`None` otherwise: the caller reads it through the directory's
    /// handle, which reports what is wrong).
    ///
    /// One call where the handle may first need opening again (a merge of
    /// many trees cannot keep every directory of every tree open), and as
    /// safe: a directory can have only one place, so a path that reaches
    /// the scanned inode, whatever a symlink swapped in on the way, reads
    /// that very inode's metadata, and one that reaches another inode
    /// (a symlink, a replaced entry, a mount) is not believed. A path
    /// longer than `PATH_MAX` fails and takes the handle's way too.
    pub fn stat_at_path(&self, dir: usize, name: &[u8], ino: u64) -> Option<crate::fsx::FileStat> {
        self.stat_known(&self.dirs[dir].rel, name, ino)
    }

    /// `lstat` of the recorded directory `rel` by its full path, believed
    /// only if it finds the recorded inode (see [`Self::stat_at_path`]):
    /// checking a trusted directory's subdirectories this way spares
    /// opening it (an `openat` and a `close` for one or two `fstatat`s
    /// through its handle). `None` leaves the check to the handle.
    fn stat_recorded(&self, rel: &[u8], record: DirRecord) -> Option<crate::fsx::FileStat> {
        let st = self.stat_known(rel, b"", record.key.ino)?;
        (Kind::from_mode(st.st_mode) == Kind::Dir && st.st_dev == record.key.dev).then_some(st)
    }

    fn stat_known(&self, rel: &[u8], name: &[u8], ino: u64) -> Option<crate::fsx::FileStat> {
        if ino == 0 {
            return None;
        }
        // Built in one allocation: this runs once per file of a re-run.
        use std::os::unix::ffi::OsStrExt;
        let root = self.root.as_os_str().as_bytes();
        let mut p = Vec::with_capacity(root.len() + rel.len() + name.len() + 2);
        p.extend_from_slice(root);
        for part in [rel, name] {
            if !part.is_empty() {
                p.push(b'/');
                p.extend_from_slice(part);
            }
        }
        let st = fsx::lstat(Path::new(std::ffi::OsStr::from_bytes(&p))).ok()?;
        (st.st_ino == ino && st.st_dev == self.dev).then_some(st)
    }

    /// Returns an entry's metadata, `fstatat`ing it if the scan did not.
    pub fn meta_of(&self, dir: usize, e: &SrcEntry) -> Result<Meta, FsError> {
        if let Some(m) = e.meta {
            return Ok(m);
        }
        let d = self.dir(dir)?;
        let st = d.stat(&e.name)?.ok_or_else(|| {
            FsError::new(
                "inspecting",
                d.child_path(&e.name),
                crate::fsx::Errno::ENOENT,
            )
        })?;
        Ok(Meta::of(&st))
    }

    /// Returns the absolute path of an entry (for messages and plans).
    pub fn path_of(&self, dir: usize, name: &[u8]) -> PathBuf {
        fsx::join(&fsx::join(&self.root, &self.dirs[dir].rel), name)
    }
}

/// Reads the tree at `root` (which must be a directory; a symlink to one is
/// followed, as rsync follows `SRC/`).
pub fn scan(root: &Path, opts: ScanOptions) -> Result<SrcTree, FsError> {
    match scan_once(root, opts, None) {
        Ok(tree) => Ok(tree),
        Err(Interrupted::Fs(e)) => Err(e),
        Err(Interrupted::Untrusted) => unreachable!("BUG: no manifest to distrust"),
    }
}

/// Reads the tree at `root` as [`scan`] does, taking the names of the
/// directories its manifest `index` describes from it (see the module
/// comment). `index` must be the manifest of this very tree, not of a copy
/// of it ([`crate::manifest::identity_lost`]).
pub fn scan_known(root: &Path, opts: ScanOptions, index: &Index<'_>) -> Result<SrcTree, FsError> {
    if opts.stat_files {
        return scan(root, opts);
    }
    match scan_once(root, opts, Some(index)) {
        Ok(tree) => Ok(tree),
        Err(Interrupted::Fs(e)) => Err(e),
        Err(Interrupted::Untrusted) => scan(root, opts),
    }
}

/// Why a scan stopped.
enum Interrupted {
    Fs(FsError),
    /// The manifest does not describe the tree after all (a bad line, a
    /// recorded entry missing): read it again without it.
    Untrusted,
}

impl From<FsError> for Interrupted {
    fn from(e: FsError) -> Interrupted {
        Interrupted::Fs(e)
    }
}

/// The group of `rel` if the manifest recorded it as a directory prepare
/// created and `st` shows it unchanged since.
fn trusted<'i, 'a>(
    index: Option<&'i Index<'a>>,
    rel: &[u8],
    st: &crate::fsx::FileStat,
) -> Option<&'i Group<'a>> {
    let g = index?.group(rel)?;
    let d: DirRecord = g.dir?;
    d.unchanged(st, g.subdirs.len()).then_some(g)
}

/// The entries of a trusted directory, from its records: names, types and
/// inode numbers (subdirectories' inode numbers are filled in when they
/// are checked).
fn recorded_entries(g: &Group<'_>, dev: u64) -> Result<Vec<SrcEntry>, Interrupted> {
    let mut entries = Vec::with_capacity(g.len() + g.subdirs.len());
    let entry = |name: &[u8], kind, ino| SrcEntry {
        name: name.into(),
        kind,
        ino,
        child: 0,
        target: OnceLock::new(),
        meta: None,
        size: 0,
        nlink: 0,
    };
    for run in &g.runs {
        for rec in run.records() {
            let (name, rec) = rec.map_err(|_| Interrupted::Untrusted)?;
            if rec.kind == Kind::Dir || rec.key.dev != dev {
                return Err(Interrupted::Untrusted);
            }
            entries.push(entry(&name, rec.kind, rec.key.ino));
        }
    }
    for name in &g.subdirs {
        entries.push(entry(name, Kind::Dir, 0));
    }
    // A name twice (only a hand-edited manifest has that) is not what a
    // directory can hold.
    let mut names: Vec<&[u8]> = entries.iter().map(|e| &*e.name).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(Interrupted::Untrusted);
    }
    Ok(entries)
}

fn scan_once(
    root: &Path,
    opts: ScanOptions,
    index: Option<&Index<'_>>,
) -> Result<SrcTree, Interrupted> {
    let walker = Walker::new(root);
    let top = walker.open(0)?;
    let st = top.stat_self()?;
    drop(top);
    let mut tree = SrcTree {
        root: root.to_path_buf(),
        dev: st.st_dev,
        dirs: Vec::new(),
        walker,
        no_manifest: false,
    };
    tree.dirs.push(SrcDir {
        rel: Box::from(&b""[..]),
        ino: 0,
        meta: OnceLock::from(Meta::of(&st)),
        entries: Vec::new(),
    });
    // Depth first; each directory read is opened (through the walker's
    // bounded cache), read whole, and its handle left to the cache. A
    // trusted directory is opened only to check its subdirectories.
    // Each pending directory carries its parent's handle while it is
    // within HELD levels of the root, so it is opened with one `openat`
    // from it whatever the cache kept (with many trees scanned at once a
    // cache keeps only a few handles, and climbing from the root again
    // cost thousands of calls). Those handles are one per level, not per
    // pending directory (siblings share their parent's), so a thread holds
    // at most HELD of them.
    type Pending<'g, 'a> = (usize, Option<&'g Group<'a>>, Option<Arc<DirFd>>, usize);
    let mut stack: Vec<Pending<'_, '_>> = vec![(0, trusted(index, b"", &st), None, 0)];
    while let Some((idx, group, parent, depth)) = stack.pop() {
        // Where the scan's handles are not kept past it, one opened from
        // the parent's is not offered to the cache either (it would only
        // evict others).
        let open = |idx: usize, name: &[u8]| match &parent {
            Some(p) if !opts.keep_handles => Ok(Arc::new(p.open_child(name)?)),
            Some(p) => tree.walker.open_below(p, idx as u32),
            None => tree.walker.open(idx as u32),
        };
        // A trusted directory is not opened unless a subdirectory's
        // check needs its handle (see `stat_recorded`).
        let (mut entries, mut dir) = match group {
            Some(g) => (recorded_entries(g, tree.dev)?, None),
            None => {
                let dir = open(idx, tree.dirs[idx].name())?;
                (read_entries(&dir, opts)?, Some(dir))
            }
        };
        let rel = tree.dirs[idx].rel.clone();
        for ent in entries.iter_mut().filter(|e| e.kind == Kind::Dir) {
            let sub_rel = child_rel(&rel, &ent.name);
            let meta = OnceLock::new();
            let mut sub_group = None;
            let record = index.and_then(|ix| ix.group(&sub_rel)).and_then(|g| g.dir);
            if let Some(r) = record {
                // By path while the directory is not open (see
                // `stat_recorded`), else through its handle.
                let mut st = dir
                    .is_none()
                    .then(|| tree.stat_recorded(&sub_rel, r))
                    .flatten();
                if st.is_none() {
                    let d = match dir.take() {
                        Some(d) => d,
                        None => open(idx, fsx::split_rel(&rel).1)?,
                    };
                    st = d.stat(&ent.name)?;
                    dir = Some(d);
                }
                match st.filter(|st| Kind::from_mode(st.st_mode) == Kind::Dir) {
                    Some(st) => {
                        ent.ino = st.st_ino;
                        let _ = meta.set(Meta::of(&st));
                        sub_group = trusted(index, &sub_rel, &st);
                    }
                    // A trusted directory's subdirectory is gone: the
                    // filesystem does not keep ctimes as the rule needs.
                    None if group.is_some() => return Err(Interrupted::Untrusted),
                    // Changed since it was read: opening it reports it.
                    None => {}
                }
            } else if group.is_some() {
                // A subdirectory the manifest names without recording it:
                // only a hand-edited manifest has that.
                return Err(Interrupted::Untrusted);
            }
            ent.child = tree.walker.add(idx as u32, &ent.name);
            debug_assert_eq!(ent.child as usize, tree.dirs.len());
            tree.dirs.push(SrcDir {
                rel: sub_rel,
                ino: ent.ino,
                meta,
                entries: Vec::new(),
            });
            let held = dir.as_ref().filter(|_| depth < HELD);
            stack.push((ent.child as usize, sub_group, held.cloned(), depth + 1));
        }
        drop(parent);
        tree.dirs[idx].entries = entries;
    }
    // The handles kept while reading are of the last directories read;
    // what comes next (the merge) needs others, reached from the root
    // (kept: one `openat2` reaches any directory from it), unless the
    // caller keeps them all (see `ScanOptions::keep_handles`).
    if !opts.keep_handles {
        tree.walker.keep_at_most(1);
    }
    Ok(tree)
}

/// Directory handles a scan holds for the directories still to read: one
/// per level down to this depth (within the descriptors each worker thread
/// may hold, [`crate::limits::PER_THREAD`], less the one being read);
/// deeper directories are reached through the walker's cache.
const HELD: usize = crate::limits::PER_THREAD as usize - 2;

/// Reads the entries of the directory `dir` with `getdents`.
fn read_entries(dir: &DirFd, opts: ScanOptions) -> Result<Vec<SrcEntry>, FsError> {
    let mut entries = Vec::new();
    // Each directory is read once, right after it is first opened.
    for raw in dir.fresh_entries()? {
        let kind = raw.kind;
        let mut ent = SrcEntry {
            name: raw.name.into_boxed_slice(),
            kind: kind.unwrap_or(Kind::Other),
            ino: raw.ino,
            child: 0,
            target: OnceLock::new(),
            meta: None,
            size: 0,
            nlink: 0,
        };
        let need_stat = match kind {
            None => true,
            Some(Kind::Dir) => false,
            Some(_) => opts.stat_files,
        };
        if need_stat {
            let st = dir.stat(&ent.name)?.ok_or_else(|| {
                FsError::new(
                    "inspecting",
                    dir.child_path(&ent.name),
                    crate::fsx::Errno::ENOENT,
                )
            })?;
            let meta = Meta::of(&st);
            ent.kind = meta.kind;
            ent.ino = st.st_ino;
            ent.size = st.st_size as u64;
            ent.nlink = st.st_nlink;
            ent.meta = Some(meta);
        }
        entries.push(ent);
    }
    Ok(entries)
}

/// Returns `rel/name` (or `name` at the root).
pub fn child_rel(rel: &[u8], name: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(rel.len() + 1 + name.len());
    if !rel.is_empty() {
        v.extend_from_slice(rel);
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn idx_of(tree: &SrcTree, rel: &[u8]) -> usize {
        tree.dirs.iter().position(|d| &*d.rel == rel).unwrap()
    }

    #[test]
    fn metadata_by_path_only_for_the_scanned_inode() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("tree");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), b"x").unwrap();
        std::fs::set_permissions(root.join("a/b"), std::fs::Permissions::from_mode(0o750)).unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir_all(outside.join("b")).unwrap();
        std::fs::write(outside.join("b/f"), b"secret").unwrap();
        std::fs::set_permissions(outside.join("b"), std::fs::Permissions::from_mode(0o701))
            .unwrap();

        let tree = scan(&root, ScanOptions::default()).unwrap();
        let b = idx_of(&tree, b"a/b");
        let f = tree.dirs[b]
            .entries
            .iter()
            .find(|e| &*e.name == b"f")
            .unwrap();
        let st = tree.stat_at_path(b, b"f", f.ino).unwrap();
        assert_eq!(st.st_ino, f.ino);
        // A symlink swapped in on the way reaches other inodes: not believed.
        std::fs::rename(root.join("a"), t.path().join("a.old")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a")).unwrap();
        assert!(tree.stat_at_path(b, b"f", f.ino).is_none());
        // The directory's metadata then comes through its handle, which
        // refuses the symlink instead of reporting the outside's mode.
        let e = tree.dir_meta(b).unwrap_err();
        assert!(
            matches!(e.errno(), fsx::Errno::ELOOP | fsx::Errno::ENOTDIR),
            "{e}"
        );
        // Put back, the scanned directory is found again by path.
        std::fs::remove_file(root.join("a")).unwrap();
        std::fs::rename(t.path().join("a.old"), root.join("a")).unwrap();
        assert_eq!(tree.dir_meta(b).unwrap().mode & 0o7777, 0o750);
    }

    #[test]
    fn a_tree_deeper_than_the_held_handles_is_read_whole() {
        let t = tempfile::tempdir().unwrap();
        let mut p = t.path().to_path_buf();
        for i in 0..40 {
            p.push(format!("d{i}"));
            std::fs::create_dir(&p).unwrap();
            for j in 0..3 {
                std::fs::create_dir(p.join(format!("s{j}"))).unwrap();
            }
        }
        let tree = scan(t.path(), ScanOptions::default()).unwrap();
        assert_eq!(tree.dirs.len(), 1 + 40 * 4);
        let deepest = idx_of(&tree, tree.dirs.last().unwrap().rel.as_ref());
        assert!(tree.dir(deepest).is_ok());
    }
}
