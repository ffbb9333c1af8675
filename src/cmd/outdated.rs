//! `ppd outdated`: one line per package to refresh, dependencies first,
//! then the make command that refreshes them all (nothing when every copy
//! is current); `-v` adds each differing copy.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;

use super::Context;
use crate::cli::OutdatedArgs;
use crate::exit::Status;
use crate::outdated;

/// Runs `ppd outdated`.
pub fn run(args: &OutdatedArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    let pool = ctx.threads.pool()?;
    let report = outdated::outdated(&args.per_package_dir, &args.pkgs, &pool)?;
    for w in &report.warnings {
        eprintln!("ppd: warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    for r in &report.refresh {
        let mut why = Vec::new();
        if !r.stale.is_empty() {
            let mut from: Vec<&str> = r.stale.iter().map(|s| s.provider.as_str()).collect();
            from.sort_unstable();
            from.dedup();
            why.push(format!(
                "{} from what {} provide{} now",
                if r.stale.len() == 1 {
                    "1 copy differs".to_string()
                } else {
                    format!("{} copies differ", r.stale.len())
                },
                from.join(", "),
                if from.len() == 1 { "s" } else { "" }
            ));
        }
        if !r.after.is_empty() {
            why.push(format!(
                "copies from {}, refreshed before it",
                r.after.join(", ")
            ));
        }
        writeln!(
            out,
            "{}: {}; refresh: make {}-reconfigure",
            r.pkg,
            why.join("; "),
            r.pkg
        )?;
        if ctx.verbose {
            for s in &r.stale {
                writeln!(
                    out,
                    "  {} {}/{} from {}",
                    s.how.word(),
                    s.tree,
                    String::from_utf8_lossy(&s.path),
                    s.provider
                )?;
            }
        }
    }
    if !report.refresh.is_empty() {
        let goals: Vec<String> = report
            .refresh
            .iter()
            .map(|r| format!("{}-reconfigure", r.pkg))
            .collect();
        writeln!(out, "make {}", goals.join(" "))?;
    }
    if ctx.verbose {
        eprintln!(
            "ppd outdated: {} packages, {} copies compared, {} to refresh, {:.3} s",
            report.packages,
            report.records,
            report.refresh.len(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Status::Success)
}
