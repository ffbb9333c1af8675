//! `ppd check-rpath` and `ppd fix-rpath` on real binaries built with gcc at
//! test time: the Buildroot-compatible check against the script run side
//! by side, the audit against planted problems and this machine's system
//! libraries, and fix-rpath's rewrites run, compared with readelf and
//! patchelf, and checked down to inodes, modes and nanosecond mtimes.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ok, ppd, run, set_mtime};

/// Returns false (after recording a skip) when gcc or readelf is missing.
fn have_gcc() -> bool {
    !common::skip_without(&["gcc", "readelf"])
}

fn sh(cmd: &str, dir: &Path) {
    ok(Command::new("sh").arg("-c").arg(cmd).current_dir(dir));
}

/// Makes `t/src` with the sources of a library pair and a program (prog
/// -> libbar -> libfoo); returns its path.
fn sources(t: &Path) -> PathBuf {
    let src = t.join("src");
    std::fs::create_dir_all(&src).unwrap();
    write_sources(&src);
    src
}

/// A workspace with [`sources`] in it: (workspace, sources); `None` after
/// the skip [`have_gcc`] records.
fn gcc_sources() -> Option<(tempfile::TempDir, PathBuf)> {
    if !have_gcc() {
        return None;
    }
    let t = tempfile::tempdir().unwrap();
    let src = sources(t.path());
    Some((t, src))
}

/// Sources for a library pair and a program: prog -> libbar -> libfoo.
fn write_sources(dir: &Path) {
    std::fs::write(dir.join("foo.c"), "int foo(void) { return 40; }\n").unwrap();
    std::fs::write(
        dir.join("bar.c"),
        "int foo(void);\nint bar(void) { return foo() + 2; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.c"),
        "#include <stdio.h>\nint bar(void);\nint main(void) { printf(\"bar=%d\\n\", bar()); return 0; }\n",
    )
    .unwrap();
}

/// Builds `lib/libfoo.so`, `lib/libbar.so` (needing libfoo) into `lib`,
/// with the given link flags for libbar.
/// The compiler command for `cc` ("" is the host's gcc).
fn compiler(cc: &str) -> &str {
    if cc.is_empty() {
        "gcc"
    } else {
        cc
    }
}

/// Builds libfoo and libbar (needing libfoo) into `lib` with compiler `cc`
/// ("" for gcc).
fn build_libs(src: &Path, lib: &Path, cc: &str, bar_ldflags: &str) {
    std::fs::create_dir_all(lib).unwrap();
    let l = lib.display();
    let cc = compiler(cc);
    sh(&format!("{cc} -shared -fPIC -o {l}/libfoo.so foo.c"), src);
    sh(
        &format!("{cc} -shared -fPIC -o {l}/libbar.so bar.c -L{l} -lfoo {bar_ldflags}"),
        src,
    );
}

/// Builds a program needing libbar and libfoo from `libdir`, with compiler
/// `cc` ("" for gcc) and `ldflags`.
fn build_prog(src: &Path, out: &Path, libdir: &Path, cc: &str, ldflags: &str) {
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    sh(
        &format!(
            "{} -o {} main.c -L{} -lbar -lfoo {ldflags}",
            compiler(cc),
            out.display(),
            libdir.display()
        ),
        src,
    );
}

/// Reads the RPATH/RUNPATH tags of a file with `readelf -d`: (tag, value).
fn readelf_paths(f: &Path) -> Vec<(String, String)> {
    let out = ok(Command::new("readelf").arg("-d").arg(f).env("LC_ALL", "C"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let tag = if l.contains("(RPATH)") {
                "RPATH"
            } else if l.contains("(RUNPATH)") {
                "RUNPATH"
            } else {
                return None;
            };
            let v = l.split_once('[')?.1.trim_end().strip_suffix(']')?;
            Some((tag.to_string(), v.to_string()))
        })
        .collect()
}

