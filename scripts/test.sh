#!/usr/bin/env bash
# The test command: installs the reference tools the tests compare against
# (when run as root on a Debian-like system), then runs exactly what CI runs:
# formatting, lints and every test.
#
# Usage: scripts/test.sh [extra cargo test arguments]
#
# The closing line is `tests: N passed, N failed, N skipped`, followed on a
# full run as root by the same counts of the suite's runs on XFS, btrfs and
# tmpfs (scripts/test-filesystems.sh). A test that
# cannot run (a missing tool, not root) records itself through
# tests/common's skip helpers in $PPD_TEST_SKIP_LOG; it is counted as
# skipped, never as passed, and its SKIP line is printed here even though
# cargo test hides the output of tests that pass. Under CI=true a missing
# tool fails the test instead.
#
# Installing never removes a package: `apt-get install --no-remove`, and no
# multilib gcc package (on Debian it conflicts with every cross compiler; the 32-bit
# fixtures are built with gcc-i686-linux-gnu instead).
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package providing it
declare -A pkg=(
    [rsync]=rsync [patchelf]=patchelf [readelf]=binutils [file]=file
    [make]=make [gcc]=gcc [cmp]=diffutils [python3]=python3 [strace]=strace
    [i686-linux-gnu-gcc]=gcc-i686-linux-gnu [mkfs.btrfs]=btrfs-progs
    [mkfs.xfs]=xfsprogs [setpriv]=util-linux [prlimit]=util-linux
    [mount]=mount [scanelf]=pax-utils [sed]=sed [grep]=grep [xargs]=findutils
    [aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu [ar]=binutils [tar]=tar [xz]=xz-utils
    [git]=git [man]=man-db [nroff]=groff-base
    # the real-Buildroot test (tests/buildroot): an aarch64 build, offline
    [aarch64-linux-gnu-g++]=g++-aarch64-linux-gnu [g++]=g++ [pkg-config]=pkgconf
    [bc]=bc [cpio]=cpio [unzip]=unzip [perl]=perl [patch]=patch [bzip2]=bzip2 [wget]=wget
    # its second package set (tests/buildroot/external2): a cmake package on
    # the machine's cmake, host-pkgconf and host-fakeroot as the machine's
    [cmake]=cmake [pkgconf]=pkgconf [fakeroot]=fakeroot
)
missing=()
for tool in "${!pkg[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg[$tool]}")
done
# The 32-bit loader and libc the cross compiler links against.
[ -e /usr/i686-linux-gnu/lib/ld-linux.so.2 ] || missing+=(libc6-dev-i386-cross)
# Buildroot's host-mkpasswd (the second package set's users table) links
# the machine's libcrypt.
[ -e /usr/include/crypt.h ] || missing+=(libcrypt-dev)
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # --no-remove: refuse any install that would take a package off
        # the machine (fail loudly rather than uninstall something).
        apt-get install -y -qq --no-remove --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "test.sh: not installed: ${missing[*]} (tests comparing against them will skip)" >&2
    fi
fi

# The main run in ppd's default link mode, whatever the caller's shell
# exports (test-filesystems.sh sets its own).
unset PPD_LINK_MODE
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
# The API documentation builds without a broken or private link.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
log=$(mktemp)
PPD_TEST_SKIP_LOG=$(mktemp)
export PPD_TEST_SKIP_LOG
trap 'rm -f "$log" "$PPD_TEST_SKIP_LOG"' EXIT
# --all-targets: unit and integration tests (the crate has no doc tests).
# --no-fail-fast: every test binary runs, so the counts are complete.
status=0
cargo test --quiet --no-fail-fast --all-targets "$@" 2>&1 | tee "$log" || status=$?
skipped=$(grep -c '^SKIP ' "$PPD_TEST_SKIP_LOG" || true)
if [ "$skipped" -gt 0 ]; then
    echo
    sort "$PPD_TEST_SKIP_LOG"
fi
# The whole suite again on XFS, btrfs and tmpfs (scripts/test-filesystems.sh; as
# root, which CI is), on full runs only: extra cargo arguments narrow the run
# to what is being worked on. PPD_TEST_FILESYSTEMS=no leaves it out.
others=
if [ $# -eq 0 ] && [ "${PPD_TEST_FILESYSTEMS:-yes}" != no ]; then
    fslog=$(mktemp)
    trap 'rm -f "$log" "$PPD_TEST_SKIP_LOG" "$fslog"' EXIT
    echo
    env -u PPD_TEST_SKIP_LOG bash scripts/test-filesystems.sh | tee "$fslog" || status=1
    others=$(grep -E '^(tests on |SKIP test-filesystems)' "$fslog" | sed 's/^tests //' | paste -sd';' - | sed 's/;/; /g' || true)
fi
awk -v skipped="$skipped" -v others="$others" '
    /^test result:/ { p += $4; f += $6 }
    END {
        printf "tests: %d passed, %d failed, %d skipped", p - skipped, f, skipped
        if (others != "") printf "; %s", others
        printf "\n"
    }
' "$log"
exit "$status"
