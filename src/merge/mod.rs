//! The merge engine shared by `prepare` (hard links from dependencies),
//! `finalize` and `copy-tree`: scan sources ([`crate::scan`]), compute their
//! union ([`plan`]), then write it ([`apply`]).

pub mod apply;
pub mod copy;
pub mod plan;

pub use apply::{apply, Applied, ApplyOptions, DestClash, FileMode, Placed, Stats};
pub use plan::{build, Conflict, EntryRef, Plan, PlanDir, Source};

use std::path::Path;

use crate::fsx::{self, Kind};

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
