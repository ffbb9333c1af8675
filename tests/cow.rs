//! Copy-on-write per-package trees (`--link-mode reflink|snapshot`) on
//! btrfs and XFS images that each test makes and loop-mounts itself (as
//! root): the result of the real rsync loop in content, modes, owners,
//! nanosecond mtimes and symlinks, with no regular file sharing an inode
//! with a dependency; an in-place write in a dependent leaves the
//! dependency unchanged; a re-run changes nothing; a run killed at any
//! step and run again converges.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// `ppd` with snapshots wherever they save anything (the default
/// threshold, thousands of entries, would give these small trees clones):
/// the snapshot paths are what these tests exercise.
fn cow_ppd() -> Command {
    let mut c = ppd();
    // These tests are about the link modes: `auto` is auto here, whatever
    // mode the rest of the suite runs in (scripts/test-filesystems.sh).
    c.env_remove("PPD_LINK_MODE");
    c.env("PPD_SNAPSHOT_MIN_ENTRIES", "1");
    c
}

fn write(p: &Path, data: &str, mode: u32, sec: i64, nsec: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(p, sec, nsec);
}

fn symlink(target: &str, p: &Path, sec: i64) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
    set_mtime(p, sec, 5);
}

/// Fills package `pkg`'s trees: a few hundred files (so that the winning
/// tree is worth a snapshot), a hard-link group, symlinks, odd modes,
/// nanosecond mtimes, and paths other packages provide differently.
fn fill(tree: &Path, pkg: &str, n: usize, seed: i64) {
    for i in 0..n {
        let p = tree.join(format!("usr/lib/{pkg}/f{i}"));
        write(
            &p,
            &format!("{pkg} {i}\n"),
            [0o644, 0o755, 0o600, 0o444][i % 4],
            1_600_000_000 + seed + i as i64,
            (i * 7919) as u32,
        );
    }
    write(
        &tree.join("etc/shared.conf"),
        &format!("from {pkg}\n"),
        0o644,
        1_500_000_000 + seed,
        11,
    );
    write(
        &tree.join(format!("usr/bin/{pkg}")),
        &format!("#!/bin/sh\necho {pkg}\n"),
        0o4755,
        1_500_000_100,
        999_999_999,
    );
    std::fs::hard_link(
        tree.join(format!("usr/bin/{pkg}")),
        tree.join(format!("usr/bin/{pkg}-alias")),
    )
    .unwrap();
    symlink(
        &format!("{pkg}/f0"),
        &tree.join(format!("usr/lib/lib{pkg}.so")),
        1_500_000_200,
    );
    symlink(
        "/usr/lib/absolute",
        &tree.join("usr/lib/abs"),
        1_500_000_000 + seed,
    );
    std::fs::create_dir_all(tree.join("usr/share/empty")).unwrap();
    for d in [
        "usr/lib",
        "usr/bin",
        "etc",
        "usr/share/empty",
        "usr/share",
        "usr",
        "",
    ] {
        let d = tree.join(d);
        if d.exists() {
            set_mtime(&d, 1_400_000_000 + seed, 17);
        }
    }
}

/// The per-package root with three dependencies: `small`, `big` (most of
/// the union: the snapshot's base) and `late` (merged last: overrides
/// `etc/shared.conf`, `usr/lib/abs` and one of big's files). Each tree is
/// made by `ppd prepare` without dependencies first (with `mode`: a
/// subvolume on btrfs in snapshot mode), as in a build.
fn packages(root: &Path, mode: &str) -> PathBuf {
    let pp = root.join("per-package");
    for (pkg, n, seed) in [("small", 10, 1), ("big", 300, 2), ("late", 5, 3)] {
        new_package(&pp, pkg, mode);
        for tree in ["host", "target"] {
            fill(&pp.join(pkg).join(tree), pkg, n, seed);
        }
    }
    for tree in ["host", "target"] {
        write(
            &pp.join("late").join(tree).join("usr/lib/big/f3"),
            "late wins\n",
            0o640,
            1_650_000_000,
            3,
        );
    }
    settle_dirs(&pp);
    pp
}

/// Makes package `pkg`'s empty trees with `ppd prepare` of no dependency
/// (with `mode`: a subvolume on btrfs in snapshot mode), as a build does.
fn new_package(pp: &Path, pkg: &str, mode: &str) {
    ok(cow_ppd()
        .args(["prepare", "--link-mode", mode, "--per-package-dir"])
        .arg(pp)
        .args(["--pkg", pkg]));
}

/// [`packages`] on a new `fs` image (see [`image`]): the image, which
/// must outlive its use, and the per-package root; None (after SKIP)
/// where no image can be made.
fn packages_on(fs: &str, test: &str, mode: &str) -> Option<(Image, PathBuf)> {
    let im = image(fs, test)?;
    let pp = packages(&im.mnt, mode);
    Some((im, pp))
}

/// Gives every directory below `root` a fixed mtime of its own (after all
/// writes), so that no directory's mtime is the time of the run.
fn settle_dirs(root: &Path) {
    let mut n = 0;
    for (k, s) in snapshot(root) {
        if s.kind == "d" {
            n += 1;
            set_mtime(
                &at(root, &k),
                1_450_000_000 + n,
                (n * 1_000_003 % 1_000_000_000) as u32,
            );
        }
    }
}

const DEPS: [&str; 3] = ["small", "big", "late"];

/// Adds to `c` (`ppd`, or a command running it) `prepare` with the
/// options `opts` of `pkg` from [`DEPS`] in `mode`, conflicts ignored.
fn prepare_args<'c>(
    c: &'c mut Command,
    opts: &[&str],
    pp: &Path,
    pkg: &str,
    mode: &str,
) -> &'c mut Command {
    c.arg("prepare")
        .args(opts)
        .args(["--conflicts", "ignore", "--link-mode", mode])
        .arg("--per-package-dir")
        .arg(pp)
        .args(["--pkg", pkg])
        .args(DEPS)
}

