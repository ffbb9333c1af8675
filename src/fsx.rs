//! Directory-fd-relative filesystem primitives with errors that name the
//! operation and the path.
//!
//! Invariants every caller relies on:
//! - below a root opened by the user's path, every directory is entered
//!   with `openat(O_DIRECTORY | O_NOFOLLOW)`, so a symlink planted in a tree
//!   being written can never redirect a write outside it;
//! - files are never modified in place: [`DirFd::replace_file`] writes a
//!   sibling temporary file and renames it over the original, which leaves
//!   every other hard link to the old inode untouched;
//! - every error carries the operation and the full path(s), and formats as
//!   `<operation> <path>: <reason>`.

use std::ffi::{CString, OsStr};
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{self as sys, AtFlags, Gid, Mode, OFlags, Timespec, Timestamps, Uid};

/// The result of `stat`/`lstat`/`fstat`: what every module inspects an
/// entry through (this module owns the syscall crate's type).
pub type FileStat = rustix::fs::Stat;

/// An OS error number, as every fallible filesystem call here reports it.
/// Compared by value (`Errno::ENOENT`, also in patterns); shown to the
/// user only through [`Errno::reason`], never with Rust's "(os error N)".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i32);

/// The errno constants ppd names, with the reason text each has always
/// shown in ppd's messages (the kernel headers' wording, which is not
/// the C library's: "I/O error", "Cross-device link").
macro_rules! errnos {
    ($($name:ident = $rx:ident, $text:literal;)*) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno(rustix::io::Errno::$rx.raw_os_error());
            )*
        }

        /// The name and reason of a known errno.
        fn known(n: i32) -> Option<(&'static str, &'static str)> {
            $(
                if n == Errno::$name.0 {
                    return Some((stringify!($name), $text));
                }
            )*
            None
        }
    };
}

errnos! {
    EPERM = PERM, "Operation not permitted";
    ENOENT = NOENT, "No such file or directory";
    ESRCH = SRCH, "No such process";
    EINTR = INTR, "Interrupted system call";
    EIO = IO, "I/O error";
    ENXIO = NXIO, "No such device or address";
    E2BIG = TOOBIG, "Argument list too long";
    ENOEXEC = NOEXEC, "Exec format error";
    EBADF = BADF, "Bad file number";
    ECHILD = CHILD, "No child processes";
    EAGAIN = AGAIN, "Try again";
    ENOMEM = NOMEM, "Out of memory";
    EACCES = ACCESS, "Permission denied";
    EFAULT = FAULT, "Bad address";
    ENOTBLK = NOTBLK, "Block device required";
    EBUSY = BUSY, "Device or resource busy";
    EEXIST = EXIST, "File exists";
    EXDEV = XDEV, "Cross-device link";
    ENODEV = NODEV, "No such device";
    ENOTDIR = NOTDIR, "Not a directory";
    EISDIR = ISDIR, "Is a directory";
    EINVAL = INVAL, "Invalid argument";
    ENFILE = NFILE, "File table overflow";
    EMFILE = MFILE, "Too many open files";
    ENOTTY = NOTTY, "Not a typewriter";
    ETXTBSY = TXTBSY, "Text file busy";
    EFBIG = FBIG, "File too large";
    ENOSPC = NOSPC, "No space left on device";
    ESPIPE = SPIPE, "Illegal seek";
    EROFS = ROFS, "Read-only file system";
    EMLINK = MLINK, "Too many links";
    EPIPE = PIPE, "Broken pipe";
    EDOM = DOM, "Math argument out of domain of func";
    ERANGE = RANGE, "Math result not representable";
    EDEADLK = DEADLK, "Resource deadlock would occur";
    ENAMETOOLONG = NAMETOOLONG, "File name too long";
    ENOLCK = NOLCK, "No record locks available";
    ENOSYS = NOSYS, "Function not implemented";
    ENOTEMPTY = NOTEMPTY, "Directory not empty";
    ELOOP = LOOP, "Too many symbolic links encountered";
    ENODATA = NODATA, "No data available";
    ETIMEDOUT = TIMEDOUT, "Connection timed out";
    EBADMSG = BADMSG, "Not a data message";
    EOVERFLOW = OVERFLOW, "Value too large for defined data type";
    EILSEQ = ILSEQ, "Illegal byte sequence";
    EOPNOTSUPP = OPNOTSUPP, "Operation not supported on transport endpoint";
    ESTALE = STALE, "Stale file handle";
    EUCLEAN = UCLEAN, "Structure needs cleaning";
    EREMOTEIO = REMOTEIO, "Remote I/O error";
    EDQUOT = DQUOT, "Quota exceeded";
    ENOMEDIUM = NOMEDIUM, "No medium found";
}

impl Errno {
    /// The errno with this number.
    pub const fn from_raw(n: i32) -> Errno {
        Errno(n)
    }

