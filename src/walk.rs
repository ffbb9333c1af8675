//! The one way ppd reaches the directories of a tree: by number, through a
//! bounded cache of open directory handles, each opened relative to its
//! parent with `openat(O_DIRECTORY | O_NOFOLLOW)`.
//!
//! Every walk (the merge's source scan and destination writes, the RPATH
//! commands, `file-list`, `fixup-paths`) names a directory by a node number
//! whose parent and name a [`Layout`] knows. [`DirCache::open`] returns its
//! handle: a kept one, or one opened from the nearest kept ancestor (or the
//! root, opened by the user's path) one component at a time. So:
//! - however wide or deep a tree, a walk holds a bounded number of
//!   directory handles: the kept ones, at most [`LOCAL_CAP`] per cache and
//!   [`crate::limits::retained_dirs`] for the whole process, plus those its
//!   callers are using at the moment; a handle that cannot be kept is
//!   simply closed after use and opened again when needed;
//! - no path is ever resolved below a root: paths longer than `PATH_MAX`
//!   work, and a symlink swapped in for a directory is refused (ELOOP or
//!   ENOTDIR), never followed;
//! - each handle carries the user's path of its directory, so every error
//!   names that path.
//!
//! Callers read a directory's entries into memory when they first open it
//! ([`DirFd::entries`]); a handle is needed again only for `fstatat`,
//! `readlinkat`, `openat` and `linkat` of its children. [`Walker`] is the
//! cache and the node table together, shared between threads, for walks
//! that discover the tree as they go.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::fsx::{DirFd, Result};

/// The most handles one cache keeps.
pub const LOCAL_CAP: usize = 64;

/// Handles kept by all caches of the process together.
static RETAINED: AtomicUsize = AtomicUsize::new(0);

/// Caches alive: each may keep its share of the process's budget (and at
/// least [`MIN_SHARE`]), so that the trees of sixty dependencies do not
/// leave the last ones without any handle to reuse.
static CACHES: AtomicUsize = AtomicUsize::new(0);

/// The fewest handles a cache may keep while the budget allows.
const MIN_SHARE: usize = 4;

/// Where each directory of a tree sits.
pub trait Layout {
    /// Returns the parent and own name of directory `n`, or `None` for the
    /// root.
    fn parent(&self, n: u32) -> Option<(u32, &[u8])>;

    /// Opens the root.
    fn open_root(&self) -> Result<DirFd>;
}

struct Slot {
    node: u32,
    fd: Arc<DirFd>,
    used: u64,
}

/// Open directory handles kept for reuse, least recently used dropped
/// first, the root last. Not shared between threads: see [`Walker`] for
/// that.
pub struct DirCache {
    slots: Vec<Slot>,
    tick: u64,
}

impl std::fmt::Debug for DirCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DirCache({} open)", self.slots.len())
    }
}

