//! `ppd check-rpath`: the Buildroot-compatible host check (one package
//! name), or with `--audit` the rule-based audit of files and trees.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Instant;

use super::Context;
use crate::cli::{CheckRpathArgs, RpathTreeArg};
use crate::exit::Status;
use crate::rpath::audit::{self, AuditConfig, TreeKind};
use crate::rpath::check::{self, HostCheck};

/// Runs the command.
pub fn run(args: &CheckRpathArgs, ctx: &Context) -> anyhow::Result<Status> {
    if args.audit {
        run_audit(args, ctx)
    } else {
        run_host(args, ctx)
    }
}

fn run_host(args: &CheckRpathArgs, ctx: &Context) -> anyhow::Result<Status> {
    let [pkg] = args.args.as_slice() else {
        anyhow::bail!(
            "check-rpath: expected one package name, got {}",
            args.args.len()
        );
    };
    let cfg = HostCheck {
        pkg: pkg.as_bytes().to_vec(),
        host_dir: args
            .host_dir
            .clone()
            .expect("BUG: clap requires --host-dir without --audit"),
        per_package_dir: args.per_package_dir.clone(),
    };
    let start = Instant::now();
    let report = check::check_host(&cfg, &ctx.threads.pool()?)?;
    std::io::stdout().write_all(&report.render(&cfg.pkg))?;
    if ctx.verbose {
        eprintln!(
            "ppd check-rpath: {} files, {} dynamic executables, {} without proper RPATH, {} ms",
            report.files,
            report.executables,
            report.offenders.len(),
            start.elapsed().as_millis()
        );
    }
    Ok(if report.offenders.is_empty() {
        Status::Success
    } else {
        Status::Findings
    })
}

fn run_audit(args: &CheckRpathArgs, ctx: &Context) -> anyhow::Result<Status> {
    let cfg = AuditConfig {
        paths: args.args.iter().map(PathBuf::from).collect(),
        root: args.root.clone().unwrap_or_else(|| PathBuf::from("/")),
        kind: match args.tree {
            None => TreeKind::System,
            Some(RpathTreeArg::Host) => TreeKind::Host,
            Some(RpathTreeArg::Staging) => TreeKind::Staging,
            Some(RpathTreeArg::Target) => TreeKind::Target,
        },
        host_dir: args.host_dir.clone(),
        per_package_dir: args.per_package_dir.clone(),
        build_dirs: args.build_dir.clone(),
        ignore: args.ignore.clone(),
    };
    let start = Instant::now();
    let report = audit::audit(&cfg, &ctx.threads.pool()?)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(report.render().as_bytes())?;
    }
    out.flush()?;
    if ctx.verbose {
        eprintln!(
            "ppd check-rpath --audit: {} files, {} ELF, {} errors, {} warnings, {} infos, {} ms",
            report.files,
            report.elf_files,
            report.errors,
            report.warnings,
            report.infos,
            start.elapsed().as_millis()
        );
    }
    Ok(if report.errors > 0 {
        Status::Findings
    } else {
        Status::Success
    })
}
