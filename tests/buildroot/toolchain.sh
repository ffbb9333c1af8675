#!/usr/bin/env bash
# Makes Debian's aarch64 cross compiler usable as a Buildroot "external custom
# preinstalled" toolchain, in a private directory DEST:
#   DEST/real/bin/        copies of the gcc/g++/cpp drivers (a copied driver
#                         finds cc1, crt*.o and libgcc relative to itself)
#   DEST/real/lib/gcc-cross/<triplet>/<v>/   symlinks to Debian's files
#   DEST/real/<triplet>/bin  -> Debian's binutils (as, ld for the driver)
#   DEST/sysroot/         lib/ and usr/include/ copied from Debian's tooldir,
#                         libc.so's linker script made sysroot-relative,
#                         and libstdc++.a
#   DEST/bin/<triplet>-*  wrappers adding --sysroot=DEST/sysroot (Buildroot's
#                         own --sysroot comes later and wins) and reporting
#                         --with-sysroot=DEST/sysroot for -v, since Buildroot
#                         refuses a compiler configured --with-sysroot=/
#
# Usage: toolchain.sh DEST
set -euo pipefail
dest=${1:?usage: toolchain.sh DEST}
triplet=aarch64-linux-gnu
tooldir=/usr/$triplet
ver=$($triplet-gcc -dumpversion)
ver=${ver%%.*}
gccdir=/usr/lib/gcc-cross/$triplet/$ver
for f in "$tooldir/lib/libc.so" "$gccdir/cc1" "$(command -v $triplet-g++)"; do
    [ -e "$f" ] || { echo "toolchain.sh: missing $f (install gcc-$triplet g++-$triplet)" >&2; exit 1; }
done
rm -rf "$dest"
mkdir -p "$dest/real/bin" "$dest/real/lib/gcc-cross/$triplet/$ver" "$dest/real/$triplet" \
    "$dest/sysroot/usr" "$dest/bin"
for d in gcc g++ cpp; do
    cp "$(readlink -f "$(command -v $triplet-$d)")" "$dest/real/bin/$triplet-$d"
done
for f in "$gccdir"/*; do
    ln -s "$f" "$dest/real/lib/gcc-cross/$triplet/$ver/"
done
ln -s "$tooldir/bin" "$dest/real/$triplet/bin"
# C++ headers: the relocated driver looks for them under its own prefix.
mkdir -p "$dest/real/$triplet/include"
ln -s "$tooldir/include/c++" "$dest/real/$triplet/include/c++"
cp -a "$tooldir/lib" "$dest/sysroot/lib"
# Buildroot looks for libstdc++.a in the sysroot; without it, it copies the
# whole directory the compiler names for it (Debian's gcc-cross directory,
# with cc1, lto1 and plugins for the build machine) into staging.
cp -a "$gccdir/libstdc++.a" "$dest/sysroot/lib/"
mkdir -p "$dest/sysroot/usr/include"
cp -a "$tooldir/include/." "$dest/sysroot/usr/include/"
rm -rf "$dest/sysroot/usr/include/c++"
# Linker scripts name their libraries by absolute path; make them
# sysroot-relative so they resolve inside whichever sysroot is in use.
for f in "$dest"/sysroot/lib/*.so; do
    if [ ! -L "$f" ] && head -c 64 "$f" | grep -q 'GNU ld script'; then
        sed -i -e "s:$tooldir/lib/:/lib/:g" -e "s:/usr/lib/$triplet/:/lib/:g" "$f"
    fi
done
for d in gcc g++ cpp; do
    cat > "$dest/bin/$triplet-$d" <<WRAP
#!/bin/sh
real="$dest/real/bin/$triplet-$d"
if [ "\$#" = 1 ] && [ "\$1" = -v ]; then
    "\$real" -v 2>&1 | sed -e 's:--with-sysroot=/ :--with-sysroot=$dest/sysroot :' >&2
    exit 0
fi
exec "\$real" --sysroot="$dest/sysroot" "\$@"
WRAP
    chmod 755 "$dest/bin/$triplet-$d"
done
for t in addr2line ar as c++filt elfedit gprof ld ld.bfd nm objcopy objdump ranlib readelf size strings strip; do
    [ -e "/usr/bin/$triplet-$t" ] && ln -s "/usr/bin/$triplet-$t" "$dest/bin/$triplet-$t"
done
for t in gcc-ar gcc-nm gcc-ranlib; do
    ln -s "$(readlink -f "$(command -v $triplet-$t)")" "$dest/bin/$triplet-$t"
done
