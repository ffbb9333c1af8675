//! Copy-on-write facilities of the filesystem a tree is written to: what it
//! supports (detected once per destination), cloning one file's data
//! (`FICLONE`), and btrfs subvolumes (creating one, snapshotting one).
//!
//! A clone shares the source's data blocks but has its own inode: an
//! in-place write to either side copies the blocks it touches and never
//! reaches the other, which is what hard links cannot give. A btrfs
//! snapshot does that for a whole subvolume in one call; its entries keep
//! the source's inode numbers but live on another device number (each
//! subvolume has its own `st_dev`), so no identity is shared either.
//!
//! Everything here falls back rather than fails: a filesystem that refuses
//! a clone gets a copy, one without subvolumes gets clones or hard links.
//! Removal needs nothing special: since Linux 4.18 `rmdir` removes an
//! empty subvolume like a directory (for its owner too, without the
//! `user_subvol_rm_allowed` mount option), so `rm -rf` of a tree that is a
//! subvolume works as it does for a directory.

use std::os::fd::AsFd;
use std::path::Path;

use rustix::io::Errno;

use crate::fsx::{self, DirFd};

/// How `prepare` places a dependency's regular files, and how `finalize`
/// gets its files' data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkMode {
    /// The best the destination's filesystem supports: reflink where
    /// `FICLONE` works (on btrfs, a snapshot instead where a dependency
    /// tree is a subvolume and the snapshot saves enough), else hard links.
    Auto,
    /// Hard links (prepare); for finalize, hard links to the packages'
    /// inodes.
    Hardlink,
    /// A clone (`FICLONE`) per regular file: its own inode, shared blocks.
    Reflink,
    /// A btrfs snapshot of one dependency's tree, then clones.
    Snapshot,
    /// (finalize only) New inodes with their data copied, never sharing
    /// blocks with the packages' files.
    Copy,
}

impl LinkMode {
    /// The word used on the command line and in reports.
    pub fn word(self) -> &'static str {
        match self {
            LinkMode::Auto => "auto",
            LinkMode::Hardlink => "hardlink",
            LinkMode::Reflink => "reflink",
            LinkMode::Snapshot => "snapshot",
            LinkMode::Copy => "copy",
        }
    }
}

/// What the filesystem of a destination supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    /// Its name, for reports (`btrfs`, `xfs`, `ext4`, `tmpfs`, or the
    /// magic number in hex).
    pub fs: &'static str,
    /// `FICLONE` works there.
    pub reflink: bool,
    /// Subvolumes and snapshots (btrfs).
    pub snapshot: bool,
}

const BTRFS_MAGIC: u64 = 0x9123_683e;
const XFS_MAGIC: u64 = 0x5846_5342;
const EXT4_MAGIC: u64 = 0xef53;
const TMPFS_MAGIC: u64 = 0x0102_1994;
/// The inode number of every btrfs subvolume's root directory.
const BTRFS_SUBVOL_ROOT: u64 = 256;

fn fs_name(magic: u64) -> &'static str {
    match magic {
        BTRFS_MAGIC => "btrfs",
        XFS_MAGIC => "xfs",
        EXT4_MAGIC => "ext4",
        TMPFS_MAGIC => "tmpfs",
        0x6969 => "nfs",
        0x794c_7630 => "overlayfs",
        0x2fc1_2fc1 => "zfs",
        0xff53_4d42 => "cifs",
        0x6573_5546 => "fuse",
        0x5346_544e => "ntfs",
        0x4d44 => "vfat",
        _ => "other",
    }
}

/// The filesystem magic of the directory open as `dir`.
fn magic(dir: &DirFd) -> Option<u64> {
    rustix::fs::fstatfs(dir.as_fd())
        .ok()
        .map(|s| s.f_type as u64)
}

/// How [`detect`] may find out whether a filesystem it does not know
/// (XFS, ...) clones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// It may not: such a filesystem is assumed not to clone.
    No,
    /// With unnamed files only (`O_TMPFILE`), which no one ever sees: a
    /// dry run's probe, which changes nothing.
    Unnamed,
    /// With unnamed files, or named temporaries where the filesystem has
    /// none.
    Any,
}

/// Detects what the filesystem of the directory `dir` supports, asking a
/// filesystem that might clone once, as `probe` allows, by cloning a
/// one-byte file inside `dir` (see `probe_clone`).
pub fn detect(dir: &DirFd, probe: Probe) -> Support {
    let m = magic(dir).unwrap_or(0);
    let fs = fs_name(m);
    match m {
        BTRFS_MAGIC => Support {
            fs,
            reflink: true,
            snapshot: true,
        },
        EXT4_MAGIC | TMPFS_MAGIC => Support {
            fs,
            reflink: false,
            snapshot: false,
        },
        _ => Support {
            fs,
            reflink: probe != Probe::No && probe_clone(dir, probe == Probe::Any),
            snapshot: false,
        },
    }
}

