//! `ppd copy-tree`: placeholder until the engine lands.

use super::Context;
use crate::cli::CopyTreeArgs;
use crate::exit::Status;

/// Runs the command.
pub fn run(_args: &CopyTreeArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("copy-tree: not available in this build")
}
