#!/usr/bin/env bash
# Benchmark `ppd fixup-paths` against Buildroot's ppd-fixup-paths pipeline
#
#   grep --binary-files=without-match -lrZ 'DIR/[^/]\+/' TREE... \
#   | while read -d '' f; do file -b --mime-type "$f" | grep -q '^text/' || continue; printf '%s\0' "$f"; done \
#   | xargs -0 --no-run-if-empty sed -i -e 's:DIR/[^/]\+/:ROOT/:g'
#
# on the host trees of a generated per-package build (scripts/gen-workload.py).
# Scenarios, each tool on a fresh hard-link copy (cp -al) of the same trees,
# copy time excluded, runs interleaved, medians reported:
#   all:   one invocation over every package's host tree (the work of all
#          configure steps at once; hard-linked inodes are shared between trees);
#   step:  one invocation per package on its own host tree with its own new
#          root, as each configure step runs it (process start-up included);
#   cache: like step, ppd with --cache, starting each run from no cache (so
#          the timed run includes filling it, as a build from scratch does).
# Afterwards the two tools' results are compared (diff -r): they must be equal.
#
# Usage: scripts/bench-fixup.sh [--quick] [--packages N] [--seed S] [--runs R]
#            [--scenario all,step,cache] [--workload DIR] [--work DIR] [--keep]
#   --quick         a smoke run: 20 packages, 1 run
# Needs grep, file, sed, xargs, cp, diff and python3: installed with
# apt-get (--no-remove) when run as root, else named.
#   --workload DIR  reuse an existing gen-workload.py output instead of generating
#   --work DIR      scratch directory (default: a new one under /tmp, removed at exit)
#   PPD=path        use this ppd binary instead of building one (scripts/build-release.sh)
set -euo pipefail

packages=120 seed=1 runs=3 scenario=all,step,cache workload='' work='' keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) packages=20 runs=1; shift ;;
    --packages) packages=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --scenario) scenario=$2; shift 2 ;;
    --workload) workload=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-fixup: unknown argument $1" >&2; exit 2 ;;
    esac
done
IFS=, read -r -a scenarios <<<"$scenario"
for s in "${scenarios[@]}"; do
    case $s in all | step | cache) ;; *) echo "bench-fixup: bad --scenario $s" >&2; exit 2 ;; esac
done

. "$(dirname "$0")/lib/bench-common.sh"
bench_empty_trash
bench_need grep=grep file=file sed=sed xargs=findutils cp=coreutils diff=diffutils python3=python3

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PPD:-}" ]; then
    PPD=$("$repo/scripts/build-release.sh" --quiet)
fi

if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/ppd-bench-fixup.XXXXXX)
    [ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
work=$(cd "$work" && pwd -P)

if [ -z "$workload" ]; then
    workload=$work/workload
    if [ ! -d "$workload/per-package" ]; then
        echo "generating a workload of $packages packages (seed $seed) in $workload" >&2
        python3 "$repo/scripts/gen-workload.py" --out "$workload" --packages "$packages" --seed "$seed" >&2
    fi
fi
# The per-package directory as the files spell it: the copies live
# elsewhere, but the embedded paths (and so the pattern) stay the same.
dir=$(cd "$workload/per-package" && pwd -P)
final=$(dirname "$dir")
pkgs=()
for p in "$dir"/*/; do
    p=${p%/}
    [ -d "$p/host" ] && pkgs+=("${p##*/}")