/// `ppd prepare -v` of `pkg` (see [`prepare_args`]), which must succeed.
fn prepare(pp: &Path, pkg: &str, mode: &str) -> std::process::Output {
    ok(prepare_args(&mut cow_ppd(), &["-v"], pp, pkg, mode))
}

/// The stderr of `ppd prepare -n -v` of `pkg` (see [`prepare_args`]),
/// which must succeed.
fn dry_prepare(pp: &Path, pkg: &str, mode: &str) -> String {
    let out = ok(prepare_args(&mut cow_ppd(), &["-n", "-v"], pp, pkg, mode));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `ppd prepare` of `pkg` (see [`prepare_args`]) under strace, killed
/// (SIGKILL) at the `n`th call of one of the system calls `calls`.
fn killed_prepare(pp: &Path, pkg: &str, mode: &str, calls: &str, n: usize) -> Command {
    let mut c = Command::new("strace");
    c.args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject={calls}:signal=KILL:when={n}"))
        .arg(env!("CARGO_BIN_EXE_ppd"))
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        // As the runs it is compared with: snapshots at any size, so the
        // snapshot test kills runs that are making one.
        .env("PPD_SNAPSHOT_MIN_ENTRIES", "1");
    prepare_args(&mut c, &[], pp, pkg, mode);
    c
}

fn rsync_loop(pp: &Path, tree: &str, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for d in DEPS {
        let src = format!("{}/{d}/{tree}/", pp.display());
        ok(Command::new("rsync")
            .args(["-a", "--hard-links"])
            .arg(format!("--link-dest={src}"))
            .arg(&src)
            .arg(dest));
    }
}

/// Every regular file's (dev, ino) in the dependencies' trees.
fn source_inodes(pp: &Path) -> BTreeSet<(u64, u64)> {
    let mut out = BTreeSet::new();
    for d in DEPS {
        for tree in ["host", "target"] {
            for s in snapshot(&pp.join(d).join(tree)).values() {
                if s.kind == "f" {
                    out.insert((s.dev, s.ino));
                }
            }
        }
    }
    out
}

/// The trees agree on names, types, modes, owners, nanosecond mtimes,
/// sizes, contents and symlink targets; hard-link groups are the same
/// groups; and no regular file of `ours` is an inode of a dependency.
fn assert_parity(rsync: &Path, ours: &Path, sources: &BTreeSet<(u64, u64)>) {
    let a = snapshot(rsync);
    let b = snapshot(ours);
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "different entries"
    );
    assert!(a.len() > 300, "tree too small to mean anything");
    let mut groups_a: BTreeMap<(u64, u64), Vec<&Vec<u8>>> = BTreeMap::new();
    let mut groups_b: BTreeMap<(u64, u64), Vec<&Vec<u8>>> = BTreeMap::new();
    for (k, x) in &a {
        let y = &b[k];
        let p = String::from_utf8_lossy(k);
        assert_eq!(x.kind, y.kind, "type of {p}");
        assert_eq!(x.target, y.target, "symlink target of {p}");
        assert_eq!((x.uid, x.gid), (y.uid, y.gid), "owner of {p}");
        if !k.is_empty() {
            assert_eq!(x.mtime, y.mtime, "mtime of {p}");
        }
        if x.kind != "l" {
            assert_eq!(x.mode, y.mode, "mode of {p}");
        }
        if x.kind == "f" {
            assert_eq!(x.size, y.size, "size of {p}");
            assert_eq!(
                std::fs::read(at(rsync, k)).unwrap(),
                std::fs::read(at(ours, k)).unwrap(),
                "content of {p}"
            );
            assert!(
                !sources.contains(&(y.dev, y.ino)),
                "{p} shares its inode with a dependency"
            );
            groups_a.entry((x.dev, x.ino)).or_default().push(k);
            groups_b.entry((y.dev, y.ino)).or_default().push(k);
        }
    }
    let ga: BTreeSet<_> = groups_a.into_values().collect();
    let gb: BTreeSet<_> = groups_b.into_values().collect();
    assert_eq!(ga, gb, "hard-link groups differ");
}

/// Stats of the `-v` line of a tree: `(mode words, counts)`.
fn placement_line<'a>(stderr: &'a str, dest: &Path) -> &'a str {
    let head = format!("ppd: link mode for {}: ", dest.display());
    stderr
        .lines()
        .find(|l| l.starts_with(&head))
        .unwrap_or_else(|| panic!("no placement line for {}: {stderr}", dest.display()))
}

/// Asserts that a run replaced nothing and that its `-v` stats (its
/// `stderr`) say `also` (` 0 dirs created, `, ` 0 kept as own, `...), as
/// a re-run that changes nothing does; `what` names the run in the
/// failure. Returns the stderr.
#[track_caller]
fn assert_replaced_nothing(stderr: &[u8], also: &str, what: &str) -> String {
    let err = String::from_utf8_lossy(stderr).into_owned();
    assert!(
        err.contains(" 0 replaced, ") && err.contains(also),
        "{what}: {err}"
    );
    err
}

/// Everything a re-run must leave as it is: each entry's inode, type,
/// mode, mtime and size.
type State = BTreeMap<Vec<u8>, (u64, u64, String, u32, (i64, i64), u64)>;

fn state(pp: &Path, pkg: &str) -> State {
    let mut all = BTreeMap::new();
    for tree in ["host", "target"] {
        for (k, s) in snapshot(&pp.join(pkg).join(tree)) {
            let mut key = tree.as_bytes().to_vec();
            key.push(b':');
            key.extend_from_slice(&k);
            all.insert(
                key,
                (s.dev, s.ino, s.kind.to_string(), s.mode, s.mtime, s.size),
            );
        }
    }
    all
}

