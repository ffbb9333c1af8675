//! Reading the few parts of an ELF file that RPATH work needs: the file
//! header, the program headers, `PT_INTERP`, the dynamic segment and the
//! dynamic string table it names.
//!
//! Invariants:
//! - nothing else is read: a file is opened, its first page is read once,
//!   and the dynamic segment and string table are read with one positioned
//!   read each, so a 100 MB library costs a few kilobytes of I/O;
//! - strings are resolved through `DT_STRTAB` mapped by the `PT_LOAD`
//!   segments, as the loader does, never through "the first `SHT_STRTAB`";
//! - malformed input never panics: every offset is bounds-checked (by the
//!   `object` crate's low-level reader and by the checks here), and the
//!   caller gets a typed, opaque [`ElfError`] for that one file.
//!
//! ELF32 and ELF64, little and big endian, are all handled by one generic
//! function over `object`'s `FileHeader` trait. In-place rewriting of the
//! strings lives in [`edit`].

pub mod edit;
pub mod machine;

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use object::elf::{self as E, FileHeader32, FileHeader64};
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _};
use object::{Endianness, ReadCache, ReadRef};

/// `DT_*` tags as plain numbers, for matching raw entries.
pub mod tag {
    use object::elf as E;
    /// `DT_NULL`: end of the dynamic array.
    pub const NULL: i64 = E::DT_NULL.0;
    /// `DT_NEEDED`.
    pub const NEEDED: i64 = E::DT_NEEDED.0;
    /// `DT_STRTAB`.
    pub const STRTAB: i64 = E::DT_STRTAB.0;
    /// `DT_STRSZ`.
    pub const STRSZ: i64 = E::DT_STRSZ.0;
    /// `DT_SONAME`.
    pub const SONAME: i64 = E::DT_SONAME.0;
    /// `DT_RPATH`.
    pub const RPATH: i64 = E::DT_RPATH.0;
    /// `DT_RUNPATH`.
    pub const RUNPATH: i64 = E::DT_RUNPATH.0;
    /// `DT_TEXTREL`.
    pub const TEXTREL: i64 = E::DT_TEXTREL.0;
    /// `DT_FLAGS`.
    pub const FLAGS: i64 = E::DT_FLAGS.0;
    /// `DT_SYMTAB`.
    pub const SYMTAB: i64 = E::DT_SYMTAB.0;
    /// `DT_HASH`.
    pub const HASH: i64 = E::DT_HASH.0;
    /// `DT_GNU_HASH`.
    pub const GNU_HASH: i64 = E::DT_GNU_HASH.0;
    /// `DT_VERNEED`.
    pub const VERNEED: i64 = E::DT_VERNEED.0;
    /// `DT_VERNEEDNUM`.
    pub const VERNEEDNUM: i64 = E::DT_VERNEEDNUM.0;
    /// `DT_VERDEF`.
    pub const VERDEF: i64 = E::DT_VERDEF.0;
    /// `DT_VERDEFNUM`.
    pub const VERDEFNUM: i64 = E::DT_VERDEFNUM.0;

    /// Returns true if and only if the value of `t` is an offset into the
    /// dynamic string table (every such tag glibc and binutils know).
    pub fn is_string(t: i64) -> bool {
        const AUXILIARY: i64 = 0x7fff_fffd;
        const FILTER: i64 = 0x7fff_ffff;
        const CONFIG: i64 = 0x6fff_fefa;
        const DEPAUDIT: i64 = 0x6fff_fefb;
        const AUDIT: i64 = 0x6fff_fefc;
        matches!(
            t,
            NEEDED | SONAME | RPATH | RUNPATH | AUXILIARY | FILTER | CONFIG | DEPAUDIT | AUDIT
        )
    }
}

/// `DF_TEXTREL` in `DT_FLAGS`.
const DF_TEXTREL: u64 = 0x4;

/// Why one file could not be read as ELF. Opaque on purpose: callers print
/// it next to the file name and move on to the next file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfError(String);

impl ElfError {
    fn new(msg: impl Into<String>) -> ElfError {
        ElfError(msg.into())
    }
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ElfError {}

impl From<object::Error> for ElfError {
    fn from(e: object::Error) -> ElfError {
        ElfError(e.to_string())
    }
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, ElfError>;

/// ELF class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// `ELFCLASS32`.
    Elf32,
    /// `ELFCLASS64`.
    Elf64,
}

/// Byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    /// `ELFDATA2LSB`.
    Little,
    /// `ELFDATA2MSB`.
    Big,
}

