//! A manifest indexed by directory, for `file-list`.
//!
//! `file-list` walks a tree directory by directory. For a directory prepare
//! created and nobody changed since, it takes the names from here instead
//! of reading the directory, and it compares every entry's `lstat` with its
//! record. Building this index has to cost far less than the walk it
//! saves, and a toolchain's host manifest is megabytes, so the index does
//! the least it can per line: the manifest comes in directory sections, so
//! it only looks at each line's first two bytes, parses the directory
//! lines, and keeps each section's entry lines as runs of consecutive
//! lines borrowed from the file's bytes. An entry line is parsed by the
//! walk task that takes its run, on whichever thread runs it, next to the
//! `lstat`s it compares them with.
//!
//! Invariants: every entry line of the manifest is in exactly one run; a
//! run holds at most [`RUN_LINES`] lines, all of one directory; the framing
//! (magic line, `end <count>`) and the directory lines are checked before
//! anything is handed out. A bad entry line is found when its run is read:
//! [`Run::records`] yields the error with the line's number, and the caller
//! must then treat the whole manifest as damaged. Only the current format
//! is indexed; [`super::in_current_format`] converts a format-1 manifest.

use std::borrow::Cow;

use anyhow::{bail, Context, Result};
use rustc_hash::FxHashMap;

use crate::fsx::{FileKey, Mtime};

use super::{
    check_count, check_dir, check_name, frame, parse_line, section_line, split_path, DirRecord,
    RecordRef, Version,
};

/// The most lines in one run: a large directory is several runs, which the
/// walk `lstat`s on several threads.
pub const RUN_LINES: usize = 192;

/// Manifests at least this large are indexed in pieces, in parallel.
const PARALLEL_PARSE: usize = 256 << 10;

/// Consecutive record lines of the non-directory entries of one directory.
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    /// The lines, without the last line's newline (may hold empty lines).
    lines: &'a [u8],
    /// The line number of the first, for messages.
    first_line: usize,
    /// The number of records.
    count: usize,
}

impl<'a> Run<'a> {
    /// The number of records in the run.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if the run holds no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The record of the entry named `escaped` (its name as the manifest
    /// writes it, see [`super::escape`]), parsing only that line: the name
    /// is each line's last field, and an escaped name holds no tab.
    fn find(&self, escaped: &[u8]) -> Result<Option<RecordRef<'a>>> {
        for (at, line) in (self.first_line..).zip(self.lines.split(|&b| b == b'\n')) {
            let name_at = memchr::memrchr(b'\t', line).map_or(0, |t| t + 1);
            if line.is_empty() || &line[name_at..] != escaped {
                continue;
            }
            let (_, rec) = parse_line(line).with_context(|| format!("line {at}"))?;
            return Ok(Some(rec));
        }
        Ok(None)
    }

    /// Parses the run: each entry's name and record, or the error of the
    /// first bad line.
    pub fn records(&self) -> Records<'a> {
        Records {
            rest: self.lines,
            line: self.first_line,
        }
    }
}

/// The records of a [`Run`], parsed one line at a time.
pub struct Records<'a> {
    rest: &'a [u8],
    line: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<(Cow<'a, [u8]>, RecordRef<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let end = memchr::memchr(b'\n', self.rest).unwrap_or(self.rest.len());
            let line = &self.rest[..end];
            self.rest = &self.rest[(end + 1).min(self.rest.len())..];
            let number = self.line;
            self.line += 1;
            if line.is_empty() {
                continue;
            }
            let parsed = parse_line(line).and_then(|(name, rec)| {
                check_name(&name)?;
                Ok((name, rec))
            });
            return Some(parsed.with_context(|| format!("line {number}")));
        }
    }
}

/// The records of one directory of a tree, borrowed from the manifest.
#[derive(Debug, Default)]
pub struct Group<'a> {
    /// The directory's own record, if prepare created it.
    pub dir: Option<DirRecord>,
    /// The record lines of the non-directory entries directly in it.
    pub runs: Vec<Run<'a>>,
    /// Names of the recorded directories directly in it.
    pub subdirs: Vec<Cow<'a, [u8]>>,
    /// A directory directly in it has entries in the manifest but no record
    /// of its own (a manifest of an earlier ppd, which left a parent
    /// recorded when it dropped a child's record): `subdirs` then misses
    /// it, so the directory's own record is dropped and the directory is
    /// read. Where directories keep no link count (btrfs) nothing else
    /// would tell.
    unrecorded_child: bool,
}

