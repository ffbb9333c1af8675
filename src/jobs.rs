//! How many threads a command may use.
//!
//! Order of precedence: `-j N` (or `PPD_JOBS`), then the GNU make jobserver
//! named in `MAKEFLAGS`, then the core count. With a jobserver, ppd owns the
//! implicit token of the recipe that runs it and takes whatever extra tokens
//! are free *right now*, never blocking and never more than the core count
//! minus one. Tokens go back to make when the [`Threads`] value is dropped.
//! When make runs with `-j` but its jobserver cannot be reached (GNU make
//! 4.3 hides the pipe from recipes not marked `+`), ppd uses one thread: the
//! user asked make for N jobs and this recipe is one of them.
//!
//! Whatever the source, the count is clamped to
//! [`crate::limits::max_threads`]: at most 4 threads per core, at most 256,
//! and no more than the open-descriptor limit can serve, so `-j 100000`
//! starts no more threads than `-j 8` does on two cores.

use std::num::NonZeroUsize;

/// The jobserver client found in the environment, if any.
pub struct Jobserver {
    client: Option<jobserver::Client>,
    /// True if MAKEFLAGS asked for parallel jobs, reachable or not.
    make_parallel: bool,
}

impl Jobserver {
    /// Reads MAKEFLAGS. Call this first thing in `main`, before any file is
    /// opened, so that inherited descriptor numbers are still the pipe's.
    #[allow(unsafe_code)]
    pub fn from_env() -> Jobserver {
        let flags = std::env::var_os("MAKEFLAGS").map(|f| f.to_string_lossy().into_owned());
        let make_parallel = flags
            .as_deref()
            .is_some_and(|f| f.contains("jobserver-auth=") || f.contains("jobserver-fds="));
        // A jobserver named on descriptors 0-2 is not make's (make never
        // hands out stdio): taking a "token" there would eat a byte of
        // stdin and write one into stdout, a file list's or a pipe's.
        let client = if flags.as_deref().is_some_and(names_stdio) {
            None
        } else {
            // SAFETY: called at the start of `main`, before any descriptor
            // is opened or closed, as the crate requires; `check_pipe`
            // rejects fds that are not pipes or fifos.
            unsafe { jobserver::Client::from_env_ext(true) }.client.ok()
        };
        Jobserver {
            client,
            make_parallel,
        }
    }

    /// A jobserver that is not there, for library callers and tests.
    pub fn none() -> Jobserver {
        Jobserver {
            client: None,
            make_parallel: false,
        }
    }
}

/// A thread budget, holding any jobserver tokens it was granted.
///
/// The budget is decided when first asked for ([`Threads::count`]): a
/// command step too small for worker threads ([`Pools`]) never reads the
/// core count (cgroup files) nor takes tokens from make.
pub struct Threads {
    explicit: Option<usize>,
    client: Option<jobserver::Client>,
    make_parallel: bool,
    decided: std::sync::OnceLock<(usize, Vec<jobserver::Acquired>)>,
}

impl Threads {
    /// Returns the number of threads to use, at least 1.
    pub fn count(&self) -> usize {
        self.decided.get_or_init(|| self.compute()).0
    }

    /// The budget from `-j`, the jobserver and the core count, decided
    /// when first asked for.
    pub fn decide(explicit: Option<usize>, js: &Jobserver) -> Threads {
        Threads {
            explicit,
            client: js.client.clone(),
            make_parallel: js.make_parallel,
            decided: std::sync::OnceLock::new(),
        }
    }

    fn compute(&self) -> (usize, Vec<jobserver::Acquired>) {
        let cores = std::thread::available_parallelism()
            .map(NonZeroUsize::get)
            .unwrap_or(1);
        let max = crate::limits::max_threads(cores);
        if let Some(n) = self.explicit.or_else(env_jobs) {
            return (n.clamp(1, max), Vec::new());
        }
        if let Some(client) = &self.client {
            let mut tokens = Vec::new();
            while tokens.len() + 1 < cores.min(max) {
                match client.try_acquire() {
                    Ok(Some(t)) => tokens.push(t),
                    _ => break,
                }
            }
            return (tokens.len() + 1, tokens);
        }
        let count = if self.make_parallel {
            1
        } else {
            cores.min(max)
        };
        (count, Vec::new())
    }

    /// A fixed budget of `n` threads (at least 1, at most
    /// [`crate::limits::max_threads`]), holding no tokens.
    pub fn fixed(n: usize) -> Threads {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let decided = std::sync::OnceLock::new();
        let _ = decided.set((n.clamp(1, crate::limits::max_threads(cores)), Vec::new()));
        Threads {
            explicit: Some(n),
            client: None,
            make_parallel: false,
            decided,
        }
    }

