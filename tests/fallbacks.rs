//! Where the kernel refuses a hard link, prepare ends with what `rsync -a
//! --hard-links --link-dest` gives: copies, with a dependency's hard-link
//! groups still groups; and a re-run changes nothing. Each case runs the
//! real rsync loop beside ppd and compares the trees.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::*;

const T0: i64 = 1_700_000_000;

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    set_mtime(p, T0, 0);
}

/// A dependency with a hard-link group of three names, a symlink, files in
/// subdirectories.
fn dependency(pp: &Path) {
    let h = pp.join("dep/host");
    write(&h.join("bin/tool"), "tool\n");
    std::fs::hard_link(h.join("bin/tool"), h.join("bin/tool-alias")).unwrap();
    std::fs::hard_link(h.join("bin/tool"), h.join("libexec/tool")).unwrap_or_else(|_| {
        std::fs::create_dir_all(h.join("libexec")).unwrap();
        std::fs::hard_link(h.join("bin/tool"), h.join("libexec/tool")).unwrap();
    });
    write(&h.join("lib/libd.so.1"), "libd\n");
    std::os::unix::fs::symlink("libd.so.1", h.join("lib/libd.so")).unwrap();
    set_mtime(&h.join("lib/libd.so"), T0, 0);
    write(&pp.join("dep/target/etc/d.conf"), "d\n");
    for (rel, s) in snapshot(&pp.join("dep")) {
        if s.kind == "d" {
            set_mtime(&at(&pp.join("dep"), &rel), T0, 0);
        }
    }
}

/// What is compared: per path, type, mode, mtime, size, symlink text,
/// content, and the link group (the first path with that inode); inode
/// numbers themselves differ between the two methods' copies.
type View = BTreeMap<
    String,
    (
        &'static str,
        u32,
        (i64, i64),
        u64,
        Option<Vec<u8>>,
        Vec<u8>,
        String,
    ),
>;

fn view(root: &Path) -> View {
    let mut groups: BTreeMap<(u64, u64), String> = BTreeMap::new();
    snapshot(root)
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, s)| {
            let path = String::from_utf8_lossy(&k).into_owned();
            let group = if s.kind == "f" {
                groups.entry((s.dev, s.ino)).or_insert(path.clone()).clone()
            } else {
                String::new()
            };
            let data = if s.kind == "f" {
                std::fs::read(at(root, &k)).unwrap()
            } else {
                Vec::new()
            };
            (
                path,
                (s.kind, s.mode, s.mtime, s.size, s.target, data, group),
            )
        })
        .collect()
}

fn rsync_loop(pp: &Path, dest: &Path, as_user: Option<&str>) {
    for tree in ["host", "target"] {
        let src = pp.join("dep").join(tree);
        let mut cmd = match as_user {
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.args([
                    &format!("--reuid={u}"),
                    "--regid=nogroup",
                    "--clear-groups",
                    "rsync",
                ]);
                c
            }
            None => Command::new("rsync"),
        };
        ok(cmd
            .args(["-a", "--hard-links"])
            .arg(format!("--link-dest={}/", src.display()))
            .arg(format!("{}/", src.display()))
            .arg(format!("{}/", dest.join(tree).display())));
    }
}

