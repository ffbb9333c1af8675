//! `fix-rpath`: what Buildroot's `support/scripts/fix-rpath` does with its
//! patched `patchelf --make-rpath-relative`, done in-process.
//!
//! For every ELF file of the tree with an RPATH or RUNPATH, each value is
//! transformed in two steps:
//! 1. every `<PER_PACKAGE_DIR>/<pkg>/host` prefix becomes `HOST_DIR` (the
//!    script's `sed`, applied globally, but only on whole components);
//! 2. each entry is kept only if it exists: `$ORIGIN...` resolved from the
//!    file's directory, an absolute path inside the root, or an absolute
//!    path meant for the final root (`ROOT + entry`); staging and target
//!    trees also drop `ROOT/lib` and `ROOT/usr/lib`; an entry must hold one
//!    of the `DT_NEEDED` libraries not found in an earlier entry; kept
//!    entries are written `$ORIGIN`-relative (host) or root-absolute
//!    (staging, target).
//!
//! Invariants (where this improves on the script):
//! - the plan is computed first, as data; `--dry-run` prints it;
//! - each inode is read once; hard-linked names inside the tree are handled
//!   together: names that get the same new value share one new inode, and
//!   `$ORIGIN` is computed from each name's own directory;
//! - files are never written in place: the new image goes to a temporary
//!   file renamed over the name ([`DirFd::replace_file`]), keeping mode,
//!   owner and mtime, so other trees hard-linked to the old inode keep it;
//! - only the string bytes change (see [`crate::elf::edit`]); the RPATH or
//!   RUNPATH tag is kept; a value that does not fit is reported and the
//!   file left alone; files needing no change are not touched;
//! - symlinks are resolved inside the root, never on the build host.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rayon::prelude::*;

use super::root::Root;
use super::walk::{regular_files, FileEntry};
use super::{
    lexical_join, origin_relative, origin_rest, parent, split_entries, squash, strip_root,
};
use crate::elf::edit::{rewrite_strings, Change};
use crate::elf::{self, ElfInfo};
use crate::fsx::{self, DirFd, FileKey, Kind, Meta};

/// The kind of tree, which decides the output form and the prunes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixKind {
    /// HOST_DIR: `$ORIGIN`-relative output.
    Host,
    /// STAGING_DIR: root-absolute output without standard lib dirs.
    Staging,
    /// TARGET_DIR: root-absolute output without standard lib dirs.
    Target,
}

/// What to fix.
#[derive(Clone, Debug)]
pub struct FixConfig {
    /// Tree kind.
    pub kind: FixKind,
    /// The tree's root.
    pub root: PathBuf,
    /// HOST_DIR, what per-package host paths become.
    pub host_dir: Option<PathBuf>,
    /// PER_PACKAGE_DIR.
    pub per_package_dir: Option<PathBuf>,
    /// Absolute paths to skip, with everything below them (find -prune).
    pub prune: Vec<PathBuf>,
    /// Keep entries that hold none of the needed libraries.
    pub keep_unused: bool,
}

/// One string to rewrite in one file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StringChange {
    /// `RPATH` or `RUNPATH`.
    pub tag: &'static str,
    /// Index of the entry in the dynamic array.
    pub index: usize,
    /// Old value.
    pub old: Vec<u8>,
    /// New value.
    pub new: Vec<u8>,
}

/// One new inode to write: its first name, the other names (hard links
/// inside the tree) that get the same content, and the string changes.
#[derive(Clone, Debug)]
pub struct Rewrite {
    /// Root-relative path written first.
    pub rel: Vec<u8>,
    /// Other root-relative names linked to the new inode.
    pub aliases: Vec<Vec<u8>>,
    /// Identity of the inode read when planning.
    pub key: FileKey,
    /// Metadata the new file keeps.
    pub meta: Meta,
    /// The string changes.
    pub changes: Vec<StringChange>,
}

