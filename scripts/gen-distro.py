#!/usr/bin/env python3
"""Generate the 'distro' prepare workload from its committed description.

Usage: gen-distro.py --out DIR [--description scripts/workload-distro.xz]
                     [--packages N] [--stats-only]

The description (scripts/workload-distro.xz, written once from a real
distribution's package database by scripts/derive-distro.py) lists packages
in build order with their direct dependencies and the paths each installs.
This writes everything a whole-build replay needs, identical on any machine:

  DIR/own/<pkg>/{host,target}/...  each package's own files (empty regular
                     files with the listed modes, symlinks, directories), the
                     "installed" files a replay links into the package's tree
  DIR/steps.txt      one line per step in build order: "<pkg> <dep>..."
                     (dependencies sorted, the order Buildroot merges them in)
  DIR/plans/<i>.plan the raw floor of step i (scripts/floor.c's format, paths
                     relative to the replay's per-package directory): exactly
                     the mkdir/link/symlink/chmod/utimes calls that give
                     <pkg>/{host,target} the rsync loop's result
  DIR/install/<i>.plan step i's install (same format): link the package's own
                     files into its tree, create its own symlinks and
                     directories, then give every directory the install wrote
                     into (and both tree roots) the package's fixed mtime
  DIR/workload.txt   statistics

A replay is, for each step in order, in one per-package directory PPD:
prepare PPD/<pkg>/{host,target} from PPD/<dep>/{host,target} (the method
measured), then `floor -C PPD DIR/install/<i>.plan` (untimed). Every tree
a step reads was produced by the same method in the same replay, so a tool
that keeps state beside the trees (ppd's manifests) is measured as a build
uses it. The plans come from a model of the rsync loop: dependencies merged
in order, the last one giving a directory its mode and mtime (types and
modes are the same everywhere, a file or symlink has one owner), so the
floor knows the union without reading anything.

--packages N keeps a smaller build of the same shape (a quick run): the
dependency closures of the packages with the most direct dependencies,
widest first, until at least N packages are kept.
"""

import argparse
import lzma
import os
import sys

# A fixed base time (2026-01-01) so that mtimes are reproducible.
BASE_TIME_NS = 1767225600 * 10**9
TREES = ("host", "target")


