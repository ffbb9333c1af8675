//! Bad input: every case is refused with one line
//! `ppd: <operation> <path>: <reason>` and exit 2, before anything is
//! written, and the trees involved are left exactly as they were (checked
//! down to inodes and nanosecond mtimes). Also: finalize of no package,
//! file-list's list files written through a temporary, and the uniform
//! error text (no "(os error N)", the user's path, control characters
//! escaped).

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Output;

use common::*;

/// A per-package directory with packages `a` and `b` (host and target).
fn setup(root: &Path) {
    for p in ["a", "b"] {
        for tree in ["host", "target"] {
            let d = root.join("pp").join(p).join(tree).join("lib");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{p}.so")), p).unwrap();
            set_mtime(&d.join(format!("{p}.so")), 1_600_000_000, 123_456_789);
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts exit 2 with exactly `line` (plus newline) on stderr, nothing on stdout.
fn refused(out: &Output, line: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert_eq!(stderr(out), format!("ppd: {line}\n"));
    assert!(out.stdout.is_empty());
}

const NOT_A_NAME: &str =
    "not a package name (a package name is one path component: not empty, no '/', not '.' or '..')";

#[test]
fn package_names_are_one_path_component() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    // A tree outside the per-package directory that `--pkg ../victim`
    // would reach, with a shared file its (planted) lists name.
    let victim = r.join("victim/target/lib");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("v.so"), "v").unwrap();
    std::fs::hard_link(victim.join("v.so"), r.join("victim/v.so")).unwrap();
    let lists = r.join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(
        lists.join(".files-list.txt"),
        "../victim,./lib/v.so\n../../x,./lib/v.so\n",
    )
    .unwrap();
    let before = snapshot(r);
    let pp = r.join("pp");
    // An absolute name inside the temporary directory, so that whatever
    // else runs on the machine, its absence is telling.
    let abs = r.join("abs").display().to_string();
    for bad in ["../../x", "", &abs, "a/b", ".", "..", "../a"] {
        let shown = if bad.is_empty() { "''" } else { bad };
        // As the package being prepared.
        let out = run(ppd().current_dir(r).args([
            "prepare",
            "--per-package-dir",
            "pp",
            "--pkg",
            bad,
            "a",
        ]));
        refused(&out, &format!("prepare {shown}: {NOT_A_NAME}"));
        // As a dependency.
        let out = run(ppd()
            .args(["prepare", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", "me", "a", bad]));
        refused(&out, &format!("prepare {shown}: {NOT_A_NAME}"));
        // As a package to finalize.
        let out = run(ppd()
            .args(["finalize", "--tree", "host", "--per-package-dir"])
            .arg(&pp)
            .arg("--dest")
            .arg(r.join("out"))
            .args(["a", bad]));
        refused(&out, &format!("finalize {shown}: {NOT_A_NAME}"));
        // As the package to list.
        let out = run(ppd()
            .args(["file-list", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", bad, "--out-dir"])
            .arg(r.join("lists")));
        refused(&out, &format!("file-list {shown}: {NOT_A_NAME}"));
        // As the package to unshare (or whose files to remove), and a
        // package to check for outdated copies.
        for remove in [false, true] {
            let out = run(ppd()
                .current_dir(r)
                .args(["unshare", "--per-package-dir", "pp", "--list-dir", "lists"])
                .args(remove.then_some("--remove"))
                .args(["--pkg", bad]));
            refused(&out, &format!("unshare {shown}: {NOT_A_NAME}"));
        }
        let out = run(ppd()
            .current_dir(r)
            .args(["outdated", "--per-package-dir", "pp", "a", bad]));
        refused(&out, &format!("outdated {shown}: {NOT_A_NAME}"));
    }
    // Nothing was written anywhere: not outside the per-package directory
    // (t/x, t/abs, the victim's shared file keeps its inode and links),
    // not inside it, no lock file.
    assert_eq!(snapshot(r), before);
}

#[test]
fn a_package_never_depends_on_itself() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    let before = snapshot(r);
    let out = run(ppd().current_dir(r).args([
        "prepare",
        "--per-package-dir",
        "pp",
        "--pkg",
        "a",
        "b",
        "a",
    ]));
    refused(&out, "prepare a: package a is listed as its own dependency");
    assert_eq!(snapshot(r), before);
}

#[test]
fn a_destination_is_never_a_source_tree_or_inside_one_or_around_one() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    // A symlink does not hide the nesting.
    symlink("pp/a/host", r.join("alias")).unwrap();
    let before = snapshot(r);
    let cases: &[(&[&str], &str)] = &[
        (
            &["prepare", "--per-package-dir", "pp", "--host-dir", "pp/a/host/sub", "a"],
            "prepare pp/a/host/sub: the destination is inside the source tree pp/a/host",
        ),
        (
            &["prepare", "--per-package-dir", "pp", "--host-dir", "alias/x/y", "b", "a"],
            "prepare alias/x/y: the destination is inside the source tree pp/a/host",
        ),
        (
            &["prepare", "--per-package-dir", "pp", "--target-dir", "pp/b/host", "a", "b"],
            "prepare pp/b/host: the destination is the source tree pp/b/host",
        ),
        (
            &["finalize", "--per-package-dir", "pp", "--tree", "host", "--dest", "pp/b/host/usr", "a", "b"],
            "finalize pp/b/host/usr: the destination is inside the source tree pp/b/host",
        ),
        (
            &["finalize", "--per-package-dir", "pp", "--tree", "target", "--dest", "pp/a/target", "a"],
            "finalize pp/a/target: the destination is the source tree pp/a/target",
        ),
        (
            &["copy-tree", "pp/a", "pp/a/host/copy"],
            "copy-tree pp/a/host/copy: the destination is inside the source tree pp/a",
        ),
        (
            &["copy-tree", "pp/a/host", "alias"],
            "copy-tree alias: the destination is the source tree pp/a/host",
        ),
        (
            &["copy-tree", "pp/a/host/", "pp/a/host/../host/lib/new"],
            "copy-tree pp/a/host/../host/lib/new: the destination is inside the source tree pp/a/host/",
        ),
        // A destination holding a source: the merge would write into the
        // trees it reads and walk them as part of the destination.
        (
            &["prepare", "--per-package-dir", "pp", "--host-dir", "pp", "--pkg", "c", "a"],
            "prepare pp: the destination contains the source tree pp/a/host",
        ),
        (
            &["prepare", "--per-package-dir", "pp", "--target-dir", "alias/../..", "--pkg", "c", "b"],
            "prepare alias/../..: the destination contains the source tree pp/b/host",
        ),
        (
            &["finalize", "--per-package-dir", "pp", "--tree", "host", "--dest", "pp", "a", "b"],
            "finalize pp: the destination contains the source tree pp/a/host",
        ),
        (
            &["finalize", "--per-package-dir", "pp", "--tree", "target", "--dest", ".", "a"],
            "finalize .: the destination contains the source tree pp/a/target",
        ),
        (
            &["copy-tree", "pp/a/host", "pp/a"],
            "copy-tree pp/a: the destination contains the source tree pp/a/host",
        ),
        // prepare's second destination, checked with what the first one's
        // checks looked at.
        (
            &["prepare", "--per-package-dir", "pp", "--host-dir", "pp/a/target/lib", "--target-dir", "pp", "b"],
            "prepare pp: the destination contains the source tree pp/b/host",
        ),
        (
            &["prepare", "--per-package-dir", "pp", "--host-dir", "new/h", "--target-dir", "alias/x", "a", "b"],
            "prepare alias/x: the destination is inside the source tree pp/a/host",
        ),
        (
            &["prepare", "--per-package-dir", "pp", "--host-dir", "pp/c/t", "--target-dir", "alias/../../c/t", "a"],
            "prepare alias/../../c/t: the host and target destinations are the same directory",
        ),
        (
            &["prepare", "--per-package-dir", "pp", "--host-dir", "pp/a/target/lib", "--target-dir", "alias/../../a/target/lib", "b"],
            "prepare alias/../../a/target/lib: the host and target destinations are the same directory",
        ),
    ];
    for (args, line) in cases {
        let out = run(ppd().current_dir(r).args(*args));
        refused(&out, line);
        assert_eq!(snapshot(r), before, "{args:?} changed something");
    }
    // Side by side is fine, and a dependency's sibling tree too.
    ok(ppd()
        .current_dir(r)
        .args(["copy-tree", "pp/a/host", "pp/a/host-copy"]));
    ok(ppd().current_dir(r).args([
        "finalize",
        "--per-package-dir",
        "pp",
        "--tree",
        "host",
        "--dest",
        "pp/a/target/usr",
        "b",
    ]));
}

#[test]
fn finalize_of_no_package_creates_the_destination_only() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    let before = snapshot(&r.join("pp"));
    let dest = r.join("output/host");
    let finalize = || {
        let mut c = ppd();
        c.args(["finalize", "--tree", "host", "--per-package-dir"])
            .arg(r.join("pp"))
            .arg("--dest")
            .arg(&dest);
        c
    };
    // The dry run says what it would do and does nothing.
    let out = ok(finalize().arg("--dry-run"));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("mkdir {}\n", dest.display())
    );
    assert!(!r.join("output").exists());

    let out = ok(&mut finalize());
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let snap = snapshot(&dest);
    assert_eq!(snap.len(), 1, "only the directory itself: {snap:?}");
    assert_eq!(snap[&b""[..]].kind, "d");
    assert_eq!(snapshot(&r.join("pp")), before);

    // An existing destination keeps everything it has (mkdir -p).
    std::fs::write(dest.join("keep"), "k").unwrap();
    set_mtime(&dest, 1_500_000_000, 5);
    let held = snapshot(&dest);
    ok(&mut finalize());
    assert_eq!(snapshot(&dest), held);
}

#[test]
fn file_list_of_a_package_without_a_tree_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    let pp = r.join("pp");
    let lists = r.join("lists");
    let list = |pkg: &str| {
        run(ppd()
            .args(["file-list", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", pkg, "--out-dir"])
            .arg(&lists))
    };
    refused(
        &list("mistyped"),
        &format!(
            "file-list {}/mistyped/target: package mistyped has no target tree: \
             No such file or directory",
            pp.display()
        ),
    );
    std::fs::remove_dir_all(pp.join("b/host")).unwrap();
    refused(
        &list("b"),
        &format!(
            "file-list {}/b/host: package b has no host tree: No such file or directory",
            pp.display()
        ),
    );
    assert!(!lists.exists(), "no list written");
    ok(ppd()
        .args(["file-list", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "a", "--out-dir"])
        .arg(&lists));
    assert!(std::fs::read_to_string(lists.join(".files-list.txt"))
        .unwrap()
        .contains("a,./lib/a.so\n"));
}

#[test]
fn file_list_replaces_a_planted_symlink_instead_of_following_it() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    let pp = r.join("pp");
    let lists = r.join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    // Symlinks planted at every list name, pointing outside; and a hard
    // link to another outside file.
    let outside = r.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    for name in [".files-list.txt", ".files-list-staging.txt"] {
        std::fs::write(outside.join(name), "precious\n").unwrap();
        symlink(outside.join(name), lists.join(name)).unwrap();
    }
    std::fs::write(outside.join("linked"), "precious\n").unwrap();
    std::fs::hard_link(outside.join("linked"), lists.join(".files-list-host.txt")).unwrap();
    let content = |snap: std::collections::BTreeMap<Vec<u8>, Snap>| {
        snap.into_iter()
            .map(|(k, s)| (k, s.ino, s.size, s.mtime))
            .collect::<Vec<_>>()
    };
    let before = content(snapshot(&outside));
    ok(ppd()
        .args(["file-list", "--per-package-dir"])
        .arg(&pp)
        .args(["--pkg", "a", "--out-dir"])
        .arg(&lists));
    assert_eq!(
        content(snapshot(&outside)),
        before,
        "nothing outside changed"
    );
    for name in [".files-list.txt", ".files-list-staging.txt", "linked"] {
        assert_eq!(
            std::fs::read_to_string(outside.join(name)).unwrap(),
            "precious\n"
        );
    }
    for name in [
        ".files-list.txt",
        ".files-list-staging.txt",
        ".files-list-host.txt",
    ] {
        let md = std::fs::symlink_metadata(lists.join(name)).unwrap();
        assert!(md.file_type().is_file(), "{name} is a regular file");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(md.nlink(), 1, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(lists.join(".files-list.txt")).unwrap(),
        "a,./lib/a.so\n"
    );
    // No temporary left beside the lists.
    let names: Vec<_> = std::fs::read_dir(&lists)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn errors_are_one_line_naming_the_users_path() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    // A system error's reason, without Rust's "(os error N)".
    let report = r.join("no/such/dir/report.json");
    let out = run(ppd()
        .args(["finalize", "--tree", "host", "--per-package-dir"])
        .arg(r.join("pp"))
        .arg("--dest")
        .arg(r.join("out"))
        .arg("--report")
        .arg(&report)
        .arg("a"));
    refused(
        &out,
        &format!(
            "writing report {}: No such file or directory",
            report.display()
        ),
    );
    // The lock is taken for the destination the user named: the error
    // names it, and only it (not the lock file beside it).
    // (Nothing can be created in /proc, even by root.)
    let out = run(ppd()
        .args(["prepare", "--per-package-dir"])
        .arg(r.join("pp"))
        .args(["--host-dir", "/proc/ppd-test/host", "a"]));
    refused(
        &out,
        "locking /proc/ppd-test/host: No such file or directory",
    );
    // Control characters in a name are shown escaped: still one line.
    let odd = r.join("new\nline\x1b[31m");
    let out = run(ppd().arg("copy-tree").arg(&odd).arg(r.join("out2")));
    refused(
        &out,
        &format!(
            "opening directory {}/new\\nline\\x1b[31m: No such file or directory",
            r.display()
        ),
    );
}

/// Packages `a` and `b` both install `lib/nl\nname` and `lib/bad\xff`
/// (a newline, and a byte that is not UTF-8), with different contents.
fn odd_names(r: &Path) {
    for p in ["a", "b"] {
        let d = r.join("pp").join(p).join("host").join("lib");
        std::fs::create_dir_all(&d).unwrap();
        for name in [&b"nl\nname"[..], b"bad\xff"] {
            std::fs::write(d.join(OsStr::from_bytes(name)), p).unwrap();
        }
        std::fs::create_dir_all(r.join("pp").join(p).join("target")).unwrap();
    }
}

#[test]
fn messages_about_odd_names_stay_one_line_and_name_the_bytes() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    odd_names(r);
    let prepare = |extra: &[&str]| {
        run(ppd()
            .args(["prepare", "--per-package-dir"])
            .arg(r.join("pp"))
            .args(extra)
            .args(["--pkg", "c", "a", "b"]))
    };
    let d = r.join("pp/c/host/lib");
    let d = d.display();
    // The dry run's plan: one line per entry, the odd bytes escaped.
    let out = prepare(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pp = r.join("pp");
    let pp = pp.display();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "mkdir {pp}/c/host\n\
             mkdir {pp}/c/host/lib\n\
             link {d}/bad\\xff -> {pp}/b/host/lib/bad\\xff (b)\n\
             link {d}/nl\\nname -> {pp}/b/host/lib/nl\\nname (b)\n\
             mkdir {pp}/c/target\n"
        )
    );
    let conflicts = format!(
        "ppd: conflict: {d}/bad\\xff is provided differently by a (file), b (file); b wins\n\
         ppd: conflict: {d}/nl\\nname is provided differently by a (file), b (file); b wins\n"
    );
    assert_eq!(stderr(&out), conflicts);
    assert!(!r.join("pp/c").exists(), "a dry run changes nothing");
    let out = prepare(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), conflicts);
    // The tree itself keeps the exact bytes.
    assert_eq!(
        std::fs::read(r.join("pp/c/host/lib").join(OsStr::from_bytes(b"bad\xff"))).unwrap(),
        b"b"
    );
    // An error on such a path names it the same way.
    let src = r.join(OsStr::from_bytes(b"gone\xff\tx"));
    let out = run(ppd().arg("copy-tree").arg(&src).arg(r.join("out")));
    refused(
        &out,
        &format!(
            "opening directory {}/gone\\xff\\tx: No such file or directory",
            r.display()
        ),
    );
}

