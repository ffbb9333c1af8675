//! Executing a [`Plan`] against a destination directory.
//!
//! Contiguous runs of directories (in pre-order) are filled in parallel, one
//! run per task, each task reaching its directories through
//! `openat(O_NOFOLLOW)` from the root (or a kept ancestor); while a
//! directory is open, the task makes its subdirectories (`mkdirat`), places
//! its entries, and then sets its mode, owner and mtime, which is the last
//! change made inside it. The directories whose parent another task fills
//! (and their ancestors) are created beforehand, sequentially in pre-order,
//! so that no task makes a subdirectory in a directory whose mtime another
//! task has already set; a single task creates none beforehand. A symlink or file found in the destination where the plan has
//! a directory is replaced (reported); a directory found where the plan has
//! a file is kept (reported) unless it is empty (removed, as rsync does):
//! ppd never deletes a directory's contents to make room. Existing entries that already are what the plan wants are
//! left alone, so a re-run on a complete tree only reads it.
//!
//! In link mode a regular file becomes a hard link to the source inode; if
//! the kernel refuses (`EXDEV` across filesystems, `EMLINK` at the link-count
//! limit), it is copied instead (copy_file_range, which reflinks where the
//! filesystem can) and counted as a fallback. Replacements are made under a
//! temporary name and renamed into place, so a killed run never leaves a
//! half-written file under a real name.
//!
//! In clone mode (prepare's `reflink` and `snapshot` link modes) every
//! regular file gets a new inode sharing the source's data blocks
//! (`FICLONE`; a copy, counted as a fallback, where the kernel refuses),
//! with its mode, owner and nanosecond mtime; symlinks are hard-linked as
//! in link mode (a symlink cannot be written in place). Otherwise it
//! follows copy mode's rules below (hard-link groups, the quick check),
//! with one difference in ownership: a clone that still carries the inode
//! placed but whose size, mtime or mode changed was edited in place by the
//! package itself (nothing else shares that inode), so it is the package's
//! own and left alone, where in link mode the same edit went through the
//! dependency's inode and stays the dependency's.
//!
//! In copy mode every file gets a new inode with the source's content, mode,
//! owner (as root) and mtime; holes stay holes (`SEEK_DATA`/`SEEK_HOLE`).
//! An inode that the plan places under several names (a hard-link group) is
//! copied once, under its first name in plan order, and the other names are
//! linked to that copy in a third, sequential step after every copy exists;
//! directories gaining such links get their metadata after that step. An
//! existing file that already matches the source (type, size, mtime, mode,
//! owner as root, and not the source inode itself) is left alone, like
//! rsync's quick check, so a re-run after no change only `stat`s. A copy
//! under a name that does not exist yet is written in place (its mtime is
//! set last, so a copy cut short by a kill never passes that check and is
//! replaced by the next run); an existing entry is replaced by rename.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::fsx::Errno;
use anyhow::Result;

use super::copy::{copy_any, link_within, Data, Made};
use super::plan::{dir_meta, entry, EntryRef, Plan, PlanDir, Source};
use crate::fsx::{self, At, DirFd, FileKey, FsError, Kind, Meta, Mtime};
use crate::manifest::{DirRecord, Manifest};
use crate::scan::SrcEntry;
use crate::walk::DirCache;

mod copy_mode;
pub(super) use copy_mode::{is_copy_of, Groups};

/// Counters of one apply run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Hard links created.
    pub linked: u64,
    /// Files copied (copy mode, or link and clone fallbacks).
    pub copied: u64,
    /// Files placed as clones sharing their source's blocks (clone mode,
    /// and copy mode asked to clone).
    pub cloned: u64,
    /// Of those, copies made because a hard link was refused (EXDEV, EMLINK).
    pub fallbacks: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Directories created.
    pub dirs_created: u64,
    /// Entries replaced because they differed.
    pub replaced: u64,
    /// Entries already right.
    pub skipped: u64,
    /// Entries already in place because the destination is a snapshot of
    /// the dependency that provides them.
    pub from_snapshot: u64,
}

impl Stats {
    /// Adds another run's counters to these.
    pub fn add(&mut self, o: &Stats) {
        self.linked += o.linked;
        self.copied += o.copied;
        self.cloned += o.cloned;
        self.fallbacks += o.fallbacks;
        self.symlinks += o.symlinks;
        self.dirs_created += o.dirs_created;
        self.replaced += o.replaced;
        self.skipped += o.skipped;
        self.from_snapshot += o.from_snapshot;
    }
}

/// A clash between the plan and what the destination already holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestClash {
    /// Path relative to the destination.
    pub path: Vec<u8>,
    /// What the destination held.
    pub found: Kind,
    /// What the plan wanted.
    pub wanted: Kind,
    /// Whether the destination entry was replaced (else kept).
    pub replaced: bool,
    /// The source that provides the planned entry.
    pub provider: u32,
}

/// One entry as placed, for manifests.
#[derive(Clone, Debug)]
pub struct Placed {
    /// The plan entry.
    pub r: EntryRef,
    /// Index of its directory in the plan.
    pub dir: u32,
    /// Identity of what now sits in the destination.
    pub key: FileKey,
    /// Size, mode and mtime of it.
    pub size: u64,
    /// Metadata of it.
    pub meta: Meta,
}

/// How files reach the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileMode {
    /// Hard links to the source inodes.
    Link,
    /// New inodes sharing the sources' data blocks (clones), symlinks
    /// hard-linked; a package's in-place edit of a clone is its own.
    Clone,
    /// New inodes with the sources' content and metadata.
    Copy {
        /// Leave alone a destination file newer than its source (`rsync -u`).
        keep_newer: bool,
        /// How the data is written.
        data: Data,
    },
}

