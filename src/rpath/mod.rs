//! RPATH and RUNPATH work on whole trees: the Buildroot-compatible host
//! check ([`check`]), the rule-based audit ([`audit`]) and the rewrite done
//! at finalize time ([`fix`]).
//!
//! Each of them plans first, as data: a walk lists the regular files
//! (sorted, symlinks never followed), the ELF reader extracts what matters
//! from each in parallel, pure functions decide (findings, or the new
//! value of each RPATH string), and only then does [`fix`] write anything.
//! Every report is sorted by path, so output never depends on the thread
//! count. The helpers here are the pure path arithmetic those decisions
//! share; they work on byte strings because paths are not always UTF-8.

pub mod audit;
pub mod check;
pub mod fix;
pub mod layout;
mod ldpath;
pub mod root;
pub mod walk;

/// Splits an RPATH value into its entries, keeping empty ones (the loader
/// treats an empty entry as the current directory, so audits must see it).
pub fn split_entries(value: &[u8]) -> Vec<&[u8]> {
    value.split(|&b| b == b':').collect()
}

/// If `entry` starts with the `$ORIGIN` token (`$ORIGIN` or `${ORIGIN}`,
/// followed by `/` or nothing), returns what follows the token.
pub fn origin_rest(entry: &[u8]) -> Option<&[u8]> {
    let rest = entry
        .strip_prefix(b"$ORIGIN")
        .or_else(|| entry.strip_prefix(b"${ORIGIN}"))?;
    (rest.is_empty() || rest[0] == b'/').then_some(rest)
}

/// Collapses repeated slashes and drops one trailing slash, exactly like
/// Buildroot's `sed -r -e 's:/+:/:g; s:/$::;'`.
pub fn squash(path: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    for &b in path {
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    if out.last() == Some(&b'/') {
        out.pop();
    }
    out
}

/// Joins a root-relative directory and a relative path lexically: `.`
/// disappears, `..` removes the previous component. Returns `None` if the
/// path climbs above the root.
pub fn lexical_join(dir: &[u8], rest: &[u8]) -> Option<Vec<u8>> {
    let mut parts: Vec<&[u8]> = dir
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    for c in rest.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join(&b'/'))
}

/// If the absolute `path` is `root` or below it (whole components),
/// returns the root-relative remainder. `root` is squashed first.
pub fn strip_root<'a>(path: &'a [u8], root: &[u8]) -> Option<&'a [u8]> {
    let root = squash(root);
    let rest = path.strip_prefix(root.as_slice())?;
    if rest.is_empty() {
        return Some(rest);
    }
    if rest[0] != b'/' {
        return None;
    }
    Some(rest.trim_start_matches_slash())
}

trait TrimSlash {
    fn trim_start_matches_slash(&self) -> &[u8];
}

impl TrimSlash for [u8] {
    fn trim_start_matches_slash(&self) -> &[u8] {
        let n = self.iter().take_while(|&&b| b == b'/').count();
        &self[n..]
    }
}

/// Returns the `$ORIGIN`-relative spelling of the root-relative directory
/// `to` for a file in the root-relative directory `from`: the shortest
/// `$ORIGIN/../..` form (both paths canonical).
pub fn origin_relative(from: &[u8], to: &[u8]) -> Vec<u8> {
    let f: Vec<&[u8]> = from
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let t: Vec<&[u8]> = to.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = b"$ORIGIN".to_vec();
    for _ in common..f.len() {
        out.extend_from_slice(b"/..");
    }
    for c in &t[common..] {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    out
}

/// Returns the directory part of a root-relative file path.
pub fn parent(rel: &[u8]) -> &[u8] {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => &rel[..i],
        None => b"",
    }
}

/// Shows bytes (an RPATH entry, a library name, an interpreter) as text
/// for messages: control characters and bytes that are not UTF-8 escaped
/// as [`crate::fsx::show_bytes`] does (`\n`, `\xff`), never replaced;
/// empty stays empty.
pub fn show(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(|c| c.is_control() || c == '\\') => s.into(),
        _ if bytes.is_empty() => "".into(),
        _ => crate::fsx::show_bytes(bytes).to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_empties() {
        assert_eq!(split_entries(b"a::b:"), [&b"a"[..], b"", b"b", b""]);
        assert_eq!(split_entries(b""), [&b""[..]]);
    }

    #[test]
    fn origin_token_forms() {
        assert_eq!(origin_rest(b"$ORIGIN"), Some(&b""[..]));
        assert_eq!(origin_rest(b"$ORIGIN/../lib"), Some(&b"/../lib"[..]));
        assert_eq!(origin_rest(b"${ORIGIN}/lib"), Some(&b"/lib"[..]));
        assert_eq!(origin_rest(b"$ORIGINX/lib"), None);
        assert_eq!(origin_rest(b"/x/$ORIGIN"), None);
    }

    #[test]
    fn squash_matches_buildroot_sed() {
        assert_eq!(squash(b"//a///b//"), b"/a/b");
        assert_eq!(squash(b"/"), b"");
        assert_eq!(squash(b"$ORIGIN/../lib/"), b"$ORIGIN/../lib");
    }

    #[test]
    fn lexical_join_stops_at_root() {
        assert_eq!(lexical_join(b"usr/bin", b"/../lib").unwrap(), b"usr/lib");
        assert_eq!(lexical_join(b"bin", b"/../lib/./x").unwrap(), b"lib/x");
        assert_eq!(lexical_join(b"bin", b"").unwrap(), b"bin");
        assert_eq!(lexical_join(b"bin", b"/../.."), None);
    }

    #[test]
    fn strip_root_needs_whole_components() {
        assert_eq!(strip_root(b"/o/host/lib", b"/o/host/"), Some(&b"lib"[..]));
        assert_eq!(strip_root(b"/o/host", b"/o/host"), Some(&b""[..]));
        assert_eq!(strip_root(b"/o/host-tools/lib", b"/o/host"), None);
        assert_eq!(strip_root(b"/o/host//lib", b"/o/host"), Some(&b"lib"[..]));
    }

    #[test]
    fn origin_relative_is_shortest() {
        assert_eq!(origin_relative(b"bin", b"lib"), b"$ORIGIN/../lib");
        assert_eq!(origin_relative(b"lib", b"lib"), b"$ORIGIN");
        assert_eq!(origin_relative(b"lib/sub", b"lib"), b"$ORIGIN/..");
        assert_eq!(origin_relative(b"", b"lib"), b"$ORIGIN/lib");
        assert_eq!(
            origin_relative(b"libexec/gcc/x/12", b"lib"),
            b"$ORIGIN/../../../../lib"
        );
    }
}
