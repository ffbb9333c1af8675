//! `ppd fix-rpath`: placeholder until the engine lands.

use super::Context;
use crate::cli::FixRpathArgs;
use crate::exit::Status;

/// Runs the command.
pub fn run(_args: &FixRpathArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("fix-rpath: not available in this build")
}