    /// The number.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The reason shown after `<operation> <path>: ` in every message:
    /// the fixed text of `errnos!` for the errors ppd meets, the C
    /// library's text (without "(os error N)") for any other.
    pub fn reason(self) -> std::borrow::Cow<'static, str> {
        if let Some((_, text)) = known(self.0) {
            return text.into();
        }
        let s = std::io::Error::from_raw_os_error(self.0).to_string();
        match s.rfind(" (os error ") {
            Some(i) => s[..i].to_owned().into(),
            None => s.into(),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match known(self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(e: rustix::io::Errno) -> Errno {
        Errno(e.raw_os_error())
    }
}

/// A failed filesystem operation: what was being done, on which path(s), and why.
#[derive(Debug)]
pub struct FsError {
    op: &'static str,
    path: PathBuf,
    other: Option<PathBuf>,
    errno: Errno,
}

impl FsError {
    /// Builds an error for `op` on `path`.
    pub fn new(op: &'static str, path: impl Into<PathBuf>, errno: impl Into<Errno>) -> FsError {
        FsError {
            op,
            path: path.into(),
            other: None,
            errno: errno.into(),
        }
    }

    /// Builds an error for a two-path operation such as a link or rename.
    pub fn two(
        op: &'static str,
        from: impl Into<PathBuf>,
        to: impl Into<PathBuf>,
        errno: impl Into<Errno>,
    ) -> FsError {
        FsError {
            op,
            path: from.into(),
            other: Some(to.into()),
            errno: errno.into(),
        }
    }

    /// Returns the underlying errno.
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// Returns the (first) path involved.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the second path of a two-path operation (the destination of
    /// a link or rename).
    pub fn other(&self) -> Option<&Path> {
        self.other.as_deref()
    }

    /// The same error naming `real` wherever it named a temporary standing
    /// in for it: an error line names the user's path, never a
    /// temporary's (a rename of the temporary over `real` becomes an
    /// error about `real` alone).
    pub fn naming(mut self, real: &Path) -> FsError {
        let temp = |p: &Path| p.file_name().is_some_and(|n| is_temp(n.as_bytes()));
        if self.other.as_deref().is_some_and(temp) {
            self.other = Some(real.to_path_buf());
        }
        if temp(&self.path) {
            self.path = real.to_path_buf();
        }
        if self.other.as_deref() == Some(real) && self.path == real {
            // The rename of the temporary over the user's path.
            self.other = None;
            self.op = "replacing";
        }
        self
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.other {
            None => write!(f, "{} {}", self.op, show(&self.path))?,
            Some(o) => write!(f, "{} {} to {}", self.op, show(&self.path), show(o))?,
        }
        write!(f, ": {}", self.errno.reason())
    }
}

/// Shows a path in a message: as text, with control characters and bytes
/// that are not UTF-8 escaped (`\n`, `\t`, `\x1b`, `\xe9`) and a
/// backslash doubled, so an error stays one line and names the file
/// unambiguously; the empty path shows as `''`.
pub fn show(p: &Path) -> Shown<'_> {
    Shown(p.as_os_str().as_bytes())
}

/// Shows a byte path or name (a root-relative path, a symlink target, an
/// RPATH) the way [`show`] shows a path.
pub fn show_bytes(b: &[u8]) -> Shown<'_> {
    Shown(b)
}

/// Bytes in double quotes, shown as [`show_bytes`] shows them (`""` when
/// empty): a field quoted in a parse error.
pub fn quote_bytes(b: &[u8]) -> String {
    if b.is_empty() {
        return "\"\"".to_owned();
    }
    format!("\"{}\"", Shown(b))
}

/// A path formatted by [`show`].
pub struct Shown<'a>(&'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("''");
        }
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\n' => f.write_str("\\n")?,
                    '\t' => f.write_str("\\t")?,
                    '\r' => f.write_str("\\r")?,
                    '\\' => f.write_str("\\\\")?,
                    c if c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
                    c => write!(f, "{c}")?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for FsError {}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, FsError>;

/// Converts a byte name or path to a C string (names never contain NUL).
pub fn cstr(bytes: &[u8]) -> CString {
    CString::new(bytes).expect("BUG: file names cannot contain NUL")
}

/// Joins a relative byte path onto a base path for messages and absolute calls.
pub fn join(base: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(OsStr::from_bytes(rel))
    }
}

/// Splits a relative byte path into its parent (empty at the top) and
/// its last component.
pub fn split_rel(rel: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memrchr(b'/', rel) {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// The kind of a directory entry, as far as ppd cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A device, fifo or socket: hard-linked like a file.
    Other,
}

impl Kind {
    /// Returns the kind of an `st_mode`.
    pub fn from_mode(mode: u32) -> Kind {
        match mode & libc_s_ifmt() {
            0o100000 => Kind::File,
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink,
            _ => Kind::Other,
        }
    }

    /// Returns the kind as one word, for messages and manifests.
    pub fn word(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::Other => "special file",
        }
    }
}

const fn libc_s_ifmt() -> u32 {
    0o170000
}

