//! Rewriting per-package paths in text files (`ppd fixup-paths`).
//!
//! Files a dependency installs embed absolute paths of the dependency's own
//! per-package directory (libtool `.la`, pkg-config `.pc`, `*-config`
//! scripts, CMake package files, python sysconfigdata, `qt.conf`, gdbinit,
//! meson and CMake toolchain files). In every regular text file under the
//! given trees, each `DIR/<segment>/` (a segment is one non-empty path
//! component) becomes `ROOT/`, with exactly the matching rules of
//! Buildroot's `sed 's:DIR/[^/]\+/:ROOT/:g'` in the C locale (leftmost
//! match, non-overlapping, a segment never spans a newline), except that
//! `DIR` and `ROOT` are literal bytes rather than a regular expression and a
//! replacement text.
//!
//! Invariants:
//! - plan, then apply: every tree is read completely (in parallel, each
//!   file read once) before anything is written; if reading failed anywhere
//!   nothing is written at all;
//! - a rewritten file is a new inode (temp file in the same directory,
//!   renamed over the name) with the old mode, owner and mtime: the old
//!   inode, which is shared with the dependency that installed it, is never
//!   written; a file whose content would not change is not touched at all;
//! - symlinks are never followed: directories are entered with
//!   `O_NOFOLLOW`, files opened with `O_NOFOLLOW` and checked with `fstat`;
//!   with [`FixupConfig::symlinks`] absolute symlink targets are rewritten
//!   by creating a new symlink at a temporary name and renaming it over;
//! - what counts as text is decided by [`classify`], a pure function of
//!   the content (see there); the report is sorted by tree, then path, so it
//!   does not depend on the thread count.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use memchr::memmem;
use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::sys::stat::{self, FileStat, Mode};
use rayon::prelude::*;

use crate::fsx::{self, DirFd, FsError, Kind, Meta, Mtime, RawEntry};

/// What to rewrite, into what, and how.
#[derive(Clone, Debug)]
pub struct FixupConfig {
    /// The per-package directory root `DIR` whose `DIR/<pkg>/` prefixes are rewritten.
    pub per_package_dir: PathBuf,
    /// What `DIR/<pkg>` becomes.
    pub new_root: PathBuf,
    /// Also rewrite absolute symlink targets that start with `DIR/<pkg>/`.
    pub symlinks: bool,
    /// Compute and report the rewrites without writing anything.
    pub dry_run: bool,
}

/// The kind of entry that was rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RewrittenKind {
    /// A regular text file got new content.
    File,
    /// A symlink got a new target.
    Symlink,
}

/// One entry that was (or, in a dry run, would be) rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// The tree it was found in, as given.
    pub tree: PathBuf,
    /// Its path relative to the tree, `/`-separated bytes.
    pub rel: Vec<u8>,
    /// File or symlink.
    pub kind: RewrittenKind,
    /// For a symlink: the new target.
    pub new_target: Option<Vec<u8>>,
    /// The inode now at that path (`None` in a dry run).
    pub ino: Option<u64>,
}

impl Rewritten {
    /// Returns the full path (tree joined with the relative path).
    pub fn path(&self) -> PathBuf {
        fsx::join(&self.tree, &self.rel)
    }
}

/// What a fixup did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixupReport {
    /// Regular files (names) examined.
    pub files_scanned: u64,
    /// Of those, the ones opened and read: a hard-linked inode met again
    /// under another name is not read again (with several threads, two may
    /// meet a new inode at once and both read it, so this count can vary
    /// slightly between runs; what is rewritten does not).
    pub files_read: u64,
    /// Symlinks whose target was read (only with `symlinks`).
    pub symlinks_scanned: u64,
    /// Bytes read from files.
    pub bytes_read: u64,
    /// The rewritten entries, sorted by tree (in the order given), then path.
    pub rewritten: Vec<Rewritten>,
}

/// Why a fixup did not complete.
#[derive(Debug)]
pub enum FixupError {
    /// The configuration cannot be used (for example an empty `DIR`).
    Config(String),
    /// Filesystem errors, sorted by path; nothing was written if any of
    /// them happened while reading.
    Fs(Vec<FsError>),
}

impl FixupError {
    /// Returns every error as one message line each (without the `ppd: ` prefix).
    pub fn lines(&self) -> Vec<String> {
        match self {
            FixupError::Config(m) => vec![m.clone()],
            FixupError::Fs(v) => v.iter().map(ToString::to_string).collect(),
        }
    }
}

