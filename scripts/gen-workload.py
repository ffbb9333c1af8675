#!/usr/bin/env python3
"""Generate a realistic synthetic finished per-package-directory (PPD) build.

Usage:
    python3 scripts/gen-workload.py --out DIR [--packages N] [--seed S]
                                    [--toolchain-files F] [--size-scale X]

Layout written under DIR:
    DIR/per-package/<pkg>/host/...     every package's host tree (staging is
                                       host/x86_64-buildroot-linux-gnu/sysroot)
    DIR/per-package/<pkg>/target/...   every package's target tree
    DIR/steps.txt      one line per prepare step, in build order:
                       "<pkg> <dep1> <dep2> ..." (deps sorted lexically, the
                       order Buildroot's configure step merges them in)
    DIR/packages.txt   every package, sorted lexically
    DIR/workload.txt   a few statistics (packages, closure sizes, entries)

The build is simulated the way Buildroot fills PPDs: for each package in
topological order its PPD is the merge of its direct dependencies' host/ and
target/ trees, in sorted order, hard-linked (the last dependency wins a path;
directory mode and mtime come from the last dependency providing the
directory), and then the package's own files are installed on top as new
inodes.  Because every PPD already holds its dependency's closure, the PPDs
share most of their inodes, exactly like a real build.

What the trees contain, and why:
  * shared base packages every package depends on: host-skeleton (host/usr -> .
    and lib64 -> lib symlinks, so merge tools must never follow symlinks),
    skeleton (target root with 0700 /root and 1777 /tmp), and a toolchain
    (toolchain-external-bootlin + the virtual toolchain package) whose sysroot
    holds --toolchain-files headers, libraries, .so symlink chains, gconv
    modules, hard-linked binutils names;
  * host-* tools and target packages in a DAG with ~4-5 direct dependencies
    and closures of ~10-50 packages;
  * per-package own files: ELF binaries and libraries (real ELF files when gcc
    is available, host ones with a RUNPATH into their own PPD), headers, data,
    symlinks, a few hard-link groups, busybox-style symlink farms, and
    share/info/dir files rewritten by several packages (real overwrites);
  * the text files later steps rewrite: .pc, .la, *-config, .cmake and python
    sysconfigdata files embedding the package's own per-package path
    (DIR/per-package/<pkg>/host/...).

The output is deterministic for the same --out, --seed, options and compiler
(file contents, modes and nanosecond mtimes; inode numbers are not).
Only the Python standard library is used.
"""

import argparse
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time

TUPLE = "x86_64-buildroot-linux-gnu"
STAGING = f"{TUPLE}/sysroot"
GCC_VER = "12.3.0"
# A fixed base time (2026-01-01) so that mtimes are reproducible.
BASE_TIME_NS = 1767225600 * 10**9

HOST_NAMES = """pkgconf m4 zlib xz zstd lzip gettext-tiny libtool autoconf automake
bison flex gawk gperf expat libffi openssl ncurses readline libxml2 libxslt
util-linux e2fsprogs python3 python-setuptools ninja meson cmake perl patchelf
fakeroot makedevs mtools dosfstools genimage kmod libglib2 gobject-introspection
bzip2 elfutils dtc uboot-tools lz4 squashfs mkpasswd acl attr libcap intltool
libxml-parser-perl wayland python-mako python-jinja2 python-markupsafe bc gmp
mpfr mpc binutils pahole cpio gzip sqlite libarchive lzo libzlib pcre2 libuv
python-pyyaml python-packaging python-docutils python-six python-wheel
python-flit-core python-hatchling python-pytest doxygen gtk-doc-tools swig
nasm yasm libusb dfu-util openocd erofs-utils f2fs-tools mtd zip unzip lua
luarocks rust-bin go-bin nodejs-bin qemu grub2 cramfs fwup""".split()

TARGET_NAMES = """busybox zlib libffi openssl expat ncurses readline util-linux libxml2 pcre2
libglib2 dbus libcap attr acl kmod eudev bzip2 xz zstd lz4 sqlite libcurl
libevent libuv libyaml json-c jansson libusb libnl iproute2 iptables openssh
dropbear bash coreutils e2fsprogs lighttpd nginx python3 lua libjpeg libpng
freetype fontconfig harfbuzz cairo pixman libdrm mesa3d wayland libinput
libxkbcommon gstreamer1 gst1-plugins-base alsa-lib libsndfile pulseaudio
libgpg-error libgcrypt gnutls nettle gmp libtasn1 p11-kit ca-certificates
libidn2 libunistring libpsl nghttp2 c-ares libssh2 wpa_supplicant hostapd
iw wireless-regdb linux-firmware dhcpcd chrony ntp htop strace gdb valgrind
tcpdump libpcap ethtool i2c-tools can-utils mtd-utils u-boot-tools dtc
libmnl libnftnl nftables ifupdown-scripts netifrc libite libconfuse
protobuf protobuf-c grpc mosquitto paho-mqtt-c libwebsockets cjson
libmicrohttpd avahi libdaemon nss-mdns samba4 nfs-utils rpcbind libtirpc
lvm2 cryptsetup popt libaio libblkid parted gptfdisk dosfstools
mtools squashfs-tools erofs-utils""".split()

BIG_HOST = {"host-python3": 2400, "host-perl": 1500, "host-cmake": 1100,
            "host-rust-bin": 900, "host-go-bin": 800, "host-qemu": 400,
            "host-libglib2": 300, "host-binutils": 250, "host-grub2": 350}