/// Identity of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileKey {
    /// Returns the key of a stat result.
    pub fn of(st: &FileStat) -> FileKey {
        FileKey {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// A modification time with nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mtime {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds.
    pub nsec: i64,
}

impl Mtime {
    /// Returns the mtime of a stat result.
    pub fn of(st: &FileStat) -> Mtime {
        Mtime {
            sec: st.st_mtime,
            nsec: st.st_mtime_nsec as i64,
        }
    }

    /// The timestamps that set this mtime and leave the atime alone.
    fn times(self) -> Timestamps {
        Timestamps {
            last_access: Timespec {
                tv_sec: 0,
                tv_nsec: sys::UTIME_OMIT,
            },
            last_modification: Timespec {
                tv_sec: self.sec,
                tv_nsec: self.nsec,
            },
        }
    }
}

/// The birth time of `name` relative to `dir` (never following a
/// symlink), where the filesystem records one.
pub fn born_at(dir: BorrowedFd<'_>, name: impl AsRef<[u8]>) -> Option<Mtime> {
    use rustix::fs::{statx, AtFlags as RxAt, StatxFlags};
    let name = CString::new(name.as_ref()).ok()?;
    let sx = statx(dir, &name, RxAt::SYMLINK_NOFOLLOW, StatxFlags::BTIME).ok()?;
    if sx.stx_mask & StatxFlags::BTIME.bits() == 0 {
        return None;
    }
    Some(Mtime {
        sec: sx.stx_btime.tv_sec,
        nsec: i64::from(sx.stx_btime.tv_nsec),
    })
}

/// The identity of the directory a user's path names (symlinks followed,
/// as [`DirFd::open`] does): device and inode, and the birth time where
/// the filesystem records one. A directory removed and created anew can
/// get its inode number back, never its birth time.
pub fn dir_identity(path: &Path) -> Option<(FileKey, Option<Mtime>)> {
    use rustix::fs::{statx, AtFlags as RxAt, StatxFlags};
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let sx = statx(
        rustix::fs::CWD,
        &c,
        RxAt::empty(),
        StatxFlags::INO | StatxFlags::BTIME,
    )
    .ok()?;
    let key = FileKey {
        dev: rustix::fs::makedev(sx.stx_dev_major, sx.stx_dev_minor),
        ino: sx.stx_ino,
    };
    let born = (sx.stx_mask & StatxFlags::BTIME.bits() != 0).then(|| Mtime {
        sec: sx.stx_btime.tv_sec,
        nsec: i64::from(sx.stx_btime.tv_nsec),
    });
    Some((key, born))
}

/// Returns true if `a` and `b` are both regular files (never following a
/// symlink) with the same mode bits, size and bytes. Any error reading
/// either counts as different.
pub fn same_file_content(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .read(true)
            // Never a symlink, and never blocking on a fifo swapped in.
            .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32)
            .open(p)
    };
    let (Ok(fa), Ok(fb)) = (open(a), open(b)) else {
        return false;
    };
    same_open_content(&fa, &fb)
}

/// [`same_file_content`] for two files already open.
pub fn same_open_content(fa: &std::fs::File, fb: &std::fs::File) -> bool {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let (Ok(ma), Ok(mb)) = (fa.metadata(), fb.metadata()) else {
        return false;
    };
    if !ma.is_file() || !mb.is_file() || ma.len() != mb.len() || ma.mode() != mb.mode() {
        return false;
    }
    let (mut fa, mut fb) = (fa, fb);
    let (mut ba, mut bb) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let n = match fa.read(&mut ba) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            // Same length checked above; b must be at its end too.
            return matches!(fb.read(&mut bb[..1]), Ok(0));
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// `lstat` of a user's path (a final symlink not followed).
pub fn lstat(path: &Path) -> std::result::Result<FileStat, Errno> {
    sys::lstat(path).map_err(Errno::from)
}

/// `stat` of a user's path (symlinks followed).
pub fn stat_path(path: &Path) -> std::result::Result<FileStat, Errno> {
    sys::stat(path).map_err(Errno::from)
}

/// `fstat` of an open file.
pub fn fstat(fd: impl AsFd) -> std::result::Result<FileStat, Errno> {
    sys::fstat(fd).map_err(Errno::from)
}

/// `fstatat(AT_SYMLINK_NOFOLLOW)` of a path relative to a directory.
pub fn lstat_at(dir: BorrowedFd<'_>, rel: &[u8]) -> std::result::Result<FileStat, Errno> {
    sys::statat(dir, rel, AtFlags::SYMLINK_NOFOLLOW).map_err(Errno::from)
}

/// Returns true if and only if this process runs as root, so ownership can be kept.
pub fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| rustix::process::geteuid().is_root())
}

/// The most bytes one `write` call is given by [`write_chunked`].
///
/// Measured on Linux 6.18 (ext4) here: one `write` of 2 MiB or more into a
/// new file, right after a merge, took 10-143 ms (in the kernel's copy
/// into the page cache); the same 5.6 MB in 1 MiB calls took 1.4-2.2 ms,
/// and 2 MiB calls were as slow as one. A manifest of a 50,000-entry tree
/// is that size.
pub const WRITE_CHUNK: usize = 1 << 20;

/// Writes all of `data` to `f` in calls of at most [`WRITE_CHUNK`] bytes.
/// Every file ppd writes goes through here (or [`write_path`]).
pub fn write_chunked(f: &mut std::fs::File, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    data.chunks(WRITE_CHUNK).try_for_each(|c| f.write_all(c))
}

/// `std::fs::write` through [`write_chunked`]: creates or truncates `path`.
pub fn write_path(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_chunked(&mut std::fs::File::create(path)?, data)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How every temporary ppd creates inside a tree begins: the full name is
/// `.ppd-tmp.<pid>.<n>` ([`temp_name`], [`is_temp`]).
pub const TEMP_PREFIX: &[u8] = b".ppd-tmp.";

/// Returns a fresh temporary name for a sibling of the file being replaced.
pub fn temp_name() -> Vec<u8> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".ppd-tmp.{}.{}", std::process::id(), n).into_bytes()
}

/// Returns true for a name [`temp_name`] gives: `.ppd-tmp.<digits>.<digits>`.
///
/// A temporary lives only between its creation and the rename over the
/// name it stands for. The pattern alone proves nothing (a package may
/// install a file of that name, and rsync copies it): a listing leaves a
/// name out only when it provably is a temporary ([`DirFd::is_stray`]),
/// and the next run holding the tree's lock removes only those
/// ([`crate::lock`]).
pub fn is_temp(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match memchr::memchr(b'.', rest) {
        Some(i) => digits(&rest[..i]) && digits(&rest[i + 1..]),
        None => false,
    }
}