fn run_prog(p: &Path) -> String {
    let out = ok(Command::new(p).env_remove("LD_LIBRARY_PATH"));
    String::from_utf8(out.stdout).unwrap()
}

fn ino(p: &Path) -> u64 {
    std::fs::symlink_metadata(p).unwrap().ino()
}

// ---------------------------------------------------------------------
// check-rpath, Buildroot-compatible mode

/// A per-package host tree with good and bad executables.
fn host_check_tree(t: &Path) -> (PathBuf, PathBuf) {
    let src = sources(t);
    let ppd = t.join("per-package");
    let host = ppd.join("host-foo/host");
    let lib = host.join("lib");
    build_libs(&src, &lib, "", "");
    let other = ppd.join("host-bar/host/lib");
    std::fs::create_dir_all(&other).unwrap();
    let bin = host.join("bin");
    let p = |name: &str, flags: &str| build_prog(&src, &bin.join(name), &lib, "", flags);
    p("good-abs", &format!("-Wl,-rpath,{}", lib.display()));
    p("good-slashes", &format!("-Wl,-rpath,/{}//", lib.display()));
    p(
        "good-origin",
        "-Wl,-rpath,'$ORIGIN/../lib' -Wl,--enable-new-dtags",
    );
    p(
        "good-other-ppd",
        &format!(
            "-Wl,-rpath,/nowhere:{} -Wl,--disable-new-dtags",
            other.display()
        ),
    );
    p("bad-none", "");
    p("bad-system", "-Wl,-rpath,/usr/lib");
    p("sub/bad-nested", "-Wl,-rpath,'$ORIGIN/../../lib'");
    std::fs::create_dir_all(host.join("sbin")).unwrap();
    build_prog(
        &src,
        &host.join("sbin/bad-sbin"),
        &lib,
        "",
        "-Wl,-rpath,'${ORIGIN}/../lib'",
    );
    // Not checked: a shared object, a script, a program needing only libc,
    // a file outside bin/sbin, a symlink.
    std::fs::copy(lib.join("libfoo.so"), bin.join("libcopy.so")).unwrap();
    std::fs::write(bin.join("script"), "#!/bin/sh\n").unwrap();
    sh(
        &format!(
            "printf 'int main(void){{return 0;}}' | gcc -x c -o {}/libc-only -",
            bin.display()
        ),
        t,
    );
    build_prog(&src, &host.join("libexec/bad-elsewhere"), &lib, "", "");
    std::os::unix::fs::symlink("bad-none", bin.join("link-to-bad")).unwrap();
    (host, ppd)
}

#[test]
fn check_rpath_prints_the_scripts_report() {
    if !have_gcc() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (host, ppd_dir) = host_check_tree(t.path());
    let out = run(ppd()
        .args(["check-rpath", "--host-dir"])
        .arg(&host)
        .arg("--per-package-dir")
        .arg(&ppd_dir)
        .arg("host-foo"));
    assert_eq!(out.status.code(), Some(1));
    let h = host.display();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "***\n*** ERROR: package host-foo installs executables without proper RPATH:\n\
             ***   {h}/bin/bad-none\n***   {h}/bin/bad-system\n***   {h}/bin/sub/bad-nested\n\
             ***   {h}/sbin/bad-sbin\n"
        )
    );
    assert!(out.stderr.is_empty());

    // The same verdicts as the script (which lists in directory order).
    if !common::skip_without(&["readelf", "bash"]) {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/baseline/check-host-rpath");
        let base = run(Command::new("bash")
            .arg(script)
            .arg("host-foo")
            .arg(format!("{}/", host.display()))
            .arg(&ppd_dir));
        assert_eq!(base.status.code(), Some(1));
        let mut lines: Vec<_> = String::from_utf8(base.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        lines[2..].sort();
        let ours = run(ppd()
            .args(["check-rpath", "--host-dir"])
            .arg(format!("{}/", host.display()))
            .arg("--per-package-dir")
            .arg(&ppd_dir)
            .arg("host-foo"));
        assert_eq!(
            String::from_utf8(ours.stdout).unwrap(),
            lines.join("\n") + "\n"
        );
    }
}

