//! `ppd fixup-paths`: placeholder until the engine lands.

use super::Context;
use crate::cli::FixupPathsArgs;
use crate::exit::Status;

/// Runs the command.
pub fn run(_args: &FixupPathsArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("fixup-paths: not available in this build")
}
