//! `ppd prepare` against the real rsync loop and under faults.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const NAMES: &[&[u8]] = &[
    b"lib",
    b"usr",
    b"include",
    b"bin",
    b"a file",
    b"new\nline",
    b"caf\xe9",
    b"x.pc",
    b"libz.so.1",
    b"share",
];

/// Builds a random tree: nested dirs, files, symlinks (relative, absolute,
/// dangling), hard-link groups, odd modes and nanosecond mtimes. Paths are
/// typed consistently across packages (a name is a directory at a given
/// depth or never), so that the rsync loop never hits a type clash.
fn random_tree(root: &Path, rng: &mut Rng, depth: u32, shared: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let n = 2 + rng.below(5);
    let mut files: Vec<PathBuf> = Vec::new();
    for _ in 0..n {
        let name = NAMES[rng.below(NAMES.len() as u64) as usize];
        let is_dir_name = matches!(name, b"lib" | b"usr" | b"include" | b"share" | b"bin");
        let p = root.join(OsStr::from_bytes(name));
        if p.symlink_metadata().is_ok() {
            continue;
        }
        if is_dir_name {
            if depth < 3 {
                random_tree(&p, rng, depth + 1, shared);
                if rng.below(5) == 0 {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
                }
                set_mtime(
                    &p,
                    1_600_000_000 + rng.below(1000) as i64,
                    rng.below(1_000_000_000) as u32,
                );
            }
            continue;
        }
        match rng.below(6) {
            0 => {
                let t: &[u8] = match rng.below(3) {
                    0 => b"libz.so.1",
                    1 => b"/usr/lib/absolute",
                    _ => b"../dangling/nowhere",
                };
                std::os::unix::fs::symlink(OsStr::from_bytes(t), &p).unwrap();
                set_mtime(
                    &p,
                    1_500_000_000 + rng.below(1000) as i64,
                    rng.below(1_000_000_000) as u32,
                );
            }
            1 => {
                // A file shared with other packages (same inode everywhere).
                let s = shared.join(format!("shared{}", rng.below(4)));
                if !s.exists() {
                    std::fs::write(&s, b"shared").unwrap();
                }
                std::fs::hard_link(&s, &p).unwrap();
            }
            _ => {
                std::fs::write(&p, format!("{}", rng.next())).unwrap();
                let mode = [0o644, 0o444, 0o755, 0o600][rng.below(4) as usize];
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
                set_mtime(
                    &p,
                    1_400_000_000 + rng.below(1000) as i64,
                    rng.below(1_000_000_000) as u32,
                );
                files.push(p);
            }
        }
    }
    // A hard-link group inside this package.
    if let Some(f) = files.first() {
        let g = root.join("group-link");
        if g.symlink_metadata().is_err() {
            std::fs::hard_link(f, g).unwrap();
        }
    }
}