fn ppd_prepare(pp: &Path, dest: &Path, as_user: Option<&str>) -> String {
    let mut cmd = match as_user {
        Some(u) => {
            let mut c = Command::new("setpriv");
            c.args([&format!("--reuid={u}"), "--regid=nogroup", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_ppd"));
            c
        }
        None => ppd(),
    };
    let out = ok(cmd
        .args(["-v", "-j2", "prepare", "--per-package-dir"])
        .arg(pp)
        .args(["--pkg", "app", "--host-dir"])
        .arg(dest.join("host"))
        .arg("--target-dir")
        .arg(dest.join("target"))
        .arg("dep")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL"));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The number before `what` in the stats line (the last one, summed over
/// both trees by prepare itself).
fn stat(stats: &str, what: &str) -> u64 {
    let line = stats
        .lines()
        .rfind(|l| l.starts_with("ppd prepare:"))
        .unwrap();
    stat_count(line, what)
}

/// Runs ppd and the rsync loop from `pp` into destinations under
/// `dest_base`, compares, and checks that a re-run changes nothing.
fn compare_with_rsync(pp: &Path, dest_base: &Path, as_user: Option<&str>) -> String {
    let by_ppd = dest_base.join("ppd");
    let by_rsync = dest_base.join("rsync");
    for d in [&by_ppd, &by_rsync] {
        std::fs::create_dir_all(d).unwrap();
        if as_user.is_some() {
            ok(Command::new("chown").arg("nobody:nogroup").arg(d));
        }
    }
    let first = ppd_prepare(pp, &by_ppd, as_user);
    rsync_loop(pp, &by_rsync, as_user);
    for tree in ["host", "target"] {
        let (a, b) = (view(&by_ppd.join(tree)), view(&by_rsync.join(tree)));
        assert!(a == b, "{tree}: ppd {a:#?}\nrsync {b:#?}");
    }
    // The dependency's group stays a group.
    let h = by_ppd.join("host");
    let ino = |p: &str| h.join(p).metadata().unwrap().ino();
    assert_eq!(ino("bin/tool"), ino("bin/tool-alias"));
    assert_eq!(ino("bin/tool"), ino("libexec/tool"));
    let again = ppd_prepare(pp, &by_ppd, as_user);
    for what in ["linked", "replaced", "fallbacks", "removed", "kept as own"] {
        assert_eq!(stat(&again, what), 0, "{what} on a re-run: {again}");
    }
    first
}

/// [`dependency`] in a temporary directory on tmpfs (`/dev/shm`), another
/// filesystem than `disk`'s: (that directory, its per-package directory);
/// `None`, after recording a skip, where there is none.
#[track_caller]
fn dependency_on_shm(disk: &Path) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let shm = Path::new("/dev/shm");
    let dev = |p: &Path| p.metadata().map(|m| m.dev()).ok();
    if !shm.is_dir() || dev(shm) == dev(disk) {
        skip("/dev/shm is not a filesystem of its own");
        return None;
    }
    let s = tempfile::tempdir_in(shm).unwrap();
    let pp = s.path().join("per-package");
    dependency(&pp);
    Some((s, pp))
}

/// [`dependency`] in a temporary directory of mode 0755, which a test
/// running a step as another user may enter: (that directory, its
/// per-package directory).
fn dependency_for_another_user() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let mut perm = t.path().metadata().unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(t.path(), perm).unwrap();
    let pp = t.path().join("per-package");
    dependency(&pp);
    (t, pp)
}

/// Per-package trees on tmpfs (`/dev/shm`), the destination on the disk:
/// every link is `EXDEV`.
#[test]
fn across_filesystems_copies_keep_link_groups_and_a_rerun_changes_nothing() {
    if skip_without(&["rsync"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let Some((_s, pp)) = dependency_on_shm(t.path()) else {
        return;
    };
    let first = compare_with_rsync(&pp, t.path(), None);
    // 5 files, of which 2 are links to the group's copy.
    assert_eq!(stat(&first, "fallbacks"), 3, "{first}");
}

/// A dependency's file at the link-count limit (ext4: 65,000): `EMLINK`.
#[test]
fn at_the_link_count_limit_copies_keep_link_groups() {
    if skip_without(&["rsync"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    dependency(&pp);
    // Fill bin/tool's inode up to the limit from outside the tree.
    let side = t.path().join("side");
    std::fs::create_dir(&side).unwrap();
    let tool = pp.join("dep/host/bin/tool");
    let mut n = 0;
    loop {
        match std::fs::hard_link(&tool, side.join(n.to_string())) {
            Ok(()) => n += 1,
            Err(e) if e.raw_os_error() == Some(31) => break,
            Err(e) => panic!("{e}"),
        }
        if n > 70_000 {
            skip("this filesystem has no small link-count limit");
            return;
        }
    }
    let first = compare_with_rsync(&pp, t.path(), None);
    assert_eq!(stat(&first, "fallbacks"), 1, "{first}");
}

/// A user other than the files' owner under `fs.protected_hardlinks=1`
/// may not hard-link them (`EPERM`): rsync copies, and so does ppd.
#[test]
fn protected_hardlinks_for_another_user_fall_back_to_copies() {
    if skip_without(&["rsync", "setpriv"]) || skip_unless_root("setpriv --reuid=nobody") {
        return;
    }
    let protected = std::fs::read_to_string("/proc/sys/fs/protected_hardlinks").unwrap_or_default();
    if protected.trim() != "1" {
        skip("fs.protected_hardlinks is not 1");
        return;
    }
    let (t, pp) = dependency_for_another_user();
    let first = compare_with_rsync(&pp, t.path(), Some("nobody"));
    assert_eq!(stat(&first, "fallbacks"), 3, "{first}");
}

/// `finalize --mode hardlink` with the per-package trees on tmpfs and the
/// final tree on the disk: every link is `EXDEV`; the result is what
/// Buildroot's `rsync -a --hard-links` of each package gives (groups kept),
/// and a re-run changes nothing.
#[test]
fn finalize_hardlink_across_filesystems_gives_rsyncs_tree() {
    if skip_without(&["rsync"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let Some((_s, pp)) = dependency_on_shm(t.path()) else {
        return;
    };
    let by_ppd = t.path().join("ppd");
    let by_rsync = t.path().join("rsync");
    let finalize = || {
        let out = ok(ppd()
            .args(["-v", "finalize", "--mode", "hardlink", "--tree", "host"])
            .arg("--per-package-dir")
            .arg(&pp)
            .arg("--dest")
            .arg(&by_ppd)
            .arg("dep"));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = finalize();
    std::fs::create_dir_all(&by_rsync).unwrap();
    ok(Command::new("rsync")
        .args(["-a", "--hard-links"])
        .arg(format!("{}/", pp.join("dep/host").display()))
        .arg(format!("{}/", by_rsync.display())));
    let (a, b) = (view(&by_ppd), view(&by_rsync));
    assert!(a == b, "ppd {a:#?}\nrsync {b:#?}\n{first}");
    let ino = |p: &str| by_ppd.join(p).metadata().unwrap().ino();
    assert_eq!(ino("bin/tool"), ino("bin/tool-alias"));
    assert_eq!(ino("bin/tool"), ino("libexec/tool"));
    assert_ne!(
        ino("bin/tool"),
        pp.join("dep/host/bin/tool").metadata().unwrap().ino()
    );
    let again = finalize();
    assert!(again.contains(" 0 copied, 0 linked,"), "{again}");
    assert!(again.contains(" 0 replaced,"), "{again}");
}

/// As a user who may not create device nodes, `rsync -a` skips them
/// ("skipping non-regular file") and exits 0, copying fifos: prepare,
/// finalize and copy-tree give rsync's tree, exit 0 and name each skipped
/// node in a warning, on every run (before, `mknod`'s EPERM failed the
/// step, and prepare's link fallback opened the fifo as a file and hung).
#[test]
fn non_root_skips_device_nodes_as_rsync_does() {
    if skip_without(&["rsync", "setpriv", "mknod", "mkfifo"])
        || skip_unless_root("setpriv --reuid=nobody")
    {
        return;
    }
    let (t, pp) = dependency_for_another_user();
    let tgt = pp.join("dep/target");
    std::fs::create_dir(tgt.join("dev")).unwrap();
    ok(Command::new("mknod")
        .arg(tgt.join("dev/null"))
        .args(["c", "1", "3"]));
    ok(Command::new("mkfifo").arg(tgt.join("dev/initctl")));
    // Old times: rsync leaves a time alone that its copy already has to
    // the second, which a just-made source's has.
    for p in ["dev/null", "dev/initctl", "dev"] {
        set_mtime(&tgt.join(p), T0, 5);
    }
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    ok(Command::new("chown").arg("nobody:nogroup").arg(&out));
    let nobody = |args: &[&std::ffi::OsStr]| {
        let mut c = Command::new("timeout");
        c.args([
            "20",
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
        ]);
        c.args(args).env_remove("MAKEFLAGS").env_remove("MAKELEVEL");
        c
    };
    let exe = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_ppd"));
    let rs = out.join("rsync");
    let mut rsync = nobody(&["rsync".as_ref(), "-a".as_ref()]);
    rsync
        .arg(format!("{}/", tgt.display()))
        .arg(format!("{}/", rs.display()));
    let r = ok(&mut rsync);
    // rsync says so on stdout; ppd warns on stderr.
    let rerr = String::from_utf8_lossy(&r.stdout).into_owned();
    assert!(rerr.contains("dev/null"), "{rerr}");
    let p = |s: &Path| s.as_os_str().to_owned();
    let runs: Vec<(Vec<std::ffi::OsString>, std::path::PathBuf)> = vec![
        (
            ["finalize", "--tree", "target", "--per-package-dir"]
                .iter()
                .map(|s| s.into())
                .chain([p(&pp), "--dest".into(), p(&out.join("fin")), "dep".into()])
                .collect(),
            out.join("fin"),
        ),
        (
            vec!["copy-tree".into(), p(&tgt), p(&out.join("ct"))],
            out.join("ct"),
        ),
        (
            ["prepare", "--per-package-dir"]
                .iter()
                .map(|s| s.into())
                .chain([
                    p(&pp),
                    "--pkg".into(),
                    "app".into(),
                    "--host-dir".into(),
                    p(&out.join("pre/host")),
                    "--target-dir".into(),
                    p(&out.join("pre/target")),
                    "dep".into(),
                ])
                .collect(),
            out.join("pre/target"),
        ),
    ];
    for (args, dest) in runs {
        for round in 0..2 {
            let mut c = nobody(&[exe]);
            let o = run(c.args(&args));
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(0), "{args:?} round {round}: {err}");
            assert_eq!(
                err.trim_end(),
                format!(
                    "ppd: warning: skipping device node {}/dev/null: creating it needs root (CAP_MKNOD)",
                    dest.display()
                ),
                "{args:?}"
            );
            let (a, b) = (view(&dest), view(&rs));
            assert!(a == b, "{args:?}: ppd {a:?}\nrsync {b:?}");
        }
    }
}

/// A lock file its owner made unreadable (`chmod 000`) never fails a
/// prepare that rsync would finish: the owner's read and write bits are
/// given back and the run takes the lock (the same file: two runs still
/// exclude each other). Another user's unreadable lock file is one line,
/// exit 2, and left as it was.
#[test]
fn an_unreadable_lock_file_of_ones_own_is_given_back_its_owner_bits() {
    if skip_without(&["setpriv"]) || skip_unless_root("setpriv --reuid=nobody") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pp = t.path().join("per-package");
    write(&pp.join("dep/host/bin/tool"), "tool\n");
    std::fs::create_dir_all(pp.join("dep/target")).unwrap();
    std::fs::create_dir_all(pp.join("app")).unwrap();
    ok(Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(&pp));
    let prepare = || {
        run(Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_ppd"))
            .args(["prepare", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", "app", "dep"]))
    };
    let out = prepare();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lock = pp.join("app/.host.ppd-lock");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::remove_file(pp.join("app/host/bin/tool")).unwrap();
    let out = prepare();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(pp.join("app/host/bin/tool").is_file());
    assert_eq!(lock.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(lock.metadata().unwrap().len(), 0);
    // Another user's, unreadable.
    std::os::unix::fs::chown(&lock, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = prepare();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ppd: locking {}: cannot open its lock file {} (another user's): Permission denied\n",
            pp.join("app/host").display(),
            lock.display()
        )
    );
    assert_eq!(lock.metadata().unwrap().permissions().mode() & 0o777, 0);
}