/// What [`apply`] should do besides placing entries.
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions<'a> {
    /// How files are placed.
    pub mode: FileMode,
    /// Collect a [`Placed`] record per entry (costs one `lstat` per file).
    pub record: bool,
    /// The manifest the previous prepare of this tree wrote: an existing
    /// entry that differs from the plan is replaced only if it still is what
    /// that manifest recorded; anything else is the package's own and is
    /// left alone.
    pub guard: Option<&'a Manifest>,
    /// Incremented per entry placed, for a progress bar drawn by another
    /// thread.
    pub progress: Option<&'a AtomicU64>,
    /// The source the destination was just made a snapshot of (clone mode
    /// only): its winning entries are already in place, and whatever else
    /// the snapshot brought is replaced without being reported or guarded.
    pub base: Option<u32>,
    /// With a guard: the last run writing the destination was killed,
    /// having marked it at this time. An entry the guard does not record
    /// but that was born after this time was made by that run (a copy or
    /// clone created under its name, cut short before its metadata was
    /// set), never by the package, and is replaced.
    pub interrupted_since: Option<Mtime>,
}

/// Everything [`apply`] reports.
#[derive(Debug, Default)]
pub struct Applied {
    /// Counters.
    pub stats: Stats,
    /// Clashes with pre-existing destination entries, sorted by path.
    pub clashes: Vec<DestClash>,
    /// Placed entries in plan order (only with `record`).
    pub placed: Vec<Placed>,
    /// Paths left alone because the package installed or edited them itself
    /// (only with a guard manifest), sorted.
    pub kept_own: Vec<Vec<u8>>,
    /// Per plan directory: created by this run, so it holds exactly what
    /// the plan put there.
    pub fresh: Vec<bool>,
    /// With `record`: each directory this run created (by plan index), as
    /// an `fstat` of it found it after the last change apply made in it,
    /// sorted; a directory whose metadata is set after the parallel pass
    /// (copy mode's hard-link groups) is left out.
    pub fresh_dirs: Vec<(u32, DirRecord)>,
    /// Device nodes not created because the kernel refused `mknod` (not
    /// root): skipped as `rsync -a` skips them, whatever the destination
    /// holds at that path left as it is, and no record made; paths
    /// relative to the destination, sorted.
    pub skipped: Vec<Vec<u8>>,
    /// Set by a placement that found the entry already right and left it
    /// untouched: the `lstat` it made, which is then the entry's record
    /// (a re-run reads each entry once, not twice).
    found: Option<crate::fsx::FileStat>,
}

/// Applies `plan` (built from `sources`) to the directory `dest`, creating
/// it and its parents if needed.
pub fn apply(
    sources: &[Source],
    plan: &Plan,
    dest: &std::path::Path,
    opts: ApplyOptions,
    pool: &rayon::ThreadPool,
) -> Result<Applied> {
    let existed = std::fs::symlink_metadata(dest).is_ok();
    let root = DirFd::create_all(dest)?;
    let mut out = Applied::default();
    // The handles make_dirs opened serve the first run of directories.
    let mut made = DirCache::new();
    let snapshot = opts.base.is_some();
    let chunks = chunk(plan, pool.current_num_threads());
    // Each directory's subdirectories are made by the task filling it,
    // while it is open for that, so that no directory is opened twice
    // (once as a parent to make subdirectories in, once to be filled);
    // only those another task fills (and their ancestors) are made
    // beforehand, in one sequential pass: none at all with one task.
    let early = made_early(plan, &chunks);
    let mut fresh = make_dirs(sources, plan, &early, &root, snapshot, &mut made, &mut out)?;
    let made = std::sync::Mutex::new(Some(made));
    fresh[0] = !existed;
    let fresh: Vec<AtomicBool> = fresh.into_iter().map(AtomicBool::new).collect();
    let mut children = vec![Vec::new(); plan.dirs.len()];
    for (i, d) in plan.dirs.iter().enumerate().skip(1) {
        if !early[i] {
            children[d.parent as usize].push(i as u32);
        }
    }
    let groups = match opts.mode {
        FileMode::Link => Groups::default(),
        FileMode::Clone | FileMode::Copy { .. } => Groups::of(sources, plan),
    };

    let stop = AtomicBool::new(false);
    let copies = std::sync::Mutex::new(HashMap::new());
    let task = Task {
        sources,
        plan,
        opts,
        fresh: &fresh,
        children: &children,
        snapshot,
        groups: &groups,
        root: &root,
        copies: &copies,
    };
    let results: Vec<Result<Applied>> = pool.install(|| {
        use rayon::prelude::*;
        chunks
            .par_iter()
            .map(|range| {
                let cache = match range.start {
                    0 => made.lock().ok().and_then(|mut m| m.take()),
                    _ => None,
                };
                let r = task.fill_chunk(&root, range.clone(), cache, &stop);
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                r
            })
            .collect()
    });
    for r in results {
        let a = r?;
        out.stats.add(&a.stats);
        out.clashes.extend(a.clashes);
        out.placed.extend(a.placed);
        out.kept_own.extend(a.kept_own);
        out.fresh_dirs.extend(a.fresh_dirs);
        out.skipped.extend(a.skipped);
    }
    if !groups.links.is_empty() {
        task.link_groups(&root, &mut out)?;
    }
    out.clashes.sort_by(|a, b| a.path.cmp(&b.path));
    out.kept_own.sort();
    out.skipped.sort();
    out.skipped.dedup();
    out.fresh_dirs.sort_unstable_by_key(|&(i, _)| i);
    out.fresh = fresh.into_iter().map(AtomicBool::into_inner).collect();
    Ok(out)
}

