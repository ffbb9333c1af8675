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
//! The manifest's record lines are parsed here, by the task that compares
//! them (see [`crate::manifest::Index`]). Two things make a walk start
//! over, so the result is never wrong: a trusted directory that turns out
//! not to match (an entry is missing, which the ctime rule excludes on a
//! filesystem that keeps ctimes) makes the tree be walked again reading
//! every directory; a bad record line makes it be walked again without
//! the manifest, and the damage is reported.
//!
//! Tasks name directories by [`Walker`] number and take the handle only
//! while they run, so queued tasks hold no descriptor and the walk keeps a
//! bounded number open however wide or deep the tree.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::fsx::FileStat;
use rustc_hash::FxHashMap;

use super::Found;
use crate::fsx::{DirFd, FileKey, FsError, Kind, Meta, Mtime, RawEntry};
use crate::manifest::{Group, Index, RecordRef, Run, RUN_LINES};
use crate::walk::Walker;

/// Entries `lstat`ed per task: large directories are split so that one
/// toolchain `usr/include` does not keep the other threads idle.
const STAT_CHUNK: usize = RUN_LINES;

/// A directory's records by name.
type ByName<'a> = FxHashMap<Cow<'a, [u8]>, RecordRef<'a>>;

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
    /// The manifest's bad line, if one was found: then the tree was walked
    /// again as if it had no manifest.
    pub damaged: Option<anyhow::Error>,
}

/// How one walk ended.
enum Once<'a> {
    Walked(Walked<'a>),
    /// A trusted directory did not match its record.
    Stale,
    /// A record line does not parse.
    Damaged(anyhow::Error),
}

/// Walks `tree` in parallel on `pool`, trusting unchanged recorded
/// directories; see the module comment for when it starts over.
pub(super) fn walk<'a>(
    tree: &std::path::Path,
    index: &Index<'a>,
    lost: bool,
    pool: &rayon::ThreadPool,
) -> Result<Walked<'a>, FsError> {
    let empty = Index::default();
    let (mut index, mut trust, mut damaged) = (index, true, None);
    loop {
        match walk_once(tree, index, trust, lost, pool)? {
            Once::Walked(mut w) => {
                w.damaged = damaged;
                return Ok(w);
            }
            Once::Stale => trust = false,
            Once::Damaged(e) => {
                // Which bad line a task met first depends on the threads:
                // the report names the first one in the file.
                damaged = Some(index.first_damage().unwrap_or(e));
                index = &empty;
            }
        }
    }
}

/// One walk.
fn walk_once<'a>(
    tree: &std::path::Path,
    index: &Index<'a>,
    trust: bool,
    lost: bool,
    pool: &rayon::ThreadPool,
) -> Result<Once<'a>, FsError> {
    let top = match DirFd::open(tree) {
        Ok(d) => d,
        Err(e) if e.errno() == crate::fsx::Errno::ENOENT => {
            return Ok(Once::Walked(Walked::default()))
        }
        Err(e) => return Err(e),
    };
    let ctx = Ctx {
        walker: Walker::from_dir(top),
        index,
        trust,
        lost,
        found: Mutex::new(Vec::new()),
        error: Mutex::new(None),
        damage: Mutex::new(None),
        walked: AtomicUsize::new(0),
        read: AtomicUsize::new(0),
        trusted: AtomicUsize::new(0),
        stale: AtomicBool::new(false),
    };
    pool.scope(|s| ctx.dir(s, 0, Arc::from(&b""[..]), false));
    if let Some(e) = ctx.error.into_inner().expect("BUG: poisoned") {
        return Err(e);
    }
    if let Some(e) = ctx.damage.into_inner().expect("BUG: poisoned") {
        return Ok(Once::Damaged(e));
    }
    if ctx.stale.into_inner() {
        return Ok(Once::Stale);
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
    Ok(Once::Walked(Walked {
        found,
        walked: ctx.walked.into_inner(),
        read: ctx.read.into_inner(),
        trusted: ctx.trusted.into_inner(),
        damaged: None,
    }))
}