/// The pid in a temporary's name (`.ppd-tmp.<pid>.<n>`).
pub fn temp_pid(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let pid = &rest[..memchr::memchr(b'.', rest)?];
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// Open handles [`DirFd::remove_tree`] keeps on its way down.
const REMOVE_KEEP: usize = 16;

/// One directory [`DirFd::remove_tree`] is emptying.
struct RemoveLevel {
    name: Vec<u8>,
    /// Its handle, if still open.
    fd: Option<DirFd>,
    /// The names in it still to remove.
    todo: Vec<(Vec<u8>, Option<Kind>)>,
}

/// An open directory plus the path it was reached by (for messages only).
#[derive(Debug)]
pub struct DirFd {
    fd: OwnedFd,
    path: PathBuf,
}

impl AsFd for DirFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOFOLLOW);

impl DirFd {
    /// Opens a directory named by the user. Symlinks in this path are
    /// followed, as rsync and cp do for their arguments; nothing below it is.
    pub fn open(path: &Path) -> Result<DirFd> {
        let flags = DIR_FLAGS.difference(OFlags::NOFOLLOW);
        let fd = sys::openat(sys::CWD, path, flags, Mode::empty())
            .map_err(|e| FsError::new("opening directory", path, e))?;
        Ok(DirFd {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Creates a user-named directory and its parents (`mkdir -p`), then opens it.
    pub fn create_all(path: &Path) -> Result<DirFd> {
        match DirFd::open(path) {
            Ok(d) => Ok(d),
            Err(e) if e.errno() == Errno::ENOENT => {
                std::fs::create_dir_all(path).map_err(|io| {
                    FsError::new(
                        "creating directory",
                        path,
                        Errno::from_raw(io.raw_os_error().unwrap_or(0)),
                    )
                })?;
                DirFd::open(path)
            }
            Err(e) => Err(e),
        }
    }

    /// Returns the path this directory was reached by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the full path of a child, for messages.
    pub fn child_path(&self, name: &[u8]) -> PathBuf {
        join(&self.path, name)
    }

    /// Opens a child directory without following a symlink.
    pub fn open_child(&self, name: &[u8]) -> Result<DirFd> {
        let fd = sys::openat(self.fd.as_fd(), name, DIR_FLAGS, Mode::empty())
            .map_err(|e| FsError::new("opening directory", self.child_path(name), e))?;
        Ok(DirFd {
            fd,
            path: self.child_path(name),
        })
    }

    /// Opens the directory `rel` below this one (`/`-separated, no `.` or
    /// `..`) with one `openat2` that refuses a symlink anywhere on the way
    /// (`RESOLVE_NO_SYMLINKS`, `RESOLVE_BENEATH`): what opening it one
    /// component at a time with `O_NOFOLLOW` gives, in one call. `None`
    /// where that fails for any reason (a kernel before 5.6, a symlink, a
    /// missing directory, a path too long, a concurrent rename): the
    /// caller then goes one component at a time, which names what is
    /// wrong.
    pub fn open_resolved(&self, rel: &[u8]) -> Option<DirFd> {
        use rustix::fs::ResolveFlags as R;
        let how = R::NO_SYMLINKS | R::NO_MAGICLINKS | R::BENEATH;
        let fd = sys::openat2(self.fd.as_fd(), rel, DIR_FLAGS, Mode::empty(), how).ok()?;
        Some(DirFd {
            fd,
            path: join(&self.path, rel),
        })
    }

    /// Opens a directory below this one, one component at a time, never
    /// following a symlink. `rel` uses `/` separators; empty means self.
    pub fn open_beneath(&self, rel: &[u8]) -> Result<DirFd> {
        let mut cur = self.try_clone()?;
        for comp in rel
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
        {
            if comp == b".." {
                return Err(FsError::new(
                    "opening directory",
                    self.child_path(rel),
                    Errno::EXDEV,
                ));
            }
            cur = cur.open_child(comp)?;
        }
        Ok(cur)
    }

    /// Duplicates the descriptor.
    pub fn try_clone(&self) -> Result<DirFd> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| FsError::new("duplicating descriptor of", &self.path, errno_of(&e)))?;
        Ok(DirFd {
            fd,
            path: self.path.clone(),
        })
    }

    /// Creates a child directory. Returns false if something already exists there.
    pub fn mkdir(&self, name: &[u8], mode: u32) -> Result<bool> {
        match sys::mkdirat(self.fd.as_fd(), name, Mode::from_raw_mode(mode)).map_err(Errno::from) {
            Ok(()) => Ok(true),
            Err(Errno::EEXIST) => Ok(false),
            Err(e) => Err(FsError::new("creating directory", self.child_path(name), e)),
        }
    }

    /// `fstatat(AT_SYMLINK_NOFOLLOW)` on a child; `Ok(None)` if it does not exist.
    pub fn stat(&self, name: &[u8]) -> Result<Option<FileStat>> {
        match lstat_at(self.fd.as_fd(), name) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(FsError::new("inspecting", self.child_path(name), e)),
        }
    }

    /// The birth time of a child (never following a symlink), where the
    /// filesystem records one (`statx` `STATX_BTIME`); `None` otherwise or
    /// if the child cannot be inspected.
    pub fn born(&self, name: &[u8]) -> Option<Mtime> {
        born_at(self.fd.as_fd(), name)
    }

    /// `fstat` on the directory itself.
    pub fn stat_self(&self) -> Result<FileStat> {
        fstat(self.fd.as_fd()).map_err(|e| FsError::new("inspecting", &self.path, e))
    }

