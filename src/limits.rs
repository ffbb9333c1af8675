//! The process's resource budget: open descriptors and worker threads.
//!
//! ppd must finish wherever rsync would, whatever the soft `RLIMIT_NOFILE`
//! (systemd's 1024, a CI's `ulimit -n 64`) and whatever `-j` says. So:
//! - `main` raises the soft descriptor limit to the hard one, once
//!   ([`raise_nofile`]), then, still on its only thread, grows the
//!   descriptor table to the budget's size ([`grow_fd_table`]): no
//!   descriptor a worker opens ever makes the kernel grow a table the
//!   threads share;
//! - the budget is split, from the limit in force, into a reserve (standard
//!   streams, the jobserver's pipe, locks, manifests), a fixed allowance per
//!   worker thread (a file being read, one being written, the directories
//!   they sit in) and the directory handles that walks keep open for reuse
//!   ([`retained_dirs`], shared by every [`crate::walk::DirCache`]);
//! - the thread count is clamped to [`max_threads`]: at most 4 per core and
//!   at most [`MAX_THREADS`], and at most what the descriptor budget can
//!   serve.
//!
//! At the smallest limit supported, 64, this gives 4 threads and 12 kept
//! directory handles; at 1024, 94 threads and 252; from 4096 on, the
//! thread caps decide and 1024 handles are kept.

use std::sync::OnceLock;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The most worker threads any command uses, whatever `-j`, `PPD_JOBS` or
/// the jobserver say.
pub const MAX_THREADS: usize = 256;

/// Worker threads allowed per core.
pub const THREADS_PER_CORE: usize = 4;

/// Descriptors kept for everything that is not a walk or a worker.
const RESERVED: u64 = 16;

/// Descriptors a worker thread may hold at once.
pub const PER_THREAD: u64 = 8;

/// Bounds of the directory handles kept open for reuse.
const MIN_RETAINED: u64 = 8;
const MAX_RETAINED: u64 = 1024;

static NOFILE: OnceLock<u64> = OnceLock::new();

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Called once, first
/// thing in `main`; failing to raise it is not an error (the budget then
/// follows the limit in force).
pub fn raise_nofile() {
    let lim = getrlimit(Resource::Nofile);
    if unlimited(lim.current) < unlimited(lim.maximum) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            },
        );
    }
}

/// Grows the process's descriptor table, once, to hold every descriptor
/// the budget lets ppd open: at most the reserve, the kept directory
/// handles and [`MAX_THREADS`] workers' allowance, within the limit.
/// Called first thing in `main`, while the process has one thread.
///
/// Why: the kernel grows the table by doubling when a descriptor number
/// past its end is handed out, and in a process whose threads share the
/// table it then waits for an RCU grace period (`synchronize_rcu`, several
/// milliseconds on a virtual machine) before it can free the old one. A
/// prepare whose scan keeps its dependencies' directory handles for the
/// merge crosses 64, 128 and 256 descriptors on worker threads, and each
/// crossing stalled every thread opening a file: a quarter of an 8-dependency
/// step's wall time. Growing it single-threaded costs one `fcntl` and one
/// `close` (and a few KiB of kernel memory). Failing is not an error: the
/// table then grows as before.
pub fn grow_fd_table() {
    let want = RESERVED + retained_dirs() as u64 + PER_THREAD * MAX_THREADS as u64;
    // F_DUPFD returns the lowest free number at or above its argument.
    let top = want.min(nofile()).saturating_sub(1);
    // The table starts with 64 slots (BITS_PER_LONG): nothing to grow.
    if top < 64 {
        return;
    }
    let stderr = std::io::stderr();
    let fd = std::os::fd::AsFd::as_fd(&stderr);
    if let Ok(copy) = rustix::io::fcntl_dupfd_cloexec(fd, top as i32) {
        drop(copy);
    }
}

/// A limit as a number: `None` is `RLIM_INFINITY`.
fn unlimited(limit: Option<u64>) -> u64 {
    limit.unwrap_or(u64::MAX)
}

/// The soft descriptor limit in force (read once).
pub fn nofile() -> u64 {
    *NOFILE.get_or_init(|| unlimited(getrlimit(Resource::Nofile).current))
}

/// How many directory handles all walks together keep open for reuse.
pub fn retained_dirs() -> usize {
    retained_for(nofile()) as usize
}

fn retained_for(nofile: u64) -> u64 {
    (nofile.saturating_sub(RESERVED) / 4).clamp(MIN_RETAINED, MAX_RETAINED)
}

/// The most worker threads this process may run, for `cores` cores.
pub fn max_threads(cores: usize) -> usize {
    threads_for(nofile(), cores)
}

fn threads_for(nofile: u64, cores: usize) -> usize {
    let by_fds = nofile.saturating_sub(RESERVED + retained_for(nofile)) / PER_THREAD;
    let by_cores = cores.max(1).saturating_mul(THREADS_PER_CORE);
    (by_fds as usize).clamp(1, MAX_THREADS).min(by_cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_at_common_limits() {
        assert_eq!((retained_for(64), threads_for(64, 64)), (12, 4));
        assert_eq!((retained_for(1024), threads_for(1024, 64)), (252, 94));
        assert_eq!(threads_for(1 << 20, 2), 8);
        assert_eq!(threads_for(1 << 20, 1000), MAX_THREADS);
        // Even a limit too small for ppd's reserve gives one thread.
        assert_eq!(threads_for(10, 4), 1);
    }
}
