#!/bin/sh
# BR2_ROOTFS_POST_BUILD_SCRIPT: records what the merged target tree holds
# (a list of regular files, sorted) and edits a file the overlay installed.
set -e
target=$1
# The download directory Buildroot hands post-build scripts: the same with
# mk/buildroot.mk (its fix-rpath shadow of TOPDIR must not change it). Written
# before the list, which then names it on every run.
echo "$BR2_DL_DIR" > "$target/usr/share/overlay/dl-dir.txt"
(cd "$target" && find . -type f | LC_ALL=C sort) > "$target/usr/share/overlay/files.txt"
echo "post-build was here" >> "$target/etc/overlay.conf"
test -x "$HOST_DIR/bin/hchain-c"
