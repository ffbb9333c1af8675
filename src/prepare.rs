//! `ppd prepare`: fill a package's per-package trees from its dependencies.
//!
//! For each destination tree (host first, then target, as Buildroot does),
//! the dependencies' trees are scanned in parallel, merged into one plan
//! (last dependency wins, [`crate::merge::plan`]), and applied under an
//! advisory lock beside the tree: as hard links, or (`--link-mode`, see
//! `placement`) as clones, possibly on top of a btrfs snapshot of the
//! dependency tree that already holds most of the result. With manifests on (the default),
//! the run also: removes entries a listed dependency placed earlier but no
//! longer provides (only while they still are the inode placed); replaces
//! entries a dependency changed; leaves alone anything the package
//! installed or edited itself; and records what it placed for the next run,
//! for `file-list`, and for the conflict check of packages built on this one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cow::{self, LinkMode};
use crate::fsx::{self, DirFd, FileKey, Kind};
use crate::manifest::{self, Loaded, Manifest, Record};
use crate::merge::{self, plan, Applied, ApplyOptions, FileMode, Plan, Source};
use crate::provenance::{self, NamedConflict};
use crate::scan::ScanOptions;

/// One tree to prepare.
#[derive(Clone, Debug)]
pub struct TreeJob {
    /// `host` or `target`: the subdirectory of each dependency to merge.
    pub kind: &'static str,
    /// The destination.
    pub dest: PathBuf,
}

/// What to prepare.
#[derive(Clone, Debug)]
pub struct PrepareConfig {
    /// The per-package directory root.
    pub per_package_dir: PathBuf,
    /// Destinations, in order.
    pub trees: Vec<TreeJob>,
    /// Dependencies, in merge order.
    pub deps: Vec<String>,
    /// Skip missing dependency trees instead of failing.
    pub allow_missing: bool,
    /// Read and write manifests.
    pub manifest: bool,
    /// Only compute and describe the plan.
    pub dry_run: bool,
    /// Rewrite other packages' per-package paths in the host tree afterwards.
    pub fixup: Option<crate::textfix::FixupConfig>,
    /// How files are placed (`Copy` is not one of prepare's modes: it
    /// means `Auto`).
    pub link_mode: LinkMode,
    /// With `Snapshot` and `Auto` on btrfs: the least number of entries a
    /// snapshot must save (see `snapshot_base`) to be made.
    pub snapshot_min_entries: i64,
}

/// How one tree's files were placed, for `-v`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// `Hardlink`, `Reflink` or `Snapshot`: what was done.
    pub mode: LinkMode,
    /// The destination's filesystem.
    pub fs: &'static str,
    /// With `Snapshot`: the dependency whose tree was snapshotted.
    pub base: Option<String>,
}

/// The outcome for one tree.
#[derive(Debug)]
pub struct TreeResult {
    /// The destination.
    pub dest: PathBuf,
    /// Dependencies actually merged.
    pub merged: usize,
    /// Dependencies skipped because their tree was missing.
    pub missing: Vec<String>,
    /// What apply did.
    pub applied: Applied,
    /// Conflicts between dependencies, sorted by path.
    pub conflicts: Vec<NamedConflict>,
    /// Stale entries removed.
    pub removed: u64,
    /// Warnings (damaged manifest...).
    pub warnings: Vec<String>,
    /// With `dry_run`: the operations a real run would perform, as text
    /// (see [`crate::merge::preview`], plus `remove PATH (no longer
    /// provided by DEP)`, `rmdir PATH` and `rewrite PATH` lines).
    pub plan_text: Option<Vec<u8>>,
    /// With `dry_run`: dependencies whose trees do not exist yet; the tree
    /// would be prepared after they are built, so nothing else is planned.
    pub waiting: Vec<String>,
    /// Number of entries in the plan.
    pub planned: usize,
    /// The path fixup's report (host tree with `fixup`).
    pub fixup: Option<crate::textfix::FixupReport>,
    /// How the files were placed (or would be, in a dry run).
    pub placement: Option<Placement>,
}

/// A manifest waiting to be written once the clock has passed the ctimes of
/// the directories it records, with the lock of its tree still held.
struct Pending {
    lock: crate::lock::TreeLock,
    path: PathBuf,
    manifest: Manifest,
}

/// Prepares every tree of `cfg`.
///
/// Worker threads are started only for a tree worth them: the scan of a
/// single dependency and the merge of a small plan run on the calling
/// thread.
pub fn prepare(cfg: &PrepareConfig, pools: &crate::jobs::Pools) -> Result<Vec<TreeResult>> {
    let mut results = Vec::new();
    let mut pending = Vec::new();
    for job in &cfg.trees {
        match prepare_tree(cfg, job, pools) {
            Ok((result, p)) => {
                results.push(result);
                pending.extend(p);
            }
            Err(e) => {
                // The trees done so far keep their manifests (without the
                // directory records, which need the wait below).
                for mut p in pending {
                    p.manifest.dirs.clear();
                    manifest::save(&p.path, &p.manifest)?;
                }
                return Err(e);
            }
        }
    }
    // The manifests, then one wait for all trees (see `record_dirs`). The
    // clock only has to be past the recorded ctimes before prepare returns
    // and the package's own steps can change the trees (the locks are held
    // until then), so writing the manifests uses up the wait instead of
    // following it: a toolchain's manifest takes longer than a clock tick.
    // No wait at all where the filesystem of every recorded directory
    // gives any later change a later ctime ([`changes_always_seen`]).
    for p in &pending {
        manifest::save(&p.path, &p.manifest)?;
    }
    let newest = pending
        .iter()
        .flat_map(|p| p.manifest.dirs.values())
        .map(|d| safe_after(d.ctime))
        .max();
    // One probe, on the first lock file: it serves every tree on its
    // filesystem (host and target sit side by side).
    let seen = || {
        let dev = pending
            .first()
            .and_then(|p| changes_always_seen(p.lock.file()));
        dev.is_some_and(|dev| {
            let mut dirs = pending.iter().flat_map(|p| p.manifest.dirs.values());
            dirs.all(|d| d.key.dev == dev)
        })
    };
    if let Some(newest) = newest.filter(|&n| coarse_now() <= n && !seen()) {
        let now = clock_past(newest);
        for p in &mut pending {
            // Only if the clock did not get there (it was set back).
            let before = p.manifest.dirs.len();
            manifest::retain_dirs(&mut p.manifest.dirs, |d| safe_after(d.ctime) < now);
            if p.manifest.dirs.len() != before {
                manifest::save(&p.path, &p.manifest)?;
            }
        }
    }
    for Pending { lock, manifest, .. } in pending {
        lock.done()?;
        crate::discard::discard(manifest);
    }
    Ok(results)
}

