#!/usr/bin/env bash
# ppd file-list versus Buildroot's find/sort/comm file lists, on a
# toolchain-sized per-package directory.
#
# The default workload has 60 packages and a 20,000-file external toolchain,
# so a late package's host tree holds about 21,000 files, the size of the
# host/ directory published for an external-toolchain build (20,965 files:
# buildroot.md section 8). --packages 250 --toolchain-files 4000 gives the
# other benchmarks' workload, where the same package has about 6,000 files.
#
# Set-up (untimed): the package with the most direct dependencies among the
# last steps of the build is prepared with `ppd prepare` into a fresh
# per-package directory (which records the manifest), and an install step is
# simulated: 600 new files, 60 new symlinks and 20 replaced dependency files.
# The list files of the round before are removed too: in a build, a
# package's build directory holds none before its install step.
# Timed, several interleaved rounds:
#   buildroot-before  pkg_size_before: find -printf | sort for target, staging,
#                     images and host (the images tree is an empty directory)
#   buildroot-after   pkg_size_after: the same four finds and sorts, four
#                     comm -13 | sed into .files-list*.txt, and the rm -f of
#                     the .before and .after files
#                     (every recipe line runs as `bash -c`, as make runs it
#                     in Buildroot, whose SHELL is bash; so does ppd's line)
#   buildroot-total   before + after: what one package pays today
#   ppd               ppd file-list (one walk of target, one of host; the
#                     "before" side comes from the manifest prepare wrote)
#   floor             scripts/floor-list.c: getdents64 and lstat of every
#                     entry of the two trees on as many threads as ppd uses,
#                     nothing else. Detecting in-place edits needs the lstat
#                     of every entry, so no tool listing the same lines can
#                     be faster than this.
# The lists are compared byte for byte once (untimed).
#
# Usage: scripts/bench-file-list.sh [--quick] [--rounds N] [--workload DIR]
#            [--packages N] [--toolchain-files F] [--seed S] [--results FILE]
set -u
. "$(dirname "$0")/lib/bench-common.sh"
ARGS=$*

ROUNDS=15 PACKAGES=60 TC=20000 SEED=1 WORKLOAD=${PPD_BENCH_WORKLOAD:-} RESULTS=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) PACKAGES=40 TC=4000 ROUNDS=3 ;;
        *) bench_opt "$@"; shift $((BENCH_USED - 1)) ;;
    esac
    shift
done
bench_empty_trash

bench_need find=findutils sort=coreutils comm=coreutils python3=python3
RESULTS=${RESULTS:-$BENCH_WORK/results/file-list.md}
OUT=$BENCH_WORK/file-list
mkdir -p "$(dirname "$RESULTS")"
bench_build_ppd
bench_use_workload
PP=$WORKLOAD/per-package
STAGING=x86_64-buildroot-linux-gnu/sysroot

# The step with the most dependencies among the last 20 (a late, big package).
read -r PKG DEPS < <(tail -n 20 "$WORKLOAD/steps.txt" | awk '{ print NF, $0 }' | sort -n -s -k1,1 | tail -n 1 | cut -d' ' -f2-)
BP=$OUT/per-package
ME=$BP/bench
fresh() {
    bench_clean "$BP"
    rm -f "$OUT"/build/.files-list* "$OUT"/ppd/.files-list*
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

# One recipe line, run the way GNU make runs it in Buildroot: Buildroot sets
# SHELL to bash, and make passes every line of a recipe to `$(SHELL) -c`
# (it only execs simple lines itself when SHELL is /bin/sh).
recipe() {
    bash -c "$1"
}
# pkg_size_before: one recipe line per tree.
br_before() {
    local t d
    for t in "":"$ME/target" -staging:"$ME/host/$STAGING" -images:"$OUT/images" -host:"$ME/host"; do
        d=${t#*:}
        recipe "cd $(printf %q "$d"); LC_ALL=C find . -not -path './$STAGING/*' \( -type f -o -type l \) -printf '%T@:%i:%#m:%y:%s,%p\n' | LC_ALL=C sort > $(printf %q "$OUT/build/.files-list${t%%:*}.before")"
    done
}
# pkg_size_after: four recipe lines per tree (list, comm | sed, two rm -f).
br_after() {
    local t d f
    for t in "":"$ME/target" -staging:"$ME/host/$STAGING" -images:"$OUT/images" -host:"$ME/host"; do
        d=${t#*:} f=$(printf %q "$OUT/build/.files-list${t%%:*}")
        recipe "cd $(printf %q "$d"); LC_ALL=C find . -not -path './$STAGING/*' \( -type f -o -type l \) -printf '%T@:%i:%#m:%y:%s,%p\n' | LC_ALL=C sort > $f.after"
        recipe "LC_ALL=C comm -13 $f.before $f.after | sed -r -e 's/^[^,]+/bench/' > $f.txt"
        recipe "rm -f $f.before"
        recipe "rm -f $f.after"
    done
}
# The floor, compiled here (outside the timing), on as many threads as ppd.
FLOOR=$OUT/floor-list
mkdir -p "$OUT"
gcc -O2 -pthread -o "$FLOOR" "$BENCH_REPO/scripts/floor-list.c" || bench_die "cannot compile scripts/floor-list.c"
THREADS=$(nproc)
run_floor() {
    "$FLOOR" "$THREADS" "$ME/target" "$ME/host" > /dev/null
}
# ppd's one recipe line, also through bash -c.
run_ppd() {
    recipe "$(printf '%q ' "$PPD" file-list --per-package-dir "$BP" --pkg bench \
        --staging-subdir "$STAGING" --out-dir "$OUT/ppd" --overwrites ignore)"
}

TIMES=$OUT/times.tsv
: > "$TIMES"
for r in $(seq 1 "$ROUNDS"); do
    fresh
    bench_now a; br_before; bench_now b
    install
    bench_now bb; br_after; bench_now c
    printf 'file-list\tbuildroot-before\t%s\t%s\n' "$r" "$(bench_secs "$a" "$b")" >> "$TIMES"
    after=$(bench_secs "$bb" "$c")
    printf 'file-list\tbuildroot-after\t%s\t%s\n' "$r" "$after" >> "$TIMES"
    printf 'file-list\tbuildroot-total\t%s\t%s\n' "$r" "$(awk -v x="$(bench_secs "$a" "$b")" -v y="$after" 'BEGIN { printf "%.4f", x + y }')" >> "$TIMES"
    # ppd and the floor take turns going first: both read the same warm
    # trees, and neither always profits from the other's cache misses.
    order="ppd floor"
    [ $((r % 2)) = 0 ] && order="floor ppd"
    for m in $order; do
        bench_now a; "run_$m" || bench_die "$m failed"; bench_now b
        printf 'file-list\t%s\t%s\t%s\n' "$m" "$r" "$(bench_secs "$a" "$b")" >> "$TIMES"
    done
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
    echo "- command: scripts/bench-file-list.sh $ARGS"
    echo
    python3 "$BENCH_REPO/scripts/lib/bench-table.py" --times "$TIMES" --verify "$VERIFY" \
        --faster-than buildroot-total="the whole find/sort/comm method" \
        --faster-than buildroot-after="its after half" \
        --label ppd="ppd file-list" --label floor="raw floor (C)" --floor floor \
        --target file-list/ppd/buildroot-total/speedup/10 \
        --same-as "find/sort/comm"
} | tee "$RESULTS"
