//! `ppd check-bin-arch` side by side with Buildroot's own
//! support/scripts/check-bin-arch (taken from the release tarball in
//! ../shared/buildroot) running the real readelf, on planted target trees
//! holding aarch64, x86-64 and i386 ELF files, archives, symlinks, ignored
//! directories and non-ELF files: the same stdout, byte for byte, and the
//! same exit status.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{elf_header, ok, ppd, prepare_pkg, run, skip, skip_without};

const TARBALL: &str = "../shared/buildroot/buildroot-2026.05.1.tar.xz";

/// Extracts one file of the Buildroot release into `dir`.
fn buildroot_file(rel: &str, dir: &Path) -> Option<PathBuf> {
    let tarball = Path::new(env!("CARGO_MANIFEST_DIR")).join(TARBALL);
    if !tarball.exists() {
        // Not a tool CI installs: a clone without ../shared skips, loudly.
        skip(&format!(
            "{} is missing (the Buildroot 2026.05.1 release, compared against; put it there \
             to run this test)",
            tarball.display()
        ));
        return None;
    }
    ok(Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir)
        .arg(format!("buildroot-2026.05.1/{rel}")));
    Some(dir.join("buildroot-2026.05.1").join(rel))
}

fn cc(compiler: &str, args: &[&str], out: &Path, src: &Path) {
    ok(Command::new(compiler)
        .args(args)
        .arg("-o")
        .arg(out)
        .arg(src));
}

/// What [`plant`] builds its files with, and the script's `readelf`.
const PLANT_TOOLS: [&str; 5] = [
    "aarch64-linux-gnu-gcc",
    "i686-linux-gnu-gcc",
    "gcc",
    "readelf",
    "ar",
];