/// The time the clock must be past before a directory with ctime `t` can
/// be recorded: `t` itself on a filesystem that stores nanoseconds (any
/// later change gets a later ctime), a millisecond later if the ctime is a
/// whole number of microseconds (a filesystem storing microseconds, or one
/// nanosecond value in a thousand: either way the margin covers it).
fn safe_after(t: fsx::Mtime) -> fsx::Mtime {
    if t.nsec % 1_000 != 0 {
        return t;
    }
    let nsec = t.nsec + 1_000_000;
    fsx::Mtime {
        sec: t.sec + nsec.div_euclid(1_000_000_000),
        nsec: nsec.rem_euclid(1_000_000_000),
    }
}

/// True if a ctime comes from a filesystem that stores time finer than a
/// millisecond. A filesystem with coarser timestamps (whole seconds on old
/// ext3 inodes, 10 ms on FAT) gives a later change within the same unit
/// the same ctime, so its directories are not recorded; on a nanosecond
/// filesystem this also leaves out one directory in a million (and its
/// parents), which `file-list` then reads.
fn fine_ctime(t: fsx::Mtime) -> bool {
    t.nsec % 1_000_000 != 0
}

/// Returns the device of `file`'s filesystem if it gives every change made
/// after a `stat` a later ctime than the one that `stat` returned, however
/// soon the change comes (Linux's multigrain timestamps, since 6.13 on
/// ext4, xfs, btrfs and tmpfs: a ctime that was read is never handed out
/// again), so that no clock wait is needed before the recorded ctimes of
/// its directories, each read by a `stat` after the last change prepare
/// made, can be trusted.
///
/// Probed on the lock file: the same mode set twice, each change followed
/// by an `fstat`, within one tick of the coarse clock the kernel takes
/// ctimes from. With coarse timestamps both changes get that tick's time;
/// with multigrain ones the second gets a later, fine-grained one. A tick
/// passing during the probe (or any error) leaves it undecided: `None`,
/// and the caller waits as before.
fn changes_always_seen(file: &std::fs::File) -> Option<u64> {
    use rustix::fs::{fchmod, fstat, Mode};
    let st = fstat(file).ok()?;
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    let tick = coarse_now();
    fchmod(file, mode).ok()?;
    let first = fstat(file).ok()?;
    fchmod(file, mode).ok()?;
    let second = fstat(file).ok()?;
    if coarse_now() != tick {
        return None;
    }
    let ctime = |st: &fsx::FileStat| (st.st_ctime, st.st_ctime_nsec);
    (ctime(&second) > ctime(&first)).then_some(st.st_dev)
}

/// The coarse clock the kernel takes ctimes from.
fn coarse_now() -> fsx::Mtime {
    use rustix::time::{clock_gettime, ClockId};
    // Since Linux 2.6.32.
    let now = clock_gettime(ClockId::RealtimeCoarse);
    fsx::Mtime {
        sec: now.tv_sec,
        nsec: now.tv_nsec,
    }
}

