//! `ppd generate`: writes the man pages and shell completions that
//! [`crate::cli`] renders from the command-line definitions, so they never
//! drift from `--help`.

use std::io::Write;

use anyhow::Context as _;

use crate::cli::{self, GenerateArgs, GenerateWhat};
use crate::exit::Status;

/// Runs the command.
pub fn run(args: &GenerateArgs) -> anyhow::Result<Status> {
    let mut out = std::io::stdout().lock();
    match &args.what {
        GenerateWhat::Man { dir: None } => {
            let pages = cli::man_pages()?;
            out.write_all(&pages[0].1)?;
        }
        GenerateWhat::Man { dir: Some(dir) } => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", crate::fsx::show(dir)))?;
            for (name, page) in cli::man_pages()? {
                let path = dir.join(name);
                std::fs::write(&path, page)
                    .with_context(|| format!("writing {}", crate::fsx::show(&path)))?;
            }
        }
        GenerateWhat::Completions { shell } => out.write_all(&cli::completions(*shell))?,
    }
    out.flush()?;
    Ok(Status::Success)
}