/// Splits the pre-ordered directories into contiguous runs of similar size.
fn chunk(plan: &Plan, threads: usize) -> Vec<std::ops::Range<usize>> {
    let n = plan.dirs.len();
    if threads <= 1 {
        return std::iter::once(0..n).collect();
    }
    let total: usize = plan.dirs.iter().map(|d| d.leaves.len() + 4).sum();
    let per = (total / (threads * 4)).max(256);
    let mut out = Vec::new();
    let (mut start, mut acc) = (0, 0);
    for (i, d) in plan.dirs.iter().enumerate() {
        acc += d.leaves.len() + 4;
        if acc >= per {
            out.push(start..i + 1);
            start = i + 1;
            acc = 0;
        }
    }
    if start < n {
        out.push(start..n);
    }
    out
}

/// Per plan directory: true if it must exist before the tasks start,
/// because a task other than its parent's fills it, or it is the ancestor
/// of such a directory. A task sets a directory's metadata once it has
/// filled it, so a subdirectory made in it after that (by another task)
/// would change its mtime.
fn made_early(plan: &Plan, chunks: &[std::ops::Range<usize>]) -> Vec<bool> {
    let mut task = vec![0u32; plan.dirs.len()];
    for (t, range) in chunks.iter().enumerate() {
        task[range.clone()].fill(t as u32);
    }
    let mut early = vec![false; plan.dirs.len()];
    // Children come after their parents in pre-order: backwards, each
    // directory marks its parent.
    for (i, d) in plan.dirs.iter().enumerate().skip(1).rev() {
        let p = d.parent as usize;
        if early[i] || task[p] != task[i] {
            early[i] = true;
            early[p] = true;
        }
    }
    early
}

/// Creates the plan directories `early` marks, in pre-order; returns, per
/// plan directory, whether it was created by this run (so it holds nothing
/// yet and needs no lookups).
fn make_dirs(
    sources: &[Source],
    plan: &Plan,
    early: &[bool],
    root: &DirFd,
    snapshot: bool,
    cache: &mut DirCache,
    out: &mut Applied,
) -> Result<Vec<bool>> {
    let mut fresh = vec![false; plan.dirs.len()];
    let layout = plan.layout(root);
    for (i, d) in plan.dirs.iter().enumerate().skip(1) {
        if early[i] {
            // Its parent is the root or marked too: made already.
            let parent = cache.open(&layout, d.parent)?;
            fresh[i] = make_dir(sources, d, &parent, snapshot, out)?;
        }
    }
    Ok(fresh)
}

/// Creates the plan directory `d` in its open parent; returns true if this
/// run created it (false: a directory was there already).
fn make_dir(
    sources: &[Source],
    d: &PlanDir,
    parent: &DirFd,
    snapshot: bool,
    out: &mut Applied,
) -> Result<bool> {
    let name = d.name();
    let mode = (dir_meta(sources, d)?.mode & 0o7777) | 0o700;
    if parent.mkdir(name, mode)? {
        out.stats.dirs_created += 1;
        return Ok(true);
    }
    let st = parent.stat(name)?;
    let found = st.map_or(Kind::Dir, |st| Kind::from_mode(st.st_mode));
    if found == Kind::Dir {
        return Ok(false);
    }
    // A symlink or file where a dependency has a directory: the dependency
    // wins, as with rsync. Removing the entry itself (never following it)
    // keeps everything outside untouched.
    parent.unlink(name, false)?;
    parent.mkdir(name, mode)?;
    out.stats.dirs_created += 1;
    if !snapshot {
        // (With a snapshot: the snapshot's entry, which a later
        // dependency's directory overrides, is no clash.)
        out.clashes.push(DestClash {
            path: d.rel.to_vec(),
            found,
            wanted: Kind::Dir,
            replaced: true,
            provider: d.meta_from.0,
        });
    }
    Ok(true)
}

/// The source directory the previous leaf came from, kept so that a run
/// of leaves from one source directory takes its handle once.
#[derive(Default)]
struct SrcDirs {
    last: Option<((u32, u32), Arc<DirFd>)>,
}

impl SrcDirs {
    fn open(&mut self, sources: &[Source], r: EntryRef) -> Result<Arc<DirFd>, FsError> {
        match &self.last {
            Some((at, fd)) if *at == (r.src, r.dir) => Ok(Arc::clone(fd)),
            _ => {
                let fd = sources[r.src as usize].tree.dir(r.dir as usize)?;
                self.last = Some(((r.src, r.dir), Arc::clone(&fd)));
                Ok(fd)
            }
        }
    }
}

/// One entry to place: the open destination directory, whether this run
/// created it, the source entry (through its directory's handle) and the
/// plan entry.
#[derive(Clone, Copy)]
struct Item<'a> {
    dir: &'a DirFd,
    fresh: bool,
    src: At<'a>,
    r: EntryRef,
    e: &'a SrcEntry,
}