fn rsync_loop(ppd_dir: &Path, deps: &[&str], tree: &str, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for d in deps {
        let src = format!("{}/{}/{}/", ppd_dir.display(), d, tree);
        let out = Command::new("rsync")
            .args(["-a", "--hard-links"])
            .arg(format!("--link-dest={src}"))
            .arg(&src)
            .arg(dest)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rsync: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Compares two destination trees entry by entry. Regular files must be the
/// same inode (both are links to the winning dependency's file); everything
/// else must agree on type, mode, owner, mtime and symlink text.
fn assert_same_tree(a: &BTreeMap<Vec<u8>, Snap>, b: &BTreeMap<Vec<u8>, Snap>) {
    let ka: Vec<_> = a.keys().collect();
    let kb: Vec<_> = b.keys().collect();
    assert_eq!(ka, kb, "different entries");
    for (k, x) in a {
        let y = &b[k];
        let p = String::from_utf8_lossy(k);
        assert_eq!(x.kind, y.kind, "type of {p}");
        assert_eq!(x.target, y.target, "symlink target of {p}");
        assert_eq!((x.uid, x.gid), (y.uid, y.gid), "owner of {p}");
        assert_eq!(x.mtime, y.mtime, "mtime of {p}");
        if x.kind != "l" {
            assert_eq!(x.mode, y.mode, "mode of {p}");
        }
        if x.kind == "f" {
            assert_eq!((x.dev, x.ino), (y.dev, y.ino), "inode of {p}");
        }
    }
}

fn make_packages(root: &Path, seed: u64, n: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    let shared = root.join("shared-pool");
    std::fs::create_dir_all(&shared).unwrap();
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("pkg{i}");
        for tree in ["host", "target"] {
            let t = root.join("per-package").join(&name).join(tree);
            random_tree(&t, &mut rng, 0, &shared);
            set_mtime(&t, 1_300_000_000 + i as i64, 123_456_789);
        }
        names.push(name);
    }
    names
}

#[test]
fn parity_with_the_rsync_loop_on_random_trees() {
    if common::skip_without(&["rsync"]) {
        return;
    }
    for seed in [1u64, 7, 42, 1234, 99999] {
        let t = tempfile::tempdir().unwrap();
        let names = make_packages(t.path(), seed, 5);
        let deps: Vec<&str> = names.iter().map(String::as_str).collect();
        let ppd_dir = t.path().join("per-package");
        for tree in ["host", "target"] {
            rsync_loop(&ppd_dir, &deps, tree, &t.path().join("rsync").join(tree));
        }
        let mut cmd = ppd();
        cmd.args(["prepare", "--conflicts", "ignore", "--per-package-dir"])
            .arg(&ppd_dir)
            .arg("--host-dir")
            .arg(t.path().join("ppd/host"))
            .arg("--target-dir")
            .arg(t.path().join("ppd/target"))
            .args(&deps);
        ok(&mut cmd);
        for tree in ["host", "target"] {
            let a = snapshot(&t.path().join("rsync").join(tree));
            let b = snapshot(&t.path().join("ppd").join(tree));
            assert!(a.len() > 5, "seed {seed}: tree too small to mean anything");
            assert_same_tree(&a, &b);
        }
    }
}

fn pkg_file(root: &Path, pkg: &str, tree: &str, rel: &str, data: &str) -> PathBuf {
    let p = root.join("per-package").join(pkg).join(tree).join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    p
}

fn prepare(root: &Path, pkg: &str, deps: &[&str], extra: &[&str]) -> std::process::Output {
    let mut cmd = ppd();
    cmd.arg("prepare")
        .arg("--per-package-dir")
        .arg(root.join("per-package"))
        .args(["--pkg", pkg])
        .args(extra)
        .args(deps);
    run(&mut cmd)
}

#[test]
fn conflicts_name_every_package_and_the_winner() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    pkg_file(r, "libbpf", "host", "include/linux/bpf.h", "new");
    pkg_file(r, "toolchain", "host", "include/linux/bpf.h", "old");
    pkg_file(r, "zlib", "host", "include/linux/bpf.h", "zzz");
    for p in ["libbpf", "toolchain", "zlib"] {
        std::fs::create_dir_all(r.join("per-package").join(p).join("target")).unwrap();
    }
    let out = prepare(r, "bpftrace", &["libbpf", "toolchain", "zlib"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let dest = r.join("per-package/bpftrace/host/include/linux/bpf.h");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: conflict: {} is provided differently by libbpf (file), toolchain (file), \
             zlib (file); zlib wins\n",
            dest.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "zzz");
    let out = prepare(
        r,
        "bpftrace",
        &["libbpf", "toolchain", "zlib"],
        &["--conflicts=error"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "zzz");
    let out = prepare(
        r,
        "bpftrace",
        &["zlib", "toolchain"],
        &["--conflicts=ignore"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "old",
        "last one wins"
    );
}

#[test]
fn the_same_inode_through_two_dependencies_is_not_a_conflict() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let a = pkg_file(r, "a", "host", "lib/liba.so", "A");
    std::fs::create_dir_all(r.join("per-package/a/target")).unwrap();
    // b's PPD holds a's file through a hard link, as after b's own prepare.
    let out = prepare(r, "b", &["a"], &[]);
    assert!(out.status.success());
    let out = prepare(r, "c", &["a", "b"], &[]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = r.join("per-package/c/host/lib/liba.so");
    assert_eq!(c.metadata().unwrap().ino(), a.metadata().unwrap().ino());
    assert_eq!(a.metadata().unwrap().nlink(), 3);
}

#[test]
fn rerun_is_a_no_op_with_the_same_result() {
    let t = tempfile::tempdir().unwrap();
    let names = make_packages(t.path(), 5, 4);
    let deps: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = prepare(t.path(), "me", &deps, &["--conflicts=ignore", "-v"]);
    assert!(out.status.success());
    let before = (
        snapshot(&t.path().join("per-package/me/host")),
        snapshot(&t.path().join("per-package/me/target")),
    );
    let out = prepare(t.path(), "me", &deps, &["--conflicts=ignore", "-v"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(" 0 linked, 0 dirs created, 0 symlinks, 0 replaced,"),
        "{err}"
    );
    let after = (
        snapshot(&t.path().join("per-package/me/host")),
        snapshot(&t.path().join("per-package/me/target")),
    );
    assert_eq!(before, after);
}

#[test]
fn a_missing_dependency_is_an_error_naming_package_and_path() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    pkg_file(r, "a", "host", "x", "x");
    std::fs::create_dir_all(r.join("per-package/a/target")).unwrap();
    let out = prepare(r, "me", &["a", "ghost"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: missing dependency tree of package ghost: no package ghost in {}\n",
            r.join("per-package").display()
        )
    );
    let out = prepare(r, "me", &["a", "ghost"], &["--allow-missing"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(r.join("per-package/me/host/x").exists());
}

#[test]
fn no_dependencies_just_creates_the_trees() {
    let t = tempfile::tempdir().unwrap();
    let out = prepare(t.path(), "host-skeleton", &[], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.path().join("per-package/host-skeleton/host").is_dir());
    assert!(t.path().join("per-package/host-skeleton/target").is_dir());
    let m = std::fs::read_to_string(
        t.path()
            .join("per-package/host-skeleton/.host.ppd-manifest"),
    );
    assert_eq!(m.unwrap(), "ppd-manifest 2\nend 0\n");
}

#[test]
fn bad_usage_exits_2() {
    let out = run(ppd().args(["prepare", "--per-package-dir", "/nonexistent"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(ppd().args([
        "prepare",
        "--per-package-dir",
        "/x",
        "--pkg",
        "p",
        "../evil",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ppd: prepare ../evil: not a package name (a package name is one path component: \
         not empty, no '/', not '.' or '..')\n"
    );
}

#[test]
fn symlinks_in_the_destination_never_lead_outside() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    pkg_file(r, "a", "host", "lib/libx.so", "x");
    pkg_file(r, "a", "host", "usr/bin/tool", "t");
    std::fs::create_dir_all(r.join("per-package/a/target")).unwrap();
    let outside = r.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let dest = r.join("per-package/me/host");
    std::fs::create_dir_all(&dest).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("lib")).unwrap();
    std::os::unix::fs::symlink("../../../outside", dest.join("usr")).unwrap();
    let out = prepare(r, "me", &["a"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "wrote outside"
    );
    assert!(dest.join("lib").symlink_metadata().unwrap().is_dir());
    assert!(dest.join("lib/libx.so").exists());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "ppd: conflict: {} is a symlink in the destination where a dependency provides a \
             directory; replaced",
            dest.join("lib").display()
        )),
        "{err}"
    );
    let out = prepare(r, "me", &["a"], &["--conflicts=error"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "second run has nothing to clash with"
    );
}

#[test]
fn a_directory_where_a_file_belongs_is_kept_and_reported() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    pkg_file(r, "a", "host", "etc/conf", "x");
    std::fs::create_dir_all(r.join("per-package/a/target")).unwrap();
    let dest = r.join("per-package/me/host");
    std::fs::create_dir_all(dest.join("etc/conf/keep")).unwrap();
    let out = prepare(r, "me", &["a"], &["--conflicts=error"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(dest.join("etc/conf/keep").is_dir());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory in the destination"));
}

#[test]
fn thread_count_does_not_change_the_result() {
    let t = tempfile::tempdir().unwrap();
    let names = make_packages(t.path(), 77, 6);
    let deps: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut snaps = Vec::new();
    for j in ["1", "8"] {
        let pkg = format!("me{j}");
        let out = prepare(t.path(), &pkg, &deps, &["--conflicts=ignore", "-j", j]);
        assert!(out.status.success());
        let mut s = snapshot(&t.path().join("per-package").join(&pkg).join("host"));
        s.extend(
            snapshot(&t.path().join("per-package").join(&pkg).join("target"))
                .into_iter()
                .map(|(mut k, v)| {
                    k.insert(0, b'T');
                    (k, v)
                }),
        );
        for v in s.values_mut() {
            if v.kind != "f" {
                v.ino = 0;
            }
            v.nlink = 0;
        }
        snaps.push(s);
    }
    assert_eq!(snaps[0], snaps[1]);
}

#[test]
fn cross_filesystem_sources_fall_back_to_copies() {
    let shm = Path::new("/dev/shm");
    let t = tempfile::tempdir().unwrap();
    let Ok(src_root) = tempfile::tempdir_in(shm) else {
        common::skip("no /dev/shm for a second filesystem");
        return;
    };
    if src_root.path().metadata().unwrap().dev() == t.path().metadata().unwrap().dev() {
        common::skip("/dev/shm is on the same filesystem");
        return;
    }
    let src = pkg_file(src_root.path(), "a", "host", "lib/x", "payload");
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
    set_mtime(&src, 1_234_567_890, 987_654_321);
    std::fs::create_dir_all(src_root.path().join("per-package/a/target")).unwrap();
    let link = src.parent().unwrap().join("x.link");
    std::os::unix::fs::symlink("x", &link).unwrap();
    set_mtime(&link, 1_111_111_111, 222_333_444);
    let mut cmd = ppd();
    cmd.args(["-v", "prepare", "--per-package-dir"])
        .arg(src_root.path().join("per-package"))
        .arg("--host-dir")
        .arg(t.path().join("host"))
        .arg("a");
    let out = ok(&mut cmd);
    assert!(String::from_utf8_lossy(&out.stderr).contains(" 1 fallbacks,"));
    let d = t.path().join("host/lib/x");
    let (sm, dm) = (src.metadata().unwrap(), d.metadata().unwrap());
    assert_eq!(std::fs::read(&d).unwrap(), b"payload");
    assert_eq!(dm.mode() & 0o7777, 0o640);
    assert_eq!((dm.mtime(), dm.mtime_nsec()), (sm.mtime(), sm.mtime_nsec()));
    assert_ne!(dm.dev(), sm.dev());
    // The symlink cannot be linked across filesystems either: recreated.
    let dl = t.path().join("host/lib/x.link");
    let lm = dl.symlink_metadata().unwrap();
    assert_eq!(std::fs::read_link(&dl).unwrap(), Path::new("x"));
    assert_eq!((lm.mtime(), lm.mtime_nsec()), (1_111_111_111, 222_333_444));
}

#[test]
fn symlinks_share_the_dependency_inode() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let lib = pkg_file(r, "a", "host", "lib/libz.so.1", "z");
    std::fs::create_dir_all(r.join("per-package/a/target")).unwrap();
    let link = lib.parent().unwrap().join("libz.so");
    std::os::unix::fs::symlink("libz.so.1", &link).unwrap();
    assert!(prepare(r, "b", &["a"], &[]).status.success());
    assert!(prepare(r, "c", &["a", "b"], &[]).status.success());
    let (a, c) = (
        link.symlink_metadata().unwrap(),
        r.join("per-package/c/host/lib/libz.so")
            .symlink_metadata()
            .unwrap(),
    );
    assert!(c.file_type().is_symlink());
    assert_eq!((a.dev(), a.ino()), (c.dev(), c.ino()));
    assert_eq!(a.nlink(), 3);
}

#[test]
fn a_killed_run_converges_when_run_again() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for i in 0..3000 {
        pkg_file(r, "big", "host", &format!("d{}/f{i}", i % 50), "x");
    }
    std::fs::create_dir_all(r.join("per-package/big/target")).unwrap();
    let out = prepare(r, "clean", &["big"], &[]);
    assert!(out.status.success());
    let want = snapshot(&r.join("per-package/clean/host"));
    for delay_ms in [2u64, 8, 20] {
        let pkg = format!("killed{delay_ms}");
        let mut child = ppd()
            .args(["prepare", "-j", "1", "--per-package-dir"])
            .arg(r.join("per-package"))
            .args(["--pkg", &pkg, "big"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let out = prepare(r, &pkg, &["big"], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = snapshot(&r.join("per-package").join(&pkg).join("host"));
        let strip = |m: &BTreeMap<Vec<u8>, Snap>| -> Vec<(Vec<u8>, &'static str, u64, u32)> {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.kind,
                        if v.kind == "f" { v.ino } else { 0 },
                        v.mode,
                    )
                })
                .collect()
        };
        assert_eq!(strip(&want), strip(&got), "after kill at {delay_ms} ms");
        assert!(!got.keys().any(|k| k.windows(8).any(|w| w == b".ppd-tmp")));
    }
}

/// Holds `<parent>/.<tree>.ppd-lock` as another ppd would, starts `cmd`,
/// and checks that it waits: it has not finished (and `watch` is unchanged)
/// while the lock is held, and completes once it is released. Without the
/// lock the command would finish its small job well within the wait.
fn waits_for_the_lock(lock: &Path, watch: &Path, cmd: &mut Command) {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .unwrap();
    f.lock().unwrap();
    let before = snapshot(watch);
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(st) = child.try_wait().unwrap() {
            panic!("{cmd:?} finished ({st}) while another process held {lock:?}");
        }
    }
    assert_eq!(snapshot(watch), before, "changed while the lock was held");
    f.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prepare_and_finalize_wait_for_the_tree_lock() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    pkg_file(r, "a", "host", "lib/x", "a");
    std::fs::create_dir_all(r.join("per-package/a/target")).unwrap();
    std::fs::create_dir_all(r.join("per-package/me/host")).unwrap();
    let pp = r.join("per-package");
    waits_for_the_lock(
        &pp.join("me/.host.ppd-lock"),
        &pp.join("me"),
        ppd()
            .args(["prepare", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", "me", "a"]),
    );
    assert!(pp.join("me/host/lib/x").exists());

    std::fs::create_dir_all(r.join("out/host")).unwrap();
    waits_for_the_lock(
        &r.join("out/.host.ppd-lock"),
        &r.join("out"),
        ppd()
            .args(["finalize", "--per-package-dir"])
            .arg(&pp)
            .args(["--tree", "host", "--dest"])
            .arg(r.join("out/host"))
            .arg("a"),
    );
    assert!(r.join("out/host/lib/x").exists());
}

#[test]
fn concurrent_runs_on_one_tree_serialize() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for i in 0..1500 {
        pkg_file(r, "a", "host", &format!("d{}/a{i}", i % 30), "a");
        pkg_file(r, "b", "host", &format!("d{}/b{i}", i % 30), "b");
    }
    for p in ["a", "b"] {
        std::fs::create_dir_all(r.join("per-package").join(p).join("target")).unwrap();
    }
    // Two runs at once on the same destination, as overlapping make steps
    // or a user re-running by hand would start them.
    let spawn = || {
        ppd()
            .args(["prepare", "--per-package-dir"])
            .arg(r.join("per-package"))
            .args(["--pkg", "me", "a", "b"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (spawn(), spawn());
    for child in [one, two] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(prepare(r, "clean", &["a", "b"], &[]).status.success());
    let shape = |p: &str| -> Vec<(Vec<u8>, &'static str, u64)> {
        snapshot(&r.join("per-package").join(p).join("host"))
            .into_iter()
            .map(|(k, v)| (k, v.kind, if v.kind == "f" { v.ino } else { 0 }))
            .collect()
    };
    assert_eq!(shape("me"), shape("clean"));
    let m = std::fs::read_to_string(r.join("per-package/me/.host.ppd-manifest")).unwrap();
    let end = m.lines().last().unwrap();
    assert!(
        end.starts_with("end 3000 root ") && m.ends_with('\n'),
        "manifest intact: {end}"
    );
}
