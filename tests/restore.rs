//! An output directory copied away and restored at the same path (`cp -a`,
//! tar, `rsync -aH`: every inode number and ctime changes; names, sizes,
//! modes, mtimes, contents and hard links stay), then reconfigured after a
//! dependency's rebuild: no false conflict, exactly the stale entries
//! removed, nothing the package installed taken for a dependency's, and the
//! path fixup's rewritten copies still traced to their installer.

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const T0: i64 = 1_700_000_000;

thread_local! {
    /// The nanoseconds of the mtimes `write` gives (per test thread).
    static NSEC: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    set_mtime(p, T0, NSEC.get());
}

fn replace(p: &Path, data: &str) {
    std::fs::remove_file(p).unwrap();
    write(p, data);
}

/// Runs prepare with the path fixup; returns (stats line, other stderr).
fn prepare(pp: &Path, pkg: &str, deps: &[&str]) -> (String, String) {
    prepare_v(pp, pkg, &["--fixup-paths"], deps)
}

/// zlib (with a `.pc` naming its per-package directory), libpng built on
/// it (the fixup rewrites its copy of zlib.pc), app built on both; app
/// installs a file of its own and replaces one of zlib's.
fn build(out: &Path) {
    let pp = out.join("per-package");
    let z = pp.join("zlib/host");
    write(&z.join("lib/libz.so.1"), "libz\n");
    write(
        &z.join("lib/pkgconfig/zlib.pc"),
        &format!("prefix={}/zlib/host/usr\n", pp.display()),
    );
    write(&z.join("bin/zlib-config"), "zlib-config\n");
    write(&pp.join("zlib/target/usr/lib/libz.so.1"), "libz\n");
    prepare(&pp, "libpng", &["zlib"]);
    write(&pp.join("libpng/host/lib/libpng.so"), "png\n");
    write(&pp.join("libpng/host/share/libpng/gone.txt"), "gone\n");
    write(
        &pp.join("libpng/host/lib/pkgconfig/libpng.pc"),
        &format!("prefix={}/libpng/host/usr\n", pp.display()),
    );
    write(&pp.join("libpng/target/usr/lib/libpng.so"), "png\n");
    let (_, err) = prepare(&pp, "app", &["libpng", "zlib"]);
    assert_eq!(err, "");
    write(&pp.join("app/target/usr/bin/app"), "app\n");
    replace(
        &pp.join("app/host/bin/zlib-config"),
        "app's own zlib-config\n",
    );
}

/// A workspace holding [`build`]'s output in `out/`: (workspace, output
/// directory, per-package directory).
fn built() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    build(&out);
    let pp = out.join("per-package");
    (t, out, pp)
}

fn sh(script: &str) {
    let st = Command::new("sh").arg("-ec").arg(script).status().unwrap();
    assert!(st.success(), "{script}");
}

/// What a restore does with the original tree while it writes the copy
/// back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Old {
    /// Removes it first: the copy may be handed the recorded inode
    /// numbers back, which entry gets which depending on the allocator.
    Removed,
    /// Moves it aside to `out.old` and keeps it: every inode number the
    /// manifests recorded stays taken, so each restored entry has a new one.
    Kept,
}

/// Copies `out` away and back to the same path with `how`: `cp -a`,
/// `cp -a + mv` (the copy moved into place), `tar` (POSIX format,
/// nanosecond mtimes), `tar (whole seconds)` (GNU tar's default format) or
/// `rsync -aH`.
fn restore(out: &Path, how: &str, old: Old) {
    let o = out.display();
    let base = out.parent().unwrap().display();
    let drop = match old {
        Old::Removed => format!("rm -rf {o}"),
        Old::Kept => format!("mv {o} {o}.old"),
    };
    let tar = |format: &str| {
        format!("tar {format}-C {base} -cf {o}.tar out && {drop} && tar -C {base} -xpf {o}.tar && rm {o}.tar")
    };
    sh(&match how {
        "cp -a" => format!("cp -a {o} {o}.bak && {drop} && cp -a {o}.bak {o} && rm -rf {o}.bak"),
        "cp -a + mv" => format!("cp -a {o} {o}.bak && {drop} && mv {o}.bak {o}"),
        "tar" => tar("--format=posix "),
        "tar (whole seconds)" => tar(""),
        "rsync -aH" => format!(
            "rsync -aH {o}/ {o}.bak/ && {drop} && rsync -aH {o}.bak/ {o}/ && rm -rf {o}.bak"
        ),
        _ => unreachable!("{how}"),
    });
}

