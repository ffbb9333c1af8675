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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::fsx::{FileKey, Kind, Mtime};

mod index;
mod line;
pub use index::{Group, Index, Owned, Records, Run, RUN_LINES};
use line::{parse_line, unescape, unsigned};

/// The first line of the current format: directory sections of names.
const MAGIC: &str = "ppd-manifest 2";
/// The first line of format 1 (one full path per line), still read.
const MAGIC_V1: &str = "ppd-manifest 1";

/// The format of serialized manifest bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    /// One line per entry with its full path; `d` lines after them.
    V1,
    /// Directory sections: a `d` line (recorded directory) or a `D` line
    /// (any other), then the entries directly in it, by name.
    V2,
}

/// One placed entry. The provider is a `String` in an owned [`Manifest`]
/// and a `&str` into the file's bytes in an [`Index`] ([`RecordRef`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<P = String> {
    /// The dependency it came from.
    pub provider: P,
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

/// A record borrowing its provider from the manifest's bytes.
pub type RecordRef<'a> = Record<&'a str>;

impl<P> Record<P> {
    /// Returns true if and only if `st` is still the entry as placed: the
    /// same inode with the same size and mtime. The inode number alone is
    /// not enough: filesystems reuse a freed number at once, so a file
    /// deleted and written anew often gets the old one back.
    pub fn matches(&self, st: &crate::fsx::FileStat) -> bool {
        self.key == FileKey::of(st) && self.size == st.st_size as u64 && self.mtime == Mtime::of(st)
    }

    /// Returns true if `st` still carries the inode prepare placed, even if
    /// that inode was edited in place since (a dependency's rebuild writing
    /// through the inode every dependent shares): such an entry was not
    /// installed by the package, whatever its content now.
    ///
    /// The same inode number with another size or mtime may also be a new
    /// file that got a freed number back. That needs every link to the
    /// placed inode gone, the dependency's included, and the new inode is
    /// born after the manifest was written; `born` gives the entry's birth
    /// time where the filesystem records one (it is asked only in that
    /// case), `written` the manifest's mtime. Without either the inode
    /// number decides.
    ///
    /// After the tree was copied or restored (`trust.identity_lost`: inode
    /// numbers all changed, hard links, names, sizes, modes and mtimes
    /// kept), the entry is recognised by type, size, mtime and mode
    /// instead.
    pub fn still_placed(
        &self,
        st: &crate::fsx::FileStat,
        trust: Trust,
        born: impl FnOnce() -> Option<Mtime>,
    ) -> bool {
        if trust.identity_lost {
            return self.same_after_copy(st);
        }
        if self.key != FileKey::of(st) {
            return false;
        }
        if self.size == st.st_size as u64 && self.mtime == Mtime::of(st) {
            return true;
        }
        match (trust.written, born()) {
            (Some(w), Some(b)) => b <= w,
            _ => true,
        }
    }

    /// Returns true if `st` is the entry as placed by what a copy of the
    /// tree keeps (`cp -a`, tar, `rsync -aH`): type, size, mtime (see
    /// [`same_mtime_after_copy`]) and mode bits. The inode number is not
    /// looked at: after a copy the recorded one means nothing, and a new
    /// file may have been given it.
    pub fn same_after_copy(&self, st: &crate::fsx::FileStat) -> bool {
        Kind::from_mode(st.st_mode) == self.kind
            && self.size == st.st_size as u64
            && same_mtime_after_copy(self.mtime, Mtime::of(st))
            && self.mode & 0o7777 == st.st_mode & 0o7777
    }
}

/// Returns true if `now`, read after the tree was copied or restored, is
/// the mtime `was` recorded: the same, or the same second with the
/// nanoseconds gone (GNU tar's default format keeps whole seconds only).
pub fn same_mtime_after_copy(was: Mtime, now: Mtime) -> bool {
    was == now || (now.nsec == 0 && now.sec == was.sec)
}

/// A directory prepare created, as it was when the manifest was written.
///
/// Such a directory held exactly the recorded entries and subdirectories.
/// Creating, removing or renaming an entry in it, or changing the directory
/// itself, sets its ctime to the current time, which no program can set
/// back; and prepare writes the record only once the clock has moved past
/// the recorded ctime. So while the inode and ctime are unchanged, the
/// directory still holds exactly those names, and `file-list` need not read
/// it (its entries are still `lstat`ed: in-place edits change only them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirRecord {
    /// Identity of the directory.
    pub key: FileKey,
    /// Its ctime.
    pub ctime: Mtime,
}

impl DirRecord {
    /// The record of a directory's current stat result.
    pub fn of(st: &crate::fsx::FileStat) -> DirRecord {
        DirRecord {
            key: FileKey::of(st),
            ctime: Mtime {
                sec: st.st_ctime,
                nsec: st.st_ctime_nsec as i64,
            },
        }
    }
}

impl DirRecord {
    /// Returns true if the directory with stat result `st`, whose recorded
    /// subdirectories number `known`, still holds exactly what the
    /// manifest records: the same inode and ctime, and no subdirectory
    /// besides the recorded ones (each subdirectory's `..` is a link to
    /// it). Prepare records a directory only with all of its
    /// subdirectories, but a manifest from an older ppd may not have. A
    /// link count below 2 means the filesystem does not keep it (btrfs;
    /// ext4 beyond 65,000 subdirectories): the records are trusted as they
    /// are.
    pub fn unchanged(&self, st: &crate::fsx::FileStat, known: usize) -> bool {
        *self == DirRecord::of(st) && (st.st_nlink < 2 || st.st_nlink == 2 + known as u64)
    }
}

