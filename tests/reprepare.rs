//! Re-preparation after dependencies changed: the ownership rule (an entry
//! that still carries the inode prepare placed is a dependency's, edited in
//! place or not), equal content under two inodes, and convergence to what
//! a fresh prepare gives.

mod common;

use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// Rewrites a file through its inode, as `sed ... > file` does: every hard
/// link to it sees the new content.
fn write_in_place(p: &Path, data: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(p)
        .unwrap();
    f.write_all(data.as_bytes()).unwrap();
}

/// Replaces a file with a new inode, as `sed -i` does.
fn write_new_inode(p: &Path, data: &str) {
    let tmp = p.with_extension("new");
    std::fs::write(&tmp, data).unwrap();
    std::fs::rename(&tmp, p).unwrap();
}

/// A dependency's rebuild writes its file through the inode every dependent
/// shares, then replaces it with a new inode (Buildroot's config-script
/// fixup): the dependent's entry still carries the inode prepare placed, so
/// it is the dependency's, and the next prepare replaces it as the rsync
/// loop does, instead of keeping the stale content as the package's own.
#[test]
fn a_placed_inode_edited_in_place_is_still_the_dependencys() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let cfg = pp.join("zlib/host/bin/zlib-config");
    write(&cfg, "v1\n");
    write(&pp.join("zlib/host/lib/libz.a"), "z");
    std::fs::create_dir_all(pp.join("zlib/target")).unwrap();
    prepare_v(&pp, "libfoo", &[], &["zlib"]);
    let mine = pp.join("libfoo/host/bin/zlib-config");
    assert_eq!(
        mine.metadata().unwrap().ino(),
        cfg.metadata().unwrap().ino()
    );
    // zlib-rebuild: the install writes through the shared inode...
    write_in_place(&cfg, "v2 longer\n");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "v2 longer\n");
    // ...and the fixup step then gives zlib's file a new inode.
    write_new_inode(&cfg, "v3\n");
    let (stats, err) = prepare_v(&pp, "libfoo", &[], &["zlib"]);
    assert_eq!(err, "");
    assert_eq!(stat_count(&stats, "kept as own"), 0, "{stats}");
    assert_eq!(stat_count(&stats, "replaced"), 1, "{stats}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "v3\n");
    assert_eq!(
        mine.metadata().unwrap().ino(),
        cfg.metadata().unwrap().ino()
    );
    // The same when zlib drops the file after editing it in place: the
    // entry is removed, as a fresh prepare would not have it.
    write_in_place(&cfg, "v4 edited in place\n");
    std::fs::remove_file(&cfg).unwrap();
    let (stats, _) = prepare_v(&pp, "libfoo", &[], &["zlib"]);
    assert_eq!(stat_count(&stats, "removed"), 1, "{stats}");
    assert!(!mine.exists());
    prepare_v(&pp, "clean", &[], &["zlib"]);
    assert_eq!(
        shape(&pp.join("libfoo/host")),
        shape(&pp.join("clean/host"))
    );
    // And a re-run changes nothing.
    let (stats, _) = prepare_v(&pp, "libfoo", &[], &["zlib"]);
    for what in ["linked", "replaced", "removed", "kept as own"] {
        assert_eq!(stat_count(&stats, what), 0, "{what}: {stats}");
    }
}