    /// Hard-links `src` (a child of another open directory, never followed
    /// if it is a symlink) to the child `name`. Returns the raw errno so
    /// callers can treat EEXIST, EXDEV and EMLINK as the normal cases they
    /// are.
    pub fn link_from(&self, src: At<'_>, name: &[u8]) -> std::result::Result<(), Errno> {
        self.link_at(src.dir, src.name, name)
    }

    /// Hard-links a child of `src_dir` into this directory.
    pub fn link_at(
        &self,
        src_dir: &DirFd,
        src_name: &[u8],
        name: &[u8],
    ) -> std::result::Result<(), Errno> {
        sys::linkat(
            src_dir.fd.as_fd(),
            src_name,
            self.fd.as_fd(),
            name,
            AtFlags::empty(),
        )
        .map_err(Errno::from)
    }

    /// Creates a symlink child; raw errno for the caller.
    pub fn symlink(&self, target: &[u8], name: &[u8]) -> std::result::Result<(), Errno> {
        sys::symlinkat(target, self.fd.as_fd(), name).map_err(Errno::from)
    }

    /// Reads a child symlink's target.
    pub fn readlink(&self, name: &[u8]) -> Result<Vec<u8>> {
        // A buffer of PATH_MAX: any target is read in one call.
        sys::readlinkat(self.fd.as_fd(), name, Vec::with_capacity(4096))
            .map(CString::into_bytes)
            .map_err(|e| FsError::new("reading symlink", self.child_path(name), e))
    }

    /// Renames a child over another child of the same directory.
    pub fn rename(&self, from: &[u8], to: &[u8]) -> Result<()> {
        sys::renameat(self.fd.as_fd(), from, self.fd.as_fd(), to)
            .map_err(|e| FsError::two("renaming", self.child_path(from), self.child_path(to), e))
    }

    /// Removes a child file, symlink or (with `dir`) empty directory.
    pub fn unlink(&self, name: &[u8], dir: bool) -> Result<()> {
        let flag = if dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        sys::unlinkat(self.fd.as_fd(), name, flag)
            .map_err(|e| FsError::new("removing", self.child_path(name), e))
    }

    /// Removes a child and everything below it, never following symlinks.
    ///
    /// Depth first without recursion: one `RemoveLevel` per directory
    /// on the way down (the names it still holds), of which only the
    /// deepest `REMOVE_KEEP` keep their handle open; a level whose handle
    /// was closed is opened again from the nearest open one above it (or
    /// from `self`), one component at a time. Neither the stack nor the
    /// open handles grow with the depth of the tree.
    pub fn remove_tree(&self, name: &[u8]) -> Result<()> {
        match self.stat(name)? {
            None => return Ok(()),
            Some(st) if Kind::from_mode(st.st_mode) != Kind::Dir => {
                return self.unlink(name, false)
            }
            Some(_) => {}
        }
        let first = self.open_child(name)?;
        let todo = first.list()?;
        let mut levels = vec![RemoveLevel {
            name: name.to_vec(),
            fd: Some(first),
            todo,
        }];
        while let Some(last) = levels.len().checked_sub(1) {
            if levels[last].fd.is_none() {
                self.reopen_levels(&mut levels)?;
            }
            let Some((child, kind)) = levels[last].todo.pop() else {
                // Emptied: remove it from its parent (or from `self`).
                let done = levels.pop().expect("BUG: a level was just seen");
                drop(done.fd);
                if levels.last().is_some_and(|l| l.fd.is_none()) {
                    self.reopen_levels(&mut levels)?;
                }
                match levels.last() {
                    Some(parent) => parent
                        .fd
                        .as_ref()
                        .expect("BUG: reopened")
                        .unlink(&done.name, true)?,
                    None => self.unlink(&done.name, true)?,
                }
                continue;
            };
            let dir = levels[last].fd.as_ref().expect("BUG: reopened");
            let is_dir = match kind {
                Some(k) => k == Kind::Dir,
                None => dir
                    .stat(&child)?
                    .is_some_and(|st| Kind::from_mode(st.st_mode) == Kind::Dir),
            };
            if !is_dir {
                dir.unlink(&child, false)?;
                continue;
            }
            let sub = dir.open_child(&child)?;
            let todo = sub.list()?;
            levels.push(RemoveLevel {
                name: child,
                fd: Some(sub),
                todo,
            });
            if levels.len() > REMOVE_KEEP {
                let shallow = levels.len() - 1 - REMOVE_KEEP;
                levels[shallow].fd = None;
            }
        }
        Ok(())
    }

    /// Opens the handles of the deepest levels again, from the nearest
    /// open level above them (or from `self`), keeping at most
    /// [`REMOVE_KEEP`] open.
    fn reopen_levels(&self, levels: &mut [RemoveLevel]) -> Result<()> {
        let last = levels.len() - 1;
        let from = levels.iter().rposition(|l| l.fd.is_some());
        let start = from.map_or(0, |i| i + 1);
        for i in start..=last {
            let fd = match i.checked_sub(1).and_then(|p| levels[p].fd.as_ref()) {
                Some(parent) => parent.open_child(&levels[i].name)?,
                None if i == 0 => self.open_child(&levels[0].name)?,
                None => unreachable!("BUG: levels are reopened from the top down"),
            };
            levels[i].fd = Some(fd);
            if let Some(old) = i.checked_sub(REMOVE_KEEP) {
                levels[old].fd = None;
            }
        }
        Ok(())
    }

