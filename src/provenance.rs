//! Provenance: where an entry of a per-package or final tree comes from.
//!
//! The manifests `prepare` writes say, for each entry it placed, which
//! dependency provided it and what inode (with size, mode and mtime) it
//! placed. Following them from tree to tree leads to the package that
//! installed a path itself ([`Origins`]), as long as every entry on the way
//! is still what was placed. This module owns that tracing and everything
//! built on it: naming the plan's conflicts by installing package
//! ([`name_conflicts`], used by `prepare`, `finalize` and `explain`), the
//! owner checks of `file-list`, and recording path-fixup rewrites in the
//! manifests so a rewritten file still counts as its dependency's
//! ([`record_rewrites`]). It reads trees and manifests and writes only
//! manifests, under the tree's lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::fsx::{self, FileKey, Kind};
use crate::manifest::{self, Loaded, Manifest};
use crate::merge::{Plan, Source};
use crate::walk::Trees;

/// A conflict with package names instead of indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedConflict {
    /// Path relative to the destination.
    pub path: Vec<u8>,
    /// `(package, what it provides)`, in merge order.
    pub providers: Vec<(String, Kind)>,
    /// The package that wins.
    pub winner: String,
    /// The packages that installed the differing versions (traced through
    /// the manifests), each once, in merge order; the winner's is last.
    pub installers: Vec<(String, Kind)>,
}

impl NamedConflict {
    /// Returns the same conflict naming the installing packages instead of
    /// every tree that carries a copy: in a final merge of every package, a
    /// file overwritten early in the graph is in hundreds of trees.
    pub fn by_installer(&self) -> NamedConflict {
        NamedConflict {
            path: self.path.clone(),
            providers: self.installers.clone(),
            winner: self
                .installers
                .last()
                .map(|i| i.0.clone())
                .unwrap_or_default(),
            installers: self.installers.clone(),
        }
    }
}

/// Records the path fixup's new inodes: a rewritten file still belongs to
/// the dependency that provided it.
pub(crate) fn note_rewrites(
    dest: &Path,
    report: &crate::textfix::FixupReport,
    m: &mut Manifest,
) -> Result<()> {
    // Read below the tree's handle, one directory at a time: a path can be
    // longer than PATH_MAX.
    let mut root = None;
    for rw in report.rewritten.iter().filter(|rw| rw.tree == dest) {
        let Some(rec) = m.records.get_mut(&rw.rel) else {
            continue;
        };
        let root = match &root {
            Some(r) => r,
            None => root.insert(fsx::DirFd::open(dest)?),
        };
        let (parent, name) = fsx::split_rel(&rw.rel);
        let dir = root.open_beneath(parent)?;
        let st = dir.stat(name)?.ok_or_else(|| {
            fsx::FsError::new(
                "inspecting",
                dir.child_path(name),
                crate::fsx::Errno::ENOENT,
            )
        })?;
        rec.key = FileKey::of(&st);
        rec.size = st.st_size as u64;
        rec.mode = st.st_mode & 0o7777;
        rec.mtime = fsx::Mtime::of(&st);
        rec.rewritten = true;
    }
    Ok(())
}

/// Records a separate `ppd fixup-paths` run's rewrites in the manifests of
/// the trees it rewrote (those that have one), so the rewritten files still
/// count as their dependency's: conflict checks, stale-entry removal and
/// file lists then treat them exactly as after `prepare --fixup-paths`.
/// The caller holds the trees' locks ([`crate::lock::lock_for_writing`]).
pub fn record_rewrites(trees: &[PathBuf], report: &crate::textfix::FixupReport) -> Result<()> {
    for tree in trees {
        if !report.rewritten.iter().any(|rw| &rw.tree == tree) {
            continue;
        }
        let mpath = manifest::path_for(tree);
        if !mpath.exists() {
            continue;
        }
        if let Loaded::Good(mut m) = manifest::load_for(tree) {
            note_rewrites(tree, report, &mut m)?;
            manifest::save(&mpath, &m)?;
        }
    }
    Ok(())
}