/// Clones a one-byte file inside `dir`; true if the kernel did. The two
/// files are unnamed (`O_TMPFILE`): a run killed here leaves nothing
/// behind, wherever `dir` is (the probe may run beside a tree, in a
/// directory no run sweeps), and a dry run changes nothing. A filesystem
/// without unnamed files gets named temporaries, removed at once, if
/// `named`; else it is taken not to clone.
fn probe_clone(dir: &DirFd, named: bool) -> bool {
    use rustix::fs::{Mode, OFlags};
    let unnamed = || {
        rustix::fs::openat(
            dir.as_fd(),
            ".",
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
    };
    match (unnamed(), unnamed()) {
        (Ok(a), Ok(b)) => {
            rustix::io::write(&a, b"p").is_ok_and(|n| n == 1)
                && rustix::fs::ioctl_ficlone(&b, &a).is_ok()
        }
        _ => named && probe_clone_named(dir),
    }
}

/// [`probe_clone`] with named temporaries (a killed run leaves them; the
/// next locked run of a tree sweeps those inside it).
fn probe_clone_named(dir: &DirFd) -> bool {
    let (a, b) = (fsx::temp_name(), fsx::temp_name());
    let ok = (|| -> Option<bool> {
        rustix::io::write(dir.create_exclusive(&a).ok()?, b"p").ok()?;
        // FICLONE needs the source open for reading.
        let src = dir.open_file(&a).ok()?;
        let dst = dir.create_exclusive(&b).ok()?;
        Some(rustix::fs::ioctl_ficlone(&dst, &src).is_ok())
    })()
    .unwrap_or(false);
    let _ = dir.unlink(&a, false);
    let _ = dir.unlink(&b, false);
    ok
}

/// Makes the empty file `output` share all data of `input` (`FICLONE`).
/// `EOPNOTSUPP`, `EXDEV`, `EINVAL` and `EPERM` mean this pair cannot be
/// cloned (another filesystem, a swap file, ...): the caller copies.
pub fn clone_data(input: &std::fs::File, output: &std::fs::File) -> Result<(), Errno> {
    rustix::fs::ioctl_ficlone(output, input)
}

/// True if `errno` from [`clone_data`] means "copy instead".
pub fn clone_refused(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::OPNOTSUPP | Errno::XDEV | Errno::INVAL | Errno::PERM | Errno::NOSYS | Errno::NOTTY
    )
}

/// True if `path` is the root of a btrfs subvolume (so it can be
/// snapshotted).
pub fn is_subvolume(path: &Path) -> bool {
    let Ok(dir) = DirFd::open(path) else {
        return false;
    };
    magic(&dir) == Some(BTRFS_MAGIC)
        && dir
            .stat_self()
            .is_ok_and(|st| st.st_ino == BTRFS_SUBVOL_ROOT)
}

/// `struct btrfs_ioctl_vol_args_v2` (4096 bytes): the descriptor of the
/// subvolume to snapshot (unused when creating one), then the new name.
#[repr(C)]
struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; 4040],
}

impl VolArgsV2 {
    fn new(fd: i64, name: &[u8]) -> Result<Box<VolArgsV2>, Errno> {
        if name.is_empty() || name.len() >= 4040 || name.contains(&b'/') || name.contains(&0) {
            return Err(Errno::INVAL);
        }
        let mut a = Box::new(VolArgsV2 {
            fd,
            transid: 0,
            flags: 0,
            unused: [0; 4],
            name: [0; 4040],
        });
        a.name[..name.len()].copy_from_slice(name);
        Ok(a)
    }
}

const BTRFS_IOCTL_MAGIC: u8 = 0x94;
const SNAP_CREATE_V2: rustix::ioctl::Opcode =
    rustix::ioctl::opcode::write::<VolArgsV2>(BTRFS_IOCTL_MAGIC, 23);
const SUBVOL_CREATE_V2: rustix::ioctl::Opcode =
    rustix::ioctl::opcode::write::<VolArgsV2>(BTRFS_IOCTL_MAGIC, 24);

/// Runs one of the two btrfs volume ioctls on the parent directory.
#[allow(unsafe_code)]
fn vol_ioctl<const OP: rustix::ioctl::Opcode>(
    parent: &DirFd,
    args: &mut VolArgsV2,
) -> Result<(), Errno> {
    // SAFETY: both opcodes take a pointer to a `btrfs_ioctl_vol_args_v2`,
    // which `VolArgsV2` lays out exactly (repr(C), 4096 bytes), and the
    // kernel only reads it; `args` outlives the call.
    unsafe {
        rustix::ioctl::ioctl(
            parent.as_fd(),
            rustix::ioctl::Updater::<OP, VolArgsV2>::new(args),
        )
    }
}

