//! `ppd check-bin-arch`: arguments to [`crate::binarch::BinArchConfig`], then
//! the script's `ERROR:` lines on stdout (on stderr with `--json`, whose
//! document takes stdout) and its exit status (1 if any file has another
//! architecture).

use std::io::Write;
use std::time::Instant;

use anyhow::Result;

use super::json::{self, Doc};
use super::Context;
use crate::binarch::{self, BinArchConfig};
use crate::cli::CheckBinArchArgs;
use crate::exit::Status;

/// Runs `ppd check-bin-arch`.
pub fn run(args: &CheckBinArchArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    let cfg = BinArchConfig {
        pkg: args.package.clone(),
        list: args.list.clone(),
        target_dir: args.target_dir.clone(),
        arch_name: args.arch.clone(),
        ignores: args.ignore.clone(),
    };
    let pools = crate::jobs::Pools::new(&ctx.threads);
    let report = binarch::check(&cfg, &pools)?;
    print_errors(&report, &cfg, args.json)?;
    if args.json {
        let mut doc = Doc::new("check-bin-arch");
        doc.set("package", cfg.pkg.clone());
        doc.set("target_dir", json::text(&cfg.target_dir));
        doc.set("arch", cfg.arch_name.clone());
        doc.stat("examined", report.examined);
        doc.stat("wrong", report.wrong.len());
        doc.stat("seconds", start.elapsed().as_secs_f64());
        doc.findings = findings(&report, &cfg);
        doc.print()?;
    }
    if ctx.verbose {
        eprintln!("{}", stats_line(&report, &cfg, start));
    }
    Ok(status(&report))
}

/// The script's `ERROR:` lines, in list order: on stdout, or on stderr when
/// a JSON document takes stdout.
pub(super) fn print_errors(
    report: &binarch::BinArchReport,
    cfg: &BinArchConfig,
    json: bool,
) -> std::io::Result<()> {
    let mut text = String::new();
    for w in &report.wrong {
        text.push_str(&binarch::error_line(w, &cfg.arch_name));
        text.push('\n');
    }
    if json {
        std::io::stderr().lock().write_all(text.as_bytes())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }
}

/// The JSON findings (docs/json.md): one `bin-arch` error per file.
pub(super) fn findings(
    report: &binarch::BinArchReport,
    cfg: &BinArchConfig,
) -> Vec<serde_json::Value> {
    report
        .wrong
        .iter()
        .map(|w| {
            json::finding(
                &json::text(&crate::fsx::join(
                    &cfg.target_dir,
                    w.path.strip_prefix(b"/").unwrap_or(&w.path),
                )),
                "bin-arch",
                "error",
                &format!(
                    "architecture is \"{}\", should be \"{}\"",
                    w.arch, cfg.arch_name
                ),
            )
        })
        .collect()
}

/// The `-v` line.
pub(super) fn stats_line(
    report: &binarch::BinArchReport,
    cfg: &BinArchConfig,
    start: Instant,
) -> String {
    format!(
        "ppd check-bin-arch: {} files of {} examined, {} of another architecture, {:.3} s",
        report.examined,
        cfg.pkg,
        report.wrong.len(),
        start.elapsed().as_secs_f64()
    )
}

/// The script's exit status: 1 if any file has another architecture.
pub(super) fn status(report: &binarch::BinArchReport) -> Status {
    if report.wrong.is_empty() {
        Status::Success
    } else {
        Status::Findings
    }
}