/// Runs `test` with the restore `how`, after recording a skip if the tool
/// it needs (tar, rsync) is missing.
fn with_tool(how: &str, test: fn(&str)) {
    let tool = how.split(' ').next().unwrap();
    if tool == "cp" || !skip_without(&[tool]) {
        test(how);
    }
}

fn restore_then_reconfigure(how: &str) {
    let (_t, out, pp) = built();
    restore(&out, how, Old::Removed);
    // A reconfigure right after: nothing to do, nothing reported.
    let (stats, err) = prepare(&pp, "app", &["libpng", "zlib"]);
    assert_eq!(err, "", "{how}: {stats}");
    assert_eq!(stat_count(&stats, "removed"), 0, "{how}: {stats}");
    assert_eq!(stat_count(&stats, "kept as own"), 1, "{how}: {stats}");
    // zlib's rebuild changes a file; libpng's drops a directory.
    let z = pp.join("zlib/host");
    replace(&z.join("lib/libz.so.1"), "libz v2, longer\n");
    std::fs::remove_dir_all(pp.join("libpng/host/share/libpng")).unwrap();
    let (stats, err) = prepare(&pp, "app", &["libpng", "zlib"]);
    assert_eq!(err, "", "{how}: {stats}");
    assert_eq!(stat_count(&stats, "kept as own"), 1, "{how}: {stats}");
    // share/libpng/gone.txt and the directory share/libpng.
    assert_eq!(stat_count(&stats, "removed"), 2, "{how}: {stats}");
    let app = pp.join("app/host");
    assert_eq!(
        app.join("lib/libz.so.1").metadata().unwrap().ino(),
        z.join("lib/libz.so.1").metadata().unwrap().ino(),
        "{how}"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("bin/zlib-config")).unwrap(),
        "app's own zlib-config\n",
        "{how}: the package's own file"
    );
    // Exactly a fresh prepare plus what app installed itself.
    prepare(&pp, "fresh", &["libpng", "zlib"]);
    std::fs::remove_file(pp.join("fresh/host/bin/zlib-config")).unwrap();
    write(
        &pp.join("fresh/host/bin/zlib-config"),
        "app's own zlib-config\n",
    );
    write(&pp.join("fresh/target/usr/bin/app"), "app\n");
    let fresh = |p: &Path| {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        text.replace("/fresh/", "/app/")
    };
    let mine = shape(&app);
    let theirs = shape(&pp.join("fresh/host"));
    assert_eq!(
        mine.iter().map(|e| (&e.0, e.1)).collect::<Vec<_>>(),
        theirs.iter().map(|e| (&e.0, e.1)).collect::<Vec<_>>(),
        "{how}"
    );
    for (rel, kind, _, data) in &mine {
        if *kind == "f" {
            let other = fresh(&at(&pp.join("fresh/host"), rel));
            assert_eq!(String::from_utf8_lossy(data), other, "{how}: {rel:?}");
        }
    }
    assert_eq!(
        shape(&pp.join("app/target")),
        shape(&pp.join("fresh/target")),
        "{how}"
    );
    // A package built on app after the restore: its copies of the
    // rewritten .pc files trace back to zlib and libpng, no conflict; the
    // one real conflict is app's own zlib-config.
    let (_, err) = prepare(&pp, "top", &["app", "libpng", "zlib"]);
    assert_eq!(
        err,
        format!(
            "ppd: conflict: {} is provided differently by app (file), libpng (file), zlib (file); zlib wins\n",
            pp.join("top/host/bin/zlib-config").display()
        ),
        "{how}"
    );
    // And a second reconfigure changes nothing.
    let (stats, _) = prepare(&pp, "app", &["libpng", "zlib"]);
    for what in ["removed", "dirs created"] {
        assert_eq!(stat_count(&stats, what), 0, "{how}: {what}: {stats}");
    }
}