/// Consecutive runs of `runs` holding about [`STAT_CHUNK`] records each.
fn batches<'r, 'a>(runs: &'r [Run<'a>]) -> impl Iterator<Item = &'r [Run<'a>]> {
    let mut rest = runs;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut n, mut take) = (0, 0);
        while take < rest.len() && (take == 0 || n + rest[take].len() <= STAT_CHUNK) {
            n += rest[take].len();
            take += 1;
        }
        let (batch, more) = rest.split_at(take);
        rest = more;
        Some(batch)
    })
}

struct Ctx<'i, 'a> {
    walker: Walker,
    index: &'i Index<'a>,
    trust: bool,
    /// The tree was copied or restored: inode numbers recorded mean nothing.
    lost: bool,
    found: Mutex<Vec<Vec<Found<'a>>>>,
    error: Mutex<Option<FsError>>,
    damage: Mutex<Option<anyhow::Error>>,
    walked: AtomicUsize,
    read: AtomicUsize,
    trusted: AtomicUsize,
    stale: AtomicBool,
}

impl<'i, 'a> Ctx<'i, 'a> {
    /// Records an error. Of several, the one with the smallest path is
    /// kept, whichever thread met it first: the report must not depend on
    /// the thread count.
    fn fail(&self, e: FsError) {
        let mut slot = self.error.lock().expect("BUG: poisoned");
        if slot.as_ref().is_none_or(|old| e.path() < old.path()) {
            *slot = Some(e);
        }
    }

    /// Records that a manifest line does not parse (which one is reported
    /// is decided afterwards, see [`walk`]).
    fn damaged(&self, e: anyhow::Error) {
        self.damage.lock().expect("BUG: poisoned").get_or_insert(e);
    }

    /// Takes over what a task found. Tasks count on their own and hand
    /// over once: a counter shared per entry would bounce between the
    /// threads' caches 20,000 times for a toolchain.
    fn keep(&self, tally: Tally<'a>) {
        self.walked.fetch_add(tally.seen, Ordering::Relaxed);
        if !tally.found.is_empty() {
            self.found.lock().expect("BUG: poisoned").push(tally.found);
        }
    }

