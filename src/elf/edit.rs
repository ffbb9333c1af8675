//! In-place rewriting of `DT_RPATH`/`DT_RUNPATH` strings inside the
//! dynamic string table of an ELF image held in memory.
//!
//! Invariants:
//! - only bytes of the dynamic string table change; no header, segment,
//!   section or dynamic entry moves, so the file keeps its size and layout
//!   and `strip` or the loader see nothing unusual afterwards;
//! - the tag is never changed: RPATH stays RPATH, RUNPATH stays RUNPATH
//!   (patchelf silently turns RPATH into RUNPATH, which changes lookup);
//! - a string is only overwritten if nothing else points into the bytes
//!   written: linkers tail-merge strings, so a `DT_NEEDED`, `DT_SONAME`,
//!   symbol name or version name may share the old string's tail. Every
//!   such reference is collected (dynamic entries, `.dynsym` through
//!   `DT_SYMTAB` and `DT_HASH`/`DT_GNU_HASH`, verneed, verdef) and any
//!   overlap refuses the edit;
//! - a longer string may only use NUL bytes that follow it and that nothing
//!   references (space left by an earlier shortening, as chrpath does);
//!   anything else is [`EditError::DoesNotFit`] and the image is untouched.

use std::collections::BTreeSet;
use std::fmt;

use object::elf::{Sym32, Sym64, Verdaux, Verdef, Vernaux, Verneed};
use object::{Endianness, ReadRef};

use super::{tag, Class, ElfError, ElfInfo, Endian};

/// Why a string could not be rewritten in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The image could not be analysed.
    Malformed(ElfError),
    /// Another reference points into the bytes that would be written.
    Shared,
    /// The new value is longer than the room available in place.
    DoesNotFit {
        /// Bytes the new value needs (without its NUL).
        need: usize,
        /// Bytes available in place (without the NUL).
        room: usize,
    },
    /// The new value contains a NUL byte.
    Nul,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Malformed(e) => write!(f, "{e}"),
            EditError::Shared => f.write_str(
                "the old string shares bytes with another dynamic string; left unchanged",
            ),
            EditError::DoesNotFit { need, room } => write!(
                f,
                "the new value needs {need} bytes but only {room} are free in place; left unchanged"
            ),
            EditError::Nul => f.write_str("the new value contains a NUL byte"),
        }
    }
}

impl std::error::Error for EditError {}

impl From<ElfError> for EditError {
    fn from(e: ElfError) -> EditError {
        EditError::Malformed(e)
    }
}

/// One string to replace: the dynamic entry's index and its new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Index of a `DT_RPATH` or `DT_RUNPATH` entry in [`ElfInfo::dynamic`].
    pub index: usize,
    /// The new value, without NUL.
    pub value: Vec<u8>,
}

/// Applies `changes` to `data`, the whole image `info` was parsed from.
/// Either every change is applied or `data` is left as it was.
pub fn rewrite_strings(
    data: &mut [u8],
    info: &ElfInfo,
    changes: &[Change],
) -> Result<(), EditError> {
    let strtab = info
        .dynstr
        .as_ref()
        .ok_or_else(|| ElfError::new("no dynamic string table"))?;
    let changed: BTreeSet<usize> = changes.iter().map(|c| c.index).collect();
    let mut refs = string_refs(data, info)?;
    for (i, &(t, v)) in info.dynamic.iter().enumerate() {
        if tag::is_string(t) && !changed.contains(&i) {
            refs.insert(v);
        }
    }
    // Plan every write first, then apply them all, so a refusal leaves the
    // image untouched.
    let mut writes: Vec<(usize, Vec<u8>)> = Vec::new();
    for c in changes {
        if c.value.contains(&0) {
            return Err(EditError::Nul);
        }
        let &(t, start) = info
            .dynamic
            .get(c.index)
            .ok_or_else(|| ElfError::new("no such dynamic entry"))?;
        if t != tag::RPATH && t != tag::RUNPATH {
            return Err(ElfError::new("not an RPATH or RUNPATH entry").into());
        }
        let old = super::string_at(&strtab.bytes, start)
            .ok_or_else(|| ElfError::new("string offset out of bounds"))?;
        let start = start as usize;
        // Another changed entry pointing at the same string must agree on
        // the new value; then the string is written once.
        if let Some(other) = changes.iter().find(|o| {
            o.index != c.index && info.dynamic.get(o.index).map(|d| d.1) == Some(start as u64)
        }) {
            if other.value != c.value {
                return Err(EditError::Shared);
            }
        }
        let room = room_after(&strtab.bytes, start, old.len(), &refs);
        if c.value.len() > room {
            return Err(EditError::DoesNotFit {
                need: c.value.len(),
                room,
            });
        }
        let hi = start + old.len().max(c.value.len());
        if refs.range(start as u64..hi as u64).next().is_some() {
            return Err(EditError::Shared);
        }
        // Other changes must not overlap this one's bytes either.
        if writes
            .iter()
            .any(|(s, b)| *s != start && *s < hi + 1 && start < *s + b.len())
        {
            return Err(EditError::Shared);
        }
        let mut bytes = c.value.clone();
        bytes.resize(old.len().max(c.value.len()) + 1, 0);
        writes.push((start, bytes));
    }
    let base = usize::try_from(strtab.file_offset)
        .map_err(|_| ElfError::new("string table offset too large"))?;
    for (start, bytes) in &writes {
        let at = base + start;
        let dst = data
            .get_mut(at..at + bytes.len())
            .ok_or_else(|| ElfError::new("string table out of bounds"))?;
        dst.copy_from_slice(bytes);
    }
    Ok(())
}

