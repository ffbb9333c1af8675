//! Helpers shared by the integration tests: run the real `ppd` binary and
//! inspect trees down to inode numbers, link counts, modes and nanosecond
//! mtimes.
#![allow(dead_code)]

pub mod fdtree;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Returns a `Command` for the ppd binary under test, with make's variables
/// removed so tests do not depend on how they were started.
pub fn ppd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ppd"));
    for v in [
        "MAKEFLAGS",
        "MAKELEVEL",
        "MFLAGS",
        "PER_PACKAGE_DIR",
        "PPD_JOBS",
        "PPD_SNAPSHOT_MIN_ENTRIES",
        "HOST_DIR",
        "STAGING_DIR",
        "TARGET_DIR",
    ] {
        c.env_remove(v);
    }
    c
}

/// Runs a command and returns its output, printing everything on failure to spawn.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"))
}

/// Runs a command and asserts it exits 0, showing stdout/stderr otherwise.
pub fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Returns true if `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The environment variable naming the file every skip is appended to;
/// `scripts/test.sh` sets it and counts the lines, so a skipped test is
/// reported as skipped and never as passed.
pub const SKIP_LOG: &str = "PPD_TEST_SKIP_LOG";

/// True when running under CI (`CI=true`): a missing tool or oracle is then
/// a failure, not a skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Names the running test: libtest names each test's thread after it; when
/// tests run on the main thread (`--test-threads=1`), the caller's location
/// still identifies it.
fn test_name(at: &std::panic::Location<'_>) -> String {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| match s.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
            _ => s,
        })
        .unwrap_or_default();
    match std::thread::current().name() {
        Some(t) if t != "main" => format!("{bin}::{t}"),
        _ => format!("{bin} ({}:{})", at.file(), at.line()),
    }
}

/// Records that the running test cannot run, for a reason of the
/// environment (not root, no second filesystem): prints
/// `SKIP <test>: <reason>` and appends the same line to `$PPD_TEST_SKIP_LOG`.
/// The caller returns right after.
#[track_caller]
pub fn skip(reason: &str) {
    let line = format!(
        "SKIP {}: {reason}",
        test_name(std::panic::Location::caller())
    );
    eprintln!("{line}");
    if let Some(log) = std::env::var_os(SKIP_LOG) {
        use std::io::Write;
        // One write of one line with O_APPEND: lines of tests running in
        // parallel (threads and test binaries) never interleave.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("opening {SKIP_LOG} {log:?}: {e}"));
        f.write_all(format!("{line}\n").as_bytes())
            .unwrap_or_else(|e| panic!("writing {SKIP_LOG} {log:?}: {e}"));
    }
}

/// Records a skip because a tool or oracle the test compares against is
/// missing. Under `CI=true` this is a failure instead: CI installs every
/// tool, so a missing one means the test would silently prove nothing.
#[track_caller]
pub fn skip_missing(reason: &str) {
    if under_ci() {
        panic!("CI=true and this test cannot run: {reason}");
    }
    skip(reason);
}

/// Returns true, after recording a skip (or failing under `CI=true`), if any
/// of `tools` is not on PATH; the caller then returns:
/// `if skip_without(&["rsync"]) { return; }`.
#[track_caller]
pub fn skip_without(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return false;
    }
    skip_missing(&format!("{} not installed", missing.join(", ")));
    true
}

/// True if the tests run as root.
pub fn is_root() -> bool {
    // /proc/self belongs to the effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Returns true, after recording a skip, if the tests do not run as root
/// (mounts, chown, setpriv need it).
#[track_caller]
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    skip(&format!("{what} needs root"));
    true
}

/// Moves the calling thread (a test's own: the test harness runs each test
/// on a thread of its own) into a mount namespace of its own in which every
/// mount is private, before the test mounts anything. What the test then
/// mounts, and every command it starts, lives in that namespace: the
/// mounts vanish with the thread, also when the test process is killed
/// (a loop device mounted with `-o loop` is then detached too), and never
/// show, or stay, on the machine. Returns false, after recording a skip
/// (a failure under `CI=true`), where the kernel refuses.
#[allow(unsafe_code)]
#[track_caller]
pub fn private_mounts(what: &str) -> bool {
    use rustix::mount::{mount_change, MountPropagationFlags};
    use rustix::thread::{unshare_unsafe, UnshareFlags};
    thread_local! {
        static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if DONE.get() {
        return true;
    }
    // SAFETY: a new mount namespace (and, implied, a private copy of the
    // thread's root and working directory) changes no file descriptor and
    // no memory another thread uses; FILES, the flag the safety contract
    // is about, is not given.
    let made = unsafe { unshare_unsafe(UnshareFlags::NEWNS) };
    let private = made.and_then(|()| {
        mount_change(
            "/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )
    });
    if let Err(e) = private {
        skip_missing(&format!(
            "{what}: cannot make a private mount namespace: {e}"
        ));
        return false;
    }
    DONE.set(true);
    true
}

/// A file system mounted for one test: a 320 MiB sparse image of XFS
/// (with reflinks) or btrfs, loop-mounted, or a tmpfs of that size; in the
/// test thread's own mount namespace ([`private_mounts`]), so a killed test
/// leaves no mount behind, only an image file (removed by a later
/// [`image`]). Unmounted (the loop device detached: `mount -o loop` sets
/// autoclear) and deleted on drop, whether the test passed or not.
pub struct Image {
    img: Option<PathBuf>,
    /// Where it is mounted.
    pub mnt: PathBuf,
    mounted: bool,
}

impl Drop for Image {
    fn drop(&mut self) {
        if std::env::var_os("PPD_KEEP_IMAGE").is_some() {
            return;
        }
        if self.mounted {
            let ok = Command::new("umount")
                .arg(&self.mnt)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                // Busy (a process of a failed test still inside): detach
                // lazily so that nothing stays mounted.
                let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
            }
        }
        let _ = std::fs::remove_dir(&self.mnt);
        if let Some(img) = &self.img {
            let _ = std::fs::remove_file(img);
        }
    }
}

/// Mounts a fresh `fs` (`xfs`, `btrfs` or `tmpfs`) under the test target's
/// temporary directory for the test named `test`; None (after SKIP, or a
/// failure under `CI=true` for a missing tool) without root or the tools.
#[track_caller]
pub fn image(fs: &str, test: &str) -> Option<Image> {
    if skip_unless_root(&format!("mounting a {fs} file system")) {
        return None;
    }
    let mkfs = format!("mkfs.{fs}");
    let tools: &[&str] = match fs {
        "tmpfs" => &["mount", "umount"],
        _ => &[&mkfs, "mount", "umount", "losetup"],
    };
    if skip_without(tools) || !private_mounts(&format!("mounting a {fs} file system")) {
        return None;
    }
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    remove_dead_images(&base);
    let stem = format!("img-{test}-{}", std::process::id());
    let mut im = Image {
        img: (fs != "tmpfs").then(|| base.join(format!("{stem}.img"))),
        mnt: base.join(stem),
        mounted: false,
    };
    std::fs::create_dir_all(&im.mnt).unwrap();
    let mut mount = Command::new("mount");
    match &im.img {
        Some(img) => {
            let f = std::fs::File::create(img).unwrap();
            f.set_len(320 << 20).unwrap();
            drop(f);
            let mut mk = Command::new(&mkfs);
            match fs {
                "xfs" => mk.args(["-q", "-f", "-m", "reflink=1"]),
                _ => mk.args(["-q", "-f"]),
            };
            ok(mk.arg(img));
            mount.args(["-o", "loop"]).arg(img);
        }
        None => {
            mount.args(["-t", "tmpfs", "-o", "size=320m", "tmpfs"]);
        }
    }
    let out = run(mount.arg(&im.mnt));
    if !out.status.success() {
        skip_missing(&format!(
            "cannot mount a {fs} file system: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return None;
    }
    im.mounted = true;
    Some(im)
}

/// Removes the images and mount points that test processes killed before
/// their `Drop` ran left in `base` (`img-<test>-<pid>[.img]`, the process
/// gone): 320 MiB each, sparse or not. Anything still mounted (by a run
/// without its own mount namespace) is left alone.
fn remove_dead_images(base: &Path) {
    let Ok(list) = std::fs::read_dir(base) else {
        return;
    };
    for e in list.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("img-") else {
            continue;
        };
        let stem = rest.strip_suffix(".img").unwrap_or(rest);
        let Some(pid) = stem.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        let mounted = std::fs::read_to_string("/proc/thread-self/mountinfo")
            .is_ok_and(|m| m.lines().any(|l| l.split(' ').nth(4) == p.to_str()));
        if mounted {
            continue;
        }
        match name.ends_with(".img") {
            true => drop(std::fs::remove_file(&p)),
            false => drop(std::fs::remove_dir(&p)),
        }
    }
}

/// One entry of a tree snapshot: everything rsync -a preserves, plus identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snap {
    /// "f", "d", "l" or "o".
    pub kind: &'static str,
    /// Permission bits.
    pub mode: u32,
    /// Owner and group.
    pub uid: u32,
    pub gid: u32,
    /// mtime in seconds and nanoseconds (directories included).
    pub mtime: (i64, i64),
    /// Inode identity.
    pub dev: u64,
    pub ino: u64,
    /// Link count.
    pub nlink: u64,
    /// Symlink target bytes.
    pub target: Option<Vec<u8>>,
    /// File size.
    pub size: u64,
}

/// Walks `root` without following symlinks; keys are `/`-joined relative byte paths
/// ("" is the root itself).
pub fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Snap> {
    let mut out = BTreeMap::new();
    walk(root, Vec::new(), &mut out);
    out
}

fn walk(path: &Path, rel: Vec<u8>, out: &mut BTreeMap<Vec<u8>, Snap>) {
    let md = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {path:?}: {e}"));
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        "d"
    } else if ft.is_symlink() {
        "l"
    } else if ft.is_file() {
        "f"
    } else {
        "o"
    };
    let target = ft.is_symlink().then(|| {
        std::fs::read_link(path)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec()
    });
    out.insert(
        rel.clone(),
        Snap {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            mtime: (md.mtime(), md.mtime_nsec()),
            dev: md.dev(),
            ino: md.ino(),
            nlink: md.nlink(),
            target,
            size: md.size(),
        },
    );
    if ft.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let mut r = rel.clone();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(n.as_bytes());
            walk(&path.join(&n), r, out);
        }
    }
}

/// Joins a relative byte path onto a root.
pub fn at(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

/// Sets a path's mtime (not following symlinks) to the given seconds and nanoseconds.
pub fn set_mtime(p: &Path, sec: i64, nsec: u32) {
    let t = filetime::FileTime::from_unix_time(sec, nsec);
    filetime::set_symlink_file_times(p, t, t).unwrap_or_else(|e| panic!("utimes {p:?}: {e}"));
}

/// A small deterministic generator, so every failure can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// The number before `what` in a `ppd -v` stats line (`..., 2 removed,
/// ...`).
pub fn stat_count(line: &str, what: &str) -> u64 {
    let at = line
        .find(what)
        .unwrap_or_else(|| panic!("no {what:?} in {line:?}"));
    line[..at]
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("the number before {what:?} in {line:?}: {e}"))
}

