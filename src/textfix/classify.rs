//! Which files are text: [`classify`], a pure function of the content,
//! and the reads that stop at the first sign of a binary file.

use std::fs::File;
use std::io::Read;

/// What [`classify`] decided about a file's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Rewritten.
    Text,
    /// Contains a NUL byte: grep's `--binary-files=without-match` skips it.
    Binary,
    /// NUL-free, but `file --mime-type` would not call it `text/*` and
    /// rewriting it would be wrong: a control byte that never occurs in
    /// text, or a text-encoded container format (ar archives, PDF).
    NotText,
}

/// Control bytes libmagic's text tests never accept (its `text_chars` table
/// marks them `F`): everything below 0x20 except BEL, BS, HT, LF, VT, FF,
/// CR and ESC, plus DEL. Bytes >= 0x80 are accepted (UTF-8, ISO-8859 and
/// "extended ASCII" all count as text/plain).
const fn never_in_text() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = !matches!(b, 0x07..=0x0d | 0x1b);
        b += 1;
    }
    t[0x7f] = true;
    t
}

static NEVER_IN_TEXT: [bool; 256] = never_in_text();

/// Text-encoded formats whose byte offsets or fixed-width fields a rewrite
/// of a different length would corrupt; `file` calls them
/// application/x-archive and application/pdf.
const CONTAINER_MAGIC: [&[u8]; 3] = [b"!<arch>\n", b"!<thin>\n", b"%PDF-"];

/// Decides whether a file's content is rewritten, looking at all of it.
///
/// A NUL anywhere makes it binary (Buildroot's grep skips a file when it
/// sees a NUL before the first match; `file` looks at the first 64 KiB).
/// Otherwise it is text unless it holds a control byte that never occurs
/// in text or starts like an ar archive or PDF. JSON, JavaScript, SVG and
/// other text formats `file` files under `application/` or `image/` are
/// text here, as are UTF-8, Latin-1 and any other 8-bit text.
pub fn classify(data: &[u8]) -> Class {
    if memchr::memchr(0, data).is_some() {
        return Class::Binary;
    }
    if CONTAINER_MAGIC.iter().any(|m| data.starts_with(m))
        || data.iter().any(|&b| NEVER_IN_TEXT[b as usize])
    {
        return Class::NotText;
    }
    Class::Text
}

/// Files up to this size are read whole with one read: a typical `.pc`,
/// `.la` or header file.
const SMALL_FILE: usize = 16 * 1024;

/// The first read of a larger file: one page, enough for an ELF file (whose
/// header has several NULs) or most other binaries to show a NUL, so they
/// are rejected without reading further.
const FIRST_READ: usize = 4096;

/// The largest single read request: Linux returns at most about 2 GiB per
/// read, and a short read must mean end of file (see [`fill`]).
const MAX_READ: usize = 1 << 30;

/// Reads into `buf[len..]` until it is full or the file ends; returns the
/// new length and whether the end was reached. A short read of a regular
/// file means end of file on Linux, which saves the extra read returning 0.
fn fill(f: &File, buf: &mut [u8], mut len: usize) -> std::io::Result<(usize, bool)> {
    while len < buf.len() {
        let want = (buf.len() - len).min(MAX_READ);
        match (&*f).read(&mut buf[len..len + want]) {
            Ok(0) => return Ok((len, true)),
            Ok(n) => {
                len += n;
                if n < want {
                    return Ok((len, true));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((len, false))
}

/// Reads a whole file unless it turns out to contain a NUL byte.
/// Returns the content (or `None` for binary) and the number of bytes read.
pub(super) fn read_unless_binary(f: &File, size: u64) -> std::io::Result<(Option<Vec<u8>>, u64)> {
    // One byte more than the file's size, so that a file read whole ends
    // in a short read instead of needing another read to see the end.
    let size = usize::try_from(size).unwrap_or(usize::MAX - 1);
    let first = if size <= SMALL_FILE {
        size + 1
    } else {
        FIRST_READ
    };
    let mut buf = vec![0; first];
    let (mut len, mut eof) = fill(f, &mut buf, 0)?;
    let mut checked = 0;
    loop {
        if memchr::memchr(0, &buf[checked..len]).is_some() {
            return Ok((None, len as u64));
        }
        if eof {
            buf.truncate(len);
            return Ok((Some(buf), len as u64));
        }
        checked = len;
        // Text so far: read the rest (the file may have grown since fstat).
        let target = (size + 1).max(buf.len() * 2);
        buf.resize(target, 0);
        (len, eof) = fill(f, &mut buf, len)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_text_and_stops_early_on_binary() {
        let t = tempfile::tempdir().unwrap();
        let check = |data: &[u8], size_hint: u64| {
            let p = t.path().join("f");
            std::fs::write(&p, data).unwrap();
            let f = File::open(&p).unwrap();
            read_unless_binary(&f, size_hint).unwrap()
        };
        for n in [
            0,
            1,
            FIRST_READ,
            SMALL_FILE,
            SMALL_FILE + 1,
            3 * SMALL_FILE + 5,
        ] {
            let text = vec![b'a'; n];
            assert_eq!(
                check(&text, n as u64),
                (Some(text.clone()), n as u64),
                "{n}"
            );
            // A stale (smaller or larger) size from fstat changes nothing.
            assert_eq!(check(&text, 1).0, Some(text.clone()), "{n}");
            assert_eq!(check(&text, 10 * n as u64 + 3).0, Some(text.clone()), "{n}");
        }
        let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
        elf.resize(1 << 20, b'x');
        assert_eq!(check(&elf, elf.len() as u64), (None, FIRST_READ as u64));
        let mut late = vec![b'a'; 100_000];
        late.push(0);
        late.extend_from_slice(b"tail");
        assert_eq!(check(&late, late.len() as u64), (None, late.len() as u64));
    }

    #[test]
    fn classification_follows_libmagic_text_bytes() {
        assert_eq!(classify(b"prefix=/x\n"), Class::Text);
        assert_eq!(classify(b"caf\xe9 \x80\x9b\xff\n"), Class::Text);
        assert_eq!(classify(b"\x1b[0m\x07\x08\t\x0b\x0c\r\n"), Class::Text);
        assert_eq!(classify(b"{\"a\": \"/x\"}\n"), Class::Text);
        assert_eq!(classify(b"a\0b"), Class::Binary);
        for b in [1u8, 6, 0x0e, 0x1a, 0x1c, 0x1f, 0x7f] {
            assert_eq!(classify(&[b'a', b, b'\n']), Class::NotText, "{b:#x}");
        }
        assert_eq!(classify(b"!<thin>\n/x/y.o/\n"), Class::NotText);
        assert_eq!(classify(b"%PDF-1.4\n"), Class::NotText);
        assert_eq!(classify(b""), Class::Text);
    }
}
