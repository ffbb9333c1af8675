#!/usr/bin/env bash
# Whole-build replay of every prepare step of a generated PPD workload.
#
# Each step "<pkg> <dep>..." of WORKLOAD/steps.txt fills a fresh destination
# DEST/<pkg>/{host,target} from the dependencies' per-package trees with:
#   rsync         Buildroot's loop: per tree, mkdir -p, then one
#                 rsync -a --hard-links --link-dest=DEP/ DEP/ DEST per dependency
#   cp-al         the same loop with cp -al DEP/. DEST/
#   ppd           ppd prepare --no-manifest (one process per step)
#   ppd-manifest  ppd prepare (default: also writes the manifest)
#   floor         scripts/floor.c replaying precomputed mkdir/link/symlink lists
#   ppd-base, ppd-manifest-base
#                 with --baseline BIN: ppd and ppd-manifest run with BIN, an
#                 earlier build of ppd, in the same rounds (before/after)
# Every method replays the whole build; rounds are interleaved (the method
# order rotates each round); destinations are deleted and synced between runs
# (untimed).  Medians, ratios and an untimed correctness check (results
# identical to rsync's: same inodes, symlink texts, directory modes and mtimes)
# are printed and written to the results file.
#
# Usage: scripts/bench-prepare.sh [--quick] [--rounds N] [--workload DIR]
#            [--packages N] [--toolchain-files F] [--seed S] [--results FILE]
#            [--methods "rsync cp-al ppd ppd-manifest floor"] [--baseline BIN] [--keep]
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ARGS="$*"
ROUNDS=3 PACKAGES=250 TC=4000 SEED=1 WORKLOAD=${PPD_BENCH_WORKLOAD:-} RESULTS= KEEP= BASE=
METHODS="rsync cp-al ppd ppd-manifest floor"
while [ $# -gt 0 ]; do
    case $1 in
        --quick) PACKAGES=60 TC=1000 ;;
        --rounds) ROUNDS=$2; shift ;;
        --workload) WORKLOAD=$2; shift ;;
        --packages) PACKAGES=$2; shift ;;
        --toolchain-files) TC=$2; shift ;;
        --seed) SEED=$2; shift ;;
        --results) RESULTS=$2; shift ;;
        --methods) METHODS=$2; shift ;;
        --baseline) BASE=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'; exit 0 ;;
        *) bench_die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

bench_need rsync=rsync cp=coreutils gcc=gcc python3=python3
command -v cargo >/dev/null || bench_die "needs cargo (a Rust toolchain, e.g. from rustup.rs)"
GIVEN=$WORKLOAD
WORKLOAD=${WORKLOAD:-$BENCH_WORK/workload-$PACKAGES-$TC-$SEED}
RESULTS=${RESULTS:-$BENCH_WORK/results/prepare.md}
OUT=$BENCH_WORK/prepare
mkdir -p "$OUT" "$(dirname "$RESULTS")"
WORKLOAD=$(mkdir -p "$(dirname "$WORKLOAD")" && cd "$(dirname "$WORKLOAD")" && pwd)/$(basename "$WORKLOAD")

bench_build_ppd
if [ -n "$GIVEN" ] && [ -f "$WORKLOAD/steps.txt" ]; then
    echo "bench: using workload $WORKLOAD"
else
    bench_workload "$WORKLOAD" "$PACKAGES" "$TC" "$SEED"
fi
PP=$WORKLOAD/per-package
mapfile -t STEPS < "$WORKLOAD/steps.txt"

# The floor: compiled here, its plans precomputed outside the timing.
FLOOR=$OUT/floor
gcc -O2 -o "$FLOOR" "$BENCH_REPO/scripts/floor.c" || bench_die "cannot compile scripts/floor.c"
rm -rf "$OUT/plans" "$OUT"/dest-*
sync
python3 "$BENCH_REPO/scripts/lib/floor-plan.py" --workload "$WORKLOAD" --dest "$OUT/dest-floor" \
    --out "$OUT/plans" || bench_die "floor plans failed"

replay_rsync() {
    local d=$1 line pkg dep tree
    for line in "${STEPS[@]}"; do
        set -- $line; pkg=$1; shift
        for tree in host target; do
            mkdir -p "$d/$pkg/$tree"
            for dep; do
                rsync -a --hard-links --link-dest="$PP/$dep/$tree/" "$PP/$dep/$tree/" "$d/$pkg/$tree" \
                    || return 1
            done
        done
    done
}

replay_cp-al() {
    local d=$1 line pkg dep tree
    for line in "${STEPS[@]}"; do
        set -- $line; pkg=$1; shift
        for tree in host target; do
            mkdir -p "$d/$pkg/$tree"
            for dep; do
                cp -al "$PP/$dep/$tree/." "$d/$pkg/$tree/" || return 1
            done
        done
    done
}

# ppd's conflict warnings (info/dir is rewritten by several packages) go to a
# log: writing them is part of the work, reading them is not.
replay_ppd_common() {
    local d=$1 log=$2 line pkg rc
    shift 2
    for line in "${STEPS[@]}"; do
        set -- $line; pkg=$1; shift
        "$PPD" prepare --per-package-dir "$PP" --host-dir "$d/$pkg/host" \
            --target-dir "$d/$pkg/target" $PPD_EXTRA "$@" 2>>"$log"
        rc=$?
        if [ $rc -ge 2 ]; then
            echo "bench: ppd prepare failed on step $pkg (exit $rc):" >&2
            tail -3 "$log" >&2
            return 1
        fi
    done
}

