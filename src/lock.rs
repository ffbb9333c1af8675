//! Advisory locks that serialize ppd processes writing the same tree, and
//! the cleanup of temporaries a killed run left in it.
//!
//! The lock file sits beside the destination, never inside it
//! (`<parent>/.<name>.ppd-lock`), so it never shows up in a tree, a file
//! list or a final merge. `flock` semantics: the kernel drops the lock when
//! the process dies, so a SIGKILLed run never leaves a stale lock behind.
//!
//! The lock file is also the tree's "temporaries may exist" mark: a run
//! that is about to write into the tree ([`TreeLock::mark`]) writes one
//! line into it, and truncates it again once it finished without error
//! ([`TreeLock::done`]): two system calls per run. Every temporary
//! ([`crate::fsx::is_temp`]) lives between a creation and a rename in that
//! window, so a lock file found non-empty means a run died or failed there:
//! [`lock`] then walks the tree (never following a symlink) and removes
//! every temporary of that run before handing the lock over. The mark
//! holds the time it was written and the writer's pid: a name of the
//! temporaries' pattern is that run's temporary only if it carries that
//! pid and its inode changed at or after the mark ([`Mark::claims`]);
//! any other (a package installed it) is an entry like any other. The files ppd writes
//! beside the tree go through fixed temporary names, removed by every
//! [`lock`] (one `unlink` each). Until then directory
//! listings leave temporaries out, so nothing ever takes one for an entry.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct TreeLock {
    file: File,
    path: PathBuf,
    /// The tree it guards, as the user named it: what errors name.
    dest: PathBuf,
    marked: std::cell::Cell<bool>,
    /// The lock file was marked when taken: the last run writing the
    /// tree died or failed.
    interrupted: bool,
    /// Then, that run's mark.
    mark: Option<Mark>,
    /// The lock file's identity, in [`HELD`] while this lock lives.
    key: (u64, u64),
    /// A directory stands at the lock file's name and holds something:
    /// it is locked itself, and nothing is marked or journaled (a run
    /// killed in this tree leaves its temporaries as entries).
    in_dir: bool,
    /// The temporaries' names beside the tree (the manifest's, the
    /// reported record's) that a directory holding something takes.
    blocked: Vec<PathBuf>,
}

/// The lock files this process holds (device, inode). `flock` on a second
/// descriptor of a file this process already locked would wait for itself
/// forever (one tree named twice: `dir` and `./dir`, or a host destination
/// that is the target destination), so a second lock of one file is
/// refused, or skipped by [`lock_for_writing`], before it waits.
static HELD: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

impl Drop for TreeLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = held.iter().position(|k| *k == self.key) {
            held.swap_remove(i);
        }
    }
}

/// What the mark says, before the time it was written.
const MARK: &str = "ppd: a run writing this tree has not finished (since ";

/// The mark's text: [`MARK`], the coarse clock's time (what the kernel
/// stamps files with; never later than the change time of a file made,
/// linked or renamed after it) as `<sec>.<nsec>`, and the marking run's
/// pid, which every temporary it makes carries in its name.
fn mark_text() -> Vec<u8> {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    format!(
        "{MARK}{}.{:09}, pid {})\n",
        now.tv_sec,
        now.tv_nsec,
        std::process::id()
    )
    .into_bytes()
}

/// A marked lock file: when, and by which process, a run that has not
/// finished started writing the tree.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    /// The time in the mark (or for a mark without one, the lock file's
    /// mtime).
    pub at: crate::fsx::Mtime,
    /// The marking run's pid (`None` for a mark without one).
    pub pid: Option<u32>,
}