/// Waits, at most a few clock ticks, until the coarse clock the kernel
/// takes ctimes from is past `t`; returns its time then.
fn clock_past(t: fsx::Mtime) -> fsx::Mtime {
    let coarse = coarse_now;
    for _ in 0..50 {
        let now = coarse();
        if now > t {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // The clock did not get there (it was set back): the caller keeps
    // only the directories whose ctime is already in the past.
    coarse()
}

fn dep_tree(cfg: &PrepareConfig, dep: &str, kind: &str) -> PathBuf {
    cfg.per_package_dir.join(dep).join(kind)
}

/// A plan weighing less than this (entries, plus 4 per directory: the
/// weight apply splits plans by) is merged on the calling thread. Counted
/// over a whole-build replay (hundreds of steps of a few hundred entries
/// each), worker threads for such plans cost more CPU time, context
/// switches and system calls (thread start, idle spinning, a malloc arena
/// each) than the few milliseconds of linking they share out.
const SMALL_PLAN: usize = 2048;

/// A path fixup of a freshly filled tree expecting to read fewer bytes
/// than this (the files just placed that the scan cache does not clear: in
/// a build, the files holding per-package paths and those of dependencies
/// installed since the last configure step) runs on the calling thread. Its directory listings and
/// cache look-ups cost less than starting and waking worker threads for
/// them; reading a few MiB is worth sharing out.
const SMALL_FIXUP: u64 = 2 << 20;

/// Dependencies whose manifests total less than this many bytes (about
/// 12,000 records: in a Buildroot build, a few dependencies whose host
/// trees each hold the toolchain's sysroot, 1,500 to 2,500 records apiece)
/// are scanned on the calling thread: reading and indexing a manifest
/// costs about as much per byte as a worker thread's start, wake-ups and
/// idle spinning cost per step, so parallel scans pay off only when the
/// trees are large. A tree that prepare filled is as large as its manifest.
/// A tree without records (a package built from nothing but its own files)
/// counts as small: scanning it alongside one other tree saves at most the
/// smaller tree's time.
const SMALL_SCAN: u64 = 1 << 20;

/// The bytes of the manifests of `roots` (0 for a tree without one), from
/// one `statx` each.
fn manifest_bytes(roots: &[(String, PathBuf)]) -> u64 {
    roots
        .iter()
        .filter_map(|(_, root)| std::fs::symlink_metadata(manifest::path_for(root)).ok())
        .map(|m| m.len())
        .sum()
}

fn prepare_tree(
    cfg: &PrepareConfig,
    job: &TreeJob,
    pools: &crate::jobs::Pools,
) -> Result<(TreeResult, Option<Pending>)> {
    let roots: Vec<(String, PathBuf)> = cfg
        .deps
        .iter()
        .map(|d| (d.clone(), dep_tree(cfg, d, job.kind)))
        .collect();
    // A dry run reports a dependency that is not built yet instead of
    // failing: under make -n its tree would be there by then.
    let (roots, waiting) = if cfg.dry_run && !cfg.allow_missing {
        merge::preview::not_built(roots)
    } else {
        (roots, Vec::new())
    };
    // The scan's directory handles are kept for the merge (a small tree
    // is then opened once) only where the budget of kept handles has room
    // for every tree's share and the merge's own.
    let keep_handles = (roots.len() + 2) * crate::walk::LOCAL_CAP <= crate::limits::retained_dirs();
    let opts = ScanOptions {
        manifests: cfg.manifest,
        keep_handles,
        ..ScanOptions::default()
    };
    // One tree is scanned by one thread anyway, and small trees are not
    // worth starting threads for (see `SMALL_SCAN`).
    let scan_pool = match roots.len() {
        0 | 1 => pools.inline()?,
        _ if cfg.manifest && manifest_bytes(&roots) < SMALL_SCAN => pools.inline()?,
        _ => pools.full()?,
    };
    let (sources, missing) = merge::scan_sources(&roots, cfg.allow_missing, opts, scan_pool)?;
    let plan = merge::build(&sources);
    let weight = plan.leaf_count() + 4 * plan.dirs.len();
    // The path fixup picks its own threads (see `SMALL_FIXUP`).
    let pool = match weight < SMALL_PLAN {
        true => pools.inline()?,
        false => pools.full()?,
    };
    let conflicts = provenance::name_conflicts(&sources, &plan, &cfg.per_package_dir);
    let mut result = TreeResult {
        dest: job.dest.clone(),
        merged: sources.len(),
        missing,
        applied: Applied::default(),
        conflicts,
        removed: 0,
        warnings: Vec::new(),
        plan_text: None,
        waiting,
        planned: plan.leaf_count(),
        fixup: None,
        placement: None,
    };
    if cfg.dry_run {
        return Ok((dry_run(cfg, job, &sources, &plan, result, pool)?, None));
    }
    let lock = crate::lock::lock(&job.dest)?;
    lock.mark()?;
    result.warnings.extend(lock.warning());
    let mpath = manifest::path_for(&job.dest);
    // A directory holding something where the manifest (or its temporary)
    // goes is not ppd's: the merge goes on as with --no-manifest.
    // (The temporary's name was looked at by the lock, which removes a
    // killed run's.)
    let temp = manifest::temp_path_for(&job.dest);
    let blocked = if lock.blocks(&temp) {
        Some(temp)
    } else {
        Some(mpath.clone()).filter(|p| crate::lock::sidecar_blocked(p))
    };
    if let Some(p) = &blocked {
        result.warnings.push(format!(
            "{} is a directory, not ppd's manifest: merging like rsync, without a manifest",
            crate::fsx::show(p)
        ));
    }
    let use_manifest = cfg.manifest && blocked.is_none();
    let (mode, base, placed) = placement(cfg, job, &sources, &plan, lock.interrupted())?;
    result.placement = Some(placed);
    if sources.is_empty() {
        // Nothing to merge: like the rsync loop's `mkdir -p`, just make sure
        // the tree exists, and record that nothing was placed.
        DirFd::create_all(&job.dest)?;
        if use_manifest && !mpath.exists() {
            manifest::save(&mpath, &Manifest::default())?;
        }
        lock.done()?;
        return Ok((result, None));
    }
    let old = if use_manifest {
        previous_manifest(&job.dest, &mut result.warnings)
    } else {
        None
    };
    let mut new = old.clone().unwrap_or_default();
    if let Some(old) = &old {
        result.removed =
            remove_stale(cfg, &job.dest, &sources, &plan, old, &mut new, false)?.len() as u64;
    }
    let opts = ApplyOptions {
        mode,
        record: use_manifest,
        guard: old.as_ref(),
        progress: None,
        base,
        interrupted_since: lock.interrupted_since(),
    };
    result.applied = merge::apply(&sources, &plan, &job.dest, opts, pool)?;
    if use_manifest {
        let record_of = |p: &merge::apply::Placed| {
            let e = plan::entry(&sources, p.r);
            let path = merge::apply::leaf_path(&plan.dirs[p.dir as usize], &e.name);
            let record = Record {
                provider: sources[p.r.src as usize].label.clone(),
                kind: p.meta.kind,
                key: p.key,
                size: p.size,
                mode: p.meta.mode & 0o7777,
                mtime: p.meta.mtime,
                rewritten: false,
            };
            (path, record)
        };
        let placed = &result.applied.placed;
        if new.records.is_empty() {
            // A tree's first prepare: the map built in one go (a bulk
            // build) instead of an insertion per entry, from the records
            // in path order already, so that the build's sort finds one
            // run (sorting the plan's order compared long common path
            // prefixes: 10 ms of a 50,000-entry step).
            let order = merge::apply::path_order(&sources, &plan, placed);
            new.records = order
                .iter()
                .map(|&i| record_of(&placed[i as usize]))
                .collect();
        } else {
            new.records.extend(placed.iter().map(record_of));
        }
        for own in &result.applied.kept_own {
            new.records.remove(own);
        }
        new.empty_dirs = empty_dirs(cfg, &sources, &plan, old.as_ref());
    }
    if let (Some(fx), "host") = (&cfg.fixup, job.kind) {
        // The entries just placed were `lstat`ed for their records: the
        // fixup takes those instead of an `fstatat` of each again.
        let mut known = crate::textfix::Known::default();
        for p in &result.applied.placed {
            let rel: &[u8] = &plan.dirs[p.dir as usize].rel;
            let entry = crate::textfix::KnownEntry {
                key: p.key,
                size: p.size,
                meta: p.meta,
            };
            let name: &[u8] = &plan::entry(&sources, p.r).name;
            known.entry(rel).or_default().insert(name, entry);
        }
        let dest = std::slice::from_ref(&job.dest);
        // The estimate sees only the entries just placed: it stands for
        // the tree where every directory below its root was created by
        // this run. A re-prepared tree also holds what earlier runs placed
        // and the package installed: the whole budget, as before.
        let only_placed = result.applied.fresh.iter().skip(1).all(|&f| f);
        let pick = |unread: u64| match only_placed && unread < SMALL_FIXUP {
            true => pools.inline(),
            false => pools.full(),
        };
        let listings = fresh_listings(&sources, &plan, &result.applied.fresh, &known);
        let report =
            crate::textfix::fixup_trees_sized(fx, dest, Some(&known), Some(&listings), &pick)?;
        crate::discard::discard(listings);
        crate::discard::discard(known);
        if use_manifest {
            provenance::note_rewrites(&job.dest, &report, &mut new)?;
        }
        result.fixup = Some(report);
    }
    if !use_manifest {
        lock.done()?;
        release(sources, plan);
        return Ok((result, None));
    }
    if old.as_ref().is_some_and(|m| m.identity_lost) {
        refresh_identities(&job.dest, &mut new)?;
    }
    new.root = fsx::dir_identity(&job.dest);
    let fixed = result.fixup.is_some();
    new.dirs = match dirs_as_applied(&plan, &result.applied, fixed) {
        Some(dirs) => dirs,
        None => record_dirs(&job.dest, &plan, &result.applied.fresh)?,
    };
    release(sources, plan);
    let pending = Pending {
        lock,
        path: mpath,
        manifest: new,
    };
    Ok((result, Some(pending)))
}

/// The complete listings of the directories this run created (`fresh`, by
/// plan index), for the path fixup: a directory made by this run holds
/// exactly the plan's entries for it and its subdirectories in the plan
/// (a device node the kernel refused is listed but not there: the fixup
/// skips devices anyway). Inode numbers come from the `lstat`s in `known`.
fn fresh_listings<'a>(
    sources: &'a [Source],
    plan: &'a Plan,
    fresh: &[bool],
    known: &crate::textfix::Known<'_>,
) -> crate::textfix::Listings<'a> {
    use crate::textfix::ListedEntry;
    let mut out = crate::textfix::Listings::default();
    for (i, d) in plan.dirs.iter().enumerate() {
        if !fresh.get(i).copied().unwrap_or(false) {
            continue;
        }
        let placed = known.get(&d.rel[..]);
        let entries = d.leaves.iter().map(|&r| {
            let e = plan::entry(sources, r);
            let ino = placed
                .and_then(|m| m.get(&e.name[..]))
                .map_or(0, |k| k.key.ino);
            ListedEntry {
                name: &e.name,
                kind: e.kind,
                ino,
            }
        });
        out.insert(&d.rel[..], entries.collect());
    }
    for d in plan.dirs.iter().skip(1) {
        if let Some(v) = out.get_mut(&plan.dirs[d.parent as usize].rel[..]) {
            v.push(ListedEntry {
                name: d.name(),
                kind: fsx::Kind::Dir,
                ino: 0,
            });
        }
    }
    out
}