/// What the package installed itself over a dependency's file (a new
/// inode) stays its own, whatever the dependency does later.
#[test]
fn the_packages_own_file_is_kept() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let cfg = pp.join("zlib/host/bin/zlib-config");
    write(&cfg, "v1\n");
    std::fs::create_dir_all(pp.join("zlib/target")).unwrap();
    prepare_v(&pp, "libfoo", &[], &["zlib"]);
    let mine = pp.join("libfoo/host/bin/zlib-config");
    write_new_inode(&mine, "libfoo's own\n");
    write_new_inode(&cfg, "v2\n");
    let (stats, _) = prepare_v(&pp, "libfoo", &[], &["zlib"]);
    assert_eq!(stat_count(&stats, "kept as own"), 1, "{stats}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "libfoo's own\n");
    std::fs::remove_file(&cfg).unwrap();
    let (stats, _) = prepare_v(&pp, "libfoo", &[], &["zlib"]);
    assert_eq!(stat_count(&stats, "removed"), 0, "{stats}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "libfoo's own\n");
}

/// Two packages installing the same bytes with the same mode under their
/// own inodes give the same tree whichever wins: not a conflict. Different
/// bytes, or the same bytes with another mode, are.
#[test]
fn equal_content_under_two_inodes_is_not_a_conflict() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    for pkg in ["a", "b"] {
        write(&pp.join(pkg).join("host/etc/same.conf"), "same\n");
        write(&pp.join(pkg).join("host/etc/mode.conf"), "mode\n");
        write(&pp.join(pkg).join("host/etc/other.conf"), pkg);
        write(&pp.join(pkg).join("host/etc/big.bin"), &"x".repeat(200_000));
        std::fs::create_dir_all(pp.join(pkg).join("target")).unwrap();
    }
    // Same length, differs only at the end.
    write(&pp.join("b/host/etc/big.bin"), &("x".repeat(199_999) + "y"));
    let mode = pp.join("b/host/etc/mode.conf");
    let mut perm = mode.metadata().unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o600);
    std::fs::set_permissions(&mode, perm).unwrap();
    let (_, err) = prepare_v(&pp, "app", &[], &["a", "b"]);
    let dest = pp.join("app/host/etc");
    let line = |n: &str| {
        format!(
            "ppd: conflict: {} is provided differently by a (file), b (file); b wins\n",
            dest.join(n).display()
        )
    };
    assert_eq!(
        err,
        [line("big.bin"), line("mode.conf"), line("other.conf")].concat()
    );
    assert_eq!(
        dest.join("same.conf").metadata().unwrap().ino(),
        pp.join("b/host/etc/same.conf").metadata().unwrap().ino(),
        "the last dependency still wins"
    );
}

/// A dependency turns a directory into a symlink, a file into a directory,
/// a symlink into a file, and drops a whole directory: the re-prepared
/// tree is exactly what a fresh prepare gives, without a warning, and a
/// re-run changes nothing.
#[test]
fn reprepare_converges_after_type_changes() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let a = pp.join("a/host");
    write(&a.join("lib/liba.so"), "a");
    write(&a.join("lib64/liba64.so"), "a64");
    write(&a.join("lib64/sub/deep.so"), "deep");
    write(&a.join("etc/conf"), "file");
    std::os::unix::fs::symlink("lib", a.join("libx")).unwrap();
    write(&a.join("share/doc/a/README"), "doc");
    std::fs::create_dir_all(pp.join("a/target")).unwrap();
    prepare_v(&pp, "app", &[], &["a"]);
    // a's rebuild.
    std::fs::remove_dir_all(a.join("lib64")).unwrap();
    std::os::unix::fs::symlink("lib", a.join("lib64")).unwrap();
    std::fs::remove_file(a.join("etc/conf")).unwrap();
    write(&a.join("etc/conf/main.conf"), "now a directory");
    std::fs::remove_file(a.join("libx")).unwrap();
    write(&a.join("libx"), "now a file");
    std::fs::remove_dir_all(a.join("share")).unwrap();
    let (stats, err) = prepare_v(&pp, "app", &[], &["a"]);
    assert_eq!(err, "", "{stats}");
    prepare_v(&pp, "fresh", &[], &["a"]);
    assert_eq!(shape(&pp.join("app/host")), shape(&pp.join("fresh/host")));
    let lib64 = pp.join("app/host/lib64");
    assert_eq!(
        lib64.symlink_metadata().unwrap().ino(),
        a.join("lib64").symlink_metadata().unwrap().ino()
    );
    let (stats, err) = prepare_v(&pp, "app", &[], &["a"]);
    assert_eq!(err, "");
    for what in [
        "linked",
        "replaced",
        "removed",
        "kept as own",
        "dirs created",
    ] {
        assert_eq!(stat_count(&stats, what), 0, "{what}: {stats}");
    }
}