impl Mark {
    /// True if the child `name` of `dir` (a name of the temporaries'
    /// pattern, [`crate::fsx::is_temp`]) is a temporary of the marking
    /// run: it carries that run's pid and its inode changed at or after
    /// the mark (made, linked or renamed since: a temporary made by
    /// linking keeps the linked file's birth time, never its change
    /// time). For a mark without a pid: born at or after the mark, or
    /// where the filesystem records no birth time, changed at or after it.
    /// Anything else is a package's file of that name.
    pub fn claims(&self, dir: &crate::fsx::DirFd, name: &[u8]) -> bool {
        match self.pid {
            Some(pid) => {
                crate::fsx::temp_pid(name) == Some(pid)
                    && dir.changed(name).is_some_and(|c| c >= self.at)
            }
            None => match dir.born(name).or_else(|| dir.changed(name)) {
                Some(t) => t >= self.at,
                None => false,
            },
        }
    }
}

/// Reads a mark's text (`None` if it is not one this version writes).
fn parse_mark(text: &[u8]) -> Option<Mark> {
    let rest = text.strip_prefix(MARK.as_bytes())?;
    let end = memchr::memchr(b')', rest)?;
    let t = std::str::from_utf8(&rest[..end]).ok()?;
    let (time, pid) = t.split_once(", pid ")?;
    let (sec, nsec) = time.split_once('.')?;
    Some(Mark {
        at: crate::fsx::Mtime {
            sec: sec.parse().ok()?,
            nsec: nsec.parse().ok()?,
        },
        pid: Some(pid.parse().ok()?),
    })
}

/// The mark of a lock file holding `text`, with mtime `mtime`.
fn mark_from(text: &[u8], mtime: crate::fsx::Mtime) -> Mark {
    parse_mark(text).unwrap_or(Mark {
        at: mtime,
        pid: None,
    })
}

/// The lock file at `path`'s mark, if it is marked.
fn mark_of(path: &Path) -> Option<Mark> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .ok();
    let md = match &file {
        Some(f) => f.metadata().ok()?,
        // Unreadable: its size and mtime still tell.
        None => std::fs::symlink_metadata(path).ok()?,
    };
    if !md.is_file() || md.len() == 0 {
        return None;
    }
    let mut head = [0u8; 128];
    let n = file.map_or(0, |f| {
        use std::os::unix::fs::FileExt;
        f.read_at(&mut head, 0).unwrap_or(0)
    });
    Some(mark_from(
        &head[..n],
        crate::fsx::Mtime {
            sec: md.mtime(),
            nsec: md.mtime_nsec(),
        },
    ))
}

/// The mark of the innermost tree enclosing the directory `dir` (`dir`
/// itself or an ancestor, by its path) whose lock file is marked, if any:
/// what tells a temporary of a run from a package's file of the same name
/// ([`crate::fsx::DirFd::is_stray`]). Consulted only for names of the
/// temporaries' pattern, so rarely.
pub fn enclosing_mark(dir: &Path) -> Option<Mark> {
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.file_name().is_some() {
            if let Some(m) = mark_of(&lock_path(d)) {
                return Some(m);
            }
        }
        at = d.parent();
    }
    None
}

impl TreeLock {
    /// The open lock file (beside the tree, on the tree's filesystem).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// If the lock file's name is taken by a directory holding something
    /// (not ppd's): the warning to give, once per run.
    pub fn warning(&self) -> Option<String> {
        self.in_dir.then(|| {
            format!(
                "{} is a directory, not ppd's lock file: the tree is locked through it, \
                 and a run killed while writing it leaves its temporaries",
                crate::fsx::show(&self.path)
            )
        })
    }

    /// True if a directory holding something stands at `path`, one of
    /// the temporaries' names beside the tree this lock found taken (the
    /// lock removes what a killed run left there, and an empty directory).
    pub fn blocks(&self, path: &Path) -> bool {
        self.blocked.iter().any(|b| b == path)
    }

    /// Returns the lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True if the last run writing the tree died or failed before
    /// finishing (its temporaries are gone by now).
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// If the last run writing the tree died or failed: when it marked the
    /// lock file (its mtime then). Everything that run created was born
    /// after that; a package never installs while its tree is merged.
    pub fn interrupted_since(&self) -> Option<crate::fsx::Mtime> {
        self.mark.map(|m| m.at)
    }