/// The rule of [`Task::may_replace`] for the entry `name` of `dir` at
/// `path` (relative to the destination), shared with the dry run
/// ([`super::preview`]).
pub(super) fn replaceable(
    opts: &ApplyOptions,
    path: &[u8],
    dir: &DirFd,
    name: &[u8],
    st: &crate::fsx::FileStat,
) -> bool {
    let (guard, mode) = (opts.guard, opts.mode);
    let Some(m) = guard else {
        return true;
    };
    let Some(rec) = m.records.get(path) else {
        // Left by the killed run before (see `interrupted_since`).
        return opts.interrupted_since.is_some_and(|t| {
            Kind::from_mode(st.st_mode) != Kind::Dir && dir.born(name).is_some_and(|b| b >= t)
        });
    };
    if mode == FileMode::Clone && !m.identity_lost && Kind::from_mode(st.st_mode) == Kind::File {
        // A clone's inode is this tree's alone: a change under it is the
        // package's own edit.
        return rec.matches(st) && rec.mode & 0o7777 == st.st_mode & 0o7777;
    }
    rec.still_placed(st, m.trust(), || dir.born(name))
}

/// What every placement needs to know.
struct Task<'a> {
    sources: &'a [Source],
    plan: &'a Plan,
    opts: ApplyOptions<'a>,
    /// Per plan directory: created by this run.
    fresh: &'a [AtomicBool],
    /// Per plan directory: the subdirectories the task filling it makes
    /// in it, before its entries (the others [`make_dirs`] made).
    children: &'a [Vec<u32>],
    /// The destination is a snapshot of a source (see [`make_dir`]).
    snapshot: bool,
    groups: &'a Groups,
    /// The destination root.
    root: &'a DirFd,
    /// Link fallbacks: per source inode, where its first copy was placed
    /// (relative to the root).
    copies: &'a std::sync::Mutex<HashMap<FileKey, Vec<u8>>>,
}

impl Task<'_> {
    /// Returns true if an existing entry that differs from the plan may be
    /// replaced: always without a guard; with one, only if it still carries
    /// the inode the previous prepare placed (edited in place or not: see
    /// [`crate::manifest::Record::still_placed`]).
    fn may_replace(
        &self,
        dir: &DirFd,
        r: EntryRef,
        e: &SrcEntry,
        st: &crate::fsx::FileStat,
    ) -> bool {
        let tree = &self.sources[r.src as usize].tree;
        let path = crate::scan::child_rel(&tree.dirs[r.dir as usize].rel, &e.name);
        replaceable(&self.opts, &path, dir, &e.name, st)
    }

    /// Records a device node skipped because it cannot be created.
    fn skip(&self, r: EntryRef, e: &SrcEntry, out: &mut Applied) {
        let tree = &self.sources[r.src as usize].tree;
        out.skipped
            .push(crate::scan::child_rel(&tree.dirs[r.dir as usize].rel, &e.name).into_vec());
    }

    fn own(&self, r: EntryRef, e: &SrcEntry, out: &mut Applied) {
        let tree = &self.sources[r.src as usize].tree;
        out.kept_own
            .push(crate::scan::child_rel(&tree.dirs[r.dir as usize].rel, &e.name).into_vec());
    }

    fn fill_chunk(
        &self,
        root: &DirFd,
        range: std::ops::Range<usize>,
        cache: Option<DirCache>,
        stop: &AtomicBool,
    ) -> Result<Applied> {
        let (sources, plan, opts) = (self.sources, self.plan, self.opts);
        let layout = plan.layout(root);
        let mut cache = cache.unwrap_or_default();
        let mut src_dirs = SrcDirs::default();
        let mut out = Applied::default();
        for i in range {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let d = &plan.dirs[i];
            let dir = &*cache.open(&layout, i as u32)?;
            for &c in &self.children[i] {
                let c = c as usize;
                let made = make_dir(sources, &plan.dirs[c], dir, self.snapshot, &mut out)?;
                self.fresh[c].store(made, Ordering::Relaxed);
            }
            let fresh = self.fresh[i].load(Ordering::Relaxed);
            let late = self.groups.late_dirs.contains(&(i as u32));
            for (l, &r) in d.leaves.iter().enumerate() {
                if late && self.groups.later.contains(&(i as u32, l as u32)) {
                    continue;
                }
                let e = entry(sources, r);
                if self.already_copied(dir, fresh, r, e)? {
                    out.stats.skipped += 1;
                    continue;
                }
                let src_dir = src_dirs.open(sources, r)?;
                let src = At {
                    dir: &src_dir,
                    name: &e.name,
                };
                let it = Item {
                    dir,
                    fresh,
                    src,
                    r,
                    e,
                };
                let skipped = out.skipped.len();
                out.found = None;
                self.place(it, &mut out)
                    .map_err(|err| placing(err, &dir.child_path(&e.name)))?;
                if opts.record && out.skipped.len() == skipped {
                    let st = match out.found.take() {
                        Some(st) => st,
                        None => lstat(dir, e)?,
                    };
                    out.placed.push(placed(r, i as u32, &st));
                }
            }
            if late {
                // Set after the links of the hard-link groups.
            } else if fresh {
                let st = set_fresh_dir_meta(dir, &dir_meta(sources, d)?)?;
                if opts.record {
                    out.fresh_dirs.push((i as u32, DirRecord::of(&st)));
                }
            } else {
                set_dir_meta(dir, &dir_meta(sources, d)?)?;
            }
            if let Some(p) = self.opts.progress {
                p.fetch_add(d.leaves.len() as u64 + 1, Ordering::Relaxed);
            }
        }
        Ok(out)
    }
}

