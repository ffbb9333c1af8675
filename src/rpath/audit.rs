//! The RPATH audit: every ELF executable and shared library of a tree (or
//! of single files) against the rule set gathered from rpm's
//! check-rpaths, scanelf, Gentoo QA, lintian, OpenEmbedded's insane.bbclass,
//! Nix, Guix and Buildroot (rule ids R01-R13 and F01-F09, documented with
//! their origins in the README).
//!
//! Invariants:
//! - entries and `DT_NEEDED` names are resolved the way the loader will see
//!   them: inside the target root for target, staging and system trees
//!   (chroot-style, see [`super::root`]), on the real `/` for host trees,
//!   whose programs run on the build machine;
//! - both `DT_RPATH` and `DT_RUNPATH` are checked, every tag of each;
//! - findings are pure data, sorted by path, then rule, then message, so the
//!   report is the same for any thread count.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

pub use super::ldpath::is_standard_dir;
use super::ldpath::{default_dirs, is_libc_part};
use super::root::{LibHeader, LibLookup, Root};
use super::walk::regular_files;
use super::{lexical_join, origin_rest, parent, show, split_entries, squash, strip_root};
use crate::elf::{self, Class, ElfInfo, FileType};
use crate::fsx::{DirFd, FsError, Kind};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never fails the audit.
    Info,
    /// Probably wrong; does not fail the audit.
    Warning,
    /// Wrong; the audit exits with status 1.
    Error,
}

impl Severity {
    /// Returns the word used in human output.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Which kind of tree is audited: decides where paths resolve and which
/// tree-specific rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeKind {
    /// An installed system (default): the root is what `/` will be.
    System,
    /// Buildroot's HOST_DIR: programs run on the build machine.
    Host,
    /// A staging sysroot.
    Staging,
    /// A target root filesystem.
    Target,
}

/// What to audit and against what.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Files and trees to audit.
    pub paths: Vec<PathBuf>,
    /// The root the loader will see (`/` for host trees).
    pub root: PathBuf,
    /// Tree kind.
    pub kind: TreeKind,
    /// HOST_DIR: for host trees the tree itself; for target and staging
    /// trees a build location no entry may point into.
    pub host_dir: Option<PathBuf>,
    /// The per-package directory root (a build location).
    pub per_package_dir: Option<PathBuf>,
    /// Other build locations (BUILD_DIR, the output directory...).
    pub build_dirs: Vec<PathBuf>,
    /// Rule ids to leave out.
    pub ignore: Vec<String>,
    /// Directories (as given, or below a given path) the walk skips, like
    /// fix-rpath's prunes.
    pub prune: Vec<PathBuf>,
    /// The architecture every ELF file should have; `None`: the one most
    /// of the audited files share.
    pub arch: Option<Arch>,
    /// Directories below which a file of another architecture is expected
    /// (firmware, kernel modules, the toolchain's target libraries in a
    /// host tree): such a file gets neither F10 nor the library lookups.
    pub foreign_ok: Vec<PathBuf>,
}

/// An ELF class and machine: what the loader needs a library to match.
pub type Arch = LibHeader;

/// Returns "ELF64 AArch64"-style text for an architecture.
pub fn arch_name(a: Arch) -> String {
    format!("{} {}", class_name(a.class), elf::machine_name(a.machine))
}

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// Rule id (R01...R13, F01...F10, E01).
    pub rule: &'static str,
    /// Severity.
    pub severity: Severity,
    /// `RPATH` or `RUNPATH` when the finding is about one entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<&'static str>,
    /// The entry concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// What is wrong, in one sentence.
    pub message: String,
}

/// The findings of one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileFindings {
    /// The part of the audit the file belongs to.
    pub part: String,
    /// The file as reached from the path given.
    pub path: String,
    /// The same, escaped for the human report (one line, exact bytes).
    #[serde(skip)]
    pub shown: String,
    /// Its findings, sorted.
    pub findings: Vec<Finding>,
}

/// Counts of one part of an audit, or of the whole.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Regular files examined.
    pub files: usize,
    /// ELF executables and shared objects among them.
    pub elf_files: usize,
    /// ELF files with at least one finding.
    pub files_with_findings: usize,
    /// Error-level findings.
    pub errors: usize,
    /// Warning-level findings.
    pub warnings: usize,
    /// Info-level findings.
    pub infos: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.files += o.files;
        self.elf_files += o.elf_files;
        self.files_with_findings += o.files_with_findings;
        self.errors += o.errors;
        self.warnings += o.warnings;
        self.infos += o.infos;
    }

    /// The summary every audit ends with.
    pub fn line(&self) -> String {
        format!(
            "{} error(s), {} warning(s), {} info(s) in {} of {} ELF file(s)",
            self.errors, self.warnings, self.infos, self.files_with_findings, self.elf_files
        )
    }
}