done
[ ${#pkgs[@]} -gt 0 ] || { echo "bench-fixup: no host trees under $dir" >&2; exit 2; }

# Buildroot's pipeline (package/pkg-utils.mk), DIR unescaped as there, in
# a subshell without pipefail like a make recipe (grep finding nothing is fine).
buildroot_fixup() (
    set +o pipefail
    d=$1 root=$2
    shift 2
    grep --binary-files=without-match -lrZ "$d/[^/]\+/" "$@" \
        | while read -d '' f; do
            file -b --mime-type "${f}" | grep -q '^text/' || continue
            printf '%s\0' "${f}"
        done \
        | xargs -0 --no-run-if-empty sed -i -e "s:$d/[^/]\+/:$root/:g"
)

# A fresh copy of the per-package trees: hard links, which neither tool
# writes through (both replace a file by renaming a new one over it).
fresh() {
    rm -rf "$work/$1"
    cp -al "$dir" "$work/$1"
    sync
}

body() { # tool scenario copy
    local copy=$3 p
    local trees=()
    for p in "${pkgs[@]}"; do trees+=("$copy/$p/host"); done
    case $1:$2 in
    ppd:all) "$PPD" fixup-paths --per-package-dir "$dir" --new-root "$final" "${trees[@]}" ;;
    buildroot:all) buildroot_fixup "$dir" "$final" "${trees[@]}" ;;
    ppd:step)
        for p in "${pkgs[@]}"; do
            "$PPD" fixup-paths --per-package-dir "$dir" --new-root "$dir/$p" "$copy/$p/host"
        done
        ;;
    ppd:cache)
        rm -f "$work/fixup.cache"
        for p in "${pkgs[@]}"; do
            "$PPD" fixup-paths --cache "$work/fixup.cache" --per-package-dir "$dir" --new-root "$dir/$p" "$copy/$p/host"
        done
        ;;
    buildroot:step | buildroot:cache)
        for p in "${pkgs[@]}"; do
            buildroot_fixup "$dir" "$dir/$p" "$copy/$p/host"
        done
        ;;
    esac
}

# Prints "wall cpu" in seconds (cpu = user + system, children included).
run_tool() { # tool scenario copy-name
    local TIMEFORMAT='%R %U %S' t
    { time body "$1" "$2" "$work/$3" 2>&4; } 4>&2 2>"$work/.time"
    read -r -a t <"$work/.time"
    python3 -c "print(f'{${t[0]}:.3f} {${t[1]} + ${t[2]}:.3f}')"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A times cpus
for ((r = 1; r <= runs; r++)); do
    for s in "${scenarios[@]}"; do
        # Alternate which tool goes first, so neither always gets the
        # cache state the other left behind.
        order=(ppd buildroot)
        [ $((r % 2)) = 0 ] && order=(buildroot ppd)
        for tool in "${order[@]}"; do
            fresh "$tool-$s"
            read -r wall cpu < <(run_tool "$tool" "$s" "$tool-$s")
            times[$tool:$s]+="$wall "
            cpus[$tool:$s]+="$cpu "
            echo "run $r/$runs $s $tool: $wall s wall, $cpu s cpu" >&2
        done
    done
done

# Same result from both tools (unchanged files share their inodes, so
# this mostly compares the rewritten ones).
for s in "${scenarios[@]}"; do
    if ! diff -r --no-dereference -q "$work/ppd-$s" "$work/buildroot-$s" >&2; then
        echo "bench-fixup: ppd and the pipeline disagree in scenario $s" >&2
        exit 1
    fi
done

names=$(for p in "${pkgs[@]}"; do find "$dir/$p/host" -type f; done | wc -l)
inodes=$(for p in "${pkgs[@]}"; do find "$dir/$p/host" -type f -printf '%i\n'; done | sort -u | wc -l)
rewritten=$("$PPD" -n fixup-paths --per-package-dir "$dir" --new-root "$final" "$dir"/*/host | wc -l)
echo
echo "workload: ${#pkgs[@]} host trees, $names file names ($inodes distinct inodes), $rewritten files to rewrite; $(nproc) cores; $runs runs"
echo
echo "| scenario | grep \| file \| sed | ppd fixup-paths | ratio | cpu: pipeline | cpu: ppd | cpu ratio |"
echo "|---|---|---|---|---|---|---|"
for s in "${scenarios[@]}"; do
    b=$(median ${times[buildroot:$s]})
    p=$(median ${times[ppd:$s]})
    bc=$(median ${cpus[buildroot:$s]})
    pc=$(median ${cpus[ppd:$s]})
    case $s in
    all) label="all host trees, one call" ;;
    step) label="one call per package (${#pkgs[@]})" ;;
    cache) label="one call per package, ppd --cache (cold at start)" ;;
    esac
    echo "| $label | $b s | $p s | $(python3 -c "print(f'{$b / $p:.1f}x')") | $bc s | $pc s | $(python3 -c "print(f'{$bc / max($pc, 0.001):.1f}x')") |"
done
echo
echo "(medians of $runs runs; wall-clock and user+system CPU time, children included)"