impl fmt::Display for FixupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixupError::Config(m) => f.write_str(m),
            FixupError::Fs(v) => {
                match v.first() {
                    Some(e) => write!(f, "{e}")?,
                    None => f.write_str("fixing up paths failed")?,
                }
                if v.len() > 1 {
                    write!(f, " (and {} more errors)", v.len() - 1)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for FixupError {}

/// The compiled rewrite: literal `DIR/` needle and `ROOT/` replacement.
pub struct Pattern {
    finder: memmem::Finder<'static>,
    needle_len: usize,
    replacement: Vec<u8>,
}

impl Pattern {
    /// Compiles `DIR/<segment>/` -> `ROOT/`. Trailing slashes of both are
    /// ignored; `DIR` must not be empty (or `/`), since every absolute path
    /// would match.
    pub fn new(per_package_dir: &[u8], new_root: &[u8]) -> Result<Pattern, FixupError> {
        let dir = trim_slashes(per_package_dir);
        if dir.is_empty() {
            return Err(FixupError::Config(format!(
                "fixing up paths: per-package directory {:?} names no directory",
                String::from_utf8_lossy(per_package_dir)
            )));
        }
        let mut needle = dir.to_vec();
        needle.push(b'/');
        let mut replacement = trim_slashes(new_root).to_vec();
        replacement.push(b'/');
        Ok(Pattern {
            needle_len: needle.len(),
            finder: memmem::Finder::new(&needle).into_owned(),
            replacement,
        })
    }

    /// Returns the end of a `DIR/<segment>/` match whose `DIR/` starts at
    /// `at`, if there is one: the segment is at least one byte up to the
    /// next `/`, and (because sed works line by line) contains no newline.
    fn match_end(&self, data: &[u8], at: usize) -> Option<usize> {
        let seg = at + self.needle_len;
        match memchr::memchr2(b'/', b'\n', &data[seg..]) {
            Some(i) if i > 0 && data[seg + i] == b'/' => Some(seg + i + 1),
            _ => None,
        }
    }

    /// Returns true if `data` contains at least one match.
    pub fn is_match(&self, data: &[u8]) -> bool {
        self.next_match(data, 0).is_some()
    }

    fn next_match(&self, data: &[u8], mut from: usize) -> Option<(usize, usize)> {
        while let Some(i) = self.finder.find(&data[from..]) {
            let at = from + i;
            if let Some(end) = self.match_end(data, at) {
                return Some((at, end));
            }
            // `DIR/` may overlap itself: the next candidate can start one
            // byte later, as with a regex engine's leftmost search.
            from = at + 1;
        }
        None
    }

    /// Returns the rewritten content, or `None` if it would be identical
    /// (no match, or every match already reads `ROOT/`).
    pub fn rewrite(&self, data: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut from = 0;
        while let Some((at, end)) = self.next_match(data, from) {
            if &data[at..end] != self.replacement.as_slice() {
                let o = out.get_or_insert_with(|| Vec::with_capacity(data.len()));
                o.extend_from_slice(&data[copied..at]);
                o.extend_from_slice(&self.replacement);
                copied = end;
            }
            from = end;
        }
        let mut o = out?;
        o.extend_from_slice(&data[copied..]);
        Some(o)
    }

    /// Returns the new target of an absolute symlink that starts with
    /// `DIR/<segment>/`, or `None` if it does not or would not change.
    /// Only that leading prefix is rewritten.
    pub fn rewrite_target(&self, target: &[u8]) -> Option<Vec<u8>> {
        if !target.starts_with(b"/") || self.finder.find(target) != Some(0) {
            return None;
        }
        let end = self.match_end(target, 0)?;
        if target[..end] == self.replacement[..] {
            return None;
        }
        let mut t = self.replacement.clone();
        t.extend_from_slice(&target[end..]);
        Some(t)
    }
}

fn trim_slashes(p: &[u8]) -> &[u8] {
    let mut end = p.len();
    while end > 0 && p[end - 1] == b'/' {
        end -= 1;
    }
    &p[..end]
}

/// What [`classify`] decided about a file's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Rewritten.
    Text,
    /// Contains a NUL byte: grep's `--binary-files=without-match` skips it.
    Binary,
    /// NUL-free, but `file --mime-type` would not call it `text/*` and
    /// rewriting it would be wrong: a control byte that never occurs in
    /// text, or a text-encoded container format (ar archives, PDF).
    NotText,
}

/// Control bytes libmagic's text tests never accept (its `text_chars` table
/// marks them `F`): everything below 0x20 except BEL, BS, HT, LF, VT, FF,
/// CR and ESC, plus DEL. Bytes >= 0x80 are accepted (UTF-8, ISO-8859 and
/// "extended ASCII" all count as text/plain).
const fn never_in_text() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = !matches!(b, 0x07..=0x0d | 0x1b);
        b += 1;
    }
    t[0x7f] = true;
    t
}

static NEVER_IN_TEXT: [bool; 256] = never_in_text();

/// Text-encoded formats whose byte offsets or fixed-width fields a rewrite
/// of a different length would corrupt; `file` calls them
/// application/x-archive and application/pdf.
const CONTAINER_MAGIC: [&[u8]; 3] = [b"!<arch>\n", b"!<thin>\n", b"%PDF-"];

