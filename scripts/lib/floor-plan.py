#!/usr/bin/env python3
"""Precompute the raw-floor plans of every prepare step of a workload.

Usage: floor-plan.py --workload W --dest D --out PLANDIR

For step i of W/steps.txt ("<pkg> <dep>..."), PLANDIR/<i>.plan holds exactly
the operations that turn the empty destinations D/<pkg>/host and
D/<pkg>/target into what Buildroot's rsync loop produces: the union of the
dependencies' trees, the last dependency winning a path and the metadata of
a directory (mode, mtime).  scripts/floor.c replays a plan; its format is
documented there.  This runs outside the timing: it is the part of the work
(scanning, deciding) that the floor deliberately does not pay.
"""

import argparse
import os
import stat
import sys


def walk(tree):
    """(rel, kind, lstat) for every entry under tree, parents before children."""
    stack = [(tree, "")]
    while stack:
        absdir, rel = stack.pop()
        with os.scandir(absdir) as it:
            for e in it:
                r = rel + "/" + e.name if rel else e.name
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    yield r, "d", e.path, st
                    stack.append((e.path, r))
                elif stat.S_ISLNK(st.st_mode):
                    yield r, "s", e.path, st
                else:
                    yield r, "f", e.path, st


def plan_tree(ppd, deps, tree, dest):
    """The records for one tree of one step."""
    winners = {}
    srcs = []
    for dep in deps:
        src = os.path.join(ppd, dep, tree)
        if not os.path.isdir(src):
            sys.exit(f"floor-plan: missing dependency tree {src}")
        idx = len(srcs)
        srcs.append(src)
        for rel, kind, path, st in walk(src):
            old = winners.get(rel)
            if (old and kind == "s" and old[0] == "s"
                    and os.readlink(path) == os.readlink(old[2])):
                # rsync keeps an existing symlink with the same target text,
                # mtime included: the first dependency's copy stays.
                continue
            if old and old[0] == "d" and kind != "d":
                # A non-directory replaces a directory: its subtree goes too.
                pre = rel + "/"
                for k in [k for k in winners if k.startswith(pre)]:
                    del winners[k]
            winners[rel] = (kind, idx, path, st)
    recs = [("R", dest)]
    used = sorted({w[1] for w in winners.values() if w[0] == "f"})
    remap = {old: new for new, old in enumerate(used)}
    recs += [("S", srcs[i]) for i in used]
    fixmodes, dirs, links = [], [], []
    for rel, (kind, idx, path, st) in winners.items():
        if kind == "d":
            mode = stat.S_IMODE(st.st_mode)
            # mkdir sets neither setuid nor setgid from its mode argument.
            if mode & 0o700 != 0o700 or mode & 0o6000:
                fixmodes.append(("m", f"{mode:o}", rel))
                mode |= 0o700
            recs.append(("d", f"{mode:o}", rel))
            dirs.append((rel, st))
        elif kind == "f":
            recs.append(("l", str(remap[idx]), rel))
        else:
            recs.append(("s", os.readlink(path), rel))
            links.append((rel, st))
    recs += fixmodes
    for rel, st in links:
        recs.append(("t", str(st.st_mtime_ns // 10**9), str(st.st_mtime_ns % 10**9), rel))
    for rel, st in reversed(dirs):
        recs.append(("t", str(st.st_mtime_ns // 10**9), str(st.st_mtime_ns % 10**9), rel))
    if srcs:
        top = os.stat(srcs[-1])
        recs.append(("m", f"{stat.S_IMODE(top.st_mode):o}", "."))
        recs.append(("t", str(top.st_mtime_ns // 10**9), str(top.st_mtime_ns % 10**9), "."))
    return recs, len(winners)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", required=True)
    ap.add_argument("--dest", required=True, help="destination base: D/<pkg>/{host,target}")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ppd = os.path.join(os.path.abspath(args.workload), "per-package")
    dest = os.path.abspath(args.dest)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    with open(os.path.join(args.workload, "steps.txt")) as f:
        steps = [line.split() for line in f if line.strip()]
    for i, (pkg, *deps) in enumerate(steps):
        out = bytearray()
        for tree in ("host", "target"):
            recs, n = plan_tree(ppd, deps, tree, os.path.join(dest, pkg, tree))
            total += n
            for rec in recs:
                for field in rec:
                    out += os.fsencode(field) + b"\0"
        with open(os.path.join(args.out, f"{i:05d}.plan"), "wb") as f:
            f.write(out)
    print(f"floor-plan: {len(steps)} steps, {total} entries")


if __name__ == "__main__":
    main()
