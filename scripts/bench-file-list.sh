#!/usr/bin/env bash
# ppd file-list versus Buildroot's find/sort/comm file lists, on the largest
# (toolchain-sized) per-package directory of a generated workload.
#
# Set-up (untimed): the package with the most direct dependencies among the
# last steps of the build is prepared with `ppd prepare` into a fresh
# per-package directory (which records the manifest), and an install step is
# simulated: 600 new files, 60 new symlinks and 20 replaced dependency files.
# Timed, several interleaved rounds:
#   buildroot-before  pkg_size_before: find -printf | sort for target, staging,
#                     images and host (the images tree is an empty directory)
#   buildroot-after   pkg_size_after: the same four finds and sorts, then four
#                     comm -13 | sed into .files-list*.txt
#   buildroot-total   before + after: what one package pays today
#   ppd               ppd file-list (one walk of target, one of host; the
#                     "before" side comes from the manifest prepare wrote)
# The lists are compared byte for byte once (untimed).
#
# Usage: scripts/bench-file-list.sh [--quick] [--rounds N] [--workload DIR]
#            [--packages N] [--toolchain-files F] [--seed S] [--results FILE]
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ROUNDS=5 PACKAGES=250 TC=4000 SEED=1 WORKLOAD=${PPD_BENCH_WORKLOAD:-} RESULTS=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) PACKAGES=60 TC=1000 ROUNDS=3 ;;
        --rounds) ROUNDS=$2; shift ;;
        --workload) WORKLOAD=$2; shift ;;
        --packages) PACKAGES=$2; shift ;;
        --toolchain-files) TC=$2; shift ;;
        --seed) SEED=$2; shift ;;
        --results) RESULTS=$2; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'; exit 0 ;;
        *) bench_die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

GIVEN=$WORKLOAD
WORKLOAD=${WORKLOAD:-$BENCH_WORK/workload-$PACKAGES-$TC-$SEED}
RESULTS=${RESULTS:-$BENCH_WORK/results/file-list.md}
OUT=$BENCH_WORK/file-list
mkdir -p "$(dirname "$RESULTS")"
bench_build_ppd
if [ -n "$GIVEN" ] && [ -f "$WORKLOAD/steps.txt" ]; then
    echo "bench: using workload $WORKLOAD"
else
    bench_workload "$WORKLOAD" "$PACKAGES" "$TC" "$SEED"
fi
PP=$WORKLOAD/per-package
STAGING=x86_64-buildroot-linux-gnu/sysroot

# The step with the most dependencies among the last 20 (a late, big package).
read -r PKG DEPS < <(tail -n 20 "$WORKLOAD/steps.txt" | awk '{ print NF, $0 }' | sort -n -s -k1,1 | tail -n 1 | cut -d' ' -f2-)
BP=$OUT/per-package
ME=$BP/bench
fresh() {
    bench_clean "$BP"
    mkdir -p "$ME" "$OUT/build" "$OUT/images"
    # shellcheck disable=SC2086
    "$PPD" prepare --per-package-dir "$PP" --host-dir "$ME/host" --target-dir "$ME/target" $DEPS \
        || bench_die "ppd prepare failed"
    mkdir -p "$ME/host/$STAGING"
}
install() {
    sleep 0.05
    for i in $(seq 1 300); do
        d=$ME/target/usr/lib/bench$((i % 10))
        mkdir -p "$d" "$ME/host/$STAGING/usr/include/bench$((i % 10))"
        echo "$i" > "$d/file$i"
        echo "$i" > "$ME/host/$STAGING/usr/include/bench$((i % 10))/h$i.h"
        [ $((i % 5)) = 0 ] && ln -s "file$i" "$d/link$i"
    done
    # Replace 20 dependency files (new inodes), as an overwriting install would.
    find "$ME/target" -type f -links +1 | head -n 20 | while read -r f; do
        cp "$f" "$f.new" && mv "$f.new" "$f"
    done
}

br_before() {
    local t d
    for t in "":"$ME/target" -staging:"$ME/host/$STAGING" -images:"$OUT/images" -host:"$ME/host"; do
        d=${t#*:}
        (cd "$d" && LC_ALL=C find . -not -path "./$STAGING/*" \( -type f -o -type l \) \
            -printf '%T@:%i:%#m:%y:%s,%p\n' | LC_ALL=C sort > "$OUT/build/.files-list${t%%:*}.before")
    done
}
br_after() {
    local t d s
    for t in "":"$ME/target" -staging:"$ME/host/$STAGING" -images:"$OUT/images" -host:"$ME/host"; do
        d=${t#*:} s=${t%%:*}
        (cd "$d" && LC_ALL=C find . -not -path "./$STAGING/*" \( -type f -o -type l \) \
            -printf '%T@:%i:%#m:%y:%s,%p\n' | LC_ALL=C sort > "$OUT/build/.files-list$s.after")
        LC_ALL=C comm -13 "$OUT/build/.files-list$s.before" "$OUT/build/.files-list$s.after" \
            | sed -r -e "s/^[^,]+/bench/" > "$OUT/build/.files-list$s.txt"
    done
}
run_ppd() {
    "$PPD" file-list --per-package-dir "$BP" --pkg bench --staging-subdir "$STAGING" \
        --out-dir "$OUT/ppd" --overwrites ignore
}

TIMES=$OUT/times.tsv
: > "$TIMES"
for r in $(seq 1 "$ROUNDS"); do
    fresh
    a=$(bench_now); br_before; b=$(bench_now)
    install
    bb=$(bench_now); br_after; c=$(bench_now)
    printf 'file-list\tbuildroot-before\t%s\t%s\n' "$r" "$(bench_secs "$a" "$b")" >> "$TIMES"
    after=$(bench_secs "$bb" "$c")
    printf 'file-list\tbuildroot-after\t%s\t%s\n' "$r" "$after" >> "$TIMES"
    printf 'file-list\tbuildroot-total\t%s\t%s\n' "$r" "$(awk -v x="$(bench_secs "$a" "$b")" -v y="$after" 'BEGIN { printf "%.3f", x + y }')" >> "$TIMES"
    a=$(bench_now); run_ppd || bench_die "ppd file-list failed"; b=$(bench_now)
    printf 'file-list\tppd\t%s\t%s\n' "$r" "$(bench_secs "$a" "$b")" >> "$TIMES"
done

ENTRIES=$(find "$ME" -type f -o -type l | wc -l)
VERIFY=$OUT/verify.tsv
same=yes
for s in "" -staging -host; do
    cmp -s "$OUT/build/.files-list$s.txt" "$OUT/ppd/.files-list$s.txt" || same="NO (.files-list$s.txt differs)"
done
printf 'file-list\tppd\t%s\n' "$same" > "$VERIFY"

{
    echo "## file-list: $PKG's per-package directory ($ENTRIES files and symlinks, $(wc -l < "$OUT/ppd/.files-list.txt") + $(wc -l < "$OUT/ppd/.files-list-staging.txt") + $(wc -l < "$OUT/ppd/.files-list-host.txt") listed)"
    echo
    bench_env
    echo "- command: scripts/bench-file-list.sh $*"
    echo
    python3 "$BENCH_REPO/scripts/lib/bench-table.py" --times "$TIMES" --verify "$VERIFY" \
        --faster-than buildroot-total="the whole find/sort/comm method" \
        --faster-than buildroot-after="its after half" \
        --label ppd="ppd file-list" \
        --target file-list/ppd/buildroot-total/speedup/10
} | tee "$RESULTS"
