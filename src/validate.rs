//! Checks of the user's input, made before anything is read or written.
//!
//! Every check fails with one line `<operation> <path>: <reason>` (exit 2),
//! naming the argument as the user typed it:
//! - a package name is one path component: not empty, no `/`, not `.` or
//!   `..` (otherwise `per-package/<name>` would lead outside the per-package
//!   directory);
//! - a package never depends on itself;
//! - prepare's host and target destinations are two directories;
//! - a destination is never a source tree nor inside one (writing it would
//!   change the tree being read), nor does it hold one. Nesting is decided by directory identity
//!   (device and inode of the destination's nearest existing ancestors), so
//!   a symlink or a `..` in either path cannot hide it.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::fsx::show;

/// Fails unless `name` can be a package name: one path component.
pub fn package_name(op: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        bail!(
            "{op} {}: not a package name (a package name is one path component: \
             not empty, no '/', not '.' or '..')",
            show(Path::new(name))
        );
    }
    Ok(())
}

/// Fails if `pkg` is among its own dependencies `deps`.
pub fn not_own_dependency(op: &str, pkg: &str, deps: &[String]) -> Result<()> {
    if deps.iter().any(|d| d == pkg) {
        bail!(
            "{op} {}: package {} is listed as its own dependency",
            show(Path::new(pkg)),
            show(Path::new(pkg))
        );
    }
    Ok(())
}

/// The directories a destination is, or would be created, inside: the
/// identities of its nearest existing ancestor and of every directory above.
pub struct Ancestry {
    /// (device, inode) -> how many levels above the destination's nearest
    /// existing directory (0: that directory itself).
    ids: HashMap<(u64, u64), usize>,
    /// True if the destination itself exists (then level 0 is it).
    exists: bool,
    /// The nearest existing directory's identity, if any.
    start: Option<(u64, u64)>,
    /// The components below it still to be created, deepest first.
    tail: Vec<std::ffi::OsString>,
}

impl Ancestry {
    /// Collects the ancestry of `dest` (which need not exist).
    pub fn of(dest: &Path) -> Ancestry {
        Ancestry::beside(dest, None)
    }

    /// [`Ancestry::of`], taking the directories above the first one that
    /// `near` (another destination's ancestry) knows from `near` instead of
    /// `stat`ing them again: a package's host and target trees share every
    /// ancestor above the package's directory.
    pub fn beside(dest: &Path, near: Option<&Ancestry>) -> Ancestry {
        let mut ids = HashMap::new();
        let mut probe = std::path::absolute(dest).unwrap_or_else(|_| dest.to_path_buf());
        let mut exists = true;
        let mut tail = Vec::new();
        // The nearest existing directory: the kernel resolves `..` and
        // symlinks in it, as it will when the destination is created.
        let start = loop {
            if let Ok(m) = std::fs::metadata(&probe) {
                if m.is_dir() {
                    break Some((probe, (m.dev(), m.ino())));
                }
            }
            exists = false;
            if let Some(n) = probe.file_name() {
                tail.push(n.to_owned());
            }
            if !probe.pop() {
                break None;
            }
        };
        let start_id = start.as_ref().map(|(_, id)| *id);
        if let Some((mut dir, mut id)) = start {
            // Up by identity, `dir/..`, `dir/../..`, ... (the kernel
            // resolves a symlink before the `..` after it, as
            // canonicalizing would): one `stat` per level and no
            // `readlink` per component; the root is its own parent.
            let mut level = 0;
            loop {
                if let Some(&at) = near.and_then(|n| n.ids.get(&id)) {
                    // Known from here up.
                    for (&k, &l) in &near.expect("BUG: near holds id").ids {
                        if l >= at {
                            ids.entry(k).or_insert(level + (l - at));
                        }
                    }
                    break;
                }
                if ids.contains_key(&id) {
                    break;
                }
                ids.insert(id, level);
                level += 1;
                dir.push("..");
                match std::fs::metadata(&dir) {
                    Ok(m) => id = (m.dev(), m.ino()),
                    Err(_) => break,
                }
            }
        }
        Ancestry {
            ids,
            exists,
            start: start_id,
            tail,
        }
    }

