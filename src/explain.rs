//! `ppd explain`: where an entry of a per-package or final tree comes from.
//!
//! For a path in `DIR/<pkg>/{host,target}/...` or in a final tree (the
//! `host` or `target` directory beside `DIR`, as in a Buildroot output
//! directory), every package tree of the same kind that holds the path is
//! looked at: its entry (type, inode, links), the package that installed
//! it (the manifests followed by [`crate::provenance::Origins`]), its state
//! against what was placed and what the dependency provides now
//! ([`crate::provenance::copy_state`]), and whether the packages that
//! installed the path installed different content (a conflict). Only
//! `lstat`, manifests and, to tell two installed versions apart, file
//! contents are read; nothing is written.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Result};

use crate::fsx::{self, FileKey, Kind, Mtime};
use crate::provenance::{self, CopyState, Origins};
use crate::walk::ByPath;

/// One entry as found on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its type.
    pub kind: Kind,
    /// Device and inode.
    pub key: FileKey,
    /// Hard links to the inode.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Mode bits.
    pub mode: u32,
    /// mtime.
    pub mtime: Mtime,
}

impl Entry {
    fn of(st: &crate::fsx::FileStat) -> Entry {
        Entry {
            kind: Kind::from_mode(st.st_mode),
            key: FileKey::of(st),
            nlink: st.st_nlink,
            size: st.st_size as u64,
            mode: st.st_mode & 0o7777,
            mtime: Mtime::of(st),
        }
    }
}

/// One package's copy of the path.
#[derive(Clone, Debug)]
pub struct Copy {
    /// The package whose tree holds it.
    pub package: String,
    /// Its entry.
    pub entry: Entry,
    /// The package that installed it, traced through the manifests.
    pub installer: String,
    /// The dependency that placed it into this tree (from the manifest),
    /// if the entry is still the one placed.
    pub placed_by: Option<String>,
    /// The dependency the manifest names for the path, placed or not.
    pub recorded: Option<String>,
    /// True if the path fixup rewrote it after placing.
    pub rewritten: bool,
    /// Against what was placed and what the dependency provides now.
    pub state: CopyState,
}

/// Where the path asked about is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// In the per-package tree of this package.
    Package(String),
    /// In the final tree.
    Final,
}

/// The answer for one path.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The path as given.
    pub path: PathBuf,
    /// The tree it is in.
    pub tree: PathBuf,
    /// The per-package root (absolute).
    pub per_package_dir: PathBuf,
    /// `host` or `target`.
    pub kind: String,
    /// Per-package or final tree.
    pub place: Place,
    /// Path relative to the tree.
    pub rel: Vec<u8>,
    /// The entry itself (`None` if there is nothing at the path).
    pub entry: Option<Entry>,
    /// In a per-package tree: this package's copy, as in `copies`.
    pub copy: Option<Copy>,
    /// Every package tree of this kind that holds the path, by package name.
    pub copies: Vec<Copy>,
    /// Trees (packages, and `final` for the final tree) whose entry is this
    /// very inode.
    pub shared_by: Vec<String>,
    /// The package that installed the version this tree has.
    pub installer: Option<String>,
    /// The package whose version this tree has: in a final tree the last
    /// package by name that provides the path (the order finalize merges
    /// Buildroot's sorted package list in), in a per-package tree the
    /// installer of its copy.
    pub winner: Option<String>,
    /// In a final tree: true if the entry no longer matches the winning
    /// package's copy (type, size, mode, mtime), say edited after finalize
    /// or finalized before the package's rebuild.
    pub differs_from_winner: bool,
    /// The installers of differing versions, each once, by package name,
    /// if there are two or more: a conflict.
    pub conflict: Vec<(String, Kind)>,
}