/// All records of one tree, by relative path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Records keyed by `/`-separated relative path.
    pub records: BTreeMap<Vec<u8>, Record>,
    /// Directories the last prepare created, by relative path.
    pub dirs: BTreeMap<Vec<u8>, DirRecord>,
    /// Directories dependencies provide empty (no entry, no subdirectory),
    /// with the dependencies providing each (`E` lines): an empty
    /// directory holds no entry record that would tell a later prepare it
    /// came from a dependency, so without these one that a dependency
    /// stops providing would stay in the tree forever. Not the root.
    pub empty_dirs: BTreeMap<Vec<u8>, Vec<String>>,
    /// The manifest file's mtime when it was loaded: every inode prepare
    /// placed was born before it (see [`Record::still_placed`]).
    pub written: Option<Mtime>,
    /// The identity of the tree's root directory when the manifest was
    /// written, and its birth time where known (`end` line; absent in
    /// manifests of earlier versions).
    pub root: Option<(FileKey, Option<Mtime>)>,
    /// Set by [`load_for`]: the tree's root is no longer the inode
    /// recorded, so the tree was copied or restored (`cp -a`, tar, `rsync
    /// -aH`) and every inode number recorded is meaningless; entries are
    /// then recognised by type, size, mtime and mode.
    pub identity_lost: bool,
}

impl Manifest {
    /// What [`Record::still_placed`] needs to know about the manifest.
    pub fn trust(&self) -> Trust {
        Trust {
            written: self.written,
            identity_lost: self.identity_lost,
        }
    }
}

/// How far a manifest's records identify entries (see
/// [`Record::still_placed`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// The manifest file's mtime.
    pub written: Option<Mtime>,
    /// Inode numbers no longer identify entries (the tree was copied).
    pub identity_lost: bool,
}

/// Removes the directory record of `path` and those of all its ancestors.
///
/// `file-list` takes the subdirectories of a trusted directory from the
/// records alone, so a directory may be recorded only if all of its
/// subdirectories are: leaving one out must leave out its parents too.
pub fn unrecord_dir(dirs: &mut BTreeMap<Vec<u8>, DirRecord>, path: &[u8]) {
    dirs.remove(path);
    let mut at = path;
    while let Some(i) = memchr::memrchr(b'/', at) {
        at = &at[..i];
        dirs.remove(at);
    }
    if !path.is_empty() {
        dirs.remove(&b""[..]);
    }
}

/// Keeps the directory records `keep` accepts, leaving out the ancestors of
/// every other one (see [`unrecord_dir`]).
pub fn retain_dirs(
    dirs: &mut BTreeMap<Vec<u8>, DirRecord>,
    mut keep: impl FnMut(&DirRecord) -> bool,
) {
    let left_out: Vec<Vec<u8>> = dirs
        .iter()
        .filter(|(_, d)| !keep(d))
        .map(|(p, _)| p.clone())
        .collect();
    for path in left_out {
        unrecord_dir(dirs, &path);
    }
}

/// Returns where the manifest of `tree` lives.
pub fn path_for(tree: &Path) -> PathBuf {
    crate::lock::sidecar(tree, "ppd-manifest")
}

/// Loads the manifest of `tree`, noting whether the tree is still the
/// one it describes ([`Manifest::identity_lost`]).
pub fn load_for(tree: &Path) -> Loaded {
    let mut loaded = load(&path_for(tree));
    if let Loaded::Good(m) = &mut loaded {
        m.identity_lost = identity_lost(m.root, tree);
    }
    loaded
}

/// Returns true if `tree`'s root is no longer the directory whose identity
/// a manifest recorded (`root`, from its `end` line): the tree was copied
/// or restored, and the inode numbers recorded mean nothing.
pub fn identity_lost(root: Option<(FileKey, Option<Mtime>)>, tree: &Path) -> bool {
    match (root, crate::fsx::dir_identity(tree)) {
        (Some((was, was_born)), Some((now, now_born))) => {
            was != now || (was_born.is_some() && now_born.is_some() && was_born != now_born)
        }
        _ => false,
    }
}

/// A tree's manifest indexed for looking up a few paths, with what
/// trusting its records needs; see [`Owned`].
#[derive(Debug)]
pub struct Indexed {
    /// The records.
    pub index: Owned,
    /// As [`Manifest::trust`] gives it for the whole manifest.
    pub trust: Trust,
}

