#!/usr/bin/env python3
"""Compare the images file lists of two Buildroot builds (A, B: output dirs).

Usage: imageslists.py A B

BINARIES_DIR is global: a package's .files-list-images.txt is the
difference of that directory between its configure and its install steps,
so under make -j it also names the images another package installed in
between (Buildroot documents this). Which packages race that way depends
on the build's schedule, not on how the lists are made. So a line that one
build has and the other lacks is accepted when it is explained by that
race in the build that has it: another package's images list of that build
names the same path, and that package's install-image step overlapped the
listing package's window (its configure start to its .stamp_installed) in
that build's build-time.log. Every other difference is reported.
Prints the differences; exit 0 when none, 1 otherwise.
"""

import glob
import os
import sys


def lists(out):
    """{pkg: (builddir, set of paths)} from build/*/.files-list-images.txt."""
    res = {}
    for f in glob.glob(os.path.join(out, "build", "*", ".files-list-images.txt")):
        paths = set()
        pkg = None
        with open(f, "rb") as fh:
            for line in fh.read().split(b"\n"):
                if not line:
                    continue
                p, _, path = line.partition(b",")
                pkg = p.decode()
                paths.add(path)
        res[os.path.basename(os.path.dirname(f))] = (pkg, paths)
    return res


def steps(out):
    """{(pkg, step): (start, end)} from build/build-time.log."""
    res = {}
    with open(os.path.join(out, "build", "build-time.log")) as fh:
        for line in fh:
            parts = line.rstrip("\n").split(":", 3)
            if len(parts) != 4:
                continue
            ts, what, step, pkg = float(parts[0]), parts[1].strip(), parts[2].strip(), parts[3].strip()
            s, e = res.get((pkg, step), (None, None))
            res[(pkg, step)] = (ts, e) if what == "start" else (s, ts)
    return res


def explained(out, ls, st, bdir, path):
    """Whether `path` in the list of build dir `bdir` of build `out` comes
    from another package's install-image step during its window."""
    start = st.get((bdir_pkg(ls, bdir), "configure"), (None, None))[0]
    stamp = os.path.join(out, "build", bdir, ".stamp_installed")
    if start is None or not os.path.exists(stamp):
        return False
    end = os.stat(stamp).st_mtime
    for other, (opkg, opaths) in ls.items():
        if other == bdir or path not in opaths:
            continue
        s, e = st.get((opkg, "install-image"), (None, None))
        if s is not None and e is not None and s < end and e > start:
            return True
    return False


def bdir_pkg(ls, bdir):
    return ls[bdir][0]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = sys.argv[1:]
    la, lb = lists(a), lists(b)
    sa, sb = steps(a), steps(b)
    bad = 0
    for bdir in sorted(set(la) | set(lb)):
        if bdir not in la or bdir not in lb:
            print(f"{bdir}: images list in only one build")
            bad += 1
            continue
        pa, pb = la[bdir][1], lb[bdir][1]
        for path in sorted(pa - pb):
            if not (la[bdir][0] and explained(a, la, sa, bdir, path)):
                print(f"{bdir}: only in {a}: {path!r}")
                bad += 1
        for path in sorted(pb - pa):
            if not (lb[bdir][0] and explained(b, lb, sb, bdir, path)):
                print(f"{bdir}: only in {b}: {path!r}")
                bad += 1
    if bad:
        return 1
    print(f"{len(la)} images lists the same, up to the images other packages installed meanwhile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
