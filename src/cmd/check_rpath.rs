//! `ppd check-rpath`: placeholder until the engine lands.

use super::Context;
use crate::cli::CheckRpathArgs;
use crate::exit::Status;

/// Runs the command.
pub fn run(_args: &CheckRpathArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("check-rpath: not available in this build")
}
