//! `ppd prepare`: placeholder until the engine lands.

use super::Context;
use crate::cli::PrepareArgs;
use crate::exit::Status;

/// Runs the command.
pub fn run(_args: &PrepareArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("prepare: not available in this build")
}
