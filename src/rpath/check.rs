//! The Buildroot-compatible host RPATH check: the same decisions and the
//! same stdout as `support/scripts/check-host-rpath <pkg> <hostdir>
//! <per_package_dir>`, so it can replace the script in the instrumentation
//! hook.
//!
//! What the script does, and what is matched here:
//! - files: `find <hostdir>/{bin,sbin} -type f` (symlinks not followed);
//! - only files with a program interpreter are checked (`readelf -l` shows
//!   "Requesting program interpreter"): dynamic executables, PIEs included;
//! - a file needs an RPATH if one `DT_NEEDED` name exists as
//!   `<hostdir>/lib/<name>` (`[ -e ]`, following symlinks);
//! - an entry of any `DT_RPATH`/`DT_RUNPATH` (split on `:` and blanks,
//!   slashes squashed, one trailing slash dropped) is accepted if it is
//!   exactly `<hostdir>/lib`, exactly `$ORIGIN/../lib`, or contains a match
//!   of `<per_package_dir>/[^/]+/host/lib` (an unanchored bash `=~`);
//! - output: `***` and `*** ERROR: package <pkg> installs executables
//!   without proper RPATH:` once, then `***   <file>` per offender; status
//!   1 if any file fails.
//!
//! One deliberate difference: offenders are listed sorted by path, where
//! the script prints them in directory order, which varies between
//! filesystems. The set of lines is the same.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::root::open_beneath;
use super::walk::regular_files;
use crate::elf;
use crate::fsx::{DirFd, FsError};

/// What to check.
#[derive(Clone, Debug)]
pub struct HostCheck {
    /// Package name, only for the message.
    pub pkg: Vec<u8>,
    /// The host directory (the package's per-package host tree under PPD).
    pub host_dir: PathBuf,
    /// The per-package directory root; `None` behaves like the script
    /// given an empty third argument.
    pub per_package_dir: Option<PathBuf>,
}

/// The outcome of a check.
#[derive(Clone, Debug, Default)]
pub struct HostReport {
    /// Regular files examined.
    pub files: usize,
    /// Of those, dynamically linked executables.
    pub executables: usize,
    /// Offending files, as the script prints them, sorted.
    pub offenders: Vec<Vec<u8>>,
}

impl HostReport {
    /// Renders the script's stdout.
    pub fn render(&self, pkg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.offenders.is_empty() {
            return out;
        }
        out.extend_from_slice(b"***\n*** ERROR: package ");
        out.extend_from_slice(pkg);
        out.extend_from_slice(b" installs executables without proper RPATH:\n");
        for f in &self.offenders {
            out.extend_from_slice(b"***   ");
            // The script prints the name as is; escaped, an odd name
            // stays one line and shows its exact bytes.
            out.extend_from_slice(crate::fsx::show_bytes(f).to_string().as_bytes());
            out.push(b'\n');
        }
        out
    }
}

/// Runs the check on `pool`'s threads.
pub fn check_host(cfg: &HostCheck, pool: &rayon::ThreadPool) -> Result<HostReport, FsError> {
    let host = super::squash(cfg.host_dir.as_os_str().as_bytes());
    // The script runs `find "<hostdir>"/bin`: with hostdir "/" that is "/bin".
    let host_path = if host.is_empty() && cfg.host_dir.has_root() {
        PathBuf::from("/")
    } else {
        cfg.host_dir.clone()
    };
    let base = match DirFd::open(&host_path) {
        Ok(d) => d,
        // No host directory: find finds nothing, the script passes.
        Err(e) if e.errno() == crate::fsx::Errno::ENOENT => return Ok(HostReport::default()),
        Err(e) => return Err(e),
    };
    let mut files = regular_files(&base, b"bin", &[])?;
    files.extend(regular_files(&base, b"sbin", &[])?);
    let ppd = cfg
        .per_package_dir
        .as_ref()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_default();
    let verdicts: Vec<Verdict> = pool.install(|| {
        files
            .par_iter()
            .map(|f| judge(&base, &f.rel, &host, &ppd))
            .collect()
    });
    let mut report = HostReport {
        files: files.len(),
        ..HostReport::default()
    };
    for (f, v) in files.iter().zip(verdicts) {
        match v {
            Verdict::Skip => {}
            Verdict::Pass => report.executables += 1,
            Verdict::Fail => {
                report.executables += 1;
                let mut shown = host.clone();
                shown.push(b'/');
                shown.extend_from_slice(&f.rel);
                report.offenders.push(shown);
            }
        }
    }
    report.offenders.sort();
    Ok(report)
}

