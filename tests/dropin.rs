//! What mk/buildroot.mk relies on beyond the single commands: final-merge
//! conflicts reported once per change rather than on every no-op `make`.

mod common;

use std::path::Path;

use common::*;

fn write(p: &Path, data: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// Runs `finalize --tree target` of `pkgs` from `root/per-package` into
/// `root/target`: (exit code, stderr).
fn finalize_of(root: &Path, conflicts: &str, pkgs: &[&str]) -> (Option<i32>, String) {
    let out = run(ppd()
        .args(["finalize", "--tree", "target", "--conflicts", conflicts])
        .arg("--per-package-dir")
        .arg(root.join("per-package"))
        .arg("--dest")
        .arg(root.join("target"))
        .args(pkgs));
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

/// [`finalize_of`] alpha and beta.
fn finalize(root: &Path, conflicts: &str) -> (Option<i32>, String) {
    finalize_of(root, conflicts, &["alpha", "beta"])
}

#[test]
fn a_final_merge_conflict_is_reported_once_per_change() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("per-package");
    write(&pp.join("alpha/target/etc/app.conf"), "alpha's\n");
    write(&pp.join("beta/target/etc/app.conf"), "beta's\n");
    write(&pp.join("beta/target/usr/bin/b"), "b");
    let line = format!(
        "ppd: conflict: {} is provided differently by alpha (file), beta (file); beta wins\n",
        r.join("target/etc/app.conf").display()
    );
    assert_eq!(finalize(r, "warn"), (Some(0), line.clone()));
    // Every later make: nothing new, nothing said.
    assert_eq!(finalize(r, "warn"), (Some(0), String::new()));
    assert_eq!(finalize(r, "warn"), (Some(0), String::new()));
    // A conflict that fails the build fails every run until fixed.
    assert_eq!(finalize(r, "error"), (Some(1), line.clone()));
    assert_eq!(finalize(r, "error"), (Some(1), line.clone()));
    // Fixed, then made again: reported again.
    std::fs::remove_file(pp.join("alpha/target/etc/app.conf")).unwrap();
    assert_eq!(finalize(r, "warn"), (Some(0), String::new()));
    write(&pp.join("alpha/target/etc/app.conf"), "alpha's again\n");
    assert_eq!(finalize(r, "warn"), (Some(0), line.clone()));
    assert_eq!(finalize(r, "warn"), (Some(0), String::new()));
    // The record beside the tree holds the lines reported.
    let record = r.join(".target.ppd-reported");
    let before = std::fs::read(&record).unwrap();
    assert_eq!(before, line.strip_prefix("ppd: ").unwrap().as_bytes());
}

fn prepare(pp: &Path, pkg: &str, deps: &[&str]) {
    ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(pp)
        .arg("--host-dir")
        .arg(pp.join(pkg).join("host"))
        .arg("--target-dir")
        .arg(pp.join(pkg).join("target"))
        .args(deps));
}

/// [`finalize_of`] alpha, beta and gamma.
fn finalize_all(root: &Path, conflicts: &str) -> (Option<i32>, String) {
    finalize_of(root, conflicts, &["alpha", "beta", "gamma"])
}

