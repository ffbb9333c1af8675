//! Dry runs tell the truth, and ppd honours `make -n`, `-q` and `-t`.
//!
//! `--dry-run` (or `MAKEFLAGS` with `n`) must print exactly the operations
//! the real run then performs on the same destination, and change nothing
//! on disk: every tree is compared down to inode, size, mode and
//! nanosecond mtime before and after. The printed operations are checked
//! against the real run's own `-v` counters, which the dry run predicts.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::{ppd, run, snapshot, Snap};

/// Writes `data` at `root/rel`, creating parents.
fn put(root: &Path, rel: &str, data: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// Three packages: `base` and `lib` with host and target trees (a
/// symlink, a nested directory, a file both provide), `app` depending on them.
fn packages(pp: &Path) {
    put(pp, "base/host/bin/tool", "tool\n");
    put(pp, "base/host/share/base/data", "base data\n");
    put(pp, "base/target/etc/base.conf", "conf\n");
    put(pp, "base/target/usr/lib/common", "from base\n");
    std::os::unix::fs::symlink("tool", pp.join("base/host/bin/tool-alias")).unwrap();
    put(pp, "lib/host/include/lib.h", "int lib;\n");
    put(pp, "lib/target/usr/lib/libx.so.1", "ELF-ish\n");
    put(pp, "lib/target/usr/lib/common", "from lib\n");
    std::os::unix::fs::symlink("libx.so.1", pp.join("lib/target/usr/lib/libx.so")).unwrap();
}

/// Everything below `root`, by path: type, inode, size, mode, mtime, target.
fn state(root: &Path) -> BTreeMap<Vec<u8>, Snap> {
    if root.exists() {
        snapshot(root)
    } else {
        BTreeMap::new()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ppd prepare --per-package-dir PP --pkg app base lib` plus `extra`.
fn prepare(pp: &Path, extra: &[&str], makeflags: Option<&str>) -> Output {
    let mut c = ppd();
    c.arg("prepare")
        .arg("--per-package-dir")
        .arg(pp)
        .args(["--pkg", "app"])
        .args(extra)
        .args(["base", "lib"]);
    if let Some(f) = makeflags {
        c.env("MAKEFLAGS", f);
    }
    run(&mut c)
}

#[test]
fn make_q_and_t_run_nothing_and_print_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pp = tmp.path().join("pp");
    packages(&pp);
    for flags in [
        "q",
        "t",
        "kq -j2 --jobserver-auth=3,4",
        " --question",
        " --touch",
    ] {
        let before = state(tmp.path());
        let out = prepare(&pp, &["-v"], Some(flags));
        assert_eq!(out.status.code(), Some(0), "MAKEFLAGS={flags:?}");
        assert!(out.stdout.is_empty(), "{flags:?}: {}", text(&out.stdout));
        assert!(out.stderr.is_empty(), "{flags:?}: {}", text(&out.stderr));
        assert_eq!(
            before,
            state(tmp.path()),
            "MAKEFLAGS={flags:?} changed the disk"
        );
    }
    // Even a command that would fail does nothing under -q.
    let mut c = ppd();
    c.args(["finalize", "--tree", "target", "--per-package-dir"])
        .arg(&pp)
        .arg("--dest")
        .arg(tmp.path().join("out"))
        .arg("no-such-package")
        .env("MAKEFLAGS", "q");
    let out = run(&mut c);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn make_n_is_a_dry_run_and_assignments_are_not_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let pp = tmp.path().join("pp");
    packages(&pp);
    for flags in [
        "n",
        "kn -j2 --jobserver-auth=3,4",
        "n -- O=x",
        " n",
        " --just-print",
    ] {
        let before = state(tmp.path());
        let out = prepare(&pp, &[], Some(flags));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flags:?}: {}",
            text(&out.stderr)
        );
        let plan = text(&out.stdout);
        assert!(
            plan.contains(&format!(
                "link {} -> {} (base)",
                pp.join("app/host/bin/tool").display(),
                pp.join("base/host/bin/tool").display()
            )),
            "MAKEFLAGS={flags:?}:\n{plan}"
        );
        assert_eq!(
            before,
            state(tmp.path()),
            "MAKEFLAGS={flags:?} changed the disk"
        );
    }
    // Letters in an assignment or a long option are not make's flags.
    for flags in [" -- O=nqt", " --no-print-directory", " -I/tmp/nq"] {
        let out = prepare(&pp, &[], Some(flags));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flags:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{flags:?}: {}", text(&out.stdout));
        assert!(pp.join("app/host/bin/tool").exists(), "{flags:?}");
        std::fs::remove_dir_all(pp.join("app")).unwrap();
    }
}

/// The counters of a `-v` stats line, without the time and the dry-run
/// mark: `[("linked", 3), ...]`.
fn counters(stderr: &[u8]) -> Vec<(String, u64)> {
    let s = text(stderr);
    let line = s
        .lines()
        .find(|l| l.starts_with("ppd ") && l.contains(": "))
        .unwrap_or_else(|| panic!("no stats line in {s}"));
    line.split_once(": ")
        .unwrap()
        .1
        .split(", ")
        .filter_map(|w| {
            let (n, what) = w.split_once(' ')?;
            Some((what.to_owned(), n.parse().ok()?))
        })
        .filter(|(what, _)| what != "threads")
        .collect()
}

fn count_of(c: &[(String, u64)], what: &str) -> u64 {
    c.iter()
        .find(|(w, _)| w == what)
        .unwrap_or_else(|| panic!("no {what} in {c:?}"))
        .1
}

/// Runs `args` as a dry run, then for real, both with -v: the dry run
/// changes nothing under `root`, predicts the real run's counters, and
/// prints one line per counted operation (`dests`: the destination roots,
/// whose own `mkdir` is not counted). Returns the dry run's lines.
fn dry_then_real(root: &Path, args: &[&std::ffi::OsStr], dests: &[&Path]) -> Vec<String> {
    let before = state(root);
    let new_roots = dests.iter().filter(|d| !d.exists()).count() as u64;
    let dry = ok_out(ppd().args(args).args(["-v", "--dry-run"]));
    assert_eq!(before, state(root), "--dry-run {args:?} changed the disk");
    let real = ok_out(ppd().args(args).arg("-v"));
    let (want, got) = (counters(&real.stderr), counters(&dry.stderr));
    assert_eq!(got, want, "dry run {args:?} predicted other counters");
    let lines: Vec<String> = text(&dry.stdout).lines().map(str::to_owned).collect();
    let n = |verb: &str| lines.iter().filter(|l| l.starts_with(verb)).count() as u64;
    let w = |what: &str| count_of(&want, what);
    let replaced = lines
        .iter()
        .filter(|l| l.contains(" replacing a ") && !l.starts_with("mkdir "))
        .count() as u64;
    assert_eq!(replaced, w("replaced"), "{lines:#?}");
    assert_eq!(n("mkdir "), w("dirs created") + new_roots, "{lines:#?}");
    let new_symlinks = lines
        .iter()
        .filter(|l| l.starts_with("symlink ") && !l.contains(" replacing a "))
        .count() as u64;
    assert_eq!(new_symlinks, w("symlinks"), "{lines:#?}");
    if want.iter().any(|(k, _)| k == "removed") {
        assert_eq!(n("remove ") + n("rmdir "), w("removed"), "{lines:#?}");
    }
    if want.iter().any(|(k, _)| k == "copied") {
        assert_eq!(n("copy "), w("copied"), "{lines:#?}");
    }
    assert_eq!(n("link "), w("linked"), "{lines:#?}");
    lines
}

/// Asserts that the dry run printed the line `want`.
fn assert_has(lines: &[String], want: &str) {
    assert!(lines.iter().any(|l| l == want), "no {want:?} in {lines:#?}");
}

/// `prepare --per-package-dir <pp> --pkg app <opts> base lib`.
fn prepare_app<'a>(pp: &'a Path, opts: &[&'a str]) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "prepare".as_ref(),
        "--per-package-dir".as_ref(),
        pp.as_os_str(),
        "--pkg".as_ref(),
        "app".as_ref(),
    ];
    args.extend(opts.iter().map(|o| std::ffi::OsStr::new(*o)));
    args.extend(["base", "lib"].map(std::ffi::OsStr::new));
    args
}

fn ok_out(cmd: &mut std::process::Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// A `.pc` file naming its package's per-package directory, which the
/// path fixup of a dependent rewrites.
fn pc_file(pp: &Path) {
    put(
        pp,
        "lib/host/lib/pkgconfig/x.pc",
        &format!("prefix={}/lib/host/usr\n", pp.display()),
    );
}

#[test]
fn prepare_dry_run_predicts_fresh_partial_and_complete_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let pp = tmp.path().join("pp");
    packages(&pp);
    pc_file(&pp);
    let (host, target) = (pp.join("app/host"), pp.join("app/target"));
    let args = prepare_app(&pp, &["--fixup-paths"]);
    let dests = [host.as_path(), target.as_path()];

    // Fresh: every directory, link and symlink, and the fixup of x.pc.
    let fresh = dry_then_real(tmp.path(), &args, &dests);
    assert_has(&fresh, &format!("mkdir {}", host.display()));
    assert_has(
        &fresh,
        &format!("rewrite {}", host.join("lib/pkgconfig/x.pc").display()),
    );

    // Partial: entries deleted, a dependency's file rebuilt (a new inode),
    // one removed (stale), one added, and a file the package installed.
    std::fs::remove_file(host.join("bin/tool-alias")).unwrap();
    std::fs::remove_dir_all(target.join("etc")).unwrap();
    std::fs::remove_file(pp.join("lib/host/include/lib.h")).unwrap();
    put(&pp, "lib/host/include/lib.h", "int lib2;\n");
    std::fs::remove_file(pp.join("base/target/usr/lib/common")).unwrap();
    std::fs::remove_file(pp.join("lib/target/usr/lib/common")).unwrap();
    put(&pp, "base/host/share/base/new", "new\n");
    put(&pp, "app/host/bin/own", "the package's own\n");
    let partial = dry_then_real(tmp.path(), &args, &dests);
    for want in [
        format!(
            "symlink {} -> tool (base)",
            host.join("bin/tool-alias").display()
        ),
        format!("mkdir {}", target.join("etc").display()),
        format!(
            "link {} -> {} (lib) replacing a file",
            host.join("include/lib.h").display(),
            pp.join("lib/host/include/lib.h").display()
        ),
        format!(
            "remove {} (no longer provided by lib)",
            target.join("usr/lib/common").display()
        ),
    ] {
        assert_has(&partial, &want);
    }
    assert!(
        !partial.iter().any(|l| l.contains("/bin/own")),
        "{partial:#?}"
    );

    // Complete, with the fixup: the rewritten x.pc is the dependency's
    // file again, relinked and rewritten on every run (the real run does).
    let again = dry_then_real(tmp.path(), &args, &dests);
    let pc = host.join("lib/pkgconfig/x.pc");
    assert_eq!(
        again,
        [
            format!("meta {}", host.join("lib/pkgconfig").display()),
            format!(
                "link {} -> {} (lib) replacing a file",
                pc.display(),
                pp.join("lib/host/lib/pkgconfig/x.pc").display()
            ),
            format!("rewrite {}", pc.display()),
        ]
    );

    // Complete, without the fixup: once x.pc is the dependency's again,
    // nothing at all to do.
    let plain: Vec<&std::ffi::OsStr> = args
        .iter()
        .copied()
        .filter(|a| *a != std::ffi::OsStr::new("--fixup-paths"))
        .collect();
    dry_then_real(tmp.path(), &plain, &dests);
    let complete = dry_then_real(tmp.path(), &plain, &dests);
    assert!(complete.is_empty(), "{complete:#?}");
}

#[test]
fn finalize_and_copy_tree_dry_runs_predict_fresh_partial_and_complete_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let pp = tmp.path().join("pp");
    packages(&pp);
    // A hard-link group: copied once, the other name linked to the copy.
    std::fs::hard_link(
        pp.join("lib/target/usr/lib/libx.so.1"),
        pp.join("lib/target/usr/lib/libx-hard"),
    )
    .unwrap();
    let dest = tmp.path().join("out/target");
    let args: Vec<&std::ffi::OsStr> = [
        "finalize".as_ref(),
        "--per-package-dir".as_ref(),
        pp.as_os_str(),
        "--tree".as_ref(),
        "target".as_ref(),
        "--dest".as_ref(),
        dest.as_os_str(),
        "base".as_ref(),
        "lib".as_ref(),
    ]
    .to_vec();
    let fresh = dry_then_real(tmp.path(), &args, &[&dest]);
    assert_has(
        &fresh,
        &format!(
            "link {} -> {} (hard link)",
            dest.join("usr/lib/libx.so.1").display(),
            dest.join("usr/lib/libx-hard").display()
        ),
    );

    // Partial: a file gone, a file whose copy is stale (another mtime),
    // a group's other name gone, a symlink where a directory belongs.
    std::fs::remove_file(dest.join("etc/base.conf")).unwrap();
    common::set_mtime(&dest.join("usr/lib/common"), 1_000_000_000, 5);
    std::fs::remove_file(dest.join("usr/lib/libx.so.1")).unwrap();
    std::fs::remove_dir_all(dest.join("etc")).unwrap();
    std::os::unix::fs::symlink("/", dest.join("etc")).unwrap();
    let partial = dry_then_real(tmp.path(), &args, &[&dest]);
    for want in [
        format!("mkdir {} replacing a symlink", dest.join("etc").display()),
        format!(
            "copy {} -> {} (lib) replacing a file",
            dest.join("usr/lib/common").display(),
            pp.join("lib/target/usr/lib/common").display()
        ),
    ] {
        assert_has(&partial, &want);
    }

    // Complete: nothing to do, and no --report written by a dry run.
    let report = tmp.path().join("report.json");
    let mut with_report = args.clone();
    with_report.extend(["--report".as_ref(), report.as_os_str()]);
    let complete = dry_then_real(tmp.path(), &args, &[&dest]);
    assert!(complete.is_empty(), "{complete:#?}");
    let out = ok_out(ppd().args(&with_report).arg("--dry-run"));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(!report.exists());

    // copy-tree, the same way.
    let copy = tmp.path().join("copy");
    let ct: Vec<&std::ffi::OsStr> = vec!["copy-tree".as_ref(), dest.as_os_str(), copy.as_os_str()];
    let fresh = dry_then_real(tmp.path(), &ct, &[&copy]);
    assert!(!fresh.is_empty());
    std::fs::remove_file(copy.join("usr/lib/libx.so")).unwrap();
    let partial = dry_then_real(tmp.path(), &ct, &[&copy]);
    assert_eq!(partial.len(), 2, "{partial:#?}");
    assert!(dry_then_real(tmp.path(), &ct, &[&copy]).is_empty());
}

#[test]
fn missing_trees_under_a_dry_run_are_reported_not_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let pp = tmp.path().join("pp");
    packages(&pp);
    std::fs::create_dir_all(pp.join("half/target/etc")).unwrap();
    let before = state(tmp.path());
    let out = prepare(&pp, &[], Some("n"));
    assert_eq!(out.status.code(), Some(0));
    let mut c = ppd();
    c.args(["prepare", "--dry-run", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "app", "base", "ghost", "lib", "phantom"]);
    let out = run(&mut c);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "ppd prepare: {0}/app/host would be prepared after ghost and phantom are built\n\
             ppd prepare: {0}/app/target would be prepared after ghost and phantom are built\n",
            pp.display()
        )
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // Without a dry run it is the error it always was.
    c.env("MAKEFLAGS", " -- X=n");
    let mut real = ppd();
    real.args(["prepare", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "app", "base", "ghost"]);
    assert_eq!(run(&mut real).status.code(), Some(2));
    std::fs::remove_dir_all(pp.join("app")).ok();

    let nothing = tmp.path().join("nothing");
    let cases: Vec<(Vec<&std::ffi::OsStr>, String)> = vec![
        (
            vec![
                "finalize".as_ref(),
                "--per-package-dir".as_ref(),
                pp.as_os_str(),
                "--tree".as_ref(),
                "host".as_ref(),
                "--dest".as_ref(),
                nothing.as_os_str(),
                "base".as_ref(),
                "ghost".as_ref(),
            ],
            format!(
                "ppd finalize: {} would be assembled after ghost is built\n",
                nothing.display()
            ),
        ),
        (
            vec![
                "fix-rpath".as_ref(),
                "host".as_ref(),
                "--host-dir".as_ref(),
                nothing.as_os_str(),
            ],
            format!(
                "ppd fix-rpath: {} would be fixed after it is built\n",
                nothing.display()
            ),
        ),
        (
            vec![
                "fixup-paths".as_ref(),
                "--per-package-dir".as_ref(),
                pp.as_os_str(),
                "--new-root".as_ref(),
                tmp.path().as_os_str(),
                nothing.as_os_str(),
            ],
            format!(
                "ppd fixup-paths: {} would be rewritten after it is built\n",
                nothing.display()
            ),
        ),
        (
            vec![
                "file-list".as_ref(),
                "--per-package-dir".as_ref(),
                pp.as_os_str(),
                "--pkg".as_ref(),
                "ghost".as_ref(),
                "--out-dir".as_ref(),
                nothing.as_os_str(),
            ],
            format!(
                "ppd file-list: {} would be listed after ghost is built\n",
                pp.join("ghost").display()
            ),
        ),
        // Only a target tree, as real Buildroot's make -n leaves a package
        // whose install step it runs itself (install -D into the tree).
        (
            vec![
                "file-list".as_ref(),
                "--per-package-dir".as_ref(),
                pp.as_os_str(),
                "--pkg".as_ref(),
                "half".as_ref(),
                "--out-dir".as_ref(),
                nothing.as_os_str(),
            ],
            format!(
                "ppd file-list: {} would be listed after half is built\n",
                pp.join("half").display()
            ),
        ),
        (
            vec![
                "check-rpath".as_ref(),
                "--audit".as_ref(),
                "--root".as_ref(),
                nothing.as_os_str(),
                nothing.as_os_str(),
            ],
            format!(
                "ppd check-rpath: {} would be checked after it is built\n",
                nothing.display()
            ),
        ),
    ];
    for (args, want) in cases {
        let mut c = ppd();
        c.args(&args).env("MAKEFLAGS", "n");
        let out = run(&mut c);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), want, "{args:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    }
    assert_eq!(before, state(tmp.path()));
}

#[test]
fn prepare_dry_run_sees_stale_removal_before_the_merge() {
    // A dependency turns lib64/ into lib64 -> lib: the real run removes the
    // stale file and the emptied directory, then places the symlink.
    let tmp = tempfile::tempdir().unwrap();
    let pp = tmp.path().join("pp");
    packages(&pp);
    put(&pp, "base/host/lib64/libold.so", "old\n");
    let host = pp.join("app/host");
    let args = prepare_app(&pp, &[]);
    let target = pp.join("app/target");
    let dests = [host.as_path(), target.as_path()];
    dry_then_real(tmp.path(), &args, &dests);
    std::fs::remove_dir_all(pp.join("base/host/lib64")).unwrap();
    std::fs::create_dir_all(pp.join("base/host/lib")).unwrap();
    std::os::unix::fs::symlink("lib", pp.join("base/host/lib64")).unwrap();
    let lines = dry_then_real(tmp.path(), &args, &dests);
    assert_eq!(
        lines,
        [
            format!(
                "remove {} (no longer provided by base)",
                host.join("lib64/libold.so").display()
            ),
            format!("rmdir {}", host.join("lib64").display()),
            format!("symlink {} -> lib (base)", host.join("lib64").display()),
            format!("mkdir {}", host.join("lib").display()),
        ]
    );
    assert_eq!(
        std::fs::read_link(host.join("lib64")).unwrap(),
        Path::new("lib")
    );
}

#[test]
fn prepare_dry_run_predicts_copies_across_filesystems() {
    // /dev/shm is another filesystem: hard links are refused (EXDEV), files
    // are copied once per source inode and a re-run keeps the copies.
    let shm = Path::new("/dev/shm");
    let tmp = tempfile::tempdir().unwrap();
    let pp = tmp.path().join("pp");
    packages(&pp);
    std::fs::hard_link(
        pp.join("base/host/bin/tool"),
        pp.join("base/host/bin/tool2"),
    )
    .unwrap();
    let dev = |p: &Path| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::dev(&m));
    if !shm.is_dir() || dev(shm).ok() == dev(tmp.path()).ok() {
        common::skip("/dev/shm is not another filesystem");
        return;
    }
    let other = tempfile::tempdir_in(shm).unwrap();
    let host = other.path().join("host");
    let args: Vec<&std::ffi::OsStr> = [
        "prepare".as_ref(),
        "--per-package-dir".as_ref(),
        pp.as_os_str(),
        "--host-dir".as_ref(),
        host.as_os_str(),
        "base".as_ref(),
        "lib".as_ref(),
    ]
    .to_vec();
    let fresh = dry_then_real(other.path(), &args, &[&host]);
    assert_has(
        &fresh,
        &format!(
            "copy {} -> {} (base)",
            host.join("bin/tool").display(),
            pp.join("base/host/bin/tool").display()
        ),
    );
    assert_has(
        &fresh,
        &format!(
            "link {} -> {} (hard link)",
            host.join("bin/tool2").display(),
            host.join("bin/tool").display()
        ),
    );
    std::fs::remove_file(host.join("bin/tool")).unwrap();
    dry_then_real(other.path(), &args, &[&host]);
    assert!(dry_then_real(other.path(), &args, &[&host]).is_empty());
}
