//! The dry run of [`super::apply()`]: the operations a real apply would
//! perform on the destination as it is now, found without changing it.
//!
//! The plan is walked in apply's order and every entry is decided with
//! apply's own rules (the quick check `apply::is_copy_of`, the
//! ownership guard `apply::replaceable`, the directory metadata
//! test `apply::dir_meta_differs`, hard-link groups copied once
//! and linked), reading the destination only with `open(O_NOFOLLOW)`,
//! `fstatat`, `readlinkat` and `statx`. The counters it predicts are the
//! ones the real run reports with `-v`, and on a complete destination it
//! prints nothing. One line per operation:
//!
//! ```text
//! mkdir DEST/dir
//! link DEST/path -> SOURCE (package)          hard link (prepare, finalize --mode hardlink)
//! copy DEST/path -> SOURCE (package)          new inode (finalize, copy-tree; a link's fallback)
//! clone DEST/path -> SOURCE (package)         new inode sharing the source's blocks (reflink)
//! symlink DEST/path -> TARGET (package)
//! link DEST/path -> DEST/first (hard link)    a copied hard-link group's other names
//! meta DEST/path                              mode, owner or mtime set again
//! ```
//!
//! An operation on an existing entry ends in `replacing a file` (or
//! symlink, directory...). Entries already right, entries the package
//! installed itself and directories in the way are not operations. Not
//! listed: restoring the mtime of a directory whose entries the run
//! changes (implied by the change), and the fallback to a copy where the
//! link-count limit or `protected_hardlinks` refuses a hard link (only the
//! kernel knows; a destination on another filesystem than a source is
//! predicted: one copy per source inode, its other names linked to it, an
//! existing copy passing rsync's quick check kept).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::fsx::Errno;
use anyhow::Result;

use super::apply::{
    dir_meta_differs, is_copy_of, leaf_path, quick_same, replaceable, Applied, ApplyOptions,
    DestClash, FileMode, Groups,
};
use super::plan::{dir_meta, entry, EntryRef, Plan, Source};
use crate::fsx::{self, DirFd, FileKey, Kind, Meta, Mtime};

/// What a dry run found.
#[derive(Debug, Default)]
pub struct Preview {
    /// The predicted counters, clashes and entries kept as the package's
    /// own, as [`super::apply()`] would report them.
    pub applied: Applied,
    /// One line per operation, in plan order.
    pub text: Vec<u8>,
    /// Regular files that would get a source's inode or content:
    /// `(path relative to the destination, source path)`.
    pub incoming: Vec<(Vec<u8>, PathBuf)>,
}

/// Where a plan directory stands before the run.
enum Dir {
    /// It will be created: nothing inside it exists yet.
    Fresh,
    /// It exists, open.
    Open(DirFd),
}

/// What the first name of a copied hard-link group will hold.
#[derive(Clone, Copy)]
enum First {
    /// A new copy.
    New,
    /// The existing inode, left alone.
    Kept(FileKey),
    /// Something that cannot be linked to (a directory, a symlink).
    Unusable,
}