/// Bytes that are not UTF-8 and control characters in a manifest field, an
/// RPATH entry an audit reports, are shown escaped (`\xff`, `\x1b`), never
/// as U+FFFD or raw; an images list that cannot be written names the
/// list, not its temporary.
#[test]
fn parse_errors_findings_and_list_errors_show_the_users_bytes() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    ok(ppd().current_dir(r).args(PREPARE_ME_FROM_A));
    // The images list cannot replace a directory at its name.
    std::fs::create_dir_all(r.join("images")).unwrap();
    std::fs::create_dir_all(r.join("lists/.files-list-images.txt/x")).unwrap();
    let list = |snapshot: bool| {
        run(ppd()
            .current_dir(r)
            .args(["file-list", "--per-package-dir", "pp", "--pkg", "me"])
            .args(["--out-dir", "lists", "--images-dir", "images"])
            .args(snapshot.then_some("--snapshot")))
    };
    assert_eq!(list(true).status.code(), Some(0));
    refused(
        &list(false),
        "writing lists/.files-list-images.txt: Is a directory",
    );

    // A damaged manifest: an entry type of two odd bytes.
    let m = r.join("pp/me/.host.ppd-manifest");
    let text = std::fs::read(&m).unwrap();
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let n = lines.iter().position(|l| l.starts_with(b"f\t")).unwrap();
    lines[n].splice(0..1, *b"\xff\x1b");
    std::fs::write(&m, lines.join(&b'\n')).unwrap();
    let out = run(ppd()
        .current_dir(r)
        .args(["outdated", "--per-package-dir", "pp", "me"]));
    assert_eq!(
        stderr(&out),
        format!(
            "ppd: warning: damaged manifest pp/me/.host.ppd-manifest \
             (line {}: unknown entry type \"\\xff\\x1b\")\n",
            n + 1
        )
    );

    // An audit finding about an RPATH entry with odd bytes.
    if skip_without(&["gcc"]) {
        return;
    }
    std::fs::write(r.join("p.c"), "int main(void) { return 0; }\n").unwrap();
    ok(std::process::Command::new("gcc")
        .arg("-o")
        .arg(r.join("prog"))
        .arg(r.join("p.c"))
        .arg(OsStr::from_bytes(b"-Wl,-rpath,/nonexistent/\xff\x1b/lib")));
    let out = run(ppd()
        .current_dir(r)
        .args(["check-rpath", "--audit", "prog"]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(
            "\n  warning R09  RUNPATH entry \"/nonexistent/\\xff\\x1b/lib\": \
             directory does not exist in the tree\n"
        ),
        "{text}"
    );
}

