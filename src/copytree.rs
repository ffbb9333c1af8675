//! `ppd copy-tree`: copy one tree into another with the semantics of
//! `rsync -auH --exclude=PATTERN... SRC/ DEST`, through the merge engine's
//! copy mode.
//!
//! SRC is scanned once; excluded entries are dropped from the scan before
//! planning, so an excluded directory is neither copied nor entered. The
//! destination then gets the same treatment as a one-package `finalize`:
//! new inodes, hard-link groups kept, holes kept, entries that already
//! match left alone, nothing deleted. As with `-u`, a destination file
//! newer than its source is kept.
//!
//! Patterns follow rsync's exclude rules: a leading `/` anchors the pattern
//! at SRC; a trailing `/` matches only directories; a pattern with another
//! `/` (or `**`) is matched against the end of the path, on a component
//! boundary; any other pattern against the name only. `*` and `?` do not
//! match `/`, `**` does, `[...]` is a character class (`!` or `^` negates),
//! `\` quotes the next character.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::Result;

use crate::fsx::Kind;
use crate::merge::{self, Applied, ApplyOptions, FileMode, Progress, Source};
use crate::scan::{self, ScanOptions, SrcTree};

/// What to copy.
#[derive(Clone, Debug)]
pub struct CopyTreeConfig {
    /// The tree to copy (its contents land in `dest`).
    pub src: PathBuf,
    /// Where to copy it.
    pub dest: PathBuf,
    /// rsync exclude patterns.
    pub excludes: Vec<Pattern>,
    /// Only compute and describe the plan.
    pub dry_run: bool,
}

/// The outcome of one copy.
#[derive(Debug)]
pub struct CopyTreeResult {
    /// What apply did.
    pub applied: Applied,
    /// Entries (files, symlinks) copied or checked.
    pub planned: usize,
    /// Directories.
    pub dirs: usize,
    /// Entries skipped by the patterns (a directory counts once).
    pub excluded: usize,
    /// With `dry_run`: the operations a real run would perform, as text
    /// ([`crate::merge::preview`]).
    pub plan_text: Option<Vec<u8>>,
}

/// Copies `cfg.src` into `cfg.dest`.
pub fn copy_tree(
    cfg: &CopyTreeConfig,
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> Result<CopyTreeResult> {
    let mut tree = scan::scan(&cfg.src, ScanOptions::default())?;
    let excluded = exclude(&mut tree, &cfg.excludes);
    let sources = [Source {
        label: crate::fsx::show(&cfg.src).to_string(),
        tree,
    }];
    let plan = merge::build(&sources);
    let mut result = CopyTreeResult {
        applied: Applied::default(),
        planned: plan.leaf_count(),
        dirs: plan.dirs.len(),
        excluded,
        plan_text: None,
    };
    let opts = ApplyOptions {
        mode: FileMode::Copy {
            keep_newer: true,
            data: crate::merge::copy::Data::Auto,
        },
        record: false,
        guard: None,
        progress: Some(&progress.done),
        base: None,
        interrupted_since: None,
    };
    if cfg.dry_run {
        let pv = merge::preview::preview(&sources, &plan, &cfg.dest, opts, &Default::default())?;
        result.applied = pv.applied;
        result.plan_text = Some(pv.text);
        return Ok(result);
    }
    progress
        .total
        .store((result.planned + result.dirs) as u64, Ordering::Relaxed);
    let locks = crate::lock::lock_for_writing(std::slice::from_ref(&cfg.dest))?;
    result.applied = merge::apply(&sources, &plan, &cfg.dest, opts, pool)?;
    crate::lock::done(&locks)?;
    Ok(result)
}

/// Drops the entries matching any pattern; returns how many were dropped.
/// Directories below a dropped directory stay in the tree's list but are
/// unreachable from the root, which is all the planner follows.
fn exclude(tree: &mut SrcTree, patterns: &[Pattern]) -> usize {
    if patterns.is_empty() {
        return 0;
    }
    let mut dropped = 0;
    for d in 0..tree.dirs.len() {
        let rel = tree.dirs[d].rel.clone();
        tree.dirs[d].entries.retain(|e| {
            let path = scan::child_rel(&rel, &e.name);
            let hit = patterns
                .iter()
                .any(|p| p.matches(&path, e.kind == Kind::Dir));
            dropped += usize::from(hit);
            !hit
        });
    }
    dropped
}

/// One parsed `--exclude` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    glob: Vec<u8>,
    anchored: bool,
    dir_only: bool,
    whole_path: bool,
}