/// Frees what the merge needed: the dependencies' directory handles are
/// closed here, their entries and the plan left to [`crate::discard`].
fn release(mut sources: Vec<Source>, plan: Plan) {
    for s in &mut sources {
        crate::discard::discard(std::mem::take(&mut s.tree.dirs));
    }
    crate::discard::discard(plan);
}

/// The dry run of [`prepare_tree`]: what it would remove, place and
/// rewrite in `job.dest` as it is now, changing nothing (no lock, no
/// manifest, no directory).
fn dry_run(
    cfg: &PrepareConfig,
    job: &TreeJob,
    sources: &[Source],
    plan: &Plan,
    mut result: TreeResult,
    pool: &rayon::ThreadPool,
) -> Result<TreeResult> {
    use std::io::Write;
    let mut text = Vec::new();
    if !result.waiting.is_empty() {
        result.plan_text = Some(text);
        return Ok(result);
    }
    if sources.is_empty() {
        if std::fs::symlink_metadata(&job.dest).is_err() {
            writeln!(text, "mkdir {}", crate::fsx::show(&job.dest))?;
        }
        result.plan_text = Some(text);
        return Ok(result);
    }
    let old = if cfg.manifest {
        previous_manifest(&job.dest, &mut result.warnings)
    } else {
        None
    };
    let mut gone = HashSet::new();
    if let Some(old) = &old {
        let mut scratch = old.clone();
        let removed = remove_stale(cfg, &job.dest, sources, plan, old, &mut scratch, true)?;
        for (rel, dep) in &removed {
            let path = fsx::join(&job.dest, rel);
            if dep.is_empty() {
                writeln!(text, "rmdir {}", crate::fsx::show(&path))?;
            } else {
                writeln!(
                    text,
                    "remove {} (no longer provided by {dep})",
                    crate::fsx::show(&path)
                )?;
            }
        }
        result.removed = removed.len() as u64;
        gone.extend(removed.into_iter().map(|(rel, _)| rel));
    }
    let support = existing_dir(&job.dest).map(|d| cow::detect(&d, cow::Probe::Unnamed));
    let clone = match cfg.link_mode {
        LinkMode::Hardlink => false,
        _ => support.is_some_and(|s| s.reflink),
    };
    // The snapshot the run would make: the same choice as `placement`'s,
    // for a tree that does not exist yet or is a placeholder.
    let snapshot = match cfg.link_mode {
        LinkMode::Auto | LinkMode::Snapshot
            if support.is_some_and(|s| s.snapshot)
                && (std::fs::symlink_metadata(&job.dest).is_err() || placeholder(&job.dest)) =>
        {
            snapshot_base(sources, plan, cfg.snapshot_min_entries.max(1))
        }
        _ => None,
    };
    result.placement = Some(Placement {
        mode: match (snapshot, clone) {
            (Some(_), _) => LinkMode::Snapshot,
            (None, true) => LinkMode::Reflink,
            (None, false) => LinkMode::Hardlink,
        },
        fs: support.map_or("unknown", |s| s.fs),
        base: snapshot.map(|b| sources[b as usize].label.clone()),
    });
    let opts = ApplyOptions {
        mode: if clone {
            FileMode::Clone
        } else {
            FileMode::Link
        },
        record: false,
        guard: old.as_ref(),
        progress: None,
        base: None,
        interrupted_since: None,
    };
    let pv = merge::preview::preview(sources, plan, &job.dest, opts, &gone)?;
    text.extend_from_slice(&pv.text);
    result.applied = pv.applied;
    if let Some(b) = snapshot {
        // The base's winning entries would come with the snapshot, not
        // be cloned (the plan text above still lists every entry).
        let (mut files, mut others) = (0u64, 0u64);
        for r in plan.dirs.iter().flat_map(|d| &d.leaves) {
            match plan::entry(sources, *r).kind {
                _ if r.src != b => {}
                Kind::File => files += 1,
                _ => others += 1,
            }
        }
        let s = &mut result.applied.stats;
        s.from_snapshot += files + others;
        s.cloned = s.cloned.saturating_sub(files);
        s.linked = s.linked.saturating_sub(others);
    }
    if let (Some(fx), "host") = (&cfg.fixup, job.kind) {
        let report = fixup_preview(fx, &job.dest, &pv.incoming, pool)?;
        for rw in &report.rewritten {
            writeln!(text, "rewrite {}", crate::fsx::show(&rw.path()))?;
        }
        result.fixup = Some(report);
    }
    result.plan_text = Some(text);
    Ok(result)
}

