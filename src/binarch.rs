//! `ppd check-bin-arch`: Buildroot's `support/scripts/check-bin-arch`, with
//! the ELF header read in process instead of one `readelf -h` per file.
//!
//! The script reads the package's `.files-list.txt`, keeps the lines
//! `<pkg>,./<path>`, skips paths under its built-in ignore list and the
//! `-i` patterns (`<PKG>_BIN_ARCH_EXCLUDE`), skips symlinks, and compares
//! readelf's `Machine:` name of each remaining file with the expected one.
//! This module does the same walk over the list and the same comparison on
//! the same names (readelf's, see [`crate::elf::machine`]), so the findings
//! are the script's, in list order:
//!
//! - a file that is not ELF (or cannot be opened or read whole, where
//!   readelf prints an error and no `Machine:` line) has no architecture and
//!   is skipped;
//! - an `ar` archive (`.a`) takes the machine of its first ELF member, as
//!   `readelf -h | head -1` does; a thin archive has no member data and is
//!   skipped;
//! - the header is read as readelf reads it: 64-bit when `EI_CLASS` says
//!   ELFCLASS64, else 32-bit; big-endian when `EI_DATA` says ELFDATA2MSB,
//!   else little-endian.
//!
//! One deliberate difference: the package name is matched literally at the
//! start of a line, where the script pastes it into a regular expression
//! (so a package named `libsigc++` or `foo.bar` matches other lines or none).

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::fsx::Errno;
use anyhow::Result;

use crate::elf::machine;
use crate::fsx::FsError;

/// The script's built-in ignore list: prefixes of paths that may hold ELF
/// files for other architectures (firmware, kernel modules, `/usr/share`,
/// grub, guile modules). Matched as plain string prefixes, as `=~ ^"..."`
/// does.
pub const BUILTIN_IGNORES: &[&str] = &[
    "/lib/firmware",
    "/usr/lib/firmware",
    "/lib/modules",
    "/usr/lib/modules",
    "/usr/share",
    "/lib/grub",
    "/usr/lib/grub",
    "/usr/lib/guile",
];

/// What to check.
#[derive(Clone, Debug)]
pub struct BinArchConfig {
    /// The package whose lines of the list are checked.
    pub pkg: String,
    /// The `.files-list.txt` to read.
    pub list: PathBuf,
    /// The target tree the listed paths are in.
    pub target_dir: PathBuf,
    /// readelf's name of the expected architecture (`BR2_READELF_ARCH_NAME`).
    pub arch_name: String,
    /// Extra ignore patterns, as given to `-i`.
    pub ignores: Vec<String>,
}

/// One file of the wrong architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrongArch {
    /// The path as the list names it, without the leading `.` (`/usr/bin/foo`).
    pub path: Vec<u8>,
    /// readelf's name of the file's architecture.
    pub arch: String,
}

/// The outcome: the offending files in list order, and how many were read.
#[derive(Debug, Default)]
pub struct BinArchReport {
    /// Files whose architecture is not the expected one.
    pub wrong: Vec<WrongArch>,
    /// Files whose header was read (not ignored, not symlinks).
    pub examined: usize,
}

/// Turns a `-i` pattern into the prefix the script matches: runs of `/`
/// squeezed to one, exactly one leading and one trailing `/`.
pub fn normalize_ignore(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    out.push('/');
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        out.push_str(part);
        out.push('/');
    }
    out
}

