//! `ppd explain`: runs [`crate::explain::explain`] for each path and prints
//! the answers, as text on stdout or as the `--json` document.

use std::io::Write;

use serde_json::{json, Value};

use super::json::{self, Doc};
use super::Context;
use crate::cli::ExplainArgs;
use crate::exit::Status;
use crate::explain::{self, Copy, Entry, Explanation, Place};
use crate::provenance::CopyState;

/// Runs the command.
pub fn run(args: &ExplainArgs, _ctx: &Context) -> anyhow::Result<Status> {
    let mut answers = Vec::new();
    for p in &args.paths {
        answers.push(explain::explain(&args.per_package_dir, p)?);
    }
    if args.json {
        json_doc(&answers).print()?;
        return Ok(Status::Success);
    }
    let mut out = std::io::stdout().lock();
    for (i, e) in answers.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        out.write_all(render(e).as_bytes())?;
    }
    out.flush()?;
    Ok(Status::Success)
}

fn entry_words(e: &Entry) -> String {
    let links = if e.nlink == 1 { "link" } else { "links" };
    format!(
        "{}, inode {} on device {:#x}, {} {links}, {} bytes, mode {:04o}, mtime {}.{:09}",
        e.kind.word(),
        e.key.ino,
        e.key.dev,
        e.nlink,
        e.size,
        e.mode,
        e.mtime.sec,
        e.mtime.nsec
    )
}

fn copy_words(c: &Copy) -> String {
    let mut w = format!("{} ({}", c.package, c.entry.kind.word());
    if c.installer != c.package {
        w.push_str(&format!(", installed by {}", c.installer));
    }
    if c.state != CopyState::Own {
        w.push_str(&format!(", {}", c.state.word()));
    }
    w.push(')');
    w
}

fn tree_words(e: &Explanation) -> String {
    match &e.place {
        Place::Package(p) => format!("the {} tree of {p} ({})", e.kind, crate::fsx::show(&e.tree)),
        Place::Final => format!("the final {} tree ({})", e.kind, crate::fsx::show(&e.tree)),
    }
}

/// The human answer for one path.
fn render(e: &Explanation) -> String {
    let mut s = format!("{}\n", crate::fsx::show(&e.path));
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<13} {v}\n"));
    line("in:", tree_words(e));
    line(
        "entry:",
        e.entry
            .as_ref()
            .map_or("nothing at this path".into(), entry_words),
    );
    if let Some(c) = &e.copy {
        let mut w = c.installer.clone();
        if let Some(p) = &c.placed_by {
            w.push_str(&format!("; placed here by prepare from {p}"));
            if c.rewritten {
                w.push_str(", then rewritten by the path fixup");
            }
        } else if c.installer == c.package {
            w.push_str(" (the package's own file)");
        }
        line("installed by:", w);
        let state = match c.state {
            CopyState::Own => "the package's own (no manifest record)".to_string(),
            CopyState::Current => format!(
                "current: what {} provides now",
                c.placed_by.as_deref().unwrap_or("the dependency")
            ),
            CopyState::Outdated => format!(
                "outdated: {} provides another version now (the next prepare replaces it)",
                c.recorded.as_deref().unwrap_or("the dependency")
            ),
            CopyState::EditedInPlace => format!(
                "edited in place: the inode {} placed, changed since, and with it every tree sharing it",
                c.recorded.as_deref().unwrap_or("the dependency")
            ),
            CopyState::Replaced => format!(
                "replaced: the package put another file where {} placed one",
                c.recorded.as_deref().unwrap_or("the dependency")
            ),
        };
        line("state:", state);
    }
    if e.entry.is_some() {
        let n = e.shared_by.len();
        let trees = if n == 1 { "tree" } else { "trees" };
        line(
            "shared by:",
            format!("{n} {trees}: {}", e.shared_by.join(", ")),
        );
    }
    let copies: Vec<String> = e.copies.iter().map(copy_words).collect();
    line(
        "provided by:",
        if copies.is_empty() {
            "no package tree".into()
        } else {
            copies.join(", ")
        },
    );
    if let (Place::Final, Some(i)) = (&e.place, &e.installer) {
        line("installed by:", i.clone());
    }
    if let Some(w) = &e.winner {
        let how = match e.place {
            Place::Final => format!("{w} (the last package by name that provides it)"),
            Place::Package(_) => w.clone(),
        };
        line("winner:", how);
    }
    if e.differs_from_winner {
        line(
            "note:",
            "the entry differs from the winning package's copy (changed after finalize, or finalized before a rebuild)".into(),
        );
    }
    let outdated: Vec<&str> = e
        .copies
        .iter()
        .filter(|c| c.state == CopyState::Outdated)
        .map(|c| c.package.as_str())
        .collect();
    line(
        "outdated:",
        if outdated.is_empty() {
            "none".into()
        } else {
            outdated.join(", ")
        },
    );
    let edited: Vec<&str> = e
        .copies
        .iter()
        .filter(|c| c.state == CopyState::EditedInPlace)
        .map(|c| c.package.as_str())
        .collect();
    line(
        "edited:",
        if edited.is_empty() {
            "none".into()
        } else {
            edited.join(", ")
        },
    );
    line(
        "conflict:",
        if e.conflict.is_empty() {
            "none".into()
        } else {
            let who: Vec<String> = e
                .conflict
                .iter()
                .map(|(p, k)| format!("{p} ({})", k.word()))
                .collect();
            format!("installed differently by {}", who.join(", "))
        },
    );
    s
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "kind": e.kind.word(),
        "dev": e.key.dev,
        "ino": e.key.ino,
        "nlink": e.nlink,
        "size": e.size,
        "mode": e.mode,
        "mtime": {"sec": e.mtime.sec, "nsec": e.mtime.nsec},
    })
}

