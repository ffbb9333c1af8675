//! `ppd finalize`: placeholder until the engine lands.

use super::Context;
use crate::cli::FinalizeArgs;
use crate::exit::Status;

/// Runs the command.
pub fn run(_args: &FinalizeArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("finalize: not available in this build")
}