/// A directory a dependency no longer provides stays while the package's
/// own files are in it: they are never removed.
#[test]
fn a_directory_holding_the_packages_files_is_kept() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let a = pp.join("a/host");
    write(&a.join("lib64/liba64.so"), "a64");
    std::fs::create_dir_all(pp.join("a/target")).unwrap();
    prepare_v(&pp, "app", &[], &["a"]);
    write(&pp.join("app/host/lib64/mine.so"), "mine");
    std::fs::remove_dir_all(a.join("lib64")).unwrap();
    std::os::unix::fs::symlink("lib", a.join("lib64")).unwrap();
    let (stats, _) = prepare_v(&pp, "app", &[], &["a"]);
    assert_eq!(stat_count(&stats, "removed"), 1, "{stats}");
    assert_eq!(
        std::fs::read_to_string(pp.join("app/host/lib64/mine.so")).unwrap(),
        "mine"
    );
    assert!(!pp.join("app/host/lib64/liba64.so").exists());
}

/// A dependency's empty directory that becomes a symlink (`var/run/` to
/// `var/run -> ../run`) or a file: the re-prepared tree, a re-finalized
/// tree and a re-copied tree get the new entry, as a fresh run (and rsync,
/// which removes an empty directory in the way) gives, with no conflict
/// reported; a directory with the package's own file in it is kept.
#[test]
fn an_empty_directory_a_dependency_turned_into_a_symlink_or_file_gives_way() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("pp");
    let a = pp.join("a/host");
    std::fs::create_dir_all(a.join("var/run")).unwrap();
    std::fs::create_dir_all(a.join("etc/x")).unwrap();
    std::fs::create_dir_all(a.join("etc/full")).unwrap();
    std::fs::create_dir_all(pp.join("a/target")).unwrap();
    let prepare = |pkg: &str| {
        ok(ppd()
            .arg("prepare")
            .arg("--per-package-dir")
            .arg(&pp)
            .args(["--pkg", pkg, "a"]))
    };
    let finalize = || {
        ok(ppd()
            .arg("finalize")
            .arg("--per-package-dir")
            .arg(&pp)
            .args(["--tree", "host", "--dest"])
            .arg(r.join("out"))
            .arg("a"))
    };
    let copy = || ok(ppd().arg("copy-tree").arg(&a).arg(r.join("ct")));
    prepare("c");
    finalize();
    copy();
    // The package's own file inside a directory of the dependency.
    write(&pp.join("c/host/etc/full/own"), "own\n");
    std::fs::remove_dir(a.join("var/run")).unwrap();
    std::os::unix::fs::symlink("../run", a.join("var/run")).unwrap();
    std::fs::remove_dir(a.join("etc/x")).unwrap();
    write(&a.join("etc/x"), "x\n");
    std::fs::remove_dir(a.join("etc/full")).unwrap();
    write(&a.join("etc/full"), "full\n");
    // The dry runs tell what the runs then do: the empty directories give
    // way, only the full one is reported.
    let dry = |args: &[&std::ffi::OsStr]| ok(ppd().arg(args[0]).arg("-n").args(&args[1..]));
    let (ppo, outo, cto) = (pp.as_os_str(), r.join("out"), r.join("ct"));
    for out in [
        dry(&[
            "prepare".as_ref(),
            "--per-package-dir".as_ref(),
            ppo,
            "--pkg".as_ref(),
            "c".as_ref(),
            "a".as_ref(),
        ]),
        dry(&[
            "finalize".as_ref(),
            "--per-package-dir".as_ref(),
            ppo,
            "--tree".as_ref(),
            "host".as_ref(),
            "--dest".as_ref(),
            outo.as_os_str(),
            "a".as_ref(),
        ]),
        dry(&["copy-tree".as_ref(), a.as_os_str(), cto.as_os_str()]),
    ] {
        let err = String::from_utf8_lossy(&out.stderr);
        let plan = String::from_utf8_lossy(&out.stdout);
        assert!(
            err.lines().all(|l| l.contains("etc/full")),
            "unexpected report in the dry run: {err}"
        );
        assert!(
            plan.contains("var/run"),
            "the dry run places no var/run: {plan}"
        );
    }
    assert!(pp.join("c/host/var/run").is_dir());
    for out in [prepare("c"), finalize(), copy()] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines().all(|l| l.contains("etc/full")),
            "unexpected report: {err}"
        );
    }
    prepare("fresh");
    for tree in [
        pp.join("c/host"),
        r.join("out"),
        r.join("ct"),
        pp.join("fresh/host"),
    ] {
        let run = tree.join("var/run");
        assert_eq!(
            std::fs::read_link(&run).unwrap(),
            Path::new("../run"),
            "{}",
            run.display()
        );
        assert_eq!(std::fs::read_to_string(tree.join("etc/x")).unwrap(), "x\n");
    }
    assert!(pp.join("c/host/etc/full/own").is_file());
    // Nothing left to change.
    let again = prepare("c");
    assert!(String::from_utf8_lossy(&again.stderr)
        .lines()
        .all(|l| l.contains("etc/full")));
}

