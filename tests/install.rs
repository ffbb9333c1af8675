//! The documented install (`scripts/install.sh --prefix PREFIX`) run from a
//! fresh clone: it gives a working `ppd` under the prefix, man pages that
//! `man` finds and renders, and a bash completion that loads and completes.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ok, skip_without};

/// Installs from a fresh clone of this checkout into a temporary prefix
/// (with the binary under test: a release build here would take minutes).
fn install(t: &Path) -> std::path::PathBuf {
    let clone = t.join("clone");
    ok(Command::new("git")
        .args(["clone", "-q", env!("CARGO_MANIFEST_DIR")])
        .arg(&clone));
    let prefix = t.join("prefix");
    let out = ok(Command::new("bash")
        .arg(clone.join("scripts/install.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_ppd")));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "installed ppd {} under {}\n",
            env!("CARGO_PKG_VERSION"),
            prefix.display()
        )
    );
    prefix
}

#[test]
fn install_gives_ppd_its_man_pages_and_completions() {
    if skip_without(&["git", "man", "nroff"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let prefix = install(t.path());
    let ppd = prefix.join("bin/ppd");
    let v = ok(Command::new(&ppd).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&v.stdout),
        format!("ppd {}\n", env!("CARGO_PKG_VERSION"))
    );
    for f in [
        "share/man/man1/ppd.1",
        "share/man/man1/ppd-prepare.1",
        "share/man/man1/ppd-explain.1",
        "share/bash-completion/completions/ppd",
        "share/zsh/site-functions/_ppd",
        "share/fish/vendor_completions.d/ppd.fish",
        "share/ppd/mk/ppd.mk",
        "share/ppd/mk/buildroot.mk",
    ] {
        assert!(prefix.join(f).is_file(), "{f} not installed");
    }

    // man -l renders the page; MANPATH finds it by name.
    let man = |args: &[&str]| {
        let out = ok(Command::new("man")
            .args(args)
            .env("MANPATH", prefix.join("share/man"))
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .env_remove("MANOPT"));
        String::from_utf8(out.stdout).unwrap()
    };
    let page = man(&["-l", prefix.join("share/man/man1/ppd.1").to_str().unwrap()]);
    assert!(
        page.contains("ppd - Per-package directories for make-driven embedded builds"),
        "{page}"
    );
    assert!(page.contains("explain"), "{page}");
    let located = man(&["-w", "ppd"]);
    assert_eq!(
        located.trim(),
        prefix.join("share/man/man1/ppd.1").display().to_string()
    );
    let page = man(&["ppd-explain"]);
    assert!(page.contains("ppd explain"), "{page}");
    assert!(page.contains("--per-package-dir"), "{page}");

    // The bash completion loads, registers for ppd, and completes commands
    // and options.
    let comp = prefix.join("share/bash-completion/completions/ppd");
    let script = format!(
        "source '{}'; complete -p ppd; \
         COMP_WORDS=(ppd ex); COMP_CWORD=1; COMP_LINE='ppd ex'; COMP_POINT=6; _ppd ppd ex ppd; \
         echo \"words: ${{COMPREPLY[*]}}\"; \
         COMP_WORDS=(ppd fix-rpath --tr); COMP_CWORD=2; COMP_LINE='ppd fix-rpath --tr'; COMP_POINT=19; \
         _ppd ppd --tr fix-rpath; echo \"options: ${{COMPREPLY[*]}}\"",
        comp.display()
    );
    let out = ok(Command::new("bash").arg("-c").arg(&script));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().ends_with(" -F _ppd ppd"), "{text}");
    assert_eq!(lines.next().unwrap(), "words: explain", "{text}");
    assert_eq!(lines.next().unwrap(), "options: --tree", "{text}");
}

/// The option names (`-x`, `--long`) that start an option line of a help
/// text or a rendered man page, in order of appearance, without repeats.
fn option_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        for word in line.split([',', ' ', '=', '[', '<']) {
            let is_name = word.len() > 1
                && word.starts_with('-')
                && word
                    .trim_start_matches('-')
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !word.trim_start_matches('-').is_empty();
            if is_name && !names.iter().any(|n| n == word) {
                names.push(word.to_string());
            }
            if !(word.is_empty() || is_name) {
                break;
            }
        }
    }
    names.sort();
    names
}

/// Every command's man page lists exactly the options its `--help` lists,
/// global ones (-v, -j) included, and no `-V` a command does not take; the
/// page names the command and its example.
#[test]
fn man_pages_list_what_help_lists() {
    if skip_without(&["man", "nroff"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    ok(common::ppd()
        .args(["generate", "man", "--dir"])
        .arg(t.path()));
    let help = String::from_utf8(ok(common::ppd().arg("--help")).stdout).unwrap();
    let commands: Vec<String> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 12, "{commands:?}");
    for cmd in &commands {
        let page = t.path().join(format!("ppd-{cmd}.1"));
        let out = ok(Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .env_remove("MANOPT"));
        let man = String::from_utf8(out.stdout).unwrap();
        let help = String::from_utf8(ok(common::ppd().args([cmd, "--help"])).stdout).unwrap();
        let (want, got) = (option_names(&help), option_names(&man));
        assert_eq!(got, want, "ppd-{cmd}.1 vs ppd {cmd} --help:\n{man}");
        // explain and generate refuse -v and -j (they print no statistics
        // and start no threads): neither their help nor their page offers
        // them.
        let takes_globals = !["explain", "generate"].contains(&cmd.as_str());
        for global in ["-v", "--verbose", "-j", "--jobs"] {
            assert_eq!(
                got.iter().any(|n| n == global),
                takes_globals,
                "ppd-{cmd}.1 and {global}"
            );
        }
        assert!(got.iter().any(|n| n == "-h"), "ppd-{cmd}.1 lacks -h");
        assert!(!got.iter().any(|n| n == "-V"), "ppd-{cmd}.1 offers -V");
        // Justified text: compare with runs of blanks folded.
        let folded = man.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            folded.contains(&format!("ppd {cmd}")),
            "ppd-{cmd}.1:\n{man}"
        );
        if help.contains("\nExample") {
            assert!(
                man.contains("Example"),
                "ppd-{cmd}.1 lacks the example:\n{man}"
            );
        }
        if !takes_globals {
            assert!(!man.contains("\nGLOBAL OPTIONS\n"), "ppd-{cmd}.1:\n{man}");
            continue;
        }
        // Under their own heading, as in --help.
        let globals = man
            .split("\nGLOBAL OPTIONS\n")
            .nth(1)
            .unwrap_or_else(|| panic!("ppd-{cmd}.1 has no GLOBAL OPTIONS:\n{man}"));
        // The section ends at the next heading (a line not indented).
        let globals: String = globals
            .lines()
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .map(|l| format!("{l}\n"))
            .collect();
        let names = option_names(&globals);
        assert_eq!(names, ["--jobs", "--verbose", "-j", "-v"], "ppd-{cmd}.1");
    }
}
