#!/usr/bin/env python3
"""patchelf with Buildroot's --make-rpath-relative, for an offline build.

Buildroot's host-patchelf carries a patch adding --make-rpath-relative
ROOTDIR [--no-standard-lib-dirs] [--relative-to-file] FILE, which
support/scripts/fix-rpath runs on every ELF file; the build machine's
patchelf lacks it. This script implements that option the way the patch
does (package/patchelf/0001-Add-option-to-make-the-rpath-relative-under-a-
specif.patch) on top of the machine's patchelf, and hands every other
command line to it unchanged:

for each RPATH entry, in order: "$ORIGIN..." is resolved against the
file's directory, an entry starting with ROOTDIR is taken as is, any other
is looked up under ROOTDIR; an entry whose path does not exist is dropped
(realpath), and with --no-standard-lib-dirs so is ROOTDIR/lib or
ROOTDIR/usr/lib; the kept path becomes "$ORIGIN/<relative path>" with
--relative-to-file, else the path below ROOTDIR. The RPATH is written only
when it changes. A file without RPATH is left alone.
"""
import os
import subprocess
import sys

REAL = "@REAL@"


def patchelf(*args):
    return subprocess.run([REAL, *args], capture_output=True, text=True)


def relative(path, ref):
    # The patch's makePathRelative, component by component.
    rel = "$ORIGIN"
    p, r = path, ref
    while True:
        pos = p.find("/", 1)
        if r.find("/", 1) != pos:
            break
        if p[:pos if pos >= 0 else None] != r[:pos if pos >= 0 else None]:
            break
        if pos < 0:
            break
        p, r = p[pos:], r[pos:]
    if p != r:
        pos = 0
        while pos >= 0:
            pos = r.find("/", pos + 1)
            rel += "/.."
        rel += p
    return rel


def make_relative(root, nostd, to_file, name):
    out = patchelf("--print-rpath", name)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        return 1
    rpath = out.stdout.rstrip("\n")
    if not rpath:
        return 0
    file_dir = name[:name.rfind("/")] if "/" in name else name
    new = []
    for d in rpath.split(":"):
        if not d:
            continue
        if d.startswith("$ORIGIN"):
            path = file_dir + d[7:]
        elif d.startswith(root):
            path = d
        else:
            path = root + d
        if not os.path.exists(path):
            continue
        canon = os.path.realpath(path)
        if nostd and canon in (root + "/lib", root + "/usr/lib"):
            continue
        new.append(relative(canon, file_dir) if to_file else canon[len(root):])
    new_rpath = ":".join(new)
    if new_rpath == rpath:
        return 0
    out = patchelf("--set-rpath", new_rpath, name)
    sys.stderr.write(out.stderr)
    return out.returncode


def main():
    args = sys.argv[1:]
    if "--make-rpath-relative" not in args:
        os.execv(REAL, [REAL] + args)
    i = args.index("--make-rpath-relative")
    if i + 1 >= len(args):
        sys.exit("patchelf: missing argument to --make-rpath-relative")
    root = args[i + 1]
    rest = args[:i] + args[i + 2:]
    nostd = "--no-standard-lib-dirs" in rest
    to_file = "--relative-to-file" in rest
    files = [a for a in rest if a not in ("--no-standard-lib-dirs", "--relative-to-file")]
    if not files:
        sys.exit("patchelf: no file given")
    rc = 0
    for name in files:
        rc |= make_relative(root, nostd, to_file, name)
    sys.exit(rc)


if __name__ == "__main__":
    main()
