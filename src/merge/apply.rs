//! Executing a [`Plan`] against a destination directory.
//!
//! Three steps: (1) directories are created sequentially in pre-order, each
//! one with `mkdirat` relative to its already-open parent; (2) the entries of
//! each directory are placed in parallel, contiguous runs of directories per
//! task, each task reaching its directories through `openat(O_NOFOLLOW)`
//! from the root; (3) each directory's mode, owner and mtime are set by the
//! task that filled it, after its entries, which is the last change made
//! inside it. A symlink or file found in the destination where the plan has
//! a directory is replaced (reported); a directory found where the plan has
//! a file is kept (reported): ppd never deletes a directory's contents to
//! make room. Existing entries that already are what the plan wants are
//! left alone, so a re-run on a complete tree only reads it.
//!
//! In link mode a regular file becomes a hard link to the source inode; if
//! the kernel refuses (`EXDEV` across filesystems, `EMLINK` at the link-count
//! limit), it is copied instead (copy_file_range, which reflinks where the
//! filesystem can) and counted as a fallback. Replacements are made under a
//! temporary name and renamed into place, so a killed run never leaves a
//! half-written file under a real name.

use std::ffi::CStr;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result};
use nix::errno::Errno;

use super::plan::{dir_meta, entry, EntryRef, Plan, PlanDir, Source};
use crate::fsx::{self, DirFd, FileKey, FsError, Kind, Meta, Mtime};
use crate::manifest::Manifest;
use crate::scan::SrcEntry;

/// Counters of one apply run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Hard links created.
    pub linked: u64,
    /// Files copied (copy mode, or link fallbacks).
    pub copied: u64,
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
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.linked += o.linked;
        self.copied += o.copied;
        self.fallbacks += o.fallbacks;
        self.symlinks += o.symlinks;
        self.dirs_created += o.dirs_created;
        self.replaced += o.replaced;
        self.skipped += o.skipped;
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
}

/// What [`apply`] should do besides placing entries.
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    /// How files are placed.
    pub mode: FileMode,
    /// Collect a [`Placed`] record per entry (costs one `lstat` per file).
    pub record: bool,
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
}

