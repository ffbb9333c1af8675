//! `ppd copy-tree`: arguments to [`crate::copytree::CopyTreeConfig`], then
//! clash messages, the dry-run plan, the `-v` stats line and `--json` stats.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Result};

use super::json::{self, Doc};
use super::report::{clash_line, skipped_lines, stats_words, with_progress};
use super::Context;
use crate::cli::CopyTreeArgs;
use crate::copytree::{self, CopyTreeConfig, Pattern};
use crate::exit::Status;

/// Runs `ppd copy-tree`.
pub fn run(args: &CopyTreeArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    let dest = args.dest();
    if args.src.as_os_str().is_empty() || dest.as_os_str().is_empty() {
        bail!("SRC and DEST must not be empty");
    }
    crate::validate::dest_outside("copy-tree", dest, std::slice::from_ref(&args.src))?;
    let cfg = CopyTreeConfig {
        src: args.src.clone(),
        dest: dest.to_path_buf(),
        excludes: args.exclude.iter().map(|p| Pattern::new(p)).collect(),
        dry_run: ctx.dry_run,
    };
    let pool = ctx.threads.pool()?;
    let r = with_progress(ctx.progress, "copy-tree", |p| {
        copytree::copy_tree(&cfg, &pool, p)
    })?;
    {
        let mut stderr = std::io::stderr().lock();
        for l in skipped_lines(&cfg.dest, &r.applied.skipped) {
            writeln!(stderr, "ppd: {l}")?;
        }
        for c in &r.applied.clashes {
            writeln!(stderr, "ppd: {}", clash_line(&cfg.dest, c, "the source"))?;
        }
    }
    let mut out = std::io::stdout().lock();
    if ctx.dry_run {
        out.write_all(r.plan_text.as_deref().unwrap_or_default())?;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(out);
    if args.json {
        let mut doc = Doc::new("copy-tree");
        doc.set("src", json::text(&cfg.src));
        doc.set("dest", json::text(&cfg.dest));
        doc.set("dry_run", ctx.dry_run);
        doc.stat("entries", r.planned);
        doc.stat("dirs", r.dirs);
        doc.stat("excluded", r.excluded);
        doc.stats_from(&r.applied.stats);
        doc.stat("threads", ctx.threads.count());
        doc.stat("seconds", secs);
        let label = json::text(&cfg.src);
        doc.conflicts = r
            .applied
            .clashes
            .iter()
            .map(|c| json::clash(&cfg.dest, c, &label))
            .collect();
        doc.print()?;
    }
    if ctx.verbose {
        eprintln!(
            "ppd copy-tree: {} entries, {} excluded, {}, {} threads, {secs:.3} s{}",
            r.planned,
            r.excluded,
            stats_words(&r.applied.stats),
            ctx.threads.count(),
            if ctx.dry_run { " (dry run)" } else { "" },
        );
    }
    Ok(Status::Success)
}
