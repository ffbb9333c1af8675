#!/usr/bin/env bash
# The test suite again, with every test's temporary directory on another
# filesystem: a loop-mounted XFS (reflink=1) and btrfs image each, and a
# tmpfs (where builds in /tmp often run). ext4, where the main run works,
# has a directory link count that tells subdirectories apart and no clones;
# the others differ in exactly what the manifests trust (btrfs directories
# always have link count 1; ctimes, inode numbers, readdir order), and on
# XFS and btrfs ppd's `auto` link mode clones or snapshots instead of
# hard-linking.
#
# The runs take PPD_LINK_MODE=hardlink from here: most tests assert what hard
# links give (shared inodes, link counts, "link" lines of dry runs), and the
# point of these runs is the rest of ppd on another filesystem. The link
# modes themselves are tested on these filesystems by tests/cow.rs in the
# main run. The real-Buildroot tests are left out (minutes each, and they
# build on the filesystem of the target directory anyway).
#
# Needs root (mount), mkfs.xfs and mkfs.btrfs; each run happens in a mount
# namespace of its own (unshare -m), so a killed run leaves no mount behind,
# and the loop device goes with it. Without root, a tool, a mount namespace
# or a filesystem it can mount it prints SKIP and exits 0, or, under
# CI=true, fails.
#
# Usage: scripts/test-filesystems.sh [--fs "xfs btrfs tmpfs"] [-- cargo test args]
# Prints one line per filesystem, `tests on FS: N passed, N failed`, and
# exits 1 when a test failed on one of them.
set -euo pipefail
cd "$(dirname "$0")/.."

filesystems="xfs btrfs tmpfs"
while [ $# -gt 0 ]; do
    case "$1" in
    --fs) filesystems=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test-filesystems.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

skip() {
    if [ "${CI:-}" = true ]; then
        echo "test-filesystems.sh: $1 (CI=true: a failure)" >&2
        exit 1
    fi
    echo "SKIP test-filesystems.sh: $1"
    exit 0
}
[ "$(id -u)" = 0 ] || skip "not root: cannot mount the filesystem images"
for fs in $filesystems; do
    case "$fs" in
    xfs|btrfs) command -v "mkfs.$fs" >/dev/null 2>&1 || skip "mkfs.$fs not installed" ;;
    tmpfs) ;;
    *) echo "test-filesystems.sh: no filesystem '$fs' (xfs, btrfs or tmpfs)" >&2; exit 2 ;;
    esac
done
command -v unshare >/dev/null 2>&1 || skip "unshare not installed"
# Root in a container may have no right to a mount namespace.
unshare --mount --propagation private true 2>/dev/null \
    || skip "no mount namespace here (unshare --mount refused)"

# The test binaries once, on the main filesystem, before any image exists.
cargo test --quiet --all-targets --no-run

work=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/test-filesystems
mkdir -p "$work"
status=0
for fs in $filesystems; do
    img=$work/$fs.img
    mnt=$work/$fs.mnt
    log=$work/$fs.log
    rm -f "$img"
    # Sparse: the tests write a few hundred megabytes at most.
    case "$fs" in
    xfs) truncate -s 4G "$img" && mkfs.xfs -q -f -m reflink=1 "$img" ;;
    btrfs) truncate -s 4G "$img" && mkfs.btrfs -q -f "$img" >/dev/null ;;
    esac
    mkdir -p "$mnt"
    echo "test-filesystems.sh: the tests with TMPDIR on $fs (log: $log)"
    rc=0
    # The non-root tests (setpriv) need to enter the temporary directory.
    # Skips are counted per filesystem, not in the main run's log.
    skips=$work/$fs.skips
    : > "$skips"
    PPD_TEST_SKIP_LOG=$skips unshare --mount --propagation private -- bash -c '
        set -e
        img=$1 mnt=$2
        shift 2
        # 77: no filesystem to run on (no loop device, no right to mount).
        if [ -e "$img" ]; then
            mount -o loop "$img" "$mnt" || exit 77
        else
            mount -t tmpfs -o size=4g tmpfs "$mnt" || exit 77
        fi
        mkdir -m 1777 "$mnt/tmp"
        TMPDIR=$mnt/tmp PPD_LINK_MODE=hardlink \
            cargo test --quiet --no-fail-fast --all-targets "$@" -- --skip real_buildroot
    ' test-filesystems "$img" "$mnt" "$@" > "$log" 2>&1 || rc=$?
    rm -f "$img"
    if [ "$rc" = 77 ]; then
        why="cannot mount $fs here: $(tail -1 "$log")"
        if [ "${CI:-}" = true ]; then
            echo "tests on $fs: not run ($why; CI=true: a failure)"
            status=1
        else
            echo "SKIP test-filesystems.sh: $why"
        fi
        continue
    fi
    skipped=$(grep -c '^SKIP ' "$skips" || true)
    passed=$(awk -v s="$skipped" '/^test result:/ { p += $4 } END { print p - s }' "$log")
    failed=$(awk '/^test result:/ { f += $6 } END { print f + 0 }' "$log")
    echo "tests on $fs: $passed passed, $failed failed, $skipped skipped"
    sort "$skips"
    if [ "$rc" != 0 ] || [ "$failed" != 0 ]; then
        status=1
        grep -E '^(---- |thread .* panicked|failures:|    [a-z_:]+$)' "$log" | head -60 || true
    fi
done
exit $status