    /// Marks the tree as possibly holding temporaries, before anything is
    /// written into it (once per lock).
    pub fn mark(&self) -> Result<()> {
        if self.marked.get() || self.in_dir {
            return Ok(());
        }
        use std::os::unix::fs::FileExt;
        self.file
            .write_all_at(&mark_text(), 0)
            .with_context(|| format!("locking {}", crate::fsx::show(&self.dest)))?;
        self.marked.set(true);
        Ok(())
    }

    /// Clears the mark: the run finished writing without error, so no
    /// temporary of its own is left.
    pub fn done(&self) -> Result<()> {
        if !self.marked.get() {
            return Ok(());
        }
        self.file
            .set_len(0)
            .with_context(|| format!("locking {}", crate::fsx::show(&self.dest)))?;
        self.marked.set(false);
        Ok(())
    }
}

/// Returns the path of the lock file guarding `dest`.
pub fn lock_path(dest: &Path) -> PathBuf {
    sidecar(dest, "ppd-lock")
}

/// True if the lock file of `dest` is marked (read without taking the
/// lock): the last run writing that tree died or failed, so the tree may
/// hold its temporaries until the next run locks it.
pub fn marked(dest: &Path) -> bool {
    std::fs::metadata(lock_path(dest)).is_ok_and(|m| m.len() > 0)
}

/// True if a directory holding something stands at `path`, a name ppd
/// writes beside a tree (a manifest, the record of reported conflicts, or
/// their temporaries): it is not ppd's, and is never removed; the writer
/// goes without that file. An empty directory there is removed (false).
pub fn sidecar_blocked(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => std::fs::remove_dir(path).is_err(),
        _ => false,
    }
}

/// Returns `<parent>/.<name>.<suffix>`: a file beside `dest`, never inside it.
///
/// The name keeps `dest`'s bytes; when `dest`'s name is so long that the
/// sidecar's would pass `NAME_MAX` (255 bytes), it keeps the name's start
/// and a hash of the whole name instead, so a destination any name fits
/// still gets its own lock and manifest.
pub fn sidecar(dest: &Path, suffix: &str) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    const NAME_MAX: usize = 255;
    let name: &[u8] = dest.file_name().map_or(b"root", |n| n.as_bytes());
    let mut file = Vec::with_capacity(NAME_MAX);
    file.push(b'.');
    if name.len() + suffix.len() + 2 <= NAME_MAX {
        file.extend_from_slice(name);
    } else {
        let hash = format!("~{:016x}", fnv1a(name));
        let keep = NAME_MAX - suffix.len() - 2 - hash.len();
        file.extend_from_slice(&name[..keep]);
        file.extend_from_slice(hash.as_bytes());
    }
    file.push(b'.');
    file.extend_from_slice(suffix.as_bytes());
    let parent = dest.parent().unwrap_or(Path::new("/"));
    parent.join(std::ffi::OsString::from_vec(file))
}

/// The 64-bit FNV-1a hash (stable across runs and builds).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Takes the exclusive lock for `dest`, waiting for another ppd holding it.
/// Creates the parent directory if needed.
///
/// Errors name `dest`, the user's path (`locking DEST: reason`), never the
/// lock file beside it. The lock file is opened without following a
/// symlink or blocking on a fifo, and must be a regular file: one planted
/// there is never written through. A tree this process already holds the
/// lock of (under another name) is an error, not a wait for itself.
pub fn lock(dest: &Path) -> Result<TreeLock> {
    lock_unless_held(dest)?.ok_or_else(|| {
        anyhow::anyhow!(
            "locking {}: this run already writes that tree (under another name)",
            crate::fsx::show(dest)
        )
    })
}

