//! `ppd finalize`: arguments to [`crate::finalize::FinalizeConfig`], then
//! the overwrite report (stderr lines, `--report` JSON, exit status), the
//! dry-run plan, the `-v` stats line, `--json` stats and the progress bar.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use super::json::{self, Doc};
use super::report::{clash_line, skipped_lines, stats_words, with_progress};
use super::Context;
use crate::cli::{ConflictArg, FinalizeArgs, FinalizeLinkModeArg, MergeModeArg, TreeArg};
use crate::cow::LinkMode;
use crate::exit::Status;
use crate::finalize::{self, FinalizeConfig, MergeMode};

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
        .map(|c| crate::provenance::conflict_line(&cfg.dest, c))
        .chain(
            r.applied
                .clashes
                .iter()
                .map(|c| clash_line(&cfg.dest, c, "the source")),
        )
        .collect();
    // An outdated copy winning a path is a warning whatever --conflicts
    // says: the stock merge picks the same file, and a reconfigure fixes it.
    let outdated: Vec<String> = r
        .outdated
        .iter()
        .map(|o| crate::provenance::outdated_line(&cfg.dest, o))
        .collect();
    let all: Vec<String> = lines.iter().chain(&outdated).cloned().collect();
    // A warning is given once per conflict, not on every no-op make; a
    // conflict that fails the build fails every run until it is fixed. A
    // dry run that waits for a package knows only part of the merge.
    let shown = match args.conflicts {
        _ if !r.waiting.is_empty() => Vec::new(),
        ConflictArg::Warn => finalize::first_reports(&cfg.dest, &all, ctx.dry_run)?,
        ConflictArg::Error => all.clone(),
        ConflictArg::Ignore => finalize::first_reports(&cfg.dest, &outdated, ctx.dry_run)?,
    };
    {
        let mut stderr = std::io::stderr().lock();
        for l in skipped_lines(&cfg.dest, &r.applied.skipped) {
            writeln!(stderr, "ppd: {l}")?;
        }
        for l in &shown {
            writeln!(stderr, "ppd: {l}")?;
        }
    }
    if !lines.is_empty() && args.conflicts == ConflictArg::Error && r.waiting.is_empty() {
        status = Status::Findings;
    }
    if let (Some(path), false) = (&args.report, ctx.dry_run) {
        let doc = serde_json::to_vec_pretty(&finalize::report(&cfg, &r.conflicts))?;
        crate::fsx::write_path(path, &[doc, b"\n".to_vec()].concat())
            .with_context(|| format!("writing report {}", crate::fsx::show(path)))?;
    }
    let mut out = std::io::stdout().lock();
    if ctx.dry_run {
        if !r.waiting.is_empty() {
            writeln!(
                out,
                "ppd finalize: {} would be assembled after {} built",
                crate::fsx::show(&cfg.dest),
                super::prepare::waiting_words(&r.waiting)
            )?;
        }
        out.write_all(r.plan_text.as_deref().unwrap_or_default())?;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(out);
    if args.json {
        let mut doc = Doc::new("finalize");
        doc.set("tree", cfg.tree);
        doc.set("dest", json::text(&cfg.dest));
        doc.set("mode", mode_word(cfg.mode));
        doc.set("dry_run", ctx.dry_run);
        doc.stat("packages", cfg.pkgs.len());
        doc.stat("entries", r.planned);
        doc.stat("dirs", r.dirs);
        doc.stats_from(&r.applied.stats);
        doc.stat("conflicts", r.conflicts.len());
        doc.stat("threads", ctx.threads.count());
        doc.stat("seconds", secs);
        doc.conflicts = r
            .conflicts
            .iter()
            .map(|c| json::conflict(&cfg.dest, c))
            .chain(
                r.applied
                    .clashes
                    .iter()
                    .map(|c| json::clash(&cfg.dest, c, &cfg.pkgs[c.provider as usize])),
            )
            .collect();
        doc.print()?;
    }
    if ctx.verbose {
        eprintln!(
            "ppd finalize: {} packages, {} entries, {}, {} overwrites, {} threads, {secs:.3} s{}",
            cfg.pkgs.len(),
            r.planned,
            stats_words(&r.applied.stats),
            r.conflicts.len(),
            ctx.threads.count(),
            if ctx.dry_run { " (dry run)" } else { "" },
        );
    }
    if ctx.verbose && !matches!(cfg.link_mode, LinkMode::Auto) {
        // A dry run's destination may not exist yet: its filesystem is
        // its nearest existing ancestor's.
        let fs = cfg
            .dest
            .ancestors()
            .map(|a| match a.as_os_str().is_empty() {
                true => std::path::Path::new("."),
                false => a,
            })
            .find_map(|a| crate::fsx::DirFd::open(a).ok())
            .map(|d| crate::cow::detect(&d, crate::cow::Probe::No).fs)
            .unwrap_or("unknown");
        eprintln!(
            "ppd: link mode for {}: {} on {fs}: {} cloned, {} fallbacks{}",
            crate::fsx::show(&cfg.dest),
            cfg.link_mode.word(),
            r.applied.stats.cloned,
            r.applied.stats.fallbacks,
            if ctx.dry_run { " (dry run)" } else { "" },
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
        crate::validate::package_name("finalize", p)?;
    }
    let tree = match args.tree {
        TreeArg::Host => "host",
        TreeArg::Target => "target",
    };
    let sources: Vec<_> = args
        .pkgs
        .iter()
        .map(|p| args.per_package_dir.join(p).join(tree))
        .collect();
    crate::validate::dest_outside("finalize", &args.dest, &sources)?;
    if args.mode == MergeModeArg::Hardlink
        && !matches!(
            args.link_mode,
            FinalizeLinkModeArg::Auto | FinalizeLinkModeArg::Hardlink
        )
    {
        bail!("finalize: --mode hardlink places no copies: --link-mode must be auto or hardlink");
    }
    Ok(FinalizeConfig {
        per_package_dir: args.per_package_dir.clone(),
        tree,
        dest: args.dest.clone(),
        mode: match args.mode {
            MergeModeArg::Copy => MergeMode::Copy,
            MergeModeArg::Hardlink => MergeMode::Hardlink,
        },
        link_mode: match args.link_mode {
            FinalizeLinkModeArg::Auto => LinkMode::Auto,
            FinalizeLinkModeArg::Hardlink => LinkMode::Hardlink,
            FinalizeLinkModeArg::Reflink => LinkMode::Reflink,
            FinalizeLinkModeArg::Snapshot => LinkMode::Snapshot,
            FinalizeLinkModeArg::Copy => LinkMode::Copy,
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