/// The plan: rewrites in path order, plus files that could not be read.
#[derive(Debug, Default)]
pub struct FixPlan {
    /// Regular files examined (names).
    pub files: usize,
    /// Distinct ELF inodes with a dynamic section.
    pub elf_files: usize,
    /// What to write.
    pub rewrites: Vec<Rewrite>,
    /// Per-file problems, in path order.
    pub failures: Vec<Failure>,
}

/// A file that was not rewritten.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Failure {
    /// Its root-relative path.
    pub rel: Vec<u8>,
    /// Why, one line.
    pub why: String,
    /// True when the filesystem failed (it could not be opened, read or
    /// written): the command fails. A file that is not a valid ELF file
    /// is only named, as Buildroot's script skips what patchelf cannot
    /// read.
    pub io: bool,
    /// True when `why` is a whole `<operation> <path>: <reason>` line of
    /// its own (a filesystem error naming the file or its other name).
    pub whole: bool,
}

impl Failure {
    fn io(rel: &[u8], why: String) -> Failure {
        Failure {
            rel: rel.to_vec(),
            why,
            io: true,
            whole: false,
        }
    }

    /// A filesystem error, which names its path itself.
    fn fs(rel: &[u8], e: &impl std::fmt::Display) -> Failure {
        Failure {
            whole: true,
            ..Failure::io(rel, e.to_string())
        }
    }

    fn skipped(rel: &[u8], why: String) -> Failure {
        Failure {
            rel: rel.to_vec(),
            why,
            io: false,
            whole: false,
        }
    }

    /// The message line (without `ppd: `), naming the file once: `root`
    /// is the fixed tree as the user named it.
    pub fn line(&self, root: &std::path::Path) -> String {
        if self.whole {
            return self.why.clone();
        }
        format!(
            "fixing RPATH of {}: {}",
            fsx::show(&fsx::join(root, &self.rel)),
            self.why
        )
    }
}

/// Returns the prunes Buildroot's script applies to a tree kind, as
/// absolute paths.
pub fn default_prunes(
    kind: FixKind,
    root: &std::path::Path,
    staging: Option<&std::path::Path>,
    toolchain: Option<&std::path::Path>,
) -> Vec<PathBuf> {
    let sub = |s: &str| {
        let mut p = root.as_os_str().as_bytes().to_vec();
        p.extend_from_slice(s.as_bytes());
        PathBuf::from(std::ffi::OsStr::from_bytes(&p))
    };
    match kind {
        FixKind::Host => {
            let mut v: Vec<PathBuf> = staging.into_iter().map(PathBuf::from).collect();
            v.extend(toolchain.map(PathBuf::from));
            v.push(sub("/share/terminfo"));
            v
        }
        FixKind::Staging => vec![sub("/usr/include"), sub("/usr/share/terminfo")],
        FixKind::Target => vec![sub("/lib/firmware")],
    }
}

/// Plans the rewrites of a tree on `pool`'s threads.
pub fn plan(cfg: &FixConfig, pool: &rayon::ThreadPool) -> anyhow::Result<(FixPlan, Root)> {
    let root = Root::open(&cfg.root)?;
    let root_bytes = squash(cfg.root.as_os_str().as_bytes());
    let prune: Vec<Vec<u8>> = cfg
        .prune
        .iter()
        .filter_map(|p| {
            strip_root(&squash(p.as_os_str().as_bytes()), &root_bytes).map(<[u8]>::to_vec)
        })
        .filter(|p| !p.is_empty())
        .collect();
    let files = regular_files(root.dir(), b"", &prune)?;
    // Hard-linked names are one file: group names by inode, in path order.
    let mut groups: BTreeMap<FileKey, Vec<&FileEntry>> = BTreeMap::new();
    for f in &files {
        groups.entry(f.key).or_default().push(f);
    }
    let mut groups: Vec<Vec<&FileEntry>> = groups.into_values().collect();
    groups.sort_by(|a, b| a[0].rel.cmp(&b[0].rel));
    let rules = Rules::new(cfg, &root_bytes);
    let results: Vec<Outcome> = pool.install(|| {
        groups
            .par_iter()
            .map(|names| plan_inode(&root, &rules, names))
            .collect()
    });
    let mut plan = FixPlan {
        files: files.len(),
        ..FixPlan::default()
    };
    for r in results {
        match r {
            Outcome::NotElf => {}
            Outcome::Failed(f) => plan.failures.push(f),
            Outcome::Elf(rewrites) => {
                plan.elf_files += 1;
                plan.rewrites.extend(rewrites);
            }
        }
    }
    plan.rewrites.sort_by(|a, b| a.rel.cmp(&b.rel));
    plan.failures.sort();
    Ok((plan, root))
}

