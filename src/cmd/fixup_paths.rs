//! `ppd fixup-paths`: turns the arguments into a [`FixupConfig`], runs
//! [`textfix::fixup_trees`] on the thread budget, and prints the dry-run
//! plan (stdout, sorted), the stats line (`-v`, stderr) or one
//! `ppd: <operation> <path>: <reason>` line per error (exit status 2).

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use super::json::{self, Doc};
use super::Context;
use crate::cli::FixupPathsArgs;
use crate::exit::Status;
use crate::textfix::{self, FixupConfig, RewrittenKind};

/// Runs the command.
pub fn run(args: &FixupPathsArgs, ctx: &Context) -> anyhow::Result<Status> {
    let start = Instant::now();
    let cfg = FixupConfig {
        per_package_dir: args.per_package_dir.clone(),
        new_root: args.new_root.clone(),
        symlinks: args.symlinks,
        dry_run: ctx.dry_run,
        cache: args.cache.clone(),
    };
    let pool = ctx.threads.pool()?;
    let mut trees = args.trees.clone();
    if ctx.dry_run {
        // Under make -n a tree may not be built yet: say so, plan the rest.
        let mut out = std::io::stdout().lock();
        for t in &trees {
            if std::fs::symlink_metadata(t).is_err() {
                writeln!(
                    out,
                    "ppd fixup-paths: {} would be rewritten after it is built",
                    crate::fsx::show(t)
                )?;
            }
        }
        trees.retain(|t| std::fs::symlink_metadata(t).is_ok());
        if trees.is_empty() {
            return Ok(Status::Success);
        }
    }
    let locks = if ctx.dry_run {
        Vec::new()
    } else {
        crate::lock::lock_for_writing(&trees)?
    };
    let report = match textfix::fixup_trees(&cfg, &trees, &pool) {
        Ok(r) => r,
        Err(e) => {
            // Every error on its own line, so none is hidden behind the first.
            for line in e.lines() {
                eprintln!("ppd: {line}");
            }
            return Ok(Status::Error);
        }
    };
    if !ctx.dry_run {
        crate::provenance::record_rewrites(&trees, &report)?;
    }
    crate::lock::done(&locks)?;
    if args.json {
        let mut doc = Doc::new("fixup-paths");
        doc.set("per_package_dir", json::text(&args.per_package_dir));
        doc.set("new_root", json::text(&args.new_root));
        let trees: Vec<String> = args.trees.iter().map(|t| json::text(t)).collect();
        doc.set("trees", trees);
        doc.set("dry_run", ctx.dry_run);
        doc.stat("files_scanned", report.files_scanned);
        doc.stat("files_read", report.files_read);
        doc.stat("symlinks_scanned", report.symlinks_scanned);
        doc.stat("bytes_read", report.bytes_read);
        doc.stat("rewritten", report.rewritten.len());
        doc.stat("threads", ctx.threads.count());
        doc.stat("seconds", start.elapsed().as_secs_f64());
        doc.rewrites = json::text_rewrites(&report);
        doc.print()?;
    } else if ctx.dry_run {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for r in &report.rewritten {
            out.write_all(r.path().as_os_str().as_bytes())?;
            if let Some(t) = &r.new_target {
                out.write_all(b" -> ")?;
                out.write_all(t)?;
            }
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    if ctx.verbose {
        let files = report
            .rewritten
            .iter()
            .filter(|r| r.kind == RewrittenKind::File)
            .count();
        let links = report.rewritten.len() - files;
        let verb = if ctx.dry_run {
            "to rewrite"
        } else {
            "rewritten"
        };
        let links = if args.symlinks {
            format!(
                ", {} symlinks scanned, {links} symlinks {verb}",
                report.symlinks_scanned
            )
        } else {
            String::new()
        };
        eprintln!(
            "ppd fixup-paths: {} files scanned ({} read), {files} {verb}, {} bytes read{links}, {:.3} s",
            report.files_scanned,
            report.files_read,
            report.bytes_read,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Status::Success)
}
