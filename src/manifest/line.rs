//! One manifest line: `kind provider dev ino size sec.nsec mode r|- path`,
//! tab-separated, the path last and escaped (see [`super::escape`]).
//!
//! Every record line of a toolchain's manifest is parsed on each
//! `file-list`, so the common case takes one pass over the bytes
//! ([`fast_line`]). Anything that pass does not accept goes through
//! [`checked_line`], which holds the rules and words the error. The fast
//! pass accepts only what the checked one accepts, with the same result
//! (a test mangles lines to hold both to that).

use std::borrow::Cow;

use anyhow::{bail, Context, Result};

use super::RecordRef;
use crate::fsx::{FileKey, Kind, Mtime};

/// Parses one record line into its path and record.
pub(super) fn parse_line(line: &[u8]) -> Result<(Cow<'_, [u8]>, RecordRef<'_>)> {
    match fast_line(line) {
        Some(parsed) => Ok(parsed),
        None => checked_line(line),
    }
}

/// A position in a line.
struct Cursor<'a> {
    line: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The field up to the next tab, which is consumed.
    fn field(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        while *self.line.get(self.at)? != b'\t' {
            self.at += 1;
        }
        self.at += 1;
        Some(&self.line[start..self.at - 1])
    }

    /// 1 to 20 decimal digits up to `end`, which is consumed, as a u64.
    fn number(&mut self, end: u8) -> Option<u64> {
        let start = self.at;
        let mut v: u64 = 0;
        // Eight bytes at a time while the line has them (it always does
        // before the path), then a byte at a time.
        while let Some(chunk) = self.line.get(self.at..self.at + 8) {
            let (n, value) = digits8(u64::from_le_bytes(chunk.try_into().ok()?));
            v = v.checked_mul(POW10[n])?.checked_add(value)?;
            self.at += n;
            if n < 8 {
                break;
            }
        }
        loop {
            let b = *self.line.get(self.at)?;
            self.at += 1;
            if b == end {
                break;
            }
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
        }
        let digits = self.at - 1 - start;
        (1..=20).contains(&digits).then_some(v)
    }
}

