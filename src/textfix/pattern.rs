//! The rewrite itself: every `DIR/<segment>/` becomes `ROOT/`, with the
//! matching rules of `sed 's:DIR/[^/]\+/:ROOT/:g'` in the C locale but
//! `DIR` and `ROOT` taken literally. Pure functions of bytes.

use memchr::memmem;

use super::FixupError;

/// The compiled rewrite: literal `DIR/` needle and `ROOT/` replacement.
pub struct Pattern {
    finder: memmem::Finder<'static>,
    needle_len: usize,
    replacement: Vec<u8>,
}

impl Pattern {
    /// Compiles `DIR/<segment>/` -> `ROOT/`. Trailing slashes of both are
    /// ignored; `DIR` must not be empty (or `/`), since every absolute path
    /// would match.
    pub fn new(per_package_dir: &[u8], new_root: &[u8]) -> Result<Pattern, FixupError> {
        let dir = trim_slashes(per_package_dir);
        if dir.is_empty() {
            return Err(FixupError::Config(format!(
                "fixing up paths: per-package directory {:?} names no directory",
                String::from_utf8_lossy(per_package_dir)
            )));
        }
        let mut needle = dir.to_vec();
        needle.push(b'/');
        let mut replacement = trim_slashes(new_root).to_vec();
        replacement.push(b'/');
        Ok(Pattern {
            needle_len: needle.len(),
            finder: memmem::Finder::new(&needle).into_owned(),
            replacement,
        })
    }

    /// Returns the end of a `DIR/<segment>/` match whose `DIR/` starts at
    /// `at`, if there is one: the segment is at least one byte up to the
    /// next `/`, and (because sed works line by line) contains no newline.
    fn match_end(&self, data: &[u8], at: usize) -> Option<usize> {
        let seg = at + self.needle_len;
        match memchr::memchr2(b'/', b'\n', &data[seg..]) {
            Some(i) if i > 0 && data[seg + i] == b'/' => Some(seg + i + 1),
            _ => None,
        }
    }

    /// Returns true if `data` contains at least one match.
    pub fn is_match(&self, data: &[u8]) -> bool {
        self.next_match(data, 0).is_some()
    }

    fn next_match(&self, data: &[u8], mut from: usize) -> Option<(usize, usize)> {
        while let Some(i) = self.finder.find(&data[from..]) {
            let at = from + i;
            if let Some(end) = self.match_end(data, at) {
                return Some((at, end));
            }
            // `DIR/` may overlap itself: the next candidate can start one
            // byte later, as with a regex engine's leftmost search.
            from = at + 1;
        }
        None
    }

    /// Returns the rewritten content, or `None` if it would be identical
    /// (no match, or every match already reads `ROOT/`).
    pub fn rewrite(&self, data: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut from = 0;
        while let Some((at, end)) = self.next_match(data, from) {
            if &data[at..end] != self.replacement.as_slice() {
                let o = out.get_or_insert_with(|| Vec::with_capacity(data.len()));
                o.extend_from_slice(&data[copied..at]);
                o.extend_from_slice(&self.replacement);
                copied = end;
            }
            from = end;
        }
        let mut o = out?;
        o.extend_from_slice(&data[copied..]);
        Some(o)
    }

    /// Returns the new target of an absolute symlink that starts with
    /// `DIR/<segment>/`, or `None` if it does not or would not change.
    /// Only that leading prefix is rewritten.
    pub fn rewrite_target(&self, target: &[u8]) -> Option<Vec<u8>> {
        if !target.starts_with(b"/") || self.finder.find(target) != Some(0) {
            return None;
        }
        let end = self.match_end(target, 0)?;
        if target[..end] == self.replacement[..] {
            return None;
        }
        let mut t = self.replacement.clone();
        t.extend_from_slice(&target[end..]);
        Some(t)
    }
}

pub(super) fn trim_slashes(p: &[u8]) -> &[u8] {
    let mut end = p.len();
    while end > 0 && p[end - 1] == b'/' {
        end -= 1;
    }
    &p[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(dir: &str, root: &str) -> Pattern {
        Pattern::new(dir.as_bytes(), root.as_bytes()).unwrap()
    }

    fn rw(p: &Pattern, s: &str) -> String {
        match p.rewrite(s.as_bytes()) {
            Some(v) => String::from_utf8(v).unwrap(),
            None => s.to_string(),
        }
    }

    #[test]
    fn rewrites_like_sed_global_substitution() {
        let p = pat("/o/pp", "/o/pp/me");
        assert_eq!(
            rw(&p, "L=/o/pp/zlib/host/lib -L/o/pp/b/host/x"),
            "L=/o/pp/me/host/lib -L/o/pp/me/host/x"
        );
        // The segment must be non-empty and end in '/'.
        assert_eq!(rw(&p, "/o/pp//x /o/pp/zlib"), "/o/pp//x /o/pp/zlib");
        // A segment never spans a line (sed works line by line).
        assert_eq!(rw(&p, "/o/pp/zl\nib/x"), "/o/pp/zl\nib/x");
        // Adjacent matches, and a match right at the end.
        assert_eq!(rw(&p, "/o/pp/a//o/pp/b/"), "/o/pp/me//o/pp/me/");
        // DIR as a prefix of a longer directory name does not match.
        assert_eq!(rw(&p, "/o/ppx/a/b"), "/o/ppx/a/b");
    }

    #[test]
    fn already_right_is_no_change() {
        let p = pat("/o/pp", "/o/pp/me");
        assert!(p.rewrite(b"x /o/pp/me/host/lib y").is_none());
        assert!(p.rewrite(b"nothing here").is_none());
        assert!(p.rewrite(b"").is_none());
        // A mix: only the other package's path changes.
        assert_eq!(rw(&p, "/o/pp/me/h /o/pp/zz/h"), "/o/pp/me/h /o/pp/me/h");
    }

    #[test]
    fn dir_is_literal_and_may_overlap_itself() {
        let p = pat("/b[1]/a.b+c d", "/R");
        assert_eq!(
            rw(&p, "/b[1]/a.b+c d/x/y /b1/aXb+c d/x/y"),
            "/R/y /b1/aXb+c d/x/y"
        );
        // "/a/a/" occurs at 0 but fails (empty segment); the overlapping
        // occurrence at 2 is tried next, like a leftmost regex search.
        let p = pat("/a/a", "/R");
        assert_eq!(rw(&p, "/a/a/a/x/"), "/R/x/");
        assert_eq!(rw(&p, "/a/a//a/a/s/t"), "/a/a//R/t");
    }

    #[test]
    fn replacement_is_literal() {
        let p = pat("/pp/", "/x&y\\1:z/");
        assert_eq!(rw(&p, "/pp/a/b"), "/x&y\\1:z/b");
    }

    #[test]
    fn empty_dir_is_refused() {
        assert!(Pattern::new(b"/", b"/x").is_err());
        assert!(Pattern::new(b"", b"/x").is_err());
    }

    #[test]
    fn symlink_targets_rewrite_only_a_leading_prefix() {
        let p = pat("/o/pp", "/o/pp/me");
        assert_eq!(
            p.rewrite_target(b"/o/pp/z/host/bin/x").unwrap(),
            b"/o/pp/me/host/bin/x"
        );
        assert!(p.rewrite_target(b"/o/pp/me/host/bin/x").is_none());
        assert!(p.rewrite_target(b"../o/pp/z/host").is_none());
        assert!(p.rewrite_target(b"/elsewhere/o/pp/z/host").is_none());
        assert!(p.rewrite_target(b"/o/pp/z").is_none());
    }
}