/// `e_type` values ppd distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// `ET_REL`: an object file.
    Relocatable,
    /// `ET_EXEC`: a position-dependent executable.
    Executable,
    /// `ET_DYN`: a shared object or a PIE.
    Dynamic,
    /// `ET_CORE` or anything else.
    Other(u16),
}

/// A string-valued dynamic entry: where it is and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynString {
    /// Index of the entry in the dynamic array.
    pub index: usize,
    /// Offset of the string in the dynamic string table.
    pub offset: u64,
    /// The string, without its NUL.
    pub value: Vec<u8>,
}

/// The dynamic string table, located in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrTab {
    /// File offset of the table.
    pub file_offset: u64,
    /// The whole table (`DT_STRSZ` bytes).
    pub bytes: Vec<u8>,
}

/// Everything RPATH work needs to know about one ELF file.
#[derive(Clone, Debug)]
pub struct ElfInfo {
    /// ELF class.
    pub class: Class,
    /// Byte order.
    pub endian: Endian,
    /// `e_machine`.
    pub machine: u16,
    /// `e_type`.
    pub file_type: FileType,
    /// The `PT_INTERP` path, if any (dynamically linked executables).
    pub interp: Option<Vec<u8>>,
    /// `DT_NEEDED` names in order.
    pub needed: Vec<Vec<u8>>,
    /// Every `DT_RPATH` entry (normally zero or one).
    pub rpath: Vec<DynString>,
    /// Every `DT_RUNPATH` entry (normally zero or one).
    pub runpath: Vec<DynString>,
    /// `DT_SONAME`.
    pub soname: Option<Vec<u8>>,
    /// True if the file has a `PT_DYNAMIC` segment.
    pub has_dynamic: bool,
    /// `DT_TEXTREL` or `DF_TEXTREL`.
    pub textrel: bool,
    /// A `PT_GNU_STACK` segment asks for an executable stack.
    pub exec_stack: bool,
    /// A `PT_LOAD` segment is both writable and executable.
    pub wx_segment: bool,
    /// The raw dynamic array up to `DT_NULL`: (tag, value).
    pub dynamic: Vec<(i64, u64)>,
    /// File offset of the dynamic array.
    pub dynamic_offset: u64,
    /// The `PT_LOAD` mappings: (vaddr, file offset, file size).
    pub loads: Vec<(u64, u64, u64)>,
    /// The dynamic string table, if the file has one.
    pub dynstr: Option<StrTab>,
}

impl ElfInfo {
    /// Returns the file offset that a virtual address is loaded from, if a
    /// `PT_LOAD` segment maps it from the file.
    pub fn vaddr_to_offset(&self, addr: u64) -> Option<u64> {
        self.loads.iter().find_map(|&(vaddr, off, filesz)| {
            let delta = addr.checked_sub(vaddr)?;
            (delta < filesz).then(|| off.checked_add(delta)).flatten()
        })
    }

    /// Returns the value of the first dynamic entry with this tag.
    pub fn dyn_value(&self, t: i64) -> Option<u64> {
        self.dynamic.iter().find(|(k, _)| *k == t).map(|&(_, v)| v)
    }

    /// Returns the search path the loader uses for this object's own
    /// `DT_NEEDED` entries: `DT_RUNPATH` if present, else `DT_RPATH`.
    pub fn effective_path(&self) -> Option<&DynString> {
        self.runpath.first().or_else(|| self.rpath.first())
    }
}

/// Returns true if and only if `head` starts with the ELF magic.
pub fn has_magic(head: &[u8]) -> bool {
    head.len() >= 4 && head[..4] == E::ELFMAG
}

/// Reads an open file. Returns `Ok(None)` if it is not ELF (no magic),
/// `Err` if it has the magic but cannot be parsed.
pub fn read_file(file: &File) -> Result<Option<ElfInfo>> {
    let mut head = HeadFile::new(file).map_err(|e| ElfError::new(format!("reading: {e}")))?;
    if !has_magic(&head.head) {
        return Ok(None);
    }
    head.find_len()
        .map_err(|e| ElfError::new(format!("reading: {e}")))?;
    let cache = ReadCache::new(head);
    parse_any(&cache).map(Some)
}

