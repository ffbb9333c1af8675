//! Buildroot's output directory as the audit sees it: `host/` (programs
//! for the build machine), the staging sysroot `host/<tuple>/sysroot` and
//! `target/` (both for the target machine), and the build locations
//! `per-package/` and `build/` that nothing may point into.
//!
//! The layout is fixed by Buildroot (`STAGING_DIR = HOST_DIR/<tuple>/sysroot`,
//! `PER_PACKAGE_DIR = BASE_DIR/per-package`), so it is discovered, not
//! configured. The host part skips what fix-rpath skips (the sysroot, a
//! downloaded external toolchain, `share/terminfo`); the toolchain's own
//! target libraries in `host/<tuple>/` and the firmware blobs below
//! `host/share/` are expected to be of another architecture. The target
//! architecture is the one most ELF files of staging and target share,
//! else the one the tuple names.

use std::path::{Path, PathBuf};

use super::audit::{self, Arch, AuditConfig, AuditReport, TreeKind};
use super::root::LibHeader;
use crate::elf::Class;

/// The parts of a Buildroot output directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputDir {
    /// `host/`.
    pub host: PathBuf,
    /// The GNU tuple of the target (`aarch64-buildroot-linux-gnu`).
    pub tuple: String,
    /// `host/<tuple>/sysroot`.
    pub staging: PathBuf,
    /// `target/`.
    pub target: PathBuf,
    /// `per-package/`, if the build uses per-package directories.
    pub per_package: Option<PathBuf>,
    /// `build/`, if present.
    pub build: Option<PathBuf>,
}

fn is_real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// Returns the subdirectories of `host` that hold a `sysroot` directory,
/// sorted by name.
fn sysroot_tuples(host: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(host) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_real_dir(&host.join(n)) && is_real_dir(&host.join(n).join("sysroot")))
        .collect();
    out.sort();
    out
}

/// Finds the parts of the output directory `dir`: `None` unless it has
/// `host/`, `target/` and a staging sysroot. With several sysroots, the
/// one the `staging` symlink names wins, else the first by name.
pub fn detect(dir: &Path) -> Option<OutputDir> {
    let host = dir.join("host");
    let target = dir.join("target");
    if !host.is_dir() || !target.is_dir() {
        return None;
    }
    let tuples = sysroot_tuples(&host);
    let via_link = std::fs::canonicalize(dir.join("staging")).ok();
    let tuple = tuples
        .iter()
        .find(|t| {
            via_link.is_some()
                && std::fs::canonicalize(host.join(t).join("sysroot")).ok() == via_link
        })
        .or(tuples.first())?
        .clone();
    let some_dir = |n: &str| Some(dir.join(n)).filter(|p| p.is_dir());
    Some(OutputDir {
        staging: host.join(&tuple).join("sysroot"),
        tuple,
        host,
        target,
        per_package: some_dir("per-package"),
        build: some_dir("build"),
    })
}

/// What a host tree's audit leaves out or lets be of another machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostLayout {
    /// Not walked: every `<tuple>/sysroot` (target files), the downloaded
    /// external toolchain `opt/ext-toolchain`, `share/terminfo`, as
    /// Buildroot's fix-rpath prunes them.
    pub prune: Vec<PathBuf>,
    /// Files of another machine expected: the toolchain's directories
    /// `<tuple>/` (gcc installs the target's libstdc++, libgcc_s... there
    /// before copying them to staging and target) and `share/`.
    pub foreign_ok: Vec<PathBuf>,
}

/// Returns the host tree layout of `host`.
pub fn host_layout(host: &Path) -> HostLayout {
    let mut l = HostLayout::default();
    for t in sysroot_tuples(host) {
        l.prune.push(host.join(t).join("sysroot"));
    }
    for p in ["opt/ext-toolchain", "share/terminfo"] {
        l.prune.push(host.join(p));
    }
    l.foreign_ok.push(host.join("share"));
    if let Ok(rd) = std::fs::read_dir(host) {
        let mut tuples: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .as_encoded_bytes()
                    .iter()
                    .filter(|&&b| b == b'-')
                    .count()
                    >= 2
            })
            .map(|e| e.path())
            .filter(|p| is_real_dir(p))
            .collect();
        tuples.sort();
        l.foreign_ok.extend(tuples);
    }
    l
}

