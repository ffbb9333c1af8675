//! `ppd file-list`: the files a package installed itself, in Buildroot's
//! `.files-list*.txt` format, and the dependency files it overwrote.
//!
//! Buildroot lists four trees with `find -printf '%T@:%i:%#m:%y:%s,%p'`
//! before configure and again after install, sorts both, keeps the lines
//! only in "after" (`comm -13`), and turns the key into the package name.
//! ppd keeps the "after" walk (one per tree: the host walk also yields the
//! staging list) but takes "before" from the manifest prepare wrote, which
//! holds the same keys for everything the dependencies provided. The key
//! lines are built with the same formatting and sorted bytewise, so the
//! output is byte-identical to the shell method on the same tree.
//!
//! The manifest also tells which entries came from a dependency: one whose
//! inode changed was replaced by this package (an overwrite); one whose
//! size or mtime changed under the same inode was edited in place: through a
//! hard link shared with the dependency's own tree, which then changed too,
//! or in a clone or copy of the tree's own, which left the dependency alone.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::fsx::{FileKey, Kind, Meta, Mtime};
use crate::manifest::{self, Index, RecordRef};
use crate::provenance::Origins;

pub mod images;
mod walk;

/// What to list.
#[derive(Clone, Debug)]
pub struct FileListConfig {
    /// The per-package directory root.
    pub per_package_dir: PathBuf,
    /// The package.
    pub pkg: String,
    /// Staging relative to the host tree, if the build has one.
    pub staging_subdir: Option<PathBuf>,
    /// Trace each overwritten file to the package that installed it
    /// (reads the dependencies' manifests); without it, the owner named is
    /// the dependency the file came from.
    pub trace_owners: bool,
}

/// How a dependency's file was overwritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OverwriteKind {
    /// Replaced by another inode.
    Replaced,
    /// Edited in place: same inode, different size or mtime, and that
    /// inode is still the dependency's own file (a hard link).
    EditedInPlace,
    /// Edited in place, but the inode is this tree's alone (a clone, a
    /// copy, or a hard link the dependency no longer has): the
    /// dependency's tree is unchanged.
    EditedOwnCopy,
}

/// One overwritten dependency file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Overwrite {
    /// The tree it is in.
    pub tree: PathBuf,
    /// Path relative to that tree.
    pub path: Vec<u8>,
    /// What happened.
    pub kind: OverwriteKind,
    /// The package that installed the original (with
    /// [`FileListConfig::trace_owners`]; else the dependency it came from).
    pub owner: String,
}

/// The three lists, each the exact bytes of a `.files-list*.txt`.
#[derive(Clone, Debug, Default)]
pub struct Lists {
    /// `.files-list.txt` (target).
    pub target: Vec<u8>,
    /// `.files-list-staging.txt`.
    pub staging: Vec<u8>,
    /// `.files-list-host.txt`.
    pub host: Vec<u8>,
    /// Entries examined.
    pub walked: usize,
    /// Directories read.
    pub dirs_read: usize,
    /// Directories whose names came from the manifest (see `walk`).
    pub dirs_trusted: usize,
}

/// Everything `file-list` found.
#[derive(Debug, Default)]
pub struct Report {
    /// The lists.
    pub lists: Lists,
    /// Overwritten dependency files, sorted.
    pub overwrites: Vec<Overwrite>,
    /// Warnings (missing or damaged manifests).
    pub warnings: Vec<String>,
}

/// Formats one `find -printf '%T@:%i:%#m:%y:%s,'` key.
pub fn key_line(mtime: Mtime, ino: u64, mode: u32, kind: Kind, size: u64, out: &mut Vec<u8>) {
    let m = mode & 0o7777;
    let y = if kind == Kind::Symlink { 'l' } else { 'f' };
    // %T@ prints nanoseconds followed by one more zero digit; %#m is octal
    // with a leading 0 (just "0" for mode 0).
    let _ = if m == 0 {
        write!(
            out,
            "{}.{:09}0:{}:0:{}:{},",
            mtime.sec, mtime.nsec, ino, y, size
        )
    } else {
        write!(
            out,
            "{}.{:09}0:{}:0{:o}:{}:{},",
            mtime.sec, mtime.nsec, ino, m, y, size
        )
    };
}

/// A file or symlink of the walked tree that is not exactly what the
/// manifest recorded.
struct Found<'a> {
    rel: Box<[u8]>,
    meta: Meta,
    key: FileKey,
    size: u64,
    /// The record of a dependency's entry at this path.
    placed: Option<RecordRef<'a>>,
}

/// Returns true if the entry is exactly what the manifest recorded: the
/// same `find -printf '%T@:%i:%#m:%y:%s'` key, so `comm -13` would drop it.
/// After the tree was copied or restored (`lost`: every inode number
/// changed), the entry is recognised without its inode, as prepare does
/// (see [`crate::manifest::Record::still_placed`]).
fn unchanged(
    rec: &RecordRef<'_>,
    lost: bool,
    ino: u64,
    size: u64,
    mtime: Mtime,
    mode: u32,
) -> bool {
    let same_mtime = if lost {
        manifest::same_mtime_after_copy(rec.mtime, mtime)
    } else {
        rec.key.ino == ino && rec.mtime == mtime
    };
    same_mtime
        && rec.size == size
        && rec.mode & 0o7777 == mode & 0o7777
        && rec.kind == Kind::from_mode(mode)
}