/// What one part of an audit covered and what it found.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    /// `host`, `staging` or `target` for a Buildroot output directory,
    /// `audit` for an audit of given paths.
    pub name: String,
    /// The trees and files audited, as given.
    pub paths: Vec<String>,
    /// The rules applied: `host`, `staging`, `target` or `system`.
    pub tree: &'static str,
    /// The architecture every file was held to ("ELF64 AArch64"), if known.
    pub arch: Option<String>,
    /// Directories left out of the walk.
    pub excluded: Vec<String>,
    /// What was found.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The whole audit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditReport {
    /// Totals over every part.
    #[serde(flatten)]
    pub counts: Counts,
    /// What was audited, part by part.
    pub parts: Vec<Part>,
    /// Files with findings, by part, then sorted by path.
    pub results: Vec<FileFindings>,
}

impl AuditReport {
    /// Joins the reports of several parts, in order.
    pub fn merge(reports: Vec<AuditReport>) -> AuditReport {
        let mut all = AuditReport::default();
        for r in reports {
            all.counts.add(&r.counts);
            all.parts.extend(r.parts);
            all.results.extend(r.results);
        }
        all
    }

    /// Renders the human report: findings grouped by file, one line per
    /// part naming what was audited, then the totals (always, even when
    /// nothing was found).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.results {
            out.push_str(&f.shown);
            out.push('\n');
            for x in &f.findings {
                out.push_str(&format!(
                    "  {:<7} {}  {}\n",
                    x.severity.word(),
                    x.rule,
                    x.message
                ));
            }
        }
        for p in &self.parts {
            let mut what = format!("{} as a {} tree", p.paths.join(", "), p.tree);
            if let Some(a) = &p.arch {
                what.push_str(&format!(", {a}"));
            }
            if !p.excluded.is_empty() {
                what.push_str(&format!(", without {}", p.excluded.join(", ")));
            }
            out.push_str(&format!("{}: {what}: {} file(s)", p.name, p.counts.files));
            // With several parts, each gets its own totals.
            if self.parts.len() > 1 {
                out.push_str(&format!(": {}", p.counts.line()));
            }
            out.push('\n');
        }
        out.push_str(&self.counts.line());
        out.push('\n');
        out
    }
}

/// One file to audit: (walk base, path below it, canonical location in the
/// resolution root, path as shown, mode).
type Job = (Arc<DirFd>, Vec<u8>, Vec<u8>, PathBuf, u32);

/// What reading one file gave.
enum Read {
    /// Not an ELF executable or shared object.
    Skip,
    /// Has the ELF magic but cannot be opened or parsed.
    Bad(Finding),
    /// An ELF executable or shared object, with its mode.
    Elf(Box<ElfInfo>, u32),
}

/// The files of one part, read but not yet judged: the architecture of a
/// tree is known only once all its files are read.
pub struct Survey {
    env: Env,
    jobs: Vec<Job>,
    reads: Vec<Read>,
    ignore: Vec<String>,
    paths: Vec<String>,
    excluded: Vec<String>,
}

impl Survey {
    /// Counts the ELF files per architecture, leaving out the directories
    /// where other architectures are expected.
    pub fn arch_counts(&self) -> BTreeMap<Arch, usize> {
        let mut counts = BTreeMap::new();
        for ((_, _, loc, _, _), r) in self.jobs.iter().zip(&self.reads) {
            if let Read::Elf(info, _) = r {
                if !self.env.foreign_ok(loc) {
                    *counts.entry(arch_of(info)).or_insert(0) += 1;
                }
            }
        }
        counts
    }
}

/// Returns the architecture most files share (ties: the first in
/// (class, machine) order, so the choice is deterministic).
pub fn majority(counts: &BTreeMap<Arch, usize>) -> Option<Arch> {
    let mut best: Option<(Arch, usize)> = None;
    for (&a, &n) in counts {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((a, n));
        }
    }
    best.map(|(a, _)| a)
}

fn arch_of(info: &ElfInfo) -> Arch {
    LibHeader {
        class: info.class,
        machine: info.machine,
    }
}

