//! The walk of `file-list`: every directory of a tree, every other entry
//! `lstat`ed, each compared with the manifest record of its path.
//!
//! A directory the manifest records as created by prepare, whose inode and
//! ctime are still the recorded ones, still holds exactly the recorded
//! names (see [`crate::manifest::DirRecord`]): its names come from the
//! manifest and it is not read. Its entries are `lstat`ed all the same,
//! since an in-place edit through a hard link changes nothing but the
//! inode. Every other directory is read with `getdents64`.
//!
//! If a trusted directory turns out not to match (an entry is missing,
//! which the ctime rule excludes on a filesystem that keeps ctimes), the
//! caller walks the tree again reading every directory: never a wrong list.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::stat::FileStat;
use rustc_hash::FxHashMap;

use super::Found;
use crate::fsx::{DirFd, FileKey, FsError, Kind, Meta, Mtime, RawEntry};
use crate::manifest::{DirRecord, Index, RecordRef};

/// Entries `lstat`ed per task: large directories are split so that one
/// toolchain `usr/include` does not keep the other threads idle.
const STAT_CHUNK: usize = 192;

/// What one walk found.
#[derive(Default)]
pub(super) struct Walked<'a> {
    /// Files and symlinks that differ from their record or have none.
    pub found: Vec<Found<'a>>,
    /// Files and symlinks seen.
    pub walked: usize,
    /// Directories read with `getdents64`.
    pub read: usize,
    /// Directories whose names came from the manifest.
    pub trusted: usize,
}

/// Walks `tree` in parallel on `pool`, trusting unchanged recorded
/// directories, or reading every directory if that finds a mismatch.
pub(super) fn walk<'a>(
    tree: &std::path::Path,
    index: &Index<'a>,
    pool: &rayon::ThreadPool,
) -> Result<Walked<'a>, FsError> {
    match walk_once(tree, index, true, pool)? {
        Some(w) => Ok(w),
        None => {
            Ok(walk_once(tree, index, false, pool)?.expect("BUG: a reading walk cannot go stale"))
        }
    }
}

/// One walk; `None` if a trusted directory did not match its record.
fn walk_once<'a>(
    tree: &std::path::Path,
    index: &Index<'a>,
    trust: bool,
    pool: &rayon::ThreadPool,
) -> Result<Option<Walked<'a>>, FsError> {
    let top = match DirFd::open(tree) {
        Ok(d) => d,
        Err(e) if e.errno() == nix::errno::Errno::ENOENT => return Ok(Some(Walked::default())),
        Err(e) => return Err(e),
    };
    let ctx = Ctx {
        index,
        trust,
        found: Mutex::new(Vec::new()),
        error: Mutex::new(None),
        walked: AtomicUsize::new(0),
        read: AtomicUsize::new(0),
        trusted: AtomicUsize::new(0),
        stale: AtomicBool::new(false),
    };
    pool.scope(|s| ctx.dir(s, Arc::new(top), Arc::from(&b""[..])));
    if let Some(e) = ctx.error.into_inner().expect("BUG: poisoned") {
        return Err(e);
    }
    if ctx.stale.into_inner() {
        return Ok(None);
    }
    let mut found: Vec<Found<'a>> = ctx
        .found
        .into_inner()
        .expect("BUG: poisoned")
        .into_iter()
        .flatten()
        .collect();
    // A name recorded twice (only a hand-edited manifest has that) was
    // looked at twice in a trusted directory: list it once.
    found.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    found.dedup_by(|a, b| a.rel == b.rel);
    Ok(Some(Walked {
        found,
        walked: ctx.walked.into_inner(),
        read: ctx.read.into_inner(),
        trusted: ctx.trusted.into_inner(),
    }))
}

struct Ctx<'i, 'a> {
    index: &'i Index<'a>,
    trust: bool,
    found: Mutex<Vec<Vec<Found<'a>>>>,
    error: Mutex<Option<FsError>>,
    walked: AtomicUsize,
    read: AtomicUsize,
    trusted: AtomicUsize,
    stale: AtomicBool,
}

impl<'i, 'a> Ctx<'i, 'a> {
    fn fail(&self, e: FsError) {
        self.error.lock().expect("BUG: poisoned").get_or_insert(e);
    }

    fn keep(&self, mine: Vec<Found<'a>>) {
        if !mine.is_empty() {
            self.found.lock().expect("BUG: poisoned").push(mine);
        }
    }