impl Task<'_> {
    /// Copy mode's quick check ([`is_copy_of`]) of a regular file already
    /// in a directory this run did not create, on the source's metadata
    /// read by path ([`crate::scan::SrcTree::stat_at_path`]): a re-run
    /// finds nearly every file already copied, and this leaves each alone
    /// without opening its source directory again. False whenever anything
    /// else may have to be done ([`Task::place`] then decides).
    fn already_copied(&self, dir: &DirFd, fresh: bool, r: EntryRef, e: &SrcEntry) -> Result<bool> {
        let copy = matches!(self.opts.mode, FileMode::Copy { .. });
        if !copy || fresh || e.kind != Kind::File || self.opts.record || self.opts.base.is_some() {
            return Ok(false);
        }
        let Some(st) = dir.stat(&e.name)? else {
            return Ok(false);
        };
        if Kind::from_mode(st.st_mode) != Kind::File {
            return Ok(false);
        }
        let tree = &self.sources[r.src as usize].tree;
        let (m, size) = match e.meta {
            Some(m) => (m, e.size),
            None => match tree.stat_at_path(r.dir as usize, &e.name, e.ino) {
                Some(s) => (Meta::of(&s), s.st_size as u64),
                None => return Ok(false),
            },
        };
        let key = FileKey {
            dev: tree.dev,
            ino: e.ino,
        };
        Ok(is_copy_of(&st, &m, size, key))
    }

    fn place(&self, it: Item, out: &mut Applied) -> Result<()> {
        let Item { dir, src, r, e, .. } = it;
        let sources = self.sources;
        let name: &[u8] = &e.name;
        if let Some(base) = self.opts.base {
            if r.src == base {
                out.stats.from_snapshot += 1;
                return Ok(());
            }
            // A directory here came with the snapshot (this run made every
            // other one as a plan directory): the winner replaces it.
            if !it.fresh {
                if let Some(st) = dir.stat(name)? {
                    if Kind::from_mode(st.st_mode) == Kind::Dir {
                        dir.remove_tree(name)?;
                    }
                }
            }
        }
        if e.kind == Kind::Symlink {
            let link = matches!(self.opts.mode, FileMode::Link | FileMode::Clone);
            if link && self.link_symlink(it, out)? {
                return Ok(());
            }
            return self.place_symlink(it, out);
        }
        match self.opts.mode {
            FileMode::Copy { keep_newer, data } => {
                return self.place_copy(it, keep_newer, data, out)
            }
            FileMode::Clone => return self.place_copy(it, false, Data::Clone, out),
            FileMode::Link => {}
        }
        let want = FileKey {
            dev: sources[r.src as usize].tree.dev,
            ino: e.ino,
        };
        match dir.link_from(src, name) {
            Ok(()) => {
                out.stats.linked += 1;
                Ok(())
            }
            Err(Errno::EEXIST) => {
                let st = dir.stat(name)?;
                match &st {
                    Some(st) if FileKey::of(st) == want => {
                        out.stats.skipped += 1;
                        out.found = Some(*st);
                        Ok(())
                    }
                    Some(st) if Kind::from_mode(st.st_mode) == Kind::Dir => {
                        if emptied(dir, name) {
                            return self.place(it, out);
                        }
                        out.clashes.push(clash(sources, r, e, Kind::Dir, false));
                        Ok(())
                    }
                    Some(st) if !self.may_replace(dir, r, e, st) => {
                        self.own(r, e, out);
                        Ok(())
                    }
                    _ => {
                        let tmp = fsx::temp_name();
                        match dir.link_from(src, &tmp) {
                            Ok(()) => {
                                if let Err(err) = dir.rename(&tmp, name) {
                                    let _ = dir.unlink(&tmp, false);
                                    return Err(err.naming(&dir.child_path(name)).into());
                                }
                                out.stats.linked += 1;
                                out.stats.replaced += 1;
                                Ok(())
                            }
                            Err(Errno::EXDEV | Errno::EMLINK | Errno::EPERM) => {
                                self.fall_back(&it, want, st.as_ref(), out)
                            }
                            Err(errno) => Err(FsError::two(
                                "hard-linking",
                                src.path(),
                                dir.child_path(name),
                                errno,
                            )
                            .into()),
                        }
                    }
                }
            }
            Err(Errno::EXDEV | Errno::EMLINK | Errno::EPERM) => {
                self.fall_back(&it, want, None, out)
            }
            Err(errno) => {
                Err(FsError::two("hard-linking", src.path(), dir.child_path(name), errno).into())
            }
        }
    }
}

impl Task<'_> {
    /// Places a copy where the kernel refused the hard link (`EXDEV`
    /// across filesystems, `EMLINK` at the link-count limit, `EPERM` from
    /// `protected_hardlinks` for another user's file), as `rsync
    /// --link-dest` copies: a source inode with several names gets one
    /// copy, and its other names become hard links to that copy (as
    /// `rsync -H`). An existing entry (`existing`) that already matches
    /// the source as rsync's quick check sees it (type, size, mtime, mode,
    /// owner as root) is left alone, so a re-run changes nothing; the
    /// manifest records what is there, copy or link.
    fn fall_back(
        &self,
        it: &Item,
        want: FileKey,
        existing: Option<&crate::fsx::FileStat>,
        out: &mut Applied,
    ) -> Result<()> {
        let Item { dir, src, r, e, .. } = *it;
        let name: &[u8] = &e.name;
        let tree = &self.sources[r.src as usize].tree;
        let rel = crate::scan::child_rel(&tree.dirs[r.dir as usize].rel, name).into_vec();
        let replaced = u64::from(existing.is_some());
        if existing.is_some_and(|st| quick_same(st, src)) {
            out.stats.skipped += 1;
            let mut copies = self.copies.lock().unwrap_or_else(|p| p.into_inner());
            copies.entry(want).or_insert(rel);
            return Ok(());
        }
        // Held while copying, so two names of one inode never make two
        // copies; only fallbacks take it.
        let mut copies = self.copies.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = copies.get(&want).filter(|f| **f != rel) {
            let (fdir, fname) = match memchr::memrchr(b'/', first) {
                Some(i) => (&first[..i], &first[i + 1..]),
                None => (&b""[..], &first[..]),
            };
            if let Ok(fdir) = self.root.open_beneath(fdir) {
                let linked = if existing.is_some() {
                    via_temp(dir, name, |tmp| link_within(&fdir, fname, dir, tmp))
                } else {
                    link_within(&fdir, fname, dir, name)
                };
                if linked.is_ok() {
                    out.stats.linked += 1;
                    out.stats.replaced += replaced;
                    return Ok(());
                }
            }
        }
        let made = via_temp_made(dir, name, |tmp| copy_any(dir, src, e.kind, tmp, Data::Auto))?;
        if made == Made::Skipped {
            self.skip(r, e, out);
            return Ok(());
        }
        copies.insert(want, rel);
        out.stats.copied += 1;
        out.stats.fallbacks += 1;
        out.stats.replaced += replaced;
        Ok(())
    }
}

