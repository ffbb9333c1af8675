//! `ppd unshare`: arguments to [`crate::unshare::UnshareConfig`]; the dry
//! run prints one `copy <path>` line per file, `-v` a stats line, `--json`
//! the document of docs/json.md (the files in `files`, in place of the
//! dry run's lines).

use std::io::Write;
use std::time::Instant;

use anyhow::Result;

use super::json::{self, Doc};
use super::Context;
use crate::cli::UnshareArgs;
use crate::exit::Status;
use crate::unshare::{self, UnshareConfig};

/// Runs `ppd unshare`.
pub fn run(args: &UnshareArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    crate::validate::package_name("unshare", &args.pkg)?;
    let cfg = UnshareConfig {
        per_package_dir: args.per_package_dir.clone(),
        pkg: args.pkg.clone(),
        staging_subdir: args.staging_subdir.clone(),
        list_dir: args.list_dir.clone(),
        remove: args.remove,
        dry_run: ctx.dry_run,
    };
    let report = unshare::unshare(&cfg)?;
    if args.json {
        let mut doc = Doc::new("unshare");
        doc.set("package", cfg.pkg.clone());
        doc.set("per_package_dir", json::text(&cfg.per_package_dir));
        doc.set("list_dir", json::text(&cfg.list_dir));
        doc.set("remove", cfg.remove);
        doc.set("dry_run", ctx.dry_run);
        doc.set(
            "files",
            report
                .copied
                .iter()
                .map(|p| serde_json::Value::from(json::text(p)))
                .collect::<Vec<_>>(),
        );
        doc.stat("examined", report.examined);
        doc.stat("files", report.copied.len());
        doc.stat("dirs_removed", report.dirs_removed);
        doc.stat("bytes", report.bytes);
        doc.stat("seconds", start.elapsed().as_secs_f64());
        doc.print()?;
    } else if ctx.dry_run {
        let mut out = std::io::stdout().lock();
        for p in &report.copied {
            writeln!(
                out,
                "{} {}",
                if cfg.remove { "remove" } else { "copy" },
                crate::fsx::show(p)
            )?;
        }
    }
    if ctx.verbose {
        if cfg.remove {
            eprintln!(
                "ppd unshare: {} own entries of {} examined, {} removed, {} empty directories \
                 removed, {:.3} s",
                report.examined,
                cfg.pkg,
                report.copied.len(),
                report.dirs_removed,
                start.elapsed().as_secs_f64()
            );
        } else {
            eprintln!(
                "ppd unshare: {} own entries of {} examined, {} shared files given a private \
                 inode ({} bytes), {:.3} s",
                report.examined,
                cfg.pkg,
                report.copied.len(),
                report.bytes,
                start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(Status::Success)
}
