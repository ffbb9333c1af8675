//! What every command prints the same way: conflict and clash lines, the
//! counters of a stats line, and the progress bar. Commands format their
//! own results through these, so one kind of finding reads the same in
//! every command.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::merge::{DestClash, Progress, Stats};

/// Formats a clash with what the destination already held (without the
/// `ppd: ` prefix). `by` names what provides the planned entry: "a
/// dependency" in prepare, "the source" in finalize and copy-tree.
pub(super) fn clash_line(dest: &Path, c: &DestClash, by: &str) -> String {
    format!(
        "conflict: {} is a {} in the destination where {by} provides a {}; {}",
        crate::fsx::show(&crate::fsx::join(dest, &c.path)),
        c.found.word(),
        c.wanted.word(),
        if c.replaced { "replaced" } else { "kept" }
    )
}

/// Warning lines (without the `ppd: ` prefix) for the device nodes a
/// merge into `dest` skipped because the kernel refused to create them
/// (not root), as `rsync -a` skips them ("skipping non-regular file").
pub(super) fn skipped_lines(dest: &Path, skipped: &[Vec<u8>]) -> Vec<String> {
    skipped
        .iter()
        .map(|p| {
            format!(
                "warning: skipping device node {}: creating it needs root (CAP_MKNOD)",
                crate::fsx::show(&crate::fsx::join(dest, p))
            )
        })
        .collect()
}

/// The counters of a stats line.
pub(super) fn stats_words(s: &Stats) -> String {
    format!(
        "{} copied, {} linked, {} symlinks, {} dirs created, {} replaced, {} unchanged",
        s.copied, s.linked, s.symlinks, s.dirs_created, s.replaced, s.skipped
    )
}

/// Runs `f`, drawing a progress bar on stderr if `enabled` and the work
/// lasts more than half a second (most runs are shorter, and a bar that
/// flashes for a few frames is noise).
pub(super) fn with_progress<T>(enabled: bool, what: &str, f: impl FnOnce(&Progress) -> T) -> T {
    let progress = Progress::default();
    if !enabled {
        return f(&progress);
    }
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let begin = Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let total = progress.total.load(Ordering::Relaxed);
                if bar.is_none() && total > 0 && begin.elapsed() > Duration::from_millis(500) {
                    let b = indicatif::ProgressBar::new(total);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{prefix} [{bar:40}] {pos}/{len} entries ({eta})",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b.set_prefix(format!("ppd {what}"));
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(progress.done.load(Ordering::Relaxed).min(total));
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        let out = f(&progress);
        finished.store(true, Ordering::Relaxed);
        out
    })
}