/// Powers of ten up to 10^8.
const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The leading ASCII digits of eight bytes read little-endian (the first
/// byte lowest): how many, and their value. Every digit is done at once
/// (SWAR): an mtime has 19 digits, and a per-digit loop was most of the
/// time spent parsing a toolchain's manifest.
fn digits8(x: u64) -> (usize, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // A byte is a digit if its high nibble is 3, and still is with 6
    // added (0x3a..0x3f are not). A carry out of a byte only disturbs the
    // bytes after it, which the first non-digit ends anyway.
    let high = (x & (0xf0 * ONES)) ^ (0x30 * ONES);
    let plus6 = (x.wrapping_add(0x06 * ONES) & (0xf0 * ONES)) ^ (0x30 * ONES);
    let n = ((high | plus6).trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // The digit values, moved up so that the bytes below them are zeros
    // (leading zero digits); a borrow from a non-digit byte only goes up,
    // and those bytes are shifted out.
    let d = x.wrapping_sub(0x30 * ONES) << (8 * (8 - n));
    // Pairs, then quads, then the eight: each step joins neighbouring
    // lanes (the lower lane holds the more significant digits).
    let d = (d.wrapping_mul(10).wrapping_add(d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul(100).wrapping_add(d >> 16)) & 0x0000_ffff_0000_ffff;
    let d = (d.wrapping_mul(10_000).wrapping_add(d >> 32)) & 0xffff_ffff;
    (n, d)
}

/// The one-pass parse of a well-formed line; `None` for anything else.
fn fast_line(line: &[u8]) -> Option<(Cow<'_, [u8]>, RecordRef<'_>)> {
    let mut c = Cursor { line, at: 0 };
    let kind = match c.field()? {
        b"f" => Kind::File,
        b"l" => Kind::Symlink,
        b"d" => Kind::Dir,
        b"o" => Kind::Other,
        _ => return None,
    };
    let provider = std::str::from_utf8(c.field()?).ok()?;
    let dev = c.number(b'\t')?;
    let ino = c.number(b'\t')?;
    let size = c.number(b'\t')?;
    let negative = line.get(c.at) == Some(&b'-');
    c.at += usize::from(negative);
    let sec = i64::try_from(c.number(b'.')?).ok()?;
    let nsec = i64::try_from(c.number(b'\t')?).ok()?;
    let mut mode = 0u32;
    let digits = c.field()?;
    for &d in digits {
        // The checked parse's rule: each digit octal, at most 0o7777
        // before it.
        if !(b'0'..=b'7').contains(&d) || mode >= 0o10000 {
            return None;
        }
        mode = mode * 8 + u32::from(d - b'0');
    }
    if digits.is_empty() {
        return None;
    }
    let rewritten = c.field()? == b"r";
    let raw = &line[c.at..];
    if raw.iter().any(|&b| b == b'\t' || b == b'\\') {
        return None;
    }
    let rec = RecordRef {
        provider,
        kind,
        key: FileKey { dev, ino },
        size,
        mode,
        mtime: Mtime {
            sec: if negative { -sec } else { sec },
            nsec,
        },
        rewritten,
    };
    Some((Cow::Borrowed(raw), rec))
}

fn char_kind(c: &[u8]) -> Result<Kind> {
    Ok(match c {
        b"f" => Kind::File,
        b"l" => Kind::Symlink,
        b"d" => Kind::Dir,
        b"o" => Kind::Other,
        _ => bail!("unknown entry type {}", crate::fsx::quote_bytes(c)),
    })
}

pub(super) fn unescape(s: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            match it.next() {
                Some(b'\\') => out.push(b'\\'),
                Some(b'n') => out.push(b'\n'),
                Some(b't') => out.push(b'\t'),
                _ => bail!("bad escape in path"),
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// An unsigned decimal field.
pub(super) fn unsigned<T: TryFrom<u64>>(field: &[u8], what: &str) -> Result<T> {
    let bad = || anyhow::anyhow!("bad {what} {}", crate::fsx::quote_bytes(field));
    if field.is_empty() || field.len() > 20 {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for &d in field {
        if !d.is_ascii_digit() {
            return Err(bad());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(bad)?;
    }
    T::try_from(v).map_err(|_| bad())
}

/// A signed decimal field (seconds before 1970 are negative).
fn signed(field: &[u8], what: &str) -> Result<i64> {
    match field.strip_prefix(b"-") {
        Some(digits) => Ok(-unsigned::<i64>(digits, what)?),
        None => unsigned(field, what),
    }
}

/// Parses one record line with every check, and says what is wrong.
fn checked_line(line: &[u8]) -> Result<(Cow<'_, [u8]>, RecordRef<'_>)> {
    // Eight tabs separate nine fields; the path (last) holds none, since
    // tabs in it are escaped.
    let mut fields = [&b""[..]; 9];
    let mut start = 0;
    let mut tabs = memchr::memchr_iter(b'\t', line);
    for (i, slot) in fields.iter_mut().take(8).enumerate() {
        let end = tabs
            .next()
            .with_context(|| format!("expected 9 fields, found {}", i + 1))?;
        *slot = &line[start..end];
        start = end + 1;
    }
    fields[8] = &line[start..];
    if tabs.next().is_some() {
        bail!("expected 9 fields, found more (a tab in a path must be escaped)");
    }
    let t = fields[5];
    let dot = memchr::memchr(b'.', t).context("bad mtime")?;
    let mtime = Mtime {
        sec: signed(&t[..dot], "mtime")?,
        nsec: unsigned(&t[dot + 1..], "mtime")?,
    };
    let mode = fields[6]
        .iter()
        .try_fold(0u32, |m, &d| match d {
            b'0'..=b'7' if m < 0o10000 => Some(m * 8 + u32::from(d - b'0')),
            _ => None,
        })
        .filter(|_| !fields[6].is_empty())
        .context("bad mode")?;
    let rec = RecordRef {
        kind: char_kind(fields[0])?,
        provider: std::str::from_utf8(fields[1])
            .ok()
            .context("bad provider")?,
        key: FileKey {
            dev: unsigned(fields[2], "device")?,
            ino: unsigned(fields[3], "inode")?,
        },
        size: unsigned(fields[4], "size")?,
        mtime,
        mode,
        rewritten: fields[7] == b"r",
    };
    let raw = fields[8];
    let path = if memchr::memchr(b'\\', raw).is_some() {
        Cow::Owned(unescape(raw)?)
    } else {
        Cow::Borrowed(raw)
    };
    Ok((path, rec))
}

#[cfg(test)]
mod tests {
    use super::super::tests::Xorshift;
    use super::*;

    const GOOD: &[&[u8]] = &[
        b"f\tzlib\t2049\t77\t12\t1700000000.000000005\t644\tr\tusr/lib/libz.so.1",
        b"l\ttoolchain\t1\t2\t9\t-86400.999999999\t777\t-\tlib/ld.so",
        b"d\t-\t1\t9\t0\t5.000000006\t0\t-\tusr",
        b"o\t\t0\t18446744073709551615\t0\t0.0\t7777\t-\tdev/null",
    ];

    #[test]
    fn well_formed_lines_take_the_fast_pass() {
        for line in GOOD {
            let fast = fast_line(line).expect("fast pass");
            assert_eq!(fast, checked_line(line).unwrap());
        }
        // Escapes take the checked pass, which unescapes.
        let line = b"f\tp\t1\t2\t3\t4.5\t644\t-\ta\\tb";
        assert!(fast_line(line).is_none());
        assert_eq!(parse_line(line).unwrap().0.as_ref(), b"a\tb");
    }

    #[test]
    fn eight_digits_at_once_match_one_at_a_time() {
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let mut next = || rng.next_u64();
        for i in 0..200_000 {
            // Mostly digits, with any byte at a random place.
            let mut bytes = [0u8; 8];
            for b in &mut bytes {
                *b = b'0' + (next() % 10) as u8;
            }
            if i % 4 != 0 {
                bytes[(next() % 8) as usize] = next() as u8;
            }
            if i % 7 == 0 {
                bytes = next().to_le_bytes();
            }
            let n = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            let value = bytes[..n]
                .iter()
                .fold(0u64, |v, &b| v * 10 + u64::from(b - b'0'));
            assert_eq!(digits8(u64::from_le_bytes(bytes)), (n, value), "{bytes:?}");
        }
    }

    /// Every mangled line the fast pass accepts, the checked pass accepts
    /// with the same result.
    #[test]
    fn the_fast_pass_accepts_only_what_the_checked_one_does() {
        let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
        let mut next = |n: usize| rng.below(n);
        let (mut accepted, mut rejected) = (0, 0);
        for _ in 0..40_000 {
            let mut line = GOOD[next(GOOD.len())].to_vec();
            for _ in 0..1 + next(2) {
                let at = next(line.len());
                let bytes = b"\t.-0179x8r\\/\xff";
                match next(4) {
                    0 => line[at] = bytes[next(bytes.len())],
                    1 => {
                        line.remove(at);
                    }
                    2 => line.insert(at, bytes[next(bytes.len())]),
                    // Repeat a byte: longer numbers, doubled separators.
                    _ => {
                        for _ in 0..1 + next(3) {
                            line.insert(at, line[at]);
                        }
                    }
                }
            }
            match fast_line(&line) {
                Some(fast) => {
                    accepted += 1;
                    let checked = checked_line(&line).unwrap_or_else(|e| {
                        panic!(
                            "{:?}: fast accepts, checked says {e:#}",
                            line.escape_ascii().to_string()
                        )
                    });
                    assert_eq!(fast, checked, "{}", line.escape_ascii());
                }
                None => rejected += 1,
            }
        }
        // Both outcomes were exercised.
        assert!(accepted > 1000 && rejected > 1000, "{accepted} {rejected}");
    }
}
