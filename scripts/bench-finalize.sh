#!/usr/bin/env bash
# Final merge of every package (host and target trees) of a generated PPD
# workload, as host-finalize and target-finalize do it:
#   rsync  Buildroot's single copy-mode command per tree:
#          mkdir -p DEST; printf "%s/<tree>/\n" <sorted pkgs> | tac |
#          rsync -a --hard-links --files-from=- --no-R -r PER_PACKAGE_DIR DEST
#   ppd    ppd finalize --per-package-dir PER_PACKAGE_DIR --tree <tree> --dest DEST <sorted pkgs>
#   ppd-base  with --baseline BIN: the same with BIN, an earlier build of
#          ppd, in the same rounds (before/after)
# Two scenarios, each timing host then target together:
#   empty     into empty destinations (a clean build's finalize)
#   no-change a re-run onto the complete destinations (every later `make`)
# Rounds are interleaved (the method order rotates), destinations are deleted
# and synced between rounds (untimed).  An untimed check compares the two
# results (content, mode, mtime, symlink texts, hard-link groups).
#
# Usage: scripts/bench-finalize.sh [--quick] [--rounds N] [--workload DIR]
#            [--packages N] [--toolchain-files F] [--seed S] [--results FILE]
#            [--baseline BIN] [--keep]
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ARGS="$*"
ROUNDS=5 PACKAGES=250 TC=4000 SEED=1 WORKLOAD=${PPD_BENCH_WORKLOAD:-} RESULTS= KEEP= BASE=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) PACKAGES=60 TC=1000 ROUNDS=3 ;;
        --rounds) ROUNDS=$2; shift ;;
        --workload) WORKLOAD=$2; shift ;;
        --packages) PACKAGES=$2; shift ;;
        --toolchain-files) TC=$2; shift ;;
        --seed) SEED=$2; shift ;;
        --results) RESULTS=$2; shift ;;
        --baseline) BASE=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'; exit 0 ;;
        *) bench_die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

bench_need rsync=rsync tac=coreutils python3=python3
command -v cargo >/dev/null || bench_die "needs cargo (a Rust toolchain, e.g. from rustup.rs)"
GIVEN=$WORKLOAD
WORKLOAD=${WORKLOAD:-$BENCH_WORK/workload-$PACKAGES-$TC-$SEED}
RESULTS=${RESULTS:-$BENCH_WORK/results/finalize.md}
OUT=$BENCH_WORK/finalize
mkdir -p "$OUT" "$(dirname "$RESULTS")"
WORKLOAD=$(mkdir -p "$(dirname "$WORKLOAD")" && cd "$(dirname "$WORKLOAD")" && pwd)/$(basename "$WORKLOAD")

bench_build_ppd
if [ -n "$GIVEN" ] && [ -f "$WORKLOAD/steps.txt" ]; then
    echo "bench: using workload $WORKLOAD"
else
    bench_workload "$WORKLOAD" "$PACKAGES" "$TC" "$SEED"
fi
PP=$WORKLOAD/per-package
mapfile -t PKGS < "$WORKLOAD/packages.txt"

finalize_rsync() {
    local d=$1 tree
    for tree in host target; do
        mkdir -p "$d/$tree"
        printf "%s/$tree/\n" "${PKGS[@]}" | tac \
            | rsync -a --hard-links --files-from=- --no-R -r "$PP" "$d/$tree" || return 1
    done
}

finalize_ppd-base() { PPD=$BASE finalize_ppd "$1"; }

finalize_ppd() {
    local d=$1 tree rc
    for tree in host target; do
        "$PPD" finalize --per-package-dir "$PP" --tree $tree --dest "$d/$tree" "${PKGS[@]}" \
            2>>"$OUT/ppd.log"
        rc=$?
        if [ $rc -ge 2 ]; then
            echo "bench: ppd finalize --tree $tree failed (exit $rc):" >&2
            tail -3 "$OUT/ppd.log" >&2
            return 1
        fi
    done
}

timed() { # scenario method round dest
    local t0 t1 s
    sync
    bench_now t0
    "finalize_$2" "$4" || bench_die "method $2 failed ($1)"
    bench_now t1
    s=$(bench_secs "$t0" "$t1")
    printf '%s\t%s\t%d\t%s\n' "$1" "$2" "$3" "$s" >> "$TIMES"
    echo "bench: round $(($3 + 1)) $2 $1: $s s"
}

TIMES=$OUT/times.tsv
: > "$TIMES"
M=(rsync ppd)
if [ -n "$BASE" ]; then
    [ -x "$BASE" ] || bench_die "--baseline $BASE is not an executable"
    M+=(ppd-base)
fi
echo "bench: final merge of ${#PKGS[@]} packages, $ROUNDS rounds"
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#M[@]}; k++)); do
        m=${M[(k + r) % ${#M[@]}]}
        bench_clean "$OUT/dest-$m"
        : > "$OUT/$m.log"
        timed empty "$m" "$r" "$OUT/dest-$m"
        timed no-change "$m" "$r" "$OUT/dest-$m"
    done
done

VERIFY=$OUT/verify.tsv
: > "$VERIFY"
res=yes
for tree in host target; do
    if ! python3 "$BENCH_REPO/scripts/lib/treecmp.py" --copy "$OUT/dest-rsync/$tree" \
        "$OUT/dest-ppd/$tree" > "$OUT/cmp-$tree.txt" 2>&1; then
        res="NO (see $OUT/cmp-$tree.txt)"
        sed "s/^/bench: $tree: /" "$OUT/cmp-$tree.txt" | head -6 >&2
    fi
done
for s in empty no-change; do
    printf '%s\tppd\t%s\n%s\trsync\t(reference)\n' "$s" "$res" "$s" >> "$VERIFY"
done

host_n=$(find "$OUT/dest-ppd/host" | wc -l)
target_n=$(find "$OUT/dest-ppd/target" | wc -l)
bytes=$(du -sm --apparent-size "$OUT/dest-ppd" | cut -f1)
walked=$(sed -n 's/^prepare replay: \([0-9]*\) entries linked, \([0-9]*\) directories.*/\1/p' \
    "$WORKLOAD/workload.txt")
{
    echo "### ppd finalize: final merge of all packages (host and target)"
    echo
    echo "- workload: $(basename "$WORKLOAD") (${#PKGS[@]} packages whose trees hold about $walked entries; merged: $host_n host and $target_n target entries, $bytes MB)"
    bench_env
    echo "- command: scripts/bench-finalize.sh $ARGS"
    echo
    python3 "$BENCH_REPO/scripts/lib/bench-table.py" --times "$TIMES" --verify "$VERIFY" \
        --label rsync="rsync --files-from (Buildroot)" --label ppd="ppd finalize" \
        --faster-than rsync="rsync" \
        --target=empty/ppd/rsync/speedup/4 --target=no-change/ppd/rsync/speedup/20 \
        --label ppd-base="ppd finalize (baseline)" \
        ${BASE:+--target=empty/ppd/ppd-base/within/1.05 --target=no-change/ppd/ppd-base/within/1.05}
} > "$RESULTS"
echo
cat "$RESULTS"
[ -n "$KEEP" ] || bench_clean "$OUT"/dest-*
[ "$res" = yes ] || exit 1
exit 0
