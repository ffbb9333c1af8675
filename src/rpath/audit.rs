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

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

pub use super::ldpath::is_standard_dir;
use super::ldpath::{default_dirs, is_libc_part};
use super::root::{LibLookup, Root};
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
}

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// Rule id (R01...R13, F01...F09, E01).
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
    /// The file as reached from the path given.
    pub path: String,
    /// Its findings, sorted.
    pub findings: Vec<Finding>,
}

/// The whole audit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditReport {
    /// Regular files examined.
    pub files: usize,
    /// ELF executables and shared objects among them.
    pub elf_files: usize,
    /// Errors, warnings and infos found.
    pub errors: usize,
    /// Warnings found.
    pub warnings: usize,
    /// Infos found.
    pub infos: usize,
    /// Files with findings, sorted by path.
    pub results: Vec<FileFindings>,
}

impl AuditReport {
    /// Renders the human report: findings grouped by file, then a total.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.results {
            out.push_str(&f.path);
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
        if !self.results.is_empty() {
            out.push_str(&format!(
                "{} error(s), {} warning(s), {} info(s) in {} of {} ELF file(s)\n",
                self.errors,
                self.warnings,
                self.infos,
                self.results.len(),
                self.elf_files
            ));
        }
        out
    }
}

/// One file to audit: (walk base, path below it, canonical location in the
/// resolution root, path as shown).
type Job = (Arc<DirFd>, Vec<u8>, Vec<u8>, String);

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
}

/// Runs the audit on `pool`'s threads.
pub fn audit(cfg: &AuditConfig, pool: &rayon::ThreadPool) -> anyhow::Result<AuditReport> {
    let env = Env::new(cfg)?;
    let mut jobs: Vec<Job> = Vec::new();
    for p in &cfg.paths {
        collect(&env, p, &mut jobs)?;
    }
    let results: Vec<(bool, Vec<Finding>)> = pool.install(|| {
        jobs.par_iter()
            .map(|(dir, rel, loc, _)| audit_file(&env, dir, rel, loc))
            .collect()
    });
    let mut report = AuditReport {
        files: jobs.len(),
        ..AuditReport::default()
    };
    for ((_, _, _, shown), (is_elf, mut findings)) in jobs.iter().zip(results) {
        report.elf_files += usize::from(is_elf);
        findings.retain(|f| !cfg.ignore.iter().any(|r| r == f.rule));
        if findings.is_empty() {
            continue;
        }
        findings.sort();
        findings.dedup();
        for f in &findings {
            match f.severity {
                Severity::Error => report.errors += 1,
                Severity::Warning => report.warnings += 1,
                Severity::Info => report.infos += 1,
            }
        }
        report.results.push(FileFindings {
            path: shown.clone(),
            findings,
        });
    }
    report.results.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
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
        Ok(Env {
            kind: cfg.kind,
            resolver,
            root_abs: if root_abs == b"/" {
                Vec::new()
            } else {
                root_abs
            },
            host_rel,
            build,
            default_dirs,
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
}

fn canonical(p: &Path) -> anyhow::Result<Vec<u8>> {
    let c = std::fs::canonicalize(p)
        .map_err(|e| FsError::new("resolving", p, crate::fsx::errno_of(&e)))?;
    Ok(c.as_os_str().as_bytes().to_vec())
}

/// Adds the regular files of one user-given path to `jobs` as (walk base,
/// path below it, canonical location in the resolution root, shown path).
fn collect(env: &Env, p: &Path, jobs: &mut Vec<Job>) -> anyhow::Result<()> {
    let abs = canonical(p)?;
    let loc = if env.root_abs.is_empty() {
        abs[1..].to_vec()
    } else {
        match strip_root(&abs, &env.root_abs) {
            Some(r) => r.to_vec(),
            None => anyhow::bail!(
                "auditing {}: not below the root {}",
                p.display(),
                show(&env.root_abs)
            ),
        }
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
        jobs.push((Arc::new(real_dir), name, loc, p.display().to_string()));
        return Ok(());
    }
    let dir = Arc::new(DirFd::open(p)?);
    for f in regular_files(&dir, b"", &[])? {
        let mut l = loc.clone();
        if !l.is_empty() {
            l.push(b'/');
        }
        l.extend_from_slice(&f.rel);
        let shown = crate::fsx::join(p, &f.rel).display().to_string();
        jobs.push((Arc::clone(&dir), f.rel, l, shown));
    }
    Ok(())
}

fn parent_abs(abs: &[u8]) -> &[u8] {
    match abs.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &abs[..i],
    }
}

/// Audits one file; returns whether it is an ELF program or library and
/// its findings.
fn audit_file(env: &Env, dir: &DirFd, rel: &[u8], loc: &[u8]) -> (bool, Vec<Finding>) {
    let info = match super::root::open_beneath(dir, rel).map(|f| elf::read_file(&f)) {
        Err(e) => {
            return (
                false,
                vec![finding(
                    "E01",
                    Severity::Warning,
                    format!("cannot open: {e}"),
                )],
            )
        }
        Ok(Ok(None)) => return (false, Vec::new()),
        Ok(Ok(Some(i))) => i,
        Ok(Err(e)) => {
            return (
                false,
                vec![finding(
                    "E01",
                    Severity::Warning,
                    format!("malformed ELF file: {e}"),
                )],
            )
        }
    };
    if !matches!(info.file_type, FileType::Executable | FileType::Dynamic) {
        return (false, Vec::new());
    }
    let mode = dir.stat(rel).ok().flatten().map_or(0, |st| st.st_mode);
    let file = FileCtx {
        env,
        info: &info,
        dir: parent(loc),
        setid: mode & 0o6000 != 0,
    };
    let mut out = Vec::new();
    file.entry_rules(&mut out);
    file.file_rules(&mut out);
    (true, out)
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

    fn file_rules(&self, out: &mut Vec<Finding>) {
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
        self.needed_rules(&mut push);
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