/// Decides whether a file's content is rewritten, looking at all of it.
///
/// A NUL anywhere makes it binary (Buildroot's grep skips a file when it
/// sees a NUL before the first match; `file` looks at the first 64 KiB).
/// Otherwise it is text unless it holds a control byte that never occurs
/// in text or starts like an ar archive or PDF. JSON, JavaScript, SVG and
/// other text formats `file` files under `application/` or `image/` are
/// text here, as are UTF-8, Latin-1 and any other 8-bit text.
pub fn classify(data: &[u8]) -> Class {
    if memchr::memchr(0, data).is_some() {
        return Class::Binary;
    }
    if CONTAINER_MAGIC.iter().any(|m| data.starts_with(m))
        || data.iter().any(|&b| NEVER_IN_TEXT[b as usize])
    {
        return Class::NotText;
    }
    Class::Text
}

/// Files up to this size are read whole with one read: a typical `.pc`,
/// `.la` or header file.
const SMALL_FILE: usize = 16 * 1024;

/// The first read of a larger file: one page, enough for an ELF file (whose
/// header has several NULs) or most other binaries to show a NUL, so they
/// are rejected without reading further.
const FIRST_READ: usize = 4096;

/// The largest single read request: Linux returns at most about 2 GiB per
/// read, and a short read must mean end of file (see [`fill`]).
const MAX_READ: usize = 1 << 30;