/// As [`lock`], but `None` if this process already holds the lock.
fn lock_unless_held(dest: &Path) -> Result<Option<TreeLock>> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let path = lock_path(dest);
    let ctx = || format!("locking {}", crate::fsx::show(dest));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(ctx)?;
    }
    // Append mode: the journal's lines go to the end (a clone of this
    // descriptor); the mark is written into an empty file.
    let open = || {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW
                    | rustix::fs::OFlags::NONBLOCK
                    | rustix::fs::OFlags::CLOEXEC)
                    .bits() as i32,
            )
            .open(&path)
    };
    // A directory planted at the lock file's name: an empty one is
    // replaced; one holding anything is not ppd's to remove, and is locked
    // itself (`flock` works on a directory), without a mark or journal.
    let mut in_dir = false;
    let file = match open() {
        Err(e) if e.raw_os_error() == Some(crate::fsx::Errno::EISDIR.raw()) => {
            if std::fs::remove_dir(&path).is_ok() {
                open()
            } else {
                in_dir = true;
                OpenOptions::new()
                    .read(true)
                    .custom_flags(
                        (rustix::fs::OFlags::NOFOLLOW
                            | rustix::fs::OFlags::DIRECTORY
                            | rustix::fs::OFlags::CLOEXEC)
                            .bits() as i32,
                    )
                    .open(&path)
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            // A lock file of this user's that lost its owner's permission
            // bits (`chmod 000`): the user may give them back, as rsync
            // needs nothing from it. Another user's is left alone.
            if restore_owner_access(&path) {
                open()
            } else {
                return Err(anyhow::anyhow!(
                    "locking {}: cannot open its lock file {} (another user's): {}",
                    crate::fsx::show(dest),
                    crate::fsx::show(&path),
                    crate::fsx::Errno::EACCES.reason()
                ));
            }
        }
        f => f,
    };
    let not_regular = || {
        anyhow::anyhow!(
            "locking {}: its lock file {} is not a regular file",
            crate::fsx::show(dest),
            crate::fsx::show(&path)
        )
    };
    let file = match file {
        Err(e) if e.raw_os_error() == Some(crate::fsx::Errno::ELOOP.raw()) => {
            return Err(not_regular())
        }
        f => f.with_context(ctx)?,
    };
    let md = file.metadata().with_context(ctx)?;
    if !(md.is_file() || (in_dir && md.is_dir())) {
        return Err(not_regular());
    }
    let key = (md.dev(), md.ino());
    {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if held.contains(&key) {
            return Ok(None);
        }
        held.push(key);
    }
    let mut held = TreeLock {
        file,
        path,
        dest: dest.to_path_buf(),
        marked: std::cell::Cell::new(false),
        interrupted: false,
        mark: None,
        key,
        in_dir,
        blocked: Vec::new(),
    };
    held.file.lock().with_context(ctx)?;
    let md = held.file.metadata().with_context(ctx)?;
    // A directory locked in the lock file's stead holds no mark.
    let dirty = !in_dir && md.len() > 0;
    held.interrupted = dirty;
    if dirty {
        use std::os::unix::fs::MetadataExt;
        let mut journal = Vec::new();
        std::io::Read::read_to_end(&mut &held.file, &mut journal).with_context(ctx)?;
        // The mark's own time: the journal's lines, appended later, moved
        // the mtime past temporaries made before them.
        held.mark = Some(mark_from(
            &journal,
            crate::fsx::Mtime {
                sec: md.mtime(),
                nsec: md.mtime_nsec(),
            },
        ));
        roll_forward(dest, &journal)?;
    }
    // Writes of the files beside the tree cut short (they have fixed
    // names: writers of one tree are serialized).
    for partial in [
        crate::manifest::temp_path_for(dest),
        sidecar(dest, "ppd-reported.tmp"),
    ] {
        match std::fs::remove_file(&partial) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // A directory there is no write of ppd's: an empty one goes,
            // one holding anything stays (its writer skips that file,
            // [`sidecar_blocked`]).
            Err(e) if e.raw_os_error() == Some(crate::fsx::Errno::EISDIR.raw()) => {
                if std::fs::remove_dir(&partial).is_err() {
                    held.blocked.push(partial);
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("removing {}", crate::fsx::show(&partial)))
            }
        }
    }
    if let Some(mark) = held.mark {
        sweep(dest, mark)?;
        held.marked.set(true);
        held.done()?;
    }
    Ok(Some(held))
}

