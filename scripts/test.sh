#!/usr/bin/env bash
# The test command: installs the reference tools the tests compare against
# (when run as root on a Debian-like system), then runs exactly what CI runs:
# formatting, lints and every test.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# tool -> Debian package
declare -A pkg=([rsync]=rsync [patchelf]=patchelf [readelf]=binutils [file]=file
    [make]=make [gcc]=gcc [cmp]=diffutils [python3]=python3)
missing=()
for tool in "${!pkg[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg[$tool]}")
done
# 32-bit ELF fixtures for the RPATH tests (they skip without it).
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s gcc-multilib >/dev/null 2>&1; then
    missing+=(gcc-multilib)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "test.sh: not installed: ${missing[*]} (tests comparing against them will skip)" >&2
    fi
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
# --all-targets: unit and integration tests (the crate has no doc tests).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --quiet --all-targets "$@" 2>&1 | tee "$log"
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
