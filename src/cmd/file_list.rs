//! `ppd file-list`: arguments to [`crate::filelist::FileListConfig`], then
//! the list files, overwrite messages and the `-v` stats line; with
//! `--check-bin-arch`, then `ppd check-bin-arch` on the target list just
//! written (Buildroot's order: the lists first, the check after them), its
//! messages and exit status.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;

use super::json::{self, Doc};
use super::Context;
use crate::binarch::{self, BinArchConfig};
use crate::cli::{ConflictArg, FileListArgs};
use crate::exit::Status;
use crate::filelist::{self, images, FileListConfig};

/// Runs `ppd file-list`.
pub fn run(args: &FileListArgs, ctx: &Context) -> Result<Status> {
    let start = Instant::now();
    if args.snapshot {
        if let (Some(images), Some(out)) = (&args.images_dir, &args.out_dir) {
            crate::validate::dest_not_inside("file-list", out, std::slice::from_ref(images))?;
        }
        if let (Some(images), Some(out)) = (&args.images_dir, &args.out_dir) {
            if !ctx.dry_run {
                images::snapshot(images, out)?;
            }
        }
        return Ok(Status::Success);
    }
    let Some(per_package_dir) = args.per_package_dir.clone() else {
        anyhow::bail!("file-list: --per-package-dir (or PER_PACKAGE_DIR) is required");
    };
    crate::validate::package_name("file-list", &args.pkg)?;
    if let Some(out) = &args.out_dir {
        // Lists written inside a tree they describe would be listed as
        // the package's own files by the next run; the images list inside
        // the images directory, as an image. (One walk up from OUT for
        // all of them.)
        let pkg_dir = per_package_dir.join(&args.pkg);
        let trees: Vec<_> = args
            .images_dir
            .iter()
            .cloned()
            .chain(["host", "target"].iter().map(|t| pkg_dir.join(t)))
            .collect();
        crate::validate::dest_not_inside("file-list", out, &trees)?;
    }
    let cfg = FileListConfig {
        per_package_dir,
        pkg: args.pkg.clone(),
        staging_subdir: args.staging_subdir.clone(),
        // Owners are only printed; --overwrites ignore prints nothing.
        trace_owners: args.overwrites != ConflictArg::Ignore,
    };
    let pkg_dir = cfg.per_package_dir.join(&args.pkg);
    // Under make -n the package's prepare and install were dry runs too:
    // its trees may be missing, or only partly there (Buildroot runs some
    // install lines under -n itself, which creates the target tree alone).
    let built = ["host", "target"]
        .iter()
        .all(|t| std::fs::metadata(pkg_dir.join(t)).is_ok_and(|m| m.is_dir()));
    if ctx.dry_run && !built {
        println!(
            "ppd file-list: {} would be listed after {} is built",
            crate::fsx::show(&pkg_dir),
            args.pkg
        );
        return Ok(Status::Success);
    }
    let pools = crate::jobs::Pools::new(&ctx.threads);
    let report = filelist::file_lists(&cfg, &pools)?;
    // The pool the lists were made on: worker threads only if the trees
    // were worth them.
    let pool = pools.started()?;
    let mut status = Status::Success;
    let mut bin_arch = None;
    {
        let mut err = std::io::stderr().lock();
        for w in &report.warnings {
            writeln!(err, "ppd: warning: {w}")?;
        }
        if args.overwrites != ConflictArg::Ignore {
            for o in &report.overwrites {
                writeln!(err, "ppd: {}", filelist::overwrite_line(&args.pkg, o))?;
            }
            if args.overwrites == ConflictArg::Error && !report.overwrites.is_empty() {
                status = Status::Findings;
            }
        }
    }
    let lists = [
        (".files-list.txt", &report.lists.target),
        (".files-list-staging.txt", &report.lists.staging),
        (".files-list-host.txt", &report.lists.host),
    ];
    match &args.out_dir {
        Some(dir) if !ctx.dry_run => {
            let dir = crate::fsx::DirFd::create_all(dir)?;
            // Each list goes to a temporary renamed over the old one: a
            // symlink planted at a list's name is replaced, never followed.
            // Creating a file costs a journal transaction on ext4: the three
            // are written at once.
            // (If several fail, the first in list order is reported.)
            use rayon::prelude::*;
            let written: Vec<Result<(), crate::fsx::FsError>> = pool.install(|| {
                lists
                    .par_iter()
                    .map(|(name, data)| dir.write_file(name.as_bytes(), data))
                    .collect()
            });
            written.into_iter().collect::<Result<(), _>>()?;
            if let Some(images) = &args.images_dir {
                images::finish(images, dir.path(), &args.pkg)?;
            }
            // Buildroot's check_bin_arch, which runs after the lists are
            // written and reads .files-list.txt: here the bytes just
            // written, without reading them back.
            if let Some(arch) = &args.check_bin_arch {
                let cfg = bin_arch_config(args, &cfg, arch, dir.path());
                let checked = binarch::check_list(&cfg, &report.lists.target, &pools)?;
                super::check_bin_arch::print_errors(&checked, &cfg, args.json)?;
                status = status.max(super::check_bin_arch::status(&checked));
                bin_arch = Some((cfg, checked));
            }
        }
        _ if args.json => {}
        // A dry run names the files it would write and their line counts.
        Some(dir) => {
            let mut out = std::io::stdout().lock();
            for (name, data) in &lists {
                writeln!(
                    out,
                    "write {} ({} lines)",
                    crate::fsx::show(&dir.join(name)),
                    count(data)
                )?;
            }
            // Changes nothing: Buildroot's make -n does not run it either.
            if let Some(arch) = &args.check_bin_arch {
                writeln!(
                    out,
                    "check the architecture ({arch}) of the files of {} in {}",
                    args.pkg,
                    crate::fsx::show(&pkg_dir.join("target"))
                )?;
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&report.lists.target)?;
        }
    }
    if args.json {
        let mut doc = Doc::new("file-list");
        doc.set("package", args.pkg.clone());
        doc.set("per_package_dir", json::text(&cfg.per_package_dir));
        doc.set("dry_run", ctx.dry_run);
        doc.stat("walked", report.lists.walked);
        doc.stat("dirs_read", report.lists.dirs_read);
        doc.stat("dirs_trusted", report.lists.dirs_trusted);
        doc.stat("target", count(&report.lists.target));
        doc.stat("staging", count(&report.lists.staging));
        doc.stat("host", count(&report.lists.host));
        doc.stat("overwrites", report.overwrites.len());
        if let Some((cfg, checked)) = &bin_arch {
            doc.set("arch", cfg.arch_name.clone());
            doc.stat("examined", checked.examined);
            doc.stat("wrong", checked.wrong.len());
            doc.findings = super::check_bin_arch::findings(checked, cfg);
        }
        doc.stat("threads", ctx.threads.count());
        doc.stat("seconds", start.elapsed().as_secs_f64());
        doc.overwrites = report
            .overwrites
            .iter()
            .map(|o| {
                serde_json::json!({
                    "tree": json::text(&o.tree),
                    "path": String::from_utf8_lossy(&o.path),
                    "package": args.pkg,
                    "owner": o.owner,
                    "how": match o.kind {
                        filelist::OverwriteKind::Replaced => "replaced",
                        filelist::OverwriteKind::EditedInPlace
                        | filelist::OverwriteKind::EditedOwnCopy => "edited",
                    },
                })
            })
            .collect();
        doc.print()?;
    }
    if ctx.verbose {
        eprintln!(
            "ppd file-list: {} entries walked, {} directories read, {} taken from the manifests, \
             {} target, {} staging, {} host files of {}, {} overwrites, {:.3} s",
            report.lists.walked,
            report.lists.dirs_read,
            report.lists.dirs_trusted,
            count(&report.lists.target),
            count(&report.lists.staging),
            count(&report.lists.host),
            args.pkg,
            report.overwrites.len(),
            start.elapsed().as_secs_f64()
        );
    }
    if let (true, Some((cfg, checked))) = (ctx.verbose, &bin_arch) {
        eprintln!("{}", super::check_bin_arch::stats_line(checked, cfg, start));
    }
    Ok(status)
}

/// What `ppd check-bin-arch` would be given for the package's
/// .files-list.txt in `out`: its target tree, `-a arch`, the `-i` patterns.
fn bin_arch_config(
    args: &FileListArgs,
    cfg: &FileListConfig,
    arch: &str,
    out: &std::path::Path,
) -> BinArchConfig {
    BinArchConfig {
        pkg: args.pkg.clone(),
        list: out.join(".files-list.txt"),
        target_dir: cfg.per_package_dir.join(&args.pkg).join("target"),
        arch_name: arch.to_string(),
        ignores: args.ignore.clone(),
    }
}

fn count(list: &[u8]) -> usize {
    list.iter().filter(|&&b| b == b'\n').count()
}
