//! Where the loader looks by default, as the audit must model it: the
//! standard directories, `/etc/ld.so.conf` with its `include` globs inside
//! a root, the built-in trusted directories, and the C library's own parts
//! (whose absence is forgiven).

use std::collections::BTreeSet;

use super::root::Root;
use crate::fsx::{FsError, Kind};

/// Returns true if and only if a squashed absolute entry is a directory the
/// loader searches by default: `/lib`, `/usr/lib`, their 64/32/x32 forms
/// and their multiarch `<cpu>-linux-<abi>` subdirectories.
pub fn is_standard_dir(e: &[u8]) -> bool {
    let rest = e.strip_prefix(b"/usr").unwrap_or(e);
    match rest {
        b"/lib" | b"/lib64" | b"/lib32" | b"/libx32" => true,
        _ => rest
            .strip_prefix(b"/lib/")
            .is_some_and(|t| !t.contains(&b'/') && memchr::memmem::find(t, b"-linux-").is_some()),
    }
}

/// Returns true for the C library's own libraries, which the toolchain
/// provides and whose absence Guix's validate-runpath also forgives.
pub(super) fn is_libc_part(name: &[u8]) -> bool {
    const PARTS: &[&[u8]] = &[
        b"libc.so",
        b"libm.so",
        b"libdl.so",
        b"libpthread.so",
        b"librt.so",
        b"libutil.so",
        b"libresolv.so",
        b"libnsl.so",
        b"libanl.so",
        b"libcrypt.so",
        b"libmvec.so",
        b"libBrokenLocale.so",
        b"libthread_db.so",
        b"ld-linux",
        b"ld64.so",
        b"ld.so",
        b"ld-musl",
        b"libc.musl",
        b"ld-uClibc",
        b"libuClibc",
    ];
    PARTS.iter().any(|p| name.starts_with(p))
}

/// The loader's default directories for a root: `/etc/ld.so.conf` (with
/// its `include`s) inside the root, then the built-in trusted directories.
pub(super) fn default_dirs(root: &Root) -> Vec<Vec<u8>> {
    let mut dirs = Vec::new();
    let mut seen = BTreeSet::new();
    read_ld_conf(root, b"etc/ld.so.conf", &mut dirs, 0);
    for d in [
        "lib",
        "usr/lib",
        "lib64",
        "usr/lib64",
        "lib32",
        "usr/lib32",
        "libx32",
        "usr/libx32",
    ] {
        dirs.push(d.as_bytes().to_vec());
    }
    let mut out = Vec::new();
    for d in dirs {
        if let Some((real, Kind::Dir)) = root.resolve(&d) {
            if seen.insert(real.clone()) {
                out.push(real);
            }
        }
    }
    out
}

fn read_ld_conf(root: &Root, file: &[u8], dirs: &mut Vec<Vec<u8>>, depth: u32) {
    let Some((real, Kind::File)) = root.resolve(file) else {
        return;
    };
    let Ok(text) = root.open_file(&real).and_then(|f| {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut &f, &mut s)
            .map_err(|e| FsError::new("reading", root.display(&real), crate::fsx::errno_of(&e)))?;
        Ok(s)
    }) else {
        return;
    };
    for line in text.split(|&b| b == b'\n') {
        let line = line.split(|&b| b == b'#').next().unwrap_or_default();
        let line = line.trim_ascii();
        if let Some(pat) = line.strip_prefix(b"include") {
            if depth < 8 {
                for f in glob_files(root, pat.trim_ascii()) {
                    read_ld_conf(root, &f, dirs, depth + 1);
                }
            }
        } else if line.starts_with(b"/") {
            let d = line.split(|&b| b == b'=').next().unwrap_or_default();
            dirs.push(d.trim_ascii().to_vec());
        }
    }
}

/// Expands a glob whose wildcards are in the last component only (what
/// ld.so.conf `include` lines use), sorted like glibc's glob(3).
fn glob_files(root: &Root, pat: &[u8]) -> Vec<Vec<u8>> {
    let pat = if pat.starts_with(b"/") {
        pat.to_vec()
    } else {
        [b"/etc/", pat].concat()
    };
    let (dir, name) = pat.split_at(pat.iter().rposition(|&b| b == b'/').unwrap_or(0) + 1);
    let Some((real, Kind::Dir)) = root.resolve(dir) else {
        return Vec::new();
    };
    let Ok(d) = root.dir().open_beneath(&real) else {
        return Vec::new();
    };
    let mut out: Vec<Vec<u8>> = d
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter(|(n, _)| wildmatch(name, n))
        .map(|(n, _)| [&real[..], b"/", &n[..]].concat())
        .collect();
    out.sort();
    out
}

/// Matches `*` and `?` wildcards (no character classes).
fn wildmatch(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| wildmatch(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && wildmatch(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && wildmatch(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_dirs() {
        for d in [
            "/lib",
            "/usr/lib",
            "/usr/lib64",
            "/lib32",
            "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu",
        ] {
            assert!(is_standard_dir(d.as_bytes()), "{d}");
        }
        for d in [
            "/usr/lib/foo",
            "/usr/local/lib",
            "/opt/lib",
            "/usr/lib/x86_64-linux-gnu/sub",
        ] {
            assert!(!is_standard_dir(d.as_bytes()), "{d}");
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildmatch(b"*.conf", b"libc.conf"));
        assert!(!wildmatch(b"*.conf", b"libc.conf~"));
        assert!(wildmatch(b"a?c", b"abc"));
    }

    #[test]
    fn libc_parts_are_exempt() {
        assert!(is_libc_part(b"libc.so.6"));
        assert!(is_libc_part(b"ld-linux-x86-64.so.2"));
        assert!(!is_libc_part(b"libcurl.so.4"));
    }
}
