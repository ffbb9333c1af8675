//! Rewriting per-package paths in text files (`ppd fixup-paths`).
//!
//! Files a dependency installs embed absolute paths of the dependency's own
//! per-package directory (libtool `.la`, pkg-config `.pc`, `*-config`
//! scripts, CMake package files, python sysconfigdata, `qt.conf`, gdbinit,
//! meson and CMake toolchain files). In every regular text file under the
//! given trees, each `DIR/<segment>/` (a segment is one non-empty path
//! component) becomes `ROOT/`, with exactly the matching rules of
//! Buildroot's `sed 's:DIR/[^/]\+/:ROOT/:g'` in the C locale (leftmost
//! match, non-overlapping, a segment never spans a newline), except that
//! `DIR` and `ROOT` are literal bytes rather than a regular expression and a
//! replacement text.
//!
//! Invariants:
//! - plan, then apply: every tree is read completely (in parallel, each
//!   file read once) before anything is written; if reading failed anywhere
//!   nothing is written at all;
//! - a rewritten file is a new inode (temp file in the same directory,
//!   renamed over the name) with the old mode, owner and mtime: the old
//!   inode, which is shared with the dependency that installed it, is never
//!   written; a file whose content would not change is not touched at all;
//! - symlinks are never followed: directories are entered with
//!   `O_NOFOLLOW`, files opened with `O_NOFOLLOW` and checked with `fstat`;
//!   with [`FixupConfig::symlinks`] absolute symlink targets are rewritten
//!   by creating a new symlink at a temporary name and renaming it over;
//! - what counts as text is decided by [`classify`], a pure function of
//!   the content (see there); the report is sorted by tree, then path, so it
//!   does not depend on the thread count.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::fsx::Errno;
use rayon::prelude::*;

use crate::fsx::{self, DirFd, FileKey, FileStat, FsError, Kind, Meta, Mtime, RawEntry};
use crate::walk::Walker;

mod cache;
mod classify;
mod pattern;
use cache::CacheKey;
pub use cache::ScanCache;
use classify::read_unless_binary;
pub use classify::{classify, Class};
use pattern::trim_slashes;
pub use pattern::Pattern;

/// What to rewrite, into what, and how.
#[derive(Clone, Debug)]
pub struct FixupConfig {
    /// The per-package directory root `DIR` whose `DIR/<pkg>/` prefixes are rewritten.
    pub per_package_dir: PathBuf,
    /// What `DIR/<pkg>` becomes.
    pub new_root: PathBuf,
    /// Also rewrite absolute symlink targets that start with `DIR/<pkg>/`.
    pub symlinks: bool,
    /// Compute and report the rewrites without writing anything.
    pub dry_run: bool,
    /// The scan cache file of inodes known to need no rewriting (see
    /// [`ScanCache`]): those are `stat`ed but not read. Updated unless this
    /// is a dry run.
    pub cache: Option<PathBuf>,
}

/// The kind of entry that was rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RewrittenKind {
    /// A regular text file got new content.
    File,
    /// A symlink got a new target.
    Symlink,
}

/// One entry that was (or, in a dry run, would be) rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// The tree it was found in, as given.
    pub tree: PathBuf,
    /// Its path relative to the tree, `/`-separated bytes.
    pub rel: Vec<u8>,
    /// File or symlink.
    pub kind: RewrittenKind,
    /// For a symlink: the new target.
    pub new_target: Option<Vec<u8>>,
    /// The inode now at that path (`None` in a dry run).
    pub ino: Option<u64>,
}

impl Rewritten {
    /// Returns the full path (tree joined with the relative path).
    pub fn path(&self) -> PathBuf {
        fsx::join(&self.tree, &self.rel)
    }
}