fn cow_parity(fs: &str, mode: &str, test: &str) {
    if skip_without(&["rsync"]) {
        return;
    }
    let Some((im, pp)) = packages_on(fs, test, mode) else {
        return;
    };
    let sources = source_inodes(&pp);
    let out = prepare(&pp, "pkg", mode);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    for tree in ["host", "target"] {
        let dest = pp.join("pkg").join(tree);
        let line = placement_line(&err, &dest);
        match (fs, mode) {
            ("btrfs", "snapshot") => assert!(
                line.contains("snapshot of big on btrfs: ") && line.contains(" 0 fallbacks"),
                "{line}"
            ),
            _ => assert!(
                line.contains(&format!("reflink on {fs}: ")) && line.contains(" 0 fallbacks"),
                "{line}"
            ),
        }
        let theirs = im.mnt.join("rsync").join(tree);
        rsync_loop(&pp, tree, &theirs);
        assert_parity(&theirs, &dest, &sources);
    }

    // A re-run changes nothing, not even an inode.
    let before = state(&pp, "pkg");
    let again = prepare(&pp, "pkg", mode);
    let err = assert_replaced_nothing(&again.stderr, " 0 dirs created, ", "re-run");
    assert!(
        placement_line(&err, &pp.join("pkg/host")).contains(" 0 cloned, "),
        "{err}"
    );
    assert!(before == state(&pp, "pkg"), "a re-run changed the trees");

    // outdated compares each clone's record with the dependency's file
    // (type, mode, size, mtime): current now; a rebuilt dependency file
    // makes the copy outdated, and the next prepare replaces that clone.
    let outdated = |pp: &Path| {
        let out = ok(cow_ppd()
            .args(["outdated", "--per-package-dir"])
            .arg(pp)
            .arg("pkg"));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(outdated(&pp), "");
    let rebuilt = pp.join("big/target/usr/lib/big/f5");
    std::fs::remove_file(&rebuilt).unwrap();
    write(&rebuilt, "big 5, rebuilt\n", 0o644, 1_700_000_000, 5);
    assert_eq!(
        outdated(&pp),
        "pkg: 1 copy differs from what big provides now; refresh: make pkg-reconfigure\n\
         make pkg-reconfigure\n"
    );
    let out = prepare(&pp, "pkg", mode);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(" 1 replaced, "), "{err}");
    assert_eq!(
        std::fs::read(pp.join("pkg/target/usr/lib/big/f5")).unwrap(),
        b"big 5, rebuilt\n"
    );
    assert_eq!(outdated(&pp), "");

    // An in-place write in the dependent never reaches the dependency.
    for (rel, dep) in [
        ("usr/lib/big/f1", "big"),
        ("usr/lib/small/f2", "small"),
        ("usr/lib/big/f3", "late"),
    ] {
        let mine = pp.join("pkg/target").join(rel);
        let theirs = pp.join(dep).join("target").join(rel);
        let was = std::fs::read(&theirs).unwrap();
        let st = std::fs::metadata(&theirs).unwrap();
        {
            use std::io::{Seek, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&mine).unwrap();
            f.seek(std::io::SeekFrom::Start(0)).unwrap();
            f.write_all(b"EDITED IN PLACE").unwrap();
        }
        assert!(std::fs::read(&mine)
            .unwrap()
            .starts_with(b"EDITED IN PLACE"));
        assert_eq!(
            std::fs::read(&theirs).unwrap(),
            was,
            "{dep}'s {rel} changed"
        );
        let now = std::fs::metadata(&theirs).unwrap();
        assert_eq!(
            (now.ino(), now.size(), now.mtime(), now.mtime_nsec()),
            (st.ino(), st.size(), st.mtime(), st.mtime_nsec())
        );
    }

    // The package's edits are its own: a re-run keeps them.
    let kept = prepare(&pp, "pkg", mode);
    let err = String::from_utf8_lossy(&kept.stderr);
    assert!(err.contains(" 3 kept as own, "), "{err}");
    assert!(std::fs::read(pp.join("pkg/target/usr/lib/big/f1"))
        .unwrap()
        .starts_with(b"EDITED IN PLACE"));

    // rm -rf removes the trees (subvolumes included), as make clean does.
    ok(Command::new("rm").arg("-rf").arg(pp.join("pkg")));
    assert!(!pp.join("pkg").exists());
}

#[test]
fn reflink_on_xfs_matches_the_rsync_loop_without_sharing_inodes() {
    cow_parity("xfs", "reflink", "xfs-reflink");
}

#[test]
fn auto_on_xfs_is_reflink() {
    cow_parity("xfs", "auto", "xfs-auto");
}

#[test]
fn reflink_on_btrfs_matches_the_rsync_loop_without_sharing_inodes() {
    cow_parity("btrfs", "reflink", "btrfs-reflink");
}

#[test]
fn snapshot_on_btrfs_matches_the_rsync_loop_without_sharing_inodes() {
    cow_parity("btrfs", "snapshot", "btrfs-snapshot");
}