BIG_TARGET = {"python3": 1600, "mesa3d": 450, "libglib2": 350, "gdb": 300,
              "samba4": 700, "linux-firmware": 500, "valgrind": 350,
              "gstreamer1": 300, "ca-certificates": 150, "perl": 800}


class Gen:
    """Holds the options, the random stream and the content pools."""

    def __init__(self, args):
        self.out = os.path.abspath(args.out)
        self.ppd = os.path.join(self.out, "per-package")
        self.rnd = random.Random(args.seed)
        self.npkg = max(args.packages, 12)
        self.tc_files = max(args.toolchain_files, 100)
        self.scale = args.size_scale
        self.recreate_symlinks = getattr(args, "recreate_symlinks", False)
        # One pool of pseudo-random bytes (binary payloads) and one of C-ish
        # text (headers, data); files are slices, so generation is cheap.
        self.blob = self.rnd.randbytes(1 << 22)
        words = ["static", "inline", "int", "unsigned", "long", "const", "char",
                 "struct", "void", "return", "define", "ifdef", "endif", "size_t"]
        lines = []
        for i in range(6000):
            w = self.rnd.sample(words, 4)
            lines.append(f"#define __SYM_{i:05d} {' '.join(w)} /* {i * 7919 % 65521} */\n")
        self.text = "".join(lines)
        self.elf = build_elf_templates()
        self.mtime_counter = 0
        self.stats = {"own_files": 0, "own_symlinks": 0, "own_bytes": 0,
                      "linked": 0, "dirs": 0}

    # ---- content ---------------------------------------------------------

    def size(self, median, spread=1.0, lo=64, hi=64 << 20):
        """A log-normal size around `median` bytes, scaled by --size-scale."""
        s = int(self.rnd.lognormvariate(0, spread) * median * self.scale)
        return max(lo, min(hi, s))

    def binary(self, n):
        off = self.rnd.randrange(len(self.blob))
        data = self.blob[off:off + n]
        while len(data) < n:
            data += self.blob[:n - len(data)]
        return data

    def text_block(self, header, n):
        off = self.rnd.randrange(len(self.text) - 1)
        off = self.text.index("\n", off) + 1 if "\n" in self.text[off:] else 0
        body = self.text[off:off + n]
        if len(body) < n:
            body += self.text[:n - len(body)]
        return (header + body[:body.rfind("\n") + 1]).encode()

    def elf_file(self, kind, n, rpath=None):
        """A real ELF (exe or shared lib) padded to about n bytes."""
        tpl = self.elf.get((kind, rpath is not None))
        if tpl is None:
            head = b"\x7fELF\x02\x01\x01" + bytes(9)
            return head + self.binary(max(n - len(head), 0))
        data = tpl
        if rpath is not None:
            raw = rpath.encode()
            if len(raw) < RPATH_SLOT:
                data = data.replace(RPATH_MARK, raw + bytes(RPATH_SLOT - len(raw)), 1)
            else:
                data = self.elf[(kind, False)]
        return data + self.binary(max(n - len(data), 0))

    def next_mtime(self):
        """Deterministic, strictly increasing mtimes with a ns component."""
        self.mtime_counter += 1
        return BASE_TIME_NS + self.mtime_counter * 1_000_003_007


RPATH_SLOT = 512
RPATH_MARK = b"@" * RPATH_SLOT


def build_elf_templates():
    """Compiles tiny exe/lib templates once; the RUNPATH slot is patched per file."""
    gcc = shutil.which("gcc")
    if not gcc:
        return {}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        src_exe = os.path.join(tmp, "m.c")
        src_lib = os.path.join(tmp, "l.c")
        with open(src_exe, "w") as f:
            f.write("int main(void) { return 0; }\n")
        with open(src_lib, "w") as f:
            f.write("int ppd_synthetic(int x) { return x + 1; }\n")
        for kind, src, extra in (("exe", src_exe, []), ("lib", src_lib, ["-shared", "-fPIC"])):
            for with_rpath in (False, True):
                dst = os.path.join(tmp, f"{kind}{int(with_rpath)}")
                cmd = [gcc, "-O2", "-s", "-o", dst, src] + extra
                if with_rpath:
                    cmd.append("-Wl,-rpath," + RPATH_MARK.decode())
                if subprocess.run(cmd, capture_output=True).returncode != 0:
                    return {}
                with open(dst, "rb") as f:
                    out[(kind, with_rpath)] = f.read()
    return out


# ---- the dependency graph -------------------------------------------------


