//! `ppd finalize`: build a final tree (`output/host`, `output/target`) from
//! every package's per-package tree in one parallel pass.
//!
//! The packages' trees are scanned in parallel without `stat`ing files (the
//! plan needs only names, types and inode numbers; the directories that a
//! tree's manifest shows unchanged since prepare filled them are not even
//! read, [`crate::scan::scan_known`]), merged in the order
//! given (the last package wins a path), and applied to the destination
//! under the same advisory lock `prepare` uses: as new inodes (copy mode,
//! the default, so strip, hooks and post-build scripts cannot reach the
//! per-package trees) or as hard links. Only the winning files are
//! `stat`ed, during the apply, so a re-run after no change costs one scan of
//! the sources plus one `stat` per destination entry. Nothing in the
//! destination that no package provides is removed.
//!
//! The overwrite report lists every path that several packages provide with
//! different content. The same inode reached through dependencies is not
//! one; neither is a file a package got from a dependency and rewrote (the
//! path fixup), traced through the manifests, nor two separately installed
//! files with the same bytes.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};

use crate::fsx::{self, Kind};
use crate::merge::{self, Applied, ApplyOptions, FileMode, Plan, Progress, Source};
use crate::provenance::{self, NamedConflict};
use crate::scan::ScanOptions;

/// How files reach the final tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeMode {
    /// New inodes (the default): the per-package trees stay untouched
    /// whatever is done to the final tree.
    Copy,
    /// Hard links to the per-package inodes (saves space and time, but an
    /// in-place edit of the final tree reaches the package's tree).
    Hardlink,
}

/// What to finalize.
#[derive(Clone, Debug)]
pub struct FinalizeConfig {
    /// The per-package directory root.
    pub per_package_dir: PathBuf,
    /// `host` or `target`: the subdirectory of each package to merge.
    pub tree: &'static str,
    /// The final tree.
    pub dest: PathBuf,
    /// Copy or hard-link.
    pub mode: MergeMode,
    /// In copy mode, how the data is written: `Auto` (the kernel shares
    /// blocks where it can), `Reflink` or `Snapshot` (a clone per file),
    /// `Copy` (never shared); `Hardlink` means hard links.
    pub link_mode: crate::cow::LinkMode,
    /// Packages, in merge order.
    pub pkgs: Vec<String>,
    /// Only compute and describe the plan.
    pub dry_run: bool,
}

/// The outcome of one finalize.
#[derive(Debug)]
pub struct FinalizeResult {
    /// What apply did.
    pub applied: Applied,
    /// Paths provided differently by several packages, sorted by path.
    pub conflicts: Vec<NamedConflict>,
    /// Paths whose winning entry is an outdated copy (after a dependency's
    /// `-rebuild`), sorted by path.
    pub outdated: Vec<provenance::OutdatedWinner>,
    /// Entries (files, symlinks) in the merged tree.
    pub planned: usize,
    /// Directories in the merged tree.
    pub dirs: usize,
    /// With `dry_run`: the operations a real run would perform, as text
    /// ([`crate::merge::preview`]).
    pub plan_text: Option<Vec<u8>>,
    /// With `dry_run`: packages whose trees do not exist yet; the final
    /// tree would be assembled after they are built, so nothing is planned.
    pub waiting: Vec<String>,
}

/// How `cfg` places files.
fn file_mode(cfg: &FinalizeConfig) -> FileMode {
    use crate::cow::LinkMode;
    use crate::merge::copy::Data;
    let data = match cfg.link_mode {
        _ if cfg.mode == MergeMode::Hardlink => return FileMode::Link,
        LinkMode::Hardlink => return FileMode::Link,
        LinkMode::Auto => Data::Auto,
        LinkMode::Reflink | LinkMode::Snapshot => Data::Clone,
        LinkMode::Copy => Data::Full,
    };
    FileMode::Copy {
        keep_newer: false,
        data,
    }
}