/// The nearest directory that exists at or above `path`, open.
fn existing_dir(path: &Path) -> Option<DirFd> {
    path.ancestors().find_map(|p| {
        DirFd::open(if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        })
        .ok()
    })
}

/// Decides how the files of `job`'s tree are placed, detecting once what
/// its filesystem supports, and makes the tree a snapshot or a subvolume
/// where that is the choice:
///
/// - `hardlink`: hard links, as always.
/// - `reflink`: clones where the filesystem clones (btrfs; XFS and others
///   where a one-byte probe clone works), else hard links (as before:
///   never a failure, never a full copy of every file).
/// - `snapshot` and `auto` on btrfs, for a tree that does not exist yet
///   (or is an empty directory no prepare filled, made by `mkdir -p`):
///   a snapshot of the dependency tree that saves the most work (the
///   entries it wins in the plan, less the entries it brings that others
///   override), if that tree is a subvolume and the snapshot saves at
///   least `snapshot_min_entries` entries; without one the tree is created
///   as an empty subvolume (by `auto` only where that is cheap: see
///   [`cow::cheap_subvolumes`]), so that the packages built on this one
///   can snapshot it. Then clones. A tree that exists already gets clones
///   (its own files are in it).
/// - `auto` elsewhere: clones where the filesystem clones, else hard links.
///
/// A snapshot tree that the last run left unfinished (killed before its
/// first manifest) is removed and made again: the snapshot brought entries
/// that only the interrupted merge knew to replace.
///
/// Returns the file mode, the snapshot's source, and the report.
fn placement(
    cfg: &PrepareConfig,
    job: &TreeJob,
    sources: &[Source],
    plan: &Plan,
    interrupted: bool,
) -> Result<(FileMode, Option<u32>, Placement)> {
    let dest = &job.dest;
    let parent_path = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = DirFd::create_all(parent_path)?;
    let support = cow::detect(&parent, cow::Probe::No);
    let report = |mode, base| Placement {
        mode,
        fs: support.fs,
        base,
    };
    let want = match cfg.link_mode {
        LinkMode::Copy => LinkMode::Auto,
        m => m,
    };
    if want == LinkMode::Hardlink {
        return Ok((FileMode::Link, None, report(LinkMode::Hardlink, None)));
    }
    let name = dest
        .file_name()
        .map(|n| std::os::unix::ffi::OsStrExt::as_bytes(n).to_vec());
    if let (true, Some(name)) = (
        support.snapshot && matches!(want, LinkMode::Auto | LinkMode::Snapshot),
        name,
    ) {
        let mut exists = parent.stat(&name)?.is_some();
        if exists
            && interrupted
            && cfg.manifest
            && !manifest::path_for(dest).exists()
            && cow::is_subvolume(dest)
        {
            parent.remove_tree(&name)?;
            exists = false;
        }
        // An empty directory that no prepare filled (`mkdir -p`, as
        // Buildroot's rules do before this step) is as good as absent: it
        // is removed, so that the tree can be a snapshot or a subvolume.
        // rmdir refuses a directory that something filled meanwhile.
        if exists && placeholder(dest) && parent.unlink(&name, true).is_ok() {
            exists = false;
        }
        if !exists {
            // A snapshot only where it saves more than it costs: creating
            // one commits the filesystem's transaction (every change since
            // the last commit is written and the device flushed first),
            // measured at 10 ms on an idle loop-mounted image and hundreds
            // of milliseconds in the middle of a build, the time of
            // thousands of clones.
            if let Some(b) = snapshot_base(sources, plan, cfg.snapshot_min_entries.max(1)) {
                let src = DirFd::open(&sources[b as usize].tree.root)?;
                if cow::snapshot(&src, &parent, &name).is_ok() {
                    let label = sources[b as usize].label.clone();
                    return Ok((
                        FileMode::Clone,
                        Some(b),
                        report(LinkMode::Snapshot, Some(label)),
                    ));
                }
            }
            // Otherwise the tree is made an empty subvolume, so that the
            // packages built on it can snapshot it (refused: a plain
            // directory is made below). Since Linux 6.4 that commits
            // nothing (0.1 ms here); before, it committed as a snapshot
            // does, so `auto` makes subvolumes only on those kernels.
            if want == LinkMode::Snapshot || cow::cheap_subvolumes() {
                let _ = cow::create_subvolume(&parent, &name);
            }
        }
        return Ok((FileMode::Clone, None, report(LinkMode::Reflink, None)));
    }
    // Probed in the tree if it exists, else beside it (with unnamed
    // files: a killed probe leaves nothing there): creating the tree here
    // would hide from the merge that it is new.
    let at = DirFd::open(dest).unwrap_or(parent);
    let support = cow::detect(&at, cow::Probe::Any);
    if support.reflink {
        Ok((FileMode::Clone, None, report(LinkMode::Reflink, None)))
    } else {
        Ok((FileMode::Link, None, report(LinkMode::Hardlink, None)))
    }
}