enum Outcome {
    NotElf,
    Failed(Failure),
    Elf(Vec<Rewrite>),
}

fn plan_inode(root: &Root, rules: &Rules, names: &[&FileEntry]) -> Outcome {
    let first = names[0];
    let info = match root.open_file(&first.rel).map(|f| elf::read_file(&f)) {
        Err(e) => return Outcome::Failed(Failure::fs(&first.rel, &e)),
        Ok(Ok(Some(info))) if info.has_dynamic => info,
        Ok(Ok(_)) => return Outcome::NotElf,
        Ok(Err(e)) => {
            return Outcome::Failed(Failure::skipped(
                &first.rel,
                format!("malformed ELF file: {e}"),
            ))
        }
    };
    // Names that end up with the same new strings share one new inode.
    let mut by_change: BTreeMap<Vec<StringChange>, Vec<Vec<u8>>> = BTreeMap::new();
    for f in names {
        let changes = rules.changes(root, &info, parent(&f.rel));
        if !changes.is_empty() {
            by_change.entry(changes).or_default().push(f.rel.clone());
        }
    }
    let rewrites = by_change
        .into_iter()
        .map(|(changes, mut rels)| {
            let rel = rels.remove(0);
            Rewrite {
                rel,
                aliases: rels,
                key: first.key,
                meta: first.meta,
                changes,
            }
        })
        .collect();
    Outcome::Elf(rewrites)
}

/// The transformation, fixed for one run.
struct Rules {
    kind: FixKind,
    root: Vec<u8>,
    host: Option<Vec<u8>>,
    ppd: Option<Vec<u8>>,
    keep_unused: bool,
}

impl Rules {
    fn new(cfg: &FixConfig, root: &[u8]) -> Rules {
        let trim = |p: &PathBuf| {
            let mut b = p.as_os_str().as_bytes().to_vec();
            while b.len() > 1 && b.last() == Some(&b'/') {
                b.pop();
            }
            b
        };
        Rules {
            kind: cfg.kind,
            root: root.to_vec(),
            host: cfg.host_dir.as_ref().map(trim),
            ppd: cfg.per_package_dir.as_ref().map(trim),
            keep_unused: cfg.keep_unused,
        }
    }

    /// Returns the string changes for a file whose name is in `dir`.
    fn changes(&self, root: &Root, info: &ElfInfo, dir: &[u8]) -> Vec<StringChange> {
        let tags = info
            .rpath
            .iter()
            .map(|d| ("RPATH", d))
            .chain(info.runpath.iter().map(|d| ("RUNPATH", d)));
        let mut out = Vec::new();
        for (tag, d) in tags {
            let new = self.transform(root, info, dir, &d.value);
            if new != d.value {
                out.push(StringChange {
                    tag,
                    index: d.index,
                    old: d.value.clone(),
                    new,
                });
            }
        }
        out
    }

    /// Computes the new value of one RPATH or RUNPATH string.
    pub fn transform(&self, root: &Root, info: &ElfInfo, dir: &[u8], value: &[u8]) -> Vec<u8> {
        let value = self.unpackage(value);
        let mut found = vec![false; info.needed.len()];
        let mut kept: Vec<Vec<u8>> = Vec::new();
        for e in split_entries(&value) {
            let Some(canon) = self.resolve_entry(root, dir, e) else {
                continue;
            };
            if self.kind != FixKind::Host && (canon == b"lib" || canon == b"usr/lib") {
                continue;
            }
            if !self.keep_unused && !supplies(root, &canon, &info.needed, &mut found) {
                continue;
            }
            let out = match self.kind {
                FixKind::Host => origin_relative(dir, &canon),
                _ => [b"/", &canon[..]].concat(),
            };
            if !kept.contains(&out) {
                kept.push(out);
            }
        }
        kept.join(&b':')
    }