/// Runs the audit on `pool`'s threads as one part named `audit`.
pub fn audit(cfg: &AuditConfig, pool: &rayon::ThreadPool) -> anyhow::Result<AuditReport> {
    let s = survey(cfg, pool)?;
    let arch = cfg.arch.or_else(|| majority(&s.arch_counts()));
    Ok(judge(s, "audit", arch, pool))
}

/// Walks and reads every file of a part.
pub fn survey(cfg: &AuditConfig, pool: &rayon::ThreadPool) -> anyhow::Result<Survey> {
    let env = Env::new(cfg)?;
    let mut jobs: Vec<Job> = Vec::new();
    let mut excluded = BTreeSet::new();
    for p in &cfg.paths {
        collect(&env, p, &cfg.prune, &mut jobs, &mut excluded)?;
    }
    let reads: Vec<Read> = pool.install(|| {
        jobs.par_iter()
            .map(|(dir, rel, _, _, mode)| read_one(dir, rel, *mode))
            .collect()
    });
    Ok(Survey {
        env,
        jobs,
        reads,
        ignore: cfg.ignore.clone(),
        paths: cfg.paths.iter().map(|p| p.display().to_string()).collect(),
        excluded: excluded.into_iter().collect(),
    })
}

/// Applies the rules to every file of a surveyed part, holding each file
/// to `arch`.
pub fn judge(s: Survey, name: &str, arch: Option<Arch>, pool: &rayon::ThreadPool) -> AuditReport {
    let env = &s.env;
    let inherited = inherited_dirs(&s);
    let results: Vec<Vec<Finding>> = pool.install(|| {
        s.jobs
            .par_iter()
            .zip(s.reads.par_iter())
            .map(|((_, _, loc, _, _), r)| judge_one(env, r, loc, arch, &inherited))
            .collect()
    });
    let mut counts = Counts {
        files: s.jobs.len(),
        ..Counts::default()
    };
    let mut out = Vec::new();
    for (((_, _, _, shown, _), r), mut findings) in s.jobs.iter().zip(&s.reads).zip(results) {
        counts.elf_files += usize::from(matches!(r, Read::Elf(..)));
        findings.retain(|f| !s.ignore.iter().any(|r| r == f.rule));
        if findings.is_empty() {
            continue;
        }
        findings.sort();
        findings.dedup();
        counts.files_with_findings += 1;
        for f in &findings {
            match f.severity {
                Severity::Error => counts.errors += 1,
                Severity::Warning => counts.warnings += 1,
                Severity::Info => counts.infos += 1,
            }
        }
        out.push(FileFindings {
            part: name.to_string(),
            path: shown.display().to_string(),
            shown: crate::fsx::show(shown).to_string(),
            findings,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    AuditReport {
        counts,
        parts: vec![Part {
            name: name.to_string(),
            paths: s.paths,
            tree: env.kind.word(),
            arch: arch.map(arch_name),
            excluded: s.excluded,
            counts,
        }],
        results: out,
    }
}

/// The directories the DT_RPATH of some file of the part leads to, for
/// files without DT_RUNPATH (which makes the loader ignore DT_RPATH). The
/// loader searches the DT_RPATH of every object in the loading chain, the
/// program's included, for a library's dependencies: a plugin without a
/// search path of its own finds the private libraries of the program that
/// loads it there.
fn inherited_dirs(s: &Survey) -> Vec<Vec<u8>> {
    let mut dirs = BTreeSet::new();
    for ((_, _, loc, _, _), r) in s.jobs.iter().zip(&s.reads) {
        let Read::Elf(info, _) = r else { continue };
        if !info.runpath.is_empty() {
            continue;
        }
        let file = FileCtx {
            env: &s.env,
            info,
            dir: parent(loc),
            setid: false,
            inherited: &[],
        };
        for d in &info.rpath {
            for e in split_entries(&d.value) {
                if let Target::Dir(p) = file.target(e) {
                    dirs.insert(p);
                }
            }
        }
    }
    dirs.into_iter().collect()
}

impl TreeKind {
    /// Returns the word used in reports.
    pub fn word(self) -> &'static str {
        match self {
            TreeKind::System => "system",
            TreeKind::Host => "host",
            TreeKind::Staging => "staging",
            TreeKind::Target => "target",
        }
    }
}

/// Per-run facts every file's rules need.
struct Env {
    kind: TreeKind,
    resolver: Root,
    /// Canonical host path of the resolution root, as bytes ("" for `/`).
    root_abs: Vec<u8>,
    /// Canonical HOST_DIR relative to `/`, for host trees.
    host_rel: Option<Vec<u8>>,
    /// Absolute build locations with a label each.
    build: Vec<(Vec<u8>, String)>,
    default_dirs: Vec<Vec<u8>>,
    /// Locations (in the resolution root) where other architectures are
    /// expected.
    foreign_ok: Vec<Vec<u8>>,
}

impl Env {
    fn new(cfg: &AuditConfig) -> anyhow::Result<Env> {
        let root_path = if cfg.kind == TreeKind::Host {
            PathBuf::from("/")
        } else {
            cfg.root.clone()
        };
        let root_abs = canonical(&root_path)?;
        let resolver = Root::open(&root_path)?;
        let host_rel = match (&cfg.host_dir, cfg.kind) {
            (Some(h), TreeKind::Host) => Some(canonical(h)?[1..].to_vec()),
            (None, TreeKind::Host) => anyhow::bail!("auditing a host tree needs --host-dir"),
            _ => None,
        };
        let mut build = Vec::new();
        let mut add = |p: &Path, label: &str| {
            let b = squash(p.as_os_str().as_bytes());
            if b.len() > 1 {
                build.push((b, label.to_string()));
            }
        };
        if let Some(p) = &cfg.per_package_dir {
            add(p, "the per-package directory");
        }
        for p in &cfg.build_dirs {
            add(p, "a build directory");
        }
        if let (Some(h), TreeKind::Target | TreeKind::Staging | TreeKind::System) =
            (&cfg.host_dir, cfg.kind)
        {
            add(h, "the host directory");
        }
        if !matches!(cfg.kind, TreeKind::Host) && root_abs.len() > 1 {
            add(
                Path::new(std::ffi::OsStr::from_bytes(&root_abs)),
                "the tree's build location",
            );
        }
        let tmp = std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into());
        add(Path::new(&tmp), "the temporary directory");
        add(Path::new("/var/tmp"), "the temporary directory");
        let default_dirs = default_dirs(&resolver);
        let root_abs = if root_abs == b"/" {
            Vec::new()
        } else {
            root_abs
        };
        let mut foreign_ok: Vec<Vec<u8>> = Vec::new();
        if cfg.kind != TreeKind::Host {
            // check-bin-arch's list (firmware, kernel modules, /usr/share,
            // grub, guile), taken as whole directories.
            foreign_ok.extend(
                crate::binarch::BUILTIN_IGNORES
                    .iter()
                    .map(|d| d.trim_start_matches('/').as_bytes().to_vec()),
            );
        }
        for p in &cfg.foreign_ok {
            if let Ok(abs) = canonical(p) {
                if let Some(l) = location(&root_abs, &abs) {
                    foreign_ok.push(l);
                }
            }
        }
        Ok(Env {
            kind: cfg.kind,
            resolver,
            root_abs,
            host_rel,
            build,
            default_dirs,
            foreign_ok,
        })
    }

    /// Returns the label of the build location an absolute path is in.
    fn build_location(&self, path: &[u8]) -> Option<&str> {
        let path = squash(path);
        self.build
            .iter()
            .find(|(b, _)| strip_root(&path, b).is_some())
            .map(|(_, l)| l.as_str())
    }

    /// True if a file at this location may have another architecture.
    fn foreign_ok(&self, loc: &[u8]) -> bool {
        self.foreign_ok.iter().any(|d| {
            loc.strip_prefix(d.as_slice())
                .is_some_and(|r| r.first() == Some(&b'/'))
        })
    }
}

fn canonical(p: &Path) -> anyhow::Result<Vec<u8>> {
    let c = std::fs::canonicalize(p)
        .map_err(|e| FsError::new("resolving", p, crate::fsx::errno_of(&e)))?;
    Ok(c.as_os_str().as_bytes().to_vec())
}

/// Returns the location of a canonical absolute path in the resolution
/// root (`root_abs` empty for `/`), or `None` if it is outside.
fn location(root_abs: &[u8], abs: &[u8]) -> Option<Vec<u8>> {
    if root_abs.is_empty() {
        return Some(abs[1..].to_vec());
    }
    strip_root(abs, root_abs).map(<[u8]>::to_vec)
}

/// Adds the regular files of one user-given path to `jobs` as (walk base,
/// path below it, canonical location in the resolution root, shown path),
/// skipping the `prune` directories below it (noted in `excluded`).
fn collect(
    env: &Env,
    p: &Path,
    prune: &[PathBuf],
    jobs: &mut Vec<Job>,
    excluded: &mut BTreeSet<String>,
) -> anyhow::Result<()> {
    let abs = canonical(p)?;
    let Some(loc) = location(&env.root_abs, &abs) else {
        anyhow::bail!(
            "auditing {}: not below the root {}",
            crate::fsx::show(p),
            crate::fsx::show_bytes(&env.root_abs)
        )
    };
    let meta = std::fs::metadata(p)
        .map_err(|e| FsError::new("inspecting", p, crate::fsx::errno_of(&e)))?;
    if !meta.is_dir() {
        // Open through the canonical path so a symlink argument is audited
        // as the file it leads to, and located where that file is.
        let real_dir = DirFd::open(Path::new(std::ffi::OsStr::from_bytes(parent_abs(&abs))))?;
        let name = abs
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or_default()
            .to_vec();
        jobs.push((Arc::new(real_dir), name, loc, p.to_path_buf(), meta.mode()));
        return Ok(());
    }
    let mut skip = Vec::new();
    for x in prune {
        let Ok(x_abs) = canonical(x) else { continue };
        if let Some(rel) = strip_root(&x_abs, &abs).filter(|r| !r.is_empty()) {
            skip.push(rel.to_vec());
            excluded.insert(crate::fsx::join(p, rel).display().to_string());
        }
    }
    let dir = Arc::new(DirFd::open(p)?);
    for f in regular_files(&dir, b"", &skip)? {
        let mut l = loc.clone();
        if !l.is_empty() {
            l.push(b'/');
        }
        l.extend_from_slice(&f.rel);
        let shown = crate::fsx::join(p, &f.rel);
        jobs.push((Arc::clone(&dir), f.rel, l, shown, f.meta.mode));
    }
    Ok(())
}

fn parent_abs(abs: &[u8]) -> &[u8] {
    match abs.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &abs[..i],
    }
}

