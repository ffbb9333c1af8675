//! The images list, `.files-list-images.txt`: what a package installed in
//! `BINARIES_DIR`.
//!
//! `BINARIES_DIR` is one global directory, not per package, so no manifest
//! describes it. Buildroot records it with `find -printf` before the
//! configure step and again after the install steps and keeps the lines only
//! in "after"; this module does exactly that, with the same key lines, in
//! one walk per call: [`snapshot`] writes the sorted "before" lines to
//! `<out>/.files-list-images.before`, [`finish`] walks again, keeps the new
//! lines, writes the list and removes the snapshot. The output is
//! byte-identical to `comm -13 before after | sed 's/^[^,]+/<pkg>/'`.
//!
//! The walk goes through [`crate::walk`]: it never follows a symlink below
//! the directory named, resolves no path below it (deeper than `PATH_MAX`
//! works), and holds a bounded number of directory handles.

use std::path::Path;

use anyhow::{Context, Result};

use super::key_line;
use crate::fsx::{Kind, Mtime};
use crate::walk::Walker;

/// The snapshot file's name in the output directory.
pub const BEFORE: &str = ".files-list-images.before";
/// The list's name in the output directory.
pub const LIST: &str = ".files-list-images.txt";

/// Returns the sorted `key,./path` lines of every file and symlink under
/// `dir` (none if it does not exist, as `cd` then fails and find lists
/// nothing useful).
pub fn tree_lines(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    // Directories by number through the bounded walker: no path is resolved
    // below the root, and the handles held stay bounded however deep.
    let walker = Walker::new(dir);
    let mut stack: Vec<(u32, Vec<u8>)> = vec![(0, b".".to_vec())];
    while let Some((node, rel)) = stack.pop() {
        let d = walker.open(node)?;
        for e in d.fresh_entries()? {
            let Some(st) = d.stat(&e.name)? else { continue };
            let mut child = rel.clone();
            child.push(b'/');
            child.extend_from_slice(&e.name);
            let kind = Kind::from_mode(st.st_mode);
            match kind {
                Kind::Dir => stack.push((walker.add(node, &e.name), child)),
                Kind::File | Kind::Symlink => {
                    let mut line = Vec::with_capacity(64 + child.len());
                    key_line(
                        Mtime::of(&st),
                        st.st_ino,
                        st.st_mode,
                        kind,
                        st.st_size as u64,
                        &mut line,
                    );
                    line.extend_from_slice(&child);
                    out.push(line);
                }
                Kind::Other => {}
            }
        }
    }
    walker.close_all();
    out.sort_unstable();
    Ok(out)
}

/// Writes the "before" snapshot of `images` into `out_dir`.
pub fn snapshot(images: &Path, out_dir: &Path) -> Result<()> {
    let lines = tree_lines(images)?;
    let path = out_dir.join(BEFORE);
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("creating directory {}", crate::fsx::show(out_dir)))?;
    write_atomic(&path, &join_lines(lines.iter().map(Vec::as_slice)))
}

/// Writes `<out_dir>/.files-list-images.txt` from the snapshot and a new
/// walk, and removes the snapshot. Without a snapshot (a `-rebuild` or
/// `-reinstall` does not run the configure step that takes it) the list
/// of the last install is kept, or an empty one written if there is none.
pub fn finish(images: &Path, out_dir: &Path, pkg: &str) -> Result<()> {
    let before_path = out_dir.join(BEFORE);
    let list_path = out_dir.join(LIST);
    let before = match std::fs::read(&before_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !list_path.exists() {
                write_atomic(&list_path, b"")?;
            }
            return Ok(());
        }
        Err(e) => {
            return Err(e).with_context(|| format!("reading {}", crate::fsx::show(&before_path)));
        }
    };
    let before: std::collections::HashSet<&[u8]> = before
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let after = tree_lines(images)?;
    let mut out = Vec::new();
    for line in after.iter().filter(|l| !before.contains(l.as_slice())) {
        let comma = line.iter().position(|&b| b == b',').unwrap_or(0);
        out.extend_from_slice(pkg.as_bytes());
        out.extend_from_slice(&line[comma..]);
        out.push(b'\n');
    }
    write_atomic(&list_path, &out)?;
    std::fs::remove_file(&before_path)
        .with_context(|| format!("removing {}", crate::fsx::show(&before_path)))
}

fn join_lines<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// Writes through a temporary in the same directory, renamed over `path`
/// ([`crate::fsx::DirFd::write_file`]: a symlink planted at `path` is
/// replaced, never followed, and an error names `path`, never the
/// temporary).
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = crate::fsx::bytes(Path::new(path.file_name().unwrap_or_default()));
    let dir = crate::fsx::DirFd::open(dir)?;
    dir.write_file(name, data)?;
    Ok(())
}