impl<'a> Group<'a> {
    /// The number of non-directory records.
    pub fn len(&self) -> usize {
        self.runs.iter().map(Run::len).sum()
    }

    /// True if the directory has no non-directory records.
    pub fn is_empty(&self) -> bool {
        self.runs.iter().all(Run::is_empty)
    }

    /// Parses every record, by name, for looking up the entries of a
    /// directory that was read; the error of the first bad line.
    pub fn by_name(&self) -> Result<FxHashMap<Cow<'a, [u8]>, RecordRef<'a>>> {
        let mut map = FxHashMap::default();
        map.reserve(self.len());
        for run in &self.runs {
            for rec in run.records() {
                let (name, rec) = rec?;
                map.insert(name, rec);
            }
        }
        Ok(map)
    }

    fn absorb(&mut self, other: Group<'a>) {
        self.dir = self.dir.or(other.dir);
        self.runs.extend(other.runs);
        self.subdirs.extend(other.subdirs);
        self.unrecorded_child |= other.unrecorded_child;
    }
}

/// The manifest of one tree by directory, borrowing the file's bytes.
#[derive(Debug, Default)]
pub struct Index<'a> {
    /// Directory path -> position in `groups`.
    slots: FxHashMap<Cow<'a, [u8]>, usize>,
    groups: Vec<Group<'a>>,
    records: usize,
    /// The tree root's identity from the `end` line (see
    /// [`super::identity_lost`]).
    pub root: Option<(FileKey, Option<Mtime>)>,
}

/// The run being extended while a piece is indexed.
struct Open {
    slot: usize,
    start: usize,
    end: usize,
    first_line: usize,
    count: usize,
}

/// Splits a relative path into its directory and its name.
fn split_parent<'a>(path: &Cow<'a, [u8]>) -> (Cow<'a, [u8]>, Cow<'a, [u8]>) {
    match path {
        Cow::Borrowed(p) => {
            let (dir, name) = split_path(p);
            (Cow::Borrowed(dir), Cow::Borrowed(name))
        }
        Cow::Owned(p) => {
            let (dir, name) = split_path(p);
            (Cow::Owned(dir.to_vec()), Cow::Owned(name.to_vec()))
        }
    }
}