/// Parses an ELF image held in memory (the rewriter and the fuzz target
/// use this). Same contract as [`read_file`].
pub fn parse(data: &[u8]) -> Result<Option<ElfInfo>> {
    if !has_magic(data) {
        return Ok(None);
    }
    parse_any(data).map(Some)
}

fn parse_any<'a, R: ReadRef<'a>>(data: R) -> Result<ElfInfo> {
    let ident = data
        .read_bytes_at(0, 16)
        .map_err(|()| ElfError::new("truncated ELF identification"))?;
    match ident[4] {
        1 => parse_as::<FileHeader32<Endianness>, R>(data, Class::Elf32),
        2 => parse_as::<FileHeader64<Endianness>, R>(data, Class::Elf64),
        c => Err(ElfError::new(format!("unknown ELF class {c}"))),
    }
}

fn parse_as<'a, H, R>(data: R, class: Class) -> Result<ElfInfo>
where
    H: FileHeader<Endian = Endianness>,
    R: ReadRef<'a>,
{
    let header = H::parse(data)?;
    let endian = header.endian()?;
    let mut info = ElfInfo {
        class,
        endian: if endian == Endianness::Big {
            Endian::Big
        } else {
            Endian::Little
        },
        machine: header.e_machine(endian).0,
        file_type: match header.e_type(endian).0 {
            1 => FileType::Relocatable,
            2 => FileType::Executable,
            3 => FileType::Dynamic,
            t => FileType::Other(t),
        },
        interp: None,
        needed: Vec::new(),
        rpath: Vec::new(),
        runpath: Vec::new(),
        soname: None,
        has_dynamic: false,
        textrel: false,
        exec_stack: false,
        wx_segment: false,
        dynamic: Vec::new(),
        dynamic_offset: 0,
        loads: Vec::new(),
        dynstr: None,
    };
    let phdrs = header.program_headers(endian, data)?;
    let mut dyn_entries: &[H::Dyn] = &[];
    for ph in phdrs {
        let flags = ph.p_flags(endian).0;
        match ph.p_type(endian) {
            E::PT_LOAD => {
                let vaddr: u64 = ph.p_vaddr(endian).into();
                let off: u64 = ph.p_offset(endian).into();
                let filesz: u64 = ph.p_filesz(endian).into();
                info.loads.push((vaddr, off, filesz));
                if flags & E::PF_W.0 != 0 && flags & E::PF_X.0 != 0 {
                    info.wx_segment = true;
                }
            }
            E::PT_GNU_STACK => info.exec_stack = flags & E::PF_X.0 != 0,
            E::PT_INTERP => {
                let path = ph.interpreter(endian, data)?.unwrap_or_default();
                info.interp = Some(path.to_vec());
            }
            E::PT_DYNAMIC if !info.has_dynamic => {
                info.has_dynamic = true;
                info.dynamic_offset = ph.p_offset(endian).into();
                dyn_entries = ph.dynamic(endian, data)?.unwrap_or_default();
            }
            _ => {}
        }
    }
    for d in dyn_entries {
        let t = d.tag(endian).0;
        if t == tag::NULL {
            break;
        }
        info.dynamic.push((t, d.val(endian)));
    }
    if info.has_dynamic {
        read_dynamic_strings(&mut info, data)?;
    }
    Ok(info)
}

fn read_dynamic_strings<'a, R: ReadRef<'a>>(info: &mut ElfInfo, data: R) -> Result<()> {
    let has_strings = info.dynamic.iter().any(|&(t, _)| tag::is_string(t));
    let (Some(addr), Some(size)) = (info.dyn_value(tag::STRTAB), info.dyn_value(tag::STRSZ)) else {
        if has_strings {
            return Err(ElfError::new("dynamic strings without DT_STRTAB/DT_STRSZ"));
        }
        return Ok(());
    };
    let offset = info
        .vaddr_to_offset(addr)
        .ok_or_else(|| ElfError::new(format!("DT_STRTAB {addr:#x} is not in a loaded segment")))?;
    let bytes = data
        .read_bytes_at(offset, size)
        .map_err(|()| ElfError::new("dynamic string table out of bounds"))?
        .to_vec();
    let strtab = StrTab {
        file_offset: offset,
        bytes,
    };
    for (index, &(t, val)) in info.dynamic.iter().enumerate() {
        if !matches!(t, tag::NEEDED | tag::SONAME | tag::RPATH | tag::RUNPATH) {
            continue;
        }
        let value = string_at(&strtab.bytes, val)
            .ok_or_else(|| ElfError::new(format!("dynamic string offset {val:#x} out of bounds")))?
            .to_vec();
        match t {
            tag::NEEDED => info.needed.push(value),
            tag::SONAME => info.soname = Some(value),
            tag::RPATH => info.rpath.push(DynString {
                index,
                offset: val,
                value,
            }),
            _ => info.runpath.push(DynString {
                index,
                offset: val,
                value,
            }),
        }
    }
    info.textrel = info.dyn_value(tag::TEXTREL).is_some()
        || info
            .dyn_value(tag::FLAGS)
            .is_some_and(|f| f & DF_TEXTREL != 0);
    info.dynstr = Some(strtab);
    Ok(())
}