    /// Step 1: `<ppd>/<pkg>/host` becomes HOST_DIR wherever it starts a
    /// component run (the script's `sed s@PPD/[^/]\+/host@HOST_DIR@g`,
    /// without its match on `.../hostile`).
    fn unpackage(&self, value: &[u8]) -> Vec<u8> {
        let (Some(ppd), Some(host)) = (&self.ppd, &self.host) else {
            return value.to_vec();
        };
        let mut needle = ppd.clone();
        needle.push(b'/');
        let mut out = Vec::with_capacity(value.len());
        let mut i = 0;
        while i < value.len() {
            if value[i..].starts_with(&needle) {
                let rest = &value[i + needle.len()..];
                let seg = rest.iter().take_while(|&&b| b != b'/' && b != b':').count();
                let after = &rest[seg..];
                if seg > 0
                    && after.starts_with(b"/host")
                    && matches!(after.get(5), None | Some(b'/') | Some(b':'))
                {
                    out.extend_from_slice(host);
                    i += needle.len() + seg + 5;
                    continue;
                }
            }
            out.push(value[i]);
            i += 1;
        }
        out
    }

    /// Step 2's existence test: returns the canonical root-relative path an
    /// entry leads to, or `None` to drop it.
    fn resolve_entry(&self, root: &Root, dir: &[u8], e: &[u8]) -> Option<Vec<u8>> {
        let path = if let Some(rest) = origin_rest(e) {
            // An $ORIGIN path climbing out of the tree cannot be relocated.
            lexical_join(dir, rest)?
        } else if e.first() == Some(&b'/') {
            match strip_root(e, &self.root) {
                Some(inside) => inside.to_vec(),
                None => e.to_vec(),
            }
        } else {
            return None; // empty or relative: meaningless after relocation
        };
        root.resolve(&path).map(|(canon, _)| canon)
    }
}

/// Marks the needed libraries present in `dir` that no earlier entry
/// supplied; returns true if it supplied any (patchelf's shrink rule).
fn supplies(root: &Root, dir: &[u8], needed: &[Vec<u8>], found: &mut [bool]) -> bool {
    let mut any = false;
    for (n, f) in needed.iter().zip(found.iter_mut()) {
        if !*f && !n.contains(&b'/') && root.exists_in(dir, n) {
            *f = true;
            any = true;
        }
    }
    any
}

/// Writes the plan (or, with `dry_run`, only checks that every edit fits).
/// Returns the rewrites done and the per-file failures, sorted.
pub fn apply(
    plan: &FixPlan,
    root: &Root,
    pool: &rayon::ThreadPool,
    dry_run: bool,
    journal: Option<&crate::lock::Journal>,
) -> (usize, Vec<Failure>) {
    // Rewrites are sorted by path: cut them into runs sharing a directory
    // (at most CHUNK long, so a big bin/ still spreads over the threads),
    // and open each run's directory once.
    const CHUNK: usize = 32;
    let mut chunks: Vec<&[Rewrite]> = Vec::new();
    let mut start = 0;
    for i in 1..=plan.rewrites.len() {
        let end = i == plan.rewrites.len()
            || i - start == CHUNK
            || parent(&plan.rewrites[i].rel) != parent(&plan.rewrites[start].rel);
        if end {
            chunks.push(&plan.rewrites[start..i]);
            start = i;
        }
    }
    let results: Vec<Result<(), Failure>> = pool.install(|| {
        chunks
            .par_iter()
            .flat_map_iter(|chunk| {
                let dir = root.dir().open_beneath(parent(&chunk[0].rel));
                chunk.iter().map(move |r| {
                    let dir = dir.as_ref().map_err(|e| Failure::fs(&r.rel, e))?;
                    apply_one(root, dir, r, dry_run, journal)
                })
            })
            .collect()
    });
    let mut done = 0;
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(()) => done += 1,
            Err(f) => failures.push(f),
        }
    }
    failures.sort();
    (done, failures)
}