/// A manifest's name holding a fifo or a symlink: never waited on or
/// followed, warned about as damaged (as a missing manifest, the run then
/// merges like rsync), and replaced by a real manifest.
#[test]
fn a_manifest_that_is_not_a_regular_file_is_not_read() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    std::fs::write(r.join("secret"), "not a manifest\n").unwrap();
    for planted in ["fifo", "symlink"] {
        ok(ppd().current_dir(r).args(PREPARE_ME_FROM_A));
        let m = r.join("pp/me/.host.ppd-manifest");
        std::fs::remove_file(&m).unwrap();
        match planted {
            "fifo" => ok(std::process::Command::new("mkfifo").arg(&m)),
            _ => {
                symlink(r.join("secret"), &m).unwrap();
                ok(&mut std::process::Command::new("true"))
            }
        };
        let warning = "ppd: warning: damaged manifest pp/me/.host.ppd-manifest \
                       (reading pp/me/.host.ppd-manifest: not a regular file)";
        // Read-only commands: a warning, and no wait (a blocked open of
        // the fifo would never return).
        let out = run(ppd()
            .current_dir(r)
            .args(["outdated", "--per-package-dir", "pp", "me"]));
        assert_eq!(
            (out.status.code(), stderr(&out)),
            (Some(0), format!("{warning}\n")),
            "{planted}"
        );
        let out = run(ppd()
            .current_dir(r)
            .args(["file-list", "--per-package-dir", "pp", "--pkg", "me"])
            .arg("--out-dir")
            .arg(r));
        assert!(
            stderr(&out).starts_with(&format!("{warning}: every file in pp/me/host")),
            "{planted}: {}",
            stderr(&out)
        );
        // prepare replaces it with a manifest; the symlink's target is
        // left alone.
        let out = run(ppd().current_dir(r).args(PREPARE_ME_FROM_A));
        assert_eq!(out.status.code(), Some(0), "{planted}: {}", stderr(&out));
        assert!(stderr(&out).starts_with(warning), "{}", stderr(&out));
        assert!(
            std::fs::symlink_metadata(&m).unwrap().is_file(),
            "{planted}"
        );
        assert_eq!(
            std::fs::read(r.join("secret")).unwrap(),
            b"not a manifest\n"
        );
    }
}