/// Names the conflicts, dropping those whose providers all trace back to
/// the same installing package through their manifests (a file one
/// dependency got from another and rewrote with the path fixup is still
/// that other package's file).
pub fn name_conflicts(
    sources: &[Source],
    plan: &Plan,
    per_package_dir: &Path,
) -> Vec<NamedConflict> {
    let mut origins = Origins::new(per_package_dir);
    // A tree the scan found without a manifest is not looked at again.
    for s in sources.iter().filter(|s| s.tree.no_manifest) {
        origins.cache.insert(s.tree.root.clone(), None);
    }
    let mut out = Vec::new();
    for c in &plan.conflicts {
        let mut installers: Vec<(String, Kind)> = Vec::new();
        for &(src, kind) in &c.providers {
            let s = &sources[src as usize];
            let o = if kind == Kind::Dir {
                s.label.clone()
            } else {
                origins.origin(&s.label, s.tree.root.as_path(), &c.path)
            };
            installers.retain(|(p, _)| *p != o);
            installers.push((o, kind));
        }
        // One installer: every copy traces back to the same package.
        let mixed = c.providers.iter().any(|(_, k)| *k == Kind::Dir);
        if installers.len() < 2 && !mixed {
            continue;
        }
        out.push(NamedConflict {
            path: c.path.clone(),
            providers: c
                .providers
                .iter()
                .map(|&(s, k)| (sources[s as usize].label.clone(), k))
                .collect(),
            winner: sources[c.winner as usize].label.clone(),
            installers,
        });
    }
    out
}

/// Follows manifests from a package's tree to the package that installed a
/// path: while the package's manifest says a dependency placed the path and
/// the entry is still what was placed, the owner is that dependency's owner.
pub struct Origins<'a> {
    per_package_dir: &'a Path,
    cache: HashMap<PathBuf, Option<manifest::Indexed>>,
    /// Lookups below each tree of a chain, kept for the next path.
    trees: Trees,
}