/// Reads into `buf[len..]` until it is full or the file ends; returns the
/// new length and whether the end was reached. A short read of a regular
/// file means end of file on Linux, which saves the extra read returning 0.
fn fill(f: &File, buf: &mut [u8], mut len: usize) -> std::io::Result<(usize, bool)> {
    while len < buf.len() {
        let want = (buf.len() - len).min(MAX_READ);
        match (&*f).read(&mut buf[len..len + want]) {
            Ok(0) => return Ok((len, true)),
            Ok(n) => {
                len += n;
                if n < want {
                    return Ok((len, true));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((len, false))
}

/// Reads a whole file unless it turns out to contain a NUL byte.
/// Returns the content (or `None` for binary) and the number of bytes read.
fn read_unless_binary(f: &File, size: u64) -> std::io::Result<(Option<Vec<u8>>, u64)> {
    // One byte more than the file's size, so that a file read whole ends
    // in a short read instead of needing another read to see the end.
    let size = usize::try_from(size).unwrap_or(usize::MAX - 1);
    let first = if size <= SMALL_FILE {
        size + 1
    } else {
        FIRST_READ
    };
    let mut buf = vec![0; first];
    let (mut len, mut eof) = fill(f, &mut buf, 0)?;
    let mut checked = 0;
    loop {
        if memchr::memchr(0, &buf[checked..len]).is_some() {
            return Ok((None, len as u64));
        }
        if eof {
            buf.truncate(len);
            return Ok((Some(buf), len as u64));
        }
        checked = len;
        // Text so far: read the rest (the file may have grown since fstat).
        let target = (size + 1).max(buf.len() * 2);
        buf.resize(target, 0);
        (len, eof) = fill(f, &mut buf, len)?;
    }
}

/// One planned change.
struct Planned {
    tree: usize,
    rel: Vec<u8>,
    change: Change,
}

enum Change {
    File { data: Arc<Vec<u8>>, meta: Meta },
    Symlink { target: Vec<u8>, meta: Meta },
}

/// What scanning part of a tree produced.
#[derive(Default)]
struct Scanned {
    /// Inodes found not to need rewriting, for the persistent cache.
    learned: Vec<CacheKey>,
    files: u64,
    files_read: u64,
    symlinks: u64,
    bytes: u64,
    plan: Vec<Planned>,
    errors: Vec<FsError>,
}

impl Scanned {
    fn merge(mut self, mut other: Scanned) -> Scanned {
        self.files += other.files;
        self.files_read += other.files_read;
        self.symlinks += other.symlinks;
        self.bytes += other.bytes;
        if self.plan.len() < other.plan.len() {
            std::mem::swap(&mut self.plan, &mut other.plan);
        }
        self.plan.append(&mut other.plan);
        self.errors.append(&mut other.errors);
        self.learned.append(&mut other.learned);
        self
    }

    fn error(e: FsError) -> Scanned {
        Scanned {
            errors: vec![e],
            ..Scanned::default()
        }
    }
}

struct Scanner<'a> {
    pattern: &'a Pattern,
    symlinks: bool,
    memo: Memo,
    cache: Option<&'a ScanCache>,
}

/// What reading an inode decided, shared by all its names.
#[derive(Clone)]
enum Outcome {
    /// Nothing to rewrite: binary, not text, no match, or already right.
    Keep,
    /// The new content.
    Rewrite(Arc<Vec<u8>>),
}

/// One inode already read during this run, with what identifies its
/// content as unchanged since.
struct Seen {
    dev: u64,
    size: i64,
    mtime: Mtime,
    outcome: Outcome,
}

/// Inodes read during this run, keyed by inode number. Hard-link farms
/// (every per-package tree links its dependencies' files) show one inode
/// under many names; each is read once and its outcome reused. The
/// directory entry's `d_ino` only decides whether a name is worth an
/// `fstatat`; reuse needs the same device, inode, size and mtime.
struct Memo {
    shards: Vec<Mutex<HashMap<u64, Vec<Seen>>>>,
}

const MEMO_SHARDS: usize = 64;

impl Memo {
    fn new() -> Memo {
        Memo {
            shards: (0..MEMO_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    fn shard(&self, ino: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<Seen>>> {
        // A poisoned shard only means another thread panicked mid-insert;
        // the map itself is still consistent.
        self.shards[(ino % MEMO_SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn knows_ino(&self, ino: u64) -> bool {
        self.shard(ino).contains_key(&ino)
    }

    fn get(&self, st: &FileStat) -> Option<Outcome> {
        let shard = self.shard(st.st_ino);
        shard.get(&st.st_ino)?.iter().find_map(|s| {
            (s.dev == st.st_dev && s.size == st.st_size && s.mtime == Mtime::of(st))
                .then(|| s.outcome.clone())
        })
    }

    fn insert(&self, st: &FileStat, outcome: Outcome) {
        self.shard(st.st_ino)
            .entry(st.st_ino)
            .or_default()
            .push(Seen {
                dev: st.st_dev,
                size: st.st_size,
                mtime: Mtime::of(st),
                outcome,
            });
    }
}

fn child_rel(dir_rel: &[u8], name: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(dir_rel.len() + 1 + name.len());
    if !dir_rel.is_empty() {
        r.extend_from_slice(dir_rel);
        r.push(b'/');
    }
    r.extend_from_slice(name);
    r
}

impl Scanner<'_> {
    fn scan_dir(&self, tree: usize, dir: &DirFd, rel: &[u8]) -> Scanned {
        let entries = match dir.entries() {
            Ok(e) => e,
            Err(e) => return Scanned::error(e),
        };
        entries
            .into_par_iter()
            .map(|e| self.scan_entry(tree, dir, rel, &e))
            .reduce(Scanned::default, Scanned::merge)
    }

    fn scan_entry(&self, tree: usize, dir: &DirFd, dir_rel: &[u8], e: &RawEntry) -> Scanned {
        let name = &e.name[..];
        let mut st = None;
        let kind = match e.kind {
            Some(k) => k,
            // No d_type from this filesystem: ask, without following.
            None => match dir.stat(name) {
                Ok(Some(s)) => {
                    let k = Kind::from_mode(s.st_mode);
                    st = Some(s);
                    k
                }
                Ok(None) => return Scanned::default(),
                Err(e) => return Scanned::error(e),
            },
        };
        match kind {
            Kind::Dir => match dir.open_child(name) {
                Ok(sub) => self.scan_dir(tree, &sub, &child_rel(dir_rel, name)),
                Err(e) => Scanned::error(e),
            },
            Kind::File => {
                if let Some(cache) = self.cache {
                    if st.is_none() {
                        st = match dir.stat(name) {
                            Ok(Some(s)) => Some(s),
                            Ok(None) => return Scanned::default(),
                            Err(e) => return Scanned::error(e),
                        };
                    }
                    let s = st.as_ref().expect("stat just taken");
                    if Kind::from_mode(s.st_mode) == Kind::File && cache.contains(&CacheKey::of(s))
                    {
                        return Scanned {
                            files: 1,
                            ..Scanned::default()
                        };
                    }
                }
                if st.is_none() && self.memo.knows_ino(e.ino) {
                    st = match dir.stat(name) {
                        Ok(Some(s)) => Some(s),
                        Ok(None) => return Scanned::default(),
                        Err(e) => return Scanned::error(e),
                    };
                }
                if let Some(outcome) = st.as_ref().and_then(|s| self.memo.get(s)) {
                    let st = st.expect("a memo hit comes from a stat");
                    let mut out = Scanned {
                        files: 1,
                        ..Scanned::default()
                    };
                    if let Outcome::Rewrite(data) = outcome {
                        out.plan.push(Planned {
                            tree,
                            rel: child_rel(dir_rel, name),
                            change: Change::File {
                                data,
                                meta: Meta::of(&st),
                            },
                        });
                    }
                    return out;
                }
                self.scan_file(tree, dir, dir_rel, name)
            }
            Kind::Symlink if self.symlinks => self.scan_symlink(tree, dir, dir_rel, name),
            // Devices, fifos and sockets are skipped, as grep -r does.
            Kind::Symlink | Kind::Other => Scanned::default(),
        }
    }

    fn scan_file(&self, tree: usize, dir: &DirFd, dir_rel: &[u8], name: &[u8]) -> Scanned {
        let path = || dir.child_path(name);
        let fd = match open_for_reading(dir, name) {
            Ok(fd) => fd,
            Err(Errno::ELOOP | Errno::ENOENT) => return Scanned::default(),
            Err(e) => return Scanned::error(FsError::new("opening", path(), e)),
        };
        let st = match stat::fstat(&fd) {
            Ok(st) => st,
            Err(e) => return Scanned::error(FsError::new("inspecting", path(), e)),
        };
        if Kind::from_mode(st.st_mode) != Kind::File {
            return Scanned::default();
        }
        let file = File::from(fd);
        let (data, bytes) = match read_unless_binary(&file, st.st_size as u64) {
            Ok(r) => r,
            Err(e) => return Scanned::error(FsError::new("reading", path(), fsx::errno_of(&e))),
        };
        drop(file);
        let mut out = Scanned {
            files: 1,
            files_read: 1,
            bytes,
            ..Scanned::default()
        };
        // Cheapest test first: most files do not contain DIR/ at all.
        // Whether a file can need rewriting does not depend on ROOT; only
        // whether a matching one is already right does.
        let candidate = data
            .as_deref()
            .filter(|d| self.pattern.is_match(d) && classify(d) == Class::Text);
        let Some(new) = candidate.and_then(|d| self.pattern.rewrite(d)) else {
            if let (None, Some(cache)) = (candidate, self.cache) {
                if let Some(key) = CacheKey::settled(&st, cache.horizon) {
                    out.learned.push(key);
                }
            }
            self.memo.insert(&st, Outcome::Keep);
            return out;
        };
        let new = Arc::new(new);
        self.memo.insert(&st, Outcome::Rewrite(Arc::clone(&new)));
        out.plan.push(Planned {
            tree,
            rel: child_rel(dir_rel, name),
            change: Change::File {
                data: new,
                meta: Meta::of(&st),
            },
        });
        out
    }

    fn scan_symlink(&self, tree: usize, dir: &DirFd, dir_rel: &[u8], name: &[u8]) -> Scanned {
        let target = match dir.readlink(name) {
            Ok(t) => t,
            Err(e) if e.errno() == Errno::ENOENT || e.errno() == Errno::EINVAL => {
                return Scanned::default()
            }
            Err(e) => return Scanned::error(e),
        };
        let mut out = Scanned {
            symlinks: 1,
            ..Scanned::default()
        };
        let Some(new) = self.pattern.rewrite_target(&target) else {
            return out;
        };
        let st = match dir.stat(name) {
            Ok(Some(st)) => st,
            Ok(None) => return out,
            Err(e) => return Scanned::error(e),
        };
        out.plan.push(Planned {
            tree,
            rel: child_rel(dir_rel, name),
            change: Change::Symlink {
                target: new,
                meta: Meta::of(&st),
            },
        });
        out
    }
}

/// Opens a child for reading, never through a symlink (`O_NOFOLLOW`: a
/// symlink swapped in since listing fails with ELOOP) and never blocking on
/// a fifo swapped in (`O_NONBLOCK`). `O_NOATIME` spares the inode write
/// that reading a freshly linked file costs under relatime; the kernel
/// only allows it to the file's owner (and root), so fall back without.
fn open_for_reading(dir: &DirFd, name: &[u8]) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_CLOEXEC
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY;
    match fcntl::openat(dir, name, flags | OFlag::O_NOATIME, Mode::empty()) {
        Err(Errno::EPERM) => fcntl::openat(dir, name, flags, Mode::empty()),
        r => r,
    }
}

fn split_rel(rel: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memrchr(b'/', rel) {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// Replaces a symlink atomically: a new symlink at a temporary name with
/// the old one's owner and mtime, renamed over the name.
fn replace_symlink(dir: &DirFd, name: &[u8], target: &[u8], meta: &Meta) -> fsx::Result<()> {
    let tmp = fsx::temp_name();
    dir.symlink(target, &tmp)
        .map_err(|e| FsError::new("creating symlink", dir.child_path(&tmp), e))?;
    let r = dir
        .set_meta(&tmp, meta)
        .and_then(|()| dir.rename(&tmp, name));
    if r.is_err() {
        let _ = dir.unlink(&tmp, false);
    }
    r
}

/// Applies the planned changes of one directory (indexes into `plan`);
/// returns each entry's new inode.
fn apply_dir(
    root: &DirFd,
    dir_rel: &[u8],
    idx: &[usize],
    plan: &[Planned],
) -> Vec<(usize, Result<u64, FsError>)> {
    let dir = match root.open_beneath(dir_rel) {
        Ok(d) => d,
        Err(e) => return vec![(idx[0], Err(e))],
    };
    let apply = |p: &Planned| {
        let name = split_rel(&p.rel).1;
        match &p.change {
            Change::File { data, meta } => dir.replace_file(name, data, meta)?,
            Change::Symlink { target, meta } => replace_symlink(&dir, name, target, meta)?,
        }
        match dir.stat(name)? {
            Some(st) => Ok(st.st_ino),
            None => Err(FsError::new(
                "inspecting",
                dir.child_path(name),
                Errno::ENOENT,
            )),
        }
    };
    idx.iter().map(|&i| (i, apply(&plan[i]))).collect()
}

/// Rewrites `DIR/<segment>/` into `ROOT/` in every regular text file (and,
/// if asked, absolute symlink target) under `trees`, using `pool`.
///
/// Trees are opened by path (a symlink naming a tree is followed, as grep
/// and rsync follow their arguments); nothing below them is followed.
pub fn fixup_trees(
    cfg: &FixupConfig,
    trees: &[PathBuf],
    pool: &rayon::ThreadPool,
) -> Result<FixupReport, FixupError> {
    fixup_trees_cached(cfg, trees, pool, None)
}

/// [`fixup_trees`] with a persistent cache file of inodes known not to need
/// rewriting for this `DIR` (see [`ScanCache`]): those are `stat`ed but
/// not read. The cache is updated unless this is a dry run.
pub fn fixup_trees_cached(
    cfg: &FixupConfig,
    trees: &[PathBuf],
    pool: &rayon::ThreadPool,
    cache: Option<&Path>,
) -> Result<FixupReport, FixupError> {
    let dir_bytes = cfg.per_package_dir.as_os_str().as_bytes();
    let pattern = Pattern::new(dir_bytes, cfg.new_root.as_os_str().as_bytes())?;
    let cache = cache.map(|p| ScanCache::load(p, trim_slashes(dir_bytes)));
    let scanner = Scanner {
        pattern: &pattern,
        symlinks: cfg.symlinks,
        memo: Memo::new(),
        cache: cache.as_ref(),
    };
    let mut roots = Vec::with_capacity(trees.len());
    let mut errors = Vec::new();
    for t in trees {
        match DirFd::open(t) {
            Ok(d) => roots.push(d),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(FixupError::Fs(errors));
    }

    let scanned = pool.install(|| {
        roots
            .par_iter()
            .enumerate()
            .map(|(i, root)| scanner.scan_dir(i, root, b""))
            .reduce(Scanned::default, Scanned::merge)
    });
    if !scanned.errors.is_empty() {
        let mut errors = scanned.errors;
        errors.sort_by(|a, b| a.path().cmp(b.path()));
        return Err(FixupError::Fs(errors));
    }
    let mut plan = scanned.plan;
    plan.sort_by(|a, b| (a.tree, &a.rel).cmp(&(b.tree, &b.rel)));
    if let (Some(c), false) = (&cache, cfg.dry_run) {
        c.save(scanned.learned).map_err(FixupError::Config)?;
    }

    let mut inodes: Vec<Option<u64>> = vec![None; plan.len()];
    if !cfg.dry_run {
        // One directory open per directory that has changes.
        let mut by_dir: BTreeMap<(usize, &[u8]), Vec<usize>> = BTreeMap::new();
        for (i, p) in plan.iter().enumerate() {
            by_dir
                .entry((p.tree, split_rel(&p.rel).0))
                .or_default()
                .push(i);
        }
        let groups: Vec<_> = by_dir.into_iter().collect();
        let results: Vec<(usize, Result<u64, FsError>)> = pool.install(|| {
            groups
                .par_iter()
                .flat_map_iter(|((tree, dir_rel), idx)| {
                    apply_dir(&roots[*tree], dir_rel, idx, &plan)
                })
                .collect()
        });
        let mut errors = Vec::new();
        for (i, r) in results {
            match r {
                Ok(ino) => inodes[i] = Some(ino),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| a.path().cmp(b.path()));
            return Err(FixupError::Fs(errors));
        }
    }

    let rewritten = plan
        .into_iter()
        .zip(inodes)
        .map(|(p, ino)| {
            let (kind, new_target) = match p.change {
                Change::File { .. } => (RewrittenKind::File, None),
                Change::Symlink { target, .. } => (RewrittenKind::Symlink, Some(target)),
            };
            Rewritten {
                tree: trees[p.tree].clone(),
                rel: p.rel,
                kind,
                new_target,
                ino,
            }
        })
        .collect();
    Ok(FixupReport {
        files_scanned: scanned.files,
        files_read: scanned.files_read,
        symlinks_scanned: scanned.symlinks,
        bytes_read: scanned.bytes,
        rewritten,
    })
}

/// The identity and state of an inode as the cache records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CacheKey {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: Mtime,
}

impl CacheKey {
    const BYTES: usize = 40;

    fn of(st: &FileStat) -> CacheKey {
        CacheKey {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: Mtime::of(st),
        }
    }

    /// The key, unless the mtime is so recent (or in the future) that the
    /// file could still change within the same timestamp granule.
    fn settled(st: &FileStat, horizon: Mtime) -> Option<CacheKey> {
        let key = CacheKey::of(st);
        (key.mtime < horizon).then_some(key)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime.sec.to_le_bytes());
        out.extend_from_slice(&self.mtime.nsec.to_le_bytes());
    }

    fn decode(b: &[u8]) -> CacheKey {
        let word = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&b[8 * i..8 * i + 8]);
            w
        };
        CacheKey {
            dev: u64::from_le_bytes(word(0)),
            ino: u64::from_le_bytes(word(1)),
            size: i64::from_le_bytes(word(2)),
            mtime: Mtime {
                sec: i64::from_le_bytes(word(3)),
                nsec: i64::from_le_bytes(word(4)),
            },
        }
    }
}

/// A persistent set of inodes known not to need rewriting for one `DIR`
/// (`--cache FILE`): binary, not text, or without any `DIR/<segment>/`.
///
/// Per-package trees share their dependencies' inodes, so across a build
/// the same files are scanned at every configure step; with the cache a
/// known inode costs one `fstatat` instead of open, read and close. An
/// entry is trusted while device, inode, size and nanosecond mtime are all
/// unchanged (ctime cannot be used: hard-linking a file into the next tree
/// changes it). Files modified less than two seconds before the scan are
/// not recorded, since a second write within one timestamp granule would
/// leave the mtime unchanged. What this cannot see is an in-place edit that
/// keeps the size and restores the mtime, hence opt-in.
///
/// Format: `ppd-fixup-cache 1\n`, the length of `DIR` (u32 LE) and `DIR`,
/// the count (u64 LE), then sorted 40-byte records. A file that does not
/// parse exactly, or was made for another `DIR`, is ignored and replaced.
/// Updates take the sidecar lock (`ppd::lock`), merge with the current
/// file and rename a new one over it, so concurrent steps only add.
pub struct ScanCache {
    path: PathBuf,
    dir: Vec<u8>,
    known: Vec<CacheKey>,
    horizon: Mtime,
}

const CACHE_MAGIC: &[u8] = b"ppd-fixup-cache 1\n";
/// A cache this large has mostly collected inodes long deleted: start over.
const CACHE_MAX: usize = 4 << 20;
/// How old an mtime must be to be recorded.
const CACHE_SETTLE_SECS: i64 = 2;

impl ScanCache {
    fn load(path: &Path, dir: &[u8]) -> ScanCache {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let horizon = Mtime {
            sec: now.as_secs() as i64 - CACHE_SETTLE_SECS,
            nsec: i64::from(now.subsec_nanos()),
        };
        ScanCache {
            path: path.to_path_buf(),
            dir: dir.to_vec(),
            known: Self::read(path, dir),
            horizon,
        }
    }

    /// Reads the records, or none if the file is missing, damaged or for another DIR.
    fn read(path: &Path, dir: &[u8]) -> Vec<CacheKey> {
        let Ok(data) = std::fs::read(path) else {
            return Vec::new();
        };
        Self::parse(&data, dir).unwrap_or_default()
    }

    fn parse(data: &[u8], dir: &[u8]) -> Option<Vec<CacheKey>> {
        let rest = data.strip_prefix(CACHE_MAGIC)?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.get(..len)? != dir {
            return None;
        }
        let (count, rest) = rest[len..].split_first_chunk::<8>()?;
        let count = usize::try_from(u64::from_le_bytes(*count)).ok()?;
        if rest.len() != count.checked_mul(CacheKey::BYTES)? {
            return None;
        }
        let keys: Vec<CacheKey> = rest
            .chunks_exact(CacheKey::BYTES)
            .map(CacheKey::decode)
            .collect();
        keys.windows(2).all(|w| w[0] < w[1]).then_some(keys)
    }

    fn contains(&self, key: &CacheKey) -> bool {
        self.known.binary_search(key).is_ok()
    }

    /// Adds `learned` to the file, merged with whatever it holds now.
    fn save(&self, mut learned: Vec<CacheKey>) -> Result<(), String> {
        learned.retain(|k| !self.contains(k));
        if learned.is_empty() {
            return Ok(());
        }
        let _lock = crate::lock::lock(&self.path).map_err(|e| format!("{e:#}"))?;
        let mut keys = Self::read(&self.path, &self.dir);
        if keys.len() + learned.len() > CACHE_MAX {
            keys.clear();
        }
        keys.append(&mut learned);
        keys.sort_unstable();
        keys.dedup();
        let mut out = Vec::with_capacity(
            CACHE_MAGIC.len() + 12 + self.dir.len() + keys.len() * CacheKey::BYTES,
        );
        out.extend_from_slice(CACHE_MAGIC);
        out.extend_from_slice(&(self.dir.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.dir);
        out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
        for k in &keys {
            k.encode(&mut out);
        }
        // A sibling temporary file renamed over the cache: readers see the
        // old or the new file, never a partial one.
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(std::ffi::OsStr::from_bytes(&fsx::temp_name()));
        let tmp = PathBuf::from(tmp);
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&out))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            let reason = fsx::errno_of(&e).desc();
            return Err(format!("writing cache {}: {reason}", self.path.display()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(dir: &str, root: &str) -> Pattern {
        Pattern::new(dir.as_bytes(), root.as_bytes()).unwrap()
    }

    fn rw(p: &Pattern, s: &str) -> String {
        match p.rewrite(s.as_bytes()) {
            Some(v) => String::from_utf8(v).unwrap(),
            None => s.to_string(),
        }
    }

    #[test]
    fn rewrites_like_sed_global_substitution() {
        let p = pat("/o/pp", "/o/pp/me");
        assert_eq!(
            rw(&p, "L=/o/pp/zlib/host/lib -L/o/pp/b/host/x"),
            "L=/o/pp/me/host/lib -L/o/pp/me/host/x"
        );
        // The segment must be non-empty and end in '/'.
        assert_eq!(rw(&p, "/o/pp//x /o/pp/zlib"), "/o/pp//x /o/pp/zlib");
        // A segment never spans a line (sed works line by line).
        assert_eq!(rw(&p, "/o/pp/zl\nib/x"), "/o/pp/zl\nib/x");
        // Adjacent matches, and a match right at the end.
        assert_eq!(rw(&p, "/o/pp/a//o/pp/b/"), "/o/pp/me//o/pp/me/");
        // DIR as a prefix of a longer directory name does not match.
        assert_eq!(rw(&p, "/o/ppx/a/b"), "/o/ppx/a/b");
    }

    #[test]
    fn already_right_is_no_change() {
        let p = pat("/o/pp", "/o/pp/me");
        assert!(p.rewrite(b"x /o/pp/me/host/lib y").is_none());
        assert!(p.rewrite(b"nothing here").is_none());
        assert!(p.rewrite(b"").is_none());
        // A mix: only the other package's path changes.
        assert_eq!(rw(&p, "/o/pp/me/h /o/pp/zz/h"), "/o/pp/me/h /o/pp/me/h");
    }

    #[test]
    fn dir_is_literal_and_may_overlap_itself() {
        let p = pat("/b[1]/a.b+c d", "/R");
        assert_eq!(
            rw(&p, "/b[1]/a.b+c d/x/y /b1/aXb+c d/x/y"),
            "/R/y /b1/aXb+c d/x/y"
        );
        // "/a/a/" occurs at 0 but fails (empty segment); the overlapping
        // occurrence at 2 is tried next, like a leftmost regex search.
        let p = pat("/a/a", "/R");
        assert_eq!(rw(&p, "/a/a/a/x/"), "/R/x/");
        assert_eq!(rw(&p, "/a/a//a/a/s/t"), "/a/a//R/t");
    }

    #[test]
    fn replacement_is_literal() {
        let p = pat("/pp/", "/x&y\\1:z/");
        assert_eq!(rw(&p, "/pp/a/b"), "/x&y\\1:z/b");
    }

    #[test]
    fn empty_dir_is_refused() {
        assert!(Pattern::new(b"/", b"/x").is_err());
        assert!(Pattern::new(b"", b"/x").is_err());
    }

    #[test]
    fn symlink_targets_rewrite_only_a_leading_prefix() {
        let p = pat("/o/pp", "/o/pp/me");
        assert_eq!(
            p.rewrite_target(b"/o/pp/z/host/bin/x").unwrap(),
            b"/o/pp/me/host/bin/x"
        );
        assert!(p.rewrite_target(b"/o/pp/me/host/bin/x").is_none());
        assert!(p.rewrite_target(b"../o/pp/z/host").is_none());
        assert!(p.rewrite_target(b"/elsewhere/o/pp/z/host").is_none());
        assert!(p.rewrite_target(b"/o/pp/z").is_none());
    }

    #[test]
    fn reads_whole_text_and_stops_early_on_binary() {
        let t = tempfile::tempdir().unwrap();
        let check = |data: &[u8], size_hint: u64| {
            let p = t.path().join("f");
            std::fs::write(&p, data).unwrap();
            let f = File::open(&p).unwrap();
            read_unless_binary(&f, size_hint).unwrap()
        };
        for n in [
            0,
            1,
            FIRST_READ,
            SMALL_FILE,
            SMALL_FILE + 1,
            3 * SMALL_FILE + 5,
        ] {
            let text = vec![b'a'; n];
            assert_eq!(
                check(&text, n as u64),
                (Some(text.clone()), n as u64),
                "{n}"
            );
            // A stale (smaller or larger) size from fstat changes nothing.
            assert_eq!(check(&text, 1).0, Some(text.clone()), "{n}");
            assert_eq!(check(&text, 10 * n as u64 + 3).0, Some(text.clone()), "{n}");
        }
        let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
        elf.resize(1 << 20, b'x');
        assert_eq!(check(&elf, elf.len() as u64), (None, FIRST_READ as u64));
        let mut late = vec![b'a'; 100_000];
        late.push(0);
        late.extend_from_slice(b"tail");
        assert_eq!(check(&late, late.len() as u64), (None, late.len() as u64));
    }

    #[test]
    fn classification_follows_libmagic_text_bytes() {
        assert_eq!(classify(b"prefix=/x\n"), Class::Text);
        assert_eq!(classify(b"caf\xe9 \x80\x9b\xff\n"), Class::Text);
        assert_eq!(classify(b"\x1b[0m\x07\x08\t\x0b\x0c\r\n"), Class::Text);
        assert_eq!(classify(b"{\"a\": \"/x\"}\n"), Class::Text);
        assert_eq!(classify(b"a\0b"), Class::Binary);
        for b in [1u8, 6, 0x0e, 0x1a, 0x1c, 0x1f, 0x7f] {
            assert_eq!(classify(&[b'a', b, b'\n']), Class::NotText, "{b:#x}");
        }
        assert_eq!(classify(b"!<thin>\n/x/y.o/\n"), Class::NotText);
        assert_eq!(classify(b"%PDF-1.4\n"), Class::NotText);
        assert_eq!(classify(b""), Class::Text);
    }
}
