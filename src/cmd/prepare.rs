//! `ppd prepare`: arguments to [`crate::prepare::PrepareConfig`], then
//! conflict messages, the dry-run plan and the `-v` stats line.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};

use super::json::{self, Doc};
use super::report::{clash_line, skipped_lines};
use super::Context;
use crate::cli::{ConflictArg, PrepareArgs, PrepareLinkModeArg};
use crate::cow::LinkMode;
use crate::exit::Status;
use crate::prepare::{self, PrepareConfig, TreeJob};
use crate::validate;

/// Runs `ppd prepare`.
pub fn run(args: &PrepareArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    let cfg = config(args, ctx)?;
    let pools = crate::jobs::Pools::new(&ctx.threads);
    let results = prepare::prepare(&cfg, &pools)?;
    let mut status = Status::Success;
    let mut stderr = std::io::stderr().lock();
    for r in &results {
        for w in &r.warnings {
            writeln!(stderr, "ppd: warning: {w}")?;
        }
        for l in skipped_lines(&r.dest, &r.applied.skipped) {
            writeln!(stderr, "ppd: {l}")?;
        }
        for m in &r.missing {
            writeln!(
                stderr,
                "ppd: warning: skipping missing dependency {m} ({})",
                crate::fsx::show(&cfg.per_package_dir.join(m))
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
        // A dry run that waits for a dependency knows only part of the
        // merge: its conflicts are reported by the run that merges it all.
        if !lines.is_empty() && args.conflicts != ConflictArg::Ignore && r.waiting.is_empty() {
            for l in &lines {
                writeln!(stderr, "ppd: {l}")?;
            }
            if args.conflicts == ConflictArg::Error {
                status = Status::Findings;
            }
        }
    }
    drop(stderr);
    if ctx.dry_run && !args.json {
        let mut out = std::io::stdout().lock();
        for r in &results {
            if !r.waiting.is_empty() {
                writeln!(
                    out,
                    "ppd prepare: {} would be prepared after {} built",
                    crate::fsx::show(&r.dest),
                    waiting_words(&r.waiting)
                )?;
            }
            out.write_all(r.plan_text.as_deref().unwrap_or_default())?;
        }
    }
    if args.json {
        json_doc(&cfg, &results, start, ctx).print()?;
    }
    if ctx.verbose {
        // The stats line first: tools read the first line. The link mode
        // follows where it says something: hard links, where `auto` chose
        // them (ext4, tmpfs...) or they were asked for, are what prepare
        // always did and what the stats line counts, and go unsaid; a
        // tree placed otherwise, or given hard links when clones or a
        // snapshot were asked for, is named.
        eprintln!("{}", stats_line(&cfg, &results, start, ctx));
        for r in &results {
            if let Some(p) = &r.placement {
                let asked_for_links = matches!(cfg.link_mode, LinkMode::Auto | LinkMode::Hardlink);
                if !(asked_for_links && p.mode == LinkMode::Hardlink) {
                    eprintln!("{}", placement_line(r, p, ctx.dry_run));
                }
            }
        }
    }
    Ok(status)
}

fn config(args: &PrepareArgs, ctx: &Context) -> Result<PrepareConfig> {
    let dir = &args.per_package_dir;
    if dir.as_os_str().is_empty() {
        bail!("--per-package-dir is empty");
    }
    if let Some(pkg) = &args.pkg {
        validate::package_name("prepare", pkg)?;
        validate::not_own_dependency("prepare", pkg, &args.deps)?;
    }
    for d in &args.deps {
        validate::package_name("prepare", d)?;
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
    // Every tree of every dependency is read: no destination may be one of
    // them or inside one.
    let sources: Vec<PathBuf> = args
        .deps
        .iter()
        .flat_map(|d| ["host", "target"].map(|k| dir.join(d).join(k)))
        .collect();
    let dests: Vec<&std::path::Path> = trees.iter().map(|t| t.dest.as_path()).collect();
    validate::prepare_dests("prepare", &dests, &sources)?;
    let fixup = match (&args.pkg, args.fixup_paths) {
        (Some(pkg), true) => Some(crate::textfix::FixupConfig {
            per_package_dir: dir.clone(),
            new_root: dir.join(pkg),
            symlinks: false,
            dry_run: ctx.dry_run,
            cache: args.fixup_cache.clone(),
        }),
        _ => None,
    };
    // The option, else the environment (as make's PPD_LINK_MODE sets it
    // for every step), else auto.
    let link_mode = match args.link_mode {
        Some(m) => m,
        None => crate::cli::env_choice("PPD_LINK_MODE")
            .map_err(|e| anyhow::anyhow!("prepare: {e}"))?
            .unwrap_or(PrepareLinkModeArg::Auto),
    };
    Ok(PrepareConfig {
        per_package_dir: dir.clone(),
        trees,
        deps: args.deps.clone(),
        allow_missing: args.allow_missing,
        manifest: !args.no_manifest,
        dry_run: ctx.dry_run,
        fixup,
        link_mode: match link_mode {
            PrepareLinkModeArg::Auto => LinkMode::Auto,
            PrepareLinkModeArg::Hardlink => LinkMode::Hardlink,
            PrepareLinkModeArg::Reflink => LinkMode::Reflink,
            PrepareLinkModeArg::Snapshot => LinkMode::Snapshot,
        },
        snapshot_min_entries: i64::try_from(args.snapshot_min_entries).unwrap_or(i64::MAX),
    })
}

fn json_doc(
    cfg: &PrepareConfig,
    results: &[prepare::TreeResult],
    start: Instant,
    ctx: &Context,
) -> Doc {
    let mut doc = Doc::new("prepare");
    let trees: Vec<String> = results.iter().map(|r| json::text(&r.dest)).collect();
    doc.set("trees", trees);
    doc.set("dependencies", cfg.deps.clone());
    doc.set("dry_run", ctx.dry_run);
    let mut s = crate::merge::Stats::default();
    let (mut removed, mut kept, mut planned) = (0, 0, 0);
    let mut missing = Vec::new();
    for r in results {
        s.add(&r.applied.stats);
        removed += r.removed;
        kept += r.applied.kept_own.len();
        planned += r.planned;
        missing.extend(r.missing.iter().cloned());
        doc.conflicts
            .extend(r.conflicts.iter().map(|c| json::conflict(&r.dest, c)));
        // Clashes name their source by index among the trees merged.
        let merged: Vec<&String> = cfg.deps.iter().filter(|d| !r.missing.contains(d)).collect();
        doc.conflicts.extend(r.applied.clashes.iter().map(|c| {
            let by = merged.get(c.provider as usize).map_or("", |s| s.as_str());
            json::clash(&r.dest, c, by)
        }));
        if let Some(f) = &r.fixup {
            doc.rewrites.extend(json::text_rewrites(f));
        }
    }
    missing.sort();
    missing.dedup();
    doc.set("missing", missing);
    doc.stat("dependencies", cfg.deps.len());
    doc.stat("entries", planned);
    doc.stats_from(&s);
    doc.stat("removed", removed);
    doc.stat("kept_own", kept);
    doc.stat("conflicts", doc.conflicts.len());
    doc.stat("rewritten", doc.rewrites.len());
    doc.stat("threads", ctx.threads.count());
    doc.stat("seconds", start.elapsed().as_secs_f64());
    doc
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
         {} skipped, {} removed, {} kept as own, {} fallbacks, {} paths fixed, {} threads, {:.3} s{}",
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
        start.elapsed().as_secs_f64(),
        if ctx.dry_run { " (dry run)" } else { "" }
    )
}

/// `ppd: link mode for DEST: reflink on xfs: 120 cloned, 0 fallbacks`: how one
/// tree's files were placed, detected once for it.
fn placement_line(r: &prepare::TreeResult, p: &prepare::Placement, dry_run: bool) -> String {
    let s = &r.applied.stats;
    let how = match &p.base {
        Some(dep) => format!(
            "snapshot of {} on {}",
            crate::fsx::show(std::path::Path::new(dep)),
            p.fs
        ),
        None => format!("{} on {}", p.mode.word(), p.fs),
    };
    let counts = match p.mode {
        LinkMode::Hardlink => format!("{} linked, {} fallbacks", s.linked, s.fallbacks),
        _ => format!(
            "{} from the snapshot, {} cloned, {} fallbacks",
            s.from_snapshot, s.cloned, s.fallbacks
        ),
    };
    format!(
        "ppd: link mode for {}: {how}: {counts}{}",
        crate::fsx::show(&r.dest),
        if dry_run { " (dry run)" } else { "" }
    )
}

/// "a is", "a and b are", "a, b and c are": the dependencies a dry run
/// waits for.
pub(super) fn waiting_words(deps: &[String]) -> String {
    match deps {
        [one] => format!("{one} is"),
        [init @ .., last] => format!("{} and {last} are", init.join(", ")),
        [] => String::new(),
    }
}
