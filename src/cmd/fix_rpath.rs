//! `ppd fix-rpath host|staging|target`: Buildroot's fix-rpath, in-process.
//! Like the script, it fails only when the tree cannot be worked on at all;
//! files that cannot be rewritten are reported and the status stays 0.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use super::json::{self, Doc};
use super::Context;
use crate::cli::{FixRpathArgs, RpathTreeArg};
use crate::exit::Status;
use crate::fsx;
use crate::rpath::fix::{self, FixConfig, FixKind};

/// Runs the command.
pub fn run(args: &FixRpathArgs, ctx: &Context) -> anyhow::Result<Status> {
    let need = |v: &Option<PathBuf>, kind: &str, flag: &str, var: &str| {
        v.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "fix-rpath {kind}: which {kind} directory? Pass {flag} DIR or set {var}"
            )
        })
    };
    let (kind, root) = match args.kind() {
        RpathTreeArg::Host => (
            FixKind::Host,
            need(&args.host_dir, "host", "--host-dir", "HOST_DIR")?,
        ),
        RpathTreeArg::Staging => (
            FixKind::Staging,
            need(&args.staging_dir, "staging", "--staging-dir", "STAGING_DIR")?,
        ),
        RpathTreeArg::Target => (
            FixKind::Target,
            need(&args.target_dir, "target", "--target-dir", "TARGET_DIR")?,
        ),
    };
    let cfg = FixConfig {
        kind,
        prune: fix::default_prunes(
            kind,
            &root,
            args.staging_dir.as_deref(),
            args.toolchain_dir.as_deref(),
        ),
        root,
        host_dir: args.host_dir.clone(),
        per_package_dir: args.per_package_dir.clone(),
        keep_unused: args.keep_unused,
    };
    let start = Instant::now();
    // Buildroot runs fix-rpath with PARALLEL_JOBS workers; honour it unless
    // -j or PPD_JOBS said otherwise.
    let parallel_jobs = std::env::var("PARALLEL_JOBS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    let pool = match parallel_jobs {
        Some(n) if !ctx.jobs_given => crate::jobs::Threads::fixed(n).pool()?,
        _ => ctx.threads.pool()?,
    };
    if ctx.dry_run && std::fs::symlink_metadata(&cfg.root).is_err() {
        println!(
            "ppd fix-rpath: {} would be fixed after it is built",
            crate::fsx::show(&cfg.root)
        );
        return Ok(Status::Success);
    }
    // Locked before planning: taking the lock may finish a killed run's
    // rewrites. Staging lies inside the host tree: its lock is the host tree's (a
    // lock file is never put inside a tree).
    let lock_tree = match (&cfg.kind, &cfg.host_dir) {
        (FixKind::Staging, Some(host)) if cfg.root.starts_with(host) => host.clone(),
        _ => cfg.root.clone(),
    };
    let locks = if ctx.dry_run {
        Vec::new()
    } else {
        crate::lock::lock_for_writing(std::slice::from_ref(&lock_tree))?
    };
    let (plan, root) = fix::plan(&cfg, &pool)?;
    if ctx.dry_run && !args.json {
        std::io::stdout().write_all(fix::render_plan(&plan, &cfg.root).as_bytes())?;
    }
    // The rewrites' paths are relative to the fixed tree, which is the
    // locked one or (staging) a directory inside it.
    let journal = match locks.first() {
        Some(l) => {
            let sub = cfg
                .root
                .strip_prefix(&lock_tree)
                .unwrap_or(std::path::Path::new(""));
            Some(l.journal(fsx::bytes(sub))?)
        }
        None => None,
    };
    let (done, failures) = fix::apply(&plan, &root, &pool, ctx.dry_run, journal.as_ref());
    if failures.is_empty() {
        // Else the mark stays: the next run finishes what was noted.
        crate::lock::done(&locks)?;
    }
    for f in plan.failures.iter().chain(&failures) {
        eprintln!("ppd: {}", f.line(&cfg.root));
    }
    if args.json {
        let mut doc = Doc::new("fix-rpath");
        doc.set("tree", tree_word(args.kind()));
        doc.set("root", json::text(&cfg.root));
        doc.set("dry_run", ctx.dry_run);
        doc.stat("files", plan.files);
        doc.stat("elf_files", plan.elf_files);
        doc.stat("rewritten", done);
        doc.stat("failed", plan.failures.len() + failures.len());
        doc.stat("threads", pool.current_num_threads());
        doc.stat("seconds", start.elapsed().as_secs_f64());
        doc.rewrites = plan
            .rewrites
            .iter()
            .map(|rw| {
                let mut m = json::rewrite(&cfg.root, &rw.rel, "rpath");
                let changes: Vec<serde_json::Value> = rw
                    .changes
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "tag": c.tag,
                            "old": String::from_utf8_lossy(&c.old),
                            "new": String::from_utf8_lossy(&c.new),
                        })
                    })
                    .collect();
                m.insert("changes".into(), changes.into());
                let aliases: Vec<String> = rw
                    .aliases
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                m.insert("aliases".into(), aliases.into());
                serde_json::Value::Object(m)
            })
            .collect();
        doc.findings = plan
            .failures
            .iter()
            .chain(&failures)
            .map(|f| {
                let path = json::text(&fsx::join(&cfg.root, &f.rel));
                let severity = if f.io { "error" } else { "warning" };
                json::finding(&path, "rewrite-failed", severity, &f.why)
            })
            .collect();
        doc.print()?;
    }
    if ctx.verbose {
        eprintln!(
            "ppd fix-rpath: {} files, {} ELF, {} {}, {} failed, {} ms",
            plan.files,
            plan.elf_files,
            done,
            if ctx.dry_run {
                "to rewrite"
            } else {
                "rewritten"
            },
            plan.failures.len() + failures.len(),
            start.elapsed().as_millis()
        );
    }
    // A file the filesystem would not let ppd read or write fails the
    // command (its per-package path would stay in the tree); a file that
    // is not a valid ELF file is only named, as Buildroot's script skips it.
    if plan.failures.iter().chain(&failures).any(|f| f.io) {
        return Ok(Status::Error);
    }
    Ok(Status::Success)
}

fn tree_word(k: RpathTreeArg) -> &'static str {
    match k {
        RpathTreeArg::Host => "host",
        RpathTreeArg::Staging => "staging",
        RpathTreeArg::Target => "target",
    }
}