/// What a fixup did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixupReport {
    /// Regular files (names) examined.
    pub files_scanned: u64,
    /// Of those, the ones opened and read: a hard-linked inode met again
    /// under another name is not read again (with several threads, two may
    /// meet a new inode at once and both read it, so this count can vary
    /// slightly between runs; what is rewritten does not).
    pub files_read: u64,
    /// Symlinks whose target was read (only with `symlinks`).
    pub symlinks_scanned: u64,
    /// Bytes read from files.
    pub bytes_read: u64,
    /// The rewritten entries, sorted by tree (in the order given), then path.
    pub rewritten: Vec<Rewritten>,
}

/// Why a fixup did not complete.
#[derive(Debug)]
pub enum FixupError {
    /// The configuration cannot be used (for example an empty `DIR`).
    Config(String),
    /// Filesystem errors, sorted by path; nothing was written if any of
    /// them happened while reading.
    Fs(Vec<FsError>),
}

impl FixupError {
    /// Returns every error as one message line each (without the `ppd: ` prefix).
    pub fn lines(&self) -> Vec<String> {
        match self {
            FixupError::Config(m) => vec![m.clone()],
            FixupError::Fs(v) => v.iter().map(ToString::to_string).collect(),
        }
    }
}

impl fmt::Display for FixupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixupError::Config(m) => f.write_str(m),
            FixupError::Fs(v) => {
                match v.first() {
                    Some(e) => write!(f, "{e}")?,
                    None => f.write_str("fixing up paths failed")?,
                }
                if v.len() > 1 {
                    write!(f, " (and {} more errors)", v.len() - 1)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for FixupError {}

/// One planned change.
struct Planned {
    tree: usize,
    rel: Vec<u8>,
    change: Change,
}

enum Change {
    File { data: Arc<Vec<u8>>, meta: Meta },
    Symlink { target: Vec<u8>, meta: Meta },
}

/// What scanning part of a tree produced.
#[derive(Default)]
struct Scanned {
    /// Inodes found not to need rewriting, for the persistent cache.
    learned: Vec<CacheKey>,
    files: u64,
    files_read: u64,
    symlinks: u64,
    bytes: u64,
    plan: Vec<Planned>,
    errors: Vec<FsError>,
}

impl Scanned {
    fn merge(mut self, mut other: Scanned) -> Scanned {
        self.files += other.files;
        self.files_read += other.files_read;
        self.symlinks += other.symlinks;
        self.bytes += other.bytes;
        if self.plan.len() < other.plan.len() {
            std::mem::swap(&mut self.plan, &mut other.plan);
        }
        self.plan.append(&mut other.plan);
        self.errors.append(&mut other.errors);
        self.learned.append(&mut other.learned);
        self
    }

    fn error(e: FsError) -> Scanned {
        Scanned {
            errors: vec![e],
            ..Scanned::default()
        }
    }
}

struct Scanner<'a> {
    /// One per tree: directories by number, through bounded handles.
    walkers: Vec<Walker>,
    pattern: &'a Pattern,
    symlinks: bool,
    memo: Memo,
    cache: Option<&'a ScanCache>,
    /// What the caller already knows of the first tree's entries.
    known: Option<&'a Known<'a>>,
    /// Directories of the first tree the caller lists completely.
    listings: Option<&'a Listings<'a>>,
}

/// What the caller already knows of one entry of a tree: the `lstat` it
/// took after its last change to the entry (prepare records one for every
/// entry it places). The scan uses it instead of an `fstatat` of its own
/// while the directory entry still names that inode; a file is opened
/// and `fstat`ed as ever when it has to be read.
#[derive(Clone, Copy, Debug)]
pub struct KnownEntry {
    /// Device and inode.
    pub key: FileKey,
    /// Size in bytes.
    pub size: u64,
    /// Kind, mode, owner and mtime.
    pub meta: Meta,
}

/// Known entries of a tree, by directory (relative path, empty for the
/// root) and name.
pub type Known<'a> = rustc_hash::FxHashMap<&'a [u8], rustc_hash::FxHashMap<&'a [u8], KnownEntry>>;

/// One entry of a directory the caller lists completely (see
/// [`Listings`]): what `getdents` would give, `ino` 0 where not known.
#[derive(Clone, Copy, Debug)]
pub struct ListedEntry<'a> {
    /// The file name.
    pub name: &'a [u8],
    /// Its type.
    pub kind: Kind,
    /// Its inode number, or 0.
    pub ino: u64,
}

