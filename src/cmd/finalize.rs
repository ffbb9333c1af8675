//! `ppd finalize`: arguments to [`crate::finalize::FinalizeConfig`], then
//! the overwrite report (stderr lines, `--report` JSON, exit status), the
//! dry-run plan, the `-v` stats line, `--json` stats and the progress bar.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::cli::{ConflictArg, FinalizeArgs, MergeModeArg, TreeArg};
use crate::exit::Status;
use crate::finalize::{self, FinalizeConfig, MergeMode, Progress};
use crate::merge::{DestClash, Stats};

/// Runs `ppd finalize`.
pub fn run(args: &FinalizeArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    let cfg = config(args, ctx)?;
    let pool = ctx.threads.pool()?;
    let r = with_progress(ctx.progress, "finalize", |p| {
        finalize::finalize(&cfg, &pool, p)
    })?;
    let mut status = Status::Success;
    let lines: Vec<String> = r
        .conflicts
        .iter()
        .map(|c| crate::prepare::conflict_line(&cfg.dest, c))
        .chain(r.applied.clashes.iter().map(|c| clash_line(&cfg.dest, c)))
        .collect();
    if !lines.is_empty() && args.conflicts != ConflictArg::Ignore {
        let mut stderr = std::io::stderr().lock();
        for l in &lines {
            writeln!(stderr, "ppd: {l}")?;
        }
        if args.conflicts == ConflictArg::Error {
            status = Status::Findings;
        }
    }
    if let Some(path) = &args.report {
        let doc = serde_json::to_vec_pretty(&finalize::report(&cfg, &r.conflicts))?;
        std::fs::write(path, [doc, b"\n".to_vec()].concat())
            .with_context(|| format!("writing report {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if ctx.dry_run {
        out.write_all(r.plan_text.as_deref().unwrap_or_default())?;
    }
    let secs = start.elapsed().as_secs_f64();
    if args.json {
        let doc = serde_json::json!({
            "command": "finalize",
            "tree": cfg.tree,
            "dest": cfg.dest.display().to_string(),
            "mode": mode_word(cfg.mode),
            "packages": cfg.pkgs.len(),
            "entries": r.planned,
            "dirs": r.dirs,
            "stats": r.applied.stats,
            "overwrites": r.conflicts.len(),
            "threads": ctx.threads.count(),
            "seconds": secs,
        });
        writeln!(out, "{doc}")?;
    }
    drop(out);
    if ctx.verbose {
        eprintln!(
            "ppd finalize: {} packages, {} entries, {}, {} overwrites, {} threads, {secs:.3} s",
            cfg.pkgs.len(),
            r.planned,
            stats_words(&r.applied.stats),
            r.conflicts.len(),
            ctx.threads.count(),
        );
    }
    Ok(status)
}

fn config(args: &FinalizeArgs, ctx: &Context) -> Result<FinalizeConfig> {
    if args.per_package_dir.as_os_str().is_empty() {
        bail!("--per-package-dir is empty");
    }
    if args.dest.as_os_str().is_empty() {
        bail!("--dest is empty");
    }
    for p in &args.pkgs {
        if p.is_empty() || p.contains('/') || p == "." || p == ".." {
            bail!("bad package name {p:?}: must be one path component");
        }
    }
    Ok(FinalizeConfig {
        per_package_dir: args.per_package_dir.clone(),
        tree: match args.tree {
            TreeArg::Host => "host",
            TreeArg::Target => "target",
        },
        dest: args.dest.clone(),
        mode: match args.mode {
            MergeModeArg::Copy => MergeMode::Copy,
            MergeModeArg::Hardlink => MergeMode::Hardlink,
        },
        pkgs: args.pkgs.clone(),
        dry_run: ctx.dry_run,
    })
}

fn mode_word(m: MergeMode) -> &'static str {
    match m {
        MergeMode::Copy => "copy",
        MergeMode::Hardlink => "hardlink",
    }
}

/// Formats a clash with what the destination already held.
pub(super) fn clash_line(dest: &std::path::Path, c: &DestClash) -> String {
    format!(
        "conflict: {} is a {} in the destination where the source has a {}; {}",
        crate::fsx::join(dest, &c.path).display(),
        c.found.word(),
        c.wanted.word(),
        if c.replaced { "replaced" } else { "kept" }
    )
}

/// The counters of a stats line.
pub(super) fn stats_words(s: &Stats) -> String {
    format!(
        "{} copied, {} linked, {} symlinks, {} dirs created, {} replaced, {} unchanged",
        s.copied, s.linked, s.symlinks, s.dirs_created, s.replaced, s.skipped
    )
}

/// Runs `f`, drawing a progress bar on stderr if `enabled` and the work
/// lasts more than half a second (most runs are shorter, and a bar that
/// flashes for a few frames is noise).
pub(super) fn with_progress<T>(enabled: bool, what: &str, f: impl FnOnce(&Progress) -> T) -> T {
    let progress = Progress::default();
    if !enabled {
        return f(&progress);
    }
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let begin = Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let total = progress.total.load(Ordering::Relaxed);
                if bar.is_none() && total > 0 && begin.elapsed() > Duration::from_millis(500) {
                    let b = indicatif::ProgressBar::new(total);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{prefix} [{bar:40}] {pos}/{len} entries ({eta})",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b.set_prefix(format!("ppd {what}"));
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(progress.done.load(Ordering::Relaxed).min(total));
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        let out = f(&progress);
        finished.store(true, Ordering::Relaxed);
        out
    })
}
