//! The union of several source trees, computed before anything is written.
//!
//! Sources are merged in the order given; the last one that provides a path
//! wins it, as in Buildroot's rsync loop. A path provided by two sources as
//! different things (two inodes, two symlink targets, or a file in one and a
//! directory in the other) is a [`Conflict`]; the same inode reached through
//! two sources is not. A directory's metadata comes from the last source
//! providing it. The result lists directories in sorted pre-order and the
//! entries of each directory sorted by name, so applying it, printing it
//! and reporting on it never depend on `getdents` order or thread count.

// Every entry of every dependency is looked up by name here: FxHash costs
// a few nanoseconds a short name, SipHash several times that.
use rustc_hash::FxHashMap as HashMap;

use crate::fsx::{DirFd, FileKey, FsError, Kind, Meta};
use crate::scan::{SrcEntry, SrcTree};
use crate::walk::{DirCache, Layout};

/// A source tree with the name of the package it belongs to.
#[derive(Debug)]
pub struct Source {
    /// The package name, for messages and manifests.
    pub label: String,
    /// The scanned tree.
    pub tree: SrcTree,
}

/// Points at one entry of one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef {
    /// Index into the sources.
    pub src: u32,
    /// Index of the directory in that source's tree.
    pub dir: u32,
    /// Index of the entry in that directory.
    pub ent: u32,
}

/// One directory of the merged tree.
#[derive(Debug)]
pub struct PlanDir {
    /// Path relative to the destination root (empty for the root).
    pub rel: Box<[u8]>,
    /// Length of the parent's part of `rel`, to slice out the name.
    pub name_at: usize,
    /// Index of the parent in [`Plan::dirs`] (the root points at itself).
    pub parent: u32,
    /// `(source, dir)` whose metadata this directory gets.
    pub meta_from: (u32, u32),
    /// Non-directory entries, sorted by name.
    pub leaves: Vec<EntryRef>,
}

impl PlanDir {
    /// Returns the directory's own name (empty for the root).
    pub fn name(&self) -> &[u8] {
        &self.rel[self.name_at..]
    }
}

/// One path provided differently by several sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The path, relative to the destination root.
    pub path: Vec<u8>,
    /// Every source providing it, in merge order, with what it provides.
    pub providers: Vec<(u32, Kind)>,
    /// The source that wins (the last).
    pub winner: u32,
}

/// The merged tree.
#[derive(Debug)]
pub struct Plan {
    /// Directories in sorted pre-order; index 0 is the root.
    pub dirs: Vec<PlanDir>,
    /// Conflicts, sorted by path.
    pub conflicts: Vec<Conflict>,
}

impl Plan {
    /// Visits the directories below the root in pre-order, each with its
    /// parent open (entered from `root` one directory at a time with
    /// `O_NOFOLLOW`). `visit` returns whether the directory may be entered;
    /// it is opened only if it has subdirectories in the plan. A directory
    /// whose parent was not entered is not visited.
    pub fn visit_dirs<E: From<FsError>>(
        &self,
        root: &DirFd,
        visit: impl FnMut(usize, &PlanDir, &DirFd) -> Result<bool, E>,
    ) -> Result<(), E> {
        self.visit_dirs_with(root, &mut DirCache::new(), visit)
    }

    /// [`Plan::visit_dirs`] through `cache`, which keeps the handles it
    /// opened for the caller's next walk of the same destination.
    pub fn visit_dirs_with<E: From<FsError>>(
        &self,
        root: &DirFd,
        cache: &mut DirCache,
        mut visit: impl FnMut(usize, &PlanDir, &DirFd) -> Result<bool, E>,
    ) -> Result<(), E> {
        let layout = self.layout(root);
        let mut entered = vec![false; self.dirs.len()];
        entered[0] = true;
        for (i, d) in self.dirs.iter().enumerate().skip(1) {
            if !entered[d.parent as usize] {
                continue;
            }
            let parent = cache.open(&layout, d.parent)?;
            entered[i] = visit(i, d, &parent)?;
        }
        Ok(())
    }

    /// Returns where each plan directory sits below `root`, the open
    /// destination, for a [`DirCache`].
    pub fn layout<'a>(&'a self, root: &'a DirFd) -> PlanLayout<'a> {
        PlanLayout { plan: self, root }
    }

    /// Returns the number of non-directory entries.
    pub fn leaf_count(&self) -> usize {
        self.dirs.iter().map(|d| d.leaves.len()).sum()
    }
}