def make_graph(g):
    """Returns (order, deps): packages in build order and their direct deps."""
    rnd = g.rnd
    base = [("host-skeleton", []),
            ("skeleton-init-common", ["host-skeleton"]),
            ("skeleton-init-sysv", ["host-skeleton", "skeleton-init-common"]),
            ("skeleton", ["host-skeleton", "skeleton-init-sysv"]),
            ("toolchain-external-bootlin", ["host-skeleton", "skeleton"]),
            ("toolchain", ["host-skeleton", "skeleton", "toolchain-external-bootlin"]),
            ("host-pkgconf", ["host-skeleton"])]
    order = [p for p, _ in base]
    deps = {p: list(d) for p, d in base}
    remaining = g.npkg - len(base)
    n_host = remaining * 45 // 100
    n_target = remaining - n_host
    host_names = ["host-" + n for n in HOST_NAMES if n != "pkgconf"]
    host_names = host_names[:n_host] + [f"host-tool{i:03d}" for i in range(max(0, n_host - len(host_names)))]
    target_names = TARGET_NAMES[:n_target] + [f"lib{i:03d}" for i in range(max(0, n_target - len(TARGET_NAMES)))]
    hosts = ["host-pkgconf"]
    targets = []

    def pick(pool, k, skew):
        """k distinct picks, skewed towards early (basic, popular) packages."""
        got = set()
        for _ in range(k * 3):
            if len(got) >= min(k, len(pool)):
                break
            got.add(pool[int(len(pool) * rnd.random() ** skew)])
        return got

    # Interleave host and target packages so that target packages can use
    # host tools and later host tools exist for later packages.
    hi = ti = 0
    while hi < len(host_names) or ti < len(target_names):
        take_host = ti >= len(target_names) or (hi < len(host_names) and rnd.random() < 0.45)
        if take_host:
            name = host_names[hi]
            hi += 1
            d = {"host-skeleton"} | pick(hosts, rnd.choice([0, 1, 2, 2, 3, 3]), 1.4)
            if rnd.random() < 0.4:
                d.add("host-pkgconf")
            hosts.append(name)
        else:
            name = target_names[ti]
            ti += 1
            d = {"host-skeleton", "skeleton", "toolchain"}
            if rnd.random() < 0.6:
                d.add("host-pkgconf")
            d |= pick(targets, rnd.choice([0, 1, 2, 2, 3, 3]), 1.5)
            if rnd.random() < 0.35 and len(hosts) > 1:
                d |= pick(hosts[1:], 1, 1.8)
            targets.append(name)
        d.discard(name)
        deps[name] = sorted(d)
        order.append(name)
    return order, deps


def closures(order, deps):
    clos = {}
    for p in order:
        c = set()
        for d in deps[p]:
            c.add(d)
            c |= clos[d]
        clos[p] = c
    return clos


# ---- filesystem helpers ---------------------------------------------------


class Installer:
    """Installs one package's own files into its PPD (new inodes)."""

    def __init__(self, g, pkg):
        self.g = g
        self.pkg = pkg
        self.root = os.path.join(g.ppd, pkg)
        self.ppd_host = os.path.join(self.root, "host")
        self.mtime = g.next_mtime()
        self.touched = set()

    def _path(self, rel):
        path = os.path.join(self.root, rel)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, exist_ok=True)
        self.touched.add(parent)
        if os.path.lexists(path):
            os.unlink(path)  # replace, never write through a hard link
        return path

    def file(self, rel, data, mode=0o644):
        path = self._path(rel)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        if mode & 0o7000:
            os.chmod(path, mode)
        t = self.g.next_mtime()
        os.utime(path, ns=(t, t))
        self.g.stats["own_files"] += 1
        self.g.stats["own_bytes"] += len(data)
        return path

    def link(self, existing_rel, rel):
        path = self._path(rel)
        os.link(os.path.join(self.root, existing_rel), path)

    def symlink(self, target, rel):
        path = self._path(rel)
        os.symlink(target, path)
        t = self.g.next_mtime()
        os.utime(path, ns=(t, t), follow_symlinks=False)
        self.g.stats["own_symlinks"] += 1

    def mkdir(self, rel, mode=0o755):
        path = os.path.join(self.root, rel)
        if not os.path.isdir(path):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
            self.touched.add(os.path.dirname(path))
        self.touched.add(path)

    def finish(self):
        """Directories written by this install (and their ancestors up to the
        package directory) get the install's mtime, so that reruns are
        reproducible to the nanosecond."""
        dirs = set()
        for d in self.touched:
            while d.startswith(self.root) and d not in dirs:
                dirs.add(d)
                d = os.path.dirname(d)
        for tree in ("host", "target"):
            dirs.add(os.path.join(self.root, tree))
        dirs.add(self.root)
        for d in sorted(dirs, key=len, reverse=True):
            if os.path.isdir(d) and not os.path.islink(d):
                os.utime(d, ns=(self.mtime, self.mtime), follow_symlinks=False)


def merge_deps(g, pkg, dep_list):
    """Fills per-package/<pkg> from its deps like the rsync --link-dest loop.

    Symlinks are hard-linked to the dependency's symlink inode, as ppd
    prepare places them (same text, owner and mtime as rsync's copies, one
    shared inode), unless --recreate-symlinks asks for rsync's new inodes.
    """
    dst_root = os.path.join(g.ppd, pkg)
    for tree in ("host", "target"):
        winners = {}  # rel -> (kind, source path, lstat for dirs)
        for dep in dep_list:
            src_tree = os.path.join(g.ppd, dep, tree)
            stack = [(src_tree, "")]
            while stack:
                absdir, rel = stack.pop()
                with os.scandir(absdir) as it:
                    for e in it:
                        r = rel + "/" + e.name if rel else e.name
                        if e.is_dir(follow_symlinks=False):
                            winners[r] = ("d", e.path, e.stat(follow_symlinks=False))
                            stack.append((e.path, r))
                        elif e.is_symlink():
                            winners[r] = ("s", e.path, e.stat(follow_symlinks=False))
                        else:
                            winners[r] = ("f", e.path, None)
        dst_tree = os.path.join(dst_root, tree)
        os.makedirs(dst_tree, exist_ok=True)
        dirs = []
        for rel, (kind, src, st) in winners.items():
            dst = dst_tree + "/" + rel
            if kind == "f":
                os.link(src, dst)
                g.stats["linked"] += 1
            elif kind == "d":
                os.mkdir(dst, stat.S_IMODE(st.st_mode) | 0o700)
                dirs.append((dst, st))
                g.stats["dirs"] += 1
            elif g.recreate_symlinks:
                os.symlink(os.readlink(src), dst)
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
                g.stats["linked"] += 1
            else:
                os.link(src, dst, follow_symlinks=False)
                g.stats["linked"] += 1
        # Post-order: a child's creation would otherwise bump the parent mtime.
        for dst, st in reversed(dirs):
            os.chmod(dst, stat.S_IMODE(st.st_mode))
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        if dep_list:
            top = os.stat(os.path.join(g.ppd, dep_list[-1], tree))
            os.chmod(dst_tree, stat.S_IMODE(top.st_mode))
            os.utime(dst_tree, ns=(top.st_atime_ns, top.st_mtime_ns))