/// `prepare` of package `me` from `a` in the per-package directory `pp`
/// (relative: run in the directory holding it), the command line of the
/// tests that need one prepared package.
pub const PREPARE_ME_FROM_A: [&str; 6] = ["prepare", "--per-package-dir", "pp", "--pkg", "me", "a"];

/// Runs `ppd prepare --per-package-dir pp --pkg pkg <deps>`, which must
/// succeed.
pub fn prepare_pkg(pp: &Path, pkg: &str, deps: &[&str]) {
    ok(ppd()
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(pp)
        .args(["--pkg", pkg])
        .args(deps));
}

/// A 64-byte ELF64 little-endian header with `e_machine` = `machine`
/// (183 is AArch64, 62 x86-64): all that an architecture check reads.
pub fn elf_header(machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h
}

/// Runs `ppd -v prepare --per-package-dir pp --pkg pkg <args> <deps>`,
/// which must succeed; returns its stats lines and, apart, every other
/// line of its stderr.
pub fn prepare_v(pp: &Path, pkg: &str, args: &[&str], deps: &[&str]) -> (String, String) {
    let out = ok(ppd()
        .arg("-v")
        .arg("prepare")
        .arg("--per-package-dir")
        .arg(pp)
        .args(["--pkg", pkg])
        .args(args)
        .args(deps));
    let err = String::from_utf8_lossy(&out.stderr);
    let (stats, rest): (Vec<&str>, Vec<&str>) = err
        .split_inclusive('\n')
        .partition(|l| l.starts_with("ppd prepare: "));
    (stats.concat(), rest.concat())
}

