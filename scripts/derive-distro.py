#!/usr/bin/env python3
"""Derive the 'distro' benchmark workload's description from a dpkg database.

Usage: derive-distro.py [--admindir /var/lib/dpkg] [--root /] --out FILE.xz

Run once by a maintainer (the result is committed as
scripts/workload-distro.xz); benchmarks never read the local package
database, so the workload is the same on every machine.

What it takes from the database:
  * the installed packages and their Pre-Depends + Depends among them (an
    alternative "a | b" is the first installed one, a virtual package its
    lexically first installed provider, version constraints are ignored);
  * every package's file list (info/<pkg>.list), each path typed by lstat on
    ROOT: directory (with its mode), symlink (with its target) or file (with
    its mode; a listed path missing on ROOT counts as a 0644 file).

What it decides, deterministically:
  * the build order: packages in topological order, ties by name; a
    dependency cycle (libc6 <-> libgcc-s1) is cut by keeping only the edges to
    members earlier by name;
  * which tree a package installs into: host/ for development packages
    (Section devel or libdevel, or a name ending in -dev), target/ otherwise;
  * ownership: a file or symlink belongs to the first package in build order
    listing it (dpkg diversions and shared paths would otherwise be real
    overwrites); a directory belongs to every package listing it; paths below
    a symlink on ROOT (the merged-/usr aliases such as /lib) and names with a
    tab or newline are left out.

Description format (xz-compressed UTF-8 text, one record per line, fields
separated by tabs):
  # comment lines
  P <name> <host|target> [<dep>...]   a package, in build order; its entries follow
  d <mode octal> <path>               a directory
  f <mode octal> <path>               a regular file
  s <target> <path>                   a symlink
Paths are relative (no leading slash) and sorted, parents before children.
"""

import argparse
import lzma
import os
import stat
import sys


def parse_status(path):
    pkgs = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        blocks = f.read().split("\n\n")
    for block in blocks:
        fields, cur = {}, None
        for line in block.split("\n"):
            if line.startswith((" ", "\t")) and cur:
                fields[cur] += " " + line.strip()
            elif ":" in line:
                k, v = line.split(":", 1)
                cur = k
                fields[k] = v.strip()
        if "Package" in fields and fields.get("Status", "").endswith(" installed"):
            pkgs[fields["Package"]] = fields
    return pkgs


def direct_deps(pkgs):
    provides = {}
    for name in sorted(pkgs):
        for p in pkgs[name].get("Provides", "").split(","):
            p = p.strip().split(" ")[0]
            if p:
                provides.setdefault(p, name)
    deps = {}
    for name, f in pkgs.items():
        got = set()
        for field in ("Pre-Depends", "Depends"):
            for alt in f.get(field, "").split(","):
                for cand in alt.split("|"):
                    c = cand.strip().split(" ")[0].split(":")[0]
                    if c in pkgs:
                        got.add(c)
                        break
                    if c in provides:
                        got.add(provides[c])
                        break
        got.discard(name)
        deps[name] = got
    return deps


def build_order(deps):
    """Topological order (ties by name); a cycle keeps only the edges to members earlier by name."""
    # Tarjan's strongly connected components, iteratively, nodes visited by name.
    index, low, on, stack, comp_of, comps = {}, {}, set(), [], {}, []
    counter = 0
    for root in sorted(deps):
        if root in index:
            continue
        work = [(root, iter(sorted(deps[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(deps[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    for w in comp:
                        comp_of[w] = len(comps)
                    comps.append(sorted(comp))
    kept = {}
    for name, ds in deps.items():
        c = comp_of[name]
        kept[name] = {d for d in ds if comp_of[d] != c or d < name}
    # Kahn's algorithm with a sorted ready list.
    indeg = {n: len(ds) for n, ds in kept.items()}
    users = {n: [] for n in kept}
    for n, ds in kept.items():
        for d in ds:
            users[d].append(n)
    import heapq
    ready = [n for n, k in indeg.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for u in users[n]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(kept):
        sys.exit("derive-distro: cycle left after cutting")
    return order, kept


def list_file(admindir, name, arch):
    for cand in (f"{name}.list", f"{name}:{arch}.list"):
        p = os.path.join(admindir, "info", cand)
        if os.path.exists(p):
            with open(p, encoding="utf-8", errors="surrogateescape") as f:
                return [line.rstrip("\n") for line in f if line.strip() and line.strip() != "/."]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--admindir", default="/var/lib/dpkg")
    ap.add_argument("--root", default="/")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    pkgs = parse_status(os.path.join(args.admindir, "status"))
    order, deps = build_order(direct_deps(pkgs))

    kinds = {}  # path -> ("d", mode) | ("f", mode) | ("s", target) | None (left out)

    def kind(path):
        if path in kinds:
            return kinds[path]
        k = None
        if "\t" not in path and "\n" not in path and path.startswith("/"):
            parent = os.path.dirname(path)
            if parent == "/" or (kind(parent) or ("",))[0] == "d":
                try:
                    st = os.lstat(os.path.join(args.root, path.lstrip("/")))
                    if stat.S_ISDIR(st.st_mode):
                        k = ("d", stat.S_IMODE(st.st_mode))
                    elif stat.S_ISLNK(st.st_mode):
                        k = ("s", os.readlink(os.path.join(args.root, path.lstrip("/"))))
                    else:
                        k = ("f", stat.S_IMODE(st.st_mode))
                except FileNotFoundError:
                    k = ("f", 0o644)
                if k[0] == "s" and ("\t" in k[1] or "\n" in k[1]):
                    k = None
        kinds[path] = k
        return k

    owner = {}
    lines = ["# ppd benchmark workload 'distro': derived by scripts/derive-distro.py from a "
             "dpkg database (file lists and Depends), see its --help"]
    n_entries = 0
    for name in order:
        f = pkgs[name]
        tree = ("host" if f.get("Section", "") in ("devel", "libdevel") or name.endswith("-dev")
                else "target")
        lines.append("\t".join(["P", name, tree] + sorted(deps[name])))
        mine = set()
        for path in list_file(args.admindir, name, f.get("Architecture", "")):
            path = os.path.normpath(path)
            k = kind(path)
            if k is None:
                continue
            if k[0] != "d":
                if path in owner:
                    continue
                owner[path] = name
            mine.add(path)
            p = os.path.dirname(path)
            while p != "/":  # the parents, in case a list leaves one out
                mine.add(p)
                p = os.path.dirname(p)
        for path in sorted(mine, key=lambda p: p.split("/")):
            k = kind(path)
            rel = path.lstrip("/")
            if k[0] == "s":
                lines.append(f"s\t{k[1]}\t{rel}")
            else:
                lines.append(f"{k[0]}\t{k[1]:o}\t{rel}")
            n_entries += 1
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    with lzma.open(args.out, "wb", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(data)
    print(f"derive-distro: {len(order)} packages, {n_entries} entries, "
          f"{len(data)} bytes, {os.path.getsize(args.out)} compressed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