/// Applies `plan` (built from `sources`) to the directory `dest`, creating
/// it and its parents if needed.
///
/// With a `guard` manifest (the one the previous prepare of this tree wrote),
/// an existing entry that differs from the plan is replaced only if it still
/// is what that manifest recorded; anything else is the package's own and is
/// left alone.
pub fn apply(
    sources: &[Source],
    plan: &Plan,
    dest: &std::path::Path,
    opts: ApplyOptions,
    guard: Option<&Manifest>,
    pool: &rayon::ThreadPool,
) -> Result<Applied> {
    let root = DirFd::create_all(dest)?;
    let mut out = Applied::default();
    make_dirs(sources, plan, &root, &mut out)?;

    let chunks = chunk(plan, pool.current_num_threads());
    let stop = AtomicBool::new(false);
    let results: Vec<Result<Applied>> = pool.install(|| {
        use rayon::prelude::*;
        chunks
            .par_iter()
            .map(|range| {
                let task = Task {
                    sources,
                    plan,
                    opts,
                    guard,
                };
                let r = task.fill_chunk(&root, range.clone(), &stop);
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
    }
    out.clashes.sort_by(|a, b| a.path.cmp(&b.path));
    out.kept_own.sort();
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

fn make_dirs(sources: &[Source], plan: &Plan, root: &DirFd, out: &mut Applied) -> Result<()> {
    let mut stack: Vec<(u32, DirFd)> = vec![(0, root.try_clone()?)];
    for (i, d) in plan.dirs.iter().enumerate().skip(1) {
        while stack.last().is_some_and(|(idx, _)| *idx != d.parent) {
            stack.pop();
        }
        let (_, parent) = stack.last().expect("BUG: plan parents precede children");
        let name = d.name();
        let mode = (dir_meta(sources, d).mode & 0o7777) | 0o700;
        if parent.mkdir(name, mode)? {
            out.stats.dirs_created += 1;
        } else {
            let st = parent.stat(name)?;
            let found = st.map_or(Kind::Dir, |st| Kind::from_mode(st.st_mode));
            if found != Kind::Dir {
                // A symlink or file where a dependency has a directory: the
                // dependency wins, as with rsync. Removing the entry itself
                // (never following it) keeps everything outside untouched.
                parent.unlink(name, false)?;
                parent.mkdir(name, mode)?;
                out.stats.dirs_created += 1;
                out.clashes.push(DestClash {
                    path: d.rel.to_vec(),
                    found,
                    wanted: Kind::Dir,
                    replaced: true,
                    provider: d.meta_from.0,
                });
            }
        }
        let has_subdirs = plan.dirs.get(i + 1).is_some_and(|n| n.parent == i as u32);
        if has_subdirs {
            let fd = parent.open_child(name)?;
            stack.push((i as u32, fd));
        }
    }
    Ok(())
}

/// Opens plan directories one after another, reusing open ancestors.
struct Cursor<'p> {
    plan: &'p Plan,
    stack: Vec<(u32, DirFd)>,
}

impl<'p> Cursor<'p> {
    fn open(&mut self, d: u32) -> Result<&DirFd, FsError> {
        let mut chain = vec![d];
        while let Some(&c) = chain.last() {
            if c == 0 || self.stack.iter().any(|(i, _)| *i == c) {
                break;
            }
            chain.push(self.plan.dirs[c as usize].parent);
        }
        let anchor = *chain.last().expect("BUG: chain is never empty");
        while self.stack.last().is_some_and(|(i, _)| *i != anchor) {
            self.stack.pop();
        }
        for &c in chain.iter().rev().skip(1) {
            let parent = &self.stack.last().expect("BUG: root stays on the stack").1;
            let fd = parent.open_child(self.plan.dirs[c as usize].name())?;
            self.stack.push((c, fd));
        }
        Ok(&self.stack.last().expect("BUG: just pushed").1)
    }
}

/// What every placement needs to know.
struct Task<'a> {
    sources: &'a [Source],
    plan: &'a Plan,
    opts: ApplyOptions,
    guard: Option<&'a Manifest>,
}

impl Task<'_> {
    /// Returns true if an existing entry that differs from the plan may be
    /// replaced: always without a guard; with one, only if it still is what
    /// the previous prepare placed.
    fn may_replace(&self, r: EntryRef, e: &SrcEntry, st: &nix::sys::stat::FileStat) -> bool {
        let Some(m) = self.guard else { return true };
        let tree = &self.sources[r.src as usize].tree;
        let path = crate::scan::child_rel(&tree.dirs[r.dir as usize].rel, &e.name);
        m.records
            .get(&*path)
            .is_some_and(|rec| rec.key == FileKey::of(st))
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
        stop: &AtomicBool,
    ) -> Result<Applied> {
        let (sources, plan, opts) = (self.sources, self.plan, self.opts);
        let mut cur = Cursor {
            plan,
            stack: vec![(0, root.try_clone()?)],
        };
        let mut out = Applied::default();
        let mut buf = Vec::with_capacity(256);
        for i in range {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let d = &plan.dirs[i];
            let dir = cur.open(i as u32)?;
            for &r in &d.leaves {
                let e = entry(sources, r);
                src_path(sources, r, e, &mut buf);
                let src = CStr::from_bytes_with_nul(&buf).expect("BUG: names hold no NUL");
                self.place(dir, src, r, e, &mut out)
                    .with_context(|| format!("placing {}", dir.child_path(&e.name).display()))?;
                if opts.record {
                    out.placed.push(record(dir, sources, r, e, i as u32)?);
                }
            }
            set_dir_meta(dir, &dir_meta(sources, d))?;
        }
        Ok(out)
    }
}

fn src_path(sources: &[Source], r: EntryRef, e: &SrcEntry, buf: &mut Vec<u8>) {
    let tree = &sources[r.src as usize].tree;
    buf.clear();
    buf.extend_from_slice(fsx::bytes(&tree.root));
    let rel = &tree.dirs[r.dir as usize].rel;
    if !rel.is_empty() {
        buf.push(b'/');
        buf.extend_from_slice(rel);
    }
    buf.push(b'/');
    buf.extend_from_slice(&e.name);
    buf.push(0);
}

impl Task<'_> {
    fn place(
        &self,
        dir: &DirFd,
        src: &CStr,
        r: EntryRef,
        e: &SrcEntry,
        out: &mut Applied,
    ) -> Result<()> {
        let sources = self.sources;
        let name: &[u8] = &e.name;
        if e.kind == Kind::Symlink {
            return self.place_symlink(dir, r, e, out);
        }
        let FileMode::Link = self.opts.mode;
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
                match st {
                    Some(st) if FileKey::of(&st) == want => {
                        out.stats.skipped += 1;
                        Ok(())
                    }
                    Some(st) if Kind::from_mode(st.st_mode) == Kind::Dir => {
                        out.clashes.push(clash(sources, r, e, Kind::Dir, false));
                        Ok(())
                    }
                    Some(st) if !self.may_replace(r, e, &st) => {
                        self.own(r, e, out);
                        Ok(())
                    }
                    _ => {
                        let tmp = fsx::temp_name();
                        link_or_copy(dir, src, &tmp, out)?;
                        if let Err(err) = dir.rename(&tmp, name) {
                            let _ = dir.unlink(&tmp, false);
                            return Err(err.into());
                        }
                        out.stats.replaced += 1;
                        Ok(())
                    }
                }
            }
            Err(Errno::EXDEV | Errno::EMLINK) => {
                let tmp = fsx::temp_name();
                copy_file(dir, src, &tmp)?;
                dir.rename(&tmp, name)?;
                out.stats.copied += 1;
                out.stats.fallbacks += 1;
                Ok(())
            }
            Err(errno) => Err(FsError::two(
                "hard-linking",
                PathBuf::from(std::ffi::OsStr::new(&*String::from_utf8_lossy(
                    src.to_bytes(),
                ))),
                dir.child_path(name),
                errno,
            )
            .into()),
        }
    }
}