/// Merges every package's tree of `cfg` into the destination.
pub fn finalize(
    cfg: &FinalizeConfig,
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> Result<FinalizeResult> {
    if cfg.pkgs.is_empty() {
        return finalize_nothing(cfg);
    }
    let roots: Vec<(String, PathBuf)> = cfg
        .pkgs
        .iter()
        .map(|p| (p.clone(), cfg.per_package_dir.join(p).join(cfg.tree)))
        .collect();
    // A dry run reports a package that is not built yet instead of
    // failing: under make -n its tree would be there by then.
    let (roots, waiting) = if cfg.dry_run {
        merge::preview::not_built(roots)
    } else {
        (roots, Vec::new())
    };
    // Each package's tree is read through the manifest prepare wrote beside
    // it: a directory prepare filled and nobody changed since (most of a
    // tree: the toolchain's sysroot in every package) is not read again,
    // only what the package's own steps touched ([`crate::scan::scan_known`]).
    // A missing, damaged or foreign manifest means a full read.
    let opts = ScanOptions {
        manifests: true,
        ..ScanOptions::default()
    };
    let (sources, _) = merge::scan_sources(&roots, false, opts, pool)?;
    let plan = merge::build(&sources);
    let conflicts = overwrites(&sources, &plan, &cfg.per_package_dir);
    let outdated = provenance::outdated_winners(&sources, &plan, &cfg.per_package_dir, cfg.tree);
    let planned = plan.leaf_count();
    let mut result = FinalizeResult {
        applied: Applied::default(),
        conflicts,
        outdated,
        planned,
        dirs: plan.dirs.len(),
        plan_text: None,
        waiting,
    };
    let opts = ApplyOptions {
        mode: file_mode(cfg),
        record: false,
        guard: None,
        progress: Some(&progress.done),
        base: None,
        interrupted_since: None,
    };
    if cfg.dry_run {
        if result.waiting.is_empty() {
            let pv =
                merge::preview::preview(&sources, &plan, &cfg.dest, opts, &Default::default())?;
            result.applied = pv.applied;
            result.plan_text = Some(pv.text);
        }
        return Ok(result);
    }
    progress
        .total
        .store((planned + plan.dirs.len()) as u64, Ordering::Relaxed);
    let lock = crate::lock::lock(&cfg.dest)?;
    lock.mark()?;
    result.applied = merge::apply(&sources, &plan, &cfg.dest, opts, pool)?;
    lock.done()?;
    Ok(result)
}

/// Finalize with no package, as Buildroot's `per-package-rsync` does it:
/// the destination is created (`mkdir -p`), nothing else changes.
fn finalize_nothing(cfg: &FinalizeConfig) -> Result<FinalizeResult> {
    let mut result = FinalizeResult {
        applied: Applied::default(),
        conflicts: Vec::new(),
        outdated: Vec::new(),
        planned: 0,
        dirs: 0,
        plan_text: None,
        waiting: Vec::new(),
    };
    if cfg.dry_run {
        let text = match cfg.dest.is_dir() {
            true => String::new(),
            false => format!("mkdir {}\n", fsx::show(&cfg.dest)),
        };
        result.plan_text = Some(text.into_bytes());
        return Ok(result);
    }
    let _lock = crate::lock::lock(&cfg.dest)?;
    std::fs::create_dir_all(&cfg.dest)
        .with_context(|| format!("creating directory {}", fsx::show(&cfg.dest)))?;
    Ok(result)
}

/// Names the plan's conflicts ([`provenance::name_conflicts`], which follows
/// the manifests) and drops those whose providers are all regular files
/// with identical bytes: two packages installing the same file is not an
/// overwrite. Each remaining one names the packages that installed the
/// differing versions, not every package tree that carries a copy.
pub fn overwrites(sources: &[Source], plan: &Plan, per_package_dir: &Path) -> Vec<NamedConflict> {
    provenance::name_conflicts(sources, plan, per_package_dir)
        .into_iter()
        .filter(|c| !same_bytes(sources, c))
        .map(|c| c.by_installer())
        .collect()
}

fn same_bytes(sources: &[Source], c: &NamedConflict) -> bool {
    if c.providers.iter().any(|(_, k)| *k != Kind::File) {
        return false;
    }
    let mut first: Option<Vec<u8>> = None;
    // Many packages' trees carry the same inode: read each inode once.
    let mut read = std::collections::HashSet::new();
    for (label, _) in &c.providers {
        let Some(src) = sources.iter().rev().find(|s| &s.label == label) else {
            return false;
        };
        // Below the tree fd-relatively, never through a symlink: a path
        // longer than PATH_MAX is compared like any other.
        let Ok(Some(file)) = crate::walk::ByPath::new(&src.tree.root).open_file(&c.path) else {
            return false;
        };
        let Ok(md) = file.metadata() else {
            return false;
        };
        use std::os::unix::fs::MetadataExt;
        if !md.is_file() {
            return false;
        }
        if !read.insert((md.dev(), md.ino())) {
            continue;
        }
        let mut data = Vec::with_capacity(md.len() as usize);
        if std::io::Read::read_to_end(&mut &file, &mut data).is_err() {
            return false;
        }
        match &first {
            None => first = Some(data),
            Some(f) if *f == data => {}
            Some(_) => return false,
        }
    }
    true
}

/// The `--report` document: every overwrite, with all packages involved.
#[derive(Debug, serde::Serialize)]
pub struct Report<'a> {
    /// The final tree.
    pub dest: String,
    /// `host` or `target`.
    pub tree: &'a str,
    /// The overwrites, sorted by path.
    pub overwrites: Vec<ReportEntry>,
}

