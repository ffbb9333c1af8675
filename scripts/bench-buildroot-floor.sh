#!/usr/bin/env bash
# The hard-link floor of a whole real-Buildroot build's prepare steps: how
# little time any tool could spend filling the per-package trees of that
# build, against what ppd prepare spends, and what share of the build that
# floor is.
#
# It replays, on the per-package directory a drop-in build left behind
# (scripts/bench-buildroot.sh --modes ppd --keep), the configure-step
# prepare of every package with dependencies: its dependencies are the
# providers its host and target manifests name. Each round, for each
# package, two methods fill fresh trees beside the build's, after a sync,
# their order alternating:
#   floor  scripts/floor.c replaying the step's precomputed mkdir/link/
#          symlink/utimes calls (scripts/lib/floor-plan.py, untimed): the
#          system calls the trees need and nothing else, no scan, no stat
#   ppd    ppd prepare as mk/buildroot.mk runs it (manifests, path fixup
#          with its cache, conflicts ignored)
# The sums over all steps are per round; the table gives their medians with
# min and max, and the floor's share of the drop-in's clean build (the
# median wall time in the bench-buildroot.sh results, raw.tsv). The extract
# steps' prepares (host-tar's tree alone) are not replayed.
#
# Usage: scripts/bench-buildroot-floor.sh [--rounds N]
# Environment: PPD_BENCH_WORK (its buildroot/out-ppd and buildroot/raw.tsv),
# PPD_BENCH_PPD (a ppd binary instead of a fresh release build).
# Results: $PPD_BENCH_WORK/results/bench-buildroot-floor.md (and stdout).
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ROUNDS=5
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) ROUNDS=${2:-}; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) bench_die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
case $ROUNDS in ''|*[!0-9]*|0) bench_die "--rounds takes a positive number" ;; esac
bench_empty_trash
W=$BENCH_WORK/buildroot
PP=$W/out-ppd/per-package
[ -d "$PP" ] || bench_die "no $PP: run scripts/bench-buildroot.sh --modes ppd --keep first"
bench_need gcc python3
bench_build_ppd
F=$BENCH_WORK/buildroot-floor
rm -rf "$F" && mkdir -p "$F/plan-work"
gcc -O2 -o "$F/floor" "$BENCH_REPO/scripts/floor.c" || bench_die "building scripts/floor.c failed"
ln -s "$PP" "$F/plan-work/per-package"

# Each package's dependencies: the providers its manifests name (entries'
# second field, and empty-directory lines), itself left out. Trees a
# replay made (bbf-*) and other benchmarks' (bench-step-*) are not packages.
: > "$F/steps"
for m in "$PP"/*/.host.ppd-manifest; do
    d=${m%/.host.ppd-manifest}
    p=${d##*/}
    case $p in bbf-*|bench-step-*) continue ;; esac
    deps=$(cat "$m" "$d/.target.ppd-manifest" 2>/dev/null | awk -F'\t' -v p="$p" '
        NR > 1 && ($1 == "E" || NF > 2) && $2 != "-" && $2 != p { print $2 }' | sort -u | tr '\n' ' ')
    [ -n "$deps" ] && echo "$p $deps" >> "$F/steps"
done
STEPS=$(wc -l < "$F/steps")
[ "$STEPS" -gt 0 ] || bench_die "no package with dependencies in $PP"
RUN=bbf-$$
for r in $(seq "$ROUNDS"); do
    while read -r p deps; do echo "$RUN-floor-$r-$p $deps"; done < "$F/steps"
done > "$F/plan-work/steps.txt"
python3 "$BENCH_REPO/scripts/lib/floor-plan.py" --workload "$F/plan-work" \
    --dest "$PP" --out "$F/plans" >/dev/null || bench_die "floor-plan.py failed"
# The planning walked every tree: the caches emptied again.
bench_drop_caches

RAW=$F/raw.tsv
: > "$RAW"
bench_say "$STEPS steps, $ROUNDS rounds of: floor ppd"
i=0
for r in $(seq "$ROUNDS"); do
    while read -r p deps; do
        if [ $(( (i + r) % 2 )) = 0 ]; then order="floor ppd"; else order="ppd floor"; fi
        for m in $order; do
            sync
            if [ $m = floor ]; then
                bench_now t0
                "$F/floor" "$F/plans/$(printf %05d "$i").plan" || bench_die "floor failed on $p"
                bench_now t1
            else
                tag=$RUN-ppd-$r-$p
                mkdir -p "$PP/$tag/host" "$PP/$tag/target"
                bench_now t0
                # shellcheck disable=SC2086 # deps: one word each
                MAKEFLAGS= "$PPD" prepare --per-package-dir "$PP" --pkg "$tag" --conflicts ignore \
                    --fixup-paths --fixup-cache "$PP/.ppd-fixup-cache" \
                    --host-dir "$PP/$tag/host" --target-dir "$PP/$tag/target" $deps \
                    || bench_die "ppd prepare failed on $p"
                bench_now t1
            fi
            printf '%s\t%s\t%s\t%s\n' "$m" "$r" "$p" "$(bench_secs "$t0" "$t1")" >> "$RAW"
        done
        i=$((i + 1))
    done < "$F/steps"
done
# The replayed trees go with the next benchmark's trash.
bench_clean "$PP"/"$RUN"-*

BUILD=$(awk -F'\t' '$1 == "clean" && $2 == "ppd" { print $4 }' "$W/raw.tsv" 2>/dev/null | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
mkdir -p "$BENCH_WORK/results"
{
    echo "The configure-step prepares of a whole real-Buildroot build ($STEPS steps), replayed ($ROUNDS rounds, sums of the steps in seconds):"
    echo
    echo "| method | median | min | max | against the floor | share of the build |"
    echo "|---|---:|---:|---:|---:|---:|"
    python3 - "$RAW" "${BUILD:-}" <<'EOF'
import collections, statistics, sys
sums = collections.defaultdict(lambda: collections.defaultdict(float))
for line in open(sys.argv[1]):
    m, r, _, s = line.rstrip("\n").split("\t")
    sums[m][r] += float(s)
build = float(sys.argv[2]) if sys.argv[2] else None
floor = statistics.median(sums["floor"].values())
for m in ("floor", "ppd"):
    v = list(sums[m].values())
    med = statistics.median(v)
    share = f"{100 * med / build:.1f}%" if build else "-"
    print(f"| {m} | {med:.2f} | {min(v):.2f} | {max(v):.2f} | {med / floor:.2f}x | {share} |")
EOF
    echo
    if [ -n "${BUILD:-}" ]; then
        echo "- share of the build: against the drop-in's clean build, $BUILD s (median of $W/raw.tsv)"
    else
        echo "- share of the build: no drop-in clean build in $W/raw.tsv"
    fi
    echo "- per-package directory: $PP"
    bench_env
} | tee "$BENCH_WORK/results/bench-buildroot-floor.md"