#[test]
fn check_rpath_passes_a_good_tree_and_a_missing_one() {
    if !have_gcc() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (host, ppd_dir) = host_check_tree(t.path());
    for bad in ["bad-none", "bad-system", "sub/bad-nested"] {
        std::fs::remove_file(host.join("bin").join(bad)).unwrap();
    }
    std::fs::remove_file(host.join("sbin/bad-sbin")).unwrap();
    let out = run(ppd()
        .args(["check-rpath", "--host-dir"])
        .arg(&host)
        .arg("--per-package-dir")
        .arg(&ppd_dir)
        .arg("host-foo"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    // HOST_DIR from the environment, no bin/ at all: nothing to check.
    let out = run(ppd()
        .args(["check-rpath", "pkg"])
        .env("HOST_DIR", t.path().join("nothing")));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------------
// fix-rpath

struct HostTrees {
    _t: tempfile::TempDir,
    ppd: PathBuf,
    host: PathBuf,
}

/// A per-package host tree for package "pkg" built with per-package
/// RPATHs, and a final host tree made from it with hard links (what
/// `finalize --mode hardlink` would give).
fn host_trees(cc: &str, dtags: &str) -> HostTrees {
    let t = tempfile::tempdir().unwrap();
    let src = sources(t.path());
    let ppd = t.path().join("per-package");
    let pkg = ppd.join("pkg/host");
    let lib = pkg.join("lib");
    let rp = |p: &Path| format!("-Wl,-rpath,{} {dtags}", p.display());
    build_libs(&src, &lib, cc, &rp(&lib));
    // The program also lists a directory that does not exist and one that
    // holds none of its libraries: both get dropped.
    std::fs::create_dir_all(pkg.join("share/empty")).unwrap();
    let flags = format!(
        "-Wl,-rpath,{}:/nonexistent/lib:{}:{} {dtags}",
        lib.display(),
        pkg.join("share/empty").display(),
        lib.display()
    );
    build_prog(&src, &pkg.join("bin/prog"), &lib, cc, &flags);
    build_prog(&src, &pkg.join("libexec/tools/prog"), &lib, cc, &rp(&lib));
    std::fs::hard_link(pkg.join("bin/prog"), pkg.join("bin/prog-alias")).unwrap();
    std::fs::hard_link(pkg.join("libexec/tools/prog"), pkg.join("bin/prog-tools")).unwrap();
    let host = t.path().join("host");
    sh(
        &format!("cp -al {} {}", pkg.display(), host.display()),
        t.path(),
    );
    HostTrees { _t: t, ppd, host }
}

fn fix_host(tr: &HostTrees) -> std::process::Output {
    ok(ppd()
        .args(["fix-rpath", "host"])
        .env("HOST_DIR", &tr.host)
        .env("PER_PACKAGE_DIR", &tr.ppd)
        .env("STAGING_DIR", tr.host.join("x86_64-linux-gnu/sysroot")))
}

#[test]
fn fix_rpath_host_makes_origin_paths_that_run() {
    if !have_gcc() {
        return;
    }
    // Without patchelf the second oracle is missing: the test still runs
    // its readelf checks but counts as skipped.
    let patchelf = !common::skip_without(&["patchelf"]);
    for (dtags, tag) in [
        ("-Wl,--disable-new-dtags", "RPATH"),
        ("-Wl,--enable-new-dtags", "RUNPATH"),
    ] {
        let tr = host_trees("", dtags);
        let h = &tr.host;
        let pkg = tr.ppd.join("pkg/host");
        let before = common::snapshot(&pkg);
        let prog = h.join("bin/prog");
        set_mtime(&prog, 1_600_000_000, 123_456_789);
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o751)).unwrap();
        let old_ino = ino(&prog);
        let pkg_bytes = std::fs::read(pkg.join("bin/prog")).unwrap();

        let out = fix_host(&tr);
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");

        // The rewritten values, as readelf and patchelf see them; the tag is kept.
        let want = [
            ("bin/prog", "$ORIGIN/../lib"),
            ("bin/prog-tools", "$ORIGIN/../lib"),
            ("libexec/tools/prog", "$ORIGIN/../../lib"),
            ("lib/libbar.so", "$ORIGIN"),
        ];
        for (f, v) in want {
            assert_eq!(
                readelf_paths(&h.join(f)),
                [(tag.to_string(), v.to_string())],
                "{f}"
            );
            if patchelf {
                let p = ok(Command::new("patchelf").arg("--print-rpath").arg(h.join(f)));
                assert_eq!(String::from_utf8_lossy(&p.stdout).trim_end(), v);
            }
        }
        // Same size (in-place string edit), mode and ns mtime kept, new inode.
        let md = std::fs::metadata(&prog).unwrap();
        assert_eq!(md.len(), pkg_bytes.len() as u64);
        assert_eq!(md.mode() & 0o7777, 0o751);
        assert_eq!((md.mtime(), md.mtime_nsec()), (1_600_000_000, 123_456_789));
        assert_ne!(md.ino(), old_ino);
        // The hard link inside the tree with the same directory shares the
        // new inode; the one in another directory got its own $ORIGIN.
        assert_eq!(ino(&h.join("bin/prog-alias")), md.ino());
        assert_ne!(
            ino(&h.join("bin/prog-tools")),
            ino(&h.join("libexec/tools/prog"))
        );
        // libfoo.so has no RPATH: untouched, still the per-package inode.
        assert_eq!(
            ino(&h.join("lib/libfoo.so")),
            ino(&pkg.join("lib/libfoo.so"))
        );
        // The per-package tree is exactly as it was: inodes, content, times.
        assert_eq!(common::snapshot(&pkg).len(), before.len());
        for (rel, s) in common::snapshot(&pkg) {
            let b = &before[&rel];
            assert_eq!(
                (s.ino, s.size),
                (b.ino, b.size),
                "{}",
                String::from_utf8_lossy(&rel)
            );
        }
        assert_eq!(std::fs::read(pkg.join("bin/prog")).unwrap(), pkg_bytes);

        // The programs run without the per-package tree.
        let moved = tr.ppd.with_extension("gone");
        std::fs::rename(&tr.ppd, &moved).unwrap();
        for p in [
            "bin/prog",
            "bin/prog-alias",
            "bin/prog-tools",
            "libexec/tools/prog",
        ] {
            assert_eq!(run_prog(&h.join(p)), "bar=42\n", "{p}");
        }
        std::fs::rename(&moved, &tr.ppd).unwrap();

        // A second run changes nothing.
        let snap = common::snapshot(h);
        fix_host(&tr);
        assert_eq!(common::snapshot(h), snap);
    }
}

#[test]
fn fix_rpath_takes_the_tree_as_option_or_operand_and_names_the_missing_flag() {
    if !have_gcc() {
        return;
    }
    let tr = host_trees("", "-Wl,--disable-new-dtags");
    // --tree and Buildroot's operand plan the same rewrites.
    let plan = |args: &[&str]| {
        ok(ppd()
            .arg("fix-rpath")
            .arg("--dry-run")
            .args(args)
            .env("HOST_DIR", &tr.host)
            .env("PER_PACKAGE_DIR", &tr.ppd))
        .stdout
    };
    let by_option = plan(&["--tree", "host"]);
    assert!(!by_option.is_empty());
    assert_eq!(by_option, plan(&["host"]));
    // Both at once, or neither, is a usage error.
    for args in [&["--tree", "host", "host"][..], &[]] {
        let out = common::run(ppd().arg("fix-rpath").args(args).env("HOST_DIR", &tr.host));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    // Without HOST_DIR the message names the flag and the variable.
    let out = common::run(ppd().args(["fix-rpath", "host"]).env_remove("HOST_DIR"));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ppd: fix-rpath host: which host directory? Pass --host-dir DIR or set HOST_DIR\n"
    );
}

#[test]
fn fix_rpath_dry_run_prints_the_plan_and_changes_nothing() {
    if !have_gcc() {
        return;
    }
    let tr = host_trees("", "-Wl,--disable-new-dtags");
    let snap = common::snapshot(&tr.host);
    let out = ok(ppd()
        .args(["fix-rpath", "--dry-run", "host"])
        .env("HOST_DIR", &tr.host)
        .env("PER_PACKAGE_DIR", &tr.ppd));
    assert_eq!(common::snapshot(&tr.host), snap);
    let h = tr.host.display();
    let l = tr.ppd.join("pkg/host/lib");
    let l = l.display();
    let e = tr.ppd.join("pkg/host/share/empty");
    let e = e.display();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "{h}/bin/prog: RPATH \"{l}:/nonexistent/lib:{e}:{l}\" -> \"$ORIGIN/../lib\"\n\
             {h}/bin/prog-alias: same new file (hard link)\n\
             {h}/bin/prog-tools: RPATH \"{l}\" -> \"$ORIGIN/../lib\"\n\
             {h}/lib/libbar.so: RPATH \"{l}\" -> \"$ORIGIN\"\n\
             {h}/libexec/tools/prog: RPATH \"{l}\" -> \"$ORIGIN/../../lib\"\n"
        )
    );
}

