//! `ppd check-rpath --audit` on a whole Buildroot output directory: a
//! synthetic one shaped like an aarch64 build (x86-64 host tools with
//! $ORIGIN RPATHs in host/, aarch64 libraries built by aarch64-linux-gnu-gcc
//! in the staging sysroot and in target/, per-package/ and build/), first
//! clean, then with one planted problem of each kind in each part.

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ok, ppd, run};

const TUPLE: &str = "aarch64-buildroot-linux-gnu";
const CROSS: &str = "aarch64-linux-gnu-gcc";

/// Returns false (after recording a skip; under `CI=true`, failing) when
/// a compiler is missing.
fn have_compilers() -> bool {
    !common::skip_without(&["gcc", CROSS])
}

fn sh(cmd: &str, dir: &Path) {
    ok(Command::new("sh").arg("-c").arg(cmd).current_dir(dir));
}

/// Compiles `src` (a file in `dir`) with `cc` into `out`, creating its
/// directory.
fn cc(dir: &Path, cc: &str, out: &Path, args: &str) {
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    sh(&format!("{cc} -o '{}' {args}", out.display()), dir);
}

fn write_sources(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in [
        ("foo.c", "int foo(void) { return 40; }\n"),
        ("gone.c", "int gone(void) { return 1; }\n"),
        (
            "bar.c",
            "int foo(void);\nint bar(void) { return foo() + 2; }\n",
        ),
        (
            "main.c",
            "int foo(void);\nint bar(void);\nint main(void) { return bar() + foo() == 82 ? 0 : 1; }\n",
        ),
        (
            "gonemain.c",
            "int gone(void);\nint main(void) { return gone(); }\n",
        ),
        ("plain.c", "int main(void) { return 0; }\n"),
        (
            "privmain.c",
            "int foo(void);\nint main(void) { return foo() == 40 ? 0 : 1; }\n",
        ),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Libraries and programs of one architecture, built once in `src/<cc>/`
/// and copied into the trees.
struct Built {
    dir: PathBuf,
    compiler: &'static str,
}

impl Built {
    fn new(src: &Path, compiler: &'static str) -> Built {
        let dir = src.join(compiler);
        std::fs::create_dir_all(&dir).unwrap();
        let b = Built { dir, compiler };
        b.cc("libfoo.so", "-shared -fPIC ../foo.c");
        b.cc("libgone.so", "-shared -fPIC ../gone.c");
        b.cc("libbar.so", "-shared -fPIC ../bar.c -L. -lfoo");
        b.cc(
            "libbar-origin.so",
            "-shared -fPIC ../bar.c -L. -lfoo -Wl,-rpath,'$ORIGIN'",
        );
        b.cc("plain", "../plain.c");
        // A private library, a plugin needing it with no search path of
        // its own, and a program reaching it through its DT_RPATH.
        b.cc(
            "libpriv.so",
            "-shared -fPIC ../foo.c -Wl,-soname,libpriv.so",
        );
        b.cc("libplug.so", "-shared -fPIC ../bar.c -L. -lpriv");
        b.cc(
            "privapp",
            "../privmain.c -L. -lpriv -Wl,-rpath,/usr/lib/app -Wl,--disable-new-dtags",
        );
        b
    }

    fn cc(&self, out: &str, args: &str) {
        cc(&self.dir, self.compiler, &self.dir.join(out), args);
    }

    /// Builds a program needing libbar and libfoo with these RPATH entries
    /// (`-Wl,-rpath`, RPATH tag), into `out`.
    fn prog(&self, out: &Path, rpath: &str) {
        let rp = if rpath.is_empty() {
            String::new()
        } else {
            format!("-Wl,-rpath,'{rpath}' -Wl,--disable-new-dtags")
        };
        cc(
            &self.dir,
            self.compiler,
            out,
            &format!("../main.c -L. -lbar -lfoo {rp}"),
        );
    }

    fn copy(&self, name: &str, to: &Path) {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(self.dir.join(name), to).unwrap();
    }
}

/// A clean Buildroot-shaped output directory in `o`. Returns the two
/// builds (x86-64, aarch64) for planting problems.
fn build_output(o: &Path) -> (Built, Built) {
    let src = o.join("build/src");
    write_sources(&src);
    let x86 = Built::new(&src, "gcc");
    let arm = Built::new(&src, CROSS);
    let host = o.join("host");
    let sysroot = host.join(TUPLE).join("sysroot");
    let target = o.join("target");

    // host/: tools with $ORIGIN RPATHs, as fix-rpath host leaves them.
    x86.copy("libfoo.so", &host.join("lib/libfoo.so"));
    x86.copy("libbar-origin.so", &host.join("lib/libbar.so"));
    x86.prog(&host.join("bin/tool"), "$ORIGIN/../lib");
    x86.prog(&host.join("libexec/gcc/x/tool"), "$ORIGIN/../../../lib");
    x86.copy("plain", &host.join("bin/plain"));
    symlink(".", host.join("usr")).unwrap();
    // The toolchain's target libraries next to the sysroot, and firmware
    // for another machine below share/ (as host-qemu installs).
    arm.copy("libbar.so", &host.join(TUPLE).join("lib64/libbar.so"));
    arm.copy("plain", &host.join("share/qemu/firmware.elf"));
    // A downloaded external toolchain: its own target files, not audited.
    arm.copy("libbar.so", &host.join("opt/ext-toolchain/lib/libbar.so"));

    // The staging sysroot and target/: the C library, libraries in
    // /usr/lib, a private library directory with a root-absolute RPATH.
    let libc = Path::new("/usr/aarch64-linux-gnu/lib");
    for root in [&sysroot, &target] {
        std::fs::create_dir_all(root.join("lib")).unwrap();
        symlink("lib", root.join("lib64")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("lib", root.join("usr/lib64")).unwrap();
        for f in ["libc.so.6", "ld-linux-aarch64.so.1"] {
            std::fs::copy(libc.join(f), root.join("lib").join(f)).unwrap();
        }
        arm.copy("libfoo.so", &root.join("usr/lib/libfoo.so"));
        arm.copy("libbar.so", &root.join("usr/lib/libbar.so"));
        arm.prog(&root.join("usr/bin/prog"), "");
        arm.copy("libbar.so", &root.join("usr/lib/private/libbar.so"));
        arm.prog(&root.join("usr/bin/private"), "/usr/lib/private");
        // Firmware and data for other machines where check-bin-arch
        // expects them.
        x86.copy("plain", &root.join("usr/share/blob/x86.elf"));
        x86.copy("plain", &root.join("lib/firmware/x86.elf"));
    }
    // An external toolchain's gcc support directory, copied into the
    // sysroot's lib/ whole by Buildroot: programs and plugins for the
    // build machine (reported once each, as information).
    x86.prog(&sysroot.join("lib/cc1"), "");
    x86.copy(
        "libbar-origin.so",
        &sysroot.join("lib/plugin/libcc1plugin.so"),
    );
    // target/: a plugin that finds the private library of the program
    // loading it through that program's DT_RPATH (information, not a
    // warning).
    arm.copy("libpriv.so", &target.join("usr/lib/app/libpriv.so"));
    arm.copy("libplug.so", &target.join("usr/lib/app/plugins/libplug.so"));
    arm.copy("privapp", &target.join("usr/bin/privapp"));
    std::fs::create_dir_all(sysroot.join("usr/include")).unwrap();
    std::fs::write(sysroot.join("usr/include/foo.h"), "int foo(void);\n").unwrap();
    symlink(format!("host/{TUPLE}/sysroot"), o.join("staging")).unwrap();

    // per-package/: the packages' own trees (a build location).
    x86.copy("libfoo.so", &o.join("per-package/foo/host/lib/libfoo.so"));
    arm.copy(
        "libfoo.so",
        &o.join("per-package/foo/target/usr/lib/libfoo.so"),
    );
    (x86, arm)
}

/// Runs the audit on `o`, returns (exit code, JSON report).
fn audit(o: &Path) -> (i32, serde_json::Value) {
    let out = run(ppd()
        .args(["check-rpath", "--audit", "--json", "--buildroot-output"])
        .arg(o)
        .env("TMPDIR", "/nonexistent-tmp"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

/// Every finding as (part, path below the output directory, rule, severity).
fn findings(o: &Path, v: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let prefix = format!("{}/", o.display());
    let mut out = Vec::new();
    for x in v["findings"].as_array().unwrap() {
        let path = x["path"].as_str().unwrap();
        out.push((
            x["part"].as_str().unwrap().to_string(),
            path.strip_prefix(&prefix).unwrap_or(path).to_string(),
            x["rule"].as_str().unwrap().to_string(),
            x["severity"].as_str().unwrap().to_string(),
        ));
    }
    out.sort();
    out
}

fn part<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no part {name} in {v:#}"))
}

#[test]
fn a_clean_output_directory_has_no_findings() {
    if !have_compilers() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let o = t.path().join("output");
    build_output(&o);
    let (code, v) = audit(&o);
    let s = format!("host/{TUPLE}/sysroot");
    let info = |p: &str| {
        (
            "staging".into(),
            format!("{s}/{p}"),
            "F10".into(),
            "info".into(),
        )
    };
    let plugin = (
        "target".to_string(),
        "target/usr/lib/app/plugins/libplug.so".to_string(),
        "F02".to_string(),
        "info".to_string(),
    );
    assert_eq!(
        findings(&o, &v),
        [info("lib/cc1"), info("lib/plugin/libcc1plugin.so"), plugin],
        "{v:#}"
    );
    assert_eq!(code, 0);
    // What each part covered: the sysroot and the external toolchain are
    // not part of host/, usr/include and lib/firmware are pruned.
    let host = part(&v, "host");
    assert_eq!(host["tree"], "host");
    assert_eq!(host["arch"], "ELF64 x86-64");
    assert_eq!(
        host["excluded"],
        serde_json::json!([
            format!("{}/host/{TUPLE}/sysroot", o.display()),
            format!("{}/host/opt/ext-toolchain", o.display()),
        ])
    );
    // tool, libexec/gcc/x/tool, plain, libfoo, libbar, and the two
    // aarch64 files the host tree may hold.
    assert_eq!(host["elf_files"], 7);
    for name in ["staging", "target"] {
        let p = part(&v, name);
        assert_eq!(p["tree"], name);
        assert_eq!(p["arch"], "ELF64 AArch64");
    }
    // libc, ld.so, libfoo, libbar, private/libbar, prog, private, and the
    // x86-64 file in usr/share (lib/firmware is pruned as fix-rpath does);
    // staging has lib/firmware, cc1 and the plugin too.
    assert_eq!(part(&v, "target")["elf_files"], 11);
    assert_eq!(part(&v, "staging")["elf_files"], 11);
    assert_eq!(
        part(&v, "staging")["excluded"],
        serde_json::json!([format!("{}/host/{TUPLE}/sysroot/usr/include", o.display())])
    );
    assert_eq!(v["stats"]["elf_files"], 29);
    assert_eq!(v["stats"]["errors"], 0);
    assert_eq!(v["stats"]["warnings"], 0);
    assert_eq!(v["stats"]["infos"], 3);

    // The human report names each part and ends with the totals, also
    // when nothing is found; a single PATH that is an output directory is
    // audited the same way.
    let out = ok(ppd()
        .args(["check-rpath", "--audit"])
        .arg(&o)
        .env("TMPDIR", "/nonexistent-tmp"));
    let d = o.display();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "{d}/{s}/lib/cc1\n  info    F10  ELF64 x86-64 file in a tree of ELF64 AArch64 files\n\
             {d}/{s}/lib/plugin/libcc1plugin.so\n  info    F10  ELF64 x86-64 file in a tree of ELF64 AArch64 files\n\
             {d}/target/usr/lib/app/plugins/libplug.so\n  info    F02  needed library libpriv.so found only \
             through another file's DT_RPATH, which the loader searches when that file loads this one\n\
             host: {d}/host as a host tree, ELF64 x86-64, without {d}/host/{TUPLE}/sysroot, \
             {d}/host/opt/ext-toolchain: {hf} file(s): 0 error(s), 0 warning(s), 0 info(s) in 0 of 7 ELF file(s)\n\
             staging: {d}/host/{TUPLE}/sysroot as a staging tree, ELF64 AArch64, without \
             {d}/host/{TUPLE}/sysroot/usr/include: 11 file(s): 0 error(s), 0 warning(s), 2 info(s) in 2 of 11 ELF file(s)\n\
             target: {d}/target as a target tree, ELF64 AArch64, without {d}/target/lib/firmware: \
             11 file(s): 0 error(s), 0 warning(s), 1 info(s) in 1 of 11 ELF file(s)\n\
             0 error(s), 0 warning(s), 3 info(s) in 3 of 29 ELF file(s)\n",
            hf = host["files"],
        )
    );
}

#[test]
fn the_explicit_host_tree_audit_skips_what_fix_rpath_skips() {
    if !have_compilers() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let o = t.path().join("output");
    build_output(&o);
    let out = run(ppd()
        .args(["check-rpath", "--audit", "--json", "--tree", "host"])
        .arg("--host-dir")
        .arg(o.join("host"))
        .arg("--per-package-dir")
        .arg(o.join("per-package"))
        .arg(o.join("host"))
        .env("TMPDIR", "/nonexistent-tmp"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings(&o, &v), [], "{v:#}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(v["stats"]["elf_files"], 7);
}

#[test]
fn planted_problems_are_found_in_their_part_with_their_rule() {
    if !have_compilers() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let o = t.path().join("output");
    let (x86, arm) = build_output(&o);
    let host = o.join("host");
    let sysroot = host.join(TUPLE).join("sysroot");
    let target = o.join("target");
    let ww = |d: &Path| {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    };

    // host/: an RPATH into per-package/, a missing library, a relative
    // entry, an aarch64 library, a world-writable directory.
    let pp = o.join("per-package/foo/host/lib");
    x86.prog(
        &host.join("bin/bad-ppd"),
        &format!("$ORIGIN/../lib:{}", pp.display()),
    );
    x86.cc("gone", "../gonemain.c -L. -lgone");
    x86.copy("gone", &host.join("bin/bad-missing"));
    x86.prog(&host.join("bin/bad-relative"), "$ORIGIN/../lib:lib");
    arm.copy("libbar.so", &host.join("lib/libarm.so"));
    x86.copy("libfoo.so", &host.join("ww/libfoo.so"));
    ww(&host.join("ww"));
    x86.prog(&host.join("bin/bad-ww"), "$ORIGIN/../lib:$ORIGIN/../ww");

    // Staging and target: the same five, with root-absolute entries.
    arm.cc("gone", "../gonemain.c -L. -lgone");
    for (root, pkg_tree) in [(&sysroot, "target"), (&target, "target")] {
        let pp = o.join("per-package/foo").join(pkg_tree).join("usr/lib");
        arm.prog(&root.join("usr/bin/bad-ppd"), &pp.display().to_string());
        arm.copy("gone", &root.join("usr/bin/bad-missing"));
        arm.prog(&root.join("usr/bin/bad-relative"), "lib");
        arm.copy("libfoo.so", &root.join("opt/ww/libfoo.so"));
        ww(&root.join("opt/ww"));
        arm.prog(&root.join("usr/bin/bad-ww"), "/opt/ww");
    }
    // An x86-64 gcc plugin in the sysroot, an x86-64 program in target/.
    x86.copy("libbar-origin.so", &sysroot.join("usr/lib/plugin.so"));
    x86.copy("plain", &target.join("usr/bin/bad-arch"));

    let (code, v) = audit(&o);
    let s = format!("host/{TUPLE}/sysroot");
    let want: Vec<(String, String, String, String)> = [
        ("host", "host/bin/bad-missing", "F02", "error"),
        ("host", "host/bin/bad-ppd", "R06", "error"),
        ("host", "host/bin/bad-relative", "R02", "error"),
        ("host", "host/bin/bad-ww", "R13", "warning"),
        ("host", "host/lib/libarm.so", "F10", "info"),
        ("staging", &format!("{s}/lib/cc1"), "F10", "info"),
        (
            "staging",
            &format!("{s}/lib/plugin/libcc1plugin.so"),
            "F10",
            "info",
        ),
        (
            "staging",
            &format!("{s}/usr/bin/bad-missing"),
            "F02",
            "warning",
        ),
        ("staging", &format!("{s}/usr/bin/bad-ppd"), "R06", "error"),
        (
            "staging",
            &format!("{s}/usr/bin/bad-relative"),
            "R02",
            "error",
        ),
        ("staging", &format!("{s}/usr/bin/bad-ww"), "R13", "warning"),
        ("staging", &format!("{s}/usr/lib/plugin.so"), "F10", "info"),
        ("target", "target/usr/bin/bad-arch", "F10", "error"),
        ("target", "target/usr/bin/bad-missing", "F02", "warning"),
        ("target", "target/usr/bin/bad-ppd", "R06", "error"),
        ("target", "target/usr/bin/bad-relative", "R02", "error"),
        ("target", "target/usr/bin/bad-ww", "R13", "warning"),
        (
            "target",
            "target/usr/lib/app/plugins/libplug.so",
            "F02",
            "info",
        ),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
    .collect();
    assert_eq!(findings(&o, &v), want, "{v:#}");
    assert_eq!(code, 1);
    assert_eq!(
        (
            v["stats"]["errors"].as_u64(),
            v["stats"]["warnings"].as_u64(),
            v["stats"]["infos"].as_u64()
        ),
        (Some(8), Some(5), Some(5))
    );
    for (name, errors, warnings, infos) in
        [("host", 3, 1, 1), ("staging", 2, 2, 3), ("target", 3, 2, 1)]
    {
        let p = part(&v, name);
        assert_eq!(
            (
                p["errors"].as_u64(),
                p["warnings"].as_u64(),
                p["infos"].as_u64()
            ),
            (Some(errors), Some(warnings), Some(infos)),
            "{name}"
        );
        let extra = match name {
            "staging" => 2,
            "target" => 1,
            _ => 0,
        };
        assert_eq!(p["files_with_findings"], 5 + extra, "{name}");
    }
    // The wrong-machine files are reported once, as such: not as
    // libraries the loader cannot find.
    let plugin: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().ends_with("usr/lib/plugin.so"))
        .collect();
    assert_eq!(
        plugin[0]["message"],
        "ELF64 x86-64 file in a tree of ELF64 AArch64 files"
    );
    assert_eq!(plugin.len(), 1, "{plugin:#?}");
}

#[test]
fn a_directory_that_is_not_an_output_directory_is_refused() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("host")).unwrap();
    let out = run(ppd()
        .args(["check-rpath", "--audit", "--buildroot-output"])
        .arg(t.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "ppd: auditing {}: not a Buildroot output directory (needs host/, target/ and \
             host/<tuple>/sysroot)\n",
            t.path().display()
        )
    );
    // Given as the only PATH, the same directory is an ordinary tree.
    let out = run(ppd().args(["check-rpath", "--audit"]).arg(t.path()));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "audit: {} as a system tree: 0 file(s)\n\
             0 error(s), 0 warning(s), 0 info(s) in 0 of 0 ELF file(s)\n",
            t.path().display()
        )
    );
}
