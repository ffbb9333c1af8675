#!/usr/bin/env python3
"""Compare two merged trees entry by entry, as the benchmarks' parity check.

Usage: treecmp.py [--copy] [--since A_START B_START] [--rpath-rule ROOT...] A B

Without --copy (hard-link merges): every non-directory must be the very same
inode in A and B (so the same source file won), symlinks must have the same
target text, directories the same mode, owner and mtime (ns).
With --copy (finalize): inodes differ by design; files must instead agree on
content, mode, owner and mtime, and the hard-link groups must be the same
partition of names.  Symlink mtimes are compared in both modes.
With --since (two trees made by two builds, each started at the given time
in seconds since the epoch, e.g. two Buildroot builds): an mtime older than
its build's start was copied from a source (a preserved timestamp) and must
be equal in both trees; a newer one is the build's own clock and is not
compared, but it must be newer in both trees.
With --rpath-rule (A's RPATHs fixed by Buildroot's fix-rpath, B's by ppd
fix-rpath; copy mode): an ELF file may differ in its RPATH/RUNPATH string
as ppd's documented rule allows (elfrpath.py); ROOT... are B's directories
(below B) in which absolute RPATH entries resolve, the deepest match wins,
default B itself. Such files are counted, not reported.
Prints "same" or the first differences; exit 0 when equal, 1 otherwise.
"""

import filecmp
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import elfrpath  # noqa: E402


def scan(root):
    out = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for e in it:
                r = os.path.join(rel, e.name) if rel else e.name
                st = e.stat(follow_symlinks=False)
                out[r] = st
                if stat.S_ISDIR(st.st_mode):
                    stack.append(r)
    return out


def main():
    args = sys.argv[1:]
    copy = "--copy" in args
    args = [a for a in args if a != "--copy"]
    since = None
    if "--since" in args:
        i = args.index("--since")
        try:
            since = tuple(int(float(t) * 1e9) for t in args[i + 1:i + 3])
        except ValueError:
            sys.exit(__doc__)
        del args[i:i + 3]
    rpath_roots = None
    if "--rpath-rule" in args:
        i = args.index("--rpath-rule")
        rest = args[i + 1:]
        args = args[:i]
        if len(rest) < 2:
            sys.exit(__doc__)
        rpath_roots = rest[:-2]
        args += rest[-2:]
    if len(args) != 2 or (since is not None and len(since) != 2):
        sys.exit(__doc__)
    a_root, b_root = args
    rpath_fixed = [0]

    def root_for(rel):
        best = ""
        for r in rpath_roots or [""]:
            if r == "" or rel == r or rel.startswith(r.rstrip("/") + "/"):
                if len(r) >= len(best):
                    best = r
        return os.path.join(b_root, best).rstrip("/")

    def same_content(rel):
        pa, pb = os.path.join(a_root, rel), os.path.join(b_root, rel)
        if filecmp.cmp(pa, pb, shallow=False):
            return None
        if rpath_roots is None:
            return "content"
        why = elfrpath.compare(pa, pb, root_for(rel))
        if why is None:
            rpath_fixed[0] += 1
        return why
    timed = [0]

    def same_mtime(x, y):
        if since is None:
            return x.st_mtime_ns == y.st_mtime_ns
        old_x, old_y = x.st_mtime_ns < since[0], y.st_mtime_ns < since[1]
        if old_x != old_y:
            return False
        if old_x:
            timed[0] += 1
            return x.st_mtime_ns == y.st_mtime_ns
        return True
    a, b = scan(a_root), scan(b_root)
    diffs = []
    for rel in sorted(set(a) | set(b)):
        if rel not in a or rel not in b:
            diffs.append(f"{rel}: only in {'A' if rel in a else 'B'}")
            continue
        x, y = a[rel], b[rel]
        if stat.S_IFMT(x.st_mode) != stat.S_IFMT(y.st_mode):
            diffs.append(f"{rel}: type differs")
            continue
        what = []
        if stat.S_ISLNK(x.st_mode):
            if os.readlink(os.path.join(a_root, rel)) != os.readlink(os.path.join(b_root, rel)):
                what.append("symlink target")
            if not same_mtime(x, y):
                what.append("symlink mtime")
        elif stat.S_ISDIR(x.st_mode) or copy:
            if x.st_mode != y.st_mode:
                what.append(f"mode {x.st_mode:o} vs {y.st_mode:o}")
            if (x.st_uid, x.st_gid) != (y.st_uid, y.st_gid):
                what.append("owner")
            if not same_mtime(x, y):
                what.append("mtime")
            if copy and stat.S_ISREG(x.st_mode):
                why = "content (size)" if x.st_size != y.st_size else same_content(rel)
                if why:
                    what.append(why)
        elif (x.st_dev, x.st_ino) != (y.st_dev, y.st_ino):
            what.append("inode")
        if what:
            diffs.append(f"{rel}: {', '.join(what)}")
    if copy:
        # The same partition into hard-link groups (names sharing an inode).
        def groups(t):
            g = {}
            for rel, st in t.items():
                if not stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode):
                    g.setdefault(st.st_ino, []).append(rel)
            return sorted(sorted(v) for v in g.values() if len(v) > 1)
        if groups(a) != groups(b):
            diffs.append("hard-link groups differ")
    if diffs:
        print(f"{len(diffs)} differences between {a_root} and {b_root}:")
        for d in diffs[:10]:
            print("  " + d)
        return 1
    extra = []
    if since is not None:
        extra.append(f"{timed[0]} preserved mtimes")
    if rpath_roots is not None:
        extra.append(f"{rpath_fixed[0]} ELF files with RPATHs differing only by ppd's rule")
    print(f"same ({', '.join([f'{len(a)} entries'] + extra)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