/// Reads one file's ELF facts; `mode` comes from the walk.
fn read_one(dir: &DirFd, rel: &[u8], mode: u32) -> Read {
    let info = match super::root::open_beneath(dir, rel).map(|f| elf::read_file(&f)) {
        Err(e) => {
            return Read::Bad(finding(
                "E01",
                Severity::Warning,
                format!("cannot open: {e}"),
            ))
        }
        Ok(Ok(None)) => return Read::Skip,
        Ok(Ok(Some(i))) => i,
        Ok(Err(e)) => {
            return Read::Bad(finding(
                "E01",
                Severity::Warning,
                format!("malformed ELF file: {e}"),
            ))
        }
    };
    if !matches!(info.file_type, FileType::Executable | FileType::Dynamic) {
        return Read::Skip;
    }
    Read::Elf(Box::new(info), mode)
}

/// Applies the rules to one file read.
fn judge_one(
    env: &Env,
    r: &Read,
    loc: &[u8],
    arch: Option<Arch>,
    inherited: &[Vec<u8>],
) -> Vec<Finding> {
    let (info, mode) = match r {
        Read::Skip => return Vec::new(),
        Read::Bad(f) => return vec![f.clone()],
        Read::Elf(info, mode) => (info, *mode),
    };
    let file = FileCtx {
        env,
        info,
        dir: parent(loc),
        setid: mode & 0o6000 != 0,
        inherited,
    };
    let mut out = Vec::new();
    file.entry_rules(&mut out);
    let foreign = arch.filter(|&a| a != arch_of(info));
    if foreign.is_some() {
        // Whether an entry supplies a library depends on the file's
        // machine too: the tree's libraries are not its libraries.
        out.retain(|f| f.rule != "R12");
    }
    file.file_rules(&mut out, foreign.is_none());
    if let Some(a) = foreign {
        if !env.foreign_ok(loc) {
            // Buildroot's check-bin-arch rule. The file's libraries would
            // be looked up among the tree's, so those lookups say nothing.
            // check-bin-arch fails the build for target/ only; a staging
            // sysroot gets the external toolchain's gcc support directory
            // copied in whole (cc1, lto plugins for the build machine), a
            // harmless and common sight, so it is worth knowing, no more.
            let sev = match env.kind {
                TreeKind::Target => Severity::Error,
                TreeKind::System => Severity::Warning,
                TreeKind::Staging | TreeKind::Host => Severity::Info,
            };
            out.push(finding(
                "F10",
                sev,
                format!(
                    "{} file in a tree of {} files",
                    arch_name(arch_of(info)),
                    arch_name(a)
                ),
            ));
        }
    }
    out
}

