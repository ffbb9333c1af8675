//! Copying one file, special file or hard link into a directory: the
//! primitives under copy mode (`finalize`, `copy-tree`) and under link
//! mode's fallbacks (`EXDEV`, `EMLINK`).
//!
//! Every copy is created exclusively under a new name in the destination
//! directory and given its metadata through its own descriptor; the caller
//! renames it into place. Data moves in the kernel (copy_file_range, a
//! reflink on XFS and btrfs), sparse files extent by extent so holes stay
//! holes.

use std::os::fd::AsFd;

use anyhow::Result;
use nix::errno::Errno;

use crate::fsx::{self, At, DirFd, FsError, Kind, Meta};

/// Copies the file at `src` to the new child `tmp` of `dir`, with the
/// source's mode, owner (as root) and mtime. Data moves with
/// copy_file_range, in the kernel (and as a reflink on XFS and btrfs); a
/// file with fewer allocated blocks than its size is copied extent by
/// extent (`SEEK_DATA`/`SEEK_HOLE`), so holes stay holes. The source is
/// opened with `O_NOFOLLOW`; the copy's metadata is set through its own
/// descriptor. Returns the source's metadata as copied.
pub fn copy_file(dir: &DirFd, src: At<'_>, tmp: &[u8]) -> Result<Meta> {
    let input = src.dir.open_file(src.name)?;
    let st =
        nix::sys::stat::fstat(&input).map_err(|e| FsError::new("inspecting", src.path(), e))?;
    let meta = Meta::of(&st);
    let output = dir.create_exclusive(tmp)?;
    let result = copy_data(&input, &output, &st)
        .map_err(|e| FsError::two("copying", src.path(), dir.child_path(tmp), e))
        .and_then(|()| {
            set_fd_meta(&output, &meta).map_err(|(op, e)| FsError::new(op, dir.child_path(tmp), e))
        });
    drop(output);
    if let Err(e) = result {
        let _ = dir.unlink(tmp, false);
        return Err(e.into());
    }
    Ok(meta)
}

/// Copies all data of `input` (described by `st`) to the empty `output`.
pub(super) fn copy_data(
    input: &std::fs::File,
    output: &std::fs::File,
    st: &nix::sys::stat::FileStat,
) -> Result<(), Errno> {
    use nix::unistd::{lseek, Whence};
    let size = st.st_size;
    if size == 0 {
        return Ok(());
    }
    if st.st_blocks.saturating_mul(512) >= size {
        return copy_range(input, output, 0, size);
    }
    let mut off = 0;
    while off < size {
        let data = match lseek(input, off, Whence::SeekData) {
            Ok(d) => d,
            Err(Errno::ENXIO) => break,
            Err(Errno::EINVAL | Errno::EOPNOTSUPP) => return copy_range(input, output, off, size),
            Err(e) => return Err(e),
        };
        let hole = lseek(input, data, Whence::SeekHole)?.min(size);
        copy_range(input, output, data, hole)?;
        off = hole;
    }
    // A trailing hole: the size comes from truncation, not from data.
    nix::unistd::ftruncate(output, size)
}

/// Copies bytes `[start, end)` to the same offsets of `output`.
pub(super) fn copy_range(
    input: &std::fs::File,
    output: &std::fs::File,
    start: i64,
    end: i64,
) -> Result<(), Errno> {
    let (mut oi, mut oo) = (start, start);
    while oi < end {
        let want = (end - oi).min(1 << 30) as usize;
        match nix::fcntl::copy_file_range(input, Some(&mut oi), output, Some(&mut oo), want) {
            Ok(0) => break, // the source shrank under us
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(Errno::EXDEV | Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::EINVAL) => {
                return copy_rw(input, output, oi, end);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The portable fallback of [`copy_range`]: `pread` and `pwrite`.
pub(super) fn copy_rw(
    input: &std::fs::File,
    output: &std::fs::File,
    mut off: i64,
    end: i64,
) -> Result<(), Errno> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 256 * 1024];
    while off < end {
        let want = ((end - off) as usize).min(buf.len());
        let n = match input.read_at(&mut buf[..want], off as u64) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fsx::errno_of(&e)),
        };
        output
            .write_all_at(&buf[..n], off as u64)
            .map_err(|e| fsx::errno_of(&e))?;
        off += n as i64;
    }
    Ok(())
}

/// Sets owner (as root), mode and mtime through an open descriptor. Owner
/// first: `chown` clears set-id bits that the mode then restores.
pub(super) fn set_fd_meta(fd: &impl AsFd, meta: &Meta) -> Result<(), (&'static str, Errno)> {
    use nix::sys::stat::Mode;
    use nix::sys::time::TimeSpec;
    use nix::unistd::{Gid, Uid};
    if fsx::is_root() {
        nix::unistd::fchown(
            fd,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .map_err(|e| ("changing owner of", e))?;
    }
    nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(meta.mode & 0o7777))
        .map_err(|e| ("changing mode of", e))?;
    let mtime = TimeSpec::new(meta.mtime.sec, meta.mtime.nsec);
    nix::sys::stat::futimens(fd, &TimeSpec::UTIME_OMIT, &mtime).map_err(|e| ("setting times of", e))
}

/// Recreates the device, fifo or socket at `src` as the new child `tmp`.
pub(super) fn copy_special(dir: &DirFd, src: At<'_>, tmp: &[u8]) -> Result<Meta> {
    use nix::sys::stat::{Mode, SFlag};
    let st = src
        .dir
        .stat(src.name)?
        .ok_or_else(|| FsError::new("inspecting", src.path(), Errno::ENOENT))?;
    let meta = Meta::of(&st);
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    nix::sys::stat::mknodat(
        dir,
        tmp,
        kind,
        Mode::from_bits_truncate(st.st_mode & 0o777),
        st.st_rdev,
    )
    .map_err(|e| FsError::new("creating", dir.child_path(tmp), e))?;
    if let Err(e) = dir.set_meta(tmp, &meta) {
        let _ = dir.unlink(tmp, false);
        return Err(e.into());
    }
    Ok(meta)
}

/// Creates a new file or special file `tmp` in `dir` as a copy of `src`.
pub(super) fn copy_any(dir: &DirFd, src: At<'_>, kind: Kind, tmp: &[u8]) -> Result<Meta> {
    match kind {
        Kind::Other => copy_special(dir, src, tmp),
        _ => copy_file(dir, src, tmp),
    }
}

pub(super) fn link_within(from_dir: &DirFd, from: &[u8], dir: &DirFd, name: &[u8]) -> Result<()> {
    dir.link_at(from_dir, from, name).map_err(|errno| {
        FsError::two(
            "hard-linking",
            from_dir.child_path(from),
            dir.child_path(name),
            errno,
        )
        .into()
    })
}