/// Returns the architecture a GNU tuple names, by its CPU field.
pub fn tuple_arch(tuple: &str) -> Option<Arch> {
    let cpu = tuple.split('-').next()?;
    let (class, machine) = match cpu {
        "aarch64" | "aarch64_be" => (Class::Elf64, 183),
        "x86_64" => (Class::Elf64, 62),
        "i386" | "i486" | "i586" | "i686" => (Class::Elf32, 3),
        "riscv64" => (Class::Elf64, 243),
        "riscv32" => (Class::Elf32, 243),
        "powerpc64" | "powerpc64le" => (Class::Elf64, 21),
        "powerpc" => (Class::Elf32, 20),
        "mips64" | "mips64el" => (Class::Elf64, 8),
        "mips" | "mipsel" => (Class::Elf32, 8),
        "s390x" => (Class::Elf64, 22),
        "sparc64" => (Class::Elf64, 43),
        "loongarch64" => (Class::Elf64, 258),
        c if c.starts_with("arm") => (Class::Elf32, 40),
        _ => return None,
    };
    Some(LibHeader { class, machine })
}

/// Audits the three parts of an output directory, each with its own
/// rules and root, and joins the reports (host, staging, target).
pub fn audit_output(
    out: &OutputDir,
    ignore: &[String],
    pool: &rayon::ThreadPool,
) -> anyhow::Result<AuditReport> {
    let cfg = |paths: &Path, root: &Path, kind, prune: Vec<PathBuf>, foreign_ok| AuditConfig {
        paths: vec![paths.to_path_buf()],
        root: root.to_path_buf(),
        kind,
        host_dir: Some(out.host.clone()),
        per_package_dir: out.per_package.clone(),
        build_dirs: out.build.iter().cloned().collect(),
        ignore: ignore.to_vec(),
        prune,
        arch: None,
        foreign_ok,
    };
    let hl = host_layout(&out.host);
    let host = audit::survey(
        &cfg(
            &out.host,
            Path::new("/"),
            TreeKind::Host,
            hl.prune,
            hl.foreign_ok,
        ),
        pool,
    )?;
    let staging = audit::survey(
        &cfg(
            &out.staging,
            &out.staging,
            TreeKind::Staging,
            vec![
                out.staging.join("usr/include"),
                out.staging.join("usr/share/terminfo"),
            ],
            Vec::new(),
        ),
        pool,
    )?;
    let target = audit::survey(
        &cfg(
            &out.target,
            &out.target,
            TreeKind::Target,
            vec![out.target.join("lib/firmware")],
            Vec::new(),
        ),
        pool,
    )?;
    let mut counts = staging.arch_counts();
    for (a, n) in target.arch_counts() {
        *counts.entry(a).or_insert(0) += n;
    }
    let target_arch = audit::majority(&counts).or_else(|| tuple_arch(&out.tuple));
    let host_arch = audit::majority(&host.arch_counts());
    Ok(AuditReport::merge(vec![
        audit::judge(host, "host", host_arch, pool),
        audit::judge(staging, "staging", target_arch, pool),
        audit::judge(target, "target", target_arch, pool),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_layout() {
        let t = tempfile::tempdir().unwrap();
        let o = t.path();
        assert_eq!(detect(o), None);
        for d in [
            "host/aarch64-buildroot-linux-gnu/sysroot",
            "host/zz-other-linux/sysroot",
            "host/share/terminfo",
            "target",
            "per-package",
        ] {
            std::fs::create_dir_all(o.join(d)).unwrap();
        }
        let got = detect(o).unwrap();
        assert_eq!(got.tuple, "aarch64-buildroot-linux-gnu");
        assert_eq!(
            got.staging,
            o.join("host/aarch64-buildroot-linux-gnu/sysroot")
        );
        assert_eq!(got.per_package, Some(o.join("per-package")));
        assert_eq!(got.build, None);
        std::os::unix::fs::symlink("host/zz-other-linux/sysroot", o.join("staging")).unwrap();
        assert_eq!(detect(o).unwrap().tuple, "zz-other-linux");
        let hl = host_layout(&o.join("host"));
        assert_eq!(
            hl.prune,
            [
                o.join("host/aarch64-buildroot-linux-gnu/sysroot"),
                o.join("host/zz-other-linux/sysroot"),
                o.join("host/opt/ext-toolchain"),
                o.join("host/share/terminfo"),
            ]
        );
        assert_eq!(
            hl.foreign_ok,
            [
                o.join("host/share"),
                o.join("host/aarch64-buildroot-linux-gnu"),
                o.join("host/zz-other-linux"),
            ]
        );
        std::fs::remove_dir_all(o.join("target")).unwrap();
        assert_eq!(detect(o), None);
    }

    #[test]
    fn tuples_name_architectures() {
        let a = |t| tuple_arch(t).map(audit::arch_name);
        assert_eq!(a("aarch64-buildroot-linux-gnu").unwrap(), "ELF64 AArch64");
        assert_eq!(a("arm-buildroot-linux-gnueabihf").unwrap(), "ELF32 ARM");
        assert_eq!(a("x86_64-buildroot-linux-musl").unwrap(), "ELF64 x86-64");
        assert_eq!(a("nios2-buildroot-linux-gnu"), None);
    }
}