/// rsync's quick check: `st` is a regular file with the size, mtime, mode
/// bits (and, as root, owner) of the file at `src`.
pub(super) fn quick_same(st: &crate::fsx::FileStat, src: At<'_>) -> bool {
    let Ok(Some(s)) = src.dir.stat(src.name) else {
        return false;
    };
    Kind::from_mode(st.st_mode) == Kind::File
        && Kind::from_mode(s.st_mode) == Kind::File
        && st.st_size == s.st_size
        && Mtime::of(st) == Mtime::of(&s)
        && st.st_mode & 0o7777 == s.st_mode & 0o7777
        && (!fsx::is_root() || (st.st_uid, st.st_gid) == (s.st_uid, s.st_gid))
}

impl Task<'_> {
    /// Hard-links a symlink itself (`linkat` never follows it), so that
    /// per-package trees share symlink inodes as they share files: one
    /// call instead of symlinkat, lchown and utimensat, with the owner and
    /// mtime kept by construction, and identity checks by inode instead of
    /// by reading targets. A symlink cannot be edited in place, only
    /// replaced, so sharing its inode cannot leak an edit. Returns false to
    /// fall back to recreating it (a filesystem or `protected_hardlinks`
    /// refusing the link, the link-count limit).
    fn link_symlink(&self, it: Item, out: &mut Applied) -> Result<bool> {
        let Item { dir, src, r, e, .. } = it;
        let name: &[u8] = &e.name;
        let want = FileKey {
            dev: self.sources[r.src as usize].tree.dev,
            ino: e.ino,
        };
        match dir.link_from(src, name) {
            Ok(()) => {
                out.stats.symlinks += 1;
                Ok(true)
            }
            Err(Errno::EEXIST) => {
                let Some(st) = dir.stat(name)? else {
                    return Ok(false);
                };
                if FileKey::of(&st) == want {
                    out.stats.skipped += 1;
                    out.found = Some(st);
                    return Ok(true);
                }
                if Kind::from_mode(st.st_mode) == Kind::Dir {
                    if emptied(dir, name) {
                        return self.link_symlink(it, out);
                    }
                    out.clashes
                        .push(clash(self.sources, r, e, Kind::Dir, false));
                    return Ok(true);
                }
                if !self.may_replace(dir, r, e, &st) {
                    self.own(r, e, out);
                    return Ok(true);
                }
                let linked = via_temp(dir, name, |tmp| {
                    dir.link_from(src, tmp).map_err(|e| {
                        FsError::two("hard-linking", src.path(), dir.child_path(tmp), e).into()
                    })
                });
                if linked.is_err() {
                    // Recreated instead (the link was refused, or the
                    // rename failed: recreating reports that again).
                    return Ok(false);
                }
                out.stats.replaced += 1;
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }
}

impl Task<'_> {
    fn place_symlink(&self, it: Item, out: &mut Applied) -> Result<()> {
        let Item { dir, r, e, .. } = it;
        let sources = self.sources;
        let name: &[u8] = &e.name;
        let tree = &sources[r.src as usize].tree;
        let target = tree.target(r.dir as usize, e)?;
        let meta = tree.meta_of(r.dir as usize, e)?;
        // In a directory this run did not create, what is there is looked
        // at first: a re-run finds the same symlink, which a `symlinkat`
        // failing with EEXIST would only have confirmed.
        let mut existing = if it.fresh { None } else { dir.stat(name)? };
        if existing.is_none() {
            match dir.symlink(target, name) {
                Ok(()) => {
                    dir.set_meta(name, &meta)?;
                    out.stats.symlinks += 1;
                    return Ok(());
                }
                Err(Errno::EEXIST) => existing = dir.stat(name)?,
                Err(errno) => {
                    return Err(
                        FsError::new("creating symlink", dir.child_path(name), errno).into(),
                    )
                }
            }
        }
        let Some(st) = existing else {
            // Made and removed again by something else meanwhile.
            let path = dir.child_path(name);
            return Err(FsError::new("creating symlink", path, Errno::EEXIST).into());
        };
        let found = Kind::from_mode(st.st_mode);
        if found == Kind::Dir {
            if emptied(dir, name) {
                return self.place_symlink(Item { fresh: true, ..it }, out);
            }
            out.clashes.push(clash(sources, r, e, found, false));
            return Ok(());
        }
        if found == Kind::Symlink && dir.readlink(name)? == target {
            if Mtime::of(&st) != meta.mtime
                || (fsx::is_root() && (st.st_uid, st.st_gid) != (meta.uid, meta.gid))
            {
                dir.set_meta(name, &meta)?;
            }
            out.stats.skipped += 1;
            return Ok(());
        }
        if !self.may_replace(dir, r, e, &st) {
            self.own(r, e, out);
            return Ok(());
        }
        via_temp(dir, name, |tmp| {
            dir.symlink(target, tmp)
                .map_err(|errno| FsError::new("creating symlink", dir.child_path(tmp), errno))?;
            Ok(dir.set_meta(tmp, &meta)?)
        })?;
        out.stats.replaced += 1;
        Ok(())
    }
}