    /// Fails if the destination `dest` (whose ancestry this is) is the
    /// existing directory `src` or lies inside it.
    pub fn check(&self, op: &str, dest: &Path, src: &Path) -> Result<()> {
        let Ok(m) = std::fs::metadata(src) else {
            // A missing source is reported where it is read.
            return Ok(());
        };
        self.check_id(op, dest, src, (m.dev(), m.ino()))
    }

    /// [`Ancestry::check`] for a source whose identity is known.
    fn check_id(&self, op: &str, dest: &Path, src: &Path, id: (u64, u64)) -> Result<()> {
        match self.ids.get(&id) {
            Some(0) if self.exists => bail!(
                "{op} {}: the destination is the source tree {}",
                show(dest),
                show(src)
            ),
            Some(_) => bail!(
                "{op} {}: the destination is inside the source tree {}",
                show(dest),
                show(src)
            ),
            None => Ok(()),
        }
    }

    /// True if the two destinations are one directory, existing or to be
    /// created: the same nearest existing directory and the same names
    /// below it.
    fn same_as(&self, other: &Ancestry) -> bool {
        self.start == other.start && self.tail == other.tail
    }
}

/// Fails if the host and target destinations are one directory (whatever
/// the names given): the two merges, their manifests and locks would be
/// one.
pub fn distinct_dests(op: &str, host: &Path, target: &Path) -> Result<()> {
    distinct(op, &Ancestry::of(host), &Ancestry::of(target), target)
}

fn distinct(op: &str, host: &Ancestry, target: &Ancestry, target_path: &Path) -> Result<()> {
    if host.same_as(target) {
        bail!(
            "{op} {}: the host and target destinations are the same directory",
            show(target_path)
        );
    }
    Ok(())
}

/// Fails if `dest` is any of `sources` or inside one, or if a source is
/// inside `dest` (the merge would write into the trees it reads, and walk
/// them as part of the destination).
pub fn dest_outside(op: &str, dest: &Path, sources: &[PathBuf]) -> Result<()> {
    prepare_dests(op, &[dest], sources)
}

/// [`dest_outside`] for each of `dests` in turn, then, for two of them
/// (prepare's host and target trees), [`distinct_dests`]. The sources and
/// the directories above them are looked at once for all destinations,
/// and the second destination's ancestors only up to the first one's.
pub fn prepare_dests(op: &str, dests: &[&Path], sources: &[PathBuf]) -> Result<()> {
    // A missing source is reported where it is read.
    let ids: Vec<Option<(u64, u64)>> = sources
        .iter()
        .map(|s| std::fs::metadata(s).ok().map(|m| (m.dev(), m.ino())))
        .collect();
    let mut above: Option<std::collections::HashSet<(u64, u64)>> = None;
    let mut done: Vec<Ancestry> = Vec::new();
    for dest in dests {
        let a = Ancestry::beside(dest, done.first());
        for (s, id) in sources.iter().zip(&ids) {
            if let Some(id) = id {
                a.check_id(op, dest, s, *id)?;
            }
        }
        // The ancestry's walk has `stat`ed the destination already.
        let id = if a.exists { a.start } else { None };
        sources_outside(op, dest, id, sources, &mut above)?;
        done.push(a);
    }
    if let ([_, target], [h, t]) = (dests, done.as_slice()) {
        distinct(op, h, t, target)?;
    }
    Ok(())
}

/// Fails if `dest` is any of `sources` or inside one: for a directory
/// that only receives files beside the trees (`file-list`'s lists), which
/// would otherwise become entries of a tree they describe.
pub fn dest_not_inside(op: &str, dest: &Path, sources: &[PathBuf]) -> Result<()> {
    let a = Ancestry::of(dest);
    sources.iter().try_for_each(|s| a.check(op, dest, s))
}