    /// Lists the children (name, d_type-derived kind if known), unsorted.
    pub fn list(&self) -> Result<Vec<(Vec<u8>, Option<Kind>)>> {
        Ok(self
            .entries()?
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect())
    }

    /// Lists the children with their `d_type` kind (if the filesystem reports
    /// one) and `d_ino`, unsorted, without `stat`ing anything.
    pub fn entries(&self) -> Result<Vec<RawEntry>> {
        // Rewind first so the listing is complete even if the descriptor
        // was read before.
        rustix::fs::seek(self.fd.as_fd(), rustix::fs::SeekFrom::Start(0))
            .map_err(|e| FsError::new("reading directory", &self.path, Errno::from(e)))?;
        self.fresh_entries()
    }

    /// [`DirFd::entries`] for a descriptor that has not been read yet (just
    /// opened), saving the rewind. Temporaries ([`is_temp`]) are left out.
    pub fn fresh_entries(&self) -> Result<Vec<RawEntry>> {
        self.read_entries(false)
    }

    /// The names matching the temporaries' pattern ([`is_temp`]) in this
    /// directory, and its subdirectories, for [`crate::lock`]'s sweep
    /// (which removes those born at or after the tree's mark).
    pub fn temporaries_and_subdirs(&self) -> Result<TempsAndDirs> {
        rustix::fs::seek(self.fd.as_fd(), rustix::fs::SeekFrom::Start(0))
            .map_err(|e| FsError::new("reading directory", &self.path, Errno::from(e)))?;
        let mut temps = Vec::new();
        let mut dirs = Vec::new();
        for e in self.read_entries(true)? {
            // ppd never makes a directory under a temporary's name.
            if is_temp(&e.name) && e.kind != Some(Kind::Dir) {
                temps.push(e.name);
            } else if e.kind == Some(Kind::Dir)
                || (e.kind.is_none()
                    && self
                        .stat(&e.name)?
                        .is_some_and(|st| Kind::from_mode(st.st_mode) == Kind::Dir))
            {
                dirs.push(e.name);
            }
        }
        Ok((temps, dirs))
    }

    /// True if the child `name` (found in a listing) is a temporary of a
    /// ppd run rather than an entry: its name matches [`is_temp`], and
    /// either this process made it (its pid in the name) or it lies in a
    /// tree whose lock file is marked (a run writing it died or failed)
    /// and that run made it ([`crate::lock::Mark::claims`]). A package's
    /// file of the pattern's name is an entry (rsync copies it).
    pub fn is_stray(&self, name: &[u8]) -> bool {
        if !is_temp(name) {
            return false;
        }
        if temp_pid(name) == Some(std::process::id()) {
            return true;
        }
        crate::lock::enclosing_mark(&self.path).is_some_and(|m| m.claims(self, name))
    }

    /// The change time (ctime) of a child, never following a symlink;
    /// `None` if it cannot be inspected.
    pub fn changed(&self, name: &[u8]) -> Option<Mtime> {
        let st = lstat_at(self.fd.as_fd(), name).ok()?;
        Some(Mtime {
            sec: st.st_ctime,
            nsec: st.st_ctime_nsec as i64,
        })
    }

