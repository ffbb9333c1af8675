#!/usr/bin/env bash
# build-release.sh -- builds ppd's release binary the way it is meant to be
# installed, and prints its path.
#
# On glibc Linux the binary is linked statically (crt-static). ppd runs once
# or more per package step, and a dynamically linked Rust binary spends about
# half a millisecond more in the loader before main; on a 20 ms file-list
# that is a few percent, over a build's thousands of calls it adds up. ppd
# uses nothing that needs glibc's dynamic parts (no NSS lookups, no iconv, no
# dlopen). Elsewhere, and with PPD_DYNAMIC=1, it is a plain `cargo build
# --release`.
#
# The static build needs an explicit --target (so the flag does not reach
# the proc-macro crates, which are built for the host as shared objects):
# the binary is target/<host triple>/release/ppd.
#
# Usage: scripts/build-release.sh [--quiet]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
quiet=
[ "${1:-}" = --quiet ] && quiet=--quiet
host=$(rustc -vV | sed -n 's/^host: //p')
dir=${CARGO_TARGET_DIR:-$top/target}
case $host in
    *-linux-gnu)
        if [ -z "${PPD_DYNAMIC:-}" ]; then
            RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
                cargo build --release $quiet --manifest-path "$top/Cargo.toml" --target "$host" >&2
            echo "$dir/$host/release/ppd"
            exit 0
        fi
        ;;
esac
cargo build --release $quiet --manifest-path "$top/Cargo.toml" >&2
echo "$dir/release/ppd"
