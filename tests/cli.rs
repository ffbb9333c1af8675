//! The shape of the command line: global options under their own heading,
//! options only on the commands where they act, wrapped examples that can
//! be pasted.

mod common;

use common::{ok, ppd, run};

fn help(cmd: &str) -> String {
    String::from_utf8(ok(ppd().args([cmd, "--help"])).stdout).unwrap()
}

#[test]
fn global_options_have_their_own_heading() {
    let h = help("prepare");
    let global = h
        .find("\nGlobal options:\n")
        .expect("no Global options heading");
    let own = h.find("\nOptions:\n").expect("no Options heading");
    assert!(own < global, "{h}");
    let (own_part, global_part) = h.split_at(global);
    for g in ["--verbose", "--jobs"] {
        assert!(global_part.contains(g), "{g}: {h}");
        assert!(!own_part.contains(g), "{g} among the command's own: {h}");
    }
    assert!(own_part.contains("--dry-run"), "{h}");
}

#[test]
fn options_are_refused_where_they_do_nothing() {
    for args in [
        &["check-rpath", "-n", "--host-dir", "/nonexistent", "pkg"][..],
        &[
            "explain",
            "--dry-run",
            "--per-package-dir",
            "/x",
            "/x/a/host/f",
        ],
        &[
            "prepare",
            "--progress",
            "auto",
            "--per-package-dir",
            "/x",
            "--pkg",
            "a",
        ],
        &[
            "fixup-paths",
            "--progress",
            "never",
            "--per-package-dir",
            "/x",
            "--new-root",
            "/y",
            "/z",
        ],
    ] {
        let out = run(ppd().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: unexpected argument '"),
            "{args:?}: {err}"
        );
    }
    // And accepted where they act.
    for cmd in [
        "prepare",
        "finalize",
        "copy-tree",
        "fixup-paths",
        "fix-rpath",
        "file-list",
    ] {
        assert!(help(cmd).contains("-n, --dry-run"), "{cmd}");
    }
    for cmd in ["finalize", "copy-tree"] {
        assert!(help(cmd).contains("--progress <PROGRESS>"), "{cmd}");
    }
}

#[test]
fn every_reporting_command_takes_json() {
    for cmd in [
        "prepare",
        "finalize",
        "copy-tree",
        "fixup-paths",
        "check-rpath",
        "fix-rpath",
        "file-list",
        "explain",
        "check-bin-arch",
        "unshare",
        "outdated",
    ] {
        assert!(help(cmd).contains("      --json"), "{cmd}");
    }
}

#[test]
fn wrapped_examples_continue_with_a_backslash() {
    for cmd in [
        "prepare",
        "finalize",
        "copy-tree",
        "fixup-paths",
        "check-rpath",
        "fix-rpath",
        "file-list",
        "explain",
        "generate",
    ] {
        let h = help(cmd);
        let lines: Vec<&str> = h.lines().collect();
        for w in lines.windows(2) {
            // A command line followed by a more-indented line is one
            // command wrapped: it must end with a backslash.
            let (a, b) = (w[0], w[1]);
            let indent = |l: &str| l.len() - l.trim_start().len();
            if a.trim_start().starts_with("ppd ") && indent(b) > indent(a) && !b.trim().is_empty() {
                assert!(a.ends_with('\\'), "{cmd}: {a:?} then {b:?}");
            }
        }
    }
}

/// copy-tree names its destination as finalize does, `--dest DEST`, and
/// still takes it as the second operand (rsync's order); both or neither
/// is a usage error.
#[test]
fn copy_tree_takes_the_destination_as_option_or_operand() {
    use std::os::unix::fs::MetadataExt;
    // --dest heads the options, as the destination does in finalize's.
    let help = String::from_utf8(ok(ppd().args(["copy-tree", "-h"])).stdout).unwrap();
    let first = help
        .lines()
        .skip_while(|l| *l != "Options:")
        .nth(1)
        .unwrap_or_default();
    assert!(first.trim_start().starts_with("--dest <DEST>"), "{help}");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/conf"), "conf\n").unwrap();
    let by_option = t.path().join("by-option");
    ok(ppd()
        .args(["copy-tree", "--dest"])
        .arg(&by_option)
        .arg(&src));
    let by_operand = t.path().join("by-operand");
    ok(ppd().arg("copy-tree").arg(&src).arg(&by_operand));
    for dest in [&by_option, &by_operand] {
        let f = dest.join("etc/conf");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "conf\n");
        assert_ne!(
            std::fs::metadata(&f).unwrap().ino(),
            std::fs::metadata(src.join("etc/conf")).unwrap().ino()
        );
    }
    let both = run(ppd()
        .args(["copy-tree", "--dest"])
        .arg(t.path().join("x"))
        .arg(&src)
        .arg(t.path().join("y")));
    assert_eq!(both.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
    let neither = run(ppd().arg("copy-tree").arg(&src));
    assert_eq!(neither.status.code(), Some(2));
    assert!(!t.path().join("x").exists() && !t.path().join("y").exists());
}

