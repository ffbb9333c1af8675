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
//! size or mtime changed under the same inode was edited in place through a
//! hard link shared with the dependency's own tree, which then changed too.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::fsx::{FileKey, Kind, Mtime};
use crate::manifest::{self, Loaded, Manifest};
use crate::prepare::Origins;
use crate::scan::{self, ScanOptions};

/// What to list.
#[derive(Clone, Debug)]
pub struct FileListConfig {
    /// The per-package directory root.
    pub per_package_dir: PathBuf,
    /// The package.
    pub pkg: String,
    /// Staging relative to the host tree, if the build has one.
    pub staging_subdir: Option<PathBuf>,
}

/// How a dependency's file was overwritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OverwriteKind {
    /// Replaced by another inode.
    Replaced,
    /// Edited in place: same inode, different size or mtime.
    EditedInPlace,
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
    /// The package that installed the original.
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

/// One listed entry of a walked tree.
struct Seen {
    key: FileKey,
    size: u64,
    mtime: Mtime,
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

/// A walked tree: (relative path, key line) of each file and symlink, and
/// what the overwrite check needs, by path.
type Walked = (Vec<(Vec<u8>, Vec<u8>)>, HashMap<Vec<u8>, Seen>);

/// Walks `root` (a missing tree is empty).
fn walk(root: &Path, pool: &rayon::ThreadPool) -> Result<Walked> {
    let tree = match pool.install(|| scan::scan(root, ScanOptions { stat_files: true })) {
        Ok(t) => t,
        Err(e) if e.errno() == nix::errno::Errno::ENOENT && e.path() == root => {
            return Ok((Vec::new(), HashMap::new()))
        }
        Err(e) => return Err(e.into()),
    };
    let mut lines = Vec::new();
    let mut seen = HashMap::new();
    for d in &tree.dirs {
        for e in &d.entries {
            if !matches!(e.kind, Kind::File | Kind::Symlink) {
                continue;
            }
            let meta = e.meta.expect("BUG: scanned with stat_files");
            let rel = scan::child_rel(&d.rel, &e.name).into_vec();
            let mut line = Vec::with_capacity(48 + rel.len());
            key_line(meta.mtime, e.ino, meta.mode, e.kind, e.size, &mut line);
            line.extend_from_slice(b"./");
            line.extend_from_slice(&rel);
            seen.insert(
                rel.clone(),
                Seen {
                    key: FileKey {
                        dev: tree.dev,
                        ino: e.ino,
                    },
                    size: e.size,
                    mtime: meta.mtime,
                },
            );
            lines.push((rel, line));
        }
    }
    Ok((lines, seen))
}

/// Key lines of what prepare placed, with paths relative to `strip`.
fn before_lines(m: &Manifest, strip: &[u8]) -> HashSet<Vec<u8>> {
    m.records
        .iter()
        .filter_map(|(path, r)| {
            let rel = if strip.is_empty() {
                &path[..]
            } else {
                path.strip_prefix(strip)?.strip_prefix(b"/")?
            };
            if !matches!(r.kind, Kind::File | Kind::Symlink) {
                return None;
            }
            let mut line = Vec::with_capacity(48 + rel.len());
            key_line(r.mtime, r.key.ino, r.mode, r.kind, r.size, &mut line);
            line.extend_from_slice(b"./");
            line.extend_from_slice(rel);
            Some(line)
        })
        .collect()
}

/// `comm -13 <(sort before) <(sort after) | sed 's/^[^,]+/pkg/'`.
fn own_list<'a>(
    pkg: &str,
    after: impl Iterator<Item = &'a Vec<u8>>,
    before: &HashSet<Vec<u8>>,
) -> Vec<u8> {
    let mut lines: Vec<&Vec<u8>> = after.filter(|l| !before.contains(*l)).collect();
    lines.sort_unstable();
    let mut out = Vec::new();
    for l in lines {
        let comma = l
            .iter()
            .position(|&b| b == b',')
            .expect("BUG: key lines have a comma");
        out.extend_from_slice(pkg.as_bytes());
        out.extend_from_slice(&l[comma..]);
        out.push(b'\n');
    }
    out
}