    /// Builds a local rayon pool of this size.
    pub fn pool(&self) -> anyhow::Result<rayon::ThreadPool> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.count())
            .thread_name(|i| format!("ppd-{i}"))
            .build()
            .map_err(|e| anyhow::anyhow!("starting {} worker threads: {e}", self.count()))
    }
}

/// Thread pools started only when first needed: a command step that
/// turns out small runs on the calling thread, without starting (and
/// waking, and joining) any worker thread.
pub struct Pools<'t> {
    threads: &'t Threads,
    full: std::sync::OnceLock<rayon::ThreadPool>,
    inline: std::sync::OnceLock<rayon::ThreadPool>,
}

impl<'t> Pools<'t> {
    /// Pools for the budget `threads`; none is started yet.
    pub fn new(threads: &'t Threads) -> Pools<'t> {
        Pools {
            threads,
            full: std::sync::OnceLock::new(),
            inline: std::sync::OnceLock::new(),
        }
    }

    /// The pool of the whole budget (the calling thread's own one if the
    /// budget is one thread).
    pub fn full(&self) -> anyhow::Result<&rayon::ThreadPool> {
        if self.threads.count() <= 1 {
            return self.inline();
        }
        if let Some(p) = self.full.get() {
            return Ok(p);
        }
        let pool = self.threads.pool()?;
        Ok(self.full.get_or_init(|| pool))
    }

    /// The whole budget's pool if [`Pools::full`] started it, else the
    /// calling thread's: for work that follows a step which decided the
    /// size.
    pub fn started(&self) -> anyhow::Result<&rayon::ThreadPool> {
        match self.full.get() {
            Some(p) => Ok(p),
            None => self.inline(),
        }
    }

    /// A pool of one thread, the calling one: work given to it runs right
    /// there. For work too small to be worth another thread.
    pub fn inline(&self) -> anyhow::Result<&rayon::ThreadPool> {
        if let Some(p) = self.inline.get() {
            return Ok(p);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build()
            .map_err(|e| anyhow::anyhow!("starting a thread pool: {e}"))?;
        Ok(self.inline.get_or_init(|| pool))
    }
}

/// Returns true if the jobserver `makeflags` names (the last
/// `--jobserver-auth=R,W` or `--jobserver-fds=R,W`, as make reads it) uses
/// standard input, output or error. A `fifo:PATH` jobserver never does.
fn names_stdio(makeflags: &str) -> bool {
    let Some(value) = makeflags
        .split_ascii_whitespace()
        .filter_map(|w| {
            w.strip_prefix("--jobserver-auth=")
                .or_else(|| w.strip_prefix("--jobserver-fds="))
        })
        .next_back()
    else {
        return false;
    };
    if value.starts_with("fifo:") {
        return false;
    }
    value.split(',').any(|fd| {
        fd.trim()
            .parse::<i64>()
            .is_ok_and(|fd| (0..=2).contains(&fd))
    })
}

fn env_jobs() -> Option<usize> {
    std::env::var("PPD_JOBS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_jobs_win() {
        let t = Threads::decide(Some(3), &Jobserver::none());
        assert_eq!(t.count(), 3);
        let t = Threads::decide(Some(0), &Jobserver::none());
        assert_eq!(t.count(), 1);
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let t = Threads::decide(Some(100_000), &Jobserver::none());
        assert_eq!(t.count(), crate::limits::max_threads(cores));
        assert!(t.count() <= crate::limits::MAX_THREADS);
    }

    #[test]
    fn a_jobserver_on_stdio_is_not_used() {
        assert!(names_stdio(" -j4 --jobserver-auth=0,1"));
        assert!(names_stdio("-j --jobserver-fds=5,2 -j"));
        assert!(names_stdio("--jobserver-auth=fifo:/x --jobserver-auth=1,4"));
        assert!(!names_stdio(" -j4 --jobserver-auth=3,4"));
        assert!(!names_stdio(
            "--jobserver-auth=0,1 --jobserver-auth=fifo:/tmp/0,1"
        ));
        assert!(!names_stdio("n"));
    }

    #[test]
    fn unreachable_jobserver_means_one_thread() {
        let js = Jobserver {
            client: None,
            make_parallel: true,
        };
        if std::env::var_os("PPD_JOBS").is_none() {
            assert_eq!(Threads::decide(None, &js).count(), 1);
        }
    }
}