impl<'a> Index<'a> {
    /// Indexes serialized manifest bytes: checks the framing and the `d`
    /// lines, and groups the other lines by directory without parsing
    /// them. Large manifests are indexed in pieces on the current rayon
    /// pool.
    pub fn parse(data: &'a [u8]) -> Result<Index<'a>> {
        Index::parse_with(data, true)
    }

    /// [`Index::parse`], in pieces on the current rayon pool only if
    /// `parallel`: outside any pool, rayon's would be the global one,
    /// started for it.
    fn parse_with(data: &'a [u8], parallel: bool) -> Result<Index<'a>> {
        use rayon::prelude::*;
        let (body, count, version, root) = frame(data)?;
        if version != Version::V2 {
            bail!("format 1 manifest (see manifest::in_current_format)");
        }
        let parts = if !parallel || body.len() < PARALLEL_PARSE {
            1
        } else {
            rayon::current_num_threads().clamp(1, 8)
        };
        // A single piece stays on this thread: no pool is started for it.
        let mut index = if parts == 1 {
            Index::piece(body, 2)?
        } else {
            split_lines(body, parts)
                .into_par_iter()
                .map(|(piece, first_line)| Index::piece(piece, first_line))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .reduce(|mut a, mut b| {
                    a.records += b.records;
                    for (dir, at) in b.slots {
                        let to = a.slot(dir);
                        a.groups[to].absorb(std::mem::take(&mut b.groups[at]));
                    }
                    a
                })
                .unwrap_or_default()
        };
        check_count(count, index.records)?;
        for g in &mut index.groups {
            if g.unrecorded_child {
                g.dir = None;
            }
        }
        Ok(Index { root, ..index })
    }

    /// Indexes the lines of one piece, which starts at a directory line
    /// (`first_line` is the number of its first line).
    fn piece(piece: &'a [u8], first_line: usize) -> Result<Index<'a>> {
        let mut index = Index::default();
        // The group of the current section, and the run being extended.
        let mut section: Option<usize> = None;
        let mut open: Option<Open> = None;
        let mut start = 0;
        for (n, end) in memchr::memchr_iter(b'\n', piece)
            .chain(std::iter::once(piece.len()))
            .enumerate()
        {
            let line_start = start.min(end);
            let line = &piece[line_start..end];
            start = end + 1;
            if line.is_empty() {
                continue;
            }
            let number = first_line + n;
            let at = || format!("line {number}");
            if line.starts_with(b"E\t") {
                // A directory a dependency provides empty: no entries, and
                // nothing for the walk (the directory is read, as every
                // directory without a `d` line is).
                index.close(open.take(), piece);
                super::empty_dir_line(line).with_context(at)?;
                section = None;
                continue;
            }
            if line.starts_with(b"D\t") {
                index.close(open.take(), piece);
                let dir = section_line(line).with_context(at)?;
                if !dir.is_empty() {
                    let (parent, _) = split_parent(&dir);
                    let up = index.slot(parent);
                    index.groups[up].unrecorded_child = true;
                }
                section = Some(index.slot(dir));
                continue;
            }
            if line.starts_with(b"d\t") {
                index.close(open.take(), piece);
                let (path, rec) = parse_line(line).with_context(at)?;
                check_dir(&path).with_context(at)?;
                index.records += 1;
                let (parent, name) = split_parent(&path);
                let root = path.is_empty();
                let own = index.slot(path);
                index.groups[own].dir = Some(rec.dir_record());
                if !root {
                    let up = index.slot(parent);
                    index.groups[up].subdirs.push(name);
                }
                section = Some(own);
                continue;
            }
            // An entry of the current section, parsed when its run is read.
            let slot = section.ok_or_else(|| {
                anyhow::anyhow!("line {number}: an entry before any directory line")
            })?;
            index.records += 1;
            match &mut open {
                Some(o) if o.count < RUN_LINES => {
                    o.count += 1;
                    o.end = end;
                }
                _ => {
                    index.close(open.take(), piece);
                    open = Some(Open {
                        slot,
                        start: line_start,
                        end,
                        first_line: number,
                        count: 1,
                    });
                }
            }
        }
        index.close(open, piece);
        Ok(index)
    }

    /// Ends the run being extended, if any.
    fn close(&mut self, open: Option<Open>, piece: &'a [u8]) {
        if let Some(o) = open {
            self.groups[o.slot].runs.push(Run {
                lines: &piece[o.start..o.end],
                first_line: o.first_line,
                count: o.count,
            });
        }
    }

    /// The position of the group of `dir`, created empty if needed.
    fn slot(&mut self, dir: Cow<'a, [u8]>) -> usize {
        let next = self.groups.len();
        let at = *self.slots.entry(dir).or_insert(next);
        if at == next {
            self.groups.push(Group::default());
        }
        at
    }

    /// The records of the directory `dir` (`b""` for the tree's root).
    pub fn group(&self, dir: &[u8]) -> Option<&Group<'a>> {
        self.slots.get(dir).map(|&at| &self.groups[at])
    }

    /// The record of the non-directory entry `path`, if any. Only the
    /// line of that entry is parsed: a bad line elsewhere, even in the
    /// same directory, is not seen (walks use [`Group::by_name`] or
    /// [`Run::records`], which see every line).
    pub fn get(&self, path: &[u8]) -> Result<Option<RecordRef<'a>>> {
        let (dir, name) = split_path(path);
        let Some(group) = self.group(dir) else {
            return Ok(None);
        };
        find_in(group.runs.iter().copied(), name)
    }

    /// Parses every record line; the number of non-directory records.
    #[cfg(test)]
    pub(super) fn read_all(&self) -> Result<usize> {
        let mut n = 0;
        for group in &self.groups {
            n += group.by_name()?.len();
        }
        Ok(n)
    }

    /// The error of the first entry line in the file that does not parse,
    /// if any. Runs never share lines, so that is the first error of the
    /// run that starts first among those holding one.
    pub fn first_damage(&self) -> Option<anyhow::Error> {
        self.groups
            .iter()
            .flat_map(|g| &g.runs)
            .filter_map(|run| Some((run.first_line, run.records().find_map(Result::err)?)))
            .min_by_key(|(line, _)| *line)
            .map(|(_, e)| e)
    }

    /// The number of record lines (a path repeated, which only a damaged
    /// manifest has, counts twice and so fails the end-line check).
    pub fn len(&self) -> usize {
        self.records
    }

    /// True if there are no records.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }
}

/// An [`Index`] that owns the manifest's bytes, for asking a few paths of
/// each of many manifests kept at once (an entry's origin traced through
/// the dependencies' manifests, [`crate::provenance::Origins`]): parsing
/// every record of each manifest cost a millisecond per toolchain-sized
/// manifest, far more than the lookups. The runs are kept as byte ranges
/// of the owned bytes, each turned back into a [`Run`] when asked.
///
/// Invariant: every span lies within `data`, as the run it was taken from
/// lay within the bytes indexed.
#[derive(Debug)]
pub struct Owned {
    data: super::Bytes,
    dirs: FxHashMap<Box<[u8]>, Vec<Span>>,
    /// The tree root's identity from the `end` line.
    pub root: Option<(FileKey, Option<Mtime>)>,
}

/// Where a [`Run`] lies in an [`Owned`] index's bytes.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    first_line: usize,
    count: usize,
}