fn load(tree: &Path, warnings: &mut Vec<String>) -> Manifest {
    let path = manifest::path_for(tree);
    match manifest::load(&path) {
        Loaded::Good(m) => m,
        Loaded::Missing => {
            warnings.push(format!(
                "no manifest {}: every file in {} is listed as the package's own",
                path.display(),
                tree.display()
            ));
            Manifest::default()
        }
        Loaded::Damaged(why) => {
            warnings.push(format!(
                "damaged manifest {} ({why}): every file in {} is listed as the package's own",
                path.display(),
                tree.display()
            ));
            Manifest::default()
        }
    }
}

/// Computes the lists and the overwrites of `cfg.pkg`.
pub fn file_lists(cfg: &FileListConfig, pool: &rayon::ThreadPool) -> Result<Report> {
    let base = cfg.per_package_dir.join(&cfg.pkg);
    let mut report = Report::default();
    let mut origins = Origins::new(&cfg.per_package_dir);
    let staging = cfg
        .staging_subdir
        .as_ref()
        .map(|s| crate::fsx::bytes(s).to_vec())
        .map(|s| s.strip_suffix(b"/").map(<[u8]>::to_vec).unwrap_or(s))
        .unwrap_or_default();

    for kind in ["target", "host"] {
        let tree = base.join(kind);
        let m = load(&tree, &mut report.warnings);
        let (lines, seen) =
            walk(&tree, pool).with_context(|| format!("listing {}", tree.display()))?;
        report.lists.walked += lines.len();
        if kind == "target" {
            let before = before_lines(&m, b"");
            report.lists.target = own_list(&cfg.pkg, lines.iter().map(|(_, l)| l), &before);
        } else {
            let in_staging = |rel: &[u8]| {
                !staging.is_empty()
                    && rel.len() > staging.len()
                    && rel.starts_with(&staging)
                    && rel[staging.len()] == b'/'
            };
            let before = before_lines(&m, b"");
            let host = lines
                .iter()
                .filter(|(rel, _)| !in_staging(rel))
                .map(|(_, l)| l);
            report.lists.host = own_list(&cfg.pkg, host, &before);
            if !staging.is_empty() {
                // Re-key staging entries relative to the staging root.
                let cut = staging.len() + 1;
                let restaged: Vec<Vec<u8>> = lines
                    .iter()
                    .filter(|(rel, _)| in_staging(rel))
                    .map(|(rel, l)| {
                        let comma = l.iter().position(|&b| b == b',').expect("BUG: comma");
                        let mut n = l[..=comma].to_vec();
                        n.extend_from_slice(b"./");
                        n.extend_from_slice(&rel[cut..]);
                        n
                    })
                    .collect();
                let before = before_lines(&m, &staging);
                report.lists.staging = own_list(&cfg.pkg, restaged.iter(), &before);
            }
        }
        for (path, rec) in &m.records {
            let Some(now) = seen.get(path) else { continue };
            let kind = if now.key.ino != rec.key.ino {
                OverwriteKind::Replaced
            } else if now.size != rec.size || now.mtime != rec.mtime {
                OverwriteKind::EditedInPlace
            } else {
                continue;
            };
            let provider_tree = cfg
                .per_package_dir
                .join(&rec.provider)
                .join(kind_dir(&tree));
            let owner = origins.origin(&rec.provider, &provider_tree, path);
            report.overwrites.push(Overwrite {
                tree: tree.clone(),
                path: path.clone(),
                kind,
                owner,
            });
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
            path.display(),
            o.owner
        ),
        OverwriteKind::EditedInPlace => format!(
            "overwrite: {pkg} edited {} in place; it is {}'s file, shared through a hard link, \
             so {}'s own tree changed too",
            path.display(),
            o.owner,
            o.owner
        ),
    }
}