    fn read_entries(&self, temps: bool) -> Result<Vec<RawEntry>> {
        use std::mem::MaybeUninit;
        // getdents64 straight on this descriptor: no second open, no
        // fdopendir checks.
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut raw = rustix::fs::RawDir::new(self.fd.as_fd(), &mut buf);
        let mut out = Vec::new();
        while let Some(ent) = raw.next() {
            let ent =
                ent.map_err(|e| FsError::new("reading directory", &self.path, Errno::from(e)))?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." || (!temps && self.is_stray(name)) {
                continue;
            }
            use rustix::fs::FileType as T;
            let kind = match ent.file_type() {
                T::RegularFile => Some(Kind::File),
                T::Directory => Some(Kind::Dir),
                T::Symlink => Some(Kind::Symlink),
                T::Unknown => None,
                _ => Some(Kind::Other),
            };
            out.push(RawEntry {
                name: name.to_vec(),
                kind,
                ino: ent.ino(),
            });
        }
        Ok(out)
    }

    /// Sets mode, owner (when root) and mtime of a child without following
    /// symlinks (mode is skipped for symlinks, which have none on Linux).
    pub fn set_meta(&self, name: &[u8], meta: &Meta) -> Result<()> {
        let path = || self.child_path(name);
        if is_root() {
            sys::chownat(
                self.fd.as_fd(),
                name,
                Some(Uid::from_raw_unchecked(meta.uid)),
                Some(Gid::from_raw_unchecked(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| FsError::new("changing owner of", path(), e))?;
        }
        if meta.kind != Kind::Symlink {
            sys::chmodat(
                self.fd.as_fd(),
                name,
                Mode::from_raw_mode(meta.mode & 0o7777),
                AtFlags::empty(),
            )
            .map_err(|e| FsError::new("changing mode of", path(), e))?;
        }
        sys::utimensat(
            self.fd.as_fd(),
            name,
            &meta.mtime.times(),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| FsError::new("setting times of", path(), e))
    }

    /// Sets the mtime of this directory itself (nothing else).
    pub fn set_own_mtime(&self, mtime: Mtime) -> Result<()> {
        sys::futimens(self.fd.as_fd(), &mtime.times())
            .map_err(|e| FsError::new("setting times of", &self.path, Errno::from(e)))
    }

    /// Sets mode, owner (when root) and mtime of this directory itself.
    pub fn set_own_meta(&self, meta: &Meta) -> Result<()> {
        set_fd_meta(self.fd.as_fd(), meta).map_err(|(op, e)| FsError::new(op, &self.path, e))
    }

    /// Creates a new file child exclusively (never through a symlink), mode 0600.
    pub fn create_exclusive(&self, name: &[u8]) -> Result<std::fs::File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = sys::openat(self.fd.as_fd(), name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| FsError::new("creating", self.child_path(name), e))?;
        Ok(std::fs::File::from(fd))
    }

    /// Opens a child regular file for reading, never through a symlink.
    pub fn open_file(&self, name: &[u8]) -> Result<std::fs::File> {
        // O_NONBLOCK: a fifo where a file was expected (a tree changed
        // under a run) opens at once instead of waiting for a writer; it
        // changes nothing for a regular file.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = sys::openat(self.fd.as_fd(), name, flags, Mode::empty())
            .map_err(|e| FsError::new("opening", self.child_path(name), e))?;
        Ok(std::fs::File::from(fd))
    }

    /// Atomically replaces the child `name` with a new file holding `data`,
    /// with the metadata `meta` (mode, owner when root, mtime). The old inode
    /// is never written: other hard links to it keep the old content.
    ///
    /// An error names `name` (the user's file), never the temporary, which
    /// is removed.
    pub fn replace_file(&self, name: &[u8], data: &[u8], meta: &Meta) -> Result<()> {
        self.via_temporary(name, &temp_name(), 0o600, data, Some(meta))
    }

    /// Writes `data` as the child file `name`, created with mode 0666 minus
    /// the umask like a plain write, through a temporary in this directory
    /// renamed over `name`: a symlink or hard link found at `name` is
    /// replaced, never followed or written through. An error names `name`.
    ///
    /// The temporary's name is fixed (`.ppd-tmp.` and `name` without its
    /// leading dot), so one a killed run left is removed by the next write:
    /// writers of one file must be serialized (file-list's output directory
    /// is one package's build directory, written by one step at a time).
    pub fn write_file(&self, name: &[u8], data: &[u8]) -> Result<()> {
        let mut tmp = TEMP_PREFIX.to_vec();
        tmp.extend_from_slice(name.strip_prefix(b".").unwrap_or(name));
        match sys::unlinkat(self.fd.as_fd(), tmp.as_slice(), AtFlags::empty()).map_err(Errno::from)
        {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(FsError::new("writing", self.child_path(name), e)),
        }
        self.via_temporary(name, &tmp, 0o666, data, None)
    }

    fn via_temporary(
        &self,
        name: &[u8],
        tmp: &[u8],
        mode: u32,
        data: &[u8],
        meta: Option<&Meta>,
    ) -> Result<()> {
        let result = (|| {
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = sys::openat(self.fd.as_fd(), tmp, flags, Mode::from_raw_mode(mode))
                .map_err(Errno::from)?;
            let mut f = std::fs::File::from(fd);
            write_chunked(&mut f, data).map_err(|e| errno_of(&e))?;
            drop(f);
            if let Some(meta) = meta {
                self.set_meta(tmp, meta).map_err(|e| e.errno())?;
            }
            sys::renameat(self.fd.as_fd(), tmp, self.fd.as_fd(), name).map_err(Errno::from)
        })();
        result.map_err(|errno| {
            let _ = self.unlink(tmp, false);
            FsError::new("writing", self.child_path(name), errno)
        })
    }
}

/// The temporaries and the subdirectories of a directory, by name.
pub type TempsAndDirs = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// A child of an open directory: how an entry of a source tree is named
/// for reading, linking and copying, so that no path is resolved below the
/// tree's root (paths longer than `PATH_MAX` work, and a directory swapped
/// for a symlink is never followed).
#[derive(Clone, Copy, Debug)]
pub struct At<'a> {
    /// The directory.
    pub dir: &'a DirFd,
    /// The child's name.
    pub name: &'a [u8],
}

impl At<'_> {
    /// Returns the child's full path, for messages.
    pub fn path(&self) -> PathBuf {
        self.dir.child_path(self.name)
    }
}

/// A directory entry as `getdents` reports it.
#[derive(Clone, Debug)]
pub struct RawEntry {
    /// The file name.
    pub name: Vec<u8>,
    /// The type from `d_type`, if the filesystem reports one.
    pub kind: Option<Kind>,
    /// `d_ino`.
    pub ino: u64,
}

/// Metadata ppd preserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Entry kind.
    pub kind: Kind,
    /// Permission bits (and type bits, ignored).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Mtime,
}

impl Meta {
    /// Returns the preserved metadata of a stat result.
    pub fn of(st: &FileStat) -> Meta {
        Meta {
            kind: Kind::from_mode(st.st_mode),
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            mtime: Mtime::of(st),
        }
    }
}

/// Sets owner (as root), mode and mtime through an open descriptor. Owner
/// first: `chown` clears set-id bits that the mode then restores. An error
/// says which step failed.
pub fn set_fd_meta(fd: impl AsFd, meta: &Meta) -> std::result::Result<(), (&'static str, Errno)> {
    let fd = fd.as_fd();
    if is_root() {
        sys::fchown(
            fd,
            Some(Uid::from_raw_unchecked(meta.uid)),
            Some(Gid::from_raw_unchecked(meta.gid)),
        )
        .map_err(|e| ("changing owner of", e.into()))?;
    }
    sys::fchmod(fd, Mode::from_raw_mode(meta.mode & 0o7777))
        .map_err(|e| ("changing mode of", e.into()))?;
    sys::futimens(fd, &meta.mtime.times()).map_err(|e| ("setting times of", e.into()))
}

