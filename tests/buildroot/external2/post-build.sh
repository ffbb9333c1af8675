#!/bin/sh
# BR2_ROOTFS_POST_BUILD_SCRIPT: records what the merged target tree holds
# (a list of regular files, sorted) and edits a file the overlay installed.
set -e
target=$1
(cd "$target" && find . -type f | LC_ALL=C sort) > "$target/usr/share/overlay/files.txt"
echo "post-build was here" >> "$target/etc/overlay.conf"
test -x "$HOST_DIR/bin/hchain-c"