/// A destination whose name is 255 bytes long (NAME_MAX): its lock file
/// beside it gets a shortened name, and the command works as rsync does.
#[test]
fn a_destination_with_a_255_byte_name_works() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    let long = "L".repeat(255);
    let out = run(ppd()
        .current_dir(r)
        .args(["copy-tree", "pp/a/host", "--dest", &long]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(ppd().current_dir(r).args([
        "finalize",
        "--per-package-dir",
        "pp",
        "--tree",
        "host",
        "--dest",
        &long,
        "a",
        "b",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for so in ["a", "b"] {
        assert_eq!(
            std::fs::read(r.join(&long).join(format!("lib/{so}.so"))).unwrap(),
            so.as_bytes()
        );
    }
    // One lock file beside it, its name within NAME_MAX.
    let locks: Vec<String> = std::fs::read_dir(r)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ppd-lock"))
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert!(
        locks[0].len() <= 255 && locks[0].starts_with(".LLL"),
        "{locks:?}"
    );
}

/// Runs ppd with `args`, killed after 60 s: a run that waits for itself
/// fails the test instead of hanging it.
fn ppd_bounded(args: &[&OsStr]) -> Output {
    let c = ppd();
    let prog = c.get_program().to_owned();
    let mut t = std::process::Command::new("timeout");
    t.arg("60").arg(prog).args(args);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    let out = run(&mut t);
    assert_ne!(out.status.code(), Some(124), "ppd {args:?} hung");
    out
}

#[test]
fn one_tree_named_twice_is_never_waited_on_by_its_own_run() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    let pp = r.join("pp");
    let os = |p: &Path| p.as_os_str().to_owned();
    // prepare with the host destination equal to the target destination.
    let same = r.join("same");
    let out = ppd_bounded(&[
        OsStr::new("prepare"),
        OsStr::new("--per-package-dir"),
        &os(&pp),
        OsStr::new("--host-dir"),
        &os(&same),
        OsStr::new("--target-dir"),
        &os(&same),
        OsStr::new("a"),
    ]);
    refused(
        &out,
        &format!(
            "prepare {}: the host and target destinations are the same directory",
            same.display()
        ),
    );
    assert!(!same.exists());
    // fixup-paths given one tree under two names: fixed once.
    let host = pp.join("a/host");
    std::fs::write(
        host.join("lib/a.pc"),
        format!("prefix={}/b/host\n", pp.display()),
    )
    .unwrap();
    let out = ppd_bounded(&[
        OsStr::new("fixup-paths"),
        OsStr::new("--per-package-dir"),
        &os(&pp),
        OsStr::new("--new-root"),
        &os(&pp.join("a")),
        &os(&host),
        &os(&pp.join("a/../a/host")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(host.join("lib/a.pc")).unwrap(),
        format!("prefix={}/a/host\n", pp.display())
    );
}

#[test]
fn a_symlink_planted_at_a_lock_file_is_never_written_through() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    let pp = r.join("pp");
    let victim = r.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::create_dir_all(pp.join("c")).unwrap();
    symlink(&victim, pp.join("c/.host.ppd-lock")).unwrap();
    let prepare_c = || {
        ppd_bounded(&[
            OsStr::new("prepare"),
            OsStr::new("--per-package-dir"),
            pp.as_os_str(),
            OsStr::new("--pkg"),
            OsStr::new("c"),
            OsStr::new("a"),
        ])
    };
    let out = prepare_c();
    let host = pp.join("c/host");
    refused(
        &out,
        &format!(
            "locking {}: its lock file {} is not a regular file",
            host.display(),
            pp.join("c/.host.ppd-lock").display()
        ),
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    // A fifo there is never waited on.
    let fifo = pp.join("c/.target.ppd-lock");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::remove_file(pp.join("c/.host.ppd-lock")).unwrap();
    let out = prepare_c();
    refused(
        &out,
        &format!(
            "locking {}: its lock file {} is not a regular file",
            pp.join("c/target").display(),
            fifo.display()
        ),
    );
    // finalize: the same for the final tree's lock.
    let dest = r.join("out");
    symlink(&victim, r.join(".out.ppd-lock")).unwrap();
    let out = ppd_bounded(&[
        OsStr::new("finalize"),
        OsStr::new("--per-package-dir"),
        pp.as_os_str(),
        OsStr::new("--tree"),
        OsStr::new("target"),
        OsStr::new("--dest"),
        dest.as_os_str(),
        OsStr::new("a"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a regular file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

/// `file-list --out-dir` inside (or equal to) a tree it lists, or the
/// images directory it records: the lists would become entries of the
/// tree, listed as the package's own by the next run. Refused, nothing
/// written.
#[test]
fn file_list_never_writes_its_lists_into_a_listed_tree() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    setup(r);
    std::fs::create_dir(r.join("images")).unwrap();
    let before = snapshot(r);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--out-dir", "pp/a/target"],
            "file-list pp/a/target: the destination is the source tree pp/a/target",
        ),
        (
            &["--out-dir", "pp/a/host/build"],
            "file-list pp/a/host/build: the destination is inside the source tree pp/a/host",
        ),
        (
            &["--images-dir", "images", "--out-dir", "images/x"],
            "file-list images/x: the destination is inside the source tree images",
        ),
        (
            &[
                "--images-dir",
                "images",
                "--out-dir",
                "images",
                "--snapshot",
            ],
            "file-list images: the destination is the source tree images",
        ),
    ];
    for (args, line) in cases {
        let out = run(ppd()
            .current_dir(r)
            .args(["file-list", "--per-package-dir", "pp", "--pkg", "a"])
            .args(*args));
        refused(&out, line);
        assert_eq!(snapshot(r), before, "{args:?} changed something");
    }
    ok(ppd().current_dir(r).args([
        "file-list",
        "--per-package-dir",
        "pp",
        "--pkg",
        "a",
        "--out-dir",
        "pp/a",
    ]));
}

/// A directory planted where ppd keeps a file beside a tree (manifest, its
/// temporary, lock, record of reported conflicts) never fails a run that
/// rsync would finish: an empty one is replaced; one holding anything is
/// never touched, and the run goes on without that file, warning once
/// with one line naming it.
#[test]
fn a_directory_at_a_name_ppd_keeps_beside_a_tree_never_fails_the_run() {
    let t = tempfile::tempdir().unwrap();
    setup(t.path());
    let pp = t.path().join("pp");
    let prepare = || {
        run(ppd()
            .args(["prepare", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", "app", "a", "b"]))
    };
    let manifest = pp.join("app/.host.ppd-manifest");
    std::fs::create_dir_all(manifest.join("mine")).unwrap();
    for _ in 0..2 {
        let out = prepare();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "ppd: warning: {} is a directory, not ppd's manifest: merging like rsync, \
                 without a manifest\n",
                manifest.display()
            )
        );
        assert!(pp.join("app/host/lib/a.so").is_file());
        assert!(pp.join("app/target/lib/b.so").is_file());
        assert!(manifest.join("mine").is_dir());
    }
    // Empty: replaced by the manifest.
    std::fs::remove_dir(manifest.join("mine")).unwrap();
    let out = prepare();
    assert_eq!(stderr(&out), "");
    assert!(manifest.metadata().unwrap().is_file());
    // The manifest's temporary.
    let tmp = pp.join("app/.target.ppd-manifest.new");
    std::fs::create_dir_all(tmp.join("mine")).unwrap();
    let out = prepare();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("ppd: warning: {} is a directory", tmp.display())));
    assert!(tmp.join("mine").is_dir());
    // The lock file: the directory itself is locked.
    let lock = pp.join("app/.host.ppd-lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir_all(lock.join("mine")).unwrap();
    std::fs::remove_file(pp.join("app/host/lib/a.so")).unwrap();
    let out = prepare();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "ppd: warning: {} is a directory, not ppd's lock file",
            lock.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(pp.join("app/host/lib/a.so").is_file());
    assert!(lock.join("mine").is_dir());
    // finalize: its lock, manifest name and record of reported conflicts.
    let out_dir = t.path().join("out");
    for name in [
        ".host.ppd-lock",
        ".host.ppd-reported",
        ".host.ppd-reported.tmp",
    ] {
        std::fs::create_dir_all(out_dir.join(name).join("mine")).unwrap();
    }
    for _ in 0..2 {
        let out = run(ppd()
            .args(["finalize", "--tree", "host", "--per-package-dir"])
            .arg(&pp)
            .arg("--dest")
            .arg(out_dir.join("host"))
            .args(["a", "b"]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(out_dir.join("host/lib/b.so").is_file());
    }
    for name in [
        ".host.ppd-lock",
        ".host.ppd-reported",
        ".host.ppd-reported.tmp",
    ] {
        assert!(out_dir.join(name).join("mine").is_dir(), "{name}");
    }
}