/// Empty directories a dependency stops providing (`var/empty/`, a
/// nested `usr/share/x/y/`) are removed by the next prepare that lists
/// it, as a fresh prepare would not have them; one that another step's
/// prepare placed (a dependency this call does not list) stays, and so
/// does an empty directory the package made itself. Before, nothing
/// recorded an empty directory as a dependency's, and they stayed.
#[test]
fn empty_directories_a_dependency_stops_providing_go() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let a = pp.join("a/host");
    for d in ["var/empty", "usr/share/x/y", "keep/e"] {
        std::fs::create_dir_all(a.join(d)).unwrap();
    }
    write(&a.join("etc/conf"), "a");
    std::fs::create_dir_all(pp.join("a/target")).unwrap();
    std::fs::create_dir_all(pp.join("tar/host/opt/e")).unwrap();
    std::fs::create_dir_all(pp.join("tar/target")).unwrap();
    // The extract step's list, then the configure step's.
    prepare_v(&pp, "app", &[], &["tar"]);
    prepare_v(&pp, "app", &[], &["a"]);
    std::fs::create_dir(pp.join("app/host/mine")).unwrap();
    std::fs::remove_dir_all(a.join("var/empty")).unwrap();
    std::fs::remove_dir_all(a.join("usr")).unwrap();
    let (dry, _) = prepare_v(&pp, "app", &["-n"], &["a"]);
    assert_eq!(stat_count(&dry, "removed"), 5, "{dry}");
    let (stats, err) = prepare_v(&pp, "app", &[], &["a"]);
    assert_eq!(err, "", "{stats}");
    assert_eq!(stat_count(&stats, "removed"), 5, "{stats}");
    prepare_v(&pp, "fresh", &[], &["tar"]);
    prepare_v(&pp, "fresh", &[], &["a"]);
    std::fs::create_dir(pp.join("fresh/host/mine")).unwrap();
    assert_eq!(shape(&pp.join("app/host")), shape(&pp.join("fresh/host")));
    assert!(pp.join("app/host/var").is_dir() && pp.join("app/host/opt/e").is_dir());
    let (stats, _) = prepare_v(&pp, "app", &[], &["a"]);
    assert_eq!(stat_count(&stats, "removed"), 0, "{stats}");
    // The extract step's dependency drops its directory too.
    std::fs::remove_dir_all(pp.join("tar/host/opt")).unwrap();
    prepare_v(&pp, "app", &[], &["tar"]);
    assert!(!pp.join("app/host/opt").exists());
    assert!(pp.join("app/host/mine").is_dir() && pp.join("app/host/keep/e").is_dir());
}