/// Gives the owner read and write permission on the lock file at `path`
/// if it is a regular file this process owns (never following a
/// symlink); true if it did.
fn restore_owner_access(path: &Path) -> bool {
    use rustix::fs::{AtFlags, Mode};
    let Ok(st) = crate::fsx::lstat(path) else {
        return false;
    };
    if crate::fsx::Kind::from_mode(st.st_mode) != crate::fsx::Kind::File
        || st.st_uid != rustix::process::geteuid().as_raw()
    {
        return false;
    }
    let mode = Mode::from_raw_mode((st.st_mode & 0o7777) | 0o600);
    rustix::fs::chmodat(rustix::fs::CWD, path, mode, AtFlags::empty()).is_ok()
}

/// Notes, in a tree's lock file, rewrites that give several names one new
/// inode: the rewrite renames the new file over the first name, then links
/// it over the others, and no single system call does all of that. A run
/// killed in between would leave the hard-link group split, and a later
/// run could not tell the names had been one file; so the names are noted
/// before the first rename, and a run that finds the lock marked links the
/// first name over every other one that is not already it (rolling the
/// rewrite forward; a no-op where the kill came before the first rename).
#[derive(Debug)]
pub struct Journal {
    file: std::sync::Mutex<File>,
    prefix: Vec<u8>,
    /// The lock is a directory's: nothing to note in.
    off: bool,
}

impl TreeLock {
    /// A journal for rewrites below `sub` (a directory of the tree, given
    /// relative to it: paths handed to [`Journal::relink`] are relative to
    /// `sub`).
    pub fn journal(&self, sub: &[u8]) -> Result<Journal> {
        let file = self
            .file
            .try_clone()
            .with_context(|| format!("locking {}", crate::fsx::show(&self.dest)))?;
        let mut prefix = sub.to_vec();
        if !prefix.is_empty() && !prefix.ends_with(b"/") {
            prefix.push(b'/');
        }
        Ok(Journal {
            file: std::sync::Mutex::new(file),
            prefix,
            off: self.in_dir,
        })
    }
}

impl Journal {
    /// Notes that `name`'s new inode is about to be linked over `aliases`
    /// (all relative to the journal's directory).
    pub fn relink(&self, name: &[u8], aliases: &[Vec<u8>]) -> std::io::Result<()> {
        if self.off {
            return Ok(());
        }
        let mut line = b"relink".to_vec();
        for p in std::iter::once(name).chain(aliases.iter().map(Vec::as_slice)) {
            line.push(b'\t');
            let mut full = self.prefix.clone();
            full.extend_from_slice(p);
            crate::manifest::escape(&full, &mut line);
        }
        line.push(b'\n');
        // One write with O_APPEND: lines of parallel rewrites never mix.
        use std::io::Write;
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&line)
    }
}

/// Finishes the rewrites a killed run noted in `journal` (the lock file's
/// text): each first name is linked over each other name of its line that
/// is not already the same inode, through a temporary and a rename.
fn roll_forward(tree: &Path, journal: &[u8]) -> Result<()> {
    use crate::fsx::{DirFd, FileKey, Kind};
    let root = match DirFd::open(tree) {
        Ok(d) => d,
        Err(e) if e.errno() == crate::fsx::Errno::ENOENT => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let split = |p: &[u8]| -> (Vec<u8>, Vec<u8>) {
        match memchr::memrchr(b'/', p) {
            Some(i) => (p[..i].to_vec(), p[i + 1..].to_vec()),
            None => (Vec::new(), p.to_vec()),
        }
    };
    for line in journal.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"relink\t") else {
            continue;
        };
        let names: Vec<Vec<u8>> = rest.split(|&b| b == b'\t').map(unescape).collect();
        let Some((first, others)) = names.split_first() else {
            continue;
        };
        let (fdir, fname) = split(first);
        let Ok(fdir) = root.open_beneath(&fdir) else {
            continue;
        };
        let Some(fst) = fdir.stat(&fname)? else {
            continue;
        };
        if Kind::from_mode(fst.st_mode) != Kind::File {
            continue;
        }
        for other in others {
            let (odir, oname) = split(other);
            let Ok(odir) = root.open_beneath(&odir) else {
                continue;
            };
            match odir.stat(&oname)? {
                Some(st)
                    if FileKey::of(&st) != FileKey::of(&fst)
                        && Kind::from_mode(st.st_mode) == Kind::File => {}
                _ => continue,
            }
            let tmp = crate::fsx::temp_name();
            odir.link_at(&fdir, &fname, &tmp).map_err(|e| {
                crate::fsx::FsError::two(
                    "hard-linking",
                    fdir.child_path(&fname),
                    odir.child_path(&oname),
                    e,
                )
            })?;
            if let Err(e) = odir.rename(&tmp, &oname) {
                let _ = odir.unlink(&tmp, false);
                return Err(e.naming(&odir.child_path(&oname)).into());
            }
        }
    }
    Ok(())
}