fn finding(rule: &'static str, severity: Severity, message: String) -> Finding {
    Finding {
        rule,
        severity,
        tag: None,
        entry: None,
        message,
    }
}

/// One file being audited.
struct FileCtx<'a> {
    env: &'a Env,
    info: &'a ElfInfo,
    /// Canonical directory of the file, relative to the resolution root.
    dir: &'a [u8],
    /// Setuid or setgid.
    setid: bool,
    /// Directories other files' DT_RPATH lead to (see [`inherited_dirs`]).
    inherited: &'a [Vec<u8>],
}

/// Where an entry leads.
enum Target {
    /// A canonical root-relative directory.
    Dir(Vec<u8>),
    /// Nothing there.
    Missing,
    /// Not resolvable statically (relative, unknown token, escapes root).
    Unknown,
}

impl FileCtx<'_> {
    fn entry_rules(&self, out: &mut Vec<Finding>) {
        let tags = self
            .info
            .rpath
            .iter()
            .map(|d| ("RPATH", d))
            .chain(self.info.runpath.iter().map(|d| ("RUNPATH", d)));
        for (tag, d) in tags {
            if d.value.is_empty() {
                // glibc ignores an empty value; fix-rpath leaves one when
                // it drops every entry, as Buildroot's patchelf does.
                continue;
            }
            let mut seen_plain = false;
            for e in split_entries(&d.value) {
                let mut push = |rule, severity, msg: String| {
                    out.push(Finding {
                        rule,
                        severity,
                        tag: Some(tag),
                        entry: Some(show(e).into_owned()),
                        message: format!("{tag} entry \"{}\": {msg}", show(e)),
                    })
                };
                self.one_entry(e, seen_plain, &mut push);
                seen_plain |= origin_rest(e).is_none();
            }
        }
    }

    fn one_entry(
        &self,
        e: &[u8],
        seen_plain: bool,
        push: &mut impl FnMut(&'static str, Severity, String),
    ) {
        use Severity::*;
        if e.is_empty() {
            push(
                "R01",
                Error,
                "empty entry: the loader searches the current directory".into(),
            );
            return;
        }
        if let Some(tok) = unknown_token(e) {
            push("R03", Error, format!("unknown dynamic string token ${tok}"));
            return;
        }
        let origin = origin_rest(e);
        if origin.is_some() {
            if self.setid {
                push("R04", Error, "$ORIGIN in a setuid or setgid file".into());
            }
            if seen_plain {
                push(
                    "R05",
                    Warning,
                    "$ORIGIN entry after a non-$ORIGIN entry".into(),
                );
            }
        } else if e[0] != b'/' {
            push(
                "R02",
                Error,
                "relative entry: resolved against the current directory".into(),
            );
            return;
        }
        if e[0] == b'/' {
            let sq = squash(e);
            let rel = sq.strip_prefix(b"/").unwrap_or(&sq);
            let in_host = self
                .env
                .host_rel
                .as_ref()
                .is_some_and(|h| strip_root(rel, h).is_some());
            if in_host {
                push(
                    "R10",
                    Warning,
                    "absolute path into the host directory: not relocatable (use $ORIGIN)".into(),
                );
            } else if let Some(label) = self.env.build_location(e) {
                push("R06", Error, format!("points into {label}"));
                return;
            } else if self.env.host_rel.is_some() && !is_standard_dir(&sq) {
                push("R10", Error, "points outside the host directory".into());
            }
            if has_dot_components(e) {
                push("R07", Warning, "not normalised ('..', '.' or '//')".into());
            }
            if self.env.kind != TreeKind::Host && is_standard_dir(&sq) {
                push(
                    "R08",
                    Warning,
                    "a standard library directory, searched anyway".into(),
                );
            }
        }
        match self.target(e) {
            Target::Missing if origin.is_some() => {
                push("R11", Warning, "directory does not exist".into())
            }
            Target::Missing => push(
                "R09",
                Warning,
                "directory does not exist in the tree".into(),
            ),
            Target::Unknown => push("R11", Warning, "climbs above the root".into()),
            Target::Dir(d) => {
                if !self.supplies_needed(&d) {
                    push("R12", Info, "supplies none of the needed libraries".into());
                }
                if let Some(st) = self.env.resolver.stat(&d) {
                    if st.st_mode & 0o002 != 0 {
                        push("R13", Warning, "directory is world-writable".into());
                    }
                }
            }
        }
    }

    /// Resolves an entry to a directory in the resolution root.
    fn target(&self, e: &[u8]) -> Target {
        let path = match origin_rest(e) {
            Some(rest) => match lexical_join(self.dir, rest) {
                Some(p) => p,
                None => return Target::Unknown,
            },
            None if e.first() == Some(&b'/') => e.to_vec(),
            None => return Target::Unknown,
        };
        // $LIB and $PLATFORM depend on the machine; not resolved.
        if memchr::memchr(b'$', &path).is_some() {
            return Target::Unknown;
        }
        match self.env.resolver.resolve(&path) {
            Some((d, Kind::Dir)) => Target::Dir(d),
            _ => Target::Missing,
        }
    }

    fn supplies_needed(&self, dir: &[u8]) -> bool {
        self.info
            .needed
            .iter()
            .any(|n| matches!(self.env.resolver.lookup_lib(dir, n), LibLookup::Elf(_)))
    }

    fn search_dirs(&self) -> Vec<(Vec<u8>, bool)> {
        let mut dirs = Vec::new();
        for d in self.info.effective_path().into_iter() {
            for e in split_entries(&d.value) {
                if let Target::Dir(p) = self.target(e) {
                    dirs.push((p, true));
                }
            }
        }
        dirs.extend(self.env.default_dirs.iter().map(|d| (d.clone(), false)));
        dirs
    }

    /// The per-file rules; the library lookups (F01-F03) only when the
    /// file has the tree's architecture.
    fn file_rules(&self, out: &mut Vec<Finding>, lookups: bool) {
        use Severity::*;
        let info = self.info;
        let mut push = |rule, severity, msg: String| out.push(finding(rule, severity, msg));
        if info.rpath.len() > 1 || info.runpath.len() > 1 {
            push(
                "F05",
                Warning,
                "more than one DT_RPATH or DT_RUNPATH tag".into(),
            );
        }
        if let (Some(r), Some(rr)) = (info.rpath.first(), info.runpath.first()) {
            if r.value != rr.value {
                push(
                    "F04",
                    Warning,
                    format!(
                        "both DT_RPATH \"{}\" and DT_RUNPATH \"{}\": RPATH is ignored",
                        show(&r.value),
                        show(&rr.value)
                    ),
                );
            }
        }
        if let Some(interp) = &info.interp {
            if let Some(label) = self.env.build_location(interp) {
                push(
                    "F06",
                    Error,
                    format!("program interpreter {} is in {label}", show(interp)),
                );
            }
        }
        self.build_strings(&mut push);
        if info.textrel {
            push("F09", Warning, "text relocations (DT_TEXTREL)".into());
        }
        if info.exec_stack {
            push(
                "F09",
                Warning,
                "executable stack (PT_GNU_STACK has PF_X)".into(),
            );
        }
        if info.wx_segment {
            push(
                "F09",
                Warning,
                "a loadable segment is both writable and executable".into(),
            );
        }
        if lookups {
            self.needed_rules(&mut push);
        }
    }

    /// F07: build locations in dynamic strings other than RPATH/RUNPATH.
    fn build_strings(&self, push: &mut impl FnMut(&'static str, Severity, String)) {
        let Some(tab) = &self.info.dynstr else { return };
        let own: BTreeSet<u64> = self
            .info
            .rpath
            .iter()
            .chain(&self.info.runpath)
            .map(|d| d.offset)
            .collect();
        for (loc, label) in &self.env.build {
            if label == "the temporary directory" {
                continue;
            }
            for hit in memchr::memmem::find_iter(&tab.bytes, loc) {
                let start = tab.bytes[..hit]
                    .iter()
                    .rposition(|&b| b == 0)
                    .map_or(0, |i| i + 1) as u64;
                if !own.contains(&start) {
                    push(
                        "F07",
                        Severity::Warning,
                        format!("a dynamic string contains {label} {}", show(loc)),
                    );
                    break;
                }
            }
        }
    }

    /// F01, F02, F03: does every DT_NEEDED resolve to a compatible file?
    fn needed_rules(&self, push: &mut impl FnMut(&'static str, Severity, String)) {
        use Severity::*;
        let dirs = self.search_dirs();
        for name in &self.info.needed {
            if name.contains(&b'/') || name.is_empty() {
                continue;
            }
            let mut found = false;
            let mut wrong: Option<(Vec<u8>, elf::Class, u16)> = None;
            for (d, from_path) in &dirs {
                match self.env.resolver.lookup_lib(d, name) {
                    LibLookup::Elf(h)
                        if h.class == self.info.class && h.machine == self.info.machine =>
                    {
                        found = true;
                        break;
                    }
                    LibLookup::Elf(h) if *from_path && wrong.is_none() => {
                        wrong = Some((d.clone(), h.class, h.machine))
                    }
                    _ => {}
                }
            }
            if let Some(host) = &self.env.host_rel {
                self.host_lib_rule(host, name, push);
            }
            if found {
                continue;
            }
            if let Some((d, class, machine)) = wrong {
                push(
                    "F03",
                    Error,
                    format!(
                        "{} found in /{} is {} {}, not {} {}",
                        show(name),
                        show(&d),
                        class_name(class),
                        elf::machine_name(machine),
                        class_name(self.info.class),
                        elf::machine_name(self.info.machine)
                    ),
                );
            } else if self.inherits_from(name) {
                push(
                    "F02",
                    Info,
                    format!(
                        "needed library {} found only through another file's DT_RPATH, \
                         which the loader searches when that file loads this one",
                        show(name)
                    ),
                );
            } else if !is_libc_part(name) {
                let sev = if self.env.kind == TreeKind::Host {
                    Error
                } else {
                    Warning
                };
                push(
                    "F02",
                    sev,
                    format!(
                        "needed library {} not found through the search path",
                        show(name)
                    ),
                );
            }
        }
    }

    /// True if this file is a shared library without DT_RUNPATH (which
    /// would make the loader ignore the loading objects' DT_RPATH) and
    /// `name` of its machine is in a directory another file's DT_RPATH
    /// leads to.
    fn inherits_from(&self, name: &[u8]) -> bool {
        let info = self.info;
        let library = info.file_type == FileType::Dynamic && info.interp.is_none();
        library
            && info.runpath.is_empty()
            && self.inherited.iter().any(|d| {
                matches!(self.env.resolver.lookup_lib(d, name),
                    LibLookup::Elf(h) if h.class == info.class && h.machine == info.machine)
            })
    }

    /// F01: a library present in HOST_DIR/lib must be reachable.
    fn host_lib_rule(
        &self,
        host: &[u8],
        name: &[u8],
        push: &mut impl FnMut(&'static str, Severity, String),
    ) {
        let mut hostlib = host.to_vec();
        hostlib.extend_from_slice(b"/lib");
        let Some((hostlib, Kind::Dir)) = self.env.resolver.resolve(&hostlib) else {
            return;
        };
        if !self.env.resolver.exists_in(&hostlib, name) {
            return;
        }
        let reached = self.info.effective_path().is_some_and(|d| {
            split_entries(&d.value)
                .iter()
                .any(|e| matches!(self.target(e), Target::Dir(p) if p == hostlib))
        });
        if !reached {
            push(
                "F01",
                Severity::Error,
                format!(
                    "needs {} from the host directory's lib/ but no RPATH entry leads there",
                    show(name)
                ),
            );
        }
    }
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Elf32 => "ELF32",
        Class::Elf64 => "ELF64",
    }
}

/// Returns the name of the first `$TOKEN` that is not ORIGIN, LIB or PLATFORM.
fn unknown_token(e: &[u8]) -> Option<String> {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'$', &e[i..]) {
        let rest = &e[i + off + 1..];
        let name: &[u8] = if let Some(r) = rest.strip_prefix(b"{") {
            let end = r.iter().position(|&b| b == b'}').unwrap_or(r.len());
            &r[..end]
        } else {
            let end = rest
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                .unwrap_or(rest.len());
            &rest[..end]
        };
        if !matches!(name, b"ORIGIN" | b"LIB" | b"PLATFORM") {
            return Some(show(name).into_owned());
        }
        i += off + 1;
    }
    None
}

fn has_dot_components(e: &[u8]) -> bool {
    e.windows(2).any(|w| w == b"//") || e.split(|&b| b == b'/').any(|c| c == b".." || c == b".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(unknown_token(b"$ORIGIN/../lib"), None);
        assert_eq!(unknown_token(b"/usr/$LIB/${PLATFORM}"), None);
        assert_eq!(unknown_token(b"${ORIGIN}/x"), None);
        assert_eq!(unknown_token(b"$HOME/lib").as_deref(), Some("HOME"));
        assert_eq!(unknown_token(b"/a/${FOO}/b").as_deref(), Some("FOO"));
    }

    #[test]
    fn dot_components() {
        assert!(has_dot_components(b"/usr/lib/../lib"));
        assert!(has_dot_components(b"/usr//lib"));
        assert!(has_dot_components(b"/usr/./lib"));
        assert!(!has_dot_components(b"/usr/lib..x"));
    }
}