#[test]
fn restored_with_cp_a() {
    restore_then_reconfigure("cp -a");
}

#[test]
fn restored_with_tar() {
    with_tool("tar", restore_then_reconfigure);
}

#[test]
fn restored_with_rsync() {
    with_tool("rsync -aH", restore_then_reconfigure);
}

/// Runs file-list for `pkg`; returns (host list, target list, stderr).
fn file_list(pp: &Path, pkg: &str, out_dir: &Path) -> (String, String, String) {
    let out = ok(ppd()
        .arg("file-list")
        .arg("--per-package-dir")
        .arg(pp)
        .args(["--pkg", pkg])
        .arg("--out-dir")
        .arg(out_dir));
    let read = |n: &str| std::fs::read_to_string(out_dir.join(n)).unwrap();
    (
        read(".files-list-host.txt"),
        read(".files-list.txt"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A package's file lists right after a restore (a `<pkg>-rebuild` runs
/// no prepare before its install's file-list): the dependencies' entries,
/// placed or rewritten by the path fixup, are still theirs, and the
/// package's own replacement of one is still reported as replaced.
fn file_list_after(how: &str) {
    let (t, out, pp) = built();
    let before = file_list(&pp, "app", &t.path().join("before"));
    // The original kept: file-list tells a replaced entry from one edited
    // in place by its inode number, which a restore that hands recorded
    // numbers back would make a matter of chance.
    restore(&out, how, Old::Kept);
    let after = file_list(&pp, "app", &t.path().join("after"));
    assert_eq!(after.0, "app,./bin/zlib-config\n", "{how}: host list");
    assert_eq!(after.1, "app,./usr/bin/app\n", "{how}: target list");
    assert_eq!(after.2, before.2, "{how}: reported overwrites");
}

#[test]
fn file_lists_after_cp_a() {
    file_list_after("cp -a");
}

#[test]
fn file_lists_after_tar() {
    with_tool("tar", file_list_after);
}

#[test]
fn file_lists_after_rsync() {
    with_tool("rsync -aH", file_list_after);
}

/// After a restore the recorded inode numbers mean nothing: a package's
/// own replacement of a dependency's file may even be given the number the
/// manifest recorded for that file (ext4 hands freed numbers out again). It
/// is still reported as replaced, not as edited in place: an in-place write
/// keeps the inode shared with the dependency's tree, which every copy
/// keeps. The reuse is made certain by giving the record the number the
/// replacement got, as the filesystem may.
#[test]
fn file_list_after_a_restore_that_hands_the_recorded_inode_back() {
    let (t, out, pp) = built();
    let before = file_list(&pp, "app", &t.path().join("before"));
    assert!(
        before.2.contains("replaced") && before.2.contains("bin/zlib-config"),
        "{}",
        before.2
    );
    restore(&out, "cp -a + mv", Old::Removed);
    let own = pp.join("app/host/bin/zlib-config");
    let ino = own.metadata().unwrap().ino();
    let manifest = pp.join("app/.host.ppd-manifest");
    let text = std::fs::read_to_string(&manifest).unwrap();
    // Records name their entry within the directory record before them.
    let mut hit = 0;
    let text: String = text
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split('\t').map(str::to_owned).collect();
            if f.len() == 9 && f[0] == "f" && f[1] == "zlib" && f[8] == "zlib-config" {
                f[3] = ino.to_string();
                hit += 1;
            }
            f.join("\t") + "\n"
        })
        .collect();
    assert_eq!(hit, 1, "no record of zlib's zlib-config in {manifest:?}");
    std::fs::write(&manifest, text).unwrap();
    let after = file_list(&pp, "app", &t.path().join("after"));
    assert_eq!(after.0, "app,./bin/zlib-config\n", "host list");
    assert_eq!(after.2, before.2, "reported overwrites");
}

/// After a restore (every inode number new, hard links kept) a write
/// through a dependency's hard link is still told from a replacement: the
/// entry still shares its inode with the dependency's tree.
#[test]
fn an_in_place_edit_after_a_restore_is_reported_as_one() {
    let (t, out, pp) = built();
    restore(&out, "cp -a", Old::Kept);
    let lib = pp.join("app/host/lib/libz.so.1");
    let zlib = pp.join("zlib/host/lib/libz.so.1");
    assert_eq!(
        lib.metadata().unwrap().ino(),
        zlib.metadata().unwrap().ino()
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&lib)
        .unwrap()
        .write_all(b"patched\n")
        .unwrap();
    let after = file_list(&pp, "app", &t.path().join("after"));
    assert_eq!(
        after.2,
        format!(
            "ppd: overwrite: app replaced {} installed by zlib\n\
             ppd: overwrite: app edited {} in place; it is zlib's file, shared through a hard \
             link, so zlib's own tree changed too\n",
            pp.join("app/host/bin/zlib-config").display(),
            lib.display()
        )
    );
}

/// GNU tar's default format keeps whole seconds of mtimes only: after such
/// a restore the path fixup's rewritten copies (nanosecond mtimes when
/// written) are still the dependencies', not the package's own.
#[test]
fn a_default_tar_restore_keeps_the_fixup_copies_the_dependencies() {
    if skip_without(&["tar"]) {
        return;
    }
    // Nanosecond mtimes, as a real build writes them.
    NSEC.set(123_456_789);
    let (t, out, pp) = built();
    let before = file_list(&pp, "app", &t.path().join("before"));
    restore(&out, "tar (whole seconds)", Old::Kept);
    let nsec = std::fs::metadata(pp.join("app/host/lib/pkgconfig/zlib.pc"))
        .unwrap()
        .mtime_nsec();
    assert_eq!(nsec, 0, "tar kept nanoseconds: nothing to test");
    let after = file_list(&pp, "app", &t.path().join("after"));
    assert_eq!(after.0, before.0, "host list");
    assert_eq!(after.2, before.2, "reported overwrites");
    let (stats, err) = prepare(&pp, "app", &["libpng", "zlib"]);
    assert_eq!(err, "", "{stats}");
    assert_eq!(stat_count(&stats, "kept as own"), 1, "{stats}");
    let after = file_list(&pp, "app", &t.path().join("after2"));
    assert_eq!(after.0, "app,./bin/zlib-config\n", "host list");
}

const RESTORES: [&str; 5] = [
    "cp -a",
    "cp -a + mv",
    "tar",
    "tar (whole seconds)",
    "rsync -aH",
];

fn have_tools() -> bool {
    !skip_without(&["tar", "rsync"])
}

/// `ppd explain --json` on `paths` of app's host tree: (state, installer,
/// placed_by) of each.
fn explain_app(pp: &Path, paths: &[&str]) -> Vec<(String, String, String)> {
    let out = ok(ppd()
        .args(["explain", "--json", "--per-package-dir"])
        .arg(pp)
        .args(paths.iter().map(|p| pp.join("app/host").join(p))));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let c = &p["copy"];
            let s = |k: &str| c[k].as_str().unwrap_or("-").to_owned();
            (s("state"), s("installer"), s("placed_by"))
        })
        .collect()
}

