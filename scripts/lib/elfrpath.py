"""ELF files that differ only as ppd fix-rpath differs from Buildroot's.

Used by treecmp.py --rpath-rule, comparing a tree fixed by Buildroot's
support/scripts/fix-rpath (A) with one fixed by ppd fix-rpath (B). Both edit
the RPATH or RUNPATH string in place in .dynstr, so an ELF file may differ
in that string and its padding (patchelf fills the freed bytes with 'X',
ppd with NUL) and nowhere else. The strings may differ only by ppd's
documented rule (README, "Where ppd differs from Buildroot"): ppd drops an
entry holding none of the needed libraries that earlier entries did not
already provide (patchelf's shrink rule), which Buildroot's patched
--make-rpath-relative does not apply.
"""

import os
import struct

DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
SHT_DYNAMIC = 6


class Elf:
    """The dynamic section of an ELF file: needed libraries, RPATH/RUNPATH."""

    def __init__(self, data):
        if data[:4] != b"\x7fELF":
            raise ValueError("not ELF")
        is64 = data[4] == 2
        end = "<" if data[5] == 1 else ">"
        if is64:
            shoff, = struct.unpack_from(end + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        else:
            shoff, = struct.unpack_from(end + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        sections = []
        for i in range(shnum):
            o = shoff + i * shentsize
            if is64:
                _, typ, _, _, off, size, link = struct.unpack_from(end + "IIQQQQI", data, o)
            else:
                _, typ, _, _, off, size, link = struct.unpack_from(end + "IIIIIII", data, o)
            sections.append((typ, off, size, link))
        dyn = [s for s in sections if s[0] == SHT_DYNAMIC]
        if not dyn:
            raise ValueError("no dynamic section")
        typ, off, size, link = dyn[0]
        self.strtab = sections[link][1]
        fmt, step = (end + "qQ", 16) if is64 else (end + "iI", 8)
        self.needed, self.rpath_tag, self.rpath_off = [], None, None
        for o in range(off, off + size, step):
            tag, val = struct.unpack_from(fmt, data, o)
            if tag == 0:
                break
            if tag == DT_NEEDED:
                self.needed.append(self.string(data, val))
            elif tag in (DT_RPATH, DT_RUNPATH):
                self.rpath_tag, self.rpath_off = tag, self.strtab + val
        self.rpath = self.string(data, self.rpath_off - self.strtab) if self.rpath_off else None

    def string(self, data, off):
        start = self.strtab + off
        return data[start:data.index(b"\0", start)].decode("utf-8", "surrogateescape")


def expected_after_drop(entries, needed, file_dir, root):
    """Entries that hold a needed library not found in an earlier entry."""
    found, kept = set(), []
    for e in entries:
        if e.startswith("$ORIGIN"):
            d = file_dir + e[len("$ORIGIN"):]
        else:
            d = root + e
        new = {n for n in needed if n not in found and os.path.exists(os.path.join(d, n))}
        if new:
            found |= new
            kept.append(e)
    return kept


def compare(a_path, b_path, root_b):
    """None if the files differ only as the rule allows, else a reason.

    root_b: the root absolute RPATH entries of B's file resolve in (the
    target or staging directory); B's file's own directory resolves $ORIGIN.
    """
    with open(a_path, "rb") as f:
        a = f.read()
    with open(b_path, "rb") as f:
        b = f.read()
    if len(a) != len(b):
        return "content (size)"
    try:
        ea, eb = Elf(a), Elf(b)
    except (ValueError, struct.error, IndexError):
        return "content"
    if ea.rpath_off is None or ea.rpath_off != eb.rpath_off or ea.rpath_tag != eb.rpath_tag:
        return "content"
    # The strings, then their terminators and padding: NUL or 'X' bytes,
    # up to the first byte that is neither or is 'X' in both (the next
    # string).
    start = ea.rpath_off
    i = start + max(len(ea.rpath.encode()), len(eb.rpath.encode()))
    while i < len(a) and a[i] in (0, 0x58) and b[i] in (0, 0x58) and not a[i] == b[i] == 0x58:
        i += 1
    if a[:start] != b[:start] or a[i:] != b[i:]:
        return "content (outside the RPATH string)"
    if ea.rpath == eb.rpath:
        return None
    want = expected_after_drop([e for e in ea.rpath.split(":") if e], ea.needed,
                               os.path.dirname(b_path), root_b)
    if ":".join(want) != eb.rpath:
        return f"RPATH {ea.rpath!r} vs {eb.rpath!r} (expected {':'.join(want)!r})"
    return None
