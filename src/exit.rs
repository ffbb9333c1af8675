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

/// Renders an error as the one line printed after `ppd: `: the context
/// chain joined by `: ` (`<operation> <path>: <reason>`), with the reason of
/// a system error as its plain description (no "(os error N)" suffix), and
/// any control character left in the text escaped so the line stays one
/// line.
pub fn render(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => io_reason(io),
            None => cause.to_string(),
        };
        // anyhow's `{:#}` repeats nothing, but a context that already
        // quotes its cause would: keep the line short.
        if parts.last().is_some_and(|p| p.ends_with(&text)) {
            continue;
        }
        parts.push(text);
    }
    let line = parts.join(": ");
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The description of a system error without Rust's "(os error N)".
pub fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => crate::fsx::Errno::from_raw(n).reason().into_owned(),
        None => {
            let s = e.to_string();
            match s.rfind(" (os error ") {
                Some(i) if s.ends_with(')') => s[..i].to_owned(),
                _ => s,
            }
        }
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
    fn errors_render_as_one_line_without_os_error_numbers() {
        let io = std::io::Error::from_raw_os_error(28);
        let err = anyhow::Error::from(io).context("writing a/new\nline");
        assert_eq!(
            render(&err),
            "writing a/new\\nline: No space left on device"
        );
        let err = anyhow::anyhow!("x\x1by").context("copy-tree s");
        assert_eq!(render(&err), "copy-tree s: x\\x1by");
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let err = anyhow::Error::from(io).context("writing stdout");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