/// True if `dest` is an empty directory (not a symlink to one) without a
/// manifest beside it: made by `mkdir -p`, never filled by a prepare.
fn placeholder(dest: &Path) -> bool {
    std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir())
        && !manifest::path_for(dest).exists()
        && std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_none())
}

/// The dependency whose tree is best snapshotted to start the merge: a
/// subvolume holding no other (a snapshot would show that one as an empty
/// directory, and the merge trusts what the snapshot brings), scoring the entries it wins in the plan (already right after
/// the snapshot) less those it brings that another dependency overrides
/// (to be replaced); none if no tree scores `least` or more.
fn snapshot_base(sources: &[Source], plan: &Plan, least: i64) -> Option<u32> {
    let mut wins = vec![0i64; sources.len()];
    for d in &plan.dirs {
        for r in &d.leaves {
            wins[r.src as usize] += 1;
        }
    }
    let mut best: Option<(i64, u32)> = None;
    for (i, s) in sources.iter().enumerate() {
        let entries: i64 = s
            .tree
            .dirs
            .iter()
            .map(|d| d.entries.iter().filter(|e| e.kind != Kind::Dir).count() as i64)
            .sum();
        let score = 2 * wins[i] - entries;
        if score >= least
            && best.is_none_or(|(b, _)| score >= b)
            && cow::snapshot_whole(&s.tree.root)
            // A run writing that tree died there: a snapshot would copy
            // its temporaries, which listings skip and no run of this
            // tree would ever remove.
            && !crate::lock::marked(&s.tree.root)
        {
            best = Some((score, i as u32));
        }
    }
    best.map(|(_, i)| i)
}

/// The files the path fixup after a merge would rewrite: those of the
/// destination as it is now that keep their content (a dry run of
/// `fixup-paths` on it), and those the merge would bring in, judged by
/// their source's content.
/// The manifest the last run left beside `dest`, if it can be used; a
/// damaged one is warned about and the merge goes on as rsync's would.
fn previous_manifest(dest: &Path, warnings: &mut Vec<String>) -> Option<Manifest> {
    match manifest::load_for(dest) {
        Loaded::Good(m) => Some(m),
        Loaded::Missing => None,
        Loaded::Damaged(why) => {
            warnings.push(format!(
                "damaged manifest {} ({why}): merging like rsync, without removing stale entries",
                crate::fsx::show(&manifest::path_for(dest))
            ));
            None
        }
    }
}

fn fixup_preview(
    fx: &crate::textfix::FixupConfig,
    dest: &Path,
    incoming: &[(Vec<u8>, PathBuf)],
    pool: &rayon::ThreadPool,
) -> Result<crate::textfix::FixupReport> {
    use crate::textfix::{classify, Class, Pattern, Rewritten, RewrittenKind};
    use std::os::unix::ffi::OsStrExt;
    let fx = crate::textfix::FixupConfig {
        dry_run: true,
        ..fx.clone()
    };
    let mut report = if std::fs::symlink_metadata(dest).is_ok() {
        crate::textfix::fixup_trees(&fx, &[dest.to_path_buf()], pool)
            .map_err(|e| anyhow::anyhow!(e.lines().join("; ")))?
    } else {
        crate::textfix::FixupReport::default()
    };
    let replaced: HashSet<&[u8]> = incoming.iter().map(|(rel, _)| rel.as_slice()).collect();
    report
        .rewritten
        .retain(|rw| !replaced.contains(rw.rel.as_slice()));
    let pattern = Pattern::new(
        fx.per_package_dir.as_os_str().as_bytes(),
        fx.new_root.as_os_str().as_bytes(),
    )
    .map_err(|e| anyhow::anyhow!(e.lines().join("; ")))?;
    for (rel, src) in incoming {
        let data = std::fs::read(src)
            .map_err(|e| fsx::FsError::new("reading", src.clone(), fsx::errno_of(&e)))?;
        if pattern.is_match(&data)
            && classify(&data) == Class::Text
            && pattern.rewrite(&data).is_some()
        {
            report.rewritten.push(Rewritten {
                tree: dest.to_path_buf(),
                rel: rel.clone(),
                kind: RewrittenKind::File,
                new_target: None,
                ino: None,
            });
        }
    }
    report.rewritten.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(report)
}