impl<'a> Origins<'a> {
    /// Starts with an empty manifest cache.
    pub fn new(per_package_dir: &'a Path) -> Origins<'a> {
        Origins {
            per_package_dir,
            cache: HashMap::new(),
            trees: Trees::new(),
        }
    }

    /// Returns true if the entry at `path` in `tree` is the inode `key`
    /// (the same device and number): an entry that still shares its inode
    /// with a dependency's tree was written through that hard link.
    pub fn shares_inode(&mut self, tree: &Path, path: &[u8], key: FileKey) -> bool {
        matches!(self.trees.at(tree).stat(path), Ok(Some(st)) if FileKey::of(&st) == key)
    }

    /// Returns the package that installed `path` as found in `pkg`'s `tree`.
    pub fn origin(&mut self, pkg: &str, tree: &Path, path: &[u8]) -> String {
        self.origin_of(pkg, tree, path, None)
    }

    /// Like [`Origins::origin`], for an inode known to be alive (`live`,
    /// say one edited in place through a hard link): an entry that is that
    /// inode still belongs to the chain even though its size and mtime no
    /// longer match the records. A live inode's number cannot have been
    /// reused, so the number alone identifies it.
    pub fn origin_of(
        &mut self,
        pkg: &str,
        tree: &Path,
        path: &[u8],
        live: Option<FileKey>,
    ) -> String {
        let mut pkg = pkg.to_owned();
        let mut tree = tree.to_path_buf();
        let kind = tree
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for _ in 0..64 {
            let m = self
                .cache
                .entry(tree.clone())
                .or_insert_with(|| manifest::index_for(&tree));
            // A line that does not parse is a record that tells nothing.
            let Some(rec) = m.as_ref().and_then(|m| m.index.get(path).ok().flatten()) else {
                return pkg;
            };
            // Below the tree fd-relatively: a path longer than PATH_MAX
            // is traced like any other.
            let current = self.trees.at(&tree).stat(path).ok().flatten();
            let trust = m.as_ref().map(|m| m.trust).unwrap_or_default();
            let provider_tree = self.per_package_dir.join(rec.provider).join(&kind);
            let trees = &mut self.trees;
            let untouched = current.is_some_and(|st| {
                if trust.identity_lost {
                    // After a copy or restore the recorded inode number
                    // means nothing: the entry is what was placed, or
                    // still the inode the dependency has at the path (an
                    // in-place edit through the hard link; a copy keeps
                    // hard links).
                    return rec.same_after_copy(&st)
                        || (!rec.rewritten
                            && trees
                                .at(&provider_tree)
                                .stat(path)
                                .ok()
                                .flatten()
                                .is_some_and(|p| FileKey::of(&p) == FileKey::of(&st)));
                }
                (live == Some(FileKey::of(&st)) && rec.key == FileKey::of(&st))
                    || rec.still_placed(&st, trust, || trees.at(&tree).born(path))
            });
            if !untouched {
                return pkg;
            }
            pkg = rec.provider.to_owned();
            tree = provider_tree;
        }
        pkg
    }
}

/// Formats one conflict line (without the `ppd: ` prefix).
pub fn conflict_line(dest: &Path, c: &NamedConflict) -> String {
    let who: Vec<String> = c
        .providers
        .iter()
        .map(|(p, k)| format!("{} ({})", fsx::show(Path::new(p)), k.word()))
        .collect();
    format!(
        "conflict: {} is provided differently by {}; {} wins",
        fsx::show(&fsx::join(dest, &c.path)),
        who.join(", "),
        fsx::show(Path::new(&c.winner))
    )
}

/// How a package's copy of a path stands against what was placed there and
/// against what the dependency that placed it provides now (that last part
/// is [`crate::outdated::freshness`], shared with `ppd outdated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyState {
    /// No record: the package installed the entry itself (or the tree has
    /// no manifest).
    Own,
    /// As placed, and the dependency still provides the same.
    Current,
    /// As placed, but the dependency now provides something else (it was
    /// rebuilt) or nothing: the next prepare replaces or removes it.
    Outdated,
    /// The inode placed, edited in place since: through a hard link, so
    /// every tree sharing the inode changed with it.
    EditedInPlace,
    /// Another inode than the one placed: the package replaced it.
    Replaced,
}

impl CopyState {
    /// The word for reports.
    pub fn word(self) -> &'static str {
        match self {
            CopyState::Own => "own",
            CopyState::Current => "current",
            CopyState::Outdated => "outdated",
            CopyState::EditedInPlace => "edited in place",
            CopyState::Replaced => "replaced",
        }
    }
}

/// The state of the entry at `rel` of `tree` (a per-package tree of
/// `kind`), whose manifest is `m`. `current` is its `lstat` result. The
/// trees are looked into through `trees`, kept by the caller for its
/// next entry.
pub fn copy_state(
    per_package_dir: &Path,
    kind: &str,
    tree: &Path,
    rel: &[u8],
    m: Option<&Manifest>,
    current: &crate::fsx::FileStat,
    trees: &mut Trees,
) -> CopyState {
    let Some(rec) = m.and_then(|m| m.records.get(rel)) else {
        return CopyState::Own;
    };
    let trust = m.map(Manifest::trust).unwrap_or_default();
    let provider_tree = per_package_dir.join(&rec.provider).join(kind);
    // Below the trees fd-relatively: a path longer than PATH_MAX is
    // answered like any other.
    let now = trees.at(&provider_tree).stat(rel).ok().flatten();
    let as_placed = if trust.identity_lost {
        // The tree was copied or restored: the recorded inode number means
        // nothing (and may be a new file's). An entry is the dependency's
        // inode if it still is the inode the dependency has at the path
        // (a copy keeps hard links); it is as placed if type, size, mtime
        // and mode are the recorded ones.
        let shared = !rec.rewritten
            && now
                .as_ref()
                .is_some_and(|n| FileKey::of(n) == FileKey::of(current));
        match (rec.same_after_copy(current), shared) {
            (true, _) => true,
            (false, true) => return CopyState::EditedInPlace,
            (false, false) => return CopyState::Replaced,
        }
    } else {
        rec.matches(current)
    };
    if !as_placed {
        return if rec.still_placed(current, trust, || trees.at(tree).born(rel)) {
            CopyState::EditedInPlace
        } else {
            CopyState::Replaced
        };
    }
    // Whether the dependency still provides what was placed is
    // `outdated::freshness`'s one answer.
    match crate::outdated::freshness(rec, now.as_ref(), trust, || {
        trees.at(&provider_tree).born(rel)
    }) {
        crate::outdated::Freshness::Current => CopyState::Current,
        _ => CopyState::Outdated,
    }
}