/// Returns how long a string at `start` (currently `len` bytes) may become:
/// its own bytes plus the unreferenced NULs that follow its terminator,
/// keeping one byte for the new terminator inside the table.
fn room_after(table: &[u8], start: usize, len: usize, refs: &BTreeSet<u64>) -> usize {
    let mut end = start + len; // index of the old terminator
    while end + 1 < table.len() && table[end + 1] == 0 && !refs.contains(&(end as u64 + 1)) {
        end += 1;
    }
    // A string may end at `end` at the latest: its NUL goes at `end`.
    end - start
}

/// Collects every dynamic-string-table offset referenced from outside the
/// dynamic array: symbol names and version (need/def) names.
fn string_refs(data: &[u8], info: &ElfInfo) -> Result<BTreeSet<u64>, EditError> {
    let e = if info.endian == Endian::Big {
        Endianness::Big
    } else {
        Endianness::Little
    };
    let mut refs = BTreeSet::new();
    symbol_names(data, info, e, &mut refs)?;
    verneed_names(data, info, e, &mut refs)?;
    verdef_names(data, info, e, &mut refs)?;
    Ok(refs)
}

fn at_vaddr(info: &ElfInfo, addr: u64, what: &str) -> Result<u64, EditError> {
    info.vaddr_to_offset(addr)
        .ok_or_else(|| ElfError::new(format!("{what} {addr:#x} is not in a loaded segment")).into())
}

fn oob(what: &str) -> EditError {
    ElfError::new(format!("{what} out of bounds")).into()
}