/// A snapshot saving fewer entries than `--snapshot-min-entries` (3000
/// by default) is not made: the tree is an empty subvolume filled with
/// clones (so that later packages can snapshot it), with the rsync loop's
/// result and no inode shared. A dry run reports the snapshot a lower
/// threshold would make.
#[test]
fn snapshot_below_the_threshold_clones_into_a_subvolume() {
    if skip_without(&["rsync"]) {
        return;
    }
    let Some((im, pp)) = packages_on("btrfs", "btrfs-threshold", "snapshot") else {
        return;
    };
    let sources = source_inodes(&pp);
    let prepare = |threshold: Option<&str>, opts: &[&str]| {
        let mut c = ppd();
        if let Some(t) = threshold {
            c.env("PPD_SNAPSHOT_MIN_ENTRIES", t);
        }
        ok(prepare_args(&mut c, opts, &pp, "pkg", "snapshot"))
    };
    let dry = prepare(Some("1"), &["-v", "-n"]);
    let err = String::from_utf8_lossy(&dry.stderr).into_owned();
    let line = placement_line(&err, &pp.join("pkg/host"));
    assert!(
        line.contains("snapshot of big on btrfs: ") && line.ends_with(" (dry run)"),
        "{line}"
    );
    assert!(!pp.join("pkg/host").exists());
    let out = prepare(None, &["-v"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    for tree in ["host", "target"] {
        let dest = pp.join("pkg").join(tree);
        let line = placement_line(&err, &dest);
        assert!(
            line.contains("reflink on btrfs: 0 from the snapshot, ")
                && line.contains(" 0 fallbacks"),
            "{line}"
        );
        // The root of a subvolume (inode 256 on btrfs).
        assert_eq!(std::fs::metadata(&dest).unwrap().ino(), 256);
        let theirs = im.mnt.join("rsync").join(tree);
        rsync_loop(&pp, tree, &theirs);
        assert_parity(&theirs, &dest, &sources);
    }
    // A re-run changes nothing.
    let again = prepare(None, &["-v"]);
    assert_replaced_nothing(&again.stderr, " 0 dirs created, ", "re-run");
}

/// The snapshot's base brings entries that a later dependency replaces
/// with another type: a directory where the later one has a symlink, a
/// file where it has a directory. Last wins, with no clash reported.
#[test]
fn snapshot_entries_overridden_by_another_type_are_replaced() {
    let Some(im) = image("btrfs", "btrfs-types") else {
        return;
    };
    let pp = im.mnt.join("per-package");
    for pkg in ["big", "late"] {
        new_package(&pp, pkg, "snapshot");
    }
    let big = pp.join("big/target");
    fill(&big, "big", 50, 0);
    write(
        &big.join("lib64/libold.so"),
        "old\n",
        0o644,
        1_600_000_000,
        0,
    );
    write(&big.join("opt/thing"), "a file\n", 0o644, 1_600_000_000, 0);
    let late = pp.join("late/target");
    symlink("lib", &late.join("lib64"), 1_600_000_000);
    write(
        &late.join("opt/thing/inside"),
        "now a dir\n",
        0o644,
        1_600_000_000,
        0,
    );
    let prepare = || {
        ok(cow_ppd()
            .args([
                "prepare",
                "-v",
                "--link-mode",
                "snapshot",
                "--per-package-dir",
            ])
            .arg(&pp)
            .args(["--target-dir"])
            .arg(pp.join("pkg/target"))
            .args(["big", "late"]))
    };
    let out = prepare();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        placement_line(&err, &pp.join("pkg/target")).contains("snapshot of big on btrfs"),
        "{err}"
    );
    // The two conflicts between the dependencies, as in hard-link mode,
    // and nothing about the snapshot's entries being in the way.
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("ppd: conflict: "))
            .count(),
        2,
        "{err}"
    );
    assert_eq!(err.lines().count(), 4, "{err}");
    let t = pp.join("pkg/target");
    assert_eq!(
        std::fs::read_link(t.join("lib64")).unwrap(),
        Path::new("lib")
    );
    assert_eq!(
        std::fs::read(t.join("opt/thing/inside")).unwrap(),
        b"now a dir\n"
    );
    assert_eq!(std::fs::read(t.join("usr/lib/big/f7")).unwrap(), b"big 7\n");
    // A re-run changes nothing.
    let again = prepare();
    assert_replaced_nothing(&again.stderr, " 0 removed, ", "re-run");
}

/// A dependency's tree holding a subvolume of its own: a snapshot of the
/// tree would show it as an empty directory (snapshots do not descend
/// into subvolumes) while the merge trusts what the snapshot brings, so
/// the files inside were missing. Such a tree is not snapshotted; the
/// result is the rsync loop's.
#[test]
fn a_tree_holding_a_subvolume_is_not_snapshotted() {
    if skip_without(&["btrfs", "rsync"]) {
        return;
    }
    let Some(im) = image("btrfs", "btrfs-nested") else {
        return;
    };
    let pp = im.mnt.join("per-package");
    new_package(&pp, "big", "snapshot");
    let big = pp.join("big/target");
    fill(&big, "big", 300, 0);
    ok(Command::new("btrfs")
        .args(["-q", "subvolume", "create"])
        .arg(big.join("usr/nested")));
    write(
        &big.join("usr/nested/inner"),
        "inside\n",
        0o644,
        1_600_000_000,
        0,
    );
    settle_dirs(&big);
    let dest = pp.join("pkg/target");
    let out = ok(cow_ppd()
        .args(["prepare", "-v", "--link-mode", "snapshot"])
        .arg("--per-package-dir")
        .arg(&pp)
        .arg("--target-dir")
        .arg(&dest)
        .arg("big"));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = placement_line(&err, &dest);
    assert!(line.contains("reflink on btrfs"), "{err}");
    assert_eq!(
        std::fs::read(dest.join("usr/nested/inner")).unwrap(),
        b"inside\n"
    );
    let theirs = im.mnt.join("rsync");
    std::fs::create_dir_all(&theirs).unwrap();
    ok(Command::new("rsync")
        .args(["-a", "--hard-links"])
        .arg(format!("{}/", big.display()))
        .arg(format!("{}/", theirs.display())));
    let sources = snapshot(&big)
        .values()
        .filter(|s| s.kind == "f")
        .map(|s| (s.dev, s.ino))
        .collect();
    assert_parity(&theirs, &dest, &sources);
}

/// Per entry: type, mode, mtime, symlink target, content.
type View = BTreeMap<Vec<u8>, (String, u32, (i64, i64), Option<Vec<u8>>, Vec<u8>)>;