/// fix-rpath's kind may be `--tree KIND` or Buildroot's operand; when it is
/// missing, the error names `--tree <KIND>`, not clap's rendering of the
/// hidden operand's group (`<--tree <KIND>|KIND>`).
#[test]
fn fix_rpath_without_a_kind_asks_for_tree() {
    let out = run(ppd().args(["fix-rpath", "--host-dir", "/nonexistent"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: the following required arguments were not provided:\n  \
         --tree <KIND>\n\n\
         Usage: ppd fix-rpath --host-dir <DIR> --tree <KIND>\n\n\
         For more information, try '--help'.\n"
    );
    assert!(out.stdout.is_empty());
    // Both forms still work, and not together.
    let out = run(ppd().args(["fix-rpath", "--tree", "host", "host"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: the argument '--tree <KIND>' cannot be used with '[KIND]'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `explain` and `generate` print no statistics and start no threads: -v
/// and -j, global elsewhere, are usage errors there, before or after the
/// command name.
#[test]
fn verbose_and_jobs_are_refused_where_they_do_nothing() {
    let explain = [
        "explain",
        "--per-package-dir",
        "/nonexistent",
        "/nonexistent/a/host/f",
    ];
    let generate = ["generate", "completions", "bash"];
    for (cmd, rest) in [("explain", &explain[1..]), ("generate", &generate[1..])] {
        for (opt, shown) in [
            (&["-v"][..], "--verbose"),
            (&["--verbose"][..], "--verbose"),
            (&["-j", "4"][..], "--jobs <N>"),
            (&["--jobs=1"][..], "--jobs <N>"),
        ] {
            let before: Vec<&str> = opt.iter().chain([&cmd]).chain(rest).copied().collect();
            let after: Vec<&str> = [cmd].iter().chain(opt).chain(rest).copied().collect();
            for args in [before, after] {
                let out = run(ppd().args(&args));
                assert_eq!(out.status.code(), Some(2), "{args:?}");
                assert!(out.stdout.is_empty(), "{args:?}");
                let err = String::from_utf8_lossy(&out.stderr);
                assert_eq!(
                    err.lines().next().unwrap_or(""),
                    format!("error: the argument '{shown}' cannot be used with 'ppd {cmd}'"),
                    "{args:?}: {err}"
                );
            }
        }
        // Without them, the same command runs (explain fails on the path
        // only, with its own error).
        let out = run(ppd().args([cmd]).args(rest));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("cannot be used with"), "{cmd}: {err}");
    }
    // Where they act, both are taken.
    ok(ppd()
        .args(["-v", "-j", "1", "outdated", "--per-package-dir"])
        .arg(tempfile::tempdir().unwrap().path()));
}

/// An environment variable set to the empty string reads as unset, as in
/// Buildroot's scripts (`make VAR=` and the export of an undefined make
/// variable leave empty values): the option keeps its default, or is
/// missing exactly as if the variable were unset.
#[test]
fn empty_environment_variables_read_as_unset() {
    let t = tempfile::tempdir().unwrap();
    let host = t.path().join("host");
    let pp = t.path().join("per-package");
    std::fs::create_dir_all(host.join("bin")).unwrap();
    std::fs::create_dir_all(&pp).unwrap();
    std::fs::write(host.join("bin/tool"), "#!/bin/sh\n").unwrap();
    // Buildroot's fix-rpath: an empty TOOLCHAIN_EXTERNAL_DOWNLOAD_INSTALL_DIR
    // is no toolchain to leave alone (the script's `test ... != ""`).
    let fix = |env: Option<&str>| {
        let mut c = ppd();
        c.env_remove("TOOLCHAIN_EXTERNAL_DOWNLOAD_INSTALL_DIR")
            .env("HOST_DIR", &host)
            .env("PER_PACKAGE_DIR", &pp)
            .args(["fix-rpath", "host"]);
        if let Some(v) = env {
            c.env("TOOLCHAIN_EXTERNAL_DOWNLOAD_INSTALL_DIR", v);
        }
        run(&mut c)
    };
    let (unset, empty) = (fix(None), fix(Some("")));
    assert_eq!(unset.status.code(), Some(0), "{unset:?}");
    assert_eq!(
        (empty.status.code(), &empty.stdout, &empty.stderr),
        (Some(0), &unset.stdout, &unset.stderr)
    );
    // A number with a default: the default.
    let out = ok(ppd()
        .env("PPD_SNAPSHOT_MIN_ENTRIES", "")
        .args(["prepare", "-n", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "a"]));
    assert!(out.stderr.is_empty(), "{out:?}");
    // A required option: missing, with the message of an unset variable.
    let prepare = |env: Option<&str>| {
        let mut c = ppd();
        c.args(["prepare", "--pkg", "a"]);
        if let Some(v) = env {
            c.env("PER_PACKAGE_DIR", v);
        }
        run(&mut c)
    };
    let (unset, empty) = (prepare(None), prepare(Some("")));
    assert_eq!(unset.status.code(), Some(2));
    assert_eq!(
        (empty.status.code(), &empty.stderr),
        (Some(2), &unset.stderr)
    );
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("--per-package-dir <DIR>"),
        "{empty:?}"
    );
}