/// Reads and indexes the manifest of `tree` for lookups ([`Indexed`]):
/// `None` if there is none, or if it cannot be read or indexed (a
/// damaged manifest tells nothing, as with [`load_for`]). A bad line is
/// only seen when a lookup reaches it.
pub fn index_for(tree: &Path) -> Option<Indexed> {
    let path = path_for(tree);
    let data = in_current_format(read(&path).ok()??).ok()?;
    let index = Owned::new(data).ok()?;
    use std::os::unix::fs::MetadataExt;
    let written = std::fs::metadata(&path).ok().map(|md| Mtime {
        sec: md.mtime(),
        nsec: md.mtime_nsec(),
    });
    let identity_lost = identity_lost(index.root, tree);
    Some(Indexed {
        index,
        trust: Trust {
            written,
            identity_lost,
        },
    })
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
    match read(path) {
        Ok(None) => Loaded::Missing,
        Err(why) => Loaded::Damaged(why),
        Ok(Some(data)) => match parse(&data) {
            Ok(mut m) => {
                use std::os::unix::fs::MetadataExt;
                m.written = std::fs::metadata(path).ok().map(|md| Mtime {
                    sec: md.mtime(),
                    nsec: md.mtime_nsec(),
                });
                Loaded::Good(m)
            }
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

/// Escapes a path so it fits one tab-separated line: `\\`, `\n`, `\t`.
pub fn escape(path: &[u8], out: &mut Vec<u8>) {
    let mut rest = path;
    // Runs without a byte to escape (nearly every name is one) are copied
    // whole.
    while let Some(i) = memchr::memchr3(b'\\', b'\n', b'\t', rest) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(match rest[i] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            _ => b"\\t",
        });
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// Splits a relative path into its directory (`b""` for the root) and its
/// name.
fn split_path(path: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memrchr(b'/', path) {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    }
}

/// Serializes a manifest, in sections by directory (sorted), each with its
/// entries by name (sorted).
pub fn render(m: &Manifest) -> Vec<u8> {
    // The entries by directory. The records come sorted by path, so the
    // entries of one directory are in name order already, in runs that the
    // entries below a subdirectory may interrupt: a stable sort by
    // directory joins the runs (it finds them, so it costs little more
    // than a pass) and keeps the names' order. (A map of sections took a
    // lookup among the directories' long common prefixes per record.)
    let mut entries: Vec<(&[u8], &[u8], &Record)> = m
        .records
        .iter()
        .map(|(path, r)| {
            let (dir, name) = split_path(path);
            (dir, name, r)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::with_capacity(64 + m.records.len() * 112 + m.dirs.len() * 96);
    out.extend_from_slice(MAGIC.as_bytes());
    out.push(b'\n');
    // The sections in directory order: a merge of the recorded
    // directories, the directories provided empty, and the entries'.
    let mut dirs = m.dirs.iter().peekable();
    let mut empty = m
        .empty_dirs
        .iter()
        .filter(|(p, _)| !p.is_empty())
        .peekable();
    let mut at = 0;
    loop {
        let heads = [
            dirs.peek().map(|&(p, _)| p.as_slice()),
            empty.peek().map(|&(p, _)| p.as_slice()),
            entries.get(at).map(|e| e.0),
        ];
        let Some(dir) = heads.into_iter().flatten().min() else {
            break;
        };
        let record = dirs.next_if(|&(p, _)| p == dir).map(|(_, d)| d);
        let providers: &[String] = empty.next_if(|&(p, _)| p == dir).map_or(&[], |(_, v)| v);
        let first = at;
        while entries.get(at).is_some_and(|e| e.0 == dir) {
            at += 1;
        }
        let section = entries[first..at].iter().map(|&(_, name, r)| (name, r));
        render_section(&mut out, dir, record, section, providers);
    }
    render_end(&mut out, m);
    out
}

/// One directory's section: its `d` line if recorded (else a `D` line if
/// it has entries), its entries in the order given, then its `E` lines.
fn render_section<'m>(
    out: &mut Vec<u8>,
    dir: &[u8],
    record: Option<&DirRecord>,
    entries: impl ExactSizeIterator<Item = (&'m [u8], &'m Record)>,
    providers: &[String],
) {
    // A recorded directory's line: no provider, size or mode; the time is
    // the ctime.
    match record {
        Some(d) => {
            out.extend_from_slice(b"d\t-\t");
            push_u64(out, d.key.dev);
            out.push(b'\t');
            push_u64(out, d.key.ino);
            out.extend_from_slice(b"\t0\t");
            push_time(out, d.ctime);
            out.extend_from_slice(b"\t0\t-\t");
        }
        None if entries.len() > 0 => out.extend_from_slice(b"D\t"),
        // Only `E` lines: no section to open.
        None => {}
    }
    if record.is_some() || entries.len() > 0 {
        escape(dir, out);
        out.push(b'\n');
    }
    for (name, r) in entries {
        render_entry(name, r, out);
    }
    for p in providers {
        out.extend_from_slice(b"E\t");
        out.extend_from_slice(p.as_bytes());
        out.push(b'\t');
        escape(dir, out);
        out.push(b'\n');
    }
}

/// The `end` line: the record count and the root's identity.
fn render_end(out: &mut Vec<u8>, m: &Manifest) {
    let _ = write!(out, "end {}", m.records.len() + m.dirs.len());
    if let Some((k, born)) = m.root {
        let _ = write!(out, " root {} {}", k.dev, k.ino);
        if let Some(b) = born {
            let _ = write!(out, " {}.{:09}", b.sec, b.nsec);
        }
    }
    out.push(b'\n');
}

/// One entry line.
fn render_entry(name: &[u8], r: &Record, out: &mut Vec<u8>) {
    // By hand rather than through `write!`: a toolchain's manifest has
    // thousands of lines, and the formatting machinery was most of the
    // time spent writing it.
    out.push(kind_char(r.kind));
    out.push(b'\t');
    out.extend_from_slice(r.provider.as_bytes());
    out.push(b'\t');
    push_u64(out, r.key.dev);
    out.push(b'\t');
    push_u64(out, r.key.ino);
    out.push(b'\t');
    push_u64(out, r.size);
    out.push(b'\t');
    push_time(out, r.mtime);
    out.push(b'\t');
    push_octal(out, r.mode & 0o7777);
    out.extend_from_slice(if r.rewritten { b"\tr\t" } else { b"\t-\t" });
    escape(name, out);
    out.push(b'\n');
}

/// Appends `n` in decimal, two digits per division (a manifest line has
/// four numbers, two of them of 10 to 19 digits).
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if n >= 10 {
        let d = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a time as `<sec>.<nsec, 9 digits>` (what `{}.{:09}` gives).
fn push_time(out: &mut Vec<u8>, t: Mtime) {
    if !(0..1_000_000_000).contains(&t.nsec) {
        let _ = write!(out, "{}.{:09}", t.sec, t.nsec);
        return;
    }
    if t.sec < 0 {
        out.push(b'-');
    }
    push_u64(out, t.sec.unsigned_abs());
    out.push(b'.');
    let mut buf = [b'0'; 9];
    let mut n = t.nsec as u32;
    for b in buf.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf);
}

/// Appends mode bits in octal.
fn push_octal(out: &mut Vec<u8>, mode: u32) {
    let mut buf = [0u8; 11];
    let (mut i, mut n) = (buf.len(), mode);
    loop {
        i -= 1;
        buf[i] = b'0' + (n & 7) as u8;
        n >>= 3;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

impl RecordRef<'_> {
    /// The directory record of a `d` line (its time is the ctime).
    pub fn dir_record(&self) -> DirRecord {
        DirRecord {
            key: self.key,
            ctime: self.mtime,
        }
    }

    /// The owned form.
    pub fn to_record(&self) -> Record {
        Record {
            provider: self.provider.to_owned(),
            kind: self.kind,
            key: self.key,
            size: self.size,
            mode: self.mode,
            mtime: self.mtime,
            rewritten: self.rewritten,
        }
    }
}

/// The body lines, count, format and root identity of manifest bytes.
type Framed<'a> = (&'a [u8], usize, Version, Option<(FileKey, Option<Mtime>)>);

/// Checks the framing of serialized manifest bytes: returns the lines
/// between the magic line and the `end <count> [root <dev> <ino> [<btime>]]`
/// line,
/// the count (entries plus recorded directories), the format and the
/// tree root's identity when the manifest was written.
fn frame(data: &[u8]) -> Result<Framed<'_>> {
    let first = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let version = match &data[..first] {
        m if m == MAGIC.as_bytes() => Version::V2,
        m if m == MAGIC_V1.as_bytes() => Version::V1,
        _ => bail!("not a ppd manifest (bad first line)"),
    };
    let body_start = (first + 1).min(data.len());
    let mut end = data.len();
    while end > body_start && data[end - 1] == b'\n' {
        end -= 1;
    }
    let last =
        memchr::memrchr(b'\n', &data[body_start..end]).map_or(body_start, |i| body_start + i + 1);
    let end_line = data[last..end]
        .strip_prefix(b"end ")
        .context("truncated (no end line)")?;
    let mut fields = end_line.split(|&b| b == b' ');
    let count = unsigned(fields.next().unwrap_or_default(), "count")?;
    let root = match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (None, ..) => None,
        (Some(b"root"), Some(dev), Some(ino), born) => {
            let key = FileKey {
                dev: unsigned(dev, "device")?,
                ino: unsigned(ino, "inode")?,
            };
            let born = match born.map(|b| b.split(|&c| c == b'.').collect::<Vec<_>>()) {
                None => None,
                Some(p) if p.len() == 2 => Some(Mtime {
                    sec: unsigned(p[0], "birth time")?,
                    nsec: unsigned(p[1], "birth time")?,
                }),
                Some(_) => bail!("bad end line"),
            };
            if fields.next().is_some() {
                bail!("bad end line");
            }
            Some((key, born))
        }
        _ => bail!("bad end line"),
    };
    Ok((&data[body_start..last], count, version, root))
}

/// Hands every non-empty line of `body` to `each` (`first_line` is the
/// number of the first, for messages); an error names the line.
fn for_each_line<'a>(
    body: &'a [u8],
    first_line: usize,
    mut each: impl FnMut(&'a [u8]) -> Result<()>,
) -> Result<()> {
    // memchr finds the line ends many bytes at a time; a byte-wise split
    // was a quarter of the parse time of a toolchain-sized manifest.
    let mut start = 0;
    for (n, end) in memchr::memchr_iter(b'\n', body)
        .chain(std::iter::once(body.len()))
        .enumerate()
    {
        let line = &body[start.min(end)..end];
        start = end + 1;
        if line.is_empty() {
            continue;
        }
        each(line).with_context(|| format!("line {}", first_line + n))?;
    }
    Ok(())
}

/// The directory of a `D` line (a section whose directory prepare did not
/// record).
fn section_line(line: &[u8]) -> Result<Cow<'_, [u8]>> {
    dir_field(&line[b"D\t".len()..])
}

/// The directory field of a `D` or `E` line, unescaped and checked.
fn dir_field(raw: &[u8]) -> Result<Cow<'_, [u8]>> {
    if memchr::memchr(b'\t', raw).is_some() {
        bail!("bad directory line (a tab in a path must be escaped)");
    }
    let dir = if memchr::memchr(b'\\', raw).is_some() {
        Cow::Owned(unescape(raw)?)
    } else {
        Cow::Borrowed(raw)
    };
    check_dir(&dir)?;
    Ok(dir)
}