fn apply_one(
    root: &Root,
    dir: &DirFd,
    r: &Rewrite,
    dry_run: bool,
    journal: Option<&crate::lock::Journal>,
) -> Result<(), Failure> {
    let io = |why: String| Failure::io(&r.rel, why);
    let skipped = |why: String| Failure::skipped(&r.rel, why);
    let (_, name) = split_name(&r.rel);
    let mut file = dir.open_file(name).map_err(|e| Failure::fs(&r.rel, &e))?;
    let st = fsx::fstat(&file).map_err(|e| io(e.reason().into_owned()))?;
    if FileKey::of(&st) != r.key || Kind::from_mode(st.st_mode) != Kind::File {
        return Err(skipped(
            "the file changed while ppd was running; left unchanged".into(),
        ));
    }
    let mut data = Vec::with_capacity(st.st_size as usize);
    std::io::Read::read_to_end(&mut file, &mut data)
        .map_err(|e| io(fsx::errno_of(&e).reason().into_owned()))?;
    drop(file);
    let info = elf::parse(&data)
        .map_err(|e| skipped(format!("malformed ELF file: {e}")))?
        .ok_or_else(|| skipped("no longer an ELF file; left unchanged".into()))?;
    let changes: Vec<Change> = r
        .changes
        .iter()
        .map(|c| Change {
            index: c.index,
            value: c.new.clone(),
        })
        .collect();
    rewrite_strings(&mut data, &info, &changes).map_err(|e| skipped(e.to_string()))?;
    if dry_run {
        return Ok(());
    }
    if let (Some(j), false) = (journal, r.aliases.is_empty()) {
        // Before the first rename: a kill from there on is rolled forward.
        j.relink(&r.rel, &r.aliases).map_err(|e| {
            io(format!(
                "writing the lock file: {}",
                fsx::errno_of(&e).reason()
            ))
        })?;
    }
    dir.replace_file(name, &data, &Meta::of(&st))
        .map_err(|e| Failure::fs(&r.rel, &e))?;
    for alias in &r.aliases {
        link_over(root, dir, name, alias).map_err(|e| {
            let why = format!("{e} (after rewriting {})", fsx::show_bytes(&r.rel));
            Failure::fs(&r.rel, &why)
        })?;
    }
    Ok(())
}

/// Makes `alias` another name of the file `dir/name`, atomically.
fn link_over(root: &Root, dir: &DirFd, name: &[u8], alias: &[u8]) -> Result<(), String> {
    let (adir, aname) = split_name(alias);
    let adir = root.dir().open_beneath(adir).map_err(|e| e.to_string())?;
    let tmp = fsx::temp_name();
    adir.link_at(dir, name, &tmp)
        .map_err(|e| {
            fsx::FsError::two(
                "hard-linking",
                dir.child_path(name),
                adir.child_path(&tmp),
                e,
            )
        })
        .and_then(|()| adir.rename(&tmp, aname))
        .map_err(|e| {
            let _ = adir.unlink(&tmp, false);
            e.naming(&adir.child_path(aname)).to_string()
        })
}

fn split_name(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (b"", rel),
    }
}