/// Explains `path`, with `per_package_dir` the per-package root.
pub fn explain(per_package_dir: &Path, path: &Path) -> Result<Explanation> {
    let abs = |p: &Path| std::path::absolute(p).map(|p| normalize(&p));
    let ppd = abs(per_package_dir)?;
    let target = abs(path)?;
    if !ppd.is_dir() {
        bail!(
            "reading per-package directory {}: No such file or directory",
            crate::fsx::show(per_package_dir)
        );
    }
    let (place, kind, tree, rel) = locate(&ppd, &target).ok_or_else(|| {
        anyhow::anyhow!(
            "explaining {}: not in a per-package tree of {} (DIR/PKG/host or DIR/PKG/target) \
             nor in the final host or target tree beside it",
            crate::fsx::show(path),
            crate::fsx::show(per_package_dir)
        )
    })?;
    let entry = match fsx::lstat(&target) {
        // Longer than PATH_MAX: below its tree, one component at a time.
        Err(fsx::Errno::ENAMETOOLONG) => ByPath::new(&tree).stat(&rel).ok().flatten(),
        r => r.ok(),
    }
    .map(|st| Entry::of(&st));
    let mut origins = Origins::new(&ppd);
    let mut trees = crate::walk::Trees::new();
    let mut copies = Vec::new();
    for pkg in packages(&ppd)? {
        let ptree = ppd.join(&pkg).join(&kind);
        let Ok(Some(st)) = trees.at(&ptree).stat(&rel) else {
            continue;
        };
        let m = provenance::manifest_of(&ptree);
        let rec = m.as_ref().and_then(|m| m.records.get(&rel));
        let state = provenance::copy_state(&ppd, &kind, &ptree, &rel, m.as_ref(), &st, &mut trees);
        let installer = if Kind::from_mode(st.st_mode) == Kind::Dir {
            pkg.clone()
        } else {
            origins.origin_of(&pkg, &ptree, &rel, Some(FileKey::of(&st)))
        };
        let still = matches!(
            state,
            CopyState::Current | CopyState::Outdated | CopyState::EditedInPlace
        );
        copies.push(Copy {
            package: pkg.clone(),
            entry: Entry::of(&st),
            installer,
            placed_by: rec.filter(|_| still).map(|r| r.provider.clone()),
            recorded: rec.map(|r| r.provider.clone()),
            rewritten: rec.is_some_and(|r| r.rewritten && still),
            state,
        });
    }
    if entry.is_none() && copies.is_empty() {
        bail!(
            "explaining {}: No such file or directory, and no package provides it",
            crate::fsx::show(path)
        );
    }
    let copy = match &place {
        Place::Package(p) => copies.iter().find(|c| &c.package == p).cloned(),
        Place::Final => None,
    };
    let mut shared_by: Vec<String> = match entry {
        Some(e) => copies
            .iter()
            .filter(|c| c.entry.key == e.key)
            .map(|c| c.package.clone())
            .collect(),
        None => Vec::new(),
    };
    let final_tree = ppd.parent().map(|p| p.join(&kind));
    if let (Some(e), Some(ft)) = (entry, &final_tree) {
        let in_final = crate::walk::ByPath::new(ft).stat(&rel).ok().flatten();
        if in_final.is_some_and(|st| FileKey::of(&st) == e.key) {
            shared_by.push("final".into());
        }
    }
    let winning_copy = match &place {
        Place::Final => copies.last(),
        Place::Package(_) => copy.as_ref(),
    };
    let winner = match &place {
        Place::Final => copies.last().map(|c| c.package.clone()),
        Place::Package(_) => copy.as_ref().map(|c| c.installer.clone()),
    };
    let differs_from_winner = match (&place, entry, winning_copy) {
        (Place::Final, Some(e), Some(w)) => {
            e.kind != w.entry.kind
                || (e.kind != Kind::Dir
                    && (e.size != w.entry.size
                        || e.mode != w.entry.mode
                        || e.mtime != w.entry.mtime))
        }
        _ => false,
    };
    let mut conflict = installers_differing(&ppd, &kind, &rel, &copies);
    // By name, the winning version's installer last (as conflict lines name them).
    let winning_installer = winning_copy.map(|c| c.installer.clone());
    conflict.sort_by_key(|(p, _)| (Some(p) == winning_installer.as_ref(), p.clone()));
    Ok(Explanation {
        path: path.to_path_buf(),
        tree,
        per_package_dir: ppd.clone(),
        kind,
        place,
        rel,
        entry,
        copy,
        copies,
        shared_by,
        installer: winning_installer,
        winner,
        differs_from_winner,
        conflict,
    })
}

/// The installers' versions, one per installer (its own copy if it has
/// one), if at least two differ; else nothing.
fn installers_differing(
    ppd: &Path,
    kind: &str,
    rel: &[u8],
    copies: &[Copy],
) -> Vec<(String, Kind)> {
    let mut installers: Vec<(String, Kind, PathBuf, FileKey)> = Vec::new();
    for c in copies {
        if installers.iter().any(|i| i.0 == c.installer) {
            continue;
        }
        // The installer's own tree holds the version it installed, unless
        // it no longer provides the path: then this copy stands for it.
        let own = copies
            .iter()
            .find(|o| o.package == c.installer)
            .unwrap_or(c);
        let tree = ppd.join(&own.package).join(kind);
        installers.push((c.installer.clone(), own.entry.kind, tree, own.entry.key));
    }
    if installers.len() < 2 {
        return Vec::new();
    }
    let first = &installers[0];
    let differ = installers.iter().skip(1).any(|i| {
        if i.1 != first.1 {
            return true;
        }
        match i.1 {
            Kind::Dir => false,
            Kind::Symlink => {
                let target = |tree: &Path| ByPath::new(tree).readlink(rel).ok().flatten();
                target(&i.2) != target(&first.2)
            }
            _ => {
                let open = |tree: &Path| ByPath::new(tree).open_file(rel).ok().flatten();
                i.3 != first.3
                    && !match (open(&i.2), open(&first.2)) {
                        (Some(a), Some(b)) => fsx::same_open_content(&a, &b),
                        _ => false,
                    }
            }
        }
    });
    if !differ {
        return Vec::new();
    }
    installers.into_iter().map(|(p, k, _, _)| (p, k)).collect()
}

/// The package directories of the per-package root, sorted by name.
fn packages(ppd: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(ppd)
        .map_err(|e| fsx::FsError::new("reading directory", ppd, fsx::errno_of(&e)))?
        .filter_map(|d| d.ok())
        .filter(|d| d.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|d| d.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Finds the tree `target` is in: `(place, kind, tree, rel)`.
fn locate(ppd: &Path, target: &Path) -> Option<(Place, String, PathBuf, Vec<u8>)> {
    if let Ok(rest) = target.strip_prefix(ppd) {
        let mut comps = rest.components();
        let pkg = comps.next()?.as_os_str().to_str()?.to_owned();
        let kind = comps.next()?.as_os_str().to_str()?.to_owned();
        if kind != "host" && kind != "target" {
            return None;
        }
        let rel = fsx::bytes(comps.as_path()).to_vec();
        let tree = ppd.join(&pkg).join(&kind);
        return Some((Place::Package(pkg), kind, tree, rel));
    }
    let out = ppd.parent()?;
    for kind in ["host", "target"] {
        let tree = out.join(kind);
        if let Ok(rest) = target.strip_prefix(&tree) {
            let rel = fsx::bytes(rest).to_vec();
            return Some((Place::Final, kind.to_owned(), tree, rel));
        }
    }
    None
}

/// Drops `.` components and resolves `..` lexically (symlinks inside the
/// trees are entries to explain, not to follow).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}
