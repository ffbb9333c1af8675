//! `ppd check-rpath`: the Buildroot-compatible host check (one package
//! name), or with `--audit` the rule-based audit of files and trees.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::json::{self, Doc};
use super::Context;
use crate::cli::{CheckRpathArgs, RpathTreeArg};
use crate::exit::Status;
use crate::rpath::audit::{self, AuditConfig, TreeKind};
use crate::rpath::check::{self, HostCheck};
use crate::rpath::layout::{self, HostLayout, OutputDir};

/// Runs the command.
///
/// The check changes nothing, so a dry run (`-n`, `make -n`) runs it too,
/// but reports without failing: under `make -n` nothing was built, and a
/// tree that does not exist yet is reported as "would be checked after it
/// is built".
pub fn run(args: &CheckRpathArgs, ctx: &Context) -> anyhow::Result<Status> {
    if ctx.dry_run {
        let paths: Vec<PathBuf> = if args.audit {
            args.args.iter().map(PathBuf::from).collect()
        } else {
            args.host_dir.iter().cloned().collect()
        };
        let missing: Vec<&PathBuf> = paths
            .iter()
            .filter(|p| std::fs::symlink_metadata(p).is_err())
            .collect();
        if !missing.is_empty() {
            let mut out = std::io::stdout().lock();
            for p in missing {
                writeln!(
                    out,
                    "ppd check-rpath: {} would be checked after it is built",
                    crate::fsx::show(p)
                )?;
            }
            return Ok(Status::Success);
        }
    }
    let status = if args.audit {
        run_audit(args, ctx)?
    } else {
        run_host(args, ctx)?
    };
    Ok(if ctx.dry_run { Status::Success } else { status })
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
    if args.json {
        let mut doc = Doc::new("check-rpath");
        doc.set("mode", "host");
        doc.set("package", String::from_utf8_lossy(&cfg.pkg).into_owned());
        doc.set("host_dir", json::text(&cfg.host_dir));
        doc.stat("files", report.files);
        doc.stat("executables", report.executables);
        doc.stat("errors", report.offenders.len());
        doc.stat("threads", ctx.threads.count());
        doc.stat("seconds", start.elapsed().as_secs_f64());
        doc.findings = report
            .offenders
            .iter()
            .map(|p| {
                json::finding(
                    &String::from_utf8_lossy(p),
                    "host-rpath",
                    "error",
                    "executable without proper RPATH (needs a library of the host \
                     directory's lib/ and has no RPATH that finds it)",
                )
            })
            .collect();
        doc.print()?;
    } else {
        std::io::stdout().write_all(&report.render(&cfg.pkg))?;
    }
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
    let start = Instant::now();
    let pool = ctx.threads.pool()?;
    let report = match output_dir(args)? {
        // HOST_DIR and PER_PACKAGE_DIR from the environment do not apply:
        // the output directory's own layout says where everything is.
        Some(out) => layout::audit_output(&out, &args.ignore, &pool)?,
        None => audit::audit(&audit_config(args), &pool)?,
    };
    if args.json {
        let mut doc = Doc::new("check-rpath");
        doc.set("mode", "audit");
        doc.set("parts", serde_json::to_value(&report.parts)?);
        doc.stats_from(&report.counts);
        doc.stat("threads", ctx.threads.count());
        doc.stat("seconds", start.elapsed().as_secs_f64());
        for f in &report.results {
            for x in &f.findings {
                let mut v = json::finding(&f.path, x.rule, x.severity.word(), &x.message);
                v["part"] = f.part.clone().into();
                v["tag"] = x.tag.into();
                v["entry"] = x.entry.clone().into();
                doc.findings.push(v);
            }
        }
        doc.print()?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(report.render().as_bytes())?;
        out.flush()?;
    }
    let c = report.counts;
    if ctx.verbose {
        eprintln!(
            "ppd check-rpath --audit: {} files, {} ELF, {} errors, {} warnings, {} infos, {} ms",
            c.files,
            c.elf_files,
            c.errors,
            c.warnings,
            c.infos,
            start.elapsed().as_millis()
        );
    }
    Ok(if c.errors > 0 {
        Status::Findings
    } else {
        Status::Success
    })
}

/// The Buildroot output directory to audit: `--buildroot-output`, or the
/// only path given when it is one and neither `--tree` nor `--root` says
/// otherwise.
fn output_dir(args: &CheckRpathArgs) -> anyhow::Result<Option<OutputDir>> {
    if let Some(d) = &args.buildroot_output {
        return match layout::detect(d) {
            Some(o) => Ok(Some(o)),
            None => anyhow::bail!(
                "auditing {}: not a Buildroot output directory (needs host/, target/ and host/<tuple>/sysroot)",
                crate::fsx::show(d)
            ),
        };
    }
    let explicit = args.tree.is_some() || args.root.is_some();
    match args.args.as_slice() {
        [p] if !explicit => Ok(layout::detect(Path::new(p))),
        _ => Ok(None),
    }
}

fn audit_config(args: &CheckRpathArgs) -> AuditConfig {
    let kind = match args.tree {
        None => TreeKind::System,
        Some(RpathTreeArg::Host) => TreeKind::Host,
        Some(RpathTreeArg::Staging) => TreeKind::Staging,
        Some(RpathTreeArg::Target) => TreeKind::Target,
    };
    // A host tree gets fix-rpath's prunes and the toolchain's target
    // directories, wherever it is audited from.
    let host = match (&args.host_dir, kind) {
        (Some(h), TreeKind::Host) => layout::host_layout(h),
        _ => HostLayout::default(),
    };
    AuditConfig {
        paths: args.args.iter().map(PathBuf::from).collect(),
        root: args.root.clone().unwrap_or_else(|| PathBuf::from("/")),
        kind,
        host_dir: args.host_dir.clone(),
        per_package_dir: args.per_package_dir.clone(),
        build_dirs: args.build_dir.clone(),
        ignore: args.ignore.clone(),
        prune: host.prune,
        arch: None,
        foreign_ok: host.foreign_ok,
    }
}