/// After a restore `ppd explain` tells a placed copy (current), a rewritten
/// one (current, still its installer's), the package's own replacement
/// (replaced) and an entry edited in place through the inode it shares
/// with its dependency (edited in place, kept by the copy's hard links)
/// apart exactly as before it.
#[test]
fn explain_after_a_restore_tells_the_same() {
    if !have_tools() {
        return;
    }
    for how in RESTORES {
        NSEC.set(123_456_789);
        let (_t, out, pp) = built();
        // zlib's rebuild writes its zlib-config through the inode every
        // dependent shares (what `ppd unshare` exists to prevent).
        std::fs::write(pp.join("libpng/host/bin/zlib-config"), "edited\n").unwrap();
        let paths = [
            "lib/libz.so.1",
            "lib/pkgconfig/zlib.pc",
            "bin/zlib-config",
            "lib/libpng.so",
        ];
        let before = explain_app(&pp, &paths);
        let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            before,
            [
                s("current", "zlib", "zlib"),
                s("current", "zlib", "zlib"),
                s("replaced", "app", "-"),
                s("current", "libpng", "libpng"),
            ],
            "{how}: before"
        );
        let lp = ok(ppd()
            .args(["explain", "--json", "--per-package-dir"])
            .arg(&pp)
            .arg(pp.join("libpng/host/bin/zlib-config")));
        let edited = |o: &std::process::Output| {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let c = &v["paths"][0]["copy"];
            (c["state"].clone(), c["installer"].clone())
        };
        let was = edited(&lp);
        assert_eq!(was.0, "edited in place", "{how}");
        restore(&out, how, Old::Removed);
        assert_eq!(explain_app(&pp, &paths), before, "{how}: after");
        let lp = ok(ppd()
            .args(["explain", "--json", "--per-package-dir"])
            .arg(&pp)
            .arg(pp.join("libpng/host/bin/zlib-config")));
        assert_eq!(edited(&lp), was, "{how}: the edit through the shared inode");
    }
}