#[test]
fn an_outdated_copy_winning_the_final_merge_is_warned_about_once() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let pp = r.join("per-package");
    // alpha installs a file; beta gets it from alpha, gamma from both.
    write(&pp.join("alpha/target/etc/version.txt"), "1.0\n");
    std::fs::create_dir_all(pp.join("alpha/host")).unwrap();
    prepare(&pp, "beta", &["alpha"]);
    write(&pp.join("beta/target/usr/bin/b"), "b\n");
    prepare(&pp, "gamma", &["alpha", "beta"]);
    let version = r.join("target/etc/version.txt");
    // One inode everywhere: no conflict, nothing said.
    assert_eq!(finalize_all(r, "warn"), (Some(0), String::new()));
    assert_eq!(std::fs::read_to_string(&version).unwrap(), "1.0\n");

    // alpha-rebuild installs a new file (a new inode): the dependents keep
    // the old one, and the last of them still wins the path, as with
    // Buildroot's rsync; ppd says so and names the package to reconfigure.
    let new = pp.join("alpha/target/etc/version.txt.new");
    write(&new, "2.0\n");
    std::fs::rename(&new, pp.join("alpha/target/etc/version.txt")).unwrap();
    let line = format!(
        "ppd: warning: {} is gamma's outdated copy (through beta) of a file alpha provides \
         differently now; make beta-reconfigure refreshes it (make ppd-outdated lists every \
         package to refresh)\n",
        version.display()
    );
    assert_eq!(finalize_all(r, "warn"), (Some(0), line.clone()));
    assert_eq!(std::fs::read_to_string(&version).unwrap(), "1.0\n");
    // Not repeated by the next no-op make; not a conflict that fails the
    // build, but shown by --conflicts error every time.
    assert_eq!(finalize_all(r, "warn"), (Some(0), String::new()));
    assert_eq!(finalize_all(r, "error"), (Some(0), line.clone()));

    // beta reconfigured: gamma's copy is now the one to refresh.
    prepare(&pp, "beta", &["alpha"]);
    let line = format!(
        "ppd: warning: {} is gamma's outdated copy of a file beta provides differently now; \
         make gamma-reconfigure refreshes it (make ppd-outdated lists every package to \
         refresh)\n",
        version.display()
    );
    assert_eq!(finalize_all(r, "warn"), (Some(0), line));
    // gamma reconfigured too: one inode again, the new version, silence.
    prepare(&pp, "gamma", &["alpha", "beta"]);
    assert_eq!(finalize_all(r, "warn"), (Some(0), String::new()));
    assert_eq!(std::fs::read_to_string(&version).unwrap(), "2.0\n");
}