/// Formats the own entries as `pkg,./path` lines in `sort` order of their
/// key lines, which is the order Buildroot's lists have.
fn render(pkg: &str, own: Vec<(Vec<u8>, usize)>) -> Vec<u8> {
    let mut own = own;
    own.sort_unstable();
    let mut out = Vec::new();
    for (line, comma) in own {
        out.extend_from_slice(pkg.as_bytes());
        out.extend_from_slice(&line[comma..]);
        out.push(b'\n');
    }
    out
}

/// The key line of an entry (with the path relative to the listed tree)
/// and the position of the comma before the path.
fn keyed(found: &Found<'_>, rel: &[u8]) -> (Vec<u8>, usize) {
    let mut line = Vec::with_capacity(56 + rel.len());
    key_line(
        found.meta.mtime,
        found.key.ino,
        found.meta.mode,
        found.meta.kind,
        found.size,
        &mut line,
    );
    let comma = line.len() - 1;
    line.extend_from_slice(b"./");
    line.extend_from_slice(rel);
    (line, comma)
}

/// Reads the manifest bytes of `tree`; `None` (with a warning) if there are
/// none to use.
fn read_manifest(tree: &Path, warnings: &mut Vec<String>) -> Option<manifest::Bytes> {
    let path = manifest::path_for(tree);
    match manifest::read(&path).and_then(|d| {
        d.map(manifest::in_current_format)
            .transpose()
            .map_err(|e| format!("{e:#}"))
    }) {
        Ok(Some(data)) => Some(data),
        Ok(None) => {
            warnings.push(format!(
                "no manifest {}: every file in {} is listed as the package's own",
                crate::fsx::show(&path),
                crate::fsx::show(tree)
            ));
            None
        }
        Err(why) => {
            warnings.push(damaged(&path, tree, &why));
            None
        }
    }
}

fn damaged(path: &Path, tree: &Path, why: &str) -> String {
    format!(
        "damaged manifest {} ({why}): every file in {} is listed as the package's own",
        crate::fsx::show(path),
        crate::fsx::show(tree)
    )
}

/// The parsed index, or an empty one (with a warning) for a damaged manifest.
fn checked<'a>(
    tree: &Path,
    parsed: Option<Result<Index<'a>>>,
    warnings: &mut Vec<String>,
) -> Index<'a> {
    match parsed {
        Some(Ok(index)) => index,
        Some(Err(e)) => {
            let why = format!("{e:#}");
            warnings.push(damaged(&manifest::path_for(tree), tree, &why));
            Index::default()
        }
        None => Index::default(),
    }
}

/// What indexing and walking one tree gave.
type Indexed<'a> = (
    Result<walk::Walked<'a>, crate::fsx::FsError>,
    Vec<String>,
    bool,
);

/// Indexes the manifest bytes of `tree` (if any) and walks it; the
/// warnings for a damaged manifest, and whether the tree was copied or
/// restored since the manifest was written (its inode numbers mean
/// nothing then).
fn index_and_walk<'a>(
    tree: &Path,
    data: Option<&'a [u8]>,
    pool: &rayon::ThreadPool,
) -> Indexed<'a> {
    let mut warnings = Vec::new();
    let index = checked(tree, data.map(Index::parse), &mut warnings);
    let lost = manifest::identity_lost(index.root, tree);
    (walk::walk(tree, &index, lost, pool), warnings, lost)
}

/// Manifests smaller than this (both trees together, about 3,000 records)
/// describe trees walked faster on the calling thread alone than with
/// worker threads started, woken and joined.
const SMALL_MANIFESTS: usize = 192 << 10;

