//! Fuzzes the ELF reader and the in-place RPATH rewriter on arbitrary
//! bytes: neither may panic; a successful rewrite may only change bytes
//! inside the dynamic string table, must keep the file size, and must
//! re-parse to the requested values with the tags unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ppd::elf::{self, edit};

fuzz_target!(|data: &[u8]| {
    let Ok(Some(info)) = elf::parse(data) else {
        return;
    };
    let Some(strtab) = &info.dynstr else { return };
    // Rewrite every RPATH/RUNPATH to a value derived from the input: shorter,
    // equal or longer than the old one.
    let changes: Vec<edit::Change> = info
        .rpath
        .iter()
        .chain(&info.runpath)
        .map(|d| {
            let n = (data.len() + d.index) % (d.value.len() + 3);
            edit::Change {
                index: d.index,
                value: b"$ORIGIN/../lib".iter().copied().cycle().take(n).collect(),
            }
        })
        .collect();
    let mut out = data.to_vec();
    if edit::rewrite_strings(&mut out, &info, &changes).is_err() {
        assert_eq!(out, data, "a refused edit must leave the image untouched");
        return;
    }
    assert_eq!(out.len(), data.len());
    let lo = strtab.file_offset as usize;
    let hi = lo + strtab.bytes.len();
    for (i, (a, b)) in data.iter().zip(&out).enumerate() {
        assert!(
            a == b || (lo..hi).contains(&i),
            "byte {i} outside .dynstr changed"
        );
    }
    let again = elf::parse(&out)
        .expect("rewritten image parses")
        .expect("still ELF");
    assert_eq!(again.dynamic.len(), info.dynamic.len());
    for (a, b) in again.dynamic.iter().zip(&info.dynamic) {
        assert_eq!(a.0, b.0, "a tag changed");
    }
    for c in &changes {
        let d = again
            .rpath
            .iter()
            .chain(&again.runpath)
            .find(|d| d.index == c.index)
            .expect("entry still there");
        assert_eq!(d.value, c.value);
    }
});