/// A stand-in for the Buildroot makefiles mk/buildroot.mk is read after:
/// each definition holds the words of Buildroot's that the drop-in checks,
/// and `edit` changes them the way another Buildroot version would. The
/// `show` target prints, per part, whether ppd's definition or the stand-in's
/// is in force.
fn fake_buildroot(dir: &Path, edit: &dyn Fn(String) -> String) -> std::path::PathBuf {
    let topdir = dir.join("br");
    write(
        &topdir.join("Makefile"),
        "host-finalize:\n\t$(TOPDIR)/support/scripts/fix-rpath host\n",
    );
    write(&topdir.join("support/scripts/fix-rpath"), "#!/bin/sh\n");
    let stock = format!(
        r#"BR2_PER_PACKAGE_DIRECTORIES = y
BR2_VERSION = 2026.05.1
TOPDIR = {top}
BASE_DIR = {dir}/out
PER_PACKAGE_DIR = $(BASE_DIR)/per-package
STAGING_SUBDIR = aarch64-buildroot-linux-gnu/sysroot
BR2_READELF_ARCH_NAME = AArch64
define per-package-rsync
	stock-rsync $(if $(filter hardlink,$(4)),--link-dest=x) $(1)
endef
define prepare-per-package-directory
	$(call per-package-rsync,$(1),host,$(HOST_DIR),hardlink)
endef
define ppd-fixup-paths
	stock-fixup '$(PER_PACKAGE_DIR)/[^/]\+/' $(1)
endef
define PPD_FIXUP_PATHS
	$(call ppd-fixup-paths,x)
endef
define PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC
	stock-find _sysconfigdata
endef
define pkg_size_before
	stock-find -printf > .files-list$(2).before
endef
define pkg_size_after
	stock-find -printf > .files-list$(2).after; comm -13 a b
endef
define check_bin_arch
	stock-check-bin-arch $($(PKG)_BIN_ARCH_EXCLUDE)
endef
define check_host_rpath
	$(if $(filter install-host,$(2)),stock-check-host-rpath)
endef
define step_start
	$(foreach hook,$(GLOBAL_INSTRUMENTATION_HOOKS),$(call $(hook),start,$(1),$($(PKG)_NAME)))
endef
define step_end
	$(foreach hook,$(GLOBAL_INSTRUMENTATION_HOOKS),$(call $(hook),end,$(1),$($(PKG)_NAME)))
endef
"#,
        top = topdir.display(),
        dir = dir.display()
    );
    let mk = dir.join("Makefile");
    write(
        &mk,
        &format!(
            "{}\ninclude {}/mk/buildroot.mk\n\n\
             whose = $(info $(1): $(if $(findstring $(2),$(value $(3))),ppd,stock))\n\
             show:\n\
             \t@:$(call whose,prepare,--per-package-dir,per-package-rsync)\
             $(call whose,fixup,fixup-paths,ppd-fixup-paths)\
             $(call whose,pyc,for d in,PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC)\
             $(call whose,file-list,file-list,pkg_size_after)\
             $(call whose,bin-arch,_ppd-check-bin-arch,check_bin_arch)\
             $(call whose,host-rpath,ppd_check_host_rpath,check_host_rpath)\
             $(call whose,unshare,ppd_unshare,GLOBAL_INSTRUMENTATION_HOOKS)\
             $(info fix-rpath: $(if $(PPD_TOPDIR),ppd,stock))\n",
            edit(stock),
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    mk
}

/// Runs `make show` on the stand-in: (exit code, stdout, stderr).
fn show(mk: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = run(std::process::Command::new("make")
        .arg("-s")
        .arg("-f")
        .arg(mk)
        .args(args)
        .arg("show")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL"));
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `make show` on the stand-in, which must succeed and print
/// `parts`; returns its stderr.
fn shows(mk: &Path, args: &[&str], parts: &str) -> String {
    let (code, out, err) = show(mk, args);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, parts);
    err
}

/// What each line of `err` says after the `<file>:<line>: ppd: ` it
/// starts with.
fn tails(err: &str) -> Vec<&str> {
    err.lines()
        .map(|l| l.split_once(": ppd: ").unwrap().1)
        .collect()
}

const ALL_PPD: &str = "prepare: ppd\nfixup: ppd\npyc: ppd\nfile-list: ppd\nbin-arch: ppd\n\
    host-rpath: ppd\nunshare: ppd\nfix-rpath: ppd\n";

#[test]
fn the_dropin_takes_over_every_part_of_the_buildroot_it_was_written_for() {
    if skip_without(&["make"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mk = fake_buildroot(t.path(), &|s| s);
    assert_eq!(
        show(&mk, &[]),
        (Some(0), ALL_PPD.to_string(), String::new())
    );
}

#[test]
fn a_buildroot_without_what_a_part_relies_on_keeps_that_part_stock_and_says_so() {
    if skip_without(&["make"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // Before Buildroot 2023.11, per-package-rsync had no copy/hardlink
    // argument: the preparation stays Buildroot's, and the file lists (which
    // need ppd prepare's manifests) with it.
    let mk = fake_buildroot(t.path(), &|s| {
        s.replace(
            "$(if $(filter hardlink,$(4)),--link-dest=x)",
            "--link-dest=x",
        )
    });
    let err = shows(
        &mk,
        &[],
        "prepare: stock\nfixup: stock\npyc: ppd\nfile-list: stock\nbin-arch: ppd\n\
         host-rpath: ppd\nunshare: ppd\nfix-rpath: ppd\n",
    );
    assert_eq!(
        tails(&err),
        [
            "mk/buildroot.mk: this Buildroot (2026.05.1) is not what the per-package \
             directory preparation relies on: per-package-rsync does not hold 'hardlink'; \
             so the per-package directory preparation stays Buildroot's",
            "mk/buildroot.mk: this Buildroot (2026.05.1) is not what the package file \
             lists relies on: the per-package directory preparation is Buildroot's; so the \
             package file lists stays Buildroot's",
        ]
    );
    // Each warning line names this file and its line.
    assert!(err.starts_with(&format!("{}/mk/buildroot.mk:", env!("CARGO_MANIFEST_DIR"))));

    // Renamed or missing: each part names what it lacks.
    let mk = fake_buildroot(t.path(), &|s| {
        s.replace("define pkg_size_before", "define pkg_size_start")
            .replace(
                "stock-check-bin-arch $($(PKG)_BIN_ARCH_EXCLUDE)",
                "stock-check-bin-arch",
            )
            .replace("stock-check-host-rpath", "other-check")
            .replace("define step_end", "define step_finish")
    });
    let err = shows(
        &mk,
        &[],
        "prepare: ppd\nfixup: ppd\npyc: ppd\nfile-list: stock\nbin-arch: stock\n\
         host-rpath: stock\nunshare: stock\nfix-rpath: ppd\n",
    );
    assert_eq!(
        tails(&err),
        [
            "mk/buildroot.mk: this Buildroot (2026.05.1) is not what the package file lists \
             relies on: pkg_size_before is not defined; so the package file lists stays \
             Buildroot's",
            "mk/buildroot.mk: this Buildroot (2026.05.1) is not what the instrumentation \
             hooks (ppd_unshare) relies on: step_end is not defined; so the instrumentation \
             hooks (ppd_unshare) stays Buildroot's",
            "mk/buildroot.mk: this Buildroot (2026.05.1) is not what check_bin_arch relies \
             on: check_bin_arch does not hold '_BIN_ARCH_EXCLUDE'; so check_bin_arch stays \
             Buildroot's",
            "mk/buildroot.mk: this Buildroot (2026.05.1) is not what check_host_rpath relies \
             on: check_host_rpath does not hold 'check-host-rpath'; so check_host_rpath \
             stays Buildroot's",
        ]
    );

    // A top-level Makefile that does not run fix-rpath by $(TOPDIR): fix-rpath
    // stays Buildroot's.
    let mk = fake_buildroot(t.path(), &|s| s);
    write(
        &t.path().join("br/Makefile"),
        "host-finalize:\n\tsupport/scripts/fix-rpath host\n",
    );
    let err = shows(
        &mk,
        &[],
        &ALL_PPD.replace("fix-rpath: ppd", "fix-rpath: stock"),
    );
    assert!(
        err.trim_end().ends_with(&format!(
            "is not what fix-rpath relies on: {}/Makefile does not run \
             $(TOPDIR)/support/scripts/fix-rpath; so fix-rpath stays Buildroot's",
            t.path().join("br").display()
        )),
        "{err}"
    );
}

#[test]
fn ppd_buildroot_strict_stops_make_on_a_missing_assumption() {
    if skip_without(&["make"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mk = fake_buildroot(t.path(), &|s| s.replace("_sysconfigdata", "sysconfig"));
    let (code, out, err) = show(&mk, &["PPD_BUILDROOT_STRICT=y"]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert!(
        err.contains(
            "*** ppd: mk/buildroot.mk: this Buildroot (2026.05.1) is not what \
             PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC relies on: PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC \
             does not hold '_sysconfigdata'; so PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC stays \
             Buildroot's.  Stop."
        ),
        "{err}"
    );
    // Without it, a warning and the stock definition.
    shows(&mk, &[], &ALL_PPD.replace("pyc: ppd", "pyc: stock"));
    // PPD_BUILDROOT_CHECK=n (a Buildroot-style tree defining some macros
    // later, as the example): every part taken over, nothing said.
    let mk = fake_buildroot(t.path(), &|s| {
        s.replace("_sysconfigdata", "sysconfig")
            .replace("define PPD_FIXUP_PATHS", "define PPD_OTHER")
            .replace("define step_end", "define step_finish")
    });
    assert_eq!(
        show(&mk, &["PPD_BUILDROOT_CHECK=n"]),
        (Some(0), ALL_PPD.to_string(), String::new())
    );
}

/// Buildroot's `.stamp_installed` recipe (pkg_size_after four times, then
/// check_bin_arch) on the drop-in: one `ppd file-list` writes the lists and
/// checks the architecture of the target files in the same process, with
/// the package's `<PKG>_BIN_ARCH_EXCLUDE`; check_bin_arch runs nothing
/// more. A file of another architecture stops make with the script's
/// message; the lists are written before the check, as in Buildroot.
#[test]
fn the_installed_step_checks_the_architecture_in_the_file_list_process() {
    if skip_without(&["make"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let installed = format!(
        "PPD = {ppd}\nPKG = FOO\nFOO_NAME = foo\nFOO_DIR = $(BASE_DIR)/build/foo\n\
         FOO_BIN_ARCH_EXCLUDE = /usr/lib/foo-fw\n\
         HOST_DIR = $(PER_PACKAGE_DIR)/foo/host\nTARGET_DIR = $(PER_PACKAGE_DIR)/foo/target\n\
         STAGING_DIR = $(HOST_DIR)/$(STAGING_SUBDIR)\nBINARIES_DIR = $(BASE_DIR)/images\n\
         installed:\n\
         \t@$(call pkg_size_after,$(TARGET_DIR))\n\
         \t@$(call pkg_size_after,$(STAGING_DIR),-staging)\n\
         \t@$(call pkg_size_after,$(BINARIES_DIR),-images)\n\
         \t@$(call pkg_size_after,$(HOST_DIR),-host)\n\
         \t@$(call check_bin_arch)\n\
         \t@echo installed\n",
        ppd = env!("CARGO_BIN_EXE_ppd")
    );
    let mk = fake_buildroot(r, &|s| s + &installed);
    let pp = r.join("out/per-package");
    prepare(&pp, "foo", &[]);
    let target = pp.join("foo/target");
    std::fs::create_dir_all(target.join("usr/bin")).unwrap();
    std::fs::create_dir_all(target.join("usr/lib/foo-fw")).unwrap();
    std::fs::write(target.join("usr/bin/foo"), elf_header(183)).unwrap();
    std::fs::write(target.join("usr/bin/helper"), elf_header(62)).unwrap();
    std::fs::write(target.join("usr/lib/foo-fw/blob"), elf_header(62)).unwrap();
    let make = || {
        run(std::process::Command::new("make")
            .arg("-f")
            .arg(&mk)
            .arg("--trace")
            .arg("installed")
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL"))
    };
    let out = make();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    // The one command of the step, and the script's line (not the
    // excluded firmware's).
    let cmds: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" ppd ") || l.contains("/ppd "))
        .collect();
    assert_eq!(cmds.len(), 1, "{stdout}");
    assert!(
        cmds[0].ends_with(" --check-bin-arch AArch64 -i \"/usr/lib/foo-fw\""),
        "{stdout}"
    );
    assert!(cmds[0].contains(" file-list "), "{stdout}");
    let errors: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ERROR")).collect();
    assert_eq!(
        errors,
        [
            "ERROR: architecture for \"/usr/bin/helper\" is \"Advanced Micro Devices X86-64\", \
          should be \"AArch64\""
        ]
    );
    assert!(!stdout.contains("\ninstalled\n"), "{stdout}");
    let list = std::fs::read_to_string(r.join("out/build/foo/.files-list.txt")).unwrap();
    assert!(list.contains("foo,./usr/bin/helper\n"), "{list}");
    // The right architecture: the step goes on.
    std::fs::write(target.join("usr/bin/helper"), elf_header(183)).unwrap();
    let out = make();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.ends_with("installed\n"), "{stdout}");
    assert!(!stdout.contains("ERROR"), "{stdout}");
}