/// Killed at every clone, snapshot, rename and link, then run again: the
/// same trees as an uninterrupted run (names, types, modes, mtimes,
/// contents), still sharing no inode with a dependency.
fn killed_and_rerun_converges(fs: &str, mode: &str, test: &str) {
    if skip_without(&["strace"]) {
        return;
    }
    let Some((_im, pp)) = packages_on(fs, test, mode) else {
        return;
    };
    let sources = source_inodes(&pp);
    let view = |pp: &Path| -> View {
        let mut out = BTreeMap::new();
        for tree in ["host", "target"] {
            let root = pp.join("pkg").join(tree);
            for (k, s) in snapshot(&root) {
                let data = if s.kind == "f" {
                    assert!(
                        !sources.contains(&(s.dev, s.ino)),
                        "{tree}/{} shares an inode",
                        String::from_utf8_lossy(&k)
                    );
                    std::fs::read(at(&root, &k)).unwrap()
                } else {
                    Vec::new()
                };
                let mut key = tree.as_bytes().to_vec();
                key.extend_from_slice(b":");
                key.extend_from_slice(&k);
                out.insert(key, (s.kind.to_string(), s.mode, s.mtime, s.target, data));
            }
        }
        out
    };
    prepare(&pp, "pkg", mode);
    let reference = view(&pp);
    let mut killed = 0;
    for (call, points) in [
        ("ioctl", 8),
        ("renameat2,renameat,rename", 4),
        ("linkat", 4),
        ("mkdirat,mkdir", 4),
        ("unlinkat", 3),
    ] {
        for n in 1..=points {
            ok(Command::new("rm").arg("-rf").arg(pp.join("pkg")));
            let out = run(&mut killed_prepare(&pp, "pkg", mode, call, n));
            if out.status.signal() == Some(9) {
                killed += 1;
            } else {
                assert!(
                    out.status.success(),
                    "{call} {n}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            prepare(&pp, "pkg", mode);
            let got = view(&pp);
            if got != reference {
                let diff: Vec<_> = reference
                    .keys()
                    .chain(got.keys())
                    .filter(|k| reference.get(*k) != got.get(*k))
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect();
                panic!("killed at {call} {n}, then run again: differs at {diff:?}");
            }
            // And the run after that is a no-op.
            let again = prepare(&pp, "pkg", mode);
            assert_replaced_nothing(&again.stderr, " 0 kept as own, ", &format!("{call} {n}"));
        }
    }
    assert!(killed > 10, "only {killed} runs were killed");
}

/// A re-prepare (the tree and its manifest there) killed after creating a
/// new dependency file's clone under its name but before its metadata was
/// set: the next run replaces the partial clone (born after the killed
/// run marked the tree) instead of keeping it as the package's own
/// forever, and gives what an uninterrupted run gives.
#[test]
fn reflink_reprepare_killed_inside_a_new_clone_converges() {
    if skip_without(&["strace"]) {
        return;
    }
    let Some((_im, pp)) = packages_on("xfs", "xfs-rekill", "reflink") else {
        return;
    };
    let big = pp.join("big/target/usr/lib/big");
    let news = ["new1", "new2", "new3"];
    let add = |on: bool| {
        for (i, n) in news.iter().enumerate() {
            if on {
                write(&big.join(n), &format!("new {i}\n"), 0o755, 1_600_000_000, 7);
            } else {
                let _ = std::fs::remove_file(big.join(n));
            }
        }
        set_mtime(&big, 1_450_000_000, 1);
    };
    let shape_of = |pp: &Path| {
        snapshot(&pp.join("pkg/target"))
            .into_iter()
            .map(|(k, s)| (k, s.kind, s.mode, s.mtime, s.size))
            .collect::<Vec<_>>()
    };
    add(true);
    prepare(&pp, "pkg", "reflink");
    let reference = shape_of(&pp);
    let mut partial = 0;
    for call in ["ioctl", "fchown", "utimensat"] {
        for n in 1..=4 {
            add(false);
            ok(Command::new("rm").arg("-rf").arg(pp.join("pkg")));
            prepare(&pp, "pkg", "reflink");
            add(true);
            run(killed_prepare(&pp, "pkg", "reflink", call, n).env("PPD_SNAPSHOT_MIN_ENTRIES", "1"));
            let t = pp.join("pkg/target/usr/lib/big");
            partial += news
                .iter()
                .filter(|n| {
                    std::fs::symlink_metadata(t.join(n))
                        .is_ok_and(|m| m.mode() & 0o7777 != 0o755 || m.mtime() != 1_600_000_000)
                })
                .count();
            let again = prepare(&pp, "pkg", "reflink");
            let err = String::from_utf8_lossy(&again.stderr);
            assert!(err.contains(" 0 kept as own, "), "{call} {n}: {err}");
            assert!(shape_of(&pp) == reference, "{call} {n}: differs");
        }
    }
    assert!(partial > 0, "no run was killed inside a new clone");
}

#[test]
fn reflink_on_xfs_killed_and_rerun_converges() {
    killed_and_rerun_converges("xfs", "reflink", "xfs-kill");
}

#[test]
fn snapshot_on_btrfs_killed_and_rerun_converges() {
    killed_and_rerun_converges("btrfs", "snapshot", "btrfs-kill");
}

/// finalize --link-mode reflink clones every file (new inodes, the
/// packages' files untouched by an edit of the final tree); copy copies.
#[test]
fn finalize_clones_or_copies_on_xfs() {
    let Some((im, pp)) = packages_on("xfs", "xfs-finalize", "reflink") else {
        return;
    };
    let sources = source_inodes(&pp);
    let mut results = Vec::new();
    for mode in ["reflink", "copy", "auto"] {
        let dest = im.mnt.join(format!("final-{mode}"));
        let out = ok(cow_ppd()
            .args([
                "finalize",
                "-v",
                "--conflicts",
                "ignore",
                "--link-mode",
                mode,
                "--tree",
                "target",
                "--per-package-dir",
            ])
            .arg(&pp)
            .arg("--dest")
            .arg(&dest)
            .args(DEPS));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let files = snapshot(&dest).values().filter(|s| s.kind == "f").count();
        match mode {
            "reflink" => assert!(
                err.contains(&format!(
                    "reflink on xfs: {} cloned, 0 fallbacks",
                    files - 3
                )),
                "{err}"
            ),
            "copy" => assert!(err.contains("copy on xfs: 0 cloned, 0 fallbacks"), "{err}"),
            _ => {}
        }
        for s in snapshot(&dest).values().filter(|s| s.kind == "f") {
            assert!(!sources.contains(&(s.dev, s.ino)));
        }
        results.push(dest);
    }
    let (a, b) = (snapshot(&results[0]), snapshot(&results[1]));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, x) in &a {
        let y = &b[k];
        assert_eq!(
            (x.kind, x.mode, x.mtime, x.size),
            (y.kind, y.mode, y.mtime, y.size)
        );
        if x.kind == "f" {
            assert_eq!(
                std::fs::read(at(&results[0], k)).unwrap(),
                std::fs::read(at(&results[1], k)).unwrap()
            );
        }
    }
}

/// finalize --dry-run --link-mode reflink names what the run does: a
/// clone of each file (`clone DEST -> SOURCE (pkg)`, also when replacing
/// one), never a copy or link, and the same counts as the run.
#[test]
fn finalize_dry_run_on_xfs_names_the_clones() {
    let Some((im, pp)) = packages_on("xfs", "xfs-finalize-dry", "reflink") else {
        return;
    };
    let dest = im.mnt.join("final");
    let finalize = |dry: bool| {
        let mut c = cow_ppd();
        c.args(["finalize", "-v", "--conflicts", "ignore"]);
        if dry {
            c.arg("--dry-run");
        }
        let out = ok(c
            .args(["--link-mode", "reflink", "--tree", "target"])
            .arg("--per-package-dir")
            .arg(&pp)
            .arg("--dest")
            .arg(&dest)
            .args(DEPS));
        // The plan (stdout), then the summary lines (stderr).
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    };
    let mode_line = |err: &str| {
        err.lines()
            .find(|l| l.starts_with("ppd: link mode for "))
            .unwrap_or("")
            .to_string()
    };
    let dry = finalize(true);
    assert!(!dest.exists());
    let plan: Vec<&str> = dry.lines().filter(|l| l.contains(" -> ")).collect();
    assert!(!plan.is_empty(), "{dry}");
    for l in &plan {
        assert!(
            l.starts_with("clone ") || l.starts_with("symlink ") || l.ends_with("(hard link)"),
            "{l}"
        );
    }
    let run = finalize(false);
    assert_eq!(
        mode_line(&dry),
        format!("{} (dry run)", mode_line(&run)),
        "{dry}\n{run}"
    );
    // A package's file rebuilt: the dry run clones it over the old copy.
    let f = pp.join("big/target/usr/lib/big/f7");
    std::fs::remove_file(&f).unwrap();
    write(&f, "big 7 rebuilt\n", 0o644, 1_700_000_000, 7);
    let dry = finalize(true);
    let line = format!(
        "clone {} -> {} (big) replacing a file",
        dest.join("usr/lib/big/f7").display(),
        f.display()
    );
    assert!(dry.lines().any(|l| l == line), "{dry}");
    assert!(
        mode_line(&dry).ends_with(": 1 cloned, 0 fallbacks (dry run)"),
        "{dry}"
    );
}

/// Where the filesystem clones nothing (ext4, tmpfs), reflink falls back
/// to hard links as before, and says so.
#[test]
fn reflink_without_clones_falls_back_to_hard_links() {
    let t = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    let pp = t.path().join("per-package");
    write(
        &pp.join("a/target/usr/lib/x"),
        "x\n",
        0o644,
        1_600_000_000,
        1,
    );
    std::fs::create_dir_all(pp.join("a/host")).unwrap();
    let out = ok(cow_ppd()
        .args([
            "prepare",
            "-v",
            "--link-mode",
            "reflink",
            "--per-package-dir",
        ])
        .arg(&pp)
        .args(["--pkg", "b", "a"]));
    let err = String::from_utf8_lossy(&out.stderr);
    let fs = if t.path().starts_with("/dev/shm") {
        "tmpfs"
    } else {
        ""
    };
    let line = placement_line(&err, &pp.join("b/target"));
    assert!(
        line.contains(&format!("hardlink on {fs}")) && line.ends_with(": 1 linked, 0 fallbacks"),
        "{line}"
    );
    let a = std::fs::metadata(pp.join("a/target/usr/lib/x")).unwrap();
    let b = std::fs::metadata(pp.join("b/target/usr/lib/x")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

/// `PPD_LINK_MODE` is prepare's link mode when no `--link-mode` is given
/// (as make exports it), the option wins over it, an empty value is unset,
/// and a bad value stops prepare before it touches anything. Hard links
/// asked for go unsaid by `-v`, as hard links chosen by `auto`.
#[test]
fn prepare_takes_its_link_mode_from_the_environment_on_xfs() {
    let Some((_im, pp)) = packages_on("xfs", "xfs-env", "hardlink") else {
        return;
    };
    let big = pp.join("big/host/usr/lib/big/f7");
    let source = std::fs::metadata(&big).unwrap().ino();
    let prepare_with = |pkg: &str, env: &str, opts: &[&str]| {
        let mut c = cow_ppd();
        c.env("PPD_LINK_MODE", env)
            .args(["prepare", "-v", "--conflicts", "ignore"])
            .args(opts)
            .arg("--per-package-dir")
            .arg(&pp)
            .args(["--pkg", pkg])
            .args(DEPS);
        run(&mut c)
    };
    let inode = |pkg: &str| {
        std::fs::metadata(pp.join(pkg).join("host/usr/lib/big/f7"))
            .unwrap()
            .ino()
    };
    let cloned = |pkg: &str, out: &std::process::Output| {
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = placement_line(&err, &pp.join(pkg).join("host"));
        assert!(line.contains(" reflink on xfs: "), "{err}");
        assert_ne!(inode(pkg), source);
    };
    // From the environment: clones.
    cloned("env-reflink", &prepare_with("env-reflink", "reflink", &[]));
    // The option wins: hard links, and -v says nothing of them.
    let out = prepare_with("option-wins", "reflink", &["--link-mode", "hardlink"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(inode("option-wins"), source);
    assert!(!err.contains("ppd: link mode for "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // From the environment: hard links, unsaid as well.
    let out = prepare_with("env-hardlink", "hardlink", &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(inode("env-hardlink"), source);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ppd: link mode for "));
    // Empty is unset: auto, which clones on XFS and says so.
    cloned("env-empty", &prepare_with("env-empty", "", &[]));
    // A bad value: exit 2, one line naming the variable and its values,
    // nothing made.
    let out = prepare_with("env-bad", "hardlinks", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ppd: prepare: PPD_LINK_MODE=hardlinks: not one of auto, hardlink, reflink, snapshot\n"
    );
    assert!(out.stdout.is_empty());
    assert!(!pp.join("env-bad").exists());
}

/// Hard-link groups and the shared inodes of each mode, per tree entry:
/// for each name, the names of its inode (sorted), and whether that inode
/// is a dependency's.
fn groups_and_sharing(
    pp: &Path,
    pkg: &str,
    sources: &BTreeSet<(u64, u64)>,
) -> BTreeMap<Vec<u8>, (Vec<Vec<u8>>, bool)> {
    let mut by_inode: BTreeMap<(u64, u64), Vec<Vec<u8>>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for tree in ["host", "target"] {
        for (k, s) in snapshot(&pp.join(pkg).join(tree)) {
            if s.kind == "f" {
                let mut key = tree.as_bytes().to_vec();
                key.push(b':');
                key.extend_from_slice(&k);
                by_inode.entry((s.dev, s.ino)).or_default().push(key);
            }
        }
    }
    for (inode, mut names) in by_inode {
        names.sort();
        for n in &names {
            out.insert(n.clone(), (names.clone(), sources.contains(&inode)));
        }
    }
    out
}

/// A tree switched between hard links and clones, back and forth: each
/// run converges to what a fresh run of its mode makes (clones sharing no
/// inode with a dependency, hard links all shared), hard-link groups stay
/// groups, nothing is taken for the package's own, and file-list lists
/// only what the package installed.
#[test]
fn switching_link_modes_converges_with_hard_link_groups() {
    let Some((_im, pp)) = packages_on("xfs", "xfs-switch", "reflink") else {
        return;
    };
    let sources = source_inodes(&pp);
    let mut fresh = BTreeMap::new();
    for mode in ["hardlink", "reflink"] {
        let pkg = format!("fresh-{mode}");
        prepare(&pp, &pkg, mode);
        fresh.insert(mode, groups_and_sharing(&pp, &pkg, &sources));
    }
    for mode in ["hardlink", "reflink", "hardlink", "reflink"] {
        let out = prepare(&pp, "pkg", mode);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains(" 0 kept as own, "), "{mode}: {err}");
        let got = groups_and_sharing(&pp, "pkg", &sources);
        assert_eq!(got.len(), fresh[mode].len());
        for (k, (names, shared)) in &got {
            let (want_names, want_shared) = &fresh[mode][k];
            assert_eq!(
                (names, shared),
                (want_names, want_shared),
                "{mode}: {}",
                String::from_utf8_lossy(k)
            );
        }
        let again = prepare(&pp, "pkg", mode);
        assert_replaced_nothing(&again.stderr, " 0 kept as own, ", &format!("{mode} re-run"));
    }
}

/// file-list after a snapshot or reflink prepare lists what the package
/// installed, as after a hard-link prepare (a dependency's hard-link
/// group that came with the snapshot is the dependency's), and reports
/// an in-place edit of a dependency's file as an overwrite that, in a
/// clone, left the dependency's tree alone.
#[test]
fn file_list_after_a_snapshot_is_the_hard_link_one() {
    let Some((_im, pp)) = packages_on("btrfs", "btrfs-filelist", "snapshot") else {
        return;
    };
    let mut lists = Vec::new();
    for mode in ["snapshot", "reflink", "hardlink"] {
        let pkg = format!("p-{mode}");
        prepare(&pp, &pkg, mode);
        let tree = pp.join(&pkg).join("target");
        write(
            &tree.join("usr/lib/mine"),
            "mine\n",
            0o644,
            1_700_000_000,
            0,
        );
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(tree.join("usr/lib/small/f2"))
                .unwrap();
            f.write_all(b"appended\n").unwrap();
        }
        set_mtime(&tree.join("usr/lib/small/f2"), 1_700_000_001, 0);
        let out = ok(cow_ppd()
            .args(["file-list", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", &pkg]));
        let text = String::from_utf8(out.stdout).unwrap();
        lists.push(text.replace(&pkg, "PKG"));
        let path = tree.join("usr/lib/small/f2");
        // Hard links too: small's tree is a subvolume, which no hard link
        // reaches from another (the files are copied, as rsync would).
        let how = "in a copy of its own, so small's tree is unchanged";
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "ppd: overwrite: {pkg} edited {} in place; it is small's file, {how}\n",
                path.display()
            ),
            "{mode}"
        );
        assert_eq!(
            std::fs::read(pp.join("small/target/usr/lib/small/f2")).unwrap(),
            b"small 2\n"
        );
    }
    assert_eq!(lists[2], "PKG,./usr/lib/mine\nPKG,./usr/lib/small/f2\n");
    assert_eq!(lists[0], lists[2], "snapshot");
    assert_eq!(lists[1], lists[2], "reflink");
}

/// Buildroot makes each tree with `mkdir -p` before preparing it: an
/// empty directory without a manifest is replaced by the snapshot (or
/// subvolume) a missing tree would get, the dry run says so, the result
/// is the rsync loop's, and `rm -rf` (make clean) removes it. A tree
/// with something in it is kept and gets clones.
#[test]
fn a_tree_made_by_mkdir_becomes_a_snapshot() {
    if skip_without(&["rsync"]) {
        return;
    }
    let Some((im, pp)) = packages_on("btrfs", "btrfs-mkdir", "snapshot") else {
        return;
    };
    let sources = source_inodes(&pp);
    for mode in ["snapshot", "auto"] {
        let pkg = format!("pkg-{mode}");
        for tree in ["host", "target"] {
            std::fs::create_dir_all(pp.join(&pkg).join(tree)).unwrap();
        }
        std::fs::write(pp.join(&pkg).join("host/own"), "own\n").unwrap();
        let err = dry_prepare(&pp, &pkg, mode);
        let target = pp.join(&pkg).join("target");
        assert!(
            placement_line(&err, &target).contains("snapshot of big on btrfs: "),
            "{err}"
        );
        let out = prepare(&pp, &pkg, mode);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            placement_line(&err, &target).contains("snapshot of big on btrfs: "),
            "{err}"
        );
        assert!(
            placement_line(&err, &pp.join(&pkg).join("host")).contains("reflink on btrfs: "),
            "{err}"
        );
        assert_eq!(std::fs::metadata(&target).unwrap().ino(), 256);
        assert_eq!(
            std::fs::read(pp.join(&pkg).join("host/own")).unwrap(),
            b"own\n"
        );
        let theirs = im.mnt.join(format!("rsync-{mode}"));
        rsync_loop(&pp, "target", &theirs);
        assert_parity(&theirs, &target, &sources);
        let again = prepare(&pp, &pkg, mode);
        assert_replaced_nothing(
            &again.stderr,
            " 0 dirs created, ",
            &format!("{mode} re-run"),
        );
        ok(Command::new("rm").arg("-rf").arg(pp.join(&pkg)));
        assert!(!pp.join(&pkg).exists());
    }
}

/// The one-byte clone that tells whether XFS clones runs beside a tree
/// that does not exist yet, in the package's directory, which no run
/// sweeps: killed at each ioctl, it leaves nothing there, and the run
/// after converges.
#[test]
fn a_killed_clone_probe_leaves_no_temporaries() {
    if skip_without(&["strace"]) {
        return;
    }
    let Some((_im, pp)) = packages_on("xfs", "xfs-probe", "reflink") else {
        return;
    };
    let mut killed = 0;
    for n in 1..=4 {
        ok(Command::new("rm").arg("-rf").arg(pp.join("pkg")));
        std::fs::create_dir(pp.join("pkg")).unwrap();
        let out = run(&mut killed_prepare(&pp, "pkg", "reflink", "ioctl", n));
        killed += usize::from(out.status.signal() == Some(9));
        let again = prepare(&pp, "pkg", "reflink");
        let err = String::from_utf8_lossy(&again.stderr);
        assert!(
            placement_line(&err, &pp.join("pkg/target")).contains("reflink on xfs: "),
            "{err}"
        );
        let mut names: Vec<String> = std::fs::read_dir(pp.join("pkg"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".host.ppd-lock",
                ".host.ppd-manifest",
                ".target.ppd-lock",
                ".target.ppd-manifest",
                "host",
                "target"
            ],
            "killed at ioctl {n}"
        );
    }
    assert!(killed >= 2, "only {killed} runs were killed");
}

/// On XFS (which only a clone tells apart from a filesystem that cannot
/// clone) a dry run plans clones as the run makes them, and after the run
/// plans nothing; its probe leaves nothing behind.
#[test]
fn dry_run_on_xfs_plans_clones() {
    let Some((_im, pp)) = packages_on("xfs", "xfs-dry", "reflink") else {
        return;
    };
    let dry = |mode: &str| dry_prepare(&pp, "pkg", mode);
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(&pp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    for mode in ["reflink", "auto"] {
        let err = dry(mode);
        let line = placement_line(&err, &pp.join("pkg/target"));
        assert!(
            line.contains("reflink on xfs: ") && line.ends_with(" 0 fallbacks (dry run)"),
            "{mode}: {line}"
        );
        assert!(!line.contains(" 0 cloned"), "{mode}: {line}");
    }
    assert_eq!(listing(), before);
    prepare(&pp, "pkg", "reflink");
    let err = dry("reflink");
    assert_eq!(
        placement_line(&err, &pp.join("pkg/target")),
        format!(
            "ppd: link mode for {}: reflink on xfs: 0 from the snapshot, 0 cloned, 0 fallbacks \
             (dry run)",
            pp.join("pkg/target").display()
        )
    );
    assert_replaced_nothing(err.as_bytes(), " 0 dirs created, ", "dry run after the run");
}

/// A dependency tree whose last writing run died (its lock file marked)
/// may hold that run's temporaries, which listings skip and only that
/// tree's next run removes: it is not snapshotted (a snapshot would copy
/// them into the dependent for good); its files are cloned.
#[test]
fn an_interrupted_dependency_tree_is_not_snapshotted() {
    let Some((_im, pp)) = packages_on("btrfs", "btrfs-marked", "snapshot") else {
        return;
    };
    std::fs::write(
        pp.join("big/.target.ppd-lock"),
        "ppd: a run writing this tree has not finished\n",
    )
    .unwrap();
    std::fs::write(pp.join("big/target/usr/.ppd-tmp.999.0"), "left by a kill\n").unwrap();
    let out = prepare(&pp, "pkg", "snapshot");
    let err = String::from_utf8_lossy(&out.stderr);
    // Another dependency's tree may be snapshotted instead.
    assert!(
        !placement_line(&err, &pp.join("pkg/target")).contains("snapshot of big "),
        "{err}"
    );
    assert!(
        placement_line(&err, &pp.join("pkg/host")).contains("snapshot of big on btrfs: "),
        "{err}"
    );
    assert!(!pp.join("pkg/target/usr/.ppd-tmp.999.0").exists());
    assert_eq!(
        std::fs::read(pp.join("pkg/target/usr/lib/big/f7")).unwrap(),
        b"big 7\n"
    );
}