# ---- what each package installs ------------------------------------------


def words(g, n, prefix=""):
    syl = ["ab", "ac", "al", "an", "ar", "bi", "ca", "de", "el", "en", "ex", "fo",
           "ge", "io", "is", "li", "lo", "ma", "ne", "nu", "or", "po", "ra", "re",
           "sa", "se", "ti", "to", "un", "ve", "xo", "zy"]
    out = []
    seen = set()
    while len(out) < n:
        w = prefix + "".join(g.rnd.choice(syl) for _ in range(g.rnd.randint(2, 4)))
        if w in seen:
            w += str(len(out))
        seen.add(w)
        out.append(w)
    return out


def pc_text(name, prefix, requires, extra=""):
    return (f"prefix={prefix}\nexec_prefix=${{prefix}}\nlibdir=${{exec_prefix}}/lib\n"
            f"includedir=${{prefix}}/include\n\nName: {name}\n"
            f"Description: {name} library\nVersion: 1.{len(name)}.0\n"
            f"Requires: {' '.join(requires)}\nLibs: -L${{libdir}} -l{name}\n{extra}"
            f"Cflags: -I${{includedir}}\n").encode()


def la_text(lib, libdir, dep_libs):
    return (f"# lib{lib}.la - a libtool library file\n"
            f"# Generated by libtool (GNU libtool) 2.4.7\n\n"
            f"dlname='lib{lib}.so.1'\n"
            f"library_names='lib{lib}.so.1.0.0 lib{lib}.so.1 lib{lib}.so'\n"
            f"old_library='lib{lib}.a'\ninherited_linker_flags=''\n"
            f"dependency_libs=' {' '.join(dep_libs)} -lm'\nweak_library_names=''\n"
            f"current=1\nage=0\nrevision=0\ninstalled=yes\nshouldnotlink=no\n"
            f"dlopen=''\ndlpreopen=''\nlibdir='{libdir}'\n").encode()


def config_script(name, prefix):
    return (f"#!/bin/sh\n# {name}-config: compiler flags for {name}\n"
            f"prefix={prefix}\nexec_prefix=${{prefix}}\nincludedir=${{prefix}}/include\n"
            f"libdir=${{exec_prefix}}/lib\n\ncase \"$1\" in\n"
            f"  --prefix) echo \"$prefix\" ;;\n  --cflags) echo \"-I$includedir\" ;;\n"
            f"  --libs) echo \"-L$libdir -l{name}\" ;;\n  --version) echo 1.0 ;;\n"
            f"  *) echo \"usage: $0 --cflags|--libs\" >&2; exit 1 ;;\nesac\n").encode()


def install_shared_lib(g, ins, libdir_rel, lib, rpath=None, static=False):
    """libfoo.so.1.0.0 plus the libfoo.so.1 and libfoo.so symlink chain."""
    real = f"lib{lib}.so.1.0.0"
    ins.file(f"{libdir_rel}/{real}", g.elf_file("lib", g.size(90_000, 1.2), rpath), 0o755)
    ins.symlink(real, f"{libdir_rel}/lib{lib}.so.1")
    ins.symlink(f"lib{lib}.so.1", f"{libdir_rel}/lib{lib}.so")
    if static:
        ins.file(f"{libdir_rel}/lib{lib}.a", g.binary(g.size(150_000, 1.0)))


def install_host_skeleton(g, ins):
    for d in ("bin", "sbin", "lib", "include", "share", "etc"):
        ins.mkdir(f"host/{d}")
    ins.symlink(".", "host/usr")
    ins.symlink("lib", "host/lib64")
    ins.mkdir("target")