/// Returns the paths of `pkg`'s lines of a file list, as the script's
/// `sed -r -e "/^pkg,\.(.+)$/!d; s//\1/;"` and `read f` (without `-r`: a
/// backslash quotes the next character, one at the end of a line joins the
/// next line) give them.
pub fn listed_paths(list: &[u8], pkg: &str) -> Vec<Vec<u8>> {
    let prefix = format!("{pkg},.");
    let lines: Vec<&[u8]> = list
        .split(|&b| b == b'\n')
        .filter_map(|l| l.strip_prefix(prefix.as_bytes()))
        .filter(|rest| !rest.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut continued = false;
    for line in lines {
        if !continued {
            cur.clear();
        }
        continued = false;
        let mut i = 0;
        while i < line.len() {
            if line[i] == b'\\' {
                if i + 1 < line.len() {
                    cur.push(line[i + 1]);
                    i += 2;
                } else {
                    continued = true;
                    i += 1;
                }
            } else {
                cur.push(line[i]);
                i += 1;
            }
        }
        if !continued {
            out.push(cur.clone());
        }
    }
    if continued {
        out.push(cur);
    }
    out
}

/// Below this many files to read, the check runs on the calling thread:
/// starting workers costs more than the headers it would share out.
const SMALL_CHECK: usize = 256;

/// Runs the check. The headers are read on `pools` (its full pool for a
/// long list, else the calling thread); the findings stay in list order.
pub fn check(cfg: &BinArchConfig, pools: &crate::jobs::Pools<'_>) -> Result<BinArchReport> {
    let list = std::fs::read(&cfg.list).map_err(|e| {
        FsError::new(
            "reading file list",
            &cfg.list,
            Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        )
    })?;
    check_list(cfg, &list, pools)
}

/// [`check`] on the bytes of `cfg.list` already in memory: `ppd file-list
/// --check-bin-arch` checks the list it has just written without reading
/// it back.
pub fn check_list(
    cfg: &BinArchConfig,
    list: &[u8],
    pools: &crate::jobs::Pools<'_>,
) -> Result<BinArchReport> {
    use rayon::prelude::*;
    let ignores: Vec<String> = BUILTIN_IGNORES
        .iter()
        .map(|s| s.to_string())
        .chain(cfg.ignores.iter().map(|p| normalize_ignore(p)))
        .collect();
    let paths: Vec<Vec<u8>> = listed_paths(list, &cfg.pkg)
        .into_iter()
        .filter(|f| !ignores.iter().any(|ig| f.starts_with(ig.as_bytes())))
        .collect();
    let pool = if paths.len() < SMALL_CHECK {
        pools.inline()?
    } else {
        pools.full()?
    };
    let read: Vec<Option<Option<String>>> =
        pool.install(|| paths.par_iter().map(|f| examine(cfg, f)).collect());
    let mut report = BinArchReport::default();
    for (f, r) in paths.into_iter().zip(read) {
        let Some(arch) = r else { continue };
        report.examined += 1;
        match arch {
            Some(arch) if arch != cfg.arch_name => report.wrong.push(WrongArch { path: f, arch }),
            _ => {}
        }
    }
    Ok(report)
}

/// The script's line for a file of another architecture, without its
/// newline: `ERROR: architecture for "<path>" is "<arch>", should be
/// "<expected>"`.
pub fn error_line(w: &WrongArch, expected: &str) -> String {
    format!(
        "ERROR: architecture for \"{}\" is \"{}\", should be \"{}\"",
        crate::fsx::show_bytes(&w.path),
        w.arch,
        expected
    )
}

/// Reads the listed path `f` as the script does: `None` if it is skipped
/// (a symlink, not a regular file, missing), else readelf's `Machine:`
/// name of the file, if readelf would print one.
fn examine(cfg: &BinArchConfig, f: &[u8]) -> Option<Option<String>> {
    let full = join_like_shell(&cfg.target_dir, f);
    let file = match std::fs::symlink_metadata(&full) {
        Ok(m) if m.is_file() => File::open(&full).ok(),
        // Longer than PATH_MAX: reached from TARGET_DIR one component
        // at a time.
        Err(e) if e.raw_os_error() == Some(Errno::ENAMETOOLONG.raw()) => {
            Some(open_below(&cfg.target_dir, f)?)
        }
        // A symlink is skipped; readelf refuses anything else ("is not
        // an ordinary file") or fails to open it: no Machine line.
        _ => return None,
    };
    Some(file.and_then(|mut f| file_machine(&mut f)))
}

/// Opens the regular file at the listed path `f` below `dir` through the
/// tree's directories, never a symlink ([`crate::walk::ByPath`]); `None`
/// for anything else, or a path climbing out with `..`.
fn open_below(dir: &Path, f: &[u8]) -> Option<File> {
    let comps: Vec<&[u8]> = f
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    if comps.iter().any(|c| *c == b"..") {
        return None;
    }
    let rel = comps.join(&b'/');
    let mut below = crate::walk::ByPath::new(dir);
    let st = below.stat(&rel).ok()??;
    if crate::fsx::Kind::from_mode(st.st_mode) != crate::fsx::Kind::File {
        return None;
    }
    below.open_file(&rel).ok()?
}

/// `"${TARGET_DIR}/${f}"`: plain concatenation with a `/`.
fn join_like_shell(dir: &Path, f: &[u8]) -> PathBuf {
    let mut s = dir.as_os_str().as_bytes().to_vec();
    s.push(b'/');
    s.extend_from_slice(f);
    PathBuf::from(std::ffi::OsString::from_vec(s))
}

/// readelf's `Machine:` name of a file, or `None` when readelf prints none.
pub fn machine_of(path: &Path) -> Option<String> {
    file_machine(&mut File::open(path).ok()?)
}

/// [`machine_of`] for a file already open.
fn file_machine(file: &mut File) -> Option<String> {
    let mut head = [0u8; 64];
    let n = read_full(file, &mut head).ok()?;
    let head = &head[..n];
    if head.starts_with(b"\x7fELF") {
        return header_machine(head).map(|m| machine::name(m).into_owned());
    }
    if head.starts_with(b"!<arch>\n") {
        return archive_machine(file);
    }
    None
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// `e_machine` of a whole ELF file header, read as readelf does.
fn header_machine(h: &[u8]) -> Option<u16> {
    if !h.starts_with(b"\x7fELF") || h.len() < 16 {
        return None;
    }
    let size = if h[4] == 2 { 64 } else { 52 };
    if h.len() < size {
        return None;
    }
    let b = [h[18], h[19]];
    Some(if h[5] == 2 {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

/// The machine of the first ELF member of an `ar` archive.
fn archive_machine(file: &File) -> Option<String> {
    let len = file.metadata().ok()?.len();
    let mut off = 8u64;
    while off + 60 <= len {
        let mut hdr = [0u8; 60];
        file.read_exact_at(&mut hdr, off).ok()?;
        if &hdr[58..60] != b"`\n" {
            return None;
        }
        let name = &hdr[0..16];
        let size: u64 = std::str::from_utf8(&hdr[48..58])
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let mut data = off + 60;
        let mut data_len = size;
        let special =
            name.starts_with(b"/ ") || name.starts_with(b"// ") || name.starts_with(b"/SYM64/ ");
        if !special {
            // BSD names: "#1/<n>", the name is the first n bytes of the data.
            if let Some(n) = name
                .strip_prefix(b"#1/")
                .and_then(|r| std::str::from_utf8(r).ok())
                .and_then(|r| r.trim().parse::<u64>().ok())
            {
                data += n;
                data_len = data_len.saturating_sub(n);
            }
            let mut head = [0u8; 64];
            let want = data_len.min(64) as usize;
            if file.read_exact_at(&mut head[..want], data).is_ok() {
                if let Some(m) = header_machine(&head[..want]) {
                    return Some(machine::name(m).into_owned());
                }
            }
        }
        off += 60 + size + (size & 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_patterns_are_normalized_like_the_script() {
        assert_eq!(normalize_ignore("usr/lib/foo"), "/usr/lib/foo/");
        assert_eq!(normalize_ignore("//usr//lib///"), "/usr/lib/");
        assert_eq!(normalize_ignore(""), "/");
    }

    #[test]
    fn list_lines_of_the_package_only() {
        let list =
            b"foo,./usr/bin/a\nfoobar,./usr/bin/b\nfoo,.\nbar,./x\nfoo,./a\\\\b\nfoo,./c\\\nd\n";
        assert_eq!(
            listed_paths(list, "foo"),
            [&b"/usr/bin/a"[..], b"/a\\b", b"/c"]
        );
    }
}
