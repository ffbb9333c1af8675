//! Command handlers: each turns its clap arguments into the engine's own
//! configuration, runs the engine, and prints what the user asked for.
//! Nothing below this module sees a clap type.

use std::io::IsTerminal;

use crate::cli::{Cli, Command, GlobalArgs, ProgressArg};
use crate::exit::Status;
use crate::jobs::{Jobserver, Threads};
use crate::makeflags::MakeMode;

mod check_bin_arch;
mod check_rpath;
mod copy_tree;
mod explain;
mod file_list;
mod finalize;
mod fix_rpath;
mod fixup_paths;
mod generate;
mod json;
mod outdated;
mod prepare;
mod report;
mod unshare;

/// What every command gets besides its own arguments.
pub struct Context {
    /// Print a stats line when done.
    pub verbose: bool,
    /// Print the plan, change nothing (`--dry-run`, or `make -n`).
    pub dry_run: bool,
    /// Draw a progress bar.
    pub progress: bool,
    /// The thread budget (holds jobserver tokens until dropped).
    pub threads: Threads,
    /// True if `-j` or `PPD_JOBS` set the thread count explicitly.
    pub jobs_given: bool,
}

impl Context {
    fn new(g: &GlobalArgs, cmd: &Command, js: &Jobserver, mode: MakeMode) -> Context {
        let tty = std::io::stderr().is_terminal();
        let progress = match cmd.progress() {
            ProgressArg::Never => false,
            ProgressArg::Always => tty,
            ProgressArg::Auto => {
                tty && std::env::var_os("MAKELEVEL").is_none()
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        };
        Context {
            verbose: g.verbose,
            dry_run: cmd.dry_run() || mode == MakeMode::DryRun,
            progress,
            threads: Threads::decide(g.jobs, js),
            jobs_given: g.jobs.is_some() || std::env::var_os("PPD_JOBS").is_some(),
        }
    }
}

/// Runs the command named on the command line. Under `make -q` and
/// `make -t` (see [`crate::makeflags`]) nothing runs: no output, no
/// change, status 0.
pub fn dispatch(cli: Cli, js: Jobserver) -> anyhow::Result<Status> {
    let mode = MakeMode::from_env();
    if matches!(mode, MakeMode::Question | MakeMode::Touch) {
        return Ok(Status::Success);
    }
    let ctx = Context::new(&cli.global, &cli.command, &js, mode);
    match &cli.command {
        Command::Prepare(a) => prepare::run(a, &ctx),
        Command::Finalize(a) => finalize::run(a, &ctx),
        Command::CopyTree(a) => copy_tree::run(a, &ctx),
        Command::FixupPaths(a) => fixup_paths::run(a, &ctx),
        Command::CheckRpath(a) => check_rpath::run(a, &ctx),
        Command::FixRpath(a) => fix_rpath::run(a, &ctx),
        Command::FileList(a) => file_list::run(a, &ctx),
        Command::CheckBinArch(a) => check_bin_arch::run(a, &ctx),
        Command::Unshare(a) => unshare::run(a, &ctx),
        Command::Outdated(a) => outdated::run(a, &ctx),
        Command::Explain(a) => explain::run(a, &ctx),
        Command::Generate(a) => generate::run(a),
    }
}