/// Directories of the first tree whose entries the caller knows, all of
/// them, by relative path (empty for the root): prepare's fixup of a tree
/// it filled passes the directories this run created, which hold exactly
/// what it put there (the tree's lock keeps the package's own steps out
/// until it returns). Such a directory is not read, and not even opened
/// unless one of its entries has to be `stat`ed or read.
pub type Listings<'a> = rustc_hash::FxHashMap<&'a [u8], Vec<ListedEntry<'a>>>;

/// A directory's handle, opened on first use (a listed directory whose
/// entries the cache and the caller's `lstat`s clear is never opened).
struct LazyDir<'w> {
    walker: &'w Walker,
    node: u32,
    fd: std::cell::OnceCell<Arc<DirFd>>,
}

impl<'w> LazyDir<'w> {
    fn new(walker: &'w Walker, node: u32) -> LazyDir<'w> {
        LazyDir {
            walker,
            node,
            fd: std::cell::OnceCell::new(),
        }
    }

    fn get(&self) -> Result<&DirFd, FsError> {
        if let Some(d) = self.fd.get() {
            return Ok(d);
        }
        let d = self.walker.open(self.node)?;
        Ok(self.fd.get_or_init(|| d))
    }
}

/// What a scan decides an inode by: from its own `fstatat` or a
/// [`KnownEntry`].
#[derive(Clone, Copy)]
struct Ident {
    dev: u64,
    ino: u64,
    size: i64,
    meta: Meta,
}

impl Ident {
    fn of(st: &FileStat) -> Ident {
        Ident {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            meta: Meta::of(st),
        }
    }