/// A final tree's entry that comes from an outdated copy: the package
/// that wins the path (the last one, as in Buildroot) holds a copy of a
/// dependency's file that the dependency has replaced since (a
/// `<dep>-rebuild`), so the final tree gets the old version until `winner`
/// is reconfigured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutdatedWinner {
    /// Path relative to the final tree.
    pub path: Vec<u8>,
    /// The package whose copy wins.
    pub winner: String,
    /// The package whose copy is outdated: `winner`, or a dependency it got
    /// the copy from unchanged.
    pub holder: String,
    /// The dependency that provides another version now.
    pub provider: String,
}

/// The plan's conflicts whose winning entry is an outdated copy: following
/// the winner's manifest from tree to tree while each copy is current, one
/// that its provider has replaced since. Only conflicts are looked at (a
/// rebuilt dependency's new file and a stale copy are different inodes), so
/// a merge without them reads no manifest.
pub fn outdated_winners(
    sources: &[Source],
    plan: &Plan,
    per_package_dir: &Path,
    kind: &str,
) -> Vec<OutdatedWinner> {
    let mut manifests: HashMap<String, Option<Manifest>> = HashMap::new();
    let mut trees = Trees::new();
    let mut out = Vec::new();
    for c in &plan.conflicts {
        let winner = &sources[c.winner as usize].label;
        let mut holder = winner.clone();
        // A chain of copies is as long as the dependency graph is deep.
        for _ in 0..64 {
            let tree = per_package_dir.join(&holder).join(kind);
            let m = manifests
                .entry(holder.clone())
                .or_insert_with(|| manifest_of(&tree));
            let Some(rec) = m.as_ref().and_then(|m| m.records.get(&c.path)) else {
                break;
            };
            let provider = rec.provider.clone();
            let Ok(Some(st)) = trees.at(&tree).stat(&c.path) else {
                break;
            };
            match copy_state(
                per_package_dir,
                kind,
                &tree,
                &c.path,
                m.as_ref(),
                &st,
                &mut trees,
            ) {
                CopyState::Outdated => {
                    out.push(OutdatedWinner {
                        path: c.path.clone(),
                        winner: winner.clone(),
                        holder,
                        provider,
                    });
                    break;
                }
                CopyState::Current => holder = provider,
                _ => break,
            }
        }
    }
    out
}

/// Formats one outdated-winner line (without the `ppd: ` prefix).
pub fn outdated_line(dest: &Path, o: &OutdatedWinner) -> String {
    let via = if o.holder == o.winner {
        String::new()
    } else {
        format!(" (through {})", fsx::show(Path::new(&o.holder)))
    };
    format!(
        "warning: {} is {}'s outdated copy{via} of a file {} provides differently now; \
         make {}-reconfigure refreshes it (make ppd-outdated lists every package to refresh)",
        fsx::show(&fsx::join(dest, &o.path)),
        fsx::show(Path::new(&o.winner)),
        fsx::show(Path::new(&o.provider)),
        fsx::show(Path::new(&o.holder)),
    )
}

/// Loads the manifest of a tree, if it has a good one.
pub fn manifest_of(tree: &Path) -> Option<Manifest> {
    match manifest::load_for(tree) {
        Loaded::Good(m) => Some(m),
        _ => None,
    }
}