/// One overwritten path.
#[derive(Debug, serde::Serialize)]
pub struct ReportEntry {
    /// Path relative to the final tree.
    pub path: String,
    /// Every package providing it, in merge order.
    pub packages: Vec<String>,
    /// What each provides (`file`, `directory`, `symlink`, `special file`).
    pub kinds: Vec<&'static str>,
    /// The package whose version is in the final tree.
    pub winner: String,
}

/// Builds the `--report` document.
pub fn report<'a>(cfg: &'a FinalizeConfig, conflicts: &[NamedConflict]) -> Report<'a> {
    Report {
        dest: cfg.dest.display().to_string(),
        tree: cfg.tree,
        overwrites: conflicts
            .iter()
            .map(|c| ReportEntry {
                path: String::from_utf8_lossy(&c.path).into_owned(),
                packages: c.providers.iter().map(|(p, _)| p.clone()).collect(),
                kinds: c.providers.iter().map(|(_, k)| k.word()).collect(),
                winner: c.winner.clone(),
            })
            .collect(),
    }
}
/// Returns the report lines of this run that the last run on `dest` did not
/// report, and records this run's lines as the reported ones (beside the
/// tree, `<parent>/.<name>.ppd-reported`, written through a temporary and a
/// rename; nothing is written in a dry run).
///
/// A final merge runs on every `make`, and a conflict between two packages
/// stays until one of them changes: reported once when it appears (or when
/// the packages or the winner change), it is not repeated by every no-op
/// `make`. One that goes away and comes back is reported again.
pub fn first_reports(dest: &Path, lines: &[String], dry_run: bool) -> Result<Vec<String>> {
    let record = crate::lock::sidecar(dest, "ppd-reported");
    let tmp = crate::lock::sidecar(dest, "ppd-reported.tmp");
    // A directory holding something at either name is not ppd's: every
    // line is reported, and nothing recorded.
    if !dry_run && (crate::lock::sidecar_blocked(&record) || crate::lock::sidecar_blocked(&tmp)) {
        return Ok(lines.to_vec());
    }
    let old = match std::fs::read(&record) {
        Ok(data) => String::from_utf8_lossy(&data).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) if e.raw_os_error() == Some(fsx::Errno::EISDIR.raw()) => String::new(),
        Err(e) => {
            return Err(fsx::FsError::new("reading", &record, fsx::errno_of(&e)).into());
        }
    };
    let seen: std::collections::HashSet<&str> = old.lines().collect();
    let new: Vec<String> = lines
        .iter()
        .filter(|l| !seen.contains(l.as_str()))
        .cloned()
        .collect();
    let same = lines.len() == seen.len() && new.is_empty();
    if !dry_run && !same {
        let mut data = String::new();
        for l in lines {
            data.push_str(l);
            data.push('\n');
        }
        fsx::write_path(&tmp, data.as_bytes())
            .map_err(|e| fsx::FsError::new("writing", &tmp, fsx::errno_of(&e)))?;
        std::fs::rename(&tmp, &record)
            .map_err(|e| fsx::FsError::two("renaming", &tmp, &record, fsx::errno_of(&e)))?;
    }
    Ok(new)
}