/// Reverses [`crate::manifest::escape`].
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(&c) => out.push(c),
            None => out.push(b'\\'),
        }
    }
    out
}

/// Locks each of `trees` (each once, in sorted order, so two runs never
/// wait for each other crosswise) and marks them for writing
/// ([`TreeLock::mark`]).
pub fn lock_for_writing(trees: &[PathBuf]) -> Result<Vec<TreeLock>> {
    let mut sorted: Vec<&PathBuf> = trees.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut held = Vec::with_capacity(sorted.len());
    for t in sorted {
        // The same tree under another name is locked once.
        if let Some(l) = lock_unless_held(t)? {
            l.mark()?;
            held.push(l);
        }
    }
    Ok(held)
}

/// Clears the marks of locks taken with [`lock_for_writing`], after the
/// run wrote everything without error.
pub fn done(locks: &[TreeLock]) -> Result<()> {
    locks.iter().try_for_each(TreeLock::done)
}

/// Removes every temporary ([`crate::fsx::is_temp`]) below `tree` that
/// the run which left `mark` made ([`Mark::claims`]), never following a
/// symlink, through a [`crate::walk::Walker`] (so a bounded number of
/// directory handles, however deep the tree). Returns how many were
/// removed. A missing tree has none.
pub fn sweep(tree: &Path, mark: Mark) -> Result<u64> {
    use crate::fsx::DirFd;
    use crate::fsx::Errno;
    let root = match DirFd::open(tree) {
        Ok(d) => d,
        Err(e) if e.errno() == Errno::ENOENT => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let walker = crate::walk::Walker::from_dir(root);
    let mut removed = 0;
    // (directory, its subdirectories still to visit)
    let mut stack: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
    let mut visit = |node: u32, stack: &mut Vec<(u32, Vec<Vec<u8>>)>| -> Result<()> {
        let d = match walker.open(node) {
            Ok(d) => d,
            // Gone or replaced by a non-directory since the listing.
            Err(e)
                if node != 0
                    && matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        };
        let (temps, dirs) = d.temporaries_and_subdirs()?;
        for t in temps {
            if !mark.claims(&d, &t) {
                // A package's file of that name.
                continue;
            }
            match d.unlink(&t, false) {
                Ok(()) => removed += 1,
                // Gone, or a directory: ppd never makes one under a
                // temporary's name, so it is no temporary of a run.
                Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::EISDIR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        stack.push((node, dirs));
        Ok(())
    };
    visit(0, &mut stack)?;
    while let Some((node, pending)) = stack.last_mut() {
        let Some(name) = pending.pop() else {
            stack.pop();
            continue;
        };
        let child = walker.add(*node, &name);
        visit(child, &mut stack)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_is_beside_the_tree() {
        assert_eq!(
            lock_path(Path::new("/o/per-package/foo/host")),
            Path::new("/o/per-package/foo/.host.ppd-lock")
        );
    }

    #[test]
    fn second_lock_waits_for_the_first() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("host");
        let held = lock(&dest).unwrap();
        let f = File::open(held.path()).unwrap();
        assert!(f.try_lock().is_err());
        drop(held);
        assert!(f.try_lock().is_ok());
    }
}