def read_description(path, limit):
    """[(name, tree, deps, [(kind, mode_or_target, rel)])] in build order."""
    pkgs = []
    with lzma.open(path, "rt", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "P":
                pkgs.append((fields[1], fields[2], fields[3:], []))
            elif fields[0] in ("d", "f", "s"):
                pkgs[-1][3].append((fields[0], fields[1], fields[2]))
            else:
                sys.exit(f"gen-distro: bad line in {path}: {line[:80]!r}")
    if limit <= 0 or limit >= len(pkgs):
        return pkgs
    # A smaller build of the same shape: the dependency closures of the
    # widest packages (most direct dependencies first, ties in build order).
    deps = {p[0]: p[2] for p in pkgs}
    keep = set()
    for name in sorted(deps, key=lambda n: -len(deps[n])):
        stack = [name]
        while stack:
            n = stack.pop()
            if n not in keep:
                keep.add(n)
                stack += [d for d in deps[n] if d in deps]
        if len(keep) >= limit:
            break
    return [p for p in pkgs if p[0] in keep]


def enc(*fields):
    return b"".join(os.fsencode(x) + b"\0" for x in fields)


def mtime_fields(ns):
    return str(ns // 10**9), str(ns % 10**9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", required=True)
    ap.add_argument("--description", default=os.path.join(here, "workload-distro.xz"))
    ap.add_argument("--packages", type=int, default=0, help="keep about N packages, widest closures first (0: all)")
    ap.add_argument("--stats-only", action="store_true", help="print the statistics, write nothing")
    args = ap.parse_args()
    pkgs = read_description(args.description, args.packages)
    names = {p[0] for p in pkgs}
    out = os.path.abspath(args.out)
    own_root = os.path.join(out, "own")
    if not args.stats_only:
        if os.path.exists(out) and os.listdir(out):
            sys.exit(f"gen-distro: output directory {out} is not empty")
        for d in ("own", "plans", "install"):
            os.makedirs(os.path.join(out, d), exist_ok=True)
    os.umask(0)

    # kinds: rel -> ("d", mode) | ("f", mode) | ("s", target); the same in
    # every package that lists the path.
    kinds = {}
    # trees[(pkg, tree)]: rel -> directory mtime (ns), or 0 for a file or
    # symlink; "" is the tree's root.
    trees = {}
    sym_mtime = {}
    steps = []
    st = {"steps": 0, "placed": 0, "dirs": 0, "symlinks": 0, "max_deps": 0, "own": 0,
          "deps": 0}
    counter = 0
    for i, (pkg, mytree, deps, entries) in enumerate(pkgs):
        deps = sorted(d for d in deps if d in names)
        steps.append(" ".join([pkg] + deps))
        pkg_mtime = BASE_TIME_NS + (i + 1) * 3_600_000_000_007
        plan = bytearray()
        inst = bytearray()
        st["max_deps"] = max(st["max_deps"], len(deps))
        st["deps"] += len(deps)
        st["steps"] += 1
        for tree in TREES:
            # The union, as the rsync loop builds it.
            union = {}
            src = {}
            for k, dep in enumerate(deps):
                t = trees[(dep, tree)]
                union.update(t)
                for rel, v in t.items():
                    if v == 0:
                        src[rel] = k
            union.pop("", None)
            used = sorted({src[r] for r in union if union[r] == 0 and kinds[r][0] == "f"})
            remap = {old: new for new, old in enumerate(used)}
            plan += enc("R", f"{pkg}/{tree}")
            for k in used:
                plan += enc("S", f"{deps[k]}/{tree}")
            fix, links, dirs = [], [], []
            for rel in sorted(union):
                kind, arg = kinds[rel]
                if kind == "d":
                    mode = arg
                    if mode & 0o700 != 0o700 or mode & 0o6000:
                        fix.append(enc("m", f"{mode:o}", rel))
                    plan += enc("d", f"{mode | 0o700:o}", rel)
                    dirs.append(rel)
                    st["dirs"] += 1
                elif kind == "f":
                    plan += enc("l", str(remap[src[rel]]), rel)
                else:
                    plan += enc("s", arg, rel)
                    links.append(rel)
                    st["symlinks"] += 1
            st["placed"] += len(union)
            for f in fix:
                plan += f
            for rel in links:
                plan += enc("t", *mtime_fields(sym_mtime[rel]), rel)
            for rel in reversed(dirs):
                plan += enc("t", *mtime_fields(union[rel]), rel)
            if deps:
                plan += enc("m", "755", ".")
                plan += enc("t", *mtime_fields(trees[(deps[-1], tree)][""]), ".")

            # The install: own entries on top, then the directory mtimes.
            tree_now = dict(union)
            inst += enc("R", f"{pkg}/{tree}")
            touched = {""}
            if tree == mytree:
                inst += enc("S", os.path.join(own_root, pkg, tree))
                fix, links = [], []
                for kind, arg, rel in entries:
                    if kind == "s":
                        kinds.setdefault(rel, ("s", arg))
                    else:
                        kinds.setdefault(rel, (kind, int(arg, 8)))
                    if kinds[rel][0] != kind:
                        sys.exit(f"gen-distro: {rel} has two types")
                    parent = os.path.dirname(rel)
                    touched.add(parent)
                    if kind == "d":
                        touched.add(rel)
                        if rel not in tree_now:
                            mode = kinds[rel][1]
                            if mode & 0o700 != 0o700 or mode & 0o6000:
                                fix.append(enc("m", f"{mode:o}", rel))
                            inst += enc("d", f"{mode | 0o700:o}", rel)
                        tree_now[rel] = 0
                        continue
                    if rel in tree_now:
                        sys.exit(f"gen-distro: {pkg} installs {rel} over a dependency's")
                    if kind == "f":
                        inst += enc("l", "0", rel)
                    else:
                        counter += 1
                        sym_mtime[rel] = BASE_TIME_NS + counter * 1_000_003_007
                        inst += enc("s", arg, rel)
                        links.append(rel)
                    tree_now[rel] = 0
                    st["own"] += 1
                for f in fix:
                    inst += f
                for rel in links:
                    inst += enc("t", *mtime_fields(sym_mtime[rel]), rel)
            for rel in sorted(touched, reverse=True):
                inst += enc("t", *mtime_fields(pkg_mtime), rel or ".")
                tree_now[rel] = pkg_mtime
            for rel in touched:
                if rel and kinds[rel][0] != "d":
                    sys.exit(f"gen-distro: {rel} is a parent and not a directory")
            trees[(pkg, tree)] = tree_now

            if tree == mytree and not args.stats_only:
                write_own(os.path.join(own_root, pkg, tree), entries, kinds, sym_mtime,
                          BASE_TIME_NS + i * 1_000_000_007)
        if not args.stats_only:
            with open(os.path.join(out, "plans", f"{i:05d}.plan"), "wb") as f:
                f.write(plan)
            with open(os.path.join(out, "install", f"{i:05d}.plan"), "wb") as f:
                f.write(inst)
    summary = (f"distro: {st['steps']} steps, direct deps avg {st['deps'] / st['steps']:.2f} "
               f"max {st['max_deps']}, {st['own']} own files and symlinks\n"
               f"prepare replay: {st['placed']} entries placed, {st['dirs']} directories created, "
               f"{st['symlinks']} symlinks\n"
               f"description {os.path.basename(args.description)}, packages "
               f"{args.packages or 'all'}\n")
    if not args.stats_only:
        with open(os.path.join(out, "steps.txt"), "w") as f:
            f.write("".join(s + "\n" for s in steps))
        with open(os.path.join(out, "workload.txt"), "w") as f:
            f.write(summary)
    sys.stdout.write(summary)
    return 0


def write_own(root, entries, kinds, sym_mtime, file_mtime):
    """The package's own files: what its install step links into its tree."""
    os.makedirs(root, exist_ok=True)
    dirs = []
    for kind, arg, rel in entries:
        path = os.path.join(root, rel)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        if kind == "d":
            if not os.path.isdir(path):
                os.mkdir(path, 0o755)
            dirs.append(path)
        elif kind == "f":
            mode = kinds[rel][1]
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o777)
            os.close(fd)
            if mode & 0o7000:
                os.chmod(path, mode)
            os.utime(path, ns=(file_mtime, file_mtime))
        else:
            os.symlink(arg, path)
            os.utime(path, ns=(sym_mtime[rel], sym_mtime[rel]), follow_symlinks=False)
    for d in dirs:
        os.utime(d, ns=(file_mtime, file_mtime))


if __name__ == "__main__":
    sys.exit(main())