    /// Lists one directory: from the manifest if it is a recorded one that
    /// nothing changed, else by reading it.
    fn dir<'s>(&'s self, scope: &rayon::Scope<'s>, dir: Arc<DirFd>, rel: Arc<[u8]>)
    where
        'i: 's,
    {
        let group = self.index.group(&rel);
        let unchanged = |d: &DirRecord| dir.stat_self().is_ok_and(|st| *d == DirRecord::of(&st));
        match group {
            Some(g) if self.trust && g.dir.as_ref().is_some_and(unchanged) => {
                self.trusted.fetch_add(1, Ordering::Relaxed);
                for name in &g.subdirs {
                    match dir.open_child(name) {
                        Ok(sub) => self.spawn_dir(scope, sub, &rel, name),
                        Err(_) => self.stale.store(true, Ordering::Relaxed),
                    }
                }
                let files: &'i [_] = &g.files;
                for chunk in files.chunks(STAT_CHUNK) {
                    let (dir, rel) = (Arc::clone(&dir), Arc::clone(&rel));
                    scope.spawn(move |_| self.recorded(&dir, &rel, chunk));
                }
            }
            _ => {
                self.read.fetch_add(1, Ordering::Relaxed);
                let entries = match dir.fresh_entries() {
                    Ok(e) => e,
                    Err(e) => return self.fail(e),
                };
                let by_name = Arc::new(group.map(|g| g.by_name()).unwrap_or_default());
                let mut files = Vec::with_capacity(entries.len());
                for ent in entries {
                    if ent.kind == Some(Kind::Dir) {
                        match dir.open_child(&ent.name) {
                            Ok(sub) => self.spawn_dir(scope, sub, &rel, &ent.name),
                            Err(e) => return self.fail(e),
                        }
                    } else {
                        files.push(ent);
                    }
                }
                let files = Arc::new(files);
                for start in (0..files.len()).step_by(STAT_CHUNK) {
                    let (dir, rel) = (Arc::clone(&dir), Arc::clone(&rel));
                    let (files, by_name) = (Arc::clone(&files), Arc::clone(&by_name));
                    scope.spawn(move |s| {
                        let end = files.len().min(start + STAT_CHUNK);
                        self.read_entries(s, &dir, &rel, &files[start..end], &by_name);
                    });
                }
            }
        }
    }

    fn spawn_dir<'s>(&'s self, scope: &rayon::Scope<'s>, sub: DirFd, rel: &[u8], name: &[u8])
    where
        'i: 's,
    {
        let sub_rel: Arc<[u8]> = Arc::from(crate::scan::child_rel(rel, name));
        scope.spawn(move |s| self.dir(s, Arc::new(sub), sub_rel));
    }

    /// `lstat`s the recorded entries of a trusted directory.
    fn recorded(
        &self,
        dir: &DirFd,
        rel: &[u8],
        files: &[(std::borrow::Cow<'a, [u8]>, RecordRef<'a>)],
    ) {
        let mut mine = Vec::new();
        for (name, rec) in files {
            match dir.stat(name) {
                Ok(Some(st)) => {
                    if let Some(f) = self.compare(rel, name, &st, Some(rec)) {
                        mine.push(f);
                    }
                }
                // Gone, though the directory says nothing changed: do not
                // trust this tree's directory records.
                Ok(None) => self.stale.store(true, Ordering::Relaxed),
                Err(e) => return self.fail(e),
            }
        }
        self.keep(mine);
    }

    /// `lstat`s the entries read from a directory.
    fn read_entries<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        dir: &DirFd,
        rel: &[u8],
        files: &[RawEntry],
        by_name: &FxHashMap<&'i [u8], &'i RecordRef<'a>>,
    ) where
        'i: 's,
    {
        let mut mine = Vec::new();
        for ent in files {
            let st = match dir.stat(&ent.name) {
                Ok(Some(st)) => st,
                Ok(None) => {
                    let path = dir.child_path(&ent.name);
                    return self.fail(FsError::new("inspecting", path, nix::errno::Errno::ENOENT));
                }
                Err(e) => return self.fail(e),
            };
            if Kind::from_mode(st.st_mode) == Kind::Dir {
                // No d_type from this filesystem.
                match dir.open_child(&ent.name) {
                    Ok(sub) => self.spawn_dir(scope, sub, rel, &ent.name),
                    Err(e) => return self.fail(e),
                }
                continue;
            }
            let rec = by_name.get(&ent.name[..]).copied();
            if let Some(f) = self.compare(rel, &ent.name, &st, rec) {
                mine.push(f);
            }
        }
        self.keep(mine);
    }

    /// Counts a file or symlink and keeps it if it is not exactly as
    /// recorded.
    fn compare(
        &self,
        rel: &[u8],
        name: &[u8],
        st: &FileStat,
        rec: Option<&RecordRef<'a>>,
    ) -> Option<Found<'a>> {
        let kind = Kind::from_mode(st.st_mode);
        if !matches!(kind, Kind::File | Kind::Symlink) {
            return None;
        }
        self.walked.fetch_add(1, Ordering::Relaxed);
        let (size, mtime) = (st.st_size as u64, Mtime::of(st));
        if rec.is_some_and(|r| super::unchanged(r, st.st_ino, size, mtime, st.st_mode)) {
            return None;
        }
        Some(Found {
            rel: crate::scan::child_rel(rel, name),
            meta: Meta::of(st),
            key: FileKey::of(st),
            size,
            placed: rec.copied(),
        })
    }
}
