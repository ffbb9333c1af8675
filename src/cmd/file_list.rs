//! `ppd file-list`: placeholder until the engine lands.

use super::Context;
use crate::cli::FileListArgs;
use crate::exit::Status;

/// Runs the command.
pub fn run(_args: &FileListArgs, _ctx: &Context) -> anyhow::Result<Status> {
    anyhow::bail!("file-list: not available in this build")
}