def install_skeleton(g, ins, flavour):
    if flavour == "skeleton":
        for d in ("bin", "sbin", "lib", "usr/bin", "usr/sbin", "usr/lib", "dev", "proc",
                  "sys", "mnt", "opt", "run", "media", "var/lib", "var/cache", "home"):
            ins.mkdir(f"target/{d}")
        ins.mkdir("target/root", 0o700)
        ins.mkdir("target/tmp", 0o1777)
        ins.symlink("lib", "target/lib64")
        ins.symlink("lib", "target/usr/lib64")
        ins.symlink("../tmp", "target/var/tmp")
        ins.symlink("../run", "target/var/run")
        ins.symlink("../tmp", "target/var/log")
        for d in ("usr/include", "usr/lib", "usr/bin", "lib"):
            ins.mkdir(f"host/{STAGING}/{d}")
        ins.symlink("lib", f"host/{STAGING}/lib64")
        ins.symlink("lib", f"host/{STAGING}/usr/lib64")
        ins.file("target/THIS_IS_NOT_YOUR_ROOT_FILESYSTEM", b"Warning!\n")
    else:
        files = ["passwd", "group", "shadow", "hosts", "hostname", "issue", "profile",
                 "fstab", "inittab", "protocols", "services", "nsswitch.conf",
                 "resolv.conf", "mtab", "shells", "os-release"]
        if flavour == "skeleton-init-sysv":
            files = ["inittab", "init.d/rcS", "init.d/rcK", "init.d/S01syslogd",
                     "init.d/S20urandom", "init.d/S40network", "network/interfaces"]
        for f in files:
            mode = 0o600 if f == "shadow" else (0o755 if "init.d/" in f else 0o644)
            ins.file(f"target/etc/{f}", g.text_block(f"# /etc/{f}\n", g.size(600, 0.6)), mode)
        ins.mkdir("target/root", 0o700)
        ins.mkdir("target/tmp", 0o1777)


def install_toolchain(g, ins):
    """An external toolchain: opt/ext-toolchain, the staging sysroot, target libs."""
    budget = g.tc_files
    st = f"host/{STAGING}"
    ext = "host/opt/ext-toolchain"
    n_hdr = budget * 50 // 100
    n_plugin = budget * 20 // 100
    n_gconv = budget * 5 // 100
    n_libs = budget * 6 // 100  # each lib is 3-4 entries
    n_share = budget * 4 // 100
    # Headers: the kernel and libc include tree, spread over realistic subdirs.
    subdirs = ["", "", "", "linux", "linux", "linux", "linux/netfilter", "linux/usb",
               "linux/can", "linux/spi", "asm", "asm-generic", "bits", "bits", "sys",
               "gnu", "net", "netinet", "netpacket", "arpa", "rpc", "scsi", "sound",
               "drm", "rdma", "misc", "mtd", "video", "xen", f"c++/{GCC_VER}",
               f"c++/{GCC_VER}/bits", f"c++/{GCC_VER}/ext", f"c++/{GCC_VER}/tr1",
               f"c++/{GCC_VER}/debug", f"c++/{GCC_VER}/{TUPLE}/bits"]
    names = words(g, n_hdr)
    for i, n in enumerate(names):
        sub = subdirs[i % len(subdirs)]
        rel = f"{st}/usr/include/{sub}/{n}.h" if sub else f"{st}/usr/include/{n}.h"
        ins.file(rel, g.text_block(f"/* {n}.h */\n#pragma once\n", g.size(3500, 1.0)))
    # gcc plugin headers and the compiler proper under opt/ext-toolchain.
    pl = f"{ext}/lib/gcc/{TUPLE}/{GCC_VER}"
    psub = ["plugin/include", "plugin/include/config", "plugin/include/c-family",
            "plugin/include/cp", "plugin/include/ada/gcc-interface", "include", "include-fixed"]
    for i, n in enumerate(words(g, n_plugin)):
        ins.file(f"{pl}/{psub[i % len(psub)]}/{n}.h", g.text_block(f"/* {n} */\n", g.size(5000, 1.0)))
    for crt in ("crtbegin.o", "crtend.o", "crtbeginS.o", "crtendS.o", "crtbeginT.o"):
        ins.file(f"{pl}/{crt}", g.binary(g.size(3000, 0.3)))
    ins.file(f"{pl}/libgcc.a", g.binary(g.size(3_000_000, 0.2)))
    ins.file(f"{pl}/libgcc_eh.a", g.binary(g.size(300_000, 0.2)))
    lx = f"{ext}/libexec/gcc/{TUPLE}/{GCC_VER}"
    for prog, sz in (("cc1", 24_000_000), ("cc1plus", 26_000_000), ("collect2", 600_000),
                     ("lto1", 22_000_000), ("lto-wrapper", 900_000)):
        ins.file(f"{lx}/{prog}", g.elf_file("exe", g.size(sz, 0.1)), 0o755)
    ins.file(f"{lx}/liblto_plugin.so", g.elf_file("lib", g.size(80_000, 0.3)), 0o755)
    # Binutils: the <tuple>-ld names and <tuple>/bin/ld are one inode each
    # (hard-link groups), the gcc driver is linked to its versioned name.
    tools = ["addr2line", "ar", "as", "c++filt", "elfedit", "gprof", "ld", "ld.bfd", "nm",
             "objcopy", "objdump", "ranlib", "readelf", "size", "strings", "strip"]
    for t in tools:
        ins.file(f"{ext}/bin/{TUPLE}-{t}", g.elf_file("exe", g.size(1_500_000, 0.5)), 0o755)
        if t in ("ar", "as", "ld", "nm", "objcopy", "objdump", "ranlib", "strip", "readelf"):
            ins.link(f"{ext}/bin/{TUPLE}-{t}", f"{ext}/{TUPLE}/bin/{t}")
    for t in ("gcc", "g++", "cpp", "gcov", "gcc-ar", "gcc-nm", "gcc-ranlib"):
        ins.file(f"{ext}/bin/{TUPLE}-{t}", g.elf_file("exe", g.size(1_200_000, 0.3)), 0o755)
    ins.link(f"{ext}/bin/{TUPLE}-gcc", f"{ext}/bin/{TUPLE}-gcc-{GCC_VER}")
    ins.link(f"{ext}/bin/{TUPLE}-g++", f"{ext}/bin/{TUPLE}-c++")
    # Buildroot's wrapper: host/bin/<tuple>-<tool> -> toolchain-wrapper.
    ins.file("host/bin/toolchain-wrapper", g.elf_file("exe", g.size(40_000, 0.2)), 0o755)
    for t in ("gcc", "g++", "cpp", "cc", "c++", "gcc-ar", "gcc-nm", "gcc-ranlib"):
        ins.symlink("toolchain-wrapper", f"host/bin/{TUPLE}-{t}")
    for t in tools:
        ins.symlink(f"../opt/ext-toolchain/bin/{TUPLE}-{t}", f"host/bin/{TUPLE}-{t}")
    ins.file(f"host/share/buildroot/toolchainfile.cmake",
             (f"set(CMAKE_SYSROOT {ins.ppd_host}/{STAGING})\n"
              f"set(CMAKE_C_COMPILER {ins.ppd_host}/bin/{TUPLE}-gcc)\n").encode())
    ins.file("host/share/buildroot/gdbinit", f"set sysroot {ins.ppd_host}/{STAGING}\n".encode())
    # Sysroot libraries: real file, soname link, dev link, static archive.
    libs = ["c", "m", "dl", "rt", "pthread", "resolv", "util", "crypt", "anl", "nsl",
            "BrokenLocale", "mvec", "stdc++", "atomic", "gomp", "itm", "quadmath",
            "ssp", "asan", "ubsan", "lsan", "tsan", "gfortran", "gcc_s", "thread_db",
            "nss_files", "nss_dns", "memusage", "pcprofile", "SegFault"]
    libs += words(g, max(0, n_libs - len(libs)), "x")
    for lib in libs[:max(n_libs, 10)]:
        install_shared_lib(g, ins, f"{st}/usr/lib", lib, static=g.rnd.random() < 0.5)
    for crt in ("crt1.o", "crti.o", "crtn.o", "Scrt1.o", "gcrt1.o", "Mcrt1.o"):
        ins.file(f"{st}/usr/lib/{crt}", g.binary(g.size(2500, 0.3)))
    ins.file(f"{st}/usr/lib/libc.so", f"GROUP ( /lib/libc.so.6 /usr/lib/libc_nonshared.a )\n".encode())
    for i, n in enumerate(words(g, n_gconv)):
        ins.file(f"{st}/usr/lib/gconv/{n.upper()}.so", g.elf_file("lib", g.size(12_000, 0.6)), 0o755)
    ins.file(f"{st}/usr/lib/gconv/gconv-modules", g.text_block("# gconv modules\n", 60_000))
    for i, n in enumerate(words(g, n_share)):
        ins.file(f"{st}/usr/share/i18n/charmaps/{n.upper()}.gz", g.binary(g.size(8000, 0.8)))
    # What copy_toolchain_lib_root puts into the target.
    for lib, so in (("ld-linux-x86-64", "ld-linux-x86-64.so.2"), ("c", "libc.so.6"),
                    ("m", "libm.so.6"), ("pthread", "libpthread.so.0"), ("dl", "libdl.so.2"),
                    ("rt", "librt.so.1"), ("resolv", "libresolv.so.2"),
                    ("gcc_s", "libgcc_s.so.1"), ("atomic", "libatomic.so.1"),
                    ("nss_files", "libnss_files.so.2"), ("nss_dns", "libnss_dns.so.2")):
        ins.file(f"target/lib/{so}", g.elf_file("lib", g.size(400_000, 1.0)), 0o755)
    ins.file("target/usr/lib/libstdc++.so.6.0.30", g.elf_file("lib", g.size(2_000_000, 0.1)), 0o755)
    ins.symlink("libstdc++.so.6.0.30", "target/usr/lib/libstdc++.so.6")
    # Fill to the requested count with more headers (rounding leftovers).
    have = g.stats["own_files"] + g.stats["own_symlinks"] - ins.start_count
    extra = budget - have
    for n in words(g, max(0, extra), "zz"):
        ins.file(f"{st}/usr/include/linux/{n}.h", g.text_block(f"/* {n}.h */\n", g.size(2500, 0.8)))