    /// Lists one directory: from the manifest if it is a recorded one that
    /// nothing changed, else by reading it.
    /// A directory the manifest says exists (`recorded`) and that cannot
    /// be opened makes the walk start over without trusting directories;
    /// any other one is an error.
    fn dir<'s>(&'s self, scope: &rayon::Scope<'s>, node: u32, rel: Arc<[u8]>, recorded: bool)
    where
        'i: 's,
    {
        let dir = match self.walker.open(node) {
            Ok(d) => d,
            Err(_) if recorded => return self.stale.store(true, Ordering::Relaxed),
            Err(e) => return self.fail(e),
        };
        let group = self.index.group(&rel);
        let unchanged = |g: &Group<'a>| {
            g.dir.is_some_and(|d| {
                dir.stat_self()
                    .is_ok_and(|st| d.unchanged(&st, g.subdirs.len()))
            })
        };
        match group {
            Some(g) if self.trust && unchanged(g) => {
                self.trusted.fetch_add(1, Ordering::Relaxed);
                for name in &g.subdirs {
                    self.spawn_dir(scope, node, &rel, name, true);
                }
                let runs: &'i [Run<'a>] = &g.runs;
                for batch in batches(runs) {
                    let rel = Arc::clone(&rel);
                    scope.spawn(move |_| match self.walker.open(node) {
                        Ok(dir) => self.recorded(&dir, &rel, batch),
                        Err(e) => self.fail(e),
                    });
                }
            }
            _ => {
                self.read.fetch_add(1, Ordering::Relaxed);
                let entries = match dir.fresh_entries() {
                    Ok(e) => e,
                    Err(e) => return self.fail(e),
                };
                let by_name = match group.map(|g| g.by_name()).transpose() {
                    Ok(m) => Arc::new(m.unwrap_or_default()),
                    Err(e) => return self.damaged(e),
                };
                let mut files = Vec::with_capacity(entries.len());
                for ent in entries {
                    if ent.kind == Some(Kind::Dir) {
                        self.spawn_dir(scope, node, &rel, &ent.name, false);
                    } else {
                        files.push(ent);
                    }
                }
                let files = Arc::new(files);
                for start in (0..files.len()).step_by(STAT_CHUNK) {
                    let rel = Arc::clone(&rel);
                    let (files, by_name) = (Arc::clone(&files), Arc::clone(&by_name));
                    scope.spawn(move |s| {
                        let end = files.len().min(start + STAT_CHUNK);
                        match self.walker.open(node) {
                            Ok(dir) => {
                                self.read_entries(s, node, &dir, &rel, &files[start..end], &by_name)
                            }
                            Err(e) => self.fail(e),
                        }
                    });
                }
            }
        }
    }

    fn spawn_dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        parent: u32,
        rel: &[u8],
        name: &[u8],
        recorded: bool,
    ) where
        'i: 's,
    {
        let sub = self.walker.add(parent, name);
        let sub_rel: Arc<[u8]> = Arc::from(crate::scan::child_rel(rel, name));
        scope.spawn(move |s| self.dir(s, sub, sub_rel, recorded));
    }

    /// `lstat`s the recorded entries of a trusted directory.
    fn recorded(&self, dir: &DirFd, rel: &[u8], runs: &[Run<'a>]) {
        let mut mine = Tally {
            lost: self.lost,
            ..Tally::default()
        };
        // All the lines first, then the lstats: parsed in one go, the lines
        // stream through the cache; parsed one per lstat, each comes back
        // cold from the kernel's turn.
        let records: Result<Vec<_>, _> = runs.iter().flat_map(Run::records).collect();
        let records = match records {
            Ok(r) => r,
            Err(e) => return self.damaged(e),
        };
        for (name, rec) in records {
            match dir.stat(&name) {
                Ok(Some(st)) => mine.compare(rel, &name, &st, Some(&rec)),
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
        node: u32,
        dir: &DirFd,
        rel: &[u8],
        files: &[RawEntry],
        by_name: &ByName<'a>,
    ) where
        'i: 's,
    {
        let mut mine = Tally {
            lost: self.lost,
            ..Tally::default()
        };
        for ent in files {
            let st = match dir.stat(&ent.name) {
                Ok(Some(st)) => st,
                Ok(None) => {
                    let path = dir.child_path(&ent.name);
                    return self.fail(FsError::new("inspecting", path, crate::fsx::Errno::ENOENT));
                }
                Err(e) => return self.fail(e),
            };
            if Kind::from_mode(st.st_mode) == Kind::Dir {
                // No d_type from this filesystem.
                self.spawn_dir(scope, node, rel, &ent.name, false);
                continue;
            }
            mine.compare(rel, &ent.name, &st, by_name.get(&ent.name[..]));
        }
        self.keep(mine);
    }
}

/// What one task found: handed over once, at its end.
#[derive(Default)]
struct Tally<'a> {
    found: Vec<Found<'a>>,
    /// Files and symlinks seen.
    seen: usize,
    /// See [`Ctx::lost`].
    lost: bool,
}

impl<'a> Tally<'a> {
    /// Counts a file or symlink and keeps it if it is not exactly as
    /// recorded.
    fn compare(&mut self, rel: &[u8], name: &[u8], st: &FileStat, rec: Option<&RecordRef<'a>>) {
        let kind = Kind::from_mode(st.st_mode);
        if !matches!(kind, Kind::File | Kind::Symlink) {
            return;
        }
        self.seen += 1;
        let (size, mtime) = (st.st_size as u64, Mtime::of(st));
        if rec.is_some_and(|r| super::unchanged(r, self.lost, st.st_ino, size, mtime, st.st_mode)) {
            return;
        }
        self.found.push(Found {
            rel: crate::scan::child_rel(rel, name),
            meta: Meta::of(st),
            key: FileKey::of(st),
            size,
            placed: rec.copied(),
        });
    }
}