impl Owned {
    /// Indexes `data` (in the current format) on this thread, checking what
    /// [`Index::parse`] checks.
    pub fn new(data: super::Bytes) -> Result<Owned> {
        let base = data.as_ptr() as usize;
        let index = Index::parse_with(&data, false)?;
        let dirs = index
            .slots
            .iter()
            .filter(|(_, &at)| !index.groups[at].runs.is_empty())
            .map(|(dir, &at)| {
                let spans = index.groups[at].runs.iter().map(|run| {
                    // The run borrows from `data`: its offset is the
                    // distance between the two starts.
                    let start = run.lines.as_ptr() as usize - base;
                    Span {
                        start,
                        end: start + run.lines.len(),
                        first_line: run.first_line,
                        count: run.count,
                    }
                });
                (Box::from(&**dir), spans.collect())
            })
            .collect();
        let root = index.root;
        drop(index);
        Ok(Owned { data, dirs, root })
    }

    /// The record of the non-directory entry `path`, if any, as
    /// [`Index::get`] finds it.
    pub fn get(&self, path: &[u8]) -> Result<Option<RecordRef<'_>>> {
        let (dir, name) = split_path(path);
        let Some(spans) = self.dirs.get(dir) else {
            return Ok(None);
        };
        let runs = spans.iter().map(|s| Run {
            lines: &self.data[s.start..s.end],
            first_line: s.first_line,
            count: s.count,
        });
        find_in(runs, name)
    }
}

/// The record named `name` (unescaped) in the runs of one directory: the
/// lookup of [`Index::get`] and [`Owned::get`].
fn find_in<'a>(
    runs: impl IntoIterator<Item = Run<'a>>,
    name: &[u8],
) -> Result<Option<RecordRef<'a>>> {
    let mut escaped = Vec::with_capacity(name.len());
    super::escape(name, &mut escaped);
    for run in runs {
        if let Some(rec) = run.find(&escaped)? {
            return Ok(Some(rec));
        }
    }
    Ok(None)
}

/// Splits the lines into about `parts` pieces, each starting at a
/// directory line (or at the start), with the line number of its first
/// line (the body starts on line 2).
fn split_lines(body: &[u8], parts: usize) -> Vec<(&[u8], usize)> {
    let mut pieces = Vec::with_capacity(parts);
    let (mut start, mut line) = (0, 2);
    for i in 1..=parts {
        let end = if i < parts {
            next_section(body, (body.len() * i / parts).max(start))
        } else {
            body.len()
        };
        pieces.push((&body[start..end], line));
        line += memchr::memchr_iter(b'\n', &body[start..end]).count();
        start = end;
    }
    pieces
}