def own_count(g, pkg, is_host):
    big = (BIG_HOST if is_host else BIG_TARGET).get(pkg)
    if big:
        return max(10, int(big * (0.8 + 0.4 * g.rnd.random())))
    return max(4, int(g.rnd.lognormvariate(0, 0.8) * (22 if is_host else 18)))


def install_host_pkg(g, ins, pkg, deps):
    name = pkg[len("host-"):]
    n = own_count(g, pkg, True)
    prefix = ins.ppd_host
    rpath = f"{prefix}/lib"
    # Libraries with their pkg-config and libtool files.
    nlib = 1 + min(n // 40, 6)
    lib_names = [name.replace("-", "_")] + [f"{name.replace('-', '_')}{i}" for i in range(1, nlib)]
    req = [d[len("host-"):] for d in deps if d.startswith("host-") and d != "host-skeleton"][:3]
    for lib in lib_names:
        install_shared_lib(g, ins, "host/lib", lib, rpath=rpath, static=g.rnd.random() < 0.3)
        ins.file(f"host/lib/pkgconfig/{lib}.pc", pc_text(lib, prefix, req))
        if g.rnd.random() < 0.6:
            ins.file(f"host/lib/lib{lib}.la",
                     la_text(lib, f"{prefix}/lib", [f"-L{prefix}/lib", f"{prefix}/lib/libz.la"]))
    if g.rnd.random() < 0.25:
        ins.file(f"host/bin/{name}-config", config_script(name, prefix), 0o755)
    used = len(lib_names) * 5
    # Programs (some hard-linked under several names), headers, data.
    nbin = max(1, min(12, (n - used) // 5))
    bins = words(g, nbin, name[:3] + "-")
    for b in bins:
        ins.file(f"host/bin/{b}", g.elf_file("exe", g.size(120_000, 1.1), rpath), 0o755)
    if g.rnd.random() < 0.12 and len(bins) >= 1:
        for alias in words(g, g.rnd.randint(2, 12), name[:2] + "_"):
            ins.link(f"host/bin/{bins[0]}", f"host/bin/{alias}")
    nhdr = max(0, (n - used - nbin) // 2)
    for h in words(g, nhdr):
        ins.file(f"host/include/{name}/{h}.h", g.text_block(f"/* {h}.h */\n", g.size(3000, 1.0)))
    ndata = max(0, n - used - nbin - nhdr)
    if pkg == "host-python3":
        ndata -= 1
        ins.file("host/lib/python3.12/_sysconfigdata__linux_x86_64-linux-gnu.py",
                 ("build_time_vars = {\n" + "".join(
                     f"    'VAR{i}': '{prefix}/lib/python3.12/config-{i}',\n" for i in range(200))
                  + "}\n").encode())
        sub = ["lib/python3.12", "lib/python3.12/email", "lib/python3.12/json",
               "lib/python3.12/asyncio", "lib/python3.12/encodings", "lib/python3.12/xml/dom",
               "lib/python3.12/__pycache__", "lib/python3.12/site-packages"]
        for i, d in enumerate(words(g, ndata)):
            ext = ".cpython-312.pyc" if "pycache" in sub[i % len(sub)] else ".py"
            data = (g.binary(g.size(9000, 1.0)) if ext.endswith("pyc")
                    else g.text_block(f"# {d}{ext}\n", g.size(9000, 1.0)))
            ins.file(f"host/{sub[i % len(sub)]}/{d}{ext}", data)
        return
    if pkg == "host-cmake":
        for i, d in enumerate(words(g, ndata)):
            ins.file(f"host/share/cmake-3.28/Modules/{d}.cmake",
                     g.text_block(f"# {d}.cmake\n", g.size(6000, 1.0)))
        return
    for d in words(g, ndata):
        ins.file(f"host/share/{name}/{d}", g.text_block(f"# {d}\n", g.size(4000, 1.2)))
    if g.rnd.random() < 0.15:
        # Info pages: every such package rewrites share/info/dir (a real overwrite).
        ins.file(f"host/share/info/{name}.info", g.text_block(f"This is {name}.info\n", g.size(20_000, 0.8)))
        ins.file("host/share/info/dir", g.text_block(f"File: dir\n* {name}\n", 2000))


def install_target_pkg(g, ins, pkg, deps):
    name = pkg
    n = own_count(g, pkg, False)
    st = f"host/{STAGING}"
    staging_abs = f"{ins.ppd_host}/{STAGING}"
    if pkg == "busybox":
        ins.file("target/bin/busybox", g.elf_file("exe", g.size(900_000, 0.1)), 0o4755)
        applets = words(g, 300)
        for i, a in enumerate(applets):
            d, up = (("bin", "busybox"), ("sbin", "../bin/busybox"),
                     ("usr/bin", "../../bin/busybox"), ("usr/sbin", "../../bin/busybox"))[i % 4]
            ins.symlink(up, f"target/{d}/{a}")
        ins.file("target/etc/inittab", g.text_block("# busybox inittab\n", 900))
        return
    is_lib = name.startswith("lib") or g.rnd.random() < 0.6
    used = 0
    req = [d for d in deps if not d.startswith("host-") and d not in ("skeleton", "toolchain")][:3]
    if is_lib:
        lib = name[3:] if name.startswith("lib") else name
        lib = lib.replace("-", "_")
        install_shared_lib(g, ins, f"{st}/usr/lib", lib, static=g.rnd.random() < 0.4)
        real = f"lib{lib}.so.1.0.0"
        ins.file(f"target/usr/lib/{real}", g.elf_file("lib", g.size(90_000, 1.2)), 0o755)
        ins.symlink(real, f"target/usr/lib/lib{lib}.so.1")
        extra = f"Libs.private: -L{staging_abs}/usr/lib\n" if g.rnd.random() < 0.3 else ""
        ins.file(f"{st}/usr/lib/pkgconfig/{lib}.pc", pc_text(lib, "/usr", req, extra))
        if g.rnd.random() < 0.5:
            ins.file(f"{st}/usr/lib/lib{lib}.la",
                     la_text(lib, "/usr/lib", [f"{staging_abs}/usr/lib/lib{r.replace('-', '_')}.la"
                                               for r in req] or ["-lc"]))
        if g.rnd.random() < 0.2:
            ins.file(f"{st}/usr/bin/{name}-config", config_script(lib, f"{staging_abs}/usr"), 0o755)
        if g.rnd.random() < 0.2:
            ins.file(f"{st}/usr/lib/cmake/{name}/{name}Config.cmake",
                     (f"set({name}_INCLUDE_DIRS \"{staging_abs}/usr/include/{name}\")\n"
                      f"set({name}_LIBRARIES \"{staging_abs}/usr/lib/lib{lib}.so\")\n").encode())
        used = 8
    nbin = max(1, min(10, (n - used) // 4))
    bins = words(g, nbin, name[:3] + "-")
    for b in bins:
        ins.file(f"target/usr/bin/{b}", g.elf_file("exe", g.size(60_000, 1.1)), 0o755)
    if g.rnd.random() < 0.08 and bins:
        for alias in words(g, g.rnd.randint(2, 8), name[:2] + "_"):
            ins.link(f"target/usr/bin/{bins[0]}", f"target/usr/bin/{alias}")
    nhdr = max(0, (n - used - nbin) // 2) if is_lib else 0
    for h in words(g, nhdr):
        ins.file(f"{st}/usr/include/{name}/{h}.h", g.text_block(f"/* {h}.h */\n", g.size(3000, 1.0)))
    ndata = max(0, n - used - nbin - nhdr)
    where = "usr/lib/python3.12" if name == "python3" else f"usr/share/{name}"
    for d in words(g, ndata):
        ins.file(f"target/{where}/{d}", g.text_block(f"# {d}\n", g.size(5000, 1.2)))
    if g.rnd.random() < 0.3:
        ins.file(f"target/etc/{name}.conf", g.text_block(f"# {name}.conf\n", g.size(800, 0.5)),
                 0o600 if g.rnd.random() < 0.2 else 0o644)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory (created; must be empty or absent)")
    ap.add_argument("--packages", type=int, default=250, help="number of packages (default 250)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--toolchain-files", type=int, default=4000,
                    help="entries in the toolchain package (default 4000)")
    ap.add_argument("--size-scale", type=float, default=1.0,
                    help="multiply every file size by this factor (default 1.0)")
    ap.add_argument("--recreate-symlinks", action="store_true",
                    help="give every PPD its own copy of each dependency symlink, as Buildroot's "
                         "rsync loop does (default: one shared inode, as ppd prepare does)")
    ap.add_argument("--graph-only", action="store_true",
                    help="print the dependency-graph statistics and write nothing")
    args = ap.parse_args()
    g = Gen(args)
    t0 = time.monotonic()
    order, deps = make_graph(g)
    clos = closures(order, deps)
    ndeps = [len(deps[p]) for p in order]
    csz = sorted(len(clos[p]) for p in order)
    graph = (f"packages {len(order)} (host {sum(p.startswith('host-') for p in order)}), "
             f"direct deps avg {sum(ndeps) / len(order):.2f} max {max(ndeps)}, "
             f"edges {sum(ndeps)}, closure avg {sum(csz) / len(csz):.1f} "
             f"median {csz[len(csz) // 2]} max {csz[-1]}")
    if args.graph_only:
        print(graph)
        return 0
    if os.path.exists(g.out) and os.listdir(g.out):
        sys.exit(f"gen-workload: output directory {g.out} is not empty")
    os.makedirs(g.ppd, exist_ok=True)
    os.umask(0o022)
    ppd_entries = 0
    # Progress on stderr, about every tenth of the packages: a full-size
    # workload takes minutes on a busy disk, and stdout (the summary) may be
    # a pipe read only at the end.
    step = max(1, len(order) // 10)
    for i, pkg in enumerate(order):
        if i % step == 0:
            print(f"gen-workload: package {i + 1}/{len(order)} ({pkg}), "
                  f"{g.stats['linked']} entries linked, {time.monotonic() - t0:.0f} s",
                  file=sys.stderr, flush=True)
        merge_deps(g, pkg, deps[pkg])
        ins = Installer(g, pkg)
        ins.start_count = g.stats["own_files"] + g.stats["own_symlinks"]
        if pkg == "host-skeleton":
            install_host_skeleton(g, ins)
        elif pkg.startswith("skeleton"):
            install_skeleton(g, ins, pkg)
        elif pkg == "toolchain-external-bootlin":
            install_toolchain(g, ins)
        elif pkg == "toolchain":
            pass  # virtual package: only what its dependencies provide
        elif pkg.startswith("host-"):
            install_host_pkg(g, ins, pkg, deps[pkg])
        else:
            install_target_pkg(g, ins, pkg, deps[pkg])
        for tree in ("host", "target"):
            os.makedirs(os.path.join(g.ppd, pkg, tree), exist_ok=True)
        ins.finish()
    with open(os.path.join(g.out, "steps.txt"), "w") as f:
        for pkg in order:
            f.write(" ".join([pkg] + deps[pkg]) + "\n")
    with open(os.path.join(g.out, "packages.txt"), "w") as f:
        f.write("".join(p + "\n" for p in sorted(order)))
    s = g.stats
    summary = (f"{graph}\nown files {s['own_files']}, own symlinks {s['own_symlinks']}, "
               f"own bytes {s['own_bytes'] / 1e6:.0f} MB\n"
               f"prepare replay: {s['linked']} entries linked, {s['dirs']} directories created\n"
               f"seed {args.seed}, toolchain files {g.tc_files}, size scale {g.scale}, "
               f"real ELF files: {'yes' if g.elf else 'no (gcc missing)'}\n")
    with open(os.path.join(g.out, "workload.txt"), "w") as f:
        f.write(summary)
    t = g.next_mtime()
    for p in ("steps.txt", "packages.txt", "workload.txt", "per-package", ""):
        os.utime(os.path.join(g.out, p), ns=(t, t))
    sys.stdout.write(summary + f"generated in {time.monotonic() - t0:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
