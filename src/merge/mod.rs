//! The merge engine shared by `prepare` (hard links from dependencies),
//! `finalize` and `copy-tree`: scan sources ([`crate::scan`]), compute their
//! union ([`plan`]), then write it ([`apply`]).

pub mod apply;
pub mod copy;
pub mod plan;

pub use apply::{apply, Applied, ApplyOptions, DestClash, FileMode, Placed, Stats};
pub use plan::{build, Conflict, EntryRef, Plan, PlanDir, Source};

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use anyhow::Result;

use crate::fsx::{self, Kind};
use crate::scan::{self, ScanOptions};

/// Renders a plan for `--dry-run`: `mkdir DIR`, then `<verb> DEST -> SRC
/// (package)` or `symlink DEST -> TARGET (package)` per entry, in plan
/// order (sorted pre-order), so the output is the same for every run.
pub fn describe(sources: &[Source], plan: &Plan, dest: &Path, verb: &str) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    for d in &plan.dirs {
        let _ = writeln!(out, "mkdir {}", fsx::join(dest, &d.rel).display());
        for &r in &d.leaves {
            let e = plan::entry(sources, r);
            let to = fsx::join(dest, &apply::leaf_path(d, &e.name));
            let src = &sources[r.src as usize];
            if e.kind == Kind::Symlink {
                let t = src.tree.target(r.dir as usize, e).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "symlink {} -> {} ({})",
                    to.display(),
                    String::from_utf8_lossy(t),
                    src.label
                );
            } else {
                let from = src.tree.path_of(r.dir as usize, &e.name);
                let _ = writeln!(
                    out,
                    "{verb} {} -> {} ({})",
                    to.display(),
                    from.display(),
                    src.label
                );
            }
        }
    }
    out
}

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
    let scanned: Vec<Result<Option<Source>>> = pool.install(|| {
        roots
            .par_iter()
            .map(|(label, root)| match scan::scan(root, opts) {
                Ok(tree) => Ok(Some(Source {
                    label: label.clone(),
                    tree,
                })),
                Err(e) if e.errno() == nix::errno::Errno::ENOENT && e.path() == root => {
                    if allow_missing {
                        Ok(None)
                    } else {
                        Err(anyhow::Error::new(e)
                            .context(format!("missing dependency tree of package {label}")))
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
