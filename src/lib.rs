//! ppd: per-package directories for make-driven embedded build systems.
//!
//! One binary replaces the shell pipelines a Buildroot-style build runs
//! around every package step: the rsync loop that fills a package's
//! `per-package/<pkg>/{host,target}` trees from its dependencies
//! (`prepare`), the final rsync copy into `output/host` and `output/target`
//! (`finalize`, `copy-tree`), the `grep | file | sed` rewrite of per-package
//! paths (`fixup-paths`), the readelf and patchelf RPATH steps
//! (`check-rpath`, `fix-rpath`), and the find/sort/comm file lists
//! (`file-list`).
//!
//! Every command plans first (pure data, printed by `--dry-run`), then
//! applies the plan with directory-fd-relative syscalls that never follow a
//! symlink inside a tree being written and never write through a hard link.
//! Results and reports are sorted, so they do not depend on the thread count.
//!
//! Exit status: 0 success, 1 findings the command was asked to fail on,
//! 2 usage or I/O error (see [`exit::Status`]).

pub mod binarch;
pub mod cli;
pub mod cmd;
pub mod copytree;
pub mod cow;
pub mod discard;
pub mod elf;
pub mod exit;
pub mod explain;
pub mod filelist;
pub mod finalize;
pub mod fsx;
pub mod jobs;
pub mod limits;
pub mod lock;
pub mod makeflags;
pub mod manifest;
pub mod merge;
pub mod outdated;
pub mod prepare;
pub mod provenance;
pub mod rpath;
pub mod scan;
pub mod textfix;
pub mod unshare;
pub mod validate;
pub mod walk;

/// Runs one parsed command line.
pub fn run(cli: cli::Cli, jobserver: jobs::Jobserver) -> anyhow::Result<exit::Status> {
    cmd::dispatch(cli, jobserver)
}