/// Parses an `E` line, `E<TAB><provider><TAB><directory>`: a directory
/// the dependency provides empty. Not a section: entries never follow.
pub(super) fn empty_dir_line(line: &[u8]) -> Result<(&str, Cow<'_, [u8]>)> {
    let raw = &line[b"E\t".len()..];
    let Some(tab) = memchr::memchr(b'\t', raw) else {
        bail!("bad empty-directory line");
    };
    let provider = std::str::from_utf8(&raw[..tab])
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| anyhow::anyhow!("bad provider in an empty-directory line"))?;
    let dir = dir_field(&raw[tab + 1..])?;
    if dir.is_empty() {
        bail!("an empty-directory line for the root");
    }
    Ok((provider, dir))
}

/// Checks a section's directory: the root (empty) or a relative path of
/// plain components (no NUL: no file name holds one, and the system calls
/// would refuse it, failing the run instead of calling the manifest
/// damaged).
fn check_dir(dir: &[u8]) -> Result<()> {
    if memchr::memchr(0, dir).is_some()
        || !dir.is_empty()
            && dir
                .split(|&b| b == b'/')
                .any(|c| matches!(c, b"" | b"." | b".."))
    {
        bail!("bad directory {}", crate::fsx::quote_bytes(dir));
    }
    Ok(())
}