/// Records the directories this run created (they hold exactly what the
/// plan put there, and the manifest names all of it), with their ctimes.
///
/// A record is only worth something if any later change to the directory
/// gives it a different ctime. The kernel takes ctimes from a clock that
/// advances in ticks (4 ms here), so a change within the tick of the last
/// change prepare made could get the same value: [`prepare`] returns only
/// once that clock is past every recorded ctime (one wait for all trees,
/// at most a tick, taken after writing the manifests; see [`safe_after`];
/// none on a filesystem with multigrain timestamps, where the `stat` that
/// read the recorded ctime makes the next change get a later one), and
/// directories on filesystems with coarser timestamps are not recorded.
fn record_dirs(
    dest: &Path,
    plan: &merge::Plan,
    fresh: &[bool],
) -> Result<std::collections::BTreeMap<Vec<u8>, manifest::DirRecord>> {
    use std::collections::BTreeMap;
    let mut dirs = BTreeMap::new();
    if !fresh.iter().any(|&f| f) {
        return Ok(dirs);
    }
    let root = DirFd::open(dest)?;
    if fresh[0] {
        dirs.insert(Vec::new(), manifest::DirRecord::of(&root.stat_self()?));
    }
    // A directory that is gone or no longer one is not recorded (nor its
    // subdirectories, nor its parents: see `manifest::unrecord_dir`).
    let mut gone = Vec::new();
    plan.visit_dirs(&root, |i, d, parent| -> Result<bool> {
        if !fresh[i] {
            return Ok(true);
        }
        match parent.stat(d.name())? {
            Some(st) if fsx::Kind::from_mode(st.st_mode) == fsx::Kind::Dir => {
                dirs.insert(d.rel.to_vec(), manifest::DirRecord::of(&st));
                Ok(true)
            }
            _ => {
                gone.push(d.rel.to_vec());
                Ok(false)
            }
        }
    })?;
    for rel in gone {
        manifest::unrecord_dir(&mut dirs, &rel);
    }
    manifest::retain_dirs(&mut dirs, |d| fine_ctime(d.ctime));
    Ok(dirs)
}

/// The records of [`record_dirs`], taken from the `fstat` apply made of
/// each directory it created after its last change there
/// ([`Applied::fresh_dirs`]) instead of looking again: `None` where those
/// are not the last changes (the path fixup rewrote files since) or do not
/// cover every directory created.
fn dirs_as_applied(
    plan: &merge::Plan,
    applied: &Applied,
    rewritten: bool,
) -> Option<std::collections::BTreeMap<Vec<u8>, manifest::DirRecord>> {
    let created = applied.fresh.iter().filter(|&&f| f).count();
    if rewritten || applied.fresh_dirs.len() != created {
        return None;
    }
    let mut dirs: std::collections::BTreeMap<Vec<u8>, manifest::DirRecord> = applied
        .fresh_dirs
        .iter()
        .map(|&(i, rec)| (plan.dirs[i as usize].rel.to_vec(), rec))
        .collect();
    manifest::retain_dirs(&mut dirs, |d| fine_ctime(d.ctime));
    Some(dirs)
}

/// After the tree was copied or restored (its manifest's inode numbers
/// all stale), records each entry's new identity where the entry is still
/// what was placed (type, size, mtime and mode), and forgets the others:
/// the package's own from now on, as any entry prepare did not place.
fn refresh_identities(dest: &Path, m: &mut Manifest) -> Result<()> {
    let root = DirFd::open(dest)?;
    let lost = manifest::Trust {
        written: None,
        identity_lost: true,
    };
    let mut gone = Vec::new();
    for (path, rec) in m.records.iter_mut() {
        let (parent, name) = split(path);
        let st = match root.open_beneath(parent) {
            Ok(dir) => dir.stat(name)?,
            Err(_) => None,
        };
        match st {
            Some(st) if rec.still_placed(&st, lost, || None) => rec.key = FileKey::of(&st),
            _ => gone.push(path.clone()),
        }
    }
    for path in gone {
        m.records.remove(&path);
    }
    Ok(())
}

/// The directories the dependencies provide empty (no entry, no
/// subdirectory in the plan), each with the dependencies providing it;
/// and from the previous manifest those of dependencies this run does not
/// list (another step's prepare placed them, and they stay).
fn empty_dirs(
    cfg: &PrepareConfig,
    sources: &[Source],
    plan: &Plan,
    old: Option<&Manifest>,
) -> std::collections::BTreeMap<Vec<u8>, Vec<String>> {
    let deps: HashSet<&str> = cfg.deps.iter().map(String::as_str).collect();
    let mut out = std::collections::BTreeMap::new();
    for (path, by) in old.iter().flat_map(|m| &m.empty_dirs) {
        let rest: Vec<String> = by
            .iter()
            .filter(|b| !deps.contains(b.as_str()))
            .cloned()
            .collect();
        if !rest.is_empty() {
            out.insert(path.clone(), rest);
        }
    }
    let mut has_child = vec![false; plan.dirs.len()];
    for d in plan.dirs.iter().skip(1) {
        has_child[d.parent as usize] = true;
    }
    let empty: HashSet<&[u8]> = (1..plan.dirs.len())
        .filter(|&i| plan.dirs[i].leaves.is_empty() && !has_child[i])
        .map(|i| &*plan.dirs[i].rel)
        .collect();
    if empty.is_empty() {
        return out;
    }
    for s in sources {
        for d in s.tree.dirs.iter().skip(1) {
            if d.entries.is_empty() && empty.contains(&*d.rel) {
                let by: &mut Vec<String> = out.entry(d.rel.to_vec()).or_default();
                if !by.contains(&s.label) {
                    by.push(s.label.clone());
                }
            }
        }
    }
    out
}

