//! The one `--json` document every reporting command prints (docs/json.md):
//! `schema`, `command`, `stats`, and the four lists `conflicts`,
//! `overwrites`, `findings` and `rewrites`, always present (empty when the
//! command has none of that kind), plus a few keys naming what the command
//! worked on. One line on stdout, so a tool reads it with one `json.loads`
//! and a shell with `jq`.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::fsx;
use crate::merge::DestClash;
use crate::provenance::NamedConflict;

/// The schema version: bumped when a key changes meaning or goes away
/// (new keys do not bump it).
pub(super) const SCHEMA: u64 = 1;

/// A document being filled.
pub(super) struct Doc {
    command: &'static str,
    /// What the command worked on (`dest`, `tree`, ...).
    pub context: Map<String, Value>,
    /// Counters and timings.
    pub stats: Map<String, Value>,
    /// Paths provided differently (or clashing with the destination).
    pub conflicts: Vec<Value>,
    /// Files a package replaced or edited although a dependency provides them.
    pub overwrites: Vec<Value>,
    /// Problems found by a check (RPATHs).
    pub findings: Vec<Value>,
    /// Files, symlinks and RPATHs rewritten (or to rewrite, in a dry run).
    pub rewrites: Vec<Value>,
}

impl Doc {
    /// Starts the document of `command`.
    pub(super) fn new(command: &'static str) -> Doc {
        Doc {
            command,
            context: Map::new(),
            stats: Map::new(),
            conflicts: Vec::new(),
            overwrites: Vec::new(),
            findings: Vec::new(),
            rewrites: Vec::new(),
        }
    }

    /// Sets a context key.
    pub(super) fn set(&mut self, key: &str, v: impl Into<Value>) {
        self.context.insert(key.to_owned(), v.into());
    }

    /// Sets a counter.
    pub(super) fn stat(&mut self, key: &str, v: impl Into<Value>) {
        self.stats.insert(key.to_owned(), v.into());
    }

    /// Adds every field of a serializable counter struct to `stats`.
    pub(super) fn stats_from(&mut self, s: &impl serde::Serialize) {
        if let Ok(Value::Object(m)) = serde_json::to_value(s) {
            self.stats.extend(m);
        }
    }

    /// The finished document.
    pub(super) fn value(self) -> Value {
        let mut top = Map::new();
        top.insert("schema".into(), SCHEMA.into());
        top.insert("command".into(), self.command.into());
        top.extend(self.context);
        top.insert("stats".into(), Value::Object(self.stats));
        top.insert("conflicts".into(), Value::Array(self.conflicts));
        top.insert("overwrites".into(), Value::Array(self.overwrites));
        top.insert("findings".into(), Value::Array(self.findings));
        top.insert("rewrites".into(), Value::Array(self.rewrites));
        Value::Object(top)
    }

    /// Prints the document as one line on stdout.
    pub(super) fn print(self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", self.value())?;
        out.flush()
    }
}

/// A path as text (lossy for names that are not UTF-8).
pub(super) fn text(p: &Path) -> String {
    p.display().to_string()
}

fn rel_text(rel: &[u8]) -> String {
    String::from_utf8_lossy(rel).into_owned()
}

/// A conflict between sources, with the tree it is in.
pub(super) fn conflict(tree: &Path, c: &NamedConflict) -> Value {
    let who = |v: &[(String, crate::fsx::Kind)]| -> Vec<Value> {
        v.iter()
            .map(|(p, k)| json!({"package": p, "kind": k.word()}))
            .collect()
    };
    json!({
        "tree": text(tree),
        "path": rel_text(&c.path),
        "providers": who(&c.providers),
        "winner": c.winner,
        "installers": who(&c.installers),
        "found": Value::Null,
        "replaced": Value::Null,
    })
}

/// A clash with what the destination already held.
pub(super) fn clash(tree: &Path, c: &DestClash, provider: &str) -> Value {
    json!({
        "tree": text(tree),
        "path": rel_text(&c.path),
        "providers": [{"package": provider, "kind": c.wanted.word()}],
        "winner": if c.replaced { Value::from(provider) } else { Value::Null },
        "installers": [],
        "found": c.found.word(),
        "replaced": c.replaced,
    })
}

/// A rewrite: `kind` is `file`, `symlink` or `rpath`.
pub(super) fn rewrite(tree: &Path, rel: &[u8], kind: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("tree".into(), text(tree).into());
    m.insert("path".into(), rel_text(rel).into());
    m.insert("full_path".into(), text(&fsx::join(tree, rel)).into());
    m.insert("kind".into(), kind.into());
    m.insert("target".into(), Value::Null);
    m.insert("changes".into(), Value::Array(Vec::new()));
    m.insert("aliases".into(), Value::Array(Vec::new()));
    m
}

/// The rewrites of a path fixup run.
pub(super) fn text_rewrites(report: &crate::textfix::FixupReport) -> Vec<Value> {
    report
        .rewritten
        .iter()
        .map(|r| {
            let kind = match r.kind {
                crate::textfix::RewrittenKind::File => "file",
                crate::textfix::RewrittenKind::Symlink => "symlink",
            };
            let mut m = rewrite(&r.tree, &r.rel, kind);
            if let Some(t) = &r.new_target {
                m.insert("target".into(), rel_text(t).into());
            }
            Value::Object(m)
        })
        .collect()
}

/// A finding: every key always present (`part` null outside an audit,
/// `tag` and `entry` null when the finding is not about one RPATH entry).
pub(super) fn finding(path: &str, rule: &str, severity: &str, message: &str) -> Value {
    json!({
        "part": Value::Null,
        "path": path,
        "rule": rule,
        "severity": severity,
        "tag": Value::Null,
        "entry": Value::Null,
        "message": message,
    })
}