#[test]
fn fix_rpath_reports_a_value_that_does_not_fit_and_exits_0() {
    let Some((t, src)) = gcc_sources() else {
        return;
    };
    let host = t.path().join("host");
    // "/l" exists inside the tree (ROOT + entry); from a deep directory
    // its $ORIGIN form is much longer than the 2 bytes available.
    build_libs(&src, &host.join("l"), "", "");
    let deep = host.join("a/b/c/d/e/prog");
    build_prog(
        &src,
        &deep,
        &host.join("l"),
        "",
        "-Wl,-rpath,/l -Wl,--disable-new-dtags",
    );
    let bytes = std::fs::read(&deep).unwrap();
    let out = ok(ppd().args(["fix-rpath", "host"]).env("HOST_DIR", &host));
    assert_eq!(std::fs::read(&deep).unwrap(), bytes);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "ppd: fixing RPATH of {}: the new value needs 24 bytes but only 2 are free in place; \
             left unchanged\n",
            deep.display()
        )
    );
}

#[test]
fn fix_rpath_target_keeps_root_absolute_private_dirs() {
    let Some((t, src)) = gcc_sources() else {
        return;
    };
    let target = t.path().join("target");
    let private = target.join("usr/lib/private");
    build_libs(&src, &private, "", "");
    std::fs::create_dir_all(target.join("lib/firmware")).unwrap();
    std::fs::create_dir_all(target.join("usr/bin")).unwrap();
    std::os::unix::fs::symlink("usr/lib", target.join("lib64")).unwrap();
    // Staging-style absolute path, a final-root path, standard dirs.
    let flags = format!(
        "-Wl,-rpath,{}:/usr/lib:/lib64:/usr/lib/private:/opt/none -Wl,--enable-new-dtags",
        private.display()
    );
    build_prog(&src, &target.join("usr/bin/prog"), &private, "", &flags);
    // Firmware is pruned, even if it is an ELF file with an RPATH.
    std::fs::copy(
        target.join("usr/bin/prog"),
        target.join("lib/firmware/blob"),
    )
    .unwrap();
    let fw = std::fs::read(target.join("lib/firmware/blob")).unwrap();
    ok(ppd()
        .args(["fix-rpath", "target"])
        .env("TARGET_DIR", &target));
    assert_eq!(
        readelf_paths(&target.join("usr/bin/prog")),
        [("RUNPATH".to_string(), "/usr/lib/private".to_string())]
    );
    assert_eq!(std::fs::read(target.join("lib/firmware/blob")).unwrap(), fw);
    // Without TARGET_DIR the command cannot work: status 2 and one line.
    let out = run(ppd().args(["fix-rpath", "target"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "ppd: fix-rpath target: which target directory? Pass --target-dir DIR or set TARGET_DIR\n"
    );
}

#[test]
fn fix_rpath_handles_32_bit_binaries() {
    // A cross compiler, not gcc -m32: gcc-multilib conflicts with every
    // cross compiler on Debian, gcc-i686-linux-gnu coexists with them.
    const CC: &str = "i686-linux-gnu-gcc";
    const LOADER: &str = "/usr/i686-linux-gnu/lib/ld-linux.so.2";
    if common::skip_without(&["readelf", CC]) {
        return;
    }
    if !Path::new(LOADER).exists() {
        common::skip_missing(&format!("{LOADER} not installed (libc6-i386-cross)"));
        return;
    }
    let tr = host_trees(CC, "-Wl,--disable-new-dtags");
    // EI_CLASS: ELFCLASS32.
    assert_eq!(std::fs::read(tr.host.join("bin/prog")).unwrap()[4], 1);
    fix_host(&tr);
    assert_eq!(
        readelf_paths(&tr.host.join("bin/prog")),
        [("RPATH".to_string(), "$ORIGIN/../lib".to_string())]
    );
    std::fs::rename(&tr.ppd, tr.ppd.with_extension("gone")).unwrap();
    // The machine has no /lib/ld-linux.so.2: run the program through the
    // cross loader, which takes $ORIGIN from the program's path. DT_RPATH is
    // searched before --library-path, which only supplies the 32-bit libc.
    let out = ok(Command::new(LOADER)
        .args(["--library-path", "/usr/i686-linux-gnu/lib"])
        .arg(tr.host.join("bin/prog"))
        .env_remove("LD_LIBRARY_PATH"));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "bar=42\n");
}

// ---------------------------------------------------------------------
// check-rpath --audit

fn audit_json(args: &[&str], paths: &[&Path], envs: &[(&str, &Path)]) -> (i32, serde_json::Value) {
    let mut c = ppd();
    c.args(["check-rpath", "--audit", "--json"])
        .args(args)
        .args(paths);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = run(&mut c);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

/// Returns the (file name, rule) pairs of a JSON report.
fn rules_found(v: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["command"], "check-rpath");
    for x in v["findings"].as_array().unwrap() {
        let name = x["path"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        out.push((
            name,
            x["rule"].as_str().unwrap().to_string(),
            x["severity"].as_str().unwrap().to_string(),
        ));
    }
    out
}

/// Retags the dynamic entry `from` of `f` (first one) as `to`, pointing
/// at the string `value_of` points to plus `skip` bytes.
fn retag(f: &Path, from: i64, to: i64, value_of: i64, skip: u64) {
    let mut data = std::fs::read(f).unwrap();
    let info = ppd::elf::parse(&data).unwrap().unwrap();
    let i = info.dynamic.iter().position(|d| d.0 == from).unwrap();
    let val = info.dyn_value(value_of).unwrap() + skip;
    let at = (info.dynamic_offset + 16 * i as u64) as usize;
    data[at..at + 8].copy_from_slice(&to.to_le_bytes());
    data[at + 8..at + 16].copy_from_slice(&val.to_le_bytes());
    std::fs::write(f, data).unwrap();
}

#[test]
fn audit_finds_every_planted_problem() {
    let Some((t, src)) = gcc_sources() else {
        return;
    };
    let root = t.path().join("target");
    let lib = root.join("usr/lib/app");
    build_libs(&src, &lib, "", "-Wl,-rpath,'$ORIGIN'");
    let ppd_dir = t.path().join("per-package");
    std::fs::create_dir_all(root.join("opt/ww")).unwrap();
    std::fs::set_permissions(root.join("opt/ww"), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::copy(lib.join("libfoo.so"), root.join("opt/ww/libfoo.so")).unwrap();
    std::fs::create_dir_all(root.join("opt/empty")).unwrap();
    // A libbar for another machine (e_machine patched to AArch64).
    std::fs::create_dir_all(root.join("opt/arm")).unwrap();
    let mut arm = std::fs::read(lib.join("libbar.so")).unwrap();
    arm[18..20].copy_from_slice(&183u16.to_le_bytes());
    std::fs::write(root.join("opt/arm/libbar.so"), arm).unwrap();
    let bin = root.join("usr/bin");
    let prog = |name: &str, rpath: &str, extra: &str| {
        build_prog(
            &src,
            &bin.join(name),
            &lib,
            "",
            &format!("-Wl,-rpath,'{rpath}' -Wl,--disable-new-dtags {extra}"),
        );
    };
    prog("clean", "/usr/lib/app", "");
    prog("r01", "/usr/lib/app::/usr/lib/app", "");
    prog("r02", "lib:/usr/lib/app", "");
    prog("r03", "$HOME/lib:/usr/lib/app", "");
    prog("r04", "$ORIGIN/../lib/app", "");
    std::fs::set_permissions(bin.join("r04"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    prog("r05", "/usr/lib/app:$ORIGIN/../lib/app", "");
    prog(
        "r06",
        &format!("{}/pkg/target/usr/lib/app:/usr/lib/app", ppd_dir.display()),
        "",
    );
    prog("r07", "/usr/lib/../lib/app", "");
    prog("r08", "/usr/lib:/usr/lib/app", "");
    prog("r09", "/opt/none:/usr/lib/app", "");
    prog("r11", "$ORIGIN/nothing:/usr/lib/app", "");
    prog("r12", "/opt/empty:/usr/lib/app", "");
    prog("r13", "/opt/ww:/usr/lib/app", "");
    prog("f02", "/opt/empty", "");
    prog("f03", "/opt/arm:/usr/lib/app", "");
    // Only the wrong-machine copy is reachable: F03.
    prog("f03only", "/opt/arm", "");
    prog("f04", "/usr/lib/app", "");
    retag(&bin.join("f04"), 21, 29, 15, 4); // DT_DEBUG -> DT_RUNPATH "/lib/app"
    prog("f05", "/usr/lib/app", "");
    retag(&bin.join("f05"), 21, 15, 15, 0); // a second DT_RPATH
    prog(
        "f06",
        "/usr/lib/app",
        &format!("-Wl,--dynamic-linker={}/pkg/ld.so", ppd_dir.display()),
    );
    prog(
        "f07",
        "/usr/lib/app",
        &format!("-Wl,-soname,{}/pkg/libx.so", ppd_dir.display()),
    );
    prog("f09", "/usr/lib/app", "-z execstack");
    std::fs::write(
        root.join("usr/bin/malformed"),
        b"\x7fELF\x02\x01\x01garbage",
    )
    .unwrap();

    let (code, v) = audit_json(
        &[
            "--root",
            root.to_str().unwrap(),
            "--per-package-dir",
            ppd_dir.to_str().unwrap(),
        ],
        &[&root],
        &[("TMPDIR", Path::new("/nonexistent-tmp"))],
    );
    assert_eq!(code, 1, "{v:#}");
    let found = rules_found(&v);
    let has = |file: &str, rule: &str, sev: &str| {
        found.contains(&(file.to_string(), rule.to_string(), sev.to_string()))
    };
    for (file, rule, sev) in [
        ("r01", "R01", "error"),
        ("r02", "R02", "error"),
        ("r03", "R03", "error"),
        ("r04", "R04", "error"),
        ("r05", "R05", "warning"),
        ("r06", "R06", "error"),
        ("r07", "R07", "warning"),
        ("r08", "R08", "warning"),
        ("r09", "R09", "warning"),
        ("r11", "R11", "warning"),
        ("r12", "R12", "info"),
        ("r13", "R13", "warning"),
        ("f02", "F02", "warning"),
        ("f03only", "F03", "error"),
        ("f04", "F04", "warning"),
        ("f05", "F05", "warning"),
        ("f06", "F06", "error"),
        ("f07", "F07", "warning"),
        ("f09", "F09", "warning"),
        ("malformed", "E01", "warning"),
    ] {
        assert!(
            has(file, rule, sev),
            "{file} {rule} {sev} not in {found:#?}"
        );
    }
    // No noise: the clean program and the libraries raise nothing, and a
    // wrong-machine copy shadowed by a good one is not an error.
    let paths: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for quiet in [
        "usr/bin/clean",
        "usr/lib/app/libfoo.so",
        "usr/lib/app/libbar.so",
    ] {
        assert!(
            !paths.iter().any(|p| p.ends_with(quiet)),
            "{quiet}: {found:#?}"
        );
    }
    assert!(!has("f03", "F03", "error"));
    assert_eq!(v["stats"]["elf_files"], 25);

    // Human output: grouped by file, sorted, with a total line.
    let out = run(ppd()
        .args(["check-rpath", "--audit", "--root"])
        .arg(&root)
        .arg(bin.join("r01"))
        .arg(bin.join("clean")));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "{}\n  error   R01  RPATH entry \"\": empty entry: the loader searches the current directory\n\
             audit: {}, {} as a system tree, ELF64 x86-64: 2 file(s)\n\
             1 error(s), 0 warning(s), 0 info(s) in 1 of 2 ELF file(s)\n",
            bin.join("r01").display(),
            bin.join("r01").display(),
            bin.join("clean").display()
        )
    );
    // --ignore drops a rule; a clean selection exits 0 with the same
    // summary line.
    let out = run(ppd()
        .args(["check-rpath", "--audit", "--ignore", "R01", "--root"])
        .arg(&root)
        .arg(bin.join("r01"))
        .arg(bin.join("clean")));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "audit: {}, {} as a system tree, ELF64 x86-64: 2 file(s)\n\
             0 error(s), 0 warning(s), 0 info(s) in 0 of 2 ELF file(s)\n",
            bin.join("r01").display(),
            bin.join("clean").display()
        )
    );
}

#[test]
fn audit_host_tree_checks_reachability_of_host_libs() {
    let Some((t, src)) = gcc_sources() else {
        return;
    };
    let host = t.path().join("host");
    let lib = host.join("lib");
    build_libs(&src, &lib, "", "-Wl,-rpath,'$ORIGIN'");
    build_prog(
        &src,
        &host.join("bin/good"),
        &lib,
        "",
        "-Wl,-rpath,'$ORIGIN/../lib'",
    );
    build_prog(
        &src,
        &host.join("bin/abs"),
        &lib,
        "",
        &format!("-Wl,-rpath,{}", lib.display()),
    );
    build_prog(&src, &host.join("bin/none"), &lib, "", "");
    build_prog(
        &src,
        &host.join("bin/outside"),
        &lib,
        "",
        "-Wl,-rpath,/usr/local/lib:'$ORIGIN/../lib'",
    );
    let (code, v) = audit_json(
        &["--tree", "host", "--host-dir", host.to_str().unwrap()],
        &[&host],
        &[("TMPDIR", Path::new("/nonexistent-tmp"))],
    );
    assert_eq!(code, 1);
    let found = rules_found(&v);
    for want in [
        ("abs", "R10", "warning"),
        ("none", "F01", "error"),
        ("outside", "R10", "error"),
    ] {
        let w = (want.0.to_string(), want.1.to_string(), want.2.to_string());
        assert!(found.contains(&w), "{want:?} not in {found:#?}");
    }
    assert!(!found.iter().any(|f| f.0 == "good"));
}

#[test]
fn audit_of_this_machines_system_libraries_raises_no_error() {
    let dir = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.is_dir())
    .unwrap();
    let (code, v) = audit_json(&["--root", "/"], &[dir], &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["stats"]["errors"], 0);
    assert!(v["stats"]["elf_files"].as_u64().unwrap() > 10);
}
