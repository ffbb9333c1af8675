//! `ppd prepare`: arguments to [`crate::prepare::PrepareConfig`], then
//! conflict messages, the dry-run plan and the `-v` stats line.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Result};

use super::report::clash_line;
use super::Context;
use crate::cli::{ConflictArg, PrepareArgs};
use crate::exit::Status;
use crate::prepare::{self, PrepareConfig, TreeJob};

/// Runs `ppd prepare`.
pub fn run(args: &PrepareArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    let cfg = config(args, ctx)?;
    let pool = ctx.threads.pool()?;
    let results = prepare::prepare(&cfg, &pool)?;
    let mut status = Status::Success;
    let mut stderr = std::io::stderr().lock();
    for r in &results {
        for w in &r.warnings {
            writeln!(stderr, "ppd: warning: {w}")?;
        }
        for m in &r.missing {
            writeln!(
                stderr,
                "ppd: warning: skipping missing dependency {m} ({})",
                cfg.per_package_dir.join(m).display()
            )?;
        }
        let clashes = r
            .applied
            .clashes
            .iter()
            .map(|c| clash_line(&r.dest, c, "a dependency"));
        let lines: Vec<String> = r
            .conflicts
            .iter()
            .map(|c| crate::provenance::conflict_line(&r.dest, c))
            .chain(clashes)
            .collect();
        if !lines.is_empty() && args.conflicts != ConflictArg::Ignore {
            for l in &lines {
                writeln!(stderr, "ppd: {l}")?;
            }
            if args.conflicts == ConflictArg::Error {
                status = Status::Findings;
            }
        }
    }
    drop(stderr);
    if ctx.dry_run {
        let mut out = std::io::stdout().lock();
        for r in &results {
            out.write_all(r.plan_text.as_deref().unwrap_or_default())?;
        }
    }
    if ctx.verbose {
        eprintln!("{}", stats_line(&cfg, &results, start, ctx));
    }
    Ok(status)
}

fn config(args: &PrepareArgs, ctx: &Context) -> Result<PrepareConfig> {
    let dir = &args.per_package_dir;
    if dir.as_os_str().is_empty() {
        bail!("--per-package-dir is empty");
    }
    let pkg_dir = args.pkg.as_ref().map(|p| dir.join(p));
    let host = args
        .host_dir
        .clone()
        .or_else(|| pkg_dir.as_ref().map(|d| d.join("host")));
    let target = args
        .target_dir
        .clone()
        .or_else(|| pkg_dir.as_ref().map(|d| d.join("target")));
    let mut trees = Vec::new();
    if let Some(dest) = host {
        trees.push(TreeJob { kind: "host", dest });
    }
    if let Some(dest) = target {
        trees.push(TreeJob {
            kind: "target",
            dest,
        });
    }
    for d in &args.deps {
        if d.is_empty() || d.contains('/') || d == "." || d == ".." {
            bail!("bad dependency name {d:?}: must be one path component");
        }
    }
    let fixup = match (&args.pkg, args.fixup_paths) {
        (Some(pkg), true) => Some(crate::textfix::FixupConfig {
            per_package_dir: dir.clone(),
            new_root: dir.join(pkg),
            symlinks: false,
            dry_run: ctx.dry_run,
        }),
        _ => None,
    };
    Ok(PrepareConfig {
        per_package_dir: dir.clone(),
        trees,
        deps: args.deps.clone(),
        allow_missing: args.allow_missing,
        manifest: !args.no_manifest,
        dry_run: ctx.dry_run,
        fixup,
    })
}

fn stats_line(
    cfg: &PrepareConfig,
    results: &[prepare::TreeResult],
    start: Instant,
    ctx: &Context,
) -> String {
    let mut s = crate::merge::Stats::default();
    let mut removed = 0;
    let mut kept = 0;
    for r in results {
        s.add(&r.applied.stats);
        removed += r.removed;
        kept += r.applied.kept_own.len();
    }
    let rewritten: usize = results
        .iter()
        .filter_map(|r| r.fixup.as_ref())
        .map(|f| f.rewritten.len())
        .sum();
    format!(
        "ppd prepare: {} dependencies, {} linked, {} dirs created, {} symlinks, {} replaced, \
         {} skipped, {} removed, {} kept as own, {} fallbacks, {} paths fixed, {} threads, {:.3} s",
        cfg.deps.len(),
        s.linked,
        s.dirs_created,
        s.symlinks,
        s.replaced,
        s.skipped,
        removed,
        kept,
        s.fallbacks,
        rewritten,
        ctx.threads.count(),
        start.elapsed().as_secs_f64()
    )
}