fn copy_json(c: &Copy) -> Value {
    json!({
        "package": c.package,
        "entry": entry_json(&c.entry),
        "installer": c.installer,
        "placed_by": c.placed_by,
        "recorded": c.recorded,
        "rewritten": c.rewritten,
        "state": c.state.word(),
    })
}

fn json_doc(answers: &[Explanation]) -> Doc {
    let mut doc = Doc::new("explain");
    let mut paths = Vec::new();
    let mut outdated = 0;
    for e in answers {
        let rel = String::from_utf8_lossy(&e.rel).into_owned();
        outdated += e
            .copies
            .iter()
            .filter(|c| c.state == CopyState::Outdated)
            .count();
        paths.push(json!({
            "path": json::text(&e.path),
            "tree": json::text(&e.tree),
            "kind": e.kind,
            "place": match e.place { Place::Package(_) => "per-package", Place::Final => "final" },
            "package": match &e.place { Place::Package(p) => Value::from(p.clone()), Place::Final => Value::Null },
            "rel": rel,
            "entry": e.entry.as_ref().map(entry_json),
            "copy": e.copy.as_ref().map(copy_json),
            "copies": e.copies.iter().map(copy_json).collect::<Vec<_>>(),
            "shared_by": e.shared_by,
            "installer": e.installer,
            "winner": e.winner,
            "differs_from_winner": e.differs_from_winner,
            "outdated": e.copies.iter().filter(|c| c.state == CopyState::Outdated)
                .map(|c| c.package.clone()).collect::<Vec<_>>(),
            "edited_in_place": e.copies.iter().filter(|c| c.state == CopyState::EditedInPlace)
                .map(|c| c.package.clone()).collect::<Vec<_>>(),
        }));
        if !e.conflict.is_empty() {
            let who: Vec<Value> = e
                .conflict
                .iter()
                .map(|(p, k)| json!({"package": p, "kind": k.word()}))
                .collect();
            doc.conflicts.push(json!({
                "tree": json::text(&e.tree),
                "path": rel,
                "providers": who,
                "winner": e.winner,
                "installers": who,
                "found": Value::Null,
                "replaced": Value::Null,
            }));
        }
        for c in &e.copies {
            let how = match c.state {
                CopyState::EditedInPlace => "edited",
                CopyState::Replaced => "replaced",
                _ => continue,
            };
            let tree = tree_of(e, &c.package);
            doc.overwrites.push(json!({
                "tree": json::text(&tree),
                "path": rel,
                "package": c.package,
                "owner": c.recorded,
                "how": how,
            }));
        }
    }
    doc.stat("paths", answers.len());
    doc.stat("outdated", outdated);
    doc.stat("conflicts", doc.conflicts.len());
    doc.set("paths", paths);
    doc
}

/// The per-package tree of `pkg` of the explained path's kind.
fn tree_of(e: &Explanation, pkg: &str) -> std::path::PathBuf {
    e.per_package_dir.join(pkg).join(&e.kind)
}
