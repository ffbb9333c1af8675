//! `ppd outdated`: which packages hold copies of dependency files that
//! differ from what those dependencies provide now, and so need their
//! configure step again (`make <pkg>-reconfigure`).
//!
//! Each per-package tree's manifest records every entry prepare placed:
//! the dependency it came from and its identity, type, mode, size and
//! mtime as placed. [`freshness`] compares one record with the
//! dependency's entry at the same path now; it is the one answer to "is
//! this copy outdated" (also behind `ppd explain`):
//!
//! - the same inode as recorded: current (a shared inode is the
//!   dependency's file), unless the tree was copied or restored since the
//!   manifest was written (`cp -a`, tar, `rsync -aH`: recorded inode
//!   numbers mean nothing, and a rebuilt dependency's new file may be
//!   given one of them) or the entry was born after it (a freed number
//!   given back): then it is compared as another inode;
//! - gone from the dependency, or another type: gone / changed;
//! - another inode: current only if type, permission bits, size and mtime
//!   are the recorded ones (rsync's quick check, which Buildroot relies
//!   on); a copy the path fixup rewrote is compared without its size,
//!   which the rewrite changed, since the fixup keeps the mtime.
//!
//! Entries a dependency provides now that a tree has neither a record of
//! nor holds are new (the dependency's tree is read once, names and types
//! only).
//!
//! A package whose copies are current but come from a package that needs
//! refreshing needs refreshing too, after it: the report lists the make
//! targets in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use rayon::prelude::*;

use crate::fsx::{self, FileKey, FileStat, Kind, Mtime};
use crate::manifest::{self, Loaded, Record, Trust};
use crate::walk::ByPath;

/// How a copy compares with its dependency's entry now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Freshness {
    /// What the dependency provides now.
    Current,
    /// The dependency provides something else at this path now.
    Changed,
    /// The dependency no longer provides this path.
    Gone,
    /// The dependency provides this path now and the tree has nothing there
    /// (no record: [`freshness`] never answers this; [`outdated`] finds it
    /// by reading the dependency's tree).
    New,
}

impl Freshness {
    /// One word, for messages.
    pub fn word(self) -> &'static str {
        match self {
            Freshness::Current => "current",
            Freshness::Changed => "changed",
            Freshness::Gone => "gone",
            Freshness::New => "new",
        }
    }
}

/// Compares a manifest record with the `lstat` of the providing
/// dependency's entry at the same path now (`None`: nothing there).
///
/// `trust` is the manifest's ([`crate::manifest::Manifest::trust`]): the
/// recorded inode number says "current" only while the tree is the one
/// the manifest describes. After a copy or restore of the output
/// directory every recorded number is stale and a rebuilt dependency's new
/// file may be given one of them, so only type, mode, size and mtime
/// decide (mtimes cut to whole seconds by a tar restore still match). The
/// recorded number with another size or mtime is the placed inode edited
/// in place (current: every tree sharing it changed with it), unless the
/// entry was born after the manifest was written (`born` gives its birth
/// time, asked only then): a new file given the freed number.
pub fn freshness(
    rec: &Record,
    now: Option<&FileStat>,
    trust: Trust,
    born: impl FnOnce() -> Option<Mtime>,
) -> Freshness {
    let Some(now) = now else {
        return Freshness::Gone;
    };
    let kind = Kind::from_mode(now.st_mode);
    if kind == Kind::Dir {
        return Freshness::Gone;
    }
    if kind != rec.kind {
        return Freshness::Changed;
    }
    let mtime = Mtime::of(now);
    let placed_inode = !trust.identity_lost && !rec.rewritten && FileKey::of(now) == rec.key;
    if placed_inode {
        let as_placed = now.st_size as u64 == rec.size && mtime == rec.mtime;
        let reused = !as_placed && matches!((trust.written, born()), (Some(w), Some(b)) if b > w);
        if !reused {
            return Freshness::Current;
        }
    }
    let same_mtime = if trust.identity_lost {
        manifest::same_mtime_after_copy(rec.mtime, mtime)
    } else {
        mtime == rec.mtime
    };
    let same = now.st_mode & 0o7777 == rec.mode & 0o7777
        && same_mtime
        && (rec.rewritten || now.st_size as u64 == rec.size);
    if same {
        Freshness::Current
    } else {
        Freshness::Changed
    }
}

