//! The `ppd` binary: parse the command line, run it, map the outcome to an
//! exit status. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // The jobserver's pipe descriptors must be claimed before any file is
    // opened, or a descriptor number could be reused and misread as a pipe.
    let jobserver = ppd::jobs::Jobserver::from_env();
    // Wide trees need directory handles; the budget follows the limit.
    ppd::limits::raise_nofile();
    // Before any thread starts (see grow_fd_table).
    ppd::limits::grow_fd_table();
    let cli = ppd::cli::parse();
    // One command, then exit: large values are left to the exit (see discard).
    ppd::discard::one_shot();
    match ppd::run(cli, jobserver) {
        Ok(status) => status.into(),
        Err(err) => {
            if ppd::exit::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ppd: {}", ppd::exit::render(&err));
            ppd::exit::Status::Error.into()
        }
    }
}