/// Renders the plan for `--dry-run`, one line per string change.
pub fn render_plan(plan: &FixPlan, root: &std::path::Path) -> String {
    let mut out = String::new();
    for r in &plan.rewrites {
        for c in &r.changes {
            out.push_str(&format!(
                "{}: {} \"{}\" -> \"{}\"\n",
                fsx::show(&fsx::join(root, &r.rel)),
                c.tag,
                fsx::show_bytes(&c.old),
                fsx::show_bytes(&c.new)
            ));
        }
        for a in &r.aliases {
            out.push_str(&format!(
                "{}: same new file (hard link)\n",
                fsx::show(&fsx::join(root, a))
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(kind: FixKind) -> Rules {
        Rules {
            kind,
            root: b"/o/host".to_vec(),
            host: Some(b"/o/host".to_vec()),
            ppd: Some(b"/o/per-package".to_vec()),
            keep_unused: false,
        }
    }

    #[test]
    fn per_package_paths_become_host_dir() {
        let r = rules(FixKind::Host);
        assert_eq!(
            r.unpackage(b"/o/per-package/foo/host/lib:/o/per-package/bar/host/lib/sub"),
            b"/o/host/lib:/o/host/lib/sub"
        );
        assert_eq!(r.unpackage(b"/o/per-package/foo/host"), b"/o/host");
        assert_eq!(
            r.unpackage(b"/o/per-package/foo/hostile/lib"),
            b"/o/per-package/foo/hostile/lib"
        );
        assert_eq!(
            r.unpackage(b"/o/per-package/foo/target/lib"),
            b"/o/per-package/foo/target/lib"
        );
        assert_eq!(r.unpackage(b"$ORIGIN/../lib"), b"$ORIGIN/../lib");
    }

    fn tree() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        for d in ["bin", "lib/sub", "usr/lib", "opt/lib"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::write(p.join("lib/liba.so"), b"").unwrap();
        std::fs::write(p.join("lib/sub/libb.so"), b"").unwrap();
        std::fs::write(p.join("usr/lib/libc2.so"), b"").unwrap();
        std::fs::write(p.join("opt/lib/libd.so"), b"").unwrap();
        std::os::unix::fs::symlink("/opt/lib", p.join("lib/optlink")).unwrap();
        let root = Root::open(p).unwrap();
        (t, root)
    }

    fn info(needed: &[&str]) -> ElfInfo {
        let mut i = elf::parse(&std::fs::read(std::env::current_exe().unwrap()).unwrap())
            .unwrap()
            .unwrap();
        i.needed = needed.iter().map(|n| n.as_bytes().to_vec()).collect();
        i
    }

    #[test]
    fn host_entries_become_origin_relative() {
        let (t, root) = tree();
        let mut r = rules(FixKind::Host);
        r.root = squash(t.path().as_os_str().as_bytes());
        let host = r.root.clone();
        let i = info(&["liba.so", "libb.so", "libd.so"]);
        let v = [
            &host[..],
            b"/lib:/nonexistent:",
            &host[..],
            b"/lib/sub:relative::$ORIGIN/../lib/optlink",
        ]
        .concat();
        assert_eq!(
            r.transform(&root, &i, b"bin", &v),
            b"$ORIGIN/../lib:$ORIGIN/../lib/sub:$ORIGIN/../opt/lib"
        );
        // An entry holding no needed library is dropped, unless asked.
        let i2 = info(&["liba.so"]);
        let v2 = [&host[..], b"/lib:", &host[..], b"/lib/sub"].concat();
        assert_eq!(r.transform(&root, &i2, b"bin", &v2), b"$ORIGIN/../lib");
        r.keep_unused = true;
        assert_eq!(
            r.transform(&root, &i2, b"bin", &v2),
            b"$ORIGIN/../lib:$ORIGIN/../lib/sub"
        );
        // $ORIGIN escaping the root is dropped.
        assert_eq!(r.transform(&root, &i2, b"bin", b"$ORIGIN/../../x"), b"");
    }

    #[test]
    fn target_entries_are_root_absolute_without_standard_dirs() {
        let (t, root) = tree();
        let mut r = rules(FixKind::Target);
        r.root = squash(t.path().as_os_str().as_bytes());
        let i = info(&["liba.so", "libc2.so", "libd.so"]);
        assert_eq!(
            r.transform(&root, &i, b"bin", b"/lib:/usr/lib:/opt/lib"),
            b"/opt/lib"
        );
        assert_eq!(
            r.transform(&root, &i, b"bin", b"$ORIGIN/../lib/optlink"),
            b"/opt/lib"
        );
        let abs = [&r.root[..], b"/opt/lib"].concat();
        assert_eq!(r.transform(&root, &i, b"bin", &abs), b"/opt/lib");
    }
}