/// A target tree with files of several architectures, and the list that
/// names them (two packages' lines).
fn plant(dir: &Path) -> (PathBuf, PathBuf) {
    let t = dir.join("target");
    for d in [
        "usr/bin",
        "usr/lib",
        "usr/share/qemu",
        "lib/modules/6.1",
        "usr/lib/foo-fw",
        "usr/lib/foo fw2",
        "usr/libexec",
    ] {
        std::fs::create_dir_all(t.join(d)).unwrap();
    }
    let src = dir.join("m.c");
    std::fs::write(
        &src,
        "int f(void){return 1;}\nint main(void){return f();}\n",
    )
    .unwrap();
    let lib = dir.join("l.c");
    std::fs::write(&lib, "int g(void){return 2;}\n").unwrap();
    cc("aarch64-linux-gnu-gcc", &[], &t.join("usr/bin/good"), &src);
    cc("gcc", &[], &t.join("usr/bin/host-tool"), &src);
    cc(
        "i686-linux-gnu-gcc",
        &["-c"],
        &t.join("usr/lib/i386.o"),
        &lib,
    );
    cc(
        "aarch64-linux-gnu-gcc",
        &["-shared", "-fPIC"],
        &t.join("usr/lib/libgood.so.1"),
        &lib,
    );
    cc("gcc", &[], &t.join("usr/share/qemu/x86-helper"), &src);
    cc("gcc", &[], &t.join("lib/modules/6.1/mod.ko"), &src);
    cc("gcc", &[], &t.join("usr/lib/foo-fw/blob"), &src);
    cc("gcc", &[], &t.join("usr/lib/foo fw2/blob two"), &src);
    cc("gcc", &[], &t.join("usr/libexec/other pkg"), &src);
    // Archives: aarch64 objects; x86-64 objects; a text member first.
    let a64 = dir.join("a64.o");
    cc("aarch64-linux-gnu-gcc", &["-c"], &a64, &lib);
    let x64 = dir.join("x64.o");
    cc("gcc", &["-c"], &x64, &lib);
    let txt = dir.join("README");
    std::fs::write(&txt, "not an object\n").unwrap();
    ok(Command::new("ar")
        .arg("rcs")
        .arg(t.join("usr/lib/libgood.a"))
        .arg(&a64));
    ok(Command::new("ar")
        .arg("rcs")
        .arg(t.join("usr/lib/libbad.a"))
        .arg(&x64));
    ok(Command::new("ar")
        .arg("rc")
        .arg(t.join("usr/lib/libmixed.a"))
        .arg(&txt)
        .arg(&x64));
    // Not ELF, truncated ELF, empty, a script, a big-endian header of an
    // unknown machine, a symlink to a wrong-architecture file.
    std::fs::write(t.join("usr/bin/script"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(t.join("usr/lib/empty"), "").unwrap();
    let host = std::fs::read(t.join("usr/bin/host-tool")).unwrap();
    std::fs::write(t.join("usr/lib/truncated"), &host[..40]).unwrap();
    let mut be = host[..64].to_vec();
    be[5] = 2; // ELFDATA2MSB
    be[18] = 0x12;
    be[19] = 0x34;
    std::fs::write(t.join("usr/lib/bigendian-unknown"), &be).unwrap();
    let mut m68k = host[..64].to_vec();
    m68k[4] = 1; // ELFCLASS32
    m68k[18] = 4;
    m68k[19] = 0;
    std::fs::write(t.join("usr/lib/m68k-header"), &m68k).unwrap();
    symlink("host-tool", t.join("usr/bin/link-to-host")).unwrap();
    symlink("/bin/sh", t.join("usr/bin/abs-link")).unwrap();
    let list = dir.join(".files-list.txt");
    let lines = [
        "foo,./usr/bin/good",
        "foo,./usr/bin/host-tool",
        "foo,./usr/lib/i386.o",
        "foo,./usr/lib/libgood.so.1",
        "foo,./usr/share/qemu/x86-helper",
        "foo,./lib/modules/6.1/mod.ko",
        "foo,./usr/lib/foo-fw/blob",
        "foo,./usr/lib/foo fw2/blob two",
        "foo,./usr/lib/libgood.a",
        "foo,./usr/lib/libbad.a",
        "foo,./usr/lib/libmixed.a",
        "foo,./usr/bin/script",
        "foo,./usr/lib/empty",
        "foo,./usr/lib/truncated",
        "foo,./usr/lib/bigendian-unknown",
        "foo,./usr/lib/m68k-header",
        "foo,./usr/bin/link-to-host",
        "foo,./usr/bin/abs-link",
        "foo,./usr/lib/listed-but-gone",
        "bar,./usr/libexec/other pkg",
        "foobar,./usr/libexec/other pkg",
    ];
    std::fs::write(&list, lines.join("\n") + "\n").unwrap();
    (t, list)
}

struct Outcome {
    stdout: String,
    code: Option<i32>,
}

fn script(script: &Path, target: &Path, args: &[&str]) -> Outcome {
    let out = run(Command::new("bash")
        .arg(script)
        .args(args)
        .env("TARGET_DIR", target)
        .env("LC_ALL", "C"));
    Outcome {
        stdout: String::from_utf8(out.stdout).unwrap(),
        code: out.status.code(),
    }
}

fn ours(target: &Path, args: &[&str]) -> Outcome {
    let out = run(ppd()
        .arg("check-bin-arch")
        .args(args)
        .env("TARGET_DIR", target));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Outcome {
        stdout: String::from_utf8(out.stdout).unwrap(),
        code: out.status.code(),
    }
}

/// check-bin-arch's arguments for package `pkg` with the file list
/// `list`, the system's readelf and the architecture `arch`, then `extra`.
fn case<'a>(pkg: &'a str, list: &'a str, arch: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-p", pkg, "-l", list, "-r", "readelf", "-a", arch];
    args.extend(extra);
    args
}

#[test]
fn same_messages_and_exit_status_as_buildroots_script_with_readelf() {
    if skip_without(&PLANT_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(check) = buildroot_file("support/scripts/check-bin-arch", dir.path()) else {
        return;
    };
    let (target, list) = plant(dir.path());
    let list = list.to_str().unwrap();
    let a64 = "AArch64";
    let cases: Vec<Vec<&str>> = vec![
        case("foo", list, a64, &[]),
        case(
            "foo",
            list,
            a64,
            &["-i", "usr/lib/foo-fw", "-i", "//usr//lib/foo fw2//"],
        ),
        case("foo", list, "Advanced Micro Devices X86-64", &[]),
        case("bar", list, a64, &[]),
        case("nobody", list, a64, &[]),
        case("foo", list, "MC68000", &[]),
    ];
    for args in &cases {
        let want = script(&check, &target, args);
        let got = ours(&target, args);
        assert_eq!(got.stdout, want.stdout, "stdout for {args:?}");
        assert_eq!(got.code, want.code, "exit status for {args:?}");
    }
    // The first case finds the planted offenders, in list order.
    let first = ours(&target, &cases[0]);
    assert_eq!(first.code, Some(1));
    assert_eq!(
        first.stdout,
        "ERROR: architecture for \"/usr/bin/host-tool\" is \"Advanced Micro Devices X86-64\", should be \"AArch64\"\n\
         ERROR: architecture for \"/usr/lib/i386.o\" is \"Intel 80386\", should be \"AArch64\"\n\
         ERROR: architecture for \"/usr/lib/foo-fw/blob\" is \"Advanced Micro Devices X86-64\", should be \"AArch64\"\n\
         ERROR: architecture for \"/usr/lib/foo fw2/blob two\" is \"Advanced Micro Devices X86-64\", should be \"AArch64\"\n\
         ERROR: architecture for \"/usr/lib/libbad.a\" is \"Advanced Micro Devices X86-64\", should be \"AArch64\"\n\
         ERROR: architecture for \"/usr/lib/libmixed.a\" is \"Advanced Micro Devices X86-64\", should be \"AArch64\"\n\
         ERROR: architecture for \"/usr/lib/bigendian-unknown\" is \"<unknown>: 0x1234\", should be \"AArch64\"\n\
         ERROR: architecture for \"/usr/lib/m68k-header\" is \"MC68000\", should be \"AArch64\"\n"
    );
    // A clean package exits 0 with nothing printed.
    assert_eq!(ours(&target, &cases[3]).code, Some(1));
    let clean = ours(&target, &cases[4]);
    assert_eq!((clean.stdout.as_str(), clean.code), ("", Some(0)));
}

#[test]
fn a_missing_list_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ppd()
        .args(["check-bin-arch", "-p", "foo", "-a", "AArch64", "-l"])
        .arg(dir.path().join("nope.txt"))
        .env("TARGET_DIR", dir.path()));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        format!(
            "ppd: reading file list {}: No such file or directory\n",
            dir.path().join("nope.txt").display()
        )
    );
}

