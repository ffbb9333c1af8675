#!/usr/bin/env bash
# Benchmark `ppd check-rpath --audit --buildroot-output` against the tools a
# user would pick to look at the RPATHs of a Buildroot output directory:
#
#   scanelf:  scanelf -qRr OUT/host OUT/target   (pax-utils: prints the
#             RPATHs it finds suspicious; reads every file once, one thread)
#   readelf:  find OUT/host OUT/target -type f | while read f; do readelf -d "$f"; done
#             (one readelf per file, as Buildroot's check-host-rpath does)
#
# against ppd with its default threads and with -j 1. The three read the same
# files (OUT/host contains the staging sysroot); ppd leaves out what fix-rpath
# leaves out and checks every rule, resolving every DT_NEEDED library.
# Warm cache (one warm-up run each), hyperfine, medians.
#
# The tree, unless --output names one (e.g. a real Buildroot build's output/):
# a Buildroot-shaped output directory made of this machine's files, hard
# linked (cp -al): host/bin <- /usr/bin, host/lib/x86_64-linux-gnu <-
# /usr/lib/x86_64-linux-gnu, the aarch64 sysroot /usr/aarch64-linux-gnu as
# both host/aarch64-buildroot-linux-gnu/sysroot/usr and target/usr.
#
# Usage: scripts/bench-audit.sh [--output DIR] [--runs R] [--quick] [--work DIR] [--keep]
#   --output DIR  benchmark this Buildroot output directory instead
#   --quick       a tree of about 1,000 files and one run each (a minute)
#   --work DIR    scratch directory (default: a new one under /tmp, removed at exit)
#   PPD=path      use this ppd binary instead of building one (scripts/build-release.sh)
# Needs hyperfine, scanelf (pax-utils), readelf; the generated tree needs
# /usr/aarch64-linux-gnu (gcc-aarch64-linux-gnu).
set -euo pipefail

output='' runs=3 quick=0 work='' keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --output) output=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --quick) quick=1; runs=1; shift ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-audit: unknown argument $1" >&2; exit 2 ;;
    esac
done

for tool in hyperfine scanelf readelf find cp; do
    command -v "$tool" >/dev/null || { echo "bench-audit: $tool is not installed" >&2; exit 2; }
done

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PPD:-}" ]; then
    PPD=$("$repo/scripts/build-release.sh" --quiet)
fi

if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/ppd-bench-audit.XXXXXX)
    [ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
work=$(cd "$work" && pwd -P)

# Hard-links (or, across filesystems, copies) the regular files and
# symlinks of $1 into $2; with --quick only the first $3 files.
link_tree() {
    local from=$1 to=$2 max=${3:-}
    mkdir -p "$to"
    if [ -z "$max" ]; then
        cp -al "$from/." "$to/" 2>/dev/null || cp -a "$from/." "$to/"
        return
    fi
    (cd "$from" && find . \( -type f -o -type l \) -print | LC_ALL=C sort | awk -v m="$max" 'NR <= m') |
        while IFS= read -r f; do
            mkdir -p "$to/$(dirname "$f")"
            cp -al "$from/$f" "$to/$f" 2>/dev/null || cp -a "$from/$f" "$to/$f"
        done
}

if [ -z "$output" ]; then
    [ -d /usr/aarch64-linux-gnu ] || { echo "bench-audit: /usr/aarch64-linux-gnu is missing" >&2; exit 2; }
    output=$work/output
    rm -rf "$output"
    max=''
    [ "$quick" = 1 ] && max=250
    tuple=aarch64-buildroot-linux-gnu
    link_tree /usr/bin "$output/host/bin" $max
    link_tree /usr/lib/x86_64-linux-gnu "$output/host/lib/x86_64-linux-gnu" $max
    link_tree /usr/aarch64-linux-gnu "$output/host/$tuple/sysroot/usr" $max
    link_tree /usr/aarch64-linux-gnu "$output/target/usr" $max
    for r in "$output/host/$tuple/sysroot" "$output/target"; do
        ln -s usr/lib "$r/lib"
        ln -s lib "$r/usr/lib64" 2>/dev/null || true
    done
    ln -s "host/$tuple/sysroot" "$output/staging"
    mkdir -p "$output/per-package" "$output/build"
fi
output=$(cd "$output" && pwd -P)

files=$(find "$output/host" "$output/target" -type f | wc -l)
# What ppd found, and that it ran (exit 0 or 1: findings are not failures).
summary=$("$PPD" check-rpath --audit --buildroot-output "$output" | tail -n 4) || [ $? = 1 ]
echo "bench-audit: $output, $files regular files, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$summary"

loop="find '$output/host' '$output/target' -type f -print0 | while IFS= read -r -d '' f; do readelf -d \"\$f\"; done >/dev/null 2>&1"
hyperfine --style basic --warmup 1 --runs "$runs" -i --export-json "$work/audit.json" \
    -n "ppd check-rpath --audit" "$PPD check-rpath --audit --buildroot-output '$output' >/dev/null" \
    -n "ppd check-rpath --audit -j 1" "$PPD -j 1 check-rpath --audit --buildroot-output '$output' >/dev/null" \
    -n "scanelf -qRr" "scanelf -qRr '$output/host' '$output/target' >/dev/null 2>&1" \
    -n "readelf -d loop" "bash -c \"$loop\""

python3 - "$work/audit.json" "$files" <<'EOF'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
ppd = res[0]["median"]
print()
print(f"| tool ({sys.argv[2]} files) | median s | min s | max s | vs ppd |")
print("|---|---:|---:|---:|---:|")
for r in res:
    print(f"| {r['command']} | {r['median']:.3f} | {r['min']:.3f} | {r['max']:.3f} | {r['median'] / ppd:.2f}x |")
EOF