impl Pattern {
    /// Parses an rsync exclude pattern.
    pub fn new(text: &str) -> Pattern {
        let mut g = text.as_bytes();
        let anchored = g.first() == Some(&b'/');
        if anchored {
            g = &g[1..];
        }
        let dir_only = g.len() > 1 && g.last() == Some(&b'/');
        if dir_only {
            g = &g[..g.len() - 1];
        }
        let whole_path = anchored || g.contains(&b'/') || g.windows(2).any(|w| w == b"**");
        Pattern {
            glob: g.to_vec(),
            anchored,
            dir_only,
            whole_path,
        }
    }

    /// Returns true if the entry at `path` (relative to SRC) is excluded.
    pub fn matches(&self, path: &[u8], is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return false;
        }
        if self.anchored {
            return glob(&self.glob, path);
        }
        if !self.whole_path {
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            return glob(&self.glob, name);
        }
        // Unanchored with a slash: match any tail starting at a component.
        std::iter::once(0)
            .chain(
                path.iter()
                    .enumerate()
                    .filter(|(_, &b)| b == b'/')
                    .map(|(i, _)| i + 1),
            )
            .any(|start| glob(&self.glob, &path[start..]))
    }
}

/// Shell-style matching as rsync does it: `*` and `?` stop at `/`, `**`
/// does not.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => {
            let double = p.get(1) == Some(&b'*');
            let rest = if double { &p[2..] } else { &p[1..] };
            let mut i = 0;
            loop {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if i == s.len() || (!double && s[i] == b'/') {
                    return false;
                }
                i += 1;
            }
        }
        Some(b'?') => !s.is_empty() && s[0] != b'/' && glob(&p[1..], &s[1..]),
        Some(b'[') => match (class(p), s.first()) {
            (Some((hit, len)), Some(&c)) => c != b'/' && hit(c) && glob(&p[len..], &s[1..]),
            (None, Some(&c)) => c == b'[' && glob(&p[1..], &s[1..]),
            (_, None) => false,
        },
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && glob(&p[1..], &s[1..]),
    }
}

/// Parses a `[...]` class at the start of `p`; returns a matcher and the
/// class's length, or `None` if it is not closed.
#[allow(clippy::type_complexity)]
fn class(p: &[u8]) -> Option<(Box<dyn Fn(u8) -> bool + '_>, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let start = i;
    // A `]` right after the opening (or the negation) is a member.
    if p.get(i) == Some(&b']') {
        i += 1;
    }
    while i < p.len() && p[i] != b']' {
        i += 1;
    }
    if i >= p.len() {
        return None;
    }
    let body = &p[start..i];
    let hit = move |c: u8| {
        let mut j = 0;
        let mut found = false;
        while j < body.len() {
            if j + 2 < body.len() && body[j + 1] == b'-' {
                found |= body[j] <= c && c <= body[j + 2];
                j += 3;
            } else {
                found |= body[j] == c;
                j += 1;
            }
        }
        found != negate
    };
    Some((Box::new(hit), i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str, dir: bool) -> bool {
        Pattern::new(p).matches(path.as_bytes(), dir)
    }

    #[test]
    fn anchored_pattern_matches_only_at_the_root() {
        assert!(m(
            "/THIS_IS_NOT_YOUR_ROOT_FILESYSTEM",
            "THIS_IS_NOT_YOUR_ROOT_FILESYSTEM",
            false
        ));
        assert!(!m(
            "/THIS_IS_NOT_YOUR_ROOT_FILESYSTEM",
            "a/THIS_IS_NOT_YOUR_ROOT_FILESYSTEM",
            false
        ));
        assert!(m("/usr/*.a", "usr/libc.a", false));
        assert!(!m("/usr/*.a", "usr/lib/libc.a", false));
    }

    #[test]
    fn bare_name_matches_at_any_depth() {
        assert!(m("*.a", "usr/lib/libc.a", false));
        assert!(m("CVS", "a/b/CVS", true));
        assert!(!m("CVS", "a/CVSx", true));
    }

    #[test]
    fn trailing_slash_matches_only_directories() {
        assert!(m("doc/", "usr/share/doc", true));
        assert!(!m("doc/", "usr/share/doc", false));
    }

    #[test]
    fn inner_slash_matches_a_tail_on_component_boundaries() {
        assert!(m("share/doc", "usr/share/doc", true));
        assert!(!m("share/doc", "usr/xshare/doc", true));
        assert!(m("usr/**/*.h", "usr/include/a/b.h", false));
        assert!(!m("usr/*.h", "usr/include/b.h", false));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("lib[0-9].so", "lib7.so", false));
        assert!(!m("lib[!0-9].so", "lib7.so", false));
        assert!(m("a\\*b", "a*b", false));
        assert!(!m("a\\*b", "axb", false));
        assert!(m("?.txt", "x.txt", false));
    }
}
