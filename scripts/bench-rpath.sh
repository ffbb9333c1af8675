#!/usr/bin/env bash
# Benchmark: ppd check-rpath and ppd fix-rpath against the tools they
# replace, measured in the same run on the same generated tree.
#
#   check: ppd check-rpath  vs  scripts/baseline/check-host-rpath (bash +
#          readelf + sed per file, Buildroot's algorithm)
#   fix:   ppd fix-rpath host  vs  scripts/baseline/fix-rpath host (bash +
#          stock patchelf per file: --print-rpath, sed, --set-rpath,
#          --shrink-rpath; stock patchelf has no --make-rpath-relative)
#
# The tree: N ELF files (copies of gcc-built programs and libraries whose
# RPATHs point into per-package directories) in a per-package host tree.
# fix runs on a fresh copy of the tree each time (patchelf edits in place),
# made by hyperfine's --prepare and not timed.
#
# Usage: scripts/bench-rpath.sh [--quick] [--files N] [--runs R] [N_FILES [RUNS]]
#   --files N   ELF files in the tree (default 2000)
#   --runs R    timed runs per tool (default 3)
#   --quick     a smoke run: 200 files, 1 run
# Needs gcc, hyperfine, readelf and patchelf: installed with apt-get
# (--no-remove) when run as root, else named. Builds ppd in release mode
# (scripts/build-release.sh).
set -euo pipefail

N=2000
RUNS=3
pos=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) N=200 RUNS=1 ;;
        --files) N=${2:?--files needs a number}; shift ;;
        --runs) RUNS=${2:?--runs needs a number}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench-rpath: unknown argument $1 (see --help)" >&2; exit 2 ;;
        *) pos+=("$1") ;;
    esac
    shift
done
# The old positional form: N_FILES [RUNS].
[ ${#pos[@]} -ge 1 ] && N=${pos[0]}
[ ${#pos[@]} -ge 2 ] && RUNS=${pos[1]}
JOBS=$(nproc)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$HERE/lib/bench-common.sh"
bench_empty_trash
bench_need gcc=gcc hyperfine=hyperfine readelf=binutils patchelf=patchelf

PPD=$("$ROOT/scripts/build-release.sh" --quiet)

W=$(mktemp -d "${TMPDIR:-/tmp}/ppd-bench-rpath.XXXXXX")
trap 'rm -rf "$W"' EXIT

# --- generate -----------------------------------------------------------
PP="$W/per-package"
H="$PP/host-app/host"
mkdir -p "$W/src" "$H/bin" "$H/lib" "$H/libexec/app" "$PP/host-dep/host/lib"
cd "$W/src"
echo 'int foo(void) { return 40; }' > foo.c
printf 'int foo(void);\nint bar(void) { return foo() + 2; }\n' > bar.c
printf '#include <stdio.h>\nint bar(void);\nint main(void) { printf("%%d\\n", bar()); return 0; }\n' > main.c
gcc -shared -fPIC -o "$PP/host-dep/host/lib/libfoo.so" foo.c
cp "$PP/host-dep/host/lib/libfoo.so" "$H/lib/"
gcc -shared -fPIC -o "$H/lib/libbar.so" bar.c -L"$H/lib" -lfoo -Wl,-rpath,"$PP/host-dep/host/lib"
# Programs as Buildroot's host packages link them: RPATH into their own
# per-package host lib; one variant into a dependency's; one RUNPATH.
gcc -o prog-own main.c -L"$H/lib" -lbar -lfoo -Wl,-rpath,"$H/lib" -Wl,--disable-new-dtags
gcc -o prog-dep main.c -L"$H/lib" -lbar -lfoo -Wl,-rpath,"$PP/host-dep/host/lib:$H/lib" -Wl,--disable-new-dtags
gcc -o prog-run main.c -L"$H/lib" -lbar -lfoo -Wl,-rpath,"$H/lib" -Wl,--enable-new-dtags
gcc -o prog-none main.c -L"$H/lib" -lbar -lfoo
variants=(prog-own prog-dep prog-run)
for ((i = 0; i < N; i++)); do
    v=${variants[i % 3]}
    case $((i % 10)) in
        7) cp prog-none "$H/bin/bad$i" ;;
        8) cp "$H/lib/libbar.so" "$H/lib/libbar$i.so" ;;
        9) cp "$v" "$H/libexec/app/tool$i" ;;
        *) cp "$v" "$H/bin/tool$i" ;;
    esac
done
NBIN=$(find "$H/bin" -type f | wc -l)
NALL=$(find "$H" -type f | wc -l)
echo "tree: $NALL ELF files ($NBIN in bin/), $JOBS threads, $RUNS runs each"

# The two check implementations must agree before they are timed.
a=$("$HERE/baseline/check-host-rpath" host-app "$H" "$PP" | sort || true)
b=$("$PPD" check-rpath --host-dir "$H" --per-package-dir "$PP" host-app | sort || true)
[ "$a" = "$b" ] || { echo "bench-rpath: check outputs differ" >&2; exit 1; }

# --- measure --------------------------------------------------------------
median() { grep -o '"median": *[0-9.e+-]*' "$1" | sed -n "${2}p" | sed 's/.*: *//'; }

hyperfine --style none --runs "$RUNS" --export-json "$W/check.json" \
    -n baseline "$HERE/baseline/check-host-rpath host-app $H $PP || true" \
    -n ppd "$PPD check-rpath --host-dir $H --per-package-dir $PP host-app || true" >/dev/null

FIX="$W/host"
prep="rm -rf $FIX && cp -a $H $FIX"
hyperfine --style none --runs "$RUNS" --export-json "$W/fix.json" \
    --prepare "$prep" \
    -n baseline "HOST_DIR=$FIX PER_PACKAGE_DIR=$PP PARALLEL_JOBS=$JOBS $HERE/baseline/fix-rpath host" \
    -n ppd "HOST_DIR=$FIX PER_PACKAGE_DIR=$PP $PPD fix-rpath -j $JOBS host" >/dev/null

# The rewritten tree works: a program runs without the per-package tree.
eval "$prep"
HOST_DIR=$FIX PER_PACKAGE_DIR=$PP "$PPD" fix-rpath host
mv "$PP" "$PP.away"
[ "$("$FIX/bin/tool0")" = 42 ] || { echo "bench-rpath: rewritten program failed" >&2; exit 1; }
mv "$PP.away" "$PP"

row() {
    awk -v n="$1" -v b="$2" -v p="$3" \
        'BEGIN { printf "| %-24s | %10.3f | %10.3f | %7.1fx |\n", n, b, p, b / p }'
}
echo
printf "| %-24s | baseline s |      ppd s |   ratio |\n" "command ($NALL files)"
echo "|--------------------------|-----------:|-----------:|--------:|"
row "check-rpath (host bin/)" "$(median "$W/check.json" 1)" "$(median "$W/check.json" 2)"
row "fix-rpath host" "$(median "$W/fix.json" 1)" "$(median "$W/fix.json" 2)"