impl Drop for DirCache {
    fn drop(&mut self) {
        RETAINED.fetch_sub(self.slots.len(), Ordering::Relaxed);
        CACHES.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for DirCache {
    fn default() -> DirCache {
        CACHES.fetch_add(1, Ordering::Relaxed);
        DirCache {
            slots: Vec::new(),
            tick: 0,
        }
    }
}

impl DirCache {
    /// An empty cache.
    pub fn new() -> DirCache {
        DirCache::default()
    }

    /// Returns the handle of directory `n` of `layout`.
    pub fn open(&mut self, layout: &impl Layout, n: u32) -> Result<Arc<DirFd>> {
        if let Some(fd) = self.lookup(n) {
            return Ok(fd);
        }
        // Climb to a kept ancestor (or the root), then open back down.
        let mut below = Vec::new();
        let mut cur = n;
        let mut base = loop {
            match layout.parent(cur) {
                None => {
                    let fd = Arc::new(layout.open_root()?);
                    self.keep(cur, &fd);
                    break fd;
                }
                Some((p, _)) => {
                    below.push(cur);
                    if let Some(fd) = self.lookup(p) {
                        break fd;
                    }
                    cur = p;
                }
            }
        };
        // Several levels down: one `openat2` for them all (only the
        // directory asked for is kept, the ones on the way were not
        // opened), else one level at a time.
        if below.len() >= 2 {
            let mut rel = Vec::new();
            for &c in below.iter().rev() {
                let (_, name) = layout.parent(c).expect("BUG: only the root has no parent");
                if !rel.is_empty() {
                    rel.push(b'/');
                }
                rel.extend_from_slice(name);
            }
            if let Some(fd) = base.open_resolved(&rel) {
                let fd = Arc::new(fd);
                self.keep(n, &fd);
                return Ok(fd);
            }
        }
        for &c in below.iter().rev() {
            let (_, name) = layout.parent(c).expect("BUG: only the root has no parent");
            let fd = Arc::new(base.open_child(name)?);
            self.keep(c, &fd);
            base = fd;
        }
        Ok(base)
    }

    /// Closes kept handles, least recently used first and the root last,
    /// until at most `keep` are left.
    pub fn trim(&mut self, keep: usize) {
        if self.slots.len() <= keep {
            return;
        }
        // One sort, the root and the most recently used first, instead of
        // a search per handle closed.
        self.slots
            .sort_unstable_by_key(|s| std::cmp::Reverse((s.node == 0, s.used)));
        RETAINED.fetch_sub(self.slots.len() - keep, Ordering::Relaxed);
        self.slots.truncate(keep);
    }

    /// Closes every kept handle.
    pub fn clear(&mut self) {
        RETAINED.fetch_sub(self.slots.len(), Ordering::Relaxed);
        self.slots.clear();
    }

    fn lookup(&mut self, n: u32) -> Option<Arc<DirFd>> {
        self.tick += 1;
        let slot = self.slots.iter_mut().rev().find(|s| s.node == n)?;
        slot.used = self.tick;
        Some(Arc::clone(&slot.fd))
    }

    /// Keeps a handle if the budget allows, in a new slot or in place of
    /// the least recently used one; else it is closed when its last user
    /// drops it.
    fn keep(&mut self, n: u32, fd: &Arc<DirFd>) {
        self.tick += 1;
        let slot = Slot {
            node: n,
            fd: Arc::clone(fd),
            used: self.tick,
        };
        let share = crate::limits::retained_dirs() / CACHES.load(Ordering::Relaxed).max(1);
        let cap = share.clamp(MIN_SHARE, LOCAL_CAP);
        if self.slots.len() < cap && acquire() {
            self.slots.push(slot);
            return;
        }
        // The root is never given up for another: reopening it resolves
        // the user's whole path, and every other directory of the tree is
        // reached from it.
        if let Some(old) = self
            .slots
            .iter_mut()
            .filter(|s| s.node != 0)
            .min_by_key(|s| s.used)
        {
            *old = slot;
        }
    }
}

/// Takes one of the process's kept-handle slots, if one is free.
fn acquire() -> bool {
    let cap = crate::limits::retained_dirs();
    RETAINED
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < cap).then_some(n + 1)
        })
        .is_ok()
}

/// One directory found by a [`Walker`].
#[derive(Debug)]
struct Node {
    parent: u32,
    name: Box<[u8]>,
}

struct Nodes<'a> {
    root: &'a Path,
    root_fd: Option<&'a DirFd>,
    nodes: &'a [Node],
}

impl Layout for Nodes<'_> {
    fn parent(&self, n: u32) -> Option<(u32, &[u8])> {
        let node = &self.nodes[n as usize];
        (n != 0).then_some((node.parent, &node.name[..]))
    }

    fn open_root(&self) -> Result<DirFd> {
        match self.root_fd {
            Some(fd) => fd.try_clone(),
            None => DirFd::open(self.root),
        }
    }
}

struct Inner {
    nodes: Vec<Node>,
    cache: DirCache,
}

/// A tree being discovered: its directories by number (0 is the root,
/// opened by the user's path; symlinks in that path are followed, as rsync
/// and find follow their arguments) and a [`DirCache`] of their handles,
/// usable from several threads.
pub struct Walker {
    root: PathBuf,
    /// The root's handle, when the walk starts from an open directory.
    root_fd: Option<DirFd>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Walker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Walker({})", self.root.display())
    }
}