/// The package is `--pkg NAME` as in every other command (`-p` as in
/// Buildroot's script; the earlier `--package` still works, unlisted).
#[test]
fn the_package_is_named_with_pkg_as_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "foo,./usr/share/foo.txt\n").unwrap();
    std::fs::create_dir_all(dir.path().join("usr/share")).unwrap();
    std::fs::write(dir.path().join("usr/share/foo.txt"), "text\n").unwrap();
    for flag in ["--pkg", "-p", "--package"] {
        let out = run(ppd()
            .args(["check-bin-arch", flag, "foo", "-a", "AArch64", "-l"])
            .arg(&list)
            .env("TARGET_DIR", dir.path()));
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{flag}");
    }
    let help = String::from_utf8(run(ppd().args(["check-bin-arch", "--help"])).stdout).unwrap();
    assert!(help.contains("-p, --pkg <NAME>"), "{help}");
    assert!(!help.contains("--package"), "{help}");
}

/// check-bin-arch's exit status 1 (a file of another architecture) is
/// among the documented ones, in `ppd --help` and in README.
#[test]
fn exit_status_one_is_documented() {
    let help = String::from_utf8(run(ppd().arg("--help")).stdout).unwrap();
    let para: String = help
        .split("\n\n")
        .find(|p| p.starts_with("Exit status:"))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        para.contains("files of another architecture in check-bin-arch); 2 usage or I/O error"),
        "{help}"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        readme.contains("files of another architecture in `check-bin-arch`"),
        "README"
    );
}