/// `ppd outdated`'s make line (`None` when nothing is outdated); fails on
/// any warning.
fn outdated(pp: &Path) -> Option<String> {
    let out = ok(ppd().arg("outdated").arg("--per-package-dir").arg(pp));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("make "))
        .map(str::to_owned)
        .or_else(|| (!text.is_empty()).then_some(text.clone()))
}

/// Writes `data` to `path` as a rebuild would (a new file renamed over the
/// old one), as the inode numbered `ino` if the filesystem hands it out
/// again within a thousand creations; returns whether it did.
fn rebuild_as(path: &Path, data: &str, ino: u64) -> bool {
    let dir = path.parent().unwrap();
    let mut spare = Vec::new();
    let mut got = false;
    for i in 0..1000 {
        let f = dir.join(format!("new.{i}"));
        std::fs::write(&f, data).unwrap();
        if f.metadata().unwrap().ino() == ino {
            std::fs::rename(&f, path).unwrap();
            got = true;
            break;
        }
        spare.push(f);
    }
    for f in spare {
        std::fs::remove_file(f).unwrap();
    }
    if !got {
        std::fs::write(path.with_extension("tmp"), data).unwrap();
        std::fs::rename(path.with_extension("tmp"), path).unwrap();
    }
    got
}

/// After a restore `ppd outdated` names nothing; after a dependency's
/// rebuild it names exactly the packages holding its old file, even when
/// the rebuilt file got the inode number the manifests recorded back.
#[test]
fn outdated_after_a_restore_names_exactly_the_affected_packages() {
    if !have_tools() {
        return;
    }
    let mut reused = 0;
    for how in RESTORES {
        NSEC.set(123_456_789);
        let (_t, out, pp) = built();
        // A package built on libpng alone: not affected by zlib's
        // libz.so.1 beyond what libpng passes on (libpng holds it too).
        write(&pp.join("other/host/share/other.txt"), "other\n");
        let lib = pp.join("zlib/host/lib/libz.so.1");
        let recorded = lib.metadata().unwrap().ino();
        assert_eq!(outdated(&pp), None, "{how}: before");
        restore(&out, how, Old::Removed);
        assert_eq!(outdated(&pp), None, "{how}: right after the restore");
        if rebuild_as(&lib, "libz v2\n", recorded) {
            reused += 1;
        }
        assert_eq!(
            outdated(&pp).as_deref(),
            Some("libpng-reconfigure app-reconfigure"),
            "{how}: after zlib's rebuild"
        );
    }
    eprintln!(
        "outdated after a restore: {reused} of 5 rebuilt files got the recorded inode number back"
    );
}