/// Computes the operations `apply(sources, plan, dest, opts)` would perform
/// once the entries at the relative paths in `gone` are removed (prepare
/// removes stale entries first).
pub fn preview(
    sources: &[Source],
    plan: &Plan,
    dest: &Path,
    opts: ApplyOptions,
    gone: &HashSet<Vec<u8>>,
) -> Result<Preview> {
    let mut p = Preview::default();
    let root = match DirFd::open(dest) {
        Ok(d) => Some(d),
        Err(e) if e.errno() == Errno::ENOENT => None,
        Err(e) => return Err(e.into()),
    };
    let dest_dev = match &root {
        Some(r) => r.stat_self()?.st_dev,
        None => {
            line(
                &mut p.text,
                format_args!("mkdir {}", crate::fsx::show(dest)),
            );
            existing_ancestor_dev(dest)
        }
    };
    let groups = match opts.mode {
        FileMode::Link => Groups::default(),
        FileMode::Clone | FileMode::Copy { .. } => Groups::of(sources, plan),
    };
    // A copy whose data is asked to be a clone (finalize and copy-tree
    // --link-mode reflink): whether the destination's filesystem clones,
    // asked with unnamed files only (a dry run changes nothing).
    let asks_clones = matches!(
        opts.mode,
        FileMode::Copy {
            data: crate::merge::copy::Data::Clone,
            ..
        }
    );
    let clones = asks_clones
        && ancestors(dest)
            .find_map(|a| DirFd::open(a).ok())
            .is_some_and(|d| crate::cow::detect(&d, crate::cow::Probe::Unnamed).reflink);
    let w = Walker {
        sources,
        plan,
        opts,
        dest,
        dest_dev,
        gone,
        copies: Default::default(),
        clones,
    };
    let mut firsts: HashMap<(u32, u32), First> = HashMap::new();
    let first_names: HashSet<(u32, u32)> = groups.links.iter().map(|&(_, f)| f).collect();
    // Open directories of the current path (pre-order: a directory's parent
    // is always on the stack), so the handles stay bounded by the depth.
    let mut stack: Vec<(u32, Dir)> = Vec::new();
    let mut opened: HashSet<u32> = HashSet::new();
    for (i, d) in plan.dirs.iter().enumerate() {
        let state = if i == 0 {
            match &root {
                Some(r) => {
                    w.dir_meta_line(r, i, &mut p)?;
                    Dir::Open(r.try_clone()?)
                }
                None => Dir::Fresh,
            }
        } else {
            while stack.last().is_some_and(|(at, _)| *at != d.parent) {
                stack.pop();
            }
            let (_, parent) = stack.last().expect("BUG: the parent is on the stack");
            w.enter(parent, i, &mut p)?
        };
        if let Dir::Open(_) = state {
            opened.insert(i as u32);
        }
        for (l, &r) in d.leaves.iter().enumerate() {
            let at = (i as u32, l as u32);
            if groups.later.contains(&at) {
                continue;
            }
            let first = w.place(&state, i, r, &mut p)?;
            if first_names.contains(&at) {
                firsts.insert(at, first);
            }
        }
        stack.push((i as u32, state));
    }
    drop(stack);
    for &((d, l), f) in &groups.links {
        let first = firsts.get(&f).copied().unwrap_or(First::Unusable);
        let dir = match (&root, opened.contains(&d)) {
            (Some(root), true) => Dir::Open(root.open_beneath(&plan.dirs[d as usize].rel)?),
            _ => Dir::Fresh,
        };
        w.group_link(&dir, d, l, f, first, &mut p)?;
    }
    p.applied.clashes.sort_by(|a, b| a.path.cmp(&b.path));
    p.applied.kept_own.sort();
    Ok(p)
}

/// Splits package trees `(name, path)` into those that exist and the names
/// of those that do not (yet): what a dry run under `make -n` waits for.
pub fn not_built(roots: Vec<(String, PathBuf)>) -> (Vec<(String, PathBuf)>, Vec<String>) {
    let (present, absent): (Vec<_>, Vec<_>) = roots
        .into_iter()
        .partition(|(_, p)| std::fs::symlink_metadata(p).is_ok());
    (present, absent.into_iter().map(|(name, _)| name).collect())
}

/// The device of `path`'s nearest existing ancestor: where a destination
/// that does not exist yet would be created.
fn existing_ancestor_dev(path: &Path) -> u64 {
    ancestors(path)
        .find_map(|a| fsx::stat_path(a).ok())
        .map_or(0, |st| st.st_dev)
}

/// `path` and its ancestors, a relative path's last being `.` (not the
/// empty path, which names nothing).
fn ancestors(path: &Path) -> impl Iterator<Item = &Path> {
    path.ancestors().map(|a| match a.as_os_str().is_empty() {
        true => Path::new("."),
        false => a,
    })
}

fn line(out: &mut Vec<u8>, args: std::fmt::Arguments) {
    let _ = out.write_fmt(args);
    out.push(b'\n');
}

/// " replacing a file" for an existing entry of kind `found`.
fn replacing(found: Option<Kind>) -> String {
    match found {
        Some(k) => format!(" replacing a {}", k.word()),
        None => String::new(),
    }
}

