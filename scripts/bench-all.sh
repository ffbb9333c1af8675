#!/usr/bin/env bash
# Runs every scripts/bench-*.sh benchmark one after the other (never two at
# once: they would disturb each other's timings) and collects their tables.
#
# One workload is generated first and shared (--workload DIR for benchmarks
# whose usage names that option, and PPD_BENCH_WORKLOAD in the environment), so
# benchmarks that use a generated PPD build don't each generate their own.
# Each benchmark's full output goes to bench-work/results/logs/<name>.log; its
# markdown (headings, bullet lines and table rows) is collected into
# bench-work/results/all.md, which is also printed.
#
# Usage: scripts/bench-all.sh [--quick] [--only NAME]...
#   --quick      smoke run: a small workload, and --quick for every benchmark
#                that understands it
#   --only NAME  run only bench-NAME.sh (repeatable)
set -u
. "$(dirname "$0")/lib/bench-common.sh"

QUICK= ONLY=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --only) ONLY+=("$2"); shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'; exit 0 ;;
        *) bench_die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
bench_empty_trash

if [ -n "$QUICK" ]; then
    PACKAGES=60 TC=1000
else
    PACKAGES=250 TC=4000
fi
RES=$BENCH_WORK/results
mkdir -p "$RES/logs"
if [ -z "${PPD_BENCH_WORKLOAD:-}" ]; then
    PPD_BENCH_WORKLOAD=$BENCH_WORK/workload-$PACKAGES-$TC-1
    bench_workload "$PPD_BENCH_WORKLOAD" "$PACKAGES" "$TC" 1
fi
export PPD_BENCH_WORKLOAD PPD_BENCH_WORK=$BENCH_WORK

ALL=$RES/all.md
{
    echo "## Benchmarks"
    echo
    echo "Run with \`scripts/bench-all.sh${QUICK:+ --quick}\`; shared workload $(basename "$PPD_BENCH_WORKLOAD")."
    bench_env
} > "$ALL"
failed=()
for script in "$BENCH_REPO"/scripts/bench-*.sh; do
    name=$(basename "$script" .sh)
    name=${name#bench-}
    [ "$name" = all ] && continue
    if [ ${#ONLY[@]} -gt 0 ] && [[ " ${ONLY[*]} " != *" $name "* ]]; then
        continue
    fi
    args=()
    # Pass what a benchmark understands (its usage text names the option).
    grep -q -- '--workload' "$script" && args+=(--workload "$PPD_BENCH_WORKLOAD")
    [ -n "$QUICK" ] && grep -q -- '--quick' "$script" && args+=(--quick)
    log=$RES/logs/$name.log
    echo "bench-all: running $(basename "$script") ${args[*]} (log: $log)"
    bench_now start
    bash "$script" "${args[@]}" > "$log" 2>&1
    rc=$?
    bench_now end
    secs=$(bench_secs "$start" "$end")
    echo "bench-all: $(basename "$script") exit $rc after $secs s"
    {
        echo
        echo "### $(basename "$script") (exit $rc, $secs s)"
        echo
        # The markdown the benchmark printed (headings, bullets, table rows),
        # with a blank line wherever a table starts or ends.
        awk '/^(#|\||- )/ && !/^### / {
                 t = /^\|/; if (n++ && t != prev) print ""; print; prev = t }
             END { if (!n) print "(no table printed; see the log)" }' "$log"
    } >> "$ALL"
    [ $rc -eq 0 ] || failed+=("$name")
done
echo
cat "$ALL"
if [ ${#failed[@]} -gt 0 ]; then
    echo "bench-all: failed or missed: ${failed[*]}" >&2
    exit 1
fi
