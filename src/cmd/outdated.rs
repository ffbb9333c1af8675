//! `ppd outdated`: one line per package to refresh, dependencies first,
//! then the make command that refreshes them all (nothing when every copy
//! is current); `-v` adds each differing copy; `--json` prints the document
//! of docs/json.md instead (`refresh` and `make`, one finding per copy).

use std::io::Write;
use std::time::Instant;

use anyhow::Result;

use super::json::{self, Doc};
use super::Context;
use crate::cli::OutdatedArgs;
use crate::exit::Status;
use crate::outdated::{self, Freshness, OutdatedReport};

/// Runs `ppd outdated`.
pub fn run(args: &OutdatedArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    let pool = ctx.threads.pool()?;
    for p in &args.pkgs {
        crate::validate::package_name("outdated", p)?;
    }
    let report = outdated::outdated(&args.per_package_dir, &args.pkgs, &pool)?;
    for w in &report.warnings {
        eprintln!("ppd: warning: {w}");
    }
    let goals: Vec<String> = report
        .refresh
        .iter()
        .map(|r| format!("{}-reconfigure", r.pkg))
        .collect();
    if args.json {
        let mut doc = Doc::new("outdated");
        doc.set("per_package_dir", json::text(&args.per_package_dir));
        doc.set(
            "refresh",
            report
                .refresh
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "package": r.pkg,
                        "stale": r.stale.iter().map(|s| serde_json::json!({
                            "tree": s.tree,
                            "path": String::from_utf8_lossy(&s.path),
                            "provider": s.provider,
                            "how": s.how.word(),
                        })).collect::<Vec<_>>(),
                        "after": r.after,
                    })
                })
                .collect::<Vec<_>>(),
        );
        doc.set(
            "make",
            if goals.is_empty() {
                serde_json::Value::Null
            } else {
                format!("make {}", goals.join(" ")).into()
            },
        );
        doc.stat("packages", report.packages);
        doc.stat("records", report.records);
        doc.stat("refresh", report.refresh.len());
        doc.stat(
            "stale",
            report.refresh.iter().map(|r| r.stale.len()).sum::<usize>(),
        );
        doc.stat("threads", ctx.threads.count());
        doc.stat("seconds", start.elapsed().as_secs_f64());
        doc.findings = report
            .refresh
            .iter()
            .flat_map(|r| {
                r.stale.iter().map(|s| {
                    let tree = args.per_package_dir.join(&r.pkg).join(s.tree);
                    let why = match s.how {
                        Freshness::Gone => format!("{} no longer provides it", s.provider),
                        Freshness::New => {
                            format!(
                                "{} provides it now and this tree has nothing there",
                                s.provider
                            )
                        }
                        _ => format!("differs from what {} provides now", s.provider),
                    };
                    json::finding(
                        &json::text(&crate::fsx::join(&tree, &s.path)),
                        "outdated",
                        "warning",
                        &format!("{why}; refresh: make {}-reconfigure", r.pkg),
                    )
                })
            })
            .collect();
        doc.print()?;
    } else {
        human(&report, &goals, ctx.verbose)?;
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

/// The human report: one line per package, each copy with `-v`, then the
/// make command.
fn human(report: &OutdatedReport, goals: &[String], verbose: bool) -> Result<()> {
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
        if verbose {
            for s in &r.stale {
                writeln!(
                    out,
                    "  {} {}/{} from {}",
                    s.how.word(),
                    s.tree,
                    crate::fsx::show_bytes(&s.path),
                    s.provider
                )?;
            }
        }
    }
    if !goals.is_empty() {
        writeln!(out, "make {}", goals.join(" "))?;
    }
    Ok(())
}
