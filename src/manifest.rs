//! Per-tree manifests: what `ppd prepare` placed in a per-package tree, and
//! from which dependency.
//!
//! A manifest lives beside its tree (`<parent>/.<tree>.ppd-manifest`), never
//! inside it. It records, for every non-directory entry prepare placed: the
//! path, the providing dependency, the type, the inode identity, size, mode
//! and mtime as placed. That is what lets a later run tell a dependency's
//! entry from one the package installed or edited itself, remove entries a
//! dependency no longer provides, and name the owner of an overwritten file.
//!
//! The format is line-based text, written atomically (temporary file and
//! rename) and closed by an `end <count>` line; a file that does not parse
//! completely is reported as damaged and treated as absent, which makes the
//! next prepare behave like Buildroot's rsync loop (no removals) rather
//! than act on wrong data.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::fsx::{FileKey, Kind, Mtime};

const MAGIC: &str = "ppd-manifest 1";

/// One placed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The dependency it came from.
    pub provider: String,
    /// Its type.
    pub kind: Kind,
    /// Identity of the entry as placed.
    pub key: FileKey,
    /// Size as placed.
    pub size: u64,
    /// Mode bits as placed.
    pub mode: u32,
    /// mtime as placed.
    pub mtime: Mtime,
    /// True if ppd rewrote it after placing (path fixup): same owner, new inode.
    pub rewritten: bool,
}

impl Record {
    /// Returns true if and only if `st` is still the entry as placed: the
    /// same inode with the same size and mtime. The inode number alone is
    /// not enough: filesystems reuse a freed number at once, so a file
    /// deleted and written anew often gets the old one back.
    pub fn matches(&self, st: &nix::sys::stat::FileStat) -> bool {
        self.key == FileKey::of(st) && self.size == st.st_size as u64 && self.mtime == Mtime::of(st)
    }
}

/// All records of one tree, by relative path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Records keyed by `/`-separated relative path.
    pub records: BTreeMap<Vec<u8>, Record>,
}

/// Returns where the manifest of `tree` lives.
pub fn path_for(tree: &Path) -> PathBuf {
    crate::lock::sidecar(tree, "ppd-manifest")
}

/// What loading found.
#[derive(Debug)]
pub enum Loaded {
    /// No manifest file.
    Missing,
    /// A manifest that does not parse; the reason.
    Damaged(String),
    /// A good manifest.
    Good(Manifest),
}

/// Loads the manifest at `path`.
pub fn load(path: &Path) -> Loaded {
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::Missing,
        Err(e) => Loaded::Damaged(format!("reading {}: {e}", path.display())),
        Ok(data) => match parse(&data) {
            Ok(m) => Loaded::Good(m),
            Err(e) => Loaded::Damaged(format!("{e:#}")),
        },
    }
}

fn kind_char(k: Kind) -> u8 {
    match k {
        Kind::File => b'f',
        Kind::Symlink => b'l',
        Kind::Dir => b'd',
        Kind::Other => b'o',
    }
}

fn char_kind(c: &[u8]) -> Result<Kind> {
    Ok(match c {
        b"f" => Kind::File,
        b"l" => Kind::Symlink,
        b"d" => Kind::Dir,
        b"o" => Kind::Other,
        _ => bail!("unknown entry type {:?}", String::from_utf8_lossy(c)),
    })
}

/// Escapes a path so it fits one tab-separated line: `\\`, `\n`, `\t`.
pub fn escape(path: &[u8], out: &mut Vec<u8>) {
    for &b in path {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

fn unescape(s: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            match it.next() {
                Some(b'\\') => out.push(b'\\'),
                Some(b'n') => out.push(b'\n'),
                Some(b't') => out.push(b'\t'),
                _ => bail!("bad escape in path"),
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Serializes a manifest.
pub fn render(m: &Manifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + m.records.len() * 96);
    out.extend_from_slice(MAGIC.as_bytes());
    out.push(b'\n');
    for (path, r) in &m.records {
        out.push(kind_char(r.kind));
        let _ = write!(
            out,
            "\t{}\t{}\t{}\t{}\t{}.{:09}\t{:o}\t{}\t",
            r.provider,
            r.key.dev,
            r.key.ino,
            r.size,
            r.mtime.sec,
            r.mtime.nsec,
            r.mode & 0o7777,
            if r.rewritten { "r" } else { "-" }
        );
        escape(path, &mut out);
        out.push(b'\n');
    }
    let _ = writeln!(out, "end {}", m.records.len());
    out
}

fn num<T: std::str::FromStr>(field: &[u8], what: &str) -> Result<T> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad {what} {:?}", String::from_utf8_lossy(field)))
}

/// Parses a serialized manifest.
pub fn parse(data: &[u8]) -> Result<Manifest> {
    let mut lines = data.split(|&b| b == b'\n');
    if lines.next() != Some(MAGIC.as_bytes()) {
        bail!("not a ppd manifest (bad first line)");
    }
    let mut m = Manifest::default();
    let mut ended = false;
    for (n, line) in lines.enumerate() {
        if ended {
            if line.is_empty() {
                continue;
            }
            bail!("data after the end line");
        }
        if line.is_empty() {
            continue;
        }
        if let Some(count) = line.strip_prefix(b"end ") {
            let count: usize = num(count, "count")?;
            if count != m.records.len() {
                bail!("end line says {count} records, found {}", m.records.len());
            }
            ended = true;
            continue;
        }
        let f: Vec<&[u8]> = line.splitn(9, |&b| b == b'\t').collect();
        if f.len() != 9 {
            bail!("line {}: expected 9 fields, found {}", n + 2, f.len());
        }
        let (sec, nsec) = {
            let t = f[5];
            let dot = t.iter().position(|&b| b == b'.').context("bad mtime")?;
            (num(&t[..dot], "mtime")?, num(&t[dot + 1..], "mtime")?)
        };
        let mode =
            u32::from_str_radix(std::str::from_utf8(f[6]).unwrap_or("x"), 8).context("bad mode")?;
        let rec = Record {
            kind: char_kind(f[0])?,
            provider: String::from_utf8(f[1].to_vec()).context("bad provider")?,
            key: FileKey {
                dev: num(f[2], "device")?,
                ino: num(f[3], "inode")?,
            },
            size: num(f[4], "size")?,
            mtime: Mtime { sec, nsec },
            mode,
            rewritten: f[7] == b"r",
        };
        m.records.insert(unescape(f[8])?, rec);
    }
    if !ended {
        bail!("truncated (no end line)");
    }
    Ok(m)
}

/// Writes `m` to `path` atomically.
pub fn save(path: &Path, m: &Manifest) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, render(m)).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest::default();
        m.records.insert(
            b"usr/lib/a\tb\nc\\d\xff".to_vec(),
            Record {
                provider: "zlib".into(),
                kind: Kind::File,
                key: FileKey { dev: 2049, ino: 77 },
                size: 12,
                mode: 0o644,
                mtime: Mtime {
                    sec: 1_700_000_000,
                    nsec: 5,
                },
                rewritten: true,
            },
        );
        m
    }

    #[test]
    fn round_trips_hostile_names() {
        let m = sample();
        assert_eq!(parse(&render(&m)).unwrap(), m);
    }

    #[test]
    fn truncation_and_garbage_are_damage() {
        let data = render(&sample());
        let cut = &data[..data.len() - 6];
        assert!(parse(cut).unwrap_err().to_string().contains("truncated"));
        assert!(parse(b"garbage\n").is_err());
        let mut bad = data.clone();
        bad.extend_from_slice(b"f\tx\n");
        assert!(parse(&bad).is_err());
    }
}