/// Computes the lists and the overwrites of `cfg.pkg`: on the calling
/// thread for trees whose manifests are small (`SMALL_MANIFESTS`), else
/// on the whole budget.
pub fn file_lists(cfg: &FileListConfig, pools: &crate::jobs::Pools) -> Result<Report> {
    let base = cfg.per_package_dir.join(&cfg.pkg);
    let mut report = Report::default();
    let staging = cfg
        .staging_subdir
        .as_ref()
        .map(|s| crate::fsx::bytes(s).to_vec())
        .map(|s| s.strip_suffix(b"/").map(<[u8]>::to_vec).unwrap_or(s))
        .unwrap_or_default();

    let target = base.join("target");
    let host = base.join("host");
    // A mistyped or never-prepared package must not give empty lists.
    for (tree, kind) in [(&target, "target"), (&host, "host")] {
        match std::fs::metadata(tree) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "file-list {}: package {} has no {kind} tree: Not a directory",
                crate::fsx::show(tree),
                crate::fsx::show(Path::new(&cfg.pkg))
            ),
            Err(e) => bail!(
                "file-list {}: package {} has no {kind} tree: {}",
                crate::fsx::show(tree),
                crate::fsx::show(Path::new(&cfg.pkg)),
                crate::exit::io_reason(&e)
            ),
        }
    }
    let target_data = read_manifest(&target, &mut report.warnings);
    let host_data = read_manifest(&host, &mut report.warnings);
    let size = |d: &Option<manifest::Bytes>| d.as_deref().map_or(0, <[u8]>::len);
    // Without a manifest the size of a tree is not known: the whole budget.
    let small = target_data.is_some()
        && host_data.is_some()
        && size(&target_data) + size(&host_data) < SMALL_MANIFESTS;
    let pool = match small {
        true => pools.inline()?,
        false => pools.full()?,
    };
    // Each tree is indexed, then walked; both trees at once, so the small
    // target tree fills the gaps of the host tree's work. A toolchain's
    // host manifest is megabytes: it is indexed in pieces on the pool, and
    // its record lines are parsed during the walk.
    let ((t, target_warnings, target_lost), (h, host_warnings, host_lost)) = pool.install(|| {
        rayon::join(
            || index_and_walk(&target, target_data.as_deref(), pool),
            || index_and_walk(&host, host_data.as_deref(), pool),
        )
    });
    report.warnings.extend(target_warnings);
    report.warnings.extend(host_warnings);
    let t = t.with_context(|| format!("listing {}", crate::fsx::show(&target)))?;
    let h = h.with_context(|| format!("listing {}", crate::fsx::show(&host)))?;
    let mut origins = Origins::new(&cfg.per_package_dir);
    for (tree, w, lost) in [(&target, t, target_lost), (&host, h, host_lost)] {
        if let Some(e) = &w.damaged {
            let why = format!("{e:#}");
            report
                .warnings
                .push(damaged(&manifest::path_for(tree), tree, &why));
        }
        report.lists.walked += w.walked;
        report.lists.dirs_read += w.read;
        report.lists.dirs_trusted += w.trusted;
        let found = w.found;
        let in_staging = |rel: &[u8]| {
            tree == &host
                && !staging.is_empty()
                && rel.len() > staging.len()
                && rel.starts_with(&staging)
                && rel[staging.len()] == b'/'
        };
        let (mut main, mut staged) = (Vec::new(), Vec::new());
        for f in &found {
            if let Some(rec) = &f.placed {
                let provider_tree = cfg.per_package_dir.join(rec.provider).join(kind_dir(tree));
                // Written through the placed inode, or a new file. After a
                // copy or restore the recorded number means nothing (a new
                // file may even have been given it), but a copy keeps hard
                // links: an in-place write shows as an inode still shared
                // with the dependency's tree.
                let edited = if lost {
                    origins.shares_inode(&provider_tree, &f.rel, f.key)
                } else {
                    f.key.ino == rec.key.ino
                };
                // Only an inode the dependency's tree still has changed
                // that tree too (not so a clone: its own inode, shared
                // blocks copied on write).
                let kind = if !edited {
                    OverwriteKind::Replaced
                } else if lost || origins.shares_inode(&provider_tree, &f.rel, f.key) {
                    OverwriteKind::EditedInPlace
                } else {
                    OverwriteKind::EditedOwnCopy
                };
                let live = (kind != OverwriteKind::Replaced).then_some(f.key);
                let owner = if cfg.trace_owners {
                    origins.origin_of(rec.provider, &provider_tree, &f.rel, live)
                } else {
                    rec.provider.to_owned()
                };
                report.overwrites.push(Overwrite {
                    tree: tree.clone(),
                    path: f.rel.to_vec(),
                    kind,
                    owner,
                });
            }
            if in_staging(&f.rel) {
                staged.push(keyed(f, &f.rel[staging.len() + 1..]));
            } else {
                main.push(keyed(f, &f.rel));
            }
        }
        if tree == &target {
            report.lists.target = render(&cfg.pkg, main);
        } else {
            report.lists.host = render(&cfg.pkg, main);
            report.lists.staging = render(&cfg.pkg, staged);
        }
    }
    report.overwrites.sort();
    Ok(report)
}

fn kind_dir(tree: &Path) -> PathBuf {
    tree.file_name().map(PathBuf::from).unwrap_or_default()
}

/// Formats one overwrite line (without the `ppd: ` prefix).
pub fn overwrite_line(pkg: &str, o: &Overwrite) -> String {
    let path = crate::fsx::join(&o.tree, &o.path);
    match o.kind {
        OverwriteKind::Replaced => format!(
            "overwrite: {pkg} replaced {} installed by {}",
            crate::fsx::show(&path),
            o.owner
        ),
        OverwriteKind::EditedInPlace => format!(
            "overwrite: {pkg} edited {} in place; it is {}'s file, shared through a hard link, \
             so {}'s own tree changed too",
            crate::fsx::show(&path),
            o.owner,
            o.owner
        ),
        OverwriteKind::EditedOwnCopy => format!(
            "overwrite: {pkg} edited {} in place; it is {}'s file, in a copy of its own, \
             so {}'s tree is unchanged",
            crate::fsx::show(&path),
            o.owner,
            o.owner
        ),
    }
}