fn link_or_copy(dir: &DirFd, src: &CStr, tmp: &[u8], out: &mut Applied) -> Result<()> {
    match dir.link_from(src, tmp) {
        Ok(()) => {
            out.stats.linked += 1;
            Ok(())
        }
        Err(Errno::EXDEV | Errno::EMLINK) => {
            copy_file(dir, src, tmp)?;
            out.stats.copied += 1;
            out.stats.fallbacks += 1;
            Ok(())
        }
        Err(errno) => {
            Err(FsError::two("hard-linking", os_path(src), dir.child_path(tmp), errno).into())
        }
    }
}

fn os_path(c: &CStr) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(c.to_bytes()))
}

/// Copies the file at `src` to the new child `tmp` of `dir`, with the
/// source's mode, owner (as root) and mtime. `std::io::copy` between files
/// uses copy_file_range, so reflink-capable filesystems share extents and
/// holes stay holes where the kernel supports it.
pub fn copy_file(dir: &DirFd, src: &CStr, tmp: &[u8]) -> Result<()> {
    let src_path = os_path(src);
    let mut input = std::fs::File::open(&src_path)
        .map_err(|e| FsError::new("opening", &src_path, fsx::errno_of(&e)))?;
    let st = nix::sys::stat::fstat(&input).map_err(|e| FsError::new("inspecting", &src_path, e))?;
    let mut output = dir.create_exclusive(tmp)?;
    let result = std::io::copy(&mut input, &mut output)
        .and_then(|_| output.flush())
        .map_err(|e| FsError::two("copying", &src_path, dir.child_path(tmp), fsx::errno_of(&e)));
    drop(output);
    if let Err(e) = result.map_err(anyhow::Error::from).and_then(|_| {
        dir.set_meta(tmp, &Meta::of(&st))?;
        Ok(())
    }) {
        let _ = dir.unlink(tmp, false);
        return Err(e);
    }
    Ok(())
}

impl Task<'_> {
    fn place_symlink(
        &self,
        dir: &DirFd,
        r: EntryRef,
        e: &SrcEntry,
        out: &mut Applied,
    ) -> Result<()> {
        let sources = self.sources;
        let name: &[u8] = &e.name;
        let target = e
            .target
            .as_deref()
            .expect("BUG: symlinks are read with their target");
        let meta = e.meta.expect("BUG: symlinks are stat'ed when scanned");
        match dir.symlink(target, name) {
            Ok(()) => {
                dir.set_meta(name, &meta)?;
                out.stats.symlinks += 1;
                Ok(())
            }
            Err(Errno::EEXIST) => {
                let st = dir.stat(name)?;
                let found = st
                    .as_ref()
                    .map_or(Kind::Other, |s| Kind::from_mode(s.st_mode));
                if found == Kind::Dir {
                    out.clashes.push(clash(sources, r, e, found, false));
                    return Ok(());
                }
                if found == Kind::Symlink && dir.readlink(name)? == target {
                    let st = st.expect("BUG: exists");
                    if Mtime::of(&st) != meta.mtime
                        || (fsx::is_root() && (st.st_uid, st.st_gid) != (meta.uid, meta.gid))
                    {
                        dir.set_meta(name, &meta)?;
                    }
                    out.stats.skipped += 1;
                    return Ok(());
                }
                if !self.may_replace(r, e, st.as_ref().expect("BUG: exists")) {
                    self.own(r, e, out);
                    return Ok(());
                }
                let tmp = fsx::temp_name();
                dir.symlink(target, &tmp).map_err(|errno| {
                    FsError::new("creating symlink", dir.child_path(&tmp), errno)
                })?;
                dir.set_meta(&tmp, &meta)?;
                dir.rename(&tmp, name)?;
                out.stats.replaced += 1;
                Ok(())
            }
            Err(errno) => Err(FsError::new("creating symlink", dir.child_path(name), errno).into()),
        }
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
    let st = dir
        .stat(&e.name)?
        .ok_or_else(|| FsError::new("inspecting", dir.child_path(&e.name), Errno::ENOENT))?;
    let _ = sources;
    Ok(Placed {
        r,
        dir: d,
        key: FileKey::of(&st),
        size: st.st_size as u64,
        meta: Meta::of(&st),
    })
}

fn set_dir_meta(dir: &DirFd, want: &Meta) -> Result<()> {
    let st = dir.stat_self()?;
    let have = Meta::of(&st);
    let owner_ok = !fsx::is_root() || (have.uid, have.gid) == (want.uid, want.gid);
    if have.mode & 0o7777 != want.mode & 0o7777 || have.mtime != want.mtime || !owner_ok {
        dir.set_own_meta(want)?;
    }
    Ok(())
}

/// Returns the relative path of a plan directory's child, for reports.
pub fn leaf_path(d: &PlanDir, name: &[u8]) -> Vec<u8> {
    crate::scan::child_rel(&d.rel, name).into_vec()
}
