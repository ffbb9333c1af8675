#!/usr/bin/env bash
# One prepare step, repeated: ppd against the hard-link floor and the cp -al
# loop, on finished per-package trees (for example the real Buildroot's,
# kept by scripts/bench-buildroot.sh --keep).
#
# Each round, every method fills fresh <tag>/host and <tag>/target in
# PER_PACKAGE_DIR from the dependencies' host and target trees, one process
# (or loop) as make runs it, after a sync; the method order rotates each
# round. Methods:
#   floor     scripts/floor.c replaying the step's precomputed mkdir/link/
#             symlink/utimes calls (scripts/lib/floor-plan.py, untimed)
#   cp-al     per tree and dependency, cp -al DEP/. DEST/
#   ppd       ppd prepare (manifests), with --fixup (the default here) as a
#             Buildroot configure step runs it: --pkg TAG --fixup-paths
#             --fixup-cache PER_PACKAGE_DIR/.ppd-fixup-cache
#   ppd-base  the same with --baseline BIN, an earlier build of ppd
# The destinations are left in PER_PACKAGE_DIR (named bench-step-*): remove
# them, or the whole directory, afterwards. Medians with min and max.
#
# Usage: scripts/bench-step.sh [--rounds N] [--no-fixup] [--baseline BIN]
#            PER_PACKAGE_DIR DEP...
# Example, on the real Buildroot's configure step of a library built on
# two others (the toolchain's ~1,600-entry sysroot is in every tree):
#   scripts/bench-buildroot.sh --quick --modes ppd --keep
#   scripts/bench-step.sh --rounds 25 bench-work/buildroot/out-ppd/per-package \
#       gen-06 gen-11 host-skeleton skeleton toolchain
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ROUNDS=15 FIXUP=1 BASE=
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) ROUNDS=$2; shift ;;
        --no-fixup) FIXUP= ;;
        --baseline) BASE=$2; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) bench_die "unknown option $1 (see --help)" ;;
        *) break ;;
    esac
    shift
done
bench_empty_trash
[ $# -ge 2 ] || bench_die "usage: scripts/bench-step.sh [options] PER_PACKAGE_DIR DEP... (see --help)"
PP=$(cd "$1" 2>/dev/null && pwd) || bench_die "no directory $1"
shift
DEPS=("$@")
for d in "${DEPS[@]}"; do
    [ -d "$PP/$d/host" ] && [ -d "$PP/$d/target" ] || bench_die "no $PP/$d/host and target"
done
case $ROUNDS in ''|*[!0-9]*|0) bench_die "--rounds takes a positive number" ;; esac
bench_need gcc python3 cp=coreutils
bench_build_ppd
METHODS=(floor cp-al ppd)
if [ -n "$BASE" ]; then
    bench_executable BASE "--baseline "
    METHODS+=(ppd-base)
fi
WORK=$BENCH_WORK/step
mkdir -p "$WORK"
gcc -O2 -o "$WORK/floor" "$BENCH_REPO/scripts/floor.c" || bench_die "building scripts/floor.c failed"

# The floor's plans, one per round, computed before anything is timed.
RUN=bench-step-$$-$RANDOM
rm -rf "$WORK/plan-work" && mkdir -p "$WORK/plan-work"
ln -s "$PP" "$WORK/plan-work/per-package"
for r in $(seq "$ROUNDS"); do
    echo "$RUN-floor-$r ${DEPS[*]}"
done > "$WORK/plan-work/steps.txt"
python3 "$BENCH_REPO/scripts/lib/floor-plan.py" --workload "$WORK/plan-work" \
    --dest "$PP" --out "$WORK/plan-work/plans" >/dev/null || bench_die "floor-plan.py failed"

run() { # METHOD ROUND: one timed step, a line of $RAW
    local m=$1 r=$2 tag=$RUN-$1-$2 t0 t1 bin=$PPD
    # The previous run's metadata written back first (untimed): else the
    # journal commit of a cp -al loop lands in the next method's time.
    sync
    case $m in
        floor)
            bench_now t0
            "$WORK/floor" "$WORK/plan-work/plans/$(printf %05d $((r - 1))).plan" || bench_die "floor failed"
            bench_now t1 ;;
        cp-al)
            mkdir -p "$PP/$tag/host" "$PP/$tag/target"
            bench_now t0
            for d in "${DEPS[@]}"; do
                cp -al "$PP/$d/host/." "$PP/$tag/host/" && cp -al "$PP/$d/target/." "$PP/$tag/target/" \
                    || bench_die "cp -al failed"
            done
            bench_now t1 ;;
        ppd|ppd-base)
            [ $m = ppd-base ] && bin=$BASE
            local fix=()
            [ -n "$FIXUP" ] && fix=(--pkg "$tag" --fixup-paths --fixup-cache "$PP/.ppd-fixup-cache")
            mkdir -p "$PP/$tag/host" "$PP/$tag/target"
            bench_now t0
            MAKEFLAGS= "$bin" prepare --per-package-dir "$PP" "${fix[@]}" \
                --host-dir "$PP/$tag/host" --target-dir "$PP/$tag/target" "${DEPS[@]}" \
                || bench_die "$m failed"
            bench_now t1 ;;
    esac
    printf 'step\t%s\t%s\t%s\n' "$m" "$r" "$(bench_secs "$t0" "$t1")" >> "$RAW"
}

# The floor's planning walked every dependency tree: the caches emptied
# again (as root; see bench_drop_caches).
bench_drop_caches
RAW=$WORK/raw.tsv
: > "$RAW"
bench_say "${#DEPS[@]} dependencies, $ROUNDS rounds of: ${METHODS[*]}"
for r in $(seq "$ROUNDS"); do
    n=${#METHODS[@]}
    for i in $(seq 0 $((n - 1))); do
        m=${METHODS[$(((i + r) % n))]}
        run "$m" "$r"
    done
done
mkdir -p "$BENCH_WORK/results"
{
    echo "One prepare step of ${DEPS[*]} ($ROUNDS rounds, milliseconds):"
    echo
    echo "| method | median | min | max | against the floor |"
    echo "|---|---:|---:|---:|---:|"
    python3 - "$RAW" "${METHODS[@]}" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
t = {}
for _, m, _, s in rows:
    t.setdefault(m, []).append(float(s) * 1000)
floor = statistics.median(t["floor"])
for m in sys.argv[2:]:
    v = t[m]
    med = statistics.median(v)
    print(f"| {m} | {med:.1f} | {min(v):.1f} | {max(v):.1f} | {med / floor:.2f}x |")
EOF
    echo
    echo "- ppd: $PPD${BASE:+, baseline $BASE}; per-package directory $PP"
    echo "- load average at start: $BENCH_LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg); dentry and inode caches: $BENCH_CACHES; date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- destinations left in $PP/$RUN-*"
} | tee "$BENCH_WORK/results/bench-step.md"