/// Checks an entry's name: one plain path component (no NUL either).
fn check_name(name: &[u8]) -> Result<()> {
    if matches!(name, b"" | b"." | b"..") || memchr::memchr2(b'/', 0, name).is_some() {
        bail!("bad name {}", crate::fsx::quote_bytes(name));
    }
    Ok(())
}

fn check_count(count: usize, held: usize) -> Result<()> {
    if count != held {
        bail!("end line says {count} records, found {held}");
    }
    Ok(())
}

/// Parses a serialized manifest (either format).
pub fn parse(data: &[u8]) -> Result<Manifest> {
    let (body, count, version, root) = frame(data)?;
    let mut m = Manifest {
        root,
        ..Manifest::default()
    };
    // The directory of the current section (format 2).
    let mut section: Option<Vec<u8>> = None;
    for_each_line(body, 2, |line| {
        if version == Version::V2 && line.starts_with(b"D\t") {
            section = Some(section_line(line)?.into_owned());
            return Ok(());
        }
        if version == Version::V2 && line.starts_with(b"E\t") {
            let (provider, dir) = empty_dir_line(line)?;
            m.empty_dirs
                .entry(dir.into_owned())
                .or_default()
                .push(provider.to_owned());
            section = None;
            return Ok(());
        }
        let (path, rec) = parse_line(line)?;
        if rec.kind == Kind::Dir {
            if version == Version::V2 {
                check_dir(&path)?;
                section = Some(path.to_vec());
            }
            m.dirs.insert(path.into_owned(), rec.dir_record());
            return Ok(());
        }
        let key = match (version, &section) {
            (Version::V1, _) => {
                if path.is_empty() {
                    bail!("an entry without a path");
                }
                check_dir(&path)?;
                path.into_owned()
            }
            (Version::V2, Some(dir)) => {
                check_name(&path)?;
                crate::scan::child_rel(dir, &path).into_vec()
            }
            (Version::V2, None) => bail!("an entry before any directory line"),
        };
        m.records.insert(key, rec.to_record());
        Ok(())
    })?;
    check_count(count, m.records.len() + m.dirs.len())?;
    Ok(m)
}

/// Manifest bytes in the current format: a format-1 manifest (from an
/// earlier ppd) is parsed and written anew in memory.
pub fn in_current_format(data: Bytes) -> Result<Bytes> {
    let first = memchr::memchr(b'\n', &data).unwrap_or(data.len());
    if &data[..first] == MAGIC_V1.as_bytes() {
        return Ok(Bytes::Read(render(&parse(&data)?)));
    }
    Ok(data)
}

/// The bytes of a manifest file: mapped when large, else read.
#[derive(Debug)]
pub enum Bytes {
    /// A read-only private mapping of the whole file.
    Mapped(memmap2::Mmap),
    /// The file read into memory.
    Read(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Read(v) => v,
        }
    }
}

/// Manifests at least this large are mapped rather than read.
const MAP_FROM: u64 = 256 << 10;