/// One copy that differs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stale {
    /// `host` or `target`.
    pub tree: &'static str,
    /// Path relative to the tree.
    pub path: Vec<u8>,
    /// The dependency it was copied from.
    pub provider: String,
    /// How it differs.
    pub how: Freshness,
}

/// A package to refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refresh {
    /// The package.
    pub pkg: String,
    /// Its copies that differ from their dependencies now (empty when it
    /// only depends on a package being refreshed).
    pub stale: Vec<Stale>,
    /// The packages being refreshed that it copied files from.
    pub after: Vec<String>,
}

/// The report.
#[derive(Debug, Default)]
pub struct OutdatedReport {
    /// Packages to refresh, dependencies first.
    pub refresh: Vec<Refresh>,
    /// Packages whose manifests were read.
    pub packages: usize,
    /// Records compared.
    pub records: usize,
    /// Missing or damaged manifests, as warnings.
    pub warnings: Vec<String>,
}

/// Finds the packages to refresh among `pkgs` (every package with a
/// manifest under `per_package_dir` if empty).
pub fn outdated(
    per_package_dir: &Path,
    pkgs: &[String],
    pool: &rayon::ThreadPool,
) -> Result<OutdatedReport> {
    let pkgs: Vec<String> = if pkgs.is_empty() {
        all_packages(per_package_dir)?
    } else {
        pkgs.to_vec()
    };
    struct One {
        pkg: String,
        stale: Vec<Stale>,
        providers: BTreeSet<String>,
        records: usize,
        warnings: Vec<String>,
        manifests: Vec<(&'static str, manifest::Manifest)>,
    }
    let mut each: Vec<One> = pool.install(|| {
        pkgs.par_iter()
            .map(|pkg| {
                let mut one = One {
                    pkg: pkg.clone(),
                    stale: Vec::new(),
                    providers: BTreeSet::new(),
                    records: 0,
                    warnings: Vec::new(),
                    manifests: Vec::new(),
                };
                for tree in ["host", "target"] {
                    let root = per_package_dir.join(pkg).join(tree);
                    let path = manifest::path_for(&root);
                    let m = match manifest::load_for(&root) {
                        Loaded::Good(m) => m,
                        Loaded::Missing => continue,
                        Loaded::Damaged(why) => {
                            one.warnings.push(format!(
                                "damaged manifest {} ({why})",
                                crate::fsx::show(&path)
                            ));
                            continue;
                        }
                    };
                    // One provider's tree at a time, each entry reached
                    // below it fd-relatively (paths longer than PATH_MAX
                    // work), so one set of directory handles is open.
                    let mut by_provider: BTreeMap<&str, Vec<(&Vec<u8>, &Record)>> = BTreeMap::new();
                    for (rel, rec) in &m.records {
                        by_provider
                            .entry(&rec.provider)
                            .or_default()
                            .push((rel, rec));
                    }
                    let trust = m.trust();
                    for (provider, records) in by_provider {
                        one.providers.insert(provider.to_owned());
                        let mut dep = ByPath::new(&per_package_dir.join(provider).join(tree));
                        for (rel, rec) in records {
                            one.records += 1;
                            let now = dep.stat(rel).ok().flatten();
                            let how = freshness(rec, now.as_ref(), trust, || dep.born(rel));
                            if how != Freshness::Current {
                                one.stale.push(Stale {
                                    tree,
                                    path: rel.clone(),
                                    provider: rec.provider.clone(),
                                    how,
                                });
                            }
                        }
                    }
                    one.manifests.push((tree, m));
                }
                one
            })
            .collect()
    });
    // Entries a dependency provides now that a tree neither recorded nor
    // holds: each providing tree is read once (names and types only).
    let wanted: BTreeSet<(String, &'static str)> = each
        .iter()
        .flat_map(|one| {
            one.manifests
                .iter()
                .flat_map(|(tree, m)| m.records.values().map(move |r| (r.provider.clone(), *tree)))
        })
        .collect();
    let scanned: BTreeMap<(String, &'static str), Vec<Vec<u8>>> = pool.install(|| {
        wanted
            .par_iter()
            .filter_map(|(dep, tree)| {
                let root = per_package_dir.join(dep).join(tree);
                let t = crate::scan::scan(&root, crate::scan::ScanOptions::default()).ok()?;
                let mut leaves = Vec::with_capacity(t.leaf_count());
                for d in &t.dirs {
                    for e in d.entries.iter().filter(|e| e.kind != Kind::Dir) {
                        leaves.push(crate::scan::child_rel(&d.rel, &e.name).into_vec());
                    }
                }
                Some(((dep.clone(), *tree), leaves))
            })
            .collect()
    });
    pool.install(|| {
        each.par_iter_mut().for_each(|one| {
            for (tree, m) in &one.manifests {
                let deps: BTreeSet<&String> = m.records.values().map(|r| &r.provider).collect();
                let mut mine = ByPath::new(&per_package_dir.join(&one.pkg).join(tree));
                for dep in deps {
                    let Some(leaves) = scanned.get(&(dep.clone(), *tree)) else {
                        continue;
                    };
                    for rel in leaves {
                        if m.records.contains_key(rel) {
                            continue;
                        }
                        if !matches!(mine.stat(rel), Ok(Some(_))) {
                            one.stale.push(Stale {
                                tree,
                                path: rel.clone(),
                                provider: dep.clone(),
                                how: Freshness::New,
                            });
                        }
                    }
                }
            }
        })
    });
    let mut report = OutdatedReport {
        packages: each.len(),
        ..Default::default()
    };
    let mut providers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stale: BTreeMap<String, Vec<Stale>> = BTreeMap::new();
    for mut one in each {
        one.stale.sort();
        one.stale.dedup();
        report.records += one.records;
        report.warnings.extend(one.warnings);
        if !one.stale.is_empty() {
            stale.insert(one.pkg.clone(), one.stale);
        }
        providers.insert(one.pkg, one.providers);
    }
    // Everything that copies from a package to refresh is refreshed after it.
    let mut chosen: BTreeSet<String> = stale.keys().cloned().collect();
    loop {
        let more: Vec<String> = providers
            .iter()
            .filter(|(p, deps)| !chosen.contains(*p) && deps.iter().any(|d| chosen.contains(d)))
            .map(|(p, _)| p.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }
    // Dependencies first; alphabetical among equals.
    let mut done: BTreeSet<String> = BTreeSet::new();
    while done.len() < chosen.len() {
        let ready: Vec<String> = chosen
            .iter()
            .filter(|p| !done.contains(*p))
            .filter(|p| {
                providers.get(*p).is_none_or(|deps| {
                    deps.iter()
                        .all(|d| d == *p || !chosen.contains(d) || done.contains(d))
                })
            })
            .cloned()
            .collect();
        // A cycle (not possible in a build graph) takes the rest in name order.
        let ready = if ready.is_empty() {
            chosen
                .iter()
                .filter(|p| !done.contains(*p))
                .cloned()
                .collect()
        } else {
            ready
        };
        for p in ready {
            let mut s = stale.remove(&p).unwrap_or_default();
            s.sort();
            let after = providers
                .get(&p)
                .map(|deps| {
                    deps.iter()
                        .filter(|d| *d != &p && chosen.contains(*d))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            report.refresh.push(Refresh {
                pkg: p.clone(),
                stale: s,
                after,
            });
            done.insert(p);
        }
    }
    Ok(report)
}

/// Every subdirectory of `per_package_dir` that has a manifest, sorted.
fn all_packages(per_package_dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(per_package_dir)
        .map_err(|e| fsx::FsError::new("opening directory", per_package_dir, fsx::errno_of(&e)))?;
    for e in rd {
        let e = e.map_err(|e| {
            fsx::FsError::new("reading directory", per_package_dir, fsx::errno_of(&e))
        })?;
        let name = e.file_name().to_string_lossy().into_owned();
        let dir: PathBuf = per_package_dir.join(&name);
        if ["host", "target"]
            .iter()
            .any(|t| manifest::path_for(&dir.join(t)).exists())
        {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}