replay_ppd() { PPD_EXTRA=--no-manifest replay_ppd_common "$1" "$OUT/ppd.log"; }
replay_ppd-manifest() { PPD_EXTRA= replay_ppd_common "$1" "$OUT/ppd-manifest.log"; }
replay_ppd-base() { PPD=$BASE PPD_EXTRA=--no-manifest replay_ppd_common "$1" "$OUT/ppd-base.log"; }
replay_ppd-manifest-base() {
    PPD=$BASE PPD_EXTRA= replay_ppd_common "$1" "$OUT/ppd-manifest-base.log"
}
if [ -n "$BASE" ]; then
    [ -x "$BASE" ] || bench_die "--baseline $BASE is not an executable"
    METHODS="$METHODS ppd-base ppd-manifest-base"
fi

replay_floor() {
    local plan
    for plan in "$OUT"/plans/*.plan; do
        "$FLOOR" "$plan" || return 1
    done
}

TIMES=$OUT/times.tsv
: > "$TIMES"
read -ra M <<< "$METHODS"
echo "bench: ${#STEPS[@]} prepare steps, methods: ${M[*]}, $ROUNDS rounds"
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#M[@]}; k++)); do
        m=${M[(k + r) % ${#M[@]}]}
        dest=$OUT/dest-$m
        bench_clean "$dest"
        : > "$OUT/$m.log"
        bench_now t0
        "replay_$m" "$dest" || bench_die "method $m failed"
        bench_now t1
        s=$(bench_secs "$t0" "$t1")
        printf -- '-\t%s\t%d\t%s\n' "$m" "$r" "$s" >> "$TIMES"
        echo "bench: round $((r + 1)) $m: $s s"
    done
done

# Untimed check: for the steps with the most dependencies, the largest
# destination and a few spread over the build, every method's trees must be
# identical to rsync's.
VERIFY=$OUT/verify.tsv
: > "$VERIFY"
if [[ " ${M[*]} " == *" rsync "* ]]; then
    picks=$(awk 'NF > 1 { print NF, NR, $1 }' "$WORKLOAD/steps.txt" | sort -k1,1nr -k2,2n | head -3 | cut -d' ' -f3)
    picks+=" "$(awk 'NF > 1 { print $1 }' "$WORKLOAD/steps.txt" | awk 'NR % 37 == 5')
    picks+=" "$(awk 'NF > 1 && /(^| )toolchain( |$)/ { print $1 }' "$WORKLOAD/steps.txt" | tail -1)
    picks=$(echo $picks | tr ' ' '\n' | awk '!seen[$0]++')
    for m in "${M[@]}"; do
        [ "$m" = rsync ] && continue
        ok=0 n=0 bad=
        for pkg in $picks; do
            for tree in host target; do
                n=$((n + 1))
                if python3 "$BENCH_REPO/scripts/lib/treecmp.py" "$OUT/dest-rsync/$pkg/$tree" \
                    "$OUT/dest-$m/$pkg/$tree" > "$OUT/cmp.txt" 2>&1; then
                    ok=$((ok + 1))
                else
                    bad+=" $pkg/$tree"
                    sed "s/^/bench: $m: /" "$OUT/cmp.txt" | head -6 >&2
                fi
            done
        done
        if [ -z "$bad" ]; then
            printf -- '-\t%s\tyes (%d/%d trees)\n' "$m" "$ok" "$n" >> "$VERIFY"
        else
            printf -- '-\t%s\tNO: %d/%d trees differ (%s)\n' "$m" $((n - ok)) "$n" "${bad# }" >> "$VERIFY"
        fi
    done
    printf -- '-\trsync\t(reference)\n' >> "$VERIFY"
fi

entries=$(sed -n 's/^prepare replay: \([0-9]*\) entries linked, \([0-9]*\) directories.*/\1 entries and \2 directories/p' \
    "$WORKLOAD/workload.txt")
{
    echo "### ppd prepare: whole-build replay of every prepare step"
    echo
    echo "- workload: $(basename "$WORKLOAD") (${#STEPS[@]} steps, $entries created per replay)"
    sed -n '1p' "$WORKLOAD/workload.txt" | sed 's/^/- graph: /'
    bench_env
    echo "- command: scripts/bench-prepare.sh $ARGS"
    echo
    python3 "$BENCH_REPO/scripts/lib/bench-table.py" --times "$TIMES" --verify "$VERIFY" \
        --label rsync="rsync loop (Buildroot)" --label cp-al="cp -al loop" \
        --label ppd="ppd prepare --no-manifest" --label ppd-manifest="ppd prepare (manifest)" \
        --label floor="raw floor (C)" \
        --faster-than rsync="rsync" --faster-than cp-al="cp -al" --floor floor \
        --target=-/ppd/rsync/speedup/20 --target=-/ppd/cp-al/speedup/3 \
        --target=-/ppd/floor/within/1.3 \
        --target=-/ppd-manifest/rsync/speedup/20 --target=-/ppd-manifest/floor/within/1.3 \
        --label ppd-base="ppd prepare --no-manifest (baseline)" \
        --label ppd-manifest-base="ppd prepare (manifest, baseline)" \
        ${BASE:+--target=-/ppd/ppd-base/within/1.05 --target=-/ppd-manifest/ppd-manifest-base/within/1.05}
    conflicts=$(grep -c 'conflict' "$OUT/ppd.log" 2>/dev/null)
    echo
    echo "ppd reported ${conflicts:-0} conflicts in the last round (paths such as share/info/dir"
    echo "that several packages rewrite; the rsync loop overwrites them silently)."
} > "$RESULTS"
echo
cat "$RESULTS"
[ -n "$KEEP" ] || bench_clean "$OUT"/dest-*
grep -q 'NO:' "$VERIFY" && exit 1
exit 0
