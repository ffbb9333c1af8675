//! What GNU make asked for when it ran ppd: `make -n`, `-q` or `-t`.
//!
//! The mk fragments mark ppd's recipe lines with `+` so that make hands
//! them its jobserver; the price is that make runs those lines even under
//! `-n`, `-q` and `-t`, where it runs no other recipe line. ppd therefore
//! reads the mode from `MAKEFLAGS` itself and behaves as make promises:
//!
//! - `-n` (`--just-print`, `--dry-run`, `--recon`): a dry run, as with
//!   `ppd --dry-run`: the operations are printed, nothing changes;
//! - `-q` (`--question`): nothing at all: no output, no change, exit 0
//!   (make's own exit status says whether targets are out of date);
//! - `-t` (`--touch`): nothing either; make touches the targets itself.
//!
//! GNU make puts the single-letter flags together in the first word of
//! `MAKEFLAGS` (`n`, `kn`, `ns -j2 --jobserver-auth=3,4`), or starts it with
//! a space when there are none (` -j2 ...`, ` -- O=out`); other makes write
//! ` -n`. Everything after ` -- ` is variable assignments, never flags.

/// The mode make runs in, as far as ppd is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MakeMode {
    /// Not under make, or a normal make run.
    Normal,
    /// `make -n`: print what would be done, change nothing.
    DryRun,
    /// `make -q`: do nothing, print nothing.
    Question,
    /// `make -t`: do nothing, print nothing (make touches the targets).
    Touch,
}

impl MakeMode {
    /// Reads `MAKEFLAGS` from the environment.
    pub fn from_env() -> MakeMode {
        match std::env::var_os("MAKEFLAGS") {
            Some(f) => MakeMode::parse(&f.to_string_lossy()),
            None => MakeMode::Normal,
        }
    }

    /// Parses a `MAKEFLAGS` value. `-q` wins over `-n` (make asked for
    /// silence), and `-n` over `-t` (make prints what it would touch).
    pub fn parse(flags: &str) -> MakeMode {
        let (mut n, mut q, mut t) = (false, false, false);
        for (i, word) in flags.split_ascii_whitespace().enumerate() {
            if word == "--" {
                break;
            }
            match word {
                "--just-print" | "--dry-run" | "--recon" => n = true,
                "--question" => q = true,
                "--touch" => t = true,
                _ => {}
            }
            // The letters: the first word, with or without one dash.
            if i > 0 || word.starts_with("--") {
                continue;
            }
            let letters = word.strip_prefix('-').unwrap_or(word);
            if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_alphabetic()) {
                continue;
            }
            n |= letters.contains('n');
            q |= letters.contains('q');
            t |= letters.contains('t');
        }
        if q {
            MakeMode::Question
        } else if n {
            MakeMode::DryRun
        } else if t {
            MakeMode::Touch
        } else {
            MakeMode::Normal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_make_forms() {
        assert_eq!(MakeMode::parse(""), MakeMode::Normal);
        assert_eq!(MakeMode::parse("n"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse("kn"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse("nw"), MakeMode::DryRun);
        assert_eq!(
            MakeMode::parse("n -j2 --jobserver-auth=3,4"),
            MakeMode::DryRun
        );
        assert_eq!(MakeMode::parse("n -- O=out"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse(" n"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse("q -l3"), MakeMode::Question);
        assert_eq!(MakeMode::parse("nq -- X=1"), MakeMode::Question);
        assert_eq!(MakeMode::parse("t"), MakeMode::Touch);
        assert_eq!(MakeMode::parse("nt"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse("B"), MakeMode::Normal);
        assert_eq!(MakeMode::parse("ks"), MakeMode::Normal);
    }

    #[test]
    fn other_spellings() {
        assert_eq!(MakeMode::parse(" -n"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse("-q"), MakeMode::Question);
        assert_eq!(MakeMode::parse(" --just-print"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse(" --dry-run"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse(" --recon"), MakeMode::DryRun);
        assert_eq!(MakeMode::parse(" --question"), MakeMode::Question);
        assert_eq!(MakeMode::parse(" --touch"), MakeMode::Touch);
    }

    #[test]
    fn assignments_and_long_options_are_not_letters() {
        // No single-letter flags: make starts MAKEFLAGS with a space.
        assert_eq!(MakeMode::parse(" --no-print-directory"), MakeMode::Normal);
        assert_eq!(MakeMode::parse(" -- O=nqt"), MakeMode::Normal);
        assert_eq!(
            MakeMode::parse(" -j2 --jobserver-auth=3,4"),
            MakeMode::Normal
        );
        assert_eq!(MakeMode::parse(" -I/tmp/nq"), MakeMode::Normal);
        assert_eq!(MakeMode::parse("s -- --touch"), MakeMode::Normal);
        assert_eq!(MakeMode::parse("--no-print-directory"), MakeMode::Normal);
    }
}