enum Verdict {
    Skip,
    Pass,
    Fail,
}

fn judge(base: &DirFd, rel: &[u8], host: &[u8], ppd: &[u8]) -> Verdict {
    // Unreadable and malformed files are skipped, as readelf failing is.
    let info = match open_beneath(base, rel).map(|f| elf::read_file(&f)) {
        Ok(Ok(Some(info))) if info.interp.is_some() => info,
        _ => return Verdict::Skip,
    };
    let mut libdir = host.to_vec();
    libdir.extend_from_slice(b"/lib/");
    let needs = info.needed.iter().filter(|n| !n.is_empty()).any(|n| {
        let mut p = libdir.clone();
        p.extend_from_slice(n);
        Path::new(std::ffi::OsStr::from_bytes(&p)).exists()
    });
    if !needs {
        return Verdict::Skip;
    }
    let values = info.rpath.iter().chain(&info.runpath).map(|d| &d.value);
    for value in values {
        for dir in value
            .split(|&b| matches!(b, b':' | b' ' | b'\t' | b'\n'))
            .filter(|d| !d.is_empty())
        {
            if entry_is_proper(&super::squash(dir), host, ppd) {
                return Verdict::Pass;
            }
        }
    }
    Verdict::Fail
}

/// Returns true if and only if a squashed entry satisfies the script:
/// `<host>/lib`, `$ORIGIN/../lib`, or an unanchored match of
/// `<ppd>/[^/]+/host/lib`.
pub fn entry_is_proper(dir: &[u8], host: &[u8], ppd: &[u8]) -> bool {
    let mut hostlib = host.to_vec();
    hostlib.extend_from_slice(b"/lib");
    if dir == hostlib.as_slice() || dir == b"$ORIGIN/../lib" {
        return true;
    }
    let mut needle = ppd.to_vec();
    needle.push(b'/');
    memchr::memmem::find_iter(dir, &needle).any(|i| {
        let rest = &dir[i + needle.len()..];
        let seg = rest.iter().take_while(|&&b| b != b'/').count();
        seg > 0 && rest[seg..].starts_with(b"/host/lib")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_entries_are_the_scripts() {
        let h = b"/o/per-package/foo/host";
        let p = b"/o/per-package";
        assert!(entry_is_proper(b"/o/per-package/foo/host/lib", h, p));
        assert!(entry_is_proper(b"$ORIGIN/../lib", h, p));
        assert!(!entry_is_proper(b"$ORIGIN/../lib64", h, p));
        assert!(!entry_is_proper(b"${ORIGIN}/../lib", h, p));
        // Another package's host lib matches the regex, even with a suffix.
        assert!(entry_is_proper(b"/o/per-package/bar/host/lib", h, p));
        assert!(entry_is_proper(b"/o/per-package/bar/host/lib64", h, p));
        assert!(entry_is_proper(b"/x/o/per-package/bar/host/libexec", h, p));
        assert!(!entry_is_proper(b"/o/per-package//host/lib", h, p));
        assert!(!entry_is_proper(b"/o/per-package/a/b/host/lib", h, p));
        assert!(!entry_is_proper(b"/usr/lib", h, p));
        // With no per-package dir the script's pattern is "/"[^/]+/host/lib.
        assert!(entry_is_proper(b"/x/host/lib", h, b""));
    }

    #[test]
    fn render_is_the_scripts_text() {
        let r = HostReport {
            offenders: vec![b"/h/bin/a".to_vec(), b"/h/sbin/b".to_vec()],
            ..HostReport::default()
        };
        assert_eq!(
            String::from_utf8(r.render(b"host-foo")).unwrap(),
            "***\n*** ERROR: package host-foo installs executables without proper RPATH:\n\
             ***   /h/bin/a\n***   /h/sbin/b\n"
        );
        assert!(HostReport::default().render(b"x").is_empty());
    }

    #[test]
    fn render_keeps_an_odd_name_on_one_line() {
        let r = HostReport {
            offenders: vec![b"/h/bin/nl\nx".to_vec(), b"/h/bin/bad\xff".to_vec()],
            ..HostReport::default()
        };
        assert_eq!(
            String::from_utf8(r.render(b"host-foo")).unwrap(),
            "***\n*** ERROR: package host-foo installs executables without proper RPATH:\n\
             ***   /h/bin/nl\\nx\n***   /h/bin/bad\\xff\n"
        );
    }
}