/// Returns the NUL-terminated string at `offset` in a string table.
pub fn string_at(table: &[u8], offset: u64) -> Option<&[u8]> {
    let rest = table.get(usize::try_from(offset).ok()?..)?;
    let end = memchr::memchr(0, rest)?;
    Some(&rest[..end])
}

/// How much of a file is read up front: the ELF header, the program
/// headers and usually `.interp` and `.dynstr` of a small binary fit.
const HEAD: u64 = 4096;

/// A `Read + Seek` view of a file that serves its first page from memory
/// and everything else with `pread`, so `object`'s `ReadCache` costs one
/// syscall for the headers instead of a seek and a read per structure.
struct HeadFile<'f> {
    file: &'f File,
    len: u64,
    pos: u64,
    head: Vec<u8>,
}

impl<'f> HeadFile<'f> {
    fn new(file: &'f File) -> std::io::Result<HeadFile<'f>> {
        let mut head = vec![0; HEAD as usize];
        let mut n = 0;
        while n < head.len() {
            match file.read_at(&mut head[n..], n as u64)? {
                0 => break,
                k => n += k,
            }
        }
        head.truncate(n);
        Ok(HeadFile {
            file,
            len: n as u64,
            pos: 0,
            head,
        })
    }

    /// Learns the file's real length when the first page was full. Called
    /// only for ELF files: most files of a tree are not, and need no fstat.
    fn find_len(&mut self) -> std::io::Result<()> {
        if self.len == HEAD {
            self.len = self.file.metadata()?.len();
        }
        Ok(())
    }
}

impl Read for HeadFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = if let Some(rest) = self.head.get(self.pos as usize..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            n
        } else {
            self.file.read_at(buf, self.pos)?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for HeadFile<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
}

/// Returns a short name for an `e_machine` value, for messages.
pub fn machine_name(m: u16) -> String {
    let name = match m {
        3 => "i386",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "S/390",
        40 => "ARM",
        42 => "SuperH",
        43 => "SPARC V9",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => return format!("machine {m}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_elf_is_none_not_error() {
        assert!(parse(b"#!/bin/sh\n").unwrap().is_none());
        assert!(parse(b"").unwrap().is_none());
    }

    #[test]
    fn truncated_and_garbage_headers_are_errors() {
        assert!(parse(b"\x7fELF").is_err());
        let mut h = b"\x7fELF\x02\x01\x01".to_vec();
        h.resize(64, 0xff);
        assert!(parse(&h).is_err());
        let mut h = b"\x7fELF\x07\x01\x01".to_vec();
        h.resize(64, 0);
        assert_eq!(parse(&h).unwrap_err().to_string(), "unknown ELF class 7");
    }

    #[test]
    fn this_test_binary_parses() {
        let exe = std::env::current_exe().unwrap();
        let f = File::open(exe).unwrap();
        let info = read_file(&f).unwrap().unwrap();
        assert_eq!(info.class, Class::Elf64);
        assert!(info.has_dynamic);
        // A statically linked build (scripts/build-release.sh's flags) is
        // a static PIE: a dynamic section, no libraries.
        if !cfg!(target_feature = "crt-static") {
            assert!(info.needed.iter().any(|n| n.starts_with(b"libc.so")));
        }
    }

    #[test]
    fn string_at_is_bounds_checked() {
        assert_eq!(string_at(b"\0abc\0", 1), Some(&b"abc"[..]));
        assert_eq!(string_at(b"\0abc", 1), None);
        assert_eq!(string_at(b"\0abc\0", 99), None);
        assert_eq!(string_at(b"\0abc\0", u64::MAX), None);
    }
}