struct Walker<'a> {
    sources: &'a [Source],
    plan: &'a Plan,
    opts: ApplyOptions<'a>,
    dest: &'a Path,
    dest_dev: u64,
    gone: &'a HashSet<Vec<u8>>,
    /// Link fallbacks across filesystems: per source inode, the first
    /// name it was copied to (its other names are linked to that copy).
    copies: std::cell::RefCell<HashMap<FileKey, Vec<u8>>>,
    /// The run's copies are clones where the source is on the
    /// destination's filesystem (a copy with `Data::Clone` there).
    clones: bool,
}

impl Walker<'_> {
    fn path(&self, rel: &[u8]) -> PathBuf {
        fsx::join(self.dest, rel)
    }

    /// `fstatat` of `name` in `dir` (at `rel`), unless it will be gone.
    fn stat(&self, dir: &DirFd, rel: &[u8], name: &[u8]) -> Result<Option<crate::fsx::FileStat>> {
        if self.gone.contains(rel) {
            return Ok(None);
        }
        Ok(dir.stat(name)?)
    }

    /// Decides plan directory `i` below an already decided parent.
    fn enter(&self, parent: &Dir, i: usize, p: &mut Preview) -> Result<Dir> {
        let d = &self.plan.dirs[i];
        let path = self.path(&d.rel);
        let Dir::Open(parent) = parent else {
            line(
                &mut p.text,
                format_args!("mkdir {}", crate::fsx::show(&path)),
            );
            p.applied.stats.dirs_created += 1;
            return Ok(Dir::Fresh);
        };
        match self.stat(parent, &d.rel, d.name())? {
            None => {
                line(
                    &mut p.text,
                    format_args!("mkdir {}", crate::fsx::show(&path)),
                );
                p.applied.stats.dirs_created += 1;
                Ok(Dir::Fresh)
            }
            Some(st) if Kind::from_mode(st.st_mode) == Kind::Dir => {
                let fd = parent.open_child(d.name())?;
                self.dir_meta_line(&fd, i, p)?;
                Ok(Dir::Open(fd))
            }
            Some(st) => {
                let found = Kind::from_mode(st.st_mode);
                line(
                    &mut p.text,
                    format_args!(
                        "mkdir {}{}",
                        crate::fsx::show(&path),
                        replacing(Some(found))
                    ),
                );
                p.applied.stats.dirs_created += 1;
                p.applied.clashes.push(DestClash {
                    path: d.rel.to_vec(),
                    found,
                    wanted: Kind::Dir,
                    replaced: true,
                    provider: d.meta_from.0,
                });
                Ok(Dir::Fresh)
            }
        }
    }

    /// `meta DIR` if an existing directory's metadata differs from the plan's.
    fn dir_meta_line(&self, fd: &DirFd, i: usize, p: &mut Preview) -> Result<()> {
        let d = &self.plan.dirs[i];
        let want = dir_meta(self.sources, d)?;
        if dir_meta_differs(&Meta::of(&fd.stat_self()?), &want) {
            line(
                &mut p.text,
                format_args!("meta {}", crate::fsx::show(&self.path(&d.rel))),
            );
        }
        Ok(())
    }

    /// Decides one non-directory entry; returns what its name will hold
    /// (for hard-link groups).
    fn place(&self, dir: &Dir, i: usize, r: EntryRef, p: &mut Preview) -> Result<First> {
        let d = &self.plan.dirs[i];
        let e = entry(self.sources, r);
        let src = &self.sources[r.src as usize];
        let rel = leaf_path(d, &e.name);
        let to = self.path(&rel);
        let from = src.tree.path_of(r.dir as usize, &e.name);
        let st = match dir {
            Dir::Fresh => None,
            Dir::Open(fd) => self.stat(fd, &rel, &e.name)?,
        };
        let st = st.filter(|st| !gives_way(dir, &e.name, st));
        let found = st.as_ref().map(|s| Kind::from_mode(s.st_mode));
        let want = FileKey {
            dev: src.tree.dev,
            ino: e.ino,
        };
        let stats = &mut p.applied.stats;
        if found == Some(Kind::Dir) {
            p.applied.clashes.push(DestClash {
                path: rel,
                found: Kind::Dir,
                wanted: e.kind,
                replaced: false,
                provider: r.src,
            });
            return Ok(First::Unusable);
        }
        let own = |st: &crate::fsx::FileStat| match dir {
            Dir::Open(fd) => !replaceable(&self.opts, &rel, fd, &e.name, st),
            Dir::Fresh => false,
        };
        let cross = src.tree.dev != self.dest_dev;
        if e.kind == Kind::Symlink {
            let target = src.tree.target(r.dir as usize, e)?;
            let linked = matches!(self.opts.mode, FileMode::Link | FileMode::Clone) && !cross;
            if let Some(st) = &st {
                if linked && FileKey::of(st) == want {
                    stats.skipped += 1;
                    return Ok(First::Unusable);
                }
                if !linked {
                    if let (Some(Kind::Symlink), Dir::Open(fd)) = (found, dir) {
                        if fd.readlink(&e.name)? == target {
                            let meta = src.tree.meta_of(r.dir as usize, e)?;
                            if Mtime::of(st) != meta.mtime
                                || (fsx::is_root()
                                    && (st.st_uid, st.st_gid) != (meta.uid, meta.gid))
                            {
                                line(&mut p.text, format_args!("meta {}", crate::fsx::show(&to)));
                            }
                            stats.skipped += 1;
                            return Ok(First::Unusable);
                        }
                    }
                }
                if own(st) {
                    p.applied.kept_own.push(rel.clone());
                    return Ok(First::Unusable);
                }
                stats.replaced += 1;
            } else {
                stats.symlinks += 1;
            }
            line(
                &mut p.text,
                format_args!(
                    "symlink {} -> {} ({}){}",
                    crate::fsx::show(&to),
                    crate::fsx::show_bytes(target),
                    src.label,
                    replacing(found)
                ),
            );
            return Ok(First::Unusable);
        }
        let verb = match self.opts.mode {
            FileMode::Link => {
                if let Some(st) = &st {
                    if FileKey::of(st) == want {
                        stats.skipped += 1;
                        return Ok(First::Kept(want));
                    }
                    if own(st) {
                        p.applied.kept_own.push(rel.clone());
                        return Ok(First::Kept(FileKey::of(st)));
                    }
                    stats.replaced += 1;
                }
                if cross {
                    // The kernel refuses the link (EXDEV): apply's fall_back.
                    let mut copies = self.copies.borrow_mut();
                    if let Some(st) = &st {
                        let src_dir = DirFd::open(&fsx::join(
                            &src.tree.root,
                            &src.tree.dirs[r.dir as usize].rel,
                        ))?;
                        let at = fsx::At {
                            dir: &src_dir,
                            name: &e.name,
                        };
                        if quick_same(st, at) {
                            stats.replaced -= 1;
                            stats.skipped += 1;
                            copies.entry(want).or_insert(rel);
                            return Ok(First::Kept(FileKey::of(st)));
                        }
                    }
                    if let Some(first) = copies.get(&want).filter(|f| **f != rel) {
                        stats.linked += 1;
                        p.incoming.push((rel.clone(), from.clone()));
                        line(
                            &mut p.text,
                            format_args!(
                                "link {} -> {} (hard link){}",
                                crate::fsx::show(&to),
                                crate::fsx::show(&self.path(first)),
                                replacing(found)
                            ),
                        );
                        return Ok(First::New);
                    }
                    copies.insert(want, rel.clone());
                    stats.copied += 1;
                    stats.fallbacks += 1;
                    "copy"
                } else {
                    stats.linked += 1;
                    "link"
                }
            }
            FileMode::Clone | FileMode::Copy { .. } => {
                let keep_newer = matches!(
                    self.opts.mode,
                    FileMode::Copy {
                        keep_newer: true,
                        ..
                    }
                );
                if let Some(st) = &st {
                    let (m, size) = match e.meta {
                        Some(m) => (m, e.size),
                        None => {
                            let s = fsx::lstat(&from).map_err(|err| {
                                fsx::FsError::new("inspecting", from.clone(), err)
                            })?;
                            (Meta::of(&s), s.st_size as u64)
                        }
                    };
                    let newer = keep_newer
                        && found == Some(Kind::File)
                        && m.kind == Kind::File
                        && Mtime::of(st) > m.mtime;
                    if is_copy_of(st, &m, size, want) || newer {
                        stats.skipped += 1;
                        return Ok(First::Kept(FileKey::of(st)));
                    }
                    if own(st) {
                        p.applied.kept_own.push(rel.clone());
                        return Ok(First::Kept(FileKey::of(st)));
                    }
                    stats.replaced += 1;
                }
                // A clone where the run clones: prepare's reflink mode,
                // and a copy whose data is asked to be a clone (finalize
                // and copy-tree --link-mode reflink) on a filesystem that
                // clones, from the same one; elsewhere the run copies
                // (a fallback).
                let asks = matches!(
                    self.opts.mode,
                    FileMode::Copy {
                        data: crate::merge::copy::Data::Clone,
                        ..
                    }
                );
                // An empty file has no blocks to share: the run counts
                // its copy as its clone anywhere.
                let empty = || match e.meta {
                    Some(_) => e.size == 0,
                    None => fsx::lstat(&from).is_ok_and(|s| s.st_size == 0),
                };
                if e.kind == Kind::File
                    && (self.opts.mode == FileMode::Clone
                        || (asks && ((self.clones && !cross) || empty())))
                {
                    stats.cloned += 1;
                    "clone"
                } else if asks && e.kind == Kind::File {
                    stats.copied += 1;
                    stats.fallbacks += 1;
                    "copy"
                } else {
                    stats.copied += 1;
                    "copy"
                }
            }
        };
        line(
            &mut p.text,
            format_args!(
                "{verb} {} -> {} ({}){}",
                crate::fsx::show(&to),
                crate::fsx::show(&from),
                src.label,
                replacing(found)
            ),
        );
        if e.kind == Kind::File {
            p.incoming.push((rel, from));
        }
        Ok(First::New)
    }

    /// Decides a later name of a copied hard-link group, as
    /// `link_groups` does after every copy exists.
    fn group_link(
        &self,
        dir: &Dir,
        d: u32,
        l: u32,
        (fd_, fl): (u32, u32),
        first: First,
        p: &mut Preview,
    ) -> Result<()> {
        let pd = &self.plan.dirs[d as usize];
        let r = pd.leaves[l as usize];
        let e = entry(self.sources, r);
        if let First::Unusable = first {
            // The first name was kept as something else: this one is copied.
            self.place(dir, d as usize, r, p)?;
            return Ok(());
        }
        let rel = leaf_path(pd, &e.name);
        let first_pd = &self.plan.dirs[fd_ as usize];
        let fr = first_pd.leaves[fl as usize];
        let first_rel = leaf_path(first_pd, &entry(self.sources, fr).name);
        let st = match dir {
            Dir::Fresh => None,
            Dir::Open(fd) => self.stat(fd, &rel, &e.name)?,
        };
        let st = st.filter(|st| !gives_way(dir, &e.name, st));
        let found = st.as_ref().map(|s| Kind::from_mode(s.st_mode));
        match (&st, first) {
            (Some(st), First::Kept(key)) if FileKey::of(st) == key => {
                p.applied.stats.skipped += 1;
                return Ok(());
            }
            (Some(_), _) if found == Some(Kind::Dir) => {
                p.applied.clashes.push(DestClash {
                    path: rel,
                    found: Kind::Dir,
                    wanted: e.kind,
                    replaced: false,
                    provider: r.src,
                });
                return Ok(());
            }
            (Some(st), _)
                if matches!(dir, Dir::Open(fd)
                    if !replaceable(&self.opts, &rel, fd, &e.name, st)) =>
            {
                p.applied.kept_own.push(rel);
                return Ok(());
            }
            (Some(_), _) => p.applied.stats.replaced += 1,
            (None, _) => {}
        }
        p.applied.stats.linked += 1;
        line(
            &mut p.text,
            format_args!(
                "link {} -> {} (hard link){}",
                crate::fsx::show(&self.path(&rel)),
                crate::fsx::show(&self.path(&first_rel)),
                replacing(found)
            ),
        );
        Ok(())
    }
}

/// True if the destination entry `st` at `name` is an empty directory where
/// the plan has a non-directory: the real run removes it and places the
/// entry (as rsync does), so the preview treats the name as free.
fn gives_way(dir: &Dir, name: &[u8], st: &crate::fsx::FileStat) -> bool {
    let Dir::Open(fd) = dir else {
        return false;
    };
    Kind::from_mode(st.st_mode) == Kind::Dir
        && fd
            .open_beneath(name)
            .and_then(|d| d.fresh_entries())
            .is_ok_and(|e| e.is_empty())
}