fn clash(sources: &[Source], r: EntryRef, e: &SrcEntry, found: Kind, replaced: bool) -> DestClash {
    let tree = &sources[r.src as usize].tree;
    DestClash {
        path: crate::scan::child_rel(&tree.dirs[r.dir as usize].rel, &e.name).into_vec(),
        found,
        wanted: e.kind,
        replaced,
        provider: r.src,
    }
}

fn record(dir: &DirFd, sources: &[Source], r: EntryRef, e: &SrcEntry, d: u32) -> Result<Placed> {
    let _ = sources;
    Ok(placed(r, d, &lstat(dir, e)?))
}

/// The `lstat` of the entry just placed.
fn lstat(dir: &DirFd, e: &SrcEntry) -> Result<crate::fsx::FileStat> {
    Ok(dir
        .stat(&e.name)?
        .ok_or_else(|| FsError::new("inspecting", dir.child_path(&e.name), Errno::ENOENT))?)
}

/// The record of plan entry `r` in plan directory `d`, as `st` found it.
fn placed(r: EntryRef, d: u32, st: &crate::fsx::FileStat) -> Placed {
    Placed {
        r,
        dir: d,
        key: FileKey::of(st),
        size: st.st_size as u64,
        meta: Meta::of(st),
    }
}

fn set_dir_meta(dir: &DirFd, want: &Meta) -> Result<()> {
    if dir_meta_differs(&Meta::of(&dir.stat_self()?), want) {
        dir.set_own_meta(want)?;
    }
    Ok(())
}

/// [`set_dir_meta`] for a directory this run created (with the mode it
/// was made with, its owner, and the current time as mtime): its mtime is
/// set without a look first, the only change needed where the `mkdir`
/// already gave it the right mode and owner; the rest only if the `fstat`
/// after shows them differ. Returns that `fstat`'s result (taken after the
/// last change), for the directory's record.
fn set_fresh_dir_meta(dir: &DirFd, want: &Meta) -> Result<crate::fsx::FileStat> {
    dir.set_own_mtime(want.mtime)?;
    let st = dir.stat_self()?;
    if !dir_meta_differs(&Meta::of(&st), want) {
        return Ok(st);
    }
    dir.set_own_meta(want)?;
    Ok(dir.stat_self()?)
}