/// A long list is read on `-j` threads with the findings in list order,
/// the same lines for any thread count.
#[test]
fn findings_keep_list_order_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mut list = String::new();
    let mut expected = String::new();
    // Listed in descending name order, so list order is not name order.
    for i in (0..600).rev() {
        let name = format!("f{i:03}");
        let wrong = i % 7 == 3;
        std::fs::write(bin.join(&name), elf_header(if wrong { 62 } else { 183 })).unwrap();
        list.push_str(&format!("foo,./usr/bin/{name}\n"));
        if wrong {
            expected.push_str(&format!(
                "ERROR: architecture for \"/usr/bin/{name}\" is \
                 \"Advanced Micro Devices X86-64\", should be \"AArch64\"\n"
            ));
        }
    }
    let listf = dir.path().join("list.txt");
    std::fs::write(&listf, list).unwrap();
    for j in ["1", "2", "8"] {
        let out = run(ppd()
            .args([
                "check-bin-arch",
                "-j",
                j,
                "-p",
                "foo",
                "-a",
                "AArch64",
                "-l",
            ])
            .arg(&listf)
            .env("TARGET_DIR", dir.path()));
        assert_eq!(out.status.code(), Some(1), "-j {j}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "-j {j}");
    }
}

/// `ppd file-list --check-bin-arch` (Buildroot's pkg_size_after and
/// check_bin_arch in one process, as mk/buildroot.mk runs them): the lists
/// are the ones written without the check, and the check says and exits
/// what Buildroot's script says and exits on the .files-list.txt written.
#[test]
fn file_list_checks_the_list_it_wrote_as_the_script_does() {
    if skip_without(&PLANT_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(check) = buildroot_file("support/scripts/check-bin-arch", dir.path()) else {
        return;
    };
    let pp = dir.path().join("per-package");
    let target = pp.join("foo/target");
    // The package's trees as its configure step's prepare leaves them (no
    // dependencies: empty, with a manifest), then its install.
    prepare_pkg(&pp, "foo", &[]);
    plant(&pp.join("foo"));
    let file_list = |out: &Path, extra: &[&str]| {
        run(ppd()
            .args(["file-list", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", "foo", "--out-dir"])
            .arg(out)
            .args(extra))
    };
    let plain = dir.path().join("plain");
    let out = file_list(&plain, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lists = [
        ".files-list.txt",
        ".files-list-staging.txt",
        ".files-list-host.txt",
    ];
    let a64 = "AArch64";
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (a64, vec![]),
        (
            a64,
            vec!["-i", "usr/lib/foo-fw", "-i", "//usr//lib/foo fw2//"],
        ),
        (a64, vec!["--ignore", "/usr"]),
        ("Advanced Micro Devices X86-64", vec![]),
        ("MC68000", vec!["-i", "usr/lib"]),
    ];
    for (n, (arch, extra)) in cases.iter().enumerate() {
        let out_dir = dir.path().join(format!("out{n}"));
        let mut args = vec!["--check-bin-arch", arch];
        args.extend(extra);
        let got = file_list(&out_dir, &args);
        assert!(
            got.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&got.stderr)
        );
        for l in lists {
            assert_eq!(
                std::fs::read(out_dir.join(l)).unwrap(),
                std::fs::read(plain.join(l)).unwrap(),
                "{l} for {args:?}"
            );
        }
        let list = out_dir.join(".files-list.txt");
        let mut script_args = vec!["-p", "foo", "-l", list.to_str().unwrap()];
        script_args.extend(["-r", "readelf", "-a", arch]);
        // The script knows -i only.
        script_args.extend(
            extra
                .iter()
                .map(|a| if *a == "--ignore" { "-i" } else { a }),
        );
        let want = script(&check, &target, &script_args);
        assert_eq!(
            String::from_utf8(got.stdout).unwrap(),
            want.stdout,
            "stdout for {args:?}"
        );
        assert_eq!(got.status.code(), want.code, "exit status for {args:?}");
        if n == 0 {
            // The planted offenders are there to be found.
            assert_eq!(want.code, Some(1));
            assert!(want.stdout.contains(
                "ERROR: architecture for \"/usr/bin/host-tool\" is \
                 \"Advanced Micro Devices X86-64\", should be \"AArch64\"\n"
            ));
        }
        if n == 2 {
            assert_eq!((want.stdout.as_str(), want.code), ("", Some(0)));
        }
    }
    // The check reads the target list, which goes to --out-dir: no
    // --out-dir, no check (a usage error); -i alone is one too.
    for args in [
        &["--check-bin-arch", a64][..],
        &["--out-dir", "x", "-i", "/usr"][..],
    ] {
        let out = run(ppd()
            .args(["file-list", "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", "foo"])
            .args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}
