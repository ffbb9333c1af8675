//! The `fixup-paths --cache` file: inodes already scanned and found to
//! hold no per-package path, so a later call need not read them again.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::fsx::FileStat;

use crate::fsx::{self, Mtime};

/// The identity and state of an inode as the cache records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CacheKey {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: Mtime,
}

impl CacheKey {
    const BYTES: usize = 40;

    pub(super) fn new(dev: u64, ino: u64, size: i64, mtime: Mtime) -> CacheKey {
        CacheKey {
            dev,
            ino,
            size,
            mtime,
        }
    }

    pub(super) fn of(st: &FileStat) -> CacheKey {
        CacheKey {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: Mtime::of(st),
        }
    }

    /// The key, unless the mtime is so recent (or in the future) that the
    /// file could still change within the same timestamp granule.
    pub(super) fn settled(st: &FileStat, horizon: Mtime) -> Option<CacheKey> {
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
    pub(super) horizon: Mtime,
}

const CACHE_MAGIC: &[u8] = b"ppd-fixup-cache 1\n";
/// A cache this large has mostly collected inodes long deleted: start over.
const CACHE_MAX: usize = 4 << 20;
/// How old an mtime must be to be recorded.
const CACHE_SETTLE_SECS: i64 = 2;

impl ScanCache {
    pub(super) fn load(path: &Path, dir: &[u8]) -> ScanCache {
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

    pub(super) fn contains(&self, key: &CacheKey) -> bool {
        self.known.binary_search(key).is_ok()
    }

    /// Adds `learned` to the file, merged with whatever it holds now.
    pub(super) fn save(&self, mut learned: Vec<CacheKey>) -> Result<(), String> {
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
            .and_then(|mut f| fsx::write_chunked(&mut f, &out))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            let reason = fsx::errno_of(&e).reason();
            return Err(format!("writing cache {}: {reason}", fsx::show(&self.path)));
        }
        Ok(())
    }
}