    fn cache_key(&self) -> CacheKey {
        CacheKey::new(self.dev, self.ino, self.size, self.meta.mtime)
    }
}

/// What reading an inode decided, shared by all its names.
#[derive(Clone)]
enum Outcome {
    /// Nothing to rewrite: binary, not text, no match, or already right.
    Keep,
    /// The new content.
    Rewrite(Arc<Vec<u8>>),
}

/// One inode already read during this run, with what identifies its
/// content as unchanged since.
struct Seen {
    dev: u64,
    size: i64,
    mtime: Mtime,
    outcome: Outcome,
}

/// Inodes read during this run, keyed by inode number. Hard-link farms
/// (every per-package tree links its dependencies' files) show one inode
/// under many names; each is read once and its outcome reused. The
/// directory entry's `d_ino` only decides whether a name is worth an
/// `fstatat`; reuse needs the same device, inode, size and mtime.
struct Memo {
    shards: Vec<Mutex<HashMap<u64, Vec<Seen>>>>,
}

const MEMO_SHARDS: usize = 64;

impl Memo {
    fn new() -> Memo {
        Memo {
            shards: (0..MEMO_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    fn shard(&self, ino: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<Seen>>> {
        // A poisoned shard only means another thread panicked mid-insert;
        // the map itself is still consistent.
        self.shards[(ino % MEMO_SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn knows_ino(&self, ino: u64) -> bool {
        self.shard(ino).contains_key(&ino)
    }

    fn get(&self, id: &Ident) -> Option<Outcome> {
        let shard = self.shard(id.ino);
        shard.get(&id.ino)?.iter().find_map(|s| {
            (s.dev == id.dev && s.size == id.size && s.mtime == id.meta.mtime)
                .then(|| s.outcome.clone())
        })
    }

    fn insert(&self, id: &Ident, outcome: Outcome) {
        self.shard(id.ino).entry(id.ino).or_default().push(Seen {
            dev: id.dev,
            size: id.size,
            mtime: id.meta.mtime,
            outcome,
        });
    }
}

fn child_rel(dir_rel: &[u8], name: &[u8]) -> Vec<u8> {
    crate::scan::child_rel(dir_rel, name).into_vec()
}

/// A directory waiting to be read: its tree, number and path.
struct Pending {
    tree: usize,
    node: u32,
    rel: Vec<u8>,
}

/// What scanning one entry found.
enum Found {
    /// A directory, to be read with the next level.
    Dir,
    /// Anything else, scanned.
    Done(Scanned),
}

/// Directories with at most this many entries are scanned by the task
/// that read them, with the handle it holds; the entries of bigger ones
/// are spread over the threads.
const SMALL_DIR: usize = 64;

/// What reading one directory of a level gave.
#[derive(Default)]
struct Listed {
    scanned: Scanned,
    /// Its subdirectories' names.
    dirs: Vec<Vec<u8>>,
    /// The entries of a big directory, left for every thread.
    big: Vec<RawEntry>,
}

impl Scanner<'_> {
    /// Scans every tree, one level of directories at a time: a work list
    /// of the directories still to read (the stack does not grow with the
    /// depth of a tree, however deep). Each directory of a level is read
    /// by one task, which also scans the entries of a small directory with
    /// the handle it already holds (one open per directory); the entries
    /// of big directories are then scanned in parallel, each taking its
    /// directory's handle from the walker. No task waits for others while
    /// it holds a handle, so the handles open stay bounded. Subdirectories
    /// are numbered in the order of their level's listing, whatever the
    /// thread count.
    fn scan_all(&self) -> Scanned {
        let mut level: Vec<Pending> = (0..self.walkers.len())
            .map(|tree| Pending {
                tree,
                node: 0,
                rel: Vec::new(),
            })
            .collect();
        let mut total = Scanned::default();
        while !level.is_empty() {
            let listed: Vec<Listed> = level.par_iter().map(|p| self.list_dir(p)).collect();
            let mut dirs: Vec<(usize, Vec<u8>)> = Vec::new();
            let mut big: Vec<(usize, RawEntry)> = Vec::new();
            for (i, l) in listed.into_iter().enumerate() {
                total = total.merge(l.scanned);
                dirs.extend(l.dirs.into_iter().map(|n| (i, n)));
                big.extend(l.big.into_iter().map(|e| (i, e)));
            }
            let (scanned, more) = big
                .into_par_iter()
                .map(|(i, e)| {
                    let p = &level[i];
                    let dir = LazyDir::new(&self.walkers[p.tree], p.node);
                    let found = self.scan_entry(p.tree, &dir, &p.rel, &e);
                    match found {
                        Found::Dir => (Scanned::default(), vec![(i, e.name)]),
                        Found::Done(s) => (s, Vec::new()),
                    }
                })
                .reduce(
                    || (Scanned::default(), Vec::new()),
                    |(a, mut da), (b, mut db)| {
                        da.append(&mut db);
                        (a.merge(b), da)
                    },
                );
            total = total.merge(scanned);
            dirs.extend(more);
            dirs.sort_unstable();
            level = dirs
                .into_iter()
                .map(|(i, name)| {
                    let p = &level[i];
                    Pending {
                        tree: p.tree,
                        node: self.walkers[p.tree].add(p.node, &name),
                        rel: child_rel(&p.rel, &name),
                    }
                })
                .collect();
        }
        total
    }

    /// Reads one directory (unless the caller lists it); scans its
    /// entries if it is small.
    fn list_dir(&self, p: &Pending) -> Listed {
        let dir = LazyDir::new(&self.walkers[p.tree], p.node);
        let listing = self
            .listings
            .filter(|_| p.tree == 0)
            .and_then(|l| l.get(&p.rel[..]));
        let entries = match listing {
            Some(l) => Ok(l
                .iter()
                .map(|e| RawEntry {
                    name: e.name.to_vec(),
                    kind: Some(e.kind),
                    ino: e.ino,
                })
                .collect()),
            None => dir.get().and_then(|d| d.entries()),
        };
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                return Listed {
                    scanned: Scanned::error(e),
                    ..Listed::default()
                }
            }
        };
        let mut out = Listed::default();
        if entries.len() > SMALL_DIR {
            for e in entries {
                match e.kind {
                    Some(Kind::Dir) => out.dirs.push(e.name),
                    _ => out.big.push(e),
                }
            }
            return out;
        }
        for e in entries {
            match self.scan_entry(p.tree, &dir, &p.rel, &e) {
                Found::Dir => out.dirs.push(e.name),
                Found::Done(s) => out.scanned = std::mem::take(&mut out.scanned).merge(s),
            }
        }
        out
    }

    fn scan_entry(&self, tree: usize, dir: &LazyDir<'_>, dir_rel: &[u8], e: &RawEntry) -> Found {
        if e.kind == Some(Kind::Dir) {
            return Found::Dir;
        }
        let mut st = None;
        let kind = match e.kind {
            Some(k) => k,
            // No d_type from this filesystem: ask, without following.
            None => match dir.get().and_then(|d| d.stat(&e.name)) {
                Ok(Some(s)) => {
                    let k = Kind::from_mode(s.st_mode);
                    st = Some(s);
                    k
                }
                Ok(None) => return Found::Done(Scanned::default()),
                Err(e) => return Found::Done(Scanned::error(e)),
            },
        };
        if kind == Kind::Dir {
            return Found::Dir;
        }
        Found::Done(self.scan_leaf(tree, dir, dir_rel, &e.name, e.ino, kind, st))
    }

    /// Scans an entry that is not a directory (`st`: its `stat`, if taken).
    #[allow(clippy::too_many_arguments)]
    fn scan_leaf(
        &self,
        tree: usize,
        dir: &LazyDir<'_>,
        dir_rel: &[u8],
        name: &[u8],
        ino: u64,
        kind: Kind,
        st: Option<FileStat>,
    ) -> Scanned {
        match kind {
            Kind::File => {
                let mut id = match st {
                    Some(s) => Some(Ident::of(&s)),
                    None => self.known(tree, dir_rel, name, ino),
                };
                let stat = || match dir.get().and_then(|d| d.stat(name)) {
                    Ok(Some(s)) => Ok(Ident::of(&s)),
                    Ok(None) => Err(Scanned::default()),
                    Err(e) => Err(Scanned::error(e)),
                };
                if let Some(cache) = self.cache {
                    let s = match id {
                        Some(s) => s,
                        None => match stat() {
                            Ok(s) => *id.insert(s),
                            Err(out) => return out,
                        },
                    };
                    if s.meta.kind == Kind::File && cache.contains(&s.cache_key()) {
                        return Scanned {
                            files: 1,
                            ..Scanned::default()
                        };
                    }
                }
                if id.is_none() && self.memo.knows_ino(ino) {
                    id = match stat() {
                        Ok(s) => Some(s),
                        Err(out) => return out,
                    };
                }
                if let Some((id, outcome)) = id.and_then(|s| Some((s, self.memo.get(&s)?))) {
                    let mut out = Scanned {
                        files: 1,
                        ..Scanned::default()
                    };
                    if let Outcome::Rewrite(data) = outcome {
                        out.plan.push(Planned {
                            tree,
                            rel: child_rel(dir_rel, name),
                            change: Change::File {
                                data,
                                meta: id.meta,
                            },
                        });
                    }
                    return out;
                }
                match dir.get() {
                    Ok(d) => self.scan_file(tree, d, dir_rel, name),
                    Err(e) => Scanned::error(e),
                }
            }
            Kind::Symlink if self.symlinks => match dir.get() {
                Ok(d) => self.scan_symlink(tree, d, dir_rel, name),
                Err(e) => Scanned::error(e),
            },
            // Devices, fifos and sockets are skipped, as grep -r does
            // (directories were entered above).
            Kind::Symlink | Kind::Other | Kind::Dir => Scanned::default(),
        }
    }

    /// The caller's [`KnownEntry`] of a file of the first tree, if the
    /// directory entry (inode `ino`) is still the one it describes.
    fn known(&self, tree: usize, dir_rel: &[u8], name: &[u8], ino: u64) -> Option<Ident> {
        let k = self.known.filter(|_| tree == 0)?.get(dir_rel)?.get(name)?;
        (k.key.ino == ino && k.meta.kind == Kind::File).then_some(Ident {
            dev: k.key.dev,
            ino,
            size: k.size as i64,
            meta: k.meta,
        })
    }

    fn scan_file(&self, tree: usize, dir: &DirFd, dir_rel: &[u8], name: &[u8]) -> Scanned {
        let path = || dir.child_path(name);
        let fd = match open_for_reading(dir, name) {
            Ok(fd) => fd,
            Err(Errno::ELOOP | Errno::ENOENT) => return Scanned::default(),
            Err(e) => return Scanned::error(FsError::new("opening", path(), e)),
        };
        let st = match fsx::fstat(&fd) {
            Ok(st) => st,
            Err(e) => return Scanned::error(FsError::new("inspecting", path(), e)),
        };
        if Kind::from_mode(st.st_mode) != Kind::File {
            return Scanned::default();
        }
        let file = File::from(fd);
        let (data, bytes) = match read_unless_binary(&file, st.st_size as u64) {
            Ok(r) => r,
            Err(e) => return Scanned::error(FsError::new("reading", path(), fsx::errno_of(&e))),
        };
        drop(file);
        let mut out = Scanned {
            files: 1,
            files_read: 1,
            bytes,
            ..Scanned::default()
        };
        // Cheapest test first: most files do not contain DIR/ at all.
        // Whether a file can need rewriting does not depend on ROOT; only
        // whether a matching one is already right does.
        let candidate = data
            .as_deref()
            .filter(|d| self.pattern.is_match(d) && classify(d) == Class::Text);
        let Some(new) = candidate.and_then(|d| self.pattern.rewrite(d)) else {
            if let (None, Some(cache)) = (candidate, self.cache) {
                if let Some(key) = CacheKey::settled(&st, cache.horizon) {
                    out.learned.push(key);
                }
            }
            self.memo.insert(&Ident::of(&st), Outcome::Keep);
            return out;
        };
        let new = Arc::new(new);
        self.memo
            .insert(&Ident::of(&st), Outcome::Rewrite(Arc::clone(&new)));
        out.plan.push(Planned {
            tree,
            rel: child_rel(dir_rel, name),
            change: Change::File {
                data: new,
                meta: Meta::of(&st),
            },
        });
        out
    }

    fn scan_symlink(&self, tree: usize, dir: &DirFd, dir_rel: &[u8], name: &[u8]) -> Scanned {
        let target = match dir.readlink(name) {
            Ok(t) => t,
            Err(e) if e.errno() == Errno::ENOENT || e.errno() == Errno::EINVAL => {
                return Scanned::default()
            }
            Err(e) => return Scanned::error(e),
        };
        let mut out = Scanned {
            symlinks: 1,
            ..Scanned::default()
        };
        let Some(new) = self.pattern.rewrite_target(&target) else {
            return out;
        };
        let st = match dir.stat(name) {
            Ok(Some(st)) => st,
            Ok(None) => return out,
            Err(e) => return Scanned::error(e),
        };
        out.plan.push(Planned {
            tree,
            rel: child_rel(dir_rel, name),
            change: Change::Symlink {
                target: new,
                meta: Meta::of(&st),
            },
        });
        out
    }
}

/// Opens a child for reading, never through a symlink (`O_NOFOLLOW`: a
/// symlink swapped in since listing fails with ELOOP) and never blocking on
/// a fifo swapped in (`O_NONBLOCK`). `O_NOATIME` spares the inode write
/// that reading a freshly linked file costs under relatime; the kernel
/// only allows it to the file's owner (and root), so fall back without.
fn open_for_reading(dir: &DirFd, name: &[u8]) -> Result<OwnedFd, Errno> {
    use rustix::fs::{openat, Mode, OFlags};
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    match openat(dir, name, flags | OFlags::NOATIME, Mode::empty()) {
        Err(rustix::io::Errno::PERM) => openat(dir, name, flags, Mode::empty()),
        r => r,
    }
    .map_err(fsx::Errno::from)
}

/// Replaces a symlink atomically: a new symlink at a temporary name with
/// the old one's owner and mtime, renamed over the name.
fn replace_symlink(dir: &DirFd, name: &[u8], target: &[u8], meta: &Meta) -> fsx::Result<()> {
    let tmp = fsx::temp_name();
    let r = dir
        .symlink(target, &tmp)
        .map_err(|e| FsError::new("creating symlink", dir.child_path(&tmp), e))
        .and_then(|()| dir.set_meta(&tmp, meta))
        .and_then(|()| dir.rename(&tmp, name));
    r.map_err(|e| {
        let _ = dir.unlink(&tmp, false);
        e.naming(&dir.child_path(name))
    })
}

/// Applies the planned changes of one directory (indexes into `plan`);
/// returns each entry's new inode.
fn apply_dir(
    root: &DirFd,
    dir_rel: &[u8],
    idx: &[usize],
    plan: &[Planned],
) -> Vec<(usize, Result<u64, FsError>)> {
    let dir = match root.open_beneath(dir_rel) {
        Ok(d) => d,
        Err(e) => return vec![(idx[0], Err(e))],
    };
    let apply = |p: &Planned| {
        let name = fsx::split_rel(&p.rel).1;
        match &p.change {
            Change::File { data, meta } => dir.replace_file(name, data, meta)?,
            Change::Symlink { target, meta } => replace_symlink(&dir, name, target, meta)?,
        }
        match dir.stat(name)? {
            Some(st) => Ok(st.st_ino),
            None => Err(FsError::new(
                "inspecting",
                dir.child_path(name),
                Errno::ENOENT,
            )),
        }
    };
    idx.iter().map(|&i| (i, apply(&plan[i]))).collect()
}

/// The bytes of the regular files of `known` that `cache` does not clear
/// (all of them without a cache), each inode once.
fn unread_bytes(known: &Known<'_>, cache: Option<&ScanCache>) -> u64 {
    let mut seen = rustc_hash::FxHashSet::default();
    known
        .values()
        .flat_map(|dir| dir.values())
        .filter(|k| k.meta.kind == Kind::File)
        .filter(|k| {
            cache.is_none_or(|c| {
                !c.contains(&CacheKey::new(
                    k.key.dev,
                    k.key.ino,
                    k.size as i64,
                    k.meta.mtime,
                ))
            })
        })
        .filter(|k| seen.insert((k.key.dev, k.key.ino)))
        .map(|k| k.size)
        .sum()
}

/// Rewrites `DIR/<segment>/` into `ROOT/` in every regular text file (and,
/// if asked, absolute symlink target) under `trees`, using `pool`.
///
/// Trees are opened by path (a symlink naming a tree is followed, as grep
/// and rsync follow their arguments); nothing below them is followed. With
/// `cfg.cache`, inodes the cache file knows to need no rewriting for this
/// `DIR` are `stat`ed but not read, and the cache is updated unless this is
/// a dry run.
pub fn fixup_trees(
    cfg: &FixupConfig,
    trees: &[PathBuf],
    pool: &rayon::ThreadPool,
) -> Result<FixupReport, FixupError> {
    fixup_trees_known(cfg, trees, None, pool)
}

/// [`fixup_trees`], taking what `known` says of the first tree's entries
/// instead of `stat`ing them again.
pub fn fixup_trees_known(
    cfg: &FixupConfig,
    trees: &[PathBuf],
    known: Option<&Known<'_>>,
    pool: &rayon::ThreadPool,
) -> Result<FixupReport, FixupError> {
    fixup_trees_sized(cfg, trees, known, None, &|_| Ok(pool))
}

/// [`fixup_trees_known`] on the pool `pick` returns for the bytes the scan
/// expects to read: the sizes of the regular files `known` names that the
/// cache does not clear, each inode once (entries `known` does not name
/// are not counted). A configure step whose dependencies' files were all
/// scanned before reads only the few files holding per-package paths: not
/// worth starting threads for. The directories of the first tree that
/// `listings` names are not read (see [`Listings`]).
pub fn fixup_trees_sized<'p>(
    cfg: &FixupConfig,
    trees: &[PathBuf],
    known: Option<&Known<'_>>,
    listings: Option<&Listings<'_>>,
    pick: &dyn Fn(u64) -> anyhow::Result<&'p rayon::ThreadPool>,
) -> Result<FixupReport, FixupError> {
    let dir_bytes = cfg.per_package_dir.as_os_str().as_bytes();
    let pattern = Pattern::new(dir_bytes, cfg.new_root.as_os_str().as_bytes())?;
    let cache = cfg
        .cache
        .as_deref()
        .map(|p| ScanCache::load(p, trim_slashes(dir_bytes)));
    let pool = pick(known.map_or(0, |k| unread_bytes(k, cache.as_ref())))
        .map_err(|e| FixupError::Config(format!("{e:#}")))?;
    let scanner = Scanner {
        walkers: Vec::new(),
        pattern: &pattern,
        symlinks: cfg.symlinks,
        memo: Memo::new(),
        cache: cache.as_ref(),
        known,
        listings,
    };
    let mut roots = Vec::with_capacity(trees.len());
    let mut errors = Vec::new();
    for t in trees {
        match DirFd::open(t) {
            Ok(d) => roots.push(d),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(FixupError::Fs(errors));
    }
    let mut walkers = Vec::with_capacity(roots.len());
    for r in &roots {
        walkers.push(Walker::from_dir(
            r.try_clone().map_err(|e| FixupError::Fs(vec![e]))?,
        ));
    }
    let scanner = Scanner { walkers, ..scanner };

    let scanned = pool.install(|| scanner.scan_all());
    if !scanned.errors.is_empty() {
        let mut errors = scanned.errors;
        errors.sort_by(|a, b| a.path().cmp(b.path()));
        return Err(FixupError::Fs(errors));
    }
    let mut plan = scanned.plan;
    plan.sort_by(|a, b| (a.tree, &a.rel).cmp(&(b.tree, &b.rel)));
    if let (Some(c), false) = (&cache, cfg.dry_run) {
        c.save(scanned.learned).map_err(FixupError::Config)?;
    }

    let mut inodes: Vec<Option<u64>> = vec![None; plan.len()];
    if !cfg.dry_run {
        // One directory open per directory that has changes.
        let mut by_dir: BTreeMap<(usize, &[u8]), Vec<usize>> = BTreeMap::new();
        for (i, p) in plan.iter().enumerate() {
            by_dir
                .entry((p.tree, fsx::split_rel(&p.rel).0))
                .or_default()
                .push(i);
        }
        let groups: Vec<_> = by_dir.into_iter().collect();
        let results: Vec<(usize, Result<u64, FsError>)> = pool.install(|| {
            groups
                .par_iter()
                .flat_map_iter(|((tree, dir_rel), idx)| {
                    apply_dir(&roots[*tree], dir_rel, idx, &plan)
                })
                .collect()
        });
        let mut errors = Vec::new();
        for (i, r) in results {
            match r {
                Ok(ino) => inodes[i] = Some(ino),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| a.path().cmp(b.path()));
            return Err(FixupError::Fs(errors));
        }
    }

    let rewritten = plan
        .into_iter()
        .zip(inodes)
        .map(|(p, ino)| {
            let (kind, new_target) = match p.change {
                Change::File { .. } => (RewrittenKind::File, None),
                Change::Symlink { target, .. } => (RewrittenKind::Symlink, Some(target)),
            };
            Rewritten {
                tree: trees[p.tree].clone(),
                rel: p.rel,
                kind,
                new_target,
                ino,
            }
        })
        .collect();
    Ok(FixupReport {
        files_scanned: scanned.files,
        files_read: scanned.files_read,
        symlinks_scanned: scanned.symlinks,
        bytes_read: scanned.bytes,
        rewritten,
    })
}
