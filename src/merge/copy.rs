//! Copying one file, special file or hard link into a directory: the
//! primitives under copy mode (`finalize`, `copy-tree`) and under link
//! mode's fallbacks (`EXDEV`, `EMLINK`).
//!
//! Every copy is created exclusively under a new name in the destination
//! directory and given its metadata through its own descriptor; the caller
//! renames it into place. Data moves in the kernel (copy_file_range, a
//! reflink on XFS and btrfs), sparse files extent by extent so holes stay
//! holes.

use crate::fsx::Errno;
use anyhow::Result;
use rustix::io::Errno as RxErrno;

use crate::fsx::{self, At, DirFd, FsError, Kind, Meta};

/// Copies the file at `src` to the new child `tmp` of `dir`, with the
/// source's mode, owner (as root) and mtime. Data moves with
/// copy_file_range, in the kernel (and as a reflink on XFS and btrfs); a
/// file with fewer allocated blocks than its size is copied extent by
/// extent (`SEEK_DATA`/`SEEK_HOLE`), so holes stay holes. The source is
/// opened with `O_NOFOLLOW`; the copy's metadata is set through its own
/// descriptor. Returns the source's metadata as copied.
pub fn copy_file(dir: &DirFd, src: At<'_>, tmp: &[u8]) -> Result<Meta> {
    Ok(copy_file_with(dir, src, tmp, Data::Auto)?.0)
}

/// How a copy's data is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    /// copy_file_range: the kernel clones where the filesystem can.
    Auto,
    /// A clone of the whole file (`FICLONE`), else as `Auto`.
    Clone,
    /// Read and written: the copy never shares blocks with its source.
    Full,
}

/// [`copy_file`] with the data written as `data` says; also returns
/// whether the data is a clone (`Data::Clone` and the kernel cloned).
pub fn copy_file_with(dir: &DirFd, src: At<'_>, tmp: &[u8], data: Data) -> Result<(Meta, bool)> {
    let input = src.dir.open_file(src.name)?;
    let st = fsx::fstat(&input).map_err(|e| FsError::new("inspecting", src.path(), e))?;
    let meta = Meta::of(&st);
    let output = dir.create_exclusive(tmp)?;
    let mut cloned = false;
    let result = (match data {
        // An empty file has no blocks to share: its copy is its clone.
        Data::Clone if st.st_size == 0 => {
            cloned = true;
            Ok(())
        }
        Data::Clone => match crate::cow::clone_data(&input, &output) {
            Ok(()) => {
                cloned = true;
                Ok(())
            }
            Err(e) if crate::cow::clone_refused(e) => {
                copy_data(&input, &output, st.st_size, st.st_blocks, false)
            }
            Err(e) => Err(Errno::from(e)),
        },
        Data::Full => copy_data(&input, &output, st.st_size, st.st_blocks, true),
        _ => copy_data(&input, &output, st.st_size, st.st_blocks, false),
    })
    .map_err(|e| FsError::two("copying", src.path(), dir.child_path(tmp), e))
    .and_then(|()| {
        fsx::set_fd_meta(&output, &meta).map_err(|(op, e)| FsError::new(op, dir.child_path(tmp), e))
    });
    drop(output);
    if let Err(e) = result {
        let _ = dir.unlink(tmp, false);
        return Err(e.into());
    }
    Ok((meta, cloned))
}

