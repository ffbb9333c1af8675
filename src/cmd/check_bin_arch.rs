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
    let line = |w: &binarch::WrongArch| {
        format!(
            "ERROR: architecture for \"{}\" is \"{}\", should be \"{}\"",
            crate::fsx::show_bytes(&w.path),
            w.arch,
            cfg.arch_name
        )
    };
    if args.json {
        let mut err = std::io::stderr().lock();
        for w in &report.wrong {
            writeln!(err, "{}", line(w))?;
        }
        let mut doc = Doc::new("check-bin-arch");
        doc.set("package", cfg.pkg.clone());
        doc.set("target_dir", json::text(&cfg.target_dir));
        doc.set("arch", cfg.arch_name.clone());
        doc.stat("examined", report.examined);
        doc.stat("wrong", report.wrong.len());
        doc.stat("seconds", start.elapsed().as_secs_f64());
        doc.findings = report
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
            .collect();
        doc.print()?;
    } else {
        let mut out = std::io::stdout().lock();
        for w in &report.wrong {
            writeln!(out, "{}", line(w))?;
        }
        out.flush()?;
    }
    if ctx.verbose {
        eprintln!(
            "ppd check-bin-arch: {} files of {} examined, {} of another architecture, {:.3} s",
            report.examined,
            cfg.pkg,
            report.wrong.len(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(if report.wrong.is_empty() {
        Status::Success
    } else {
        Status::Findings
    })
}