/// Creates the empty subvolume `name` in `parent`
/// (`BTRFS_IOC_SUBVOL_CREATE_V2`; allowed to any user who may create a
/// directory there).
pub fn create_subvolume(parent: &DirFd, name: &[u8]) -> Result<(), Errno> {
    let mut args = VolArgsV2::new(0, name)?;
    vol_ioctl::<SUBVOL_CREATE_V2>(parent, &mut args)
}

/// True if creating a subvolume costs no transaction commit: Linux 6.4
/// and later (before, `BTRFS_IOC_SUBVOL_CREATE_V2` committed the
/// transaction as a snapshot does).
pub fn cheap_subvolumes() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    release_at_least(&release, (6, 4))
}

/// True if the kernel release `release` (`6.18.44-fc`) is `want` or later;
/// false if it cannot be read.
fn release_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= want,
        _ => false,
    }
}

/// `struct btrfs_ioctl_get_subvol_rootref_args` (4096 bytes): the
/// subvolumes directly inside a subvolume, up to 255 per call.
#[repr(C)]
struct RootRefArgs {
    min_treeid: u64,
    /// `(treeid, dirid)` of each.
    rootref: [[u64; 2]; 255],
    num_items: u8,
    align: [u8; 7],
}

const GET_SUBVOL_ROOTREF: rustix::ioctl::Opcode =
    rustix::ioctl::opcode::read_write::<RootRefArgs>(BTRFS_IOCTL_MAGIC, 61);

/// True if the subvolume holding `dir` has other subvolumes inside it
/// (`BTRFS_IOC_GET_SUBVOL_ROOTREF`, Linux 4.18, open to every user). A
/// snapshot does not descend into them: each shows up in the snapshot as
/// an empty directory, so a tree holding one is never snapshotted. True
/// also where the kernel cannot tell.
#[allow(unsafe_code)]
pub fn holds_subvolumes(dir: &DirFd) -> bool {
    let mut args = Box::new(RootRefArgs {
        min_treeid: 0,
        rootref: [[0; 2]; 255],
        num_items: 0,
        align: [0; 7],
    });
    // SAFETY: the opcode takes a pointer to a
    // `btrfs_ioctl_get_subvol_rootref_args`, which `RootRefArgs` lays out
    // exactly (repr(C), 4096 bytes); the kernel reads and writes only it,
    // and `args` outlives the call.
    let r = unsafe {
        rustix::ioctl::ioctl(
            dir.as_fd(),
            rustix::ioctl::Updater::<GET_SUBVOL_ROOTREF, RootRefArgs>::new(&mut args),
        )
    };
    // EOVERFLOW: more than fit in one call.
    r.is_err() || args.num_items > 0
}

/// True if the tree at `path` can be the base of a snapshot: the root of
/// a btrfs subvolume that holds no other subvolume.
pub fn snapshot_whole(path: &Path) -> bool {
    is_subvolume(path) && DirFd::open(path).is_ok_and(|d| !holds_subvolumes(&d))
}

/// Creates `name` in `parent` as a writable snapshot of the subvolume
/// open as `src` (`BTRFS_IOC_SNAP_CREATE_V2`; the caller must own the
/// subvolume or be root).
pub fn snapshot(src: &DirFd, parent: &DirFd, name: &[u8]) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let mut args = VolArgsV2::new(i64::from(src.as_fd().as_raw_fd()), name)?;
    vol_ioctl::<SNAP_CREATE_V2>(parent, &mut args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_arguments_are_the_kernels_size_and_opcodes() {
        assert_eq!(std::mem::size_of::<VolArgsV2>(), 4096);
        // _IOW(0x94, 23, 4096) and _IOW(0x94, 24, 4096) as the kernel headers define them.
        assert_eq!(SNAP_CREATE_V2 as u64, 0x5000_9417);
        assert_eq!(SUBVOL_CREATE_V2 as u64, 0x5000_9418);
        // _IOWR(0x94, 61, 4096).
        assert_eq!(std::mem::size_of::<RootRefArgs>(), 4096);
        assert_eq!(GET_SUBVOL_ROOTREF as u64, 0xd000_943d);
    }

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(release_at_least("6.18.44-fc-v1045\n", (6, 4)));
        assert!(release_at_least("6.4.0", (6, 4)));
        assert!(!release_at_least("6.3.13-200.fc38.x86_64", (6, 4)));
        assert!(!release_at_least("5.15.0-91-generic", (6, 4)));
        assert!(release_at_least("10.0", (6, 4)));
        assert!(!release_at_least("", (6, 4)));
    }

    #[test]
    fn names_with_slashes_or_nuls_are_refused() {
        assert!(VolArgsV2::new(0, b"a/b").is_err());
        assert!(VolArgsV2::new(0, b"").is_err());
        assert!(VolArgsV2::new(0, b"a\0").is_err());
        assert!(VolArgsV2::new(0, b"host").is_ok());
    }
}