impl Walker {
    /// A walker of the tree at `root`, knowing only the root.
    pub fn new(root: &Path) -> Walker {
        Walker {
            root: root.to_path_buf(),
            root_fd: None,
            inner: Mutex::new(Inner {
                nodes: vec![Node {
                    parent: 0,
                    name: Box::default(),
                }],
                cache: DirCache::new(),
            }),
        }
    }

    /// A walker of the tree below the open directory `root` (which it keeps
    /// open: a directory reached through a tree is never opened by path).
    pub fn from_dir(root: DirFd) -> Walker {
        let mut w = Walker::new(root.path());
        w.root_fd = Some(root);
        w
    }

    /// The root as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the table half-updated: every
        // change is one push or one slot write.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the subdirectory `name` of directory `parent`; returns its
    /// number (numbers are handed out in the order of these calls).
    pub fn add(&self, parent: u32, name: &[u8]) -> u32 {
        let mut inner = self.lock();
        inner.nodes.push(Node {
            parent,
            name: name.into(),
        });
        (inner.nodes.len() - 1) as u32
    }

    /// Returns the handle of directory `n`.
    pub fn open(&self, n: u32) -> Result<Arc<DirFd>> {
        let mut guard = self.lock();
        let Inner { nodes, cache } = &mut *guard;
        let layout = Nodes {
            root: &self.root,
            root_fd: self.root_fd.as_ref(),
            nodes,
        };
        cache.open(&layout, n)
    }

    /// Returns the handle of directory `n`, opened from `parent`, the
    /// handle of its parent the caller holds, unless the cache keeps it:
    /// one `openat` however few handles the cache may keep.
    pub fn open_below(&self, parent: &DirFd, n: u32) -> Result<Arc<DirFd>> {
        let mut guard = self.lock();
        let Inner { nodes, cache } = &mut *guard;
        if let Some(fd) = cache.lookup(n) {
            return Ok(fd);
        }
        let fd = Arc::new(parent.open_child(&nodes[n as usize].name)?);
        cache.keep(n, &fd);
        Ok(fd)
    }

    /// Closes every kept handle (the walk is over; handles are opened
    /// again if needed).
    pub fn close_all(&self) {
        self.lock().cache.clear();
    }

    /// Keeps at most `n` handles (the root last to go), returning the
    /// others to the process's budget for the walks that come next.
    pub fn keep_at_most(&self, n: usize) {
        self.lock().cache.trim(n);
    }

    /// How many handles the walker keeps open now.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.lock().cache.slots.len()
    }
}

/// Lookups of many entries below one root by their relative paths (a
/// manifest's records, a conflict's path in several trees): each
/// directory is reached from the root one component at a time with
/// `O_NOFOLLOW`, through a bounded [`DirCache`], so a path longer than
/// `PATH_MAX` works and a symlink in place of a directory is never
/// followed. Entries sharing a directory share its handle.
pub struct ByPath {
    root: PathBuf,
    /// Directory paths already numbered.
    ids: std::collections::HashMap<Box<[u8]>, u32>,
    /// Parent and name of each numbered directory (0 is the root).
    nodes: Vec<Node>,
    cache: DirCache,
}

impl std::fmt::Debug for ByPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ByPath({})", self.root.display())
    }
}

impl ByPath {
    /// Lookups below the directory the user's path `root` names (symlinks
    /// in that path are followed, as for every tree argument).
    pub fn new(root: &Path) -> ByPath {
        ByPath {
            root: root.to_path_buf(),
            ids: std::collections::HashMap::new(),
            nodes: vec![Node {
                parent: 0,
                name: Box::default(),
            }],
            cache: DirCache::new(),
        }
    }

