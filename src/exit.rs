//! The exit-status contract, in one place.
//!
//! - 0: success;
//! - 1: the command ran and found problems it was asked to fail on
//!   (conflicts under `--conflicts=error`, RPATH findings, overwrites under
//!   `--overwrites=error`);
//! - 2: usage or operational error (bad arguments, I/O failure).
//!
//! A broken pipe on stdout counts as success, like `head` expects.

use std::process::ExitCode;

/// What a command reports back to `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything went as asked.
    Success,
    /// The command completed but found problems it must fail on.
    Findings,
    /// The command could not do its work.
    Error,
}

impl Status {
    /// Returns the numeric exit code of this status.
    pub fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::Findings => 1,
            Status::Error => 2,
        }
    }

    /// Returns the worse of two statuses.
    pub fn max(self, other: Status) -> Status {
        if other.code() > self.code() {
            other
        } else {
            self
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s.code())
    }
}

/// Returns true if and only if the error chain ends in a broken pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(Status::Success.code(), 0);
        assert_eq!(Status::Findings.code(), 1);
        assert_eq!(Status::Error.code(), 2);
        assert_eq!(Status::Success.max(Status::Findings), Status::Findings);
        assert_eq!(Status::Error.max(Status::Findings), Status::Error);
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let err = anyhow::Error::from(io).context("writing stdout");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