/// The start of the first directory line after `from` (or the end).
fn next_section(body: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(nl) = memchr::memchr(b'\n', &body[at..]) {
        let line = at + nl + 1;
        if body[line..].starts_with(b"d\t") || body[line..].starts_with(b"D\t") {
            return line;
        }
        at = line;
    }
    body.len()
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::super::{frame, parse, render, DirRecord, Manifest, Record};
    use super::*;
    use crate::fsx::{FileKey, Kind, Mtime};

    #[test]
    fn owned_lookups_find_each_record_and_only_it() {
        use super::super::Bytes;
        let mut m = sample();
        let rec = |provider: &str, ino| Record {
            provider: provider.into(),
            kind: Kind::File,
            key: FileKey { dev: 9, ino },
            size: ino,
            mode: 0o644,
            mtime: Mtime { sec: 1, nsec: 2 },
            rewritten: ino % 2 == 0,
        };
        // A directory of several runs, names that end one another, a name
        // that is a provider's, and a file at a directory's name elsewhere.
        for i in 0..(2 * RUN_LINES as u64 + 5) {
            m.records.insert(
                format!("usr/include/h{i}.h").into_bytes(),
                rec("libc", i + 10),
            );
        }
        m.records.insert(b"usr/include/a".to_vec(), rec("a", 3));
        m.records.insert(b"usr/include/ba".to_vec(), rec("ba", 4));
        m.records.insert(b"usr/lib/libc".to_vec(), rec("libc", 5));
        m.records.insert(b"include".to_vec(), rec("x", 6));
        let data = render(&m);
        let owned = Owned::new(Bytes::Read(data.clone())).unwrap();
        for (path, r) in &m.records {
            assert_eq!(owned.get(path).unwrap().unwrap().to_record(), *r);
        }
        for absent in [
            &b"usr/include/b"[..],
            b"usr/include/",
            b"usr",
            b"",
            b"nope/a",
            b"h1.h",
        ] {
            assert!(owned.get(absent).unwrap().is_none(), "{absent:?}");
        }
        // A damaged line is seen by the lookup that reaches it, not by the
        // others: the record asked for is in another directory.
        let at = memchr::memmem::find(&data, b"\t9\t6\t").unwrap();
        let damaged = [&data[..at], &b"\t9\tsix\t"[..], &data[at + 5..]].concat();
        let owned = Owned::new(Bytes::Read(damaged)).unwrap();
        assert!(owned.get(b"include").is_err());
        assert_eq!(owned.get(b"usr/include/a").unwrap().unwrap().provider, "a");
    }

    #[test]
    fn index_sees_what_parse_sees() {
        let mut m = sample();
        m.records.insert(
            b"lib/old".to_vec(),
            Record {
                provider: "toolchain".into(),
                kind: Kind::Symlink,
                key: FileKey { dev: 1, ino: 2 },
                size: 3,
                mode: 0o777,
                mtime: Mtime {
                    sec: -86_400,
                    nsec: 999_999_999,
                },
                rewritten: false,
            },
        );
        let dir = |ino, nsec| DirRecord {
            key: FileKey { dev: 1, ino },
            ctime: Mtime {
                sec: 1_800_000_000,
                nsec,
            },
        };
        for (path, d) in [
            (&b""[..], dir(2, 1)),
            (b"usr", dir(3, 2)),
            (b"usr/lib", dir(4, 3)),
        ] {
            m.dirs.insert(path.to_vec(), d);
        }
        let data = render(&m);
        let index = Index::parse(&data).unwrap();
        assert_eq!(index.len(), 5);
        for (path, rec) in &m.records {
            assert_eq!(index.get(path).unwrap().unwrap().to_record(), *rec);
        }
        assert!(index.get(b"usr/lib/a").unwrap().is_none());
        assert_eq!(parse(&data).unwrap(), m);
        // Directory groups: their own record, files and subdirectories.
        let root = index.group(b"").unwrap();
        // The root is recorded, but `lib` in it has entries and no record
        // (only a manifest of an earlier ppd has that): the root's
        // subdirectories cannot be taken from here, so neither its record.
        assert_eq!(m.dirs[&b""[..]], dir(2, 1));
        assert_eq!(root.dir, None);
        assert_eq!(root.subdirs, [&b"usr"[..]]);
        assert_eq!(root.len(), 0);
        let lib = index.group(b"usr/lib").unwrap();
        assert_eq!(lib.dir, Some(dir(4, 3)));
        assert_eq!(lib.len(), 1);
        let names: Vec<_> = lib.runs[0].records().map(|r| r.unwrap().0).collect();
        assert_eq!(names, [&b"a\tb\nc\\d\xff"[..]]);
        assert_eq!(index.group(b"usr").unwrap().subdirs, [&b"lib"[..]]);
        assert_eq!(index.group(b"lib").unwrap().dir, None);
    }

    #[test]
    fn large_manifests_parse_in_pieces_with_the_same_result() {
        let mut m = Manifest::default();
        for i in 0..8000u64 {
            let mut rec = sample().records.into_values().next().unwrap();
            rec.key.ino = i;
            m.records.insert(
                format!("usr/include/d{:02}/header-{i:05}.h", i % 40).into_bytes(),
                rec,
            );
        }
        let data = render(&m);
        assert!(data.len() > PARALLEL_PARSE);
        // Pieces start at directory lines.
        let (body, _, _, _) = frame(&data).unwrap();
        let pieces = split_lines(body, 3);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|(p, _)| p.starts_with(b"D\t")));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            let index = Index::parse(&data).unwrap();
            assert_eq!(index.len(), 8000);
            for d in 0..40 {
                let dir = format!("usr/include/d{d:02}");
                let group = index.group(dir.as_bytes()).unwrap();
                assert_eq!(group.len(), 200);
                // In runs of at most RUN_LINES lines.
                assert!(group.runs.iter().all(|r| r.len() <= RUN_LINES));
                assert_eq!(group.runs.len(), 2);
                let by_name = group.by_name().unwrap();
                for (path, rec) in m.records.range(format!("{dir}/").into_bytes()..) {
                    let Some(name) = path.strip_prefix(format!("{dir}/").as_bytes()) else {
                        break;
                    };
                    assert_eq!(by_name[name].to_record(), *rec);
                }
            }
            // A bad line deep in the last piece names its own line number.
            let text = String::from_utf8(data.clone()).unwrap();
            let number = 1 + text.lines().position(|l| l.contains("\t7999\t")).unwrap();
            let bad = text.replacen("\t7999\t", "\t7x99\t", 1);
            // It is found when its directory's records are read.
            let index = Index::parse(bad.as_bytes()).unwrap();
            let group = index.group(b"usr/include/d39").unwrap();
            let err = format!("{:#}", group.by_name().unwrap_err());
            assert!(
                err.starts_with(&format!("line {number}: bad inode")),
                "{err}"
            );
            let err = group
                .runs
                .iter()
                .find_map(|r| r.records().find_map(Result::err))
                .unwrap();
            assert!(format!("{err:#}").starts_with(&format!("line {number}: bad inode")));
            // With another bad line much earlier, that one is the first.
            assert!(format!("{:#}", index.first_damage().unwrap())
                .starts_with(&format!("line {number}: bad inode")));
            let early = 1 + text.lines().position(|l| l.contains("\t40\t")).unwrap();
            let two = bad.replacen("\t40\t", "\t4x\t", 1);
            let index = Index::parse(two.as_bytes()).unwrap();
            let err = format!("{:#}", index.first_damage().unwrap());
            assert!(
                err.starts_with(&format!("line {early}: bad inode")),
                "{err}"
            );
            assert!(Index::parse(&data).unwrap().first_damage().is_none());
            // One record too many for the end line.
            let extra = text.replacen("end 8000", "end 7999", 1);
            let err = format!("{:#}", Index::parse(extra.as_bytes()).unwrap_err());
            assert_eq!(err, "end line says 7999 records, found 8000");
        });
    }

    #[test]
    fn a_directory_in_two_sections_is_one_group() {
        let text = "ppd-manifest 2\nD\tlib\n\
            f\tz\t1\t2\t3\t4.5\t644\t-\ta\nD\tusr\nf\tz\t1\t3\t3\t4.5\t644\t-\tb\n\
            D\tlib\nf\tz\t1\t4\t3\t4.5\t644\t-\tc\nend 3\n";
        let index = Index::parse(text.as_bytes()).unwrap();
        let lib = index.group(b"lib").unwrap().by_name().unwrap();
        let mut names: Vec<&[u8]> = lib.keys().map(|k| k.as_ref()).collect();
        names.sort();
        assert_eq!(names, [&b"a"[..], b"c"]);
        // An entry needs a directory line before it; names are one component.
        for (bad, why) in [
            (
                "ppd-manifest 2\nf\tz\t1\t2\t3\t4.5\t644\t-\ta\nend 1\n",
                "line 2: an entry before any directory line",
            ),
            (
                "ppd-manifest 2\nD\tlib/../x\nend 0\n",
                "line 2: bad directory \"lib/../x\"",
            ),
        ] {
            let err = format!("{:#}", Index::parse(bad.as_bytes()).unwrap_err());
            assert_eq!(err, why);
            assert_eq!(format!("{:#}", parse(bad.as_bytes()).unwrap_err()), why);
        }
        let bad = "ppd-manifest 2\nD\tlib\nf\tz\t1\t2\t3\t4.5\t644\t-\ta/b\nend 1\n";
        let index = Index::parse(bad.as_bytes()).unwrap();
        let err = format!("{:#}", index.read_all().unwrap_err());
        assert_eq!(err, "line 3: bad name \"a/b\"");
        assert_eq!(format!("{:#}", parse(bad.as_bytes()).unwrap_err()), err);
    }
}