/// Returns the bytes of the manifest at `path` for [`Index::parse`]:
/// `Ok(None)` if there is none.
///
/// A toolchain's manifest is megabytes, and reading it costs mostly the
/// page faults of the fresh buffer the kernel copies into; a populated
/// mapping of the page cache costs a fraction of that.
pub fn read(path: &Path) -> std::result::Result<Option<Bytes>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |e: std::io::Error| {
        format!(
            "reading {}: {}",
            crate::fsx::show(path),
            crate::fsx::errno_of(&e).reason()
        )
    };
    let not_a_manifest = || format!("reading {}: not a regular file", crate::fsx::show(path));
    // ppd writes a manifest as a regular file renamed into place: a
    // symlink there is not one (never followed), and a fifo or device is
    // neither (never blocked on: O_NONBLOCK).
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)
    {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(crate::fsx::Errno::ELOOP.raw()) => {
            return Err(not_a_manifest())
        }
        Err(e) => return Err(failed(e)),
        Ok(f) => f,
    };
    let md = file.metadata().map_err(failed)?;
    if !md.is_file() {
        return Err(not_a_manifest());
    }
    if md.len() >= MAP_FROM {
        // SAFETY: the mapping is private and read-only, and ppd never
        // writes a manifest in place: it writes a new file and renames it
        // over the old one, which leaves a mapped old file intact. Only
        // another program truncating the file while it is mapped could
        // make a read fault (SIGBUS): the process dies, it never reads
        // wrong bytes.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) };
        return map.map(|m| Some(Bytes::Mapped(m))).map_err(failed);
    }
    // Sized from the metadata just taken (File's own read_to_end would
    // `statx` and `lseek` again for its size hint).
    let mut data = Vec::with_capacity(md.len() as usize + 1);
    std::io::Read::read_to_end(&mut std::io::Read::take(&file, u64::MAX), &mut data)
        .map_err(failed)?;
    Ok(Some(Bytes::Read(data)))
}

/// `O_NOFOLLOW | O_NONBLOCK` for opening a manifest.
fn libc_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32
}

/// Returns where the manifest of `tree` is written before it is renamed
/// into place: a fixed name (the tree's lock serializes writers), which a
/// run that finds the tree's lock marked removes ([`crate::lock`]).
pub fn temp_path_for(tree: &Path) -> PathBuf {
    crate::lock::sidecar(tree, "ppd-manifest.new")
}