/// Returns the errno of an `io::Error` (EIO if it has none).
pub fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc_eio()))
}

const fn libc_eio() -> i32 {
    5
}

/// Returns a path's bytes.
pub fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn remove_tree_empties_a_tree_deeper_than_its_handles_and_path_max() {
        let t = tempfile::tempdir().unwrap();
        let root = DirFd::open(t.path()).unwrap();
        root.mkdir(b"top", 0o755).unwrap();
        let mut dir = root.open_child(b"top").unwrap();
        // 300 levels of 20-byte names (6,300 bytes of path), a file, a
        // symlink and a second subdirectory at every level.
        let name = [b'd'; 20];
        for _ in 0..300 {
            dir.create_exclusive(b"f").unwrap();
            dir.symlink(b"/etc", b"l").unwrap();
            dir.mkdir(b"e", 0o755).unwrap();
            dir.mkdir(&name, 0o755).unwrap();
            dir = dir.open_child(&name).unwrap();
        }
        drop(dir);
        root.remove_tree(b"top").unwrap();
        assert!(root.stat(b"top").unwrap().is_none());
        // A file and a missing name.
        root.create_exclusive(b"file").unwrap();
        root.remove_tree(b"file").unwrap();
        root.remove_tree(b"missing").unwrap();
        assert!(root.list().unwrap().is_empty());
    }

    use super::*;

    #[test]
    fn error_names_operation_and_path() {
        let e = FsError::new("creating directory", "/x/y", Errno::EACCES);
        assert_eq!(e.to_string(), "creating directory /x/y: Permission denied");
        let e = FsError::two("hard-linking", "/a", "/b", Errno::EXDEV);
        assert_eq!(e.to_string(), "hard-linking /a to /b: Cross-device link");
    }

    /// The reason of every errno ppd reports, exactly as its messages
    /// (and the tests asserting them) have always shown it.
    #[test]
    fn reasons_are_the_kernel_wording() {
        let expected = [
            (Errno::ENOENT, "No such file or directory"),
            (Errno::EACCES, "Permission denied"),
            (Errno::EPERM, "Operation not permitted"),
            (Errno::ENOSPC, "No space left on device"),
            (Errno::EROFS, "Read-only file system"),
            (Errno::EXDEV, "Cross-device link"),
            (Errno::EMLINK, "Too many links"),
            (Errno::ENAMETOOLONG, "File name too long"),
            (Errno::ELOOP, "Too many symbolic links encountered"),
            (Errno::ENOTDIR, "Not a directory"),
            (Errno::EISDIR, "Is a directory"),
            (Errno::EEXIST, "File exists"),
            (Errno::ENOTEMPTY, "Directory not empty"),
            (Errno::EMFILE, "Too many open files"),
            (Errno::ENFILE, "File table overflow"),
            (Errno::EINVAL, "Invalid argument"),
            (Errno::EIO, "I/O error"),
            (Errno::EBUSY, "Device or resource busy"),
            (Errno::ETXTBSY, "Text file busy"),
            (
                Errno::EOPNOTSUPP,
                "Operation not supported on transport endpoint",
            ),
            (Errno::EFBIG, "File too large"),
            (Errno::EDQUOT, "Quota exceeded"),
            (Errno::ENOSYS, "Function not implemented"),
            (Errno::ENOMEM, "Out of memory"),
            (Errno::EBADF, "Bad file number"),
            (Errno::EAGAIN, "Try again"),
            (Errno::EINTR, "Interrupted system call"),
            (Errno::EOVERFLOW, "Value too large for defined data type"),
            (Errno::ESTALE, "Stale file handle"),
            (Errno::EUCLEAN, "Structure needs cleaning"),
        ];
        for (e, text) in expected {
            assert_eq!(e.reason(), text, "{e:?}");
            let msg = FsError::new("reading", "/p", e).to_string();
            assert_eq!(msg, format!("reading /p: {text}"));
        }
        // Any other number still reads as text, never as "(os error N)".
        for n in 0..200 {
            let r = Errno::from_raw(n).reason();
            assert!(!r.is_empty() && !r.contains("os error"), "{n}: {r}");
        }
        assert_eq!(format!("{:?}", Errno::ENOENT), "ENOENT");
    }

    #[test]
    fn open_beneath_refuses_symlinks_and_dotdot() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::os::unix::fs::symlink("/", t.path().join("a/l")).unwrap();
        let root = DirFd::open(t.path()).unwrap();
        assert!(root.open_beneath(b"a/b").is_ok());
        let e = root.open_beneath(b"a/l").unwrap_err().errno();
        assert!(e == Errno::ENOTDIR || e == Errno::ELOOP, "{e:?}");
        assert!(root.open_beneath(b"a/../a").is_err());
    }

    #[test]
    fn replace_file_breaks_hard_links() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        std::fs::write(&a, b"old").unwrap();
        std::fs::hard_link(&a, t.path().join("b")).unwrap();
        let d = DirFd::open(t.path()).unwrap();
        let st = d.stat(b"a").unwrap().unwrap();
        d.replace_file(b"a", b"new", &Meta::of(&st)).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        assert_eq!(std::fs::read(t.path().join("b")).unwrap(), b"old");
        let st2 = d.stat(b"a").unwrap().unwrap();
        assert_ne!(st.st_ino, st2.st_ino);
        assert_eq!(
            (st.st_mtime, st.st_mtime_nsec),
            (st2.st_mtime, st2.st_mtime_nsec)
        );
        assert_eq!(st.st_mode, st2.st_mode);
    }
}