/// Makes an entry under a fresh temporary name with `make`, then renames
/// it over `name`: a killed run leaves at most a temporary, which no
/// listing shows and the next locked run removes ([`crate::lock`]). On
/// failure the temporary is removed and the error names `name`, the
/// user's path, never the temporary.
pub(super) fn via_temp<T>(
    dir: &DirFd,
    name: &[u8],
    make: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<T> {
    via_temp_if(dir, name, make, |_| true)
}

/// [`via_temp`] for a copy that may make nothing ([`Made::Skipped`]):
/// then nothing is renamed and the entry at `name` stays as it is.
pub(super) fn via_temp_made(
    dir: &DirFd,
    name: &[u8],
    make: impl FnOnce(&[u8]) -> Result<Made>,
) -> Result<Made> {
    via_temp_if(dir, name, make, |m| *m != Made::Skipped)
}

/// [`via_temp`], renaming only if `made` says something was made.
fn via_temp_if<T>(
    dir: &DirFd,
    name: &[u8],
    make: impl FnOnce(&[u8]) -> Result<T>,
    made: impl FnOnce(&T) -> bool,
) -> Result<T> {
    let tmp = fsx::temp_name();
    let result = make(&tmp).and_then(|v| {
        if made(&v) {
            dir.rename(&tmp, name)?;
        }
        Ok(v)
    });
    result.map_err(|e| {
        let _ = dir.unlink(&tmp, false);
        match e.downcast::<FsError>() {
            Ok(fe) => fe.naming(&dir.child_path(name)).into(),
            Err(e) => e,
        }
    })
}

/// Removes the directory `name` of `dir` if it is empty; true if it did.
/// Where the plan has a non-directory, an empty directory in the
/// destination gives way as it does for `rsync` (which removes an empty
/// directory in the way without `--force`): a dependency turning its empty
/// `var/run/` into `var/run -> ../run` gives the tree a fresh merge gives.
/// A directory with anything in it is kept (and reported).
pub(super) fn emptied(dir: &DirFd, name: &[u8]) -> bool {
    dir.unlink(name, true).is_ok()
}

/// True if a directory with metadata `have` needs `want` set: mode, mtime,
/// and (as root) owner.
pub(super) fn dir_meta_differs(have: &Meta, want: &Meta) -> bool {
    let owner_ok = !fsx::is_root() || (have.uid, have.gid) == (want.uid, want.gid);
    have.mode & 0o7777 != want.mode & 0o7777 || have.mtime != want.mtime || !owner_ok
}

/// An error placing the entry at `path`: one that already names `path`
/// (a failed link, rename or write there) stands as it is, so the line
/// names the path once (`replacing <path>: <reason>`); any other (a
/// source that cannot be read, say) is told as `placing <path>: ...`.
fn placing(err: anyhow::Error, path: &std::path::Path) -> anyhow::Error {
    let names_it = err
        .downcast_ref::<FsError>()
        .is_some_and(|fe| fe.path() == path || fe.other() == Some(path));
    if names_it {
        err
    } else {
        err.context(format!("placing {}", fsx::show(path)))
    }
}

/// Returns the relative path of a plan directory's child, for reports.
pub fn leaf_path(d: &PlanDir, name: &[u8]) -> Vec<u8> {
    crate::scan::child_rel(&d.rel, name).into_vec()
}

/// The indices of `placed` in the byte order of their paths (the order of
/// a manifest's records), computed from the plan's tree instead of by
/// comparing whole paths.
///
/// Within one directory the paths compare by what follows the directory's
/// `/`: a leaf's name, or a subdirectory's name followed by `/` and more.
/// So a directory's leaves and subdirectories interleave by name, each
/// subdirectory taken as its name plus `/` (`b-c` and `b.c` come before
/// everything below `b/`, since `-` and `.` sort before `/`), and all of a
/// subdirectory's paths come together. The plan's order (each
/// directory's leaves, then its subdirectories by name) differs from it
/// wherever those interleave.
pub fn path_order(sources: &[Source], plan: &Plan, placed: &[Placed]) -> Vec<u32> {
    let name = |i: u32| -> &[u8] { &entry(sources, placed[i as usize].r).name };
    let n = plan.dirs.len();
    // Each directory's placed entries, by name (they come by name already
    // within a directory; sorted again only if not).
    let mut start = vec![0u32; n + 1];
    for p in placed {
        start[p.dir as usize + 1] += 1;
    }
    for d in 0..n {
        start[d + 1] += start[d];
    }
    let mut fill = start.clone();
    let mut leaves = vec![0u32; placed.len()];
    for (i, p) in placed.iter().enumerate() {
        leaves[fill[p.dir as usize] as usize] = i as u32;
        fill[p.dir as usize] += 1;
    }
    for d in 0..n {
        let run = &mut leaves[start[d] as usize..start[d + 1] as usize];
        if !run.windows(2).all(|w| name(w[0]) < name(w[1])) {
            run.sort_by(|&a, &b| name(a).cmp(name(b)));
        }
    }
    // Each directory's subdirectories, by name and `/`.
    let mut kids: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (d, pd) in plan.dirs.iter().enumerate().skip(1) {
        kids[pd.parent as usize].push(d as u32);
    }
    let key = |d: u32| plan.dirs[d as usize].name().iter().chain(b"/");
    for k in &mut kids {
        k.sort_by(|&a, &b| key(a).cmp(key(b)));
    }
    // A depth-first merge: (directory, next leaf, next subdirectory).
    let mut order = Vec::with_capacity(placed.len());
    let mut stack = vec![(0usize, start[0] as usize, 0usize)];
    while let Some(top) = stack.last_mut() {
        let (d, leaf, kid) = *top;
        let leaf_next = (leaf < start[d + 1] as usize).then(|| leaves[leaf]);
        let kid_next = kids[d].get(kid).copied();
        match (leaf_next, kid_next) {
            (Some(l), Some(k)) if name(l).iter().lt(key(k)) => {
                order.push(l);
                top.1 += 1;
            }
            (Some(l), None) => {
                order.push(l);
                top.1 += 1;
            }
            (_, Some(k)) => {
                top.2 += 1;
                stack.push((k as usize, start[k as usize] as usize, 0));
            }
            (None, None) => {
                stack.pop();
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names whose paths interleave a directory's leaves with what lies
    /// below its subdirectories (`-` and `.` sort before `/`, `0` after).
    #[test]
    fn path_order_is_the_byte_order_of_the_paths() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        let files = [
            "b", "b-c", "b.c", "b0", "d/x", "d-e/y", "d.e", "d/sub/z", "d/sub-z", "d/sub.z",
            "d/subz", "e/f/g/h", "e/f-g", "e/f/g-h", "e/f0",
        ];
        for (i, f) in files.iter().enumerate() {
            // Two sources, so the plan merges their directories.
            let root = if i % 2 == 0 { &a } else { &b };
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        std::fs::create_dir_all(b.join("d/sub")).unwrap();
        let roots = [("a".to_string(), a), ("b".to_string(), b)];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let opts = crate::scan::ScanOptions::default();
        let (sources, _) = crate::merge::scan_sources(&roots, false, opts, &pool).unwrap();
        let plan = crate::merge::build(&sources);
        let meta = Meta {
            kind: Kind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: Mtime { sec: 0, nsec: 0 },
        };
        let mut placed: Vec<Placed> = Vec::new();
        for (d, pd) in plan.dirs.iter().enumerate() {
            for &r in &pd.leaves {
                let key = FileKey { dev: 0, ino: 0 };
                placed.push(Placed {
                    r,
                    dir: d as u32,
                    key,
                    size: 0,
                    meta,
                });
            }
        }
        // Also from placed entries that do not come directory by directory.
        placed.reverse();
        let path = |p: &Placed| leaf_path(&plan.dirs[p.dir as usize], &entry(&sources, p.r).name);
        let order = path_order(&sources, &plan, &placed);
        let got: Vec<Vec<u8>> = order.iter().map(|&i| path(&placed[i as usize])).collect();
        let mut want: Vec<Vec<u8>> = files.iter().map(|f| f.as_bytes().to_vec()).collect();
        want.sort();
        let show = |v: &[Vec<u8>]| -> Vec<String> {
            v.iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect()
        };
        assert_eq!(show(&got), show(&want));
    }
}