/// (path, type, symlink target, content of regular files) of every entry
/// below a root, in path order.
pub type Shape = Vec<(Vec<u8>, &'static str, Option<Vec<u8>>, Vec<u8>)>;

/// The [`Shape`] of the tree at `root` (the root itself left out).
pub fn shape(root: &Path) -> Shape {
    snapshot(root)
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| {
            let data = if v.kind == "f" {
                std::fs::read(at(root, &k)).unwrap()
            } else {
                Vec::new()
            };
            (k, v.kind, v.target, data)
        })
        .collect()
}

/// Rewrites a current-format manifest in format 1 (one full path per
/// line, directory lines last), as an earlier ppd wrote it.
pub fn to_format_1(text: &str) -> String {
    let mut section = String::new();
    let (mut entries, mut dirs) = (Vec::new(), Vec::new());
    let mut end = "";
    for line in text.lines().skip(1) {
        if let Some(d) = line.strip_prefix("D\t") {
            section = d.to_string();
        } else if line.starts_with("d\t") {
            section = line.rsplit('\t').next().unwrap().to_string();
            dirs.push(line.to_string());
        } else if line.starts_with("end ") {
            end = line;
        } else {
            let (head, name) = line.rsplit_once('\t').unwrap();
            let path = if section.is_empty() {
                name.to_string()
            } else {
                format!("{section}/{name}")
            };
            entries.push(format!("{head}\t{path}"));
        }
    }
    let count = end.split(' ').nth(1).unwrap();
    format!(
        "ppd-manifest 1\n{}\n{}\nend {count}\n",
        entries.join("\n"),
        dirs.join("\n")
    )
}