/// Removes entries that a dependency of this run placed before but no
/// longer provides (or now provides as a directory), while they still
/// carry the inode that was placed; then the directories that held them
/// and that no dependency provides as a directory any more, if they are
/// empty now; directories listed dependencies provided empty count as
/// holding their entries ([`Manifest::empty_dirs`]). A fresh prepare would
/// not have them: a dependency turning `lib64/` into `lib64 -> lib` leaves
/// the package with the symlink, not an empty `lib64/`. `rmdir` never
/// removes what the package put inside, and an empty directory the
/// package made itself is in no record.
fn remove_stale(
    cfg: &PrepareConfig,
    dest: &Path,
    sources: &[Source],
    plan: &Plan,
    old: &Manifest,
    new: &mut Manifest,
    dry_run: bool,
) -> Result<Vec<(Vec<u8>, String)>> {
    let deps: HashSet<&str> = cfg.deps.iter().map(String::as_str).collect();
    let plan_dirs: HashSet<&[u8]> = plan.dirs.iter().map(|d| &*d.rel).collect();
    let mut leaves: HashSet<Vec<u8>> = HashSet::new();
    for d in &plan.dirs {
        for &r in &d.leaves {
            leaves.insert(merge::apply::leaf_path(d, &plan::entry(sources, r).name));
        }
    }
    let root = match DirFd::open(dest) {
        Ok(r) => r,
        Err(e) if e.errno() == crate::fsx::Errno::ENOENT => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut removed = Vec::new();
    // Directories that held a listed dependency's entries.
    let mut held: std::collections::BTreeSet<&[u8]> = std::collections::BTreeSet::new();
    for (path, rec) in &old.records {
        if !deps.contains(rec.provider.as_str()) {
            continue;
        }
        let mut at = &path[..];
        while let Some(i) = memchr::memrchr(b'/', at) {
            at = &at[..i];
            held.insert(at);
        }
        if leaves.contains(path) {
            continue;
        }
        let (parent, name) = split(path);
        let dir = match root.open_beneath(parent) {
            Ok(d) => d,
            Err(_) => {
                new.records.remove(path);
                continue;
            }
        };
        if let Some(st) = dir.stat(name)? {
            if Kind::from_mode(st.st_mode) != Kind::Dir
                && rec.still_placed(&st, old.trust(), || dir.born(name))
            {
                if !dry_run {
                    dir.unlink(name, false)?;
                }
                removed.push((path.clone(), rec.provider.clone()));
            }
        }
        new.records.remove(path);
    }
    // Directories a listed dependency provided empty, unless a dependency
    // this run does not list provided them too.
    for (path, by) in &old.empty_dirs {
        if by.iter().all(|b| deps.contains(b.as_str())) {
            held.insert(path);
            let mut at = &path[..];
            while let Some(i) = memchr::memrchr(b'/', at) {
                at = &at[..i];
                held.insert(at);
            }
        }
    }
    // Deepest first: a path sorts after every ancestor.
    for path in held.iter().rev() {
        if plan_dirs.contains(path) {
            continue;
        }
        let (parent, name) = split(path);
        let Ok(dir) = root.open_beneath(parent) else {
            continue;
        };
        if dry_run {
            // rmdir succeeds if everything in the directory is gone by then.
            let empty = root.open_beneath(path).is_ok_and(|d| {
                d.list().is_ok_and(|names| {
                    names.iter().all(|(n, _)| {
                        let child = crate::scan::child_rel(path, n);
                        removed.iter().any(|(r, _)| r[..] == child[..])
                    })
                })
            });
            if empty {
                removed.push((path.to_vec(), String::new()));
            }
            continue;
        }
        match dir.unlink(name, true) {
            Ok(()) => {
                removed.push((path.to_vec(), String::new()));
                manifest::unrecord_dir(&mut new.dirs, path);
            }
            // Not empty (the package's own files), gone, or no directory.
            Err(e)
                if matches!(
                    e.errno(),
                    crate::fsx::Errno::ENOTEMPTY
                        | crate::fsx::Errno::EEXIST
                        | crate::fsx::Errno::ENOENT
                        | crate::fsx::Errno::ENOTDIR
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

/// Splits a relative path into its directory (`b""` at the root) and name.
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memrchr(b'/', path) {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sec: i64, nsec: i64) -> fsx::Mtime {
        fsx::Mtime { sec, nsec }
    }

    #[test]
    fn microsecond_ctimes_wait_a_millisecond_more() {
        assert_eq!(safe_after(t(10, 358_458_261)), t(10, 358_458_261));
        assert_eq!(safe_after(t(10, 1_000)), t(10, 1_001_000));
        assert_eq!(safe_after(t(10, 999_500_000)), t(11, 500_000));
    }

    #[test]
    fn only_fine_grained_ctimes_are_recorded() {
        assert!(fine_ctime(t(1_800_000_000, 358_458_260)));
        assert!(fine_ctime(t(1_800_000_000, 1_000)));
        // Whole seconds (old ext3 inodes), 10 ms (FAT), whole milliseconds.
        assert!(!fine_ctime(t(1_800_000_000, 0)));
        assert!(!fine_ctime(t(1_800_000_000, 120_000_000)));
        assert!(!fine_ctime(t(1_800_000_000, 7_000_000)));
    }
}