fn u32_at(data: &[u8], off: u64, e: Endianness) -> Result<u32, EditError> {
    let b = data.read_bytes_at(off, 4).map_err(|()| oob("hash table"))?;
    let b = [b[0], b[1], b[2], b[3]];
    Ok(if e == Endianness::Big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// Returns the number of `.dynsym` entries, from `DT_HASH` (nchain) or by
/// walking `DT_GNU_HASH`, the only ways the dynamic array tells it.
fn symbol_count(data: &[u8], info: &ElfInfo, e: Endianness) -> Result<u64, EditError> {
    if let Some(addr) = info.dyn_value(tag::HASH) {
        let off = at_vaddr(info, addr, "DT_HASH")?;
        return Ok(u64::from(u32_at(data, off + 4, e)?));
    }
    let Some(addr) = info.dyn_value(tag::GNU_HASH) else {
        return Err(ElfError::new("DT_SYMTAB without DT_HASH or DT_GNU_HASH").into());
    };
    let off = at_vaddr(info, addr, "DT_GNU_HASH")?;
    let nbuckets = u64::from(u32_at(data, off, e)?);
    let symoffset = u64::from(u32_at(data, off + 4, e)?);
    let bloom_size = u64::from(u32_at(data, off + 8, e)?);
    let word = if info.class == Class::Elf64 { 8 } else { 4 };
    let buckets = off + 16 + bloom_size * word;
    let mut max = 0u64;
    for i in 0..nbuckets {
        max = max.max(u64::from(u32_at(data, buckets + 4 * i, e)?));
    }
    if max < symoffset {
        return Ok(symoffset);
    }
    let chains = buckets + 4 * nbuckets;
    let mut i = max;
    loop {
        let h = u32_at(data, chains + 4 * (i - symoffset), e)?;
        if h & 1 != 0 {
            return Ok(i + 1);
        }
        i += 1;
    }
}

fn symbol_names(
    data: &[u8],
    info: &ElfInfo,
    e: Endianness,
    refs: &mut BTreeSet<u64>,
) -> Result<(), EditError> {
    let Some(addr) = info.dyn_value(tag::SYMTAB) else {
        return Ok(());
    };
    let off = at_vaddr(info, addr, "DT_SYMTAB")?;
    let count = symbol_count(data, info, e)?;
    let count = usize::try_from(count).map_err(|_| oob("symbol table"))?;
    match info.class {
        Class::Elf64 => {
            let syms: &[Sym64<Endianness>] = data
                .read_slice_at(off, count)
                .map_err(|()| oob("symbol table"))?;
            refs.extend(syms.iter().map(|s| u64::from(s.st_name.get(e))));
        }
        Class::Elf32 => {
            let syms: &[Sym32<Endianness>] = data
                .read_slice_at(off, count)
                .map_err(|()| oob("symbol table"))?;
            refs.extend(syms.iter().map(|s| u64::from(s.st_name.get(e))));
        }
    }
    Ok(())
}

/// Guards the version-chain walks against loops in hostile input.
const MAX_CHAIN: u32 = 1 << 16;

fn verneed_names(
    data: &[u8],
    info: &ElfInfo,
    e: Endianness,
    refs: &mut BTreeSet<u64>,
) -> Result<(), EditError> {
    let (Some(addr), Some(num)) = (
        info.dyn_value(tag::VERNEED),
        info.dyn_value(tag::VERNEEDNUM),
    ) else {
        return Ok(());
    };
    let mut off = at_vaddr(info, addr, "DT_VERNEED")?;
    for _ in 0..num.min(u64::from(MAX_CHAIN)) {
        let vn: &Verneed<Endianness> = data.read_at(off).map_err(|()| oob("verneed"))?;
        refs.insert(u64::from(vn.vn_file.get(e)));
        let mut aux = off + u64::from(vn.vn_aux.get(e));
        for _ in 0..vn.vn_cnt.get(e) {
            let va: &Vernaux<Endianness> = data.read_at(aux).map_err(|()| oob("vernaux"))?;
            refs.insert(u64::from(va.vna_name.get(e)));
            match va.vna_next.get(e) {
                0 => break,
                n => aux += u64::from(n),
            }
        }
        match vn.vn_next.get(e) {
            0 => break,
            n => off += u64::from(n),
        }
    }
    Ok(())
}

fn verdef_names(
    data: &[u8],
    info: &ElfInfo,
    e: Endianness,
    refs: &mut BTreeSet<u64>,
) -> Result<(), EditError> {
    let (Some(addr), Some(num)) = (info.dyn_value(tag::VERDEF), info.dyn_value(tag::VERDEFNUM))
    else {
        return Ok(());
    };
    let mut off = at_vaddr(info, addr, "DT_VERDEF")?;
    for _ in 0..num.min(u64::from(MAX_CHAIN)) {
        let vd: &Verdef<Endianness> = data.read_at(off).map_err(|()| oob("verdef"))?;
        let mut aux = off + u64::from(vd.vd_aux.get(e));
        for _ in 0..vd.vd_cnt.get(e) {
            let va: &Verdaux<Endianness> = data.read_at(aux).map_err(|()| oob("verdaux"))?;
            refs.insert(u64::from(va.vda_name.get(e)));
            match va.vda_next.get(e) {
                0 => break,
                n => aux += u64::from(n),
            }
        }
        match vd.vd_next.get(e) {
            0 => break,
            n => off += u64::from(n),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_counts_only_unreferenced_trailing_nuls() {
        let table = b"\0abc\0\0\0x\0";
        let none = BTreeSet::new();
        assert_eq!(room_after(table, 1, 3, &none), 5);
        let refs: BTreeSet<u64> = [6].into_iter().collect();
        assert_eq!(room_after(table, 1, 3, &refs), 4);
        // At the very end of the table the terminator must stay inside.
        assert_eq!(room_after(b"\0ab\0", 1, 2, &none), 2);
    }
}