/// The plan's directories below an open destination root.
pub struct PlanLayout<'a> {
    plan: &'a Plan,
    root: &'a DirFd,
}

impl Layout for PlanLayout<'_> {
    fn parent(&self, n: u32) -> Option<(u32, &[u8])> {
        let d = &self.plan.dirs[n as usize];
        (n != 0).then(|| (d.parent, d.name()))
    }

    fn open_root(&self) -> Result<DirFd, FsError> {
        self.root.try_clone()
    }
}

/// Returns the entry a reference points at.
pub fn entry(sources: &[Source], r: EntryRef) -> &SrcEntry {
    &sources[r.src as usize].tree.dirs[r.dir as usize].entries[r.ent as usize]
}

/// Returns the source-side metadata a directory of the plan should get.
pub fn dir_meta(sources: &[Source], d: &PlanDir) -> Result<Meta, crate::fsx::FsError> {
    sources[d.meta_from.0 as usize]
        .tree
        .dir_meta(d.meta_from.1 as usize)
}

#[derive(Clone, Copy)]
enum Slot {
    Dir(u32),
    Leaf(u32),
}

struct WorkDir<'a> {
    rel: Box<[u8]>,
    name_at: usize,
    meta_from: (u32, u32),
    dead: bool,
    /// The last source entry that provided this directory.
    provided_by: Option<EntryRef>,
    children: HashMap<&'a [u8], Slot>,
    subdirs: Vec<u32>,
}

/// Identity used to decide whether two providers give "the same" entry.
fn same(sources: &[Source], a: EntryRef, b: EntryRef) -> bool {
    let (ea, eb) = (entry(sources, a), entry(sources, b));
    if ea.kind != eb.kind {
        return false;
    }
    match ea.kind {
        // Symlinks placed by ppd share their inode with the source; only
        // independently created ones need their targets compared.
        Kind::Symlink if key(sources, a.src, ea) == key(sources, b.src, eb) => true,
        Kind::Symlink => {
            // An unreadable target counts as different: the conflict is
            // reported and placing the winner reports the error itself.
            let ta = sources[a.src as usize].tree.target(a.dir as usize, ea);
            let tb = sources[b.src as usize].tree.target(b.dir as usize, eb);
            matches!((ta, tb), (Ok(x), Ok(y)) if x == y)
        }
        // Two inodes with the same bytes and mode (a package installing a
        // copy of a dependency's file, a tree restored from a copy) give
        // the same result whichever wins. Read only where inodes differ,
        // which is rare.
        Kind::File if key(sources, a.src, ea) != key(sources, b.src, eb) => {
            let pa = sources[a.src as usize]
                .tree
                .path_of(a.dir as usize, &ea.name);
            let pb = sources[b.src as usize]
                .tree
                .path_of(b.dir as usize, &eb.name);
            crate::fsx::same_file_content(&pa, &pb)
        }
        _ => key(sources, a.src, ea) == key(sources, b.src, eb),
    }
}

fn key(sources: &[Source], src: u32, e: &SrcEntry) -> FileKey {
    FileKey {
        dev: sources[src as usize].tree.dev,
        ino: e.ino,
    }
}

