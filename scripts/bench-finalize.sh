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
# and synced between rounds (untimed).  rsync, 5-15x slower than ppd, is
# timed in the first --rsync-rounds rounds only (default 1); with 0 it runs
# once, untimed, as the check's reference.  An untimed check compares the
# results of rsync and ppd (content, mode, mtime, symlink texts, hard-link
# groups).  Progress goes to stderr as it happens, the results table to
# stdout.  On the default workload (250 packages, about 600 MB merged) a
# quiet 2-core machine takes about 30 s per rsync round and 3 s per ppd
# round (plus the syncs between runs), several times that under load;
# generating the workload, once, a few minutes.
#
# Usage: scripts/bench-finalize.sh [--quick] [--rounds N] [--rsync-rounds N]
#            [--workload DIR] [--packages N] [--toolchain-files F] [--seed S]
#            [--results FILE] [--baseline BIN] [--keep]
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ARGS="$*"
ROUNDS=5 PACKAGES=250 TC=4000 SEED=1 WORKLOAD=${PPD_BENCH_WORKLOAD:-} RESULTS= KEEP= BASE=
RSYNC_ROUNDS=1
while [ $# -gt 0 ]; do
    case $1 in
        --quick) PACKAGES=60 TC=1000 ROUNDS=3 ;;
        --rsync-rounds)
            [[ ${2:-} =~ ^[0-9]+$ ]] || bench_die "--rsync-rounds takes a whole number"
            RSYNC_ROUNDS=$2; shift ;;
        --baseline) [ $# -ge 2 ] || bench_die "--baseline needs a value"; BASE=$2; shift ;;
        --keep) KEEP=1 ;;
        *) bench_opt "$@"; shift $((BENCH_USED - 1)) ;;
    esac
    shift
done
bench_empty_trash

bench_need rsync=rsync tac=coreutils python3=python3
RESULTS=${RESULTS:-$BENCH_WORK/results/finalize.md}
OUT=$BENCH_WORK/finalize
mkdir -p "$OUT" "$(dirname "$RESULTS")"
[ -n "$BASE" ] && bench_executable BASE "--baseline "
bench_build_ppd
bench_use_workload
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
    bench_say "round $(($3 + 1))/$ROUNDS $2 $1: $s s"
}

TIMES=$OUT/times.tsv
: > "$TIMES"
M=(rsync ppd)
[ -n "$BASE" ] && M+=(ppd-base)
bench_say "final merge of ${#PKGS[@]} packages, $ROUNDS rounds of ${M[*]}" \
    "(rsync timed in $RSYNC_ROUNDS), each empty then no-change"
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#M[@]}; k++)); do
        m=${M[(k + r) % ${#M[@]}]}
        [ "$m" = rsync ] && [ "$r" -ge "$RSYNC_ROUNDS" ] && continue
        bench_clean "$OUT/dest-$m"
        : > "$OUT/$m.log"
        timed empty "$m" "$r" "$OUT/dest-$m"
        timed no-change "$m" "$r" "$OUT/dest-$m"
    done
done
if [ "$RSYNC_ROUNDS" = 0 ]; then
    bench_say "rsync: the check's reference (untimed)"
    bench_clean "$OUT/dest-rsync"
    finalize_rsync "$OUT/dest-rsync" || bench_die "method rsync failed (reference)"
fi

VERIFY=$OUT/verify.tsv
: > "$VERIFY"
res=yes
bench_say "checking ppd's result against rsync's (untimed)"
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