/// Writes `m` to `path` atomically, under the lock of its tree.
pub fn save(path: &Path, m: &Manifest) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let written =
        crate::fsx::write_path(&tmp, &render(m)).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(crate::fsx::FsError::new(
            "writing",
            path,
            crate::fsx::errno_of(&e),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for the mangling tests.
    pub(super) struct Xorshift(pub u64);

    impl Xorshift {
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A number below `n`.
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub(super) fn sample() -> Manifest {
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
    fn the_root_identity_round_trips() {
        let mut m = sample();
        let key = FileKey { dev: 2049, ino: 2 };
        let born = Mtime {
            sec: 1_700_000_000,
            nsec: 42,
        };
        for root in [None, Some((key, None)), Some((key, Some(born)))] {
            m.root = root;
            let text = render(&m);
            assert_eq!(parse(&text).unwrap(), m);
            assert!(Index::parse(&text).is_ok());
        }
        let good = String::from_utf8_lossy(&render(&m)).into_owned();
        assert!(
            good.ends_with("end 1 root 2049 2 1700000000.000000042\n"),
            "{good}"
        );
        for bad in [
            " root 2049\n",
            " root 2049 2 x\n",
            " root 2049 2 1.2 3\n",
            " base 1 2\n",
        ] {
            let text = good.replace(" root 2049 2 1700000000.000000042\n", bad);
            assert!(parse(text.as_bytes()).is_err(), "{bad:?}");
        }
    }

    /// `E` lines (directories dependencies provide empty) round-trip, with
    /// or without a `d` line or entries for the same directory, and the
    /// index for `file-list` reads past them.
    #[test]
    fn empty_directory_lines_round_trip() {
        let mut m = sample();
        let d = DirRecord {
            key: FileKey { dev: 2049, ino: 9 },
            ctime: Mtime { sec: 1, nsec: 2 },
        };
        m.dirs.insert(b"var/empty".to_vec(), d);
        for (p, by) in [
            (&b"var/empty"[..], &["a", "b"][..]),
            (b"usr/lib", &["c"]),
            (b"x\ty", &["c"]),
        ] {
            let by = by.iter().map(|s| s.to_string()).collect();
            m.empty_dirs.insert(p.to_vec(), by);
        }
        let text = render(&m);
        let shown = String::from_utf8_lossy(&text);
        assert!(
            shown.contains("\nE\ta\tvar/empty\nE\tb\tvar/empty\n"),
            "{shown}"
        );
        assert_eq!(parse(&text).unwrap(), m);
        assert!(Index::parse(&text).is_ok());
        for bad in ["E\t\tvar\n", "E\tz\n", "E\tz\t\n", "E\tz\ta/../b\n"] {
            let t = shown.replace("E\tc\tusr/lib\n", bad);
            assert!(parse(t.as_bytes()).is_err(), "{bad:?}");
            assert!(Index::parse(t.as_bytes()).is_err(), "{bad:?}");
        }
    }

    /// The hand-written number formatting gives what `write!` gives.
    #[test]
    fn numbers_are_written_as_format_writes_them() {
        let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
        let mut values: Vec<u64> = vec![0, 1, 9, 10, 99, 100, u64::MAX, u64::MAX - 1];
        values.extend((0..2000).map(|i| rng.next_u64() >> (i % 64)));
        for &v in &values {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
            out.clear();
            push_octal(&mut out, v as u32);
            assert_eq!(out, format!("{:o}", v as u32).into_bytes());
            for nsec in [
                0,
                5,
                999_999_999,
                (v % 1_000_000_000) as i64,
                -1,
                1_000_000_000,
            ] {
                for sec in [v as i64, (v as i64).wrapping_neg(), 0, -1, i64::MIN] {
                    out.clear();
                    push_time(&mut out, Mtime { sec, nsec });
                    assert_eq!(out, format!("{sec}.{nsec:09}").into_bytes(), "{sec} {nsec}");
                }
            }
        }
        let mut out = Vec::new();
        escape(b"a\\b\tc\nd\n", &mut out);
        assert_eq!(out, b"a\\\\b\\tc\\nd\\n");
    }

    #[test]
    fn round_trips_hostile_names() {
        let m = sample();
        assert_eq!(parse(&render(&m)).unwrap(), m);
    }

    #[test]
    fn leaving_out_a_directory_leaves_out_its_parents() {
        let d = |ino| DirRecord {
            key: FileKey { dev: 1, ino },
            ctime: Mtime { sec: 1, nsec: 5 },
        };
        let mut dirs: BTreeMap<Vec<u8>, DirRecord> = [
            (&b""[..], 1),
            (b"etc", 2),
            (b"usr", 3),
            (b"usr/lib", 4),
            (b"usr/lib/x", 5),
            (b"usr/share", 6),
        ]
        .into_iter()
        .map(|(p, i)| (p.to_vec(), d(i)))
        .collect();
        retain_dirs(&mut dirs, |r| r.key.ino != 5);
        let left: Vec<&[u8]> = dirs.keys().map(Vec::as_slice).collect();
        assert_eq!(left, [&b"etc"[..], b"usr/share"]);
        unrecord_dir(&mut dirs, b"etc");
        assert_eq!(dirs.len(), 1);
    }

    /// Manifests written by earlier ppd versions (format 1: one full path
    /// per line, directory lines last) are still read, and converted for
    /// the index.
    #[test]
    fn format_1_is_still_read() {
        let v1 = "ppd-manifest 1\n\
            f\tzlib\t2049\t77\t12\t1700000000.000000005\t644\tr\tusr/lib/libz.so.1\n\
            l\tzlib\t2049\t78\t9\t1700000000.000000005\t777\t-\tusr/lib/libz.so\n\
            d\t-\t2049\t9\t0\t5.000000006\t0\t-\tusr/lib\n\
            end 3\n";
        let m = parse(v1.as_bytes()).unwrap();
        assert_eq!(m.records.len(), 2);
        assert_eq!(m.records[&b"usr/lib/libz.so.1"[..]].key.ino, 77);
        assert_eq!(m.dirs[&b"usr/lib"[..]].key.ino, 9);
        assert!(Index::parse(v1.as_bytes()).is_err());
        let now = in_current_format(Bytes::Read(v1.as_bytes().to_vec())).unwrap();
        assert!(now.starts_with(b"ppd-manifest 2\nd\t-\t2049\t9\t"));
        assert_eq!(parse(&now).unwrap(), m);
        let index = Index::parse(&now).unwrap();
        assert_eq!(index.group(b"usr/lib").unwrap().len(), 2);
    }

    /// A NUL in a name or directory, or a format-1 path leaving the tree,
    /// makes the manifest damaged (a warning and an rsync-like merge),
    /// where before the NUL reached a system call and failed the run.
    #[test]
    fn nul_bytes_and_escaping_paths_are_damage() {
        let v2 = "ppd-manifest 2\nD\tlib\nf\ta\t1\t2\t3\t4.5\t644\t-\tx\0y\nend 1\n";
        assert!(parse(v2.as_bytes()).is_err());
        let v2 = "ppd-manifest 2\nD\tl\0b\nf\ta\t1\t2\t3\t4.5\t644\t-\txy\nend 1\n";
        assert!(parse(v2.as_bytes()).is_err());
        assert!(Index::parse(v2.as_bytes()).is_err());
        for path in ["../x", "a/../../x", "/etc/passwd", "a\0b", ""] {
            let v1 = format!("ppd-manifest 1\nf\tz\t1\t2\t3\t4.5\t644\t-\t{path}\nend 1\n");
            assert!(parse(v1.as_bytes()).is_err(), "{path:?}");
        }
    }

    #[test]
    fn bad_numbers_are_damage() {
        let good = render(&sample());
        let text = String::from_utf8_lossy(&good).into_owned();
        for (from, to, why) in [
            ("\t77\t", "\t18446744073709551616\t", "bad inode"),
            ("\t12\t", "\t1x\t", "bad size"),
            ("\t644\t", "\t648\t", "bad mode"),
            ("1700000000.", "17e8.", "bad mtime"),
        ] {
            let bad = text.replacen(from, to, 1);
            assert_ne!(bad, text, "{from} not found");
            // The index finds it when the records are read.
            let index = Index::parse(bad.as_bytes()).unwrap();
            for err in [
                parse(bad.as_bytes()).unwrap_err(),
                index.read_all().unwrap_err(),
            ] {
                let msg = format!("{err:#}");
                assert!(msg.starts_with("line 3: ") && msg.contains(why), "{msg}");
            }
        }
    }

    /// The sections as a map of them groups them (the way `render` grouped
    /// records before it sorted them), each written as `render` writes
    /// one: the reference for `render_groups_like_a_map_of_sections`.
    fn render_by_map(m: &Manifest) -> Vec<u8> {
        type Section<'m> = (
            Option<&'m DirRecord>,
            Vec<(&'m [u8], &'m Record)>,
            &'m [String],
        );
        let mut sections: BTreeMap<&[u8], Section<'_>> = BTreeMap::new();
        for (path, d) in &m.dirs {
            sections.entry(path).or_default().0 = Some(d);
        }
        for (path, providers) in &m.empty_dirs {
            if !path.is_empty() {
                sections.entry(path).or_default().2 = providers;
            }
        }
        for (path, r) in &m.records {
            let (dir, name) = split_path(path);
            sections.entry(dir).or_default().1.push((name, r));
        }
        let mut out = MAGIC.as_bytes().to_vec();
        out.push(b'\n');
        for (dir, (record, entries, providers)) in &sections {
            render_section(&mut out, dir, *record, entries.iter().copied(), providers);
        }
        render_end(&mut out, m);
        out
    }

    #[test]
    fn render_groups_like_a_map_of_sections() {
        let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
        // Names whose bytes sort before and after '/' (so that a
        // directory's entries and its subdirectories' interleave in path
        // order), and names the manifest escapes.
        let names: [&[u8]; 9] = [
            b"a", b"a-b", b"a.c", b"a0", b"b", b"z", b"\t", b"x\\y", b"!",
        ];
        for _ in 0..200 {
            let mut m = Manifest::default();
            let mut dirs: Vec<Vec<u8>> = vec![Vec::new()];
            for _ in 0..rng.below(40) {
                let parent = dirs[rng.below(dirs.len())].clone();
                let name = names[rng.below(names.len())];
                let path = if parent.is_empty() {
                    name.to_vec()
                } else {
                    [&parent[..], b"/", name].concat()
                };
                match rng.below(4) {
                    0 => {
                        if !m.records.contains_key(&path) {
                            dirs.push(path.clone());
                        }
                        if rng.below(2) == 0 {
                            let d = DirRecord {
                                key: FileKey {
                                    dev: 1,
                                    ino: rng.next_u64() % 1000,
                                },
                                ctime: Mtime { sec: 7, nsec: 8 },
                            };
                            m.dirs.insert(path, d);
                        }
                    }
                    1 if !dirs.contains(&path) => {
                        m.empty_dirs
                            .insert(path, vec!["p".to_owned(), "q".to_owned()]);
                    }
                    _ if !dirs.contains(&path) && !m.empty_dirs.contains_key(&path) => {
                        let r = Record {
                            provider: "dep".into(),
                            kind: Kind::File,
                            key: FileKey {
                                dev: 1,
                                ino: rng.next_u64() % 1000,
                            },
                            size: 3,
                            mode: 0o644,
                            mtime: Mtime { sec: 1, nsec: 2 },
                            rewritten: rng.below(2) == 0,
                        };
                        m.records.insert(path, r);
                    }
                    _ => {}
                }
            }
            if rng.below(3) == 0 {
                m.empty_dirs.insert(Vec::new(), vec!["r".to_owned()]);
            }
            assert_eq!(render(&m), render_by_map(&m));
        }
    }

    #[test]
    fn mangled_manifests_never_panic_and_framing_agrees() {
        let mut m = sample();
        m.dirs.insert(
            b"usr".to_vec(),
            DirRecord {
                key: FileKey { dev: 1, ino: 9 },
                ctime: Mtime { sec: 5, nsec: 6 },
            },
        );
        let good = render(&m);
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: usize| rng.below(n);
        for _ in 0..5000 {
            let mut data = good.clone();
            for _ in 0..1 + next(3) {
                let at = next(data.len());
                match next(3) {
                    0 => {
                        let bytes = b"\t\n.0-x\\/d";
                        data[at] = bytes[next(bytes.len())];
                    }
                    1 => {
                        data.remove(at);
                    }
                    _ => data.insert(at, b"\t\n9"[next(3)]),
                }
            }
            let owned = parse(&data);
            let index = Index::parse(&data);
            // Both read the same framing: a bad magic or end line is
            // rejected by both.
            if frame(&data).is_err() {
                assert!(owned.is_err() && index.is_err());
            }
            // What parses whole is indexed with the same records; what the
            // index reads whole parses, unless a path is repeated (the
            // index counts lines, parse counts paths).
            let read = index.as_ref().map(|i| i.read_all());
            if let Ok(m) = &owned {
                let index = index.as_ref().unwrap();
                assert_eq!(index.read_all().unwrap(), m.records.len());
                for (path, rec) in &m.records {
                    let found = index.get(path).unwrap();
                    assert_eq!(found.map(|r| r.to_record()).as_ref(), Some(rec));
                }
            } else if let Ok(Ok(_)) = read {
                let why = format!("{:#}", owned.unwrap_err());
                assert!(why.starts_with("end line says"), "{why}");
            }
        }
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