/// Computes the union of `sources`, in order, last wins.
pub fn build(sources: &[Source]) -> Plan {
    let mut dirs: Vec<WorkDir> = vec![WorkDir {
        rel: Box::from(&b""[..]),
        name_at: 0,
        meta_from: (0, 0),
        dead: false,
        provided_by: None,
        children: HashMap::default(),
        subdirs: Vec::new(),
    }];
    let mut leaves: Vec<EntryRef> = Vec::new();
    let mut dead_leaf: Vec<bool> = Vec::new();
    // (dir, name) -> providers, for paths with differing providers.
    let mut clashes: HashMap<(u32, &[u8]), Vec<EntryRef>> = HashMap::default();

    for (s, source) in sources.iter().enumerate() {
        let s = s as u32;
        let tree = &source.tree;
        let mut map = vec![u32::MAX; tree.dirs.len()];
        map[0] = 0;
        for (i, sd) in tree.dirs.iter().enumerate() {
            let p = map[i];
            if p == u32::MAX || dirs[p as usize].dead {
                continue;
            }
            dirs[p as usize].meta_from = (s, i as u32);
            for (e, ent) in sd.entries.iter().enumerate() {
                let r = EntryRef {
                    src: s,
                    dir: i as u32,
                    ent: e as u32,
                };
                let name: &[u8] = &ent.name;
                let slot = dirs[p as usize].children.get(name).copied();
                match (ent.kind == Kind::Dir, slot) {
                    (true, Some(Slot::Dir(q))) => {
                        map[ent.child as usize] = q;
                        dirs[q as usize].provided_by = Some(r);
                    }
                    (true, prev) => {
                        if let Some(Slot::Leaf(l)) = prev {
                            dead_leaf[l as usize] = true;
                            clashes
                                .entry((p, name))
                                .or_insert_with(|| vec![leaves[l as usize]])
                                .push(r);
                        }
                        let q = dirs.len() as u32;
                        let rel = crate::scan::child_rel(&dirs[p as usize].rel, name);
                        let name_at = rel.len() - name.len();
                        dirs.push(WorkDir {
                            rel,
                            name_at,
                            meta_from: (s, ent.child),
                            dead: false,
                            provided_by: Some(r),
                            children: HashMap::default(),
                            subdirs: Vec::new(),
                        });
                        dirs[p as usize].subdirs.push(q);
                        dirs[p as usize].children.insert(name, Slot::Dir(q));
                        map[ent.child as usize] = q;
                    }
                    (false, None) => {
                        dirs[p as usize]
                            .children
                            .insert(name, Slot::Leaf(leaves.len() as u32));
                        leaves.push(r);
                        dead_leaf.push(false);
                    }
                    (false, Some(Slot::Leaf(l))) => {
                        let prev = leaves[l as usize];
                        if let Some(list) = clashes.get_mut(&(p, name)) {
                            list.push(r);
                        } else if !same(sources, prev, r) {
                            clashes.insert((p, name), vec![prev, r]);
                        }
                        leaves[l as usize] = r;
                    }
                    (false, Some(Slot::Dir(q))) => {
                        kill(&mut dirs, q);
                        let by = dirs[q as usize].provided_by;
                        clashes
                            .entry((p, name))
                            .or_insert_with(|| by.into_iter().collect())
                            .push(r);
                        dirs[p as usize]
                            .children
                            .insert(name, Slot::Leaf(leaves.len() as u32));
                        leaves.push(r);
                        dead_leaf.push(false);
                    }
                }
            }
        }
    }
    finish(sources, dirs, leaves, dead_leaf, clashes)
}

fn kill(dirs: &mut [WorkDir], q: u32) {
    let mut stack = vec![q];
    while let Some(d) = stack.pop() {
        dirs[d as usize].dead = true;
        stack.extend(dirs[d as usize].subdirs.iter().copied());
    }
}

fn finish(
    sources: &[Source],
    dirs: Vec<WorkDir>,
    leaves: Vec<EntryRef>,
    dead_leaf: Vec<bool>,
    clashes: HashMap<(u32, &[u8]), Vec<EntryRef>>,
) -> Plan {
    let mut out: Vec<PlanDir> = Vec::with_capacity(dirs.len());
    // Depth-first in sorted name order, children pushed in reverse.
    let mut stack: Vec<(u32, u32)> = vec![(0, 0)];
    while let Some((w, parent)) = stack.pop() {
        let wd = &dirs[w as usize];
        let me = out.len() as u32;
        let mut names: Vec<(&[u8], Slot)> = wd.children.iter().map(|(n, s)| (*n, *s)).collect();
        names.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut dleaves = Vec::new();
        let mut subs = Vec::new();
        for (_, slot) in &names {
            match *slot {
                Slot::Leaf(l) if !dead_leaf[l as usize] => dleaves.push(leaves[l as usize]),
                Slot::Dir(q) if !dirs[q as usize].dead => subs.push(q),
                _ => {}
            }
        }
        out.push(PlanDir {
            rel: wd.rel.clone(),
            name_at: wd.name_at,
            parent,
            meta_from: wd.meta_from,
            leaves: dleaves,
        });
        for q in subs.into_iter().rev() {
            stack.push((q, me));
        }
    }
    let mut conflicts: Vec<Conflict> = clashes
        .into_iter()
        .map(|((d, name), provs)| {
            let path = crate::scan::child_rel(&dirs[d as usize].rel, name).into_vec();
            let providers: Vec<(u32, Kind)> = provs
                .iter()
                .map(|r| (r.src, entry(sources, *r).kind))
                .collect();
            let winner = providers.last().map(|p| p.0).unwrap_or(0);
            Conflict {
                path,
                providers,
                winner,
            }
        })
        .collect();
    conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    Plan {
        dirs: out,
        conflicts,
    }
}