    /// The number of directory `rel` (`/`-separated, empty for the root),
    /// numbering it and its missing ancestors, from the nearest known one
    /// down (a loop, not a recursion per level).
    fn node(&mut self, rel: &[u8]) -> u32 {
        let mut todo = Vec::new();
        let mut cur = rel;
        let mut n = loop {
            if cur.is_empty() {
                break 0;
            }
            if let Some(&n) = self.ids.get(cur) {
                break n;
            }
            todo.push(cur);
            cur = crate::fsx::split_rel(cur).0;
        };
        for d in todo.into_iter().rev() {
            self.nodes.push(Node {
                parent: n,
                name: crate::fsx::split_rel(d).1.into(),
            });
            n = (self.nodes.len() - 1) as u32;
            self.ids.insert(d.into(), n);
        }
        n
    }

    /// The handle of directory `rel`.
    pub fn dir(&mut self, rel: &[u8]) -> Result<Arc<DirFd>> {
        let n = self.node(rel);
        let layout = Nodes {
            root: &self.root,
            root_fd: None,
            nodes: &self.nodes,
        };
        self.cache.open(&layout, n)
    }

    /// The directory holding `rel` and the entry's name there; `None` when
    /// a directory on the way is missing or is not a directory (a symlink
    /// included): nothing is at `rel` then.
    pub fn parent(&mut self, rel: &[u8]) -> Result<Option<(Arc<DirFd>, Vec<u8>)>> {
        let (dir, name) = crate::fsx::split_rel(rel);
        match self.dir(dir) {
            Ok(d) => Ok(Some((d, name.to_vec()))),
            Err(e) if gone(&e) && !dir.is_empty() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The birth time of the entry at `rel`, where the filesystem records
    /// one (`None` also when nothing is there).
    pub fn born(&mut self, rel: &[u8]) -> Option<crate::fsx::Mtime> {
        let (dir, name) = self.parent(rel).ok()??;
        dir.born(&name)
    }

    /// `lstat` of the entry at `rel`; `Ok(None)` if nothing is there.
    pub fn stat(&mut self, rel: &[u8]) -> Result<Option<crate::fsx::FileStat>> {
        match self.parent(rel)? {
            Some((d, name)) => match d.stat(&name) {
                Err(e) if gone(&e) => Ok(None),
                r => r,
            },
            None => Ok(None),
        }
    }
}

impl ByPath {
    /// Opens the regular file at `rel` for reading, never through a
    /// symlink (nor blocking on a fifo); `Ok(None)` if nothing is there.
    pub fn open_file(&mut self, rel: &[u8]) -> Result<Option<std::fs::File>> {
        match self.parent(rel)? {
            Some((d, name)) => match d.open_file(&name) {
                Ok(f) => Ok(Some(f)),
                Err(e) if gone(&e) => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(None),
        }
    }

    /// The target of the symlink at `rel`; `Ok(None)` if nothing is there.
    pub fn readlink(&mut self, rel: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.parent(rel)? {
            Some((d, name)) => match d.readlink(&name) {
                Ok(t) => Ok(Some(t)),
                Err(e) if gone(&e) => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(None),
        }
    }
}

/// One [`ByPath`] per tree root, for lookups spread over several trees (a
/// chain of dependencies' trees, a conflict's providers): lookups below
/// the same tree share its numbered directories and kept handles instead
/// of opening the root and every directory on the way again. Handles stay
/// within the process's budget however many trees are looked into.
#[derive(Debug, Default)]
pub struct Trees {
    trees: std::collections::HashMap<PathBuf, ByPath>,
}

impl Trees {
    /// No tree looked into yet.
    pub fn new() -> Trees {
        Trees::default()
    }

    /// The lookups below the tree the user's path `root` names.
    pub fn at(&mut self, root: &Path) -> &mut ByPath {
        if !self.trees.contains_key(root) {
            self.trees.insert(root.to_path_buf(), ByPath::new(root));
        }
        self.trees.get_mut(root).expect("inserted above")
    }
}

/// Whether an error only says that a path leads nowhere.
fn gone(e: &crate::fsx::FsError) -> bool {
    use crate::fsx::Errno;
    matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_and_wide_trees_hold_few_handles() {
        let t = tempfile::tempdir().unwrap();
        let w = Walker::new(t.path());
        // 300 levels deep: a path far longer than PATH_MAX.
        let name = [b'd'; 20];
        let mut cur = 0;
        let mut p = t.path().to_path_buf();
        let root = DirFd::open(t.path()).unwrap();
        let mut dir = root.try_clone().unwrap();
        for _ in 0..300 {
            dir.mkdir(&name, 0o755).unwrap();
            dir = dir.open_child(&name).unwrap();
            cur = w.add(cur, &name);
            p.push(std::str::from_utf8(&name).unwrap());
        }
        drop(dir);
        assert!(p.as_os_str().len() > 4096);
        let deepest = cur;
        // The walker's own count, not /proc/self/fd: the other unit tests
        // of this process open and close files at the same time.
        let fd = w.open(deepest).unwrap();
        assert_eq!(fd.path(), p);
        fd.mkdir(b"leaf", 0o755).unwrap();
        assert!(fd.stat(b"leaf").unwrap().is_some());
        assert!(std::sync::Arc::strong_count(&fd) <= 2);
        drop(fd);
        assert!(w.kept() <= LOCAL_CAP, "{} kept", w.kept());
        // Opening every level again, bottom up, reuses or reopens.
        for n in (1..=deepest).rev() {
            w.open(n).unwrap();
        }
        assert!(w.kept() <= LOCAL_CAP, "{} kept", w.kept());
        w.close_all();
        assert_eq!(w.kept(), 0);
    }

    #[test]
    fn trimming_keeps_the_root_and_the_latest() {
        let t = tempfile::tempdir().unwrap();
        let w = Walker::new(t.path());
        let mut nodes = Vec::new();
        for i in 0..6 {
            let name = format!("d{i}");
            std::fs::create_dir(t.path().join(&name)).unwrap();
            nodes.push(w.add(0, name.as_bytes()));
        }
        for &n in &nodes {
            w.open(n).unwrap();
        }
        assert!(w.kept() >= 3, "{} kept", w.kept());
        w.keep_at_most(2);
        let inner = w.lock();
        let mut kept: Vec<u32> = inner.cache.slots.iter().map(|s| s.node).collect();
        kept.sort();
        assert_eq!(kept, vec![0, nodes[5]]);
    }

    #[test]
    fn deep_directories_are_opened_in_one_call_and_symlinks_refused() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b/c/d")).unwrap();
        let w = Walker::new(t.path());
        let a = w.add(0, b"a");
        let b = w.add(a, b"b");
        let c = w.add(b, b"c");
        let d = w.add(c, b"d");
        let fd = w.open(d).unwrap();
        assert_eq!(fd.path(), t.path().join("a/b/c/d"));
        drop(fd);
        w.close_all();
        // b swapped for a symlink to a tree of the same shape: refused
        // wherever the open starts from, and the error names the symlink.
        std::fs::create_dir_all(t.path().join("elsewhere/c/d")).unwrap();
        std::fs::rename(t.path().join("a/b"), t.path().join("b.old")).unwrap();
        std::os::unix::fs::symlink(t.path().join("elsewhere"), t.path().join("a/b")).unwrap();
        assert_refused_at_symlink(&w, d, &t.path().join("a/b"));
    }

    #[test]
    fn symlink_in_place_of_a_directory_is_refused() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("a")).unwrap();
        let w = Walker::new(t.path());
        let a = w.add(0, b"a");
        let b = w.add(a, b"b");
        std::os::unix::fs::symlink("/etc", t.path().join("a/b")).unwrap();
        assert_refused_at_symlink(&w, b, &t.path().join("a/b"));
    }

    /// Asserts that opening directory `n` fails because a symlink stands
    /// on its way, and that the error names that symlink, `link`.
    fn assert_refused_at_symlink(w: &Walker, n: u32, link: &Path) {
        let e = w.open(n).unwrap_err();
        assert!(
            matches!(
                e.errno(),
                crate::fsx::Errno::ELOOP | crate::fsx::Errno::ENOTDIR
            ),
            "{e}"
        );
        assert_eq!(e.path(), link);
    }
}
