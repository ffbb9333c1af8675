//! The merge engine shared by `prepare` (hard links from dependencies),
//! `finalize` and `copy-tree`: scan sources ([`crate::scan`]), compute their
//! union ([`plan`]), then write it ([`apply()`]).

pub mod apply;
pub mod copy;
pub mod plan;
pub mod preview;

pub use apply::{apply, Applied, ApplyOptions, DestClash, FileMode, Placed, Stats};
pub use plan::{build, Conflict, EntryRef, Plan, PlanDir, Source};

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use anyhow::Result;

use crate::fsx;
use crate::scan::{self, ScanOptions};

/// Work done so far, for a progress bar drawn by another thread.
#[derive(Debug, Default)]
pub struct Progress {
    /// Entries to place (0 until the plan is known).
    pub total: AtomicU64,
    /// Entries placed.
    pub done: AtomicU64,
}

/// Scans the dependencies' trees in parallel; returns sources and missing names.
pub fn scan_sources(
    roots: &[(String, PathBuf)],
    allow_missing: bool,
    opts: ScanOptions,
    pool: &rayon::ThreadPool,
) -> Result<(Vec<Source>, Vec<String>)> {
    use rayon::prelude::*;
    // Each scanned tree keeps at most its share of the process's kept
    // directory handles, half of the budget split over the trees: a few
    // dependencies keep what their scan opened (the merge reads the same
    // directories again), while the 250 trees of a finalize leave the
    // other half to the destination and to the trees scanned after them.
    let share = crate::limits::retained_dirs() / (2 * roots.len().max(1));
    let scanned: Vec<Result<Option<Source>>> = pool.install(|| {
        roots
            .par_iter()
            .map(|(label, root)| match scan_tree(root, opts) {
                Ok(tree) => {
                    tree.keep_handles(share);
                    Ok(Some(Source {
                        label: label.clone(),
                        tree,
                    }))
                }
                Err(e) if e.errno() == crate::fsx::Errno::ENOENT && e.path() == root => {
                    if allow_missing && per_package_root(root).is_some_and(Path::is_dir) {
                        Ok(None)
                    } else {
                        Err(missing_tree(label, root, e))
                    }
                }
                Err(e) => Err(e.into()),
            })
            .collect()
    });
    let mut sources = Vec::new();
    let mut missing = Vec::new();
    for (s, (label, _)) in scanned.into_iter().zip(roots) {
        match s? {
            Some(src) => sources.push(src),
            None => missing.push(label.clone()),
        }
    }
    Ok((sources, missing))
}

/// Scans one tree, through its manifest where it has a usable one (see
/// [`ScanOptions::manifests`]). A missing, damaged or foreign manifest
/// (the tree was copied or restored since it was written) is ignored:
/// the tree is read as it is.
fn scan_tree(root: &Path, opts: ScanOptions) -> Result<scan::SrcTree, fsx::FsError> {
    let mut none = false;
    if opts.manifests && !opts.stat_files {
        let read = crate::manifest::read(&crate::manifest::path_for(root));
        none = matches!(read, Ok(None));
        let bytes = read
            .ok()
            .flatten()
            .and_then(|b| crate::manifest::in_current_format(b).ok());
        if let Some(bytes) = bytes {
            if let Ok(index) = crate::manifest::Index::parse(&bytes) {
                if !crate::manifest::identity_lost(index.root, root) {
                    return scan::scan_known(root, opts, &index);
                }
            }
        }
    }
    let mut tree = scan::scan(root, opts)?;
    tree.no_manifest = none;
    Ok(tree)
}

/// The per-package directory root of a package tree `ROOT/<pkg>/<kind>`.
fn per_package_root(tree: &Path) -> Option<&Path> {
    tree.parent()?.parent()
}

/// The error for a package tree that does not exist, blaming the right
/// culprit: a per-package directory root that does not exist, or a package
/// that is not in it (with the names present that are closest to it), or
/// the package's tree of that kind.
fn missing_tree(label: &str, tree: &Path, e: fsx::FsError) -> anyhow::Error {
    let Some(root) = per_package_root(tree) else {
        return anyhow::Error::new(e).context(format!("missing tree of package {label}"));
    };
    if !root.is_dir() {
        return anyhow::anyhow!(
            "reading per-package directory {}: No such file or directory",
            fsx::show(root)
        );
    }
    let pkg_dir = tree.parent().unwrap_or(tree);
    if pkg_dir.is_dir() {
        return anyhow::Error::new(e)
            .context(format!("missing dependency tree of package {label}"));
    }
    let names: Vec<String> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|d| d.ok())
                .filter(|d| d.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|d| d.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let hint = match suggest(label, &names).as_slice() {
        [] => String::new(),
        [one] => format!(" (did you mean {one}?)"),
        many => format!(" (did you mean one of {}?)", many.join(", ")),
    };
    anyhow::anyhow!(
        "missing dependency tree of package {label}: no package {label} in {}{hint}",
        fsx::show(root)
    )
}

/// The names closest to `name` by edit distance (about a third of its
/// length: none for one-letter names), best first, at most three.
pub fn suggest(name: &str, names: &[String]) -> Vec<String> {
    let limit = (name.chars().count() + 1) / 3;
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(name, n), n))
        .filter(|&(d, _)| d <= limit)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

/// Levenshtein distance, with a swap of two neighbours counting as one edit
/// (the commonest typo).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_the_close_names_best_first() {
        let names: Vec<String> = ["zlib", "zlib-ng", "busybox", "host-zlib", "xz"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(suggest("zlbi", &names), ["zlib"]);
        assert_eq!(suggest("busybx", &names), ["busybox"]);
        assert_eq!(suggest("host-zlb", &names), ["host-zlib"]);
        assert!(suggest("openssl", &names).is_empty());
    }
}