/// Copies all data of `input` (`size` bytes in `blocks` 512-byte blocks)
/// to the empty `output`; with `full`, by reading and writing (never a
/// clone).
pub(super) fn copy_data(
    input: &std::fs::File,
    output: &std::fs::File,
    size: i64,
    blocks: i64,
    full: bool,
) -> Result<(), Errno> {
    use rustix::fs::{seek, SeekFrom};
    if size <= 0 {
        return Ok(());
    }
    let copy_range = |i, o, s, e| {
        if full {
            copy_rw(i, o, s, e)
        } else {
            copy_range(i, o, s, e)
        }
    };
    if blocks.saturating_mul(512) >= size {
        return copy_range(input, output, 0, size);
    }
    let mut off = 0;
    while off < size {
        let data = match seek(input, SeekFrom::Data(off as u64)) {
            Ok(d) => d as i64,
            Err(RxErrno::NXIO) => break,
            Err(RxErrno::INVAL | RxErrno::OPNOTSUPP) => {
                return copy_range(input, output, off, size)
            }
            Err(e) => return Err(Errno::from(e)),
        };
        let hole = seek(input, SeekFrom::Hole(data as u64)).map_err(Errno::from)? as i64;
        let hole = hole.min(size);
        copy_range(input, output, data, hole)?;
        off = hole;
    }
    // A trailing hole: the size comes from truncation, not from data.
    rustix::fs::ftruncate(output, size as u64).map_err(Errno::from)
}

/// Copies bytes `[start, end)` to the same offsets of `output`.
pub(super) fn copy_range(
    input: &std::fs::File,
    output: &std::fs::File,
    start: i64,
    end: i64,
) -> Result<(), Errno> {
    let (mut oi, mut oo) = (start as u64, start as u64);
    let end_u = end as u64;
    while oi < end_u {
        let want = (end_u - oi).min(1 << 30) as usize;
        match rustix::fs::copy_file_range(input, Some(&mut oi), output, Some(&mut oo), want) {
            Ok(0) => break, // the source shrank under us
            Ok(_) => {}
            Err(RxErrno::INTR) => {}
            Err(RxErrno::XDEV | RxErrno::NOSYS | RxErrno::OPNOTSUPP | RxErrno::INVAL) => {
                return copy_rw(input, output, oi as i64, end);
            }
            Err(e) => return Err(Errno::from(e)),
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

/// Recreates the device, fifo or socket at `src` as the new child `tmp`.
/// Returns `None`, creating nothing, for a device node the kernel refuses
/// to create (`EPERM`: not root, or no `CAP_MKNOD`): `rsync -a` skips such
/// a file ("skipping non-regular file") and finishes, and so does ppd; the
/// caller reports it.
pub(super) fn copy_special(dir: &DirFd, src: At<'_>, tmp: &[u8]) -> Result<Option<Meta>> {
    use rustix::fs::{FileType, Mode};
    let st = src
        .dir
        .stat(src.name)?
        .ok_or_else(|| FsError::new("inspecting", src.path(), Errno::ENOENT))?;
    let meta = Meta::of(&st);
    let ftype = FileType::from_raw_mode(st.st_mode);
    if let Err(e) = rustix::fs::mknodat(
        dir,
        tmp,
        ftype,
        Mode::from_raw_mode(st.st_mode & 0o777),
        st.st_rdev,
    ) {
        let device = matches!(ftype, FileType::CharacterDevice | FileType::BlockDevice);
        if device && e == RxErrno::PERM {
            return Ok(None);
        }
        return Err(FsError::new("creating", dir.child_path(tmp), Errno::from(e)).into());
    }
    if let Err(e) = dir.set_meta(tmp, &meta) {
        let _ = dir.unlink(tmp, false);
        return Err(e.into());
    }
    Ok(Some(meta))
}

/// What [`copy_any`] made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Made {
    /// A new inode with its own copy of the data (or a special file).
    Copy,
    /// A new inode sharing the source's data blocks.
    Clone,
    /// Nothing: a device node the kernel refused to create
    /// ([`copy_special`]).
    Skipped,
}

/// Creates a new file or special file `tmp` in `dir` as a copy of `src`.
/// The kind decides, never an open of the source: opening a fifo to copy
/// it as a file would block for a writer.
pub(super) fn copy_any(
    dir: &DirFd,
    src: At<'_>,
    kind: Kind,
    tmp: &[u8],
    data: Data,
) -> Result<Made> {
    match kind {
        Kind::Other => Ok(match copy_special(dir, src, tmp)? {
            Some(_) => Made::Copy,
            None => Made::Skipped,
        }),
        _ => Ok(match copy_file_with(dir, src, tmp, data)?.1 {
            true => Made::Clone,
            false => Made::Copy,
        }),
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