/// Fails if one of the existing `sources` lies inside the existing
/// directory `dest`, decided by directory identity along each source's
/// resolved ancestors. Sources share most ancestors (one per-package
/// directory), so each ancestor is looked at once; `above` keeps them for
/// the next destination checked against the same sources.
fn sources_outside(
    op: &str,
    dest: &Path,
    dest_id: Option<(u64, u64)>,
    sources: &[PathBuf],
    above: &mut Option<std::collections::HashSet<(u64, u64)>>,
) -> Result<()> {
    // A directory still to be created holds nothing yet.
    let Some(want) = dest_id else {
        return Ok(());
    };
    if let Some(seen) = above {
        // The sources' ancestors, collected for an earlier destination:
        // the first source found below `dest` is the one a walk in source
        // order would name.
        if !seen.contains(&want) {
            return Ok(());
        }
        *above = None;
        return sources_outside(op, dest, dest_id, sources, above);
    }
    // Each source's ancestors by identity: `src/..`, `src/../..`, ...
    // (the kernel resolves a symlink before the `..` after it, as
    // canonicalizing would), up to a directory already looked at (the
    // per-package directory, after the first source) or the root: about
    // two `stat`s per source instead of a `readlink` and a `stat` per
    // component of each source's path.
    let mut seen: std::collections::HashSet<(u64, u64)> = std::collections::HashSet::new();
    for src in sources {
        let mut up = src.join("..");
        while let Ok(m) = std::fs::metadata(&up) {
            let id = (m.dev(), m.ino());
            if id == want {
                bail!(
                    "{op} {}: the destination contains the source tree {}",
                    show(dest),
                    show(src)
                );
            }
            if !seen.insert(id) {
                break;
            }
            up.push("..");
        }
    }
    *above = Some(seen);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_one_component() {
        for bad in ["", ".", "..", "../../x", "/abs", "a/b", "a/"] {
            let e = package_name("prepare", bad).unwrap_err().to_string();
            assert!(e.starts_with("prepare "), "{e}");
            assert!(e.contains("not a package name"), "{e}");
        }
        assert_eq!(
            package_name("prepare", "").unwrap_err().to_string(),
            "prepare '': not a package name (a package name is one path component: \
             not empty, no '/', not '.' or '..')"
        );
        for good in ["a", "host-gcc-final", ".hidden", "a..b", "x y"] {
            package_name("prepare", good).unwrap();
        }
    }

    #[test]
    fn nesting_is_found_through_dotdot_and_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("pp/a/host");
        std::fs::create_dir_all(&src).unwrap();
        std::os::unix::fs::symlink(&src, t.path().join("alias")).unwrap();
        let inside = [
            src.join("sub/new"),
            t.path().join("alias/x"),
            t.path().join("pp/a/host/../host/y"),
        ];
        for d in inside {
            let e = dest_outside("finalize", &d, std::slice::from_ref(&src)).unwrap_err();
            assert!(
                e.to_string().contains("is inside the source tree"),
                "{d:?}: {e}"
            );
        }
        let e = dest_outside(
            "copy-tree",
            &t.path().join("alias"),
            std::slice::from_ref(&src),
        )
        .unwrap_err();
        assert!(e.to_string().contains("is the source tree"), "{e}");
        for d in [t.path().join("pp/a/target"), t.path().join("out")] {
            dest_outside("finalize", &d, std::slice::from_ref(&src)).unwrap();
        }
        // A destination holding a source, however named.
        for d in [
            t.path().join("pp/a"),
            t.path().join("pp"),
            t.path().join("alias/.."),
            t.path().to_path_buf(),
        ] {
            let e = dest_outside("finalize", &d, std::slice::from_ref(&src)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "finalize {}: the destination contains the source tree {}",
                    d.display(),
                    src.display()
                )
            );
        }
    }
}
