#!/bin/bash
# run-example.sh -- build ppd, then the built-in example with make -j$(nproc),
# and summarize: packages built, entries linked, time in ppd vs the build.
#
# Usage: scripts/run-example.sh [make arguments...]
#   e.g. scripts/run-example.sh PPD_BACKEND=rsync, or V=1, or app-fetch
# Environment: O (output directory, default example/output), JOBS (default
# nproc). The full make output is kept in $O/build.log.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/example/output}
JOBS=${JOBS:-$(nproc)}

# cargo does nothing if the binary is up to date.
PPD=$("$top/scripts/build-release.sh" --quiet)

mkdir -p "$O"
rm -f "$O/ppd-timing.log"
log=$O/build.log
marker=$O/.run-example-start
touch "$marker"
start=$EPOCHREALTIME
# -v makes every ppd call print its one-line stats on stderr (kept in the
# log, not shown: the build prints one '>>>' line per step).
status=0
make --no-print-directory -C "$top/example" O="$O" PPD="$PPD" -j"$JOBS" PPD_OPTS=-v "$@" 2>&1 \
	| tee "$log" | grep -Ev '^ppd [a-z-]+( --[a-z]+)?: .* [0-9.]+ m?s$' || status=$?
end=$EPOCHREALTIME
if [ "$status" != 0 ]; then
	echo "run-example: make failed; see $log" >&2
	exit "$status"
fi

wall_us=$(( ${end/./} - ${start/./} ))
built=$(find "$O/build" -name .stamp_installed -newer "$marker" | wc -l)
total=$(find "$O/build" -name .stamp_installed | wc -l)
# grep -o: under make -j two jobs' stats lines can share a line of the log.
linked=$({ grep -o 'ppd prepare: [0-9]* dependencies, [0-9]* linked' "$log" || true; } | awk '{s += $5} END {print s + 0}')
echo
echo "== example summary ($O, make -j$JOBS${*:+ $*})"
echo "packages:      $total installed, $built of them (re)built in this run"
echo "entries linked into per-package directories by ppd prepare: $linked"
if [ -s "$O/ppd-timing.log" ]; then
	# One line per command that ran: "ppd fixup-paths", or under
	# PPD_BACKEND=rsync the pipeline, e.g. "grep|file|sed (fixup-paths)".
	awk -v wall="$wall_us" '
		{ us = $NF; op = $0; sub(/ [0-9]+$/, "", op); t[op] += us; n[op]++; all += us }
		END {
			for (op in t)
				printf "  %-30s %4d calls %8.2f s\n", op, n[op], t[op] / 1e6 | "sort"
			close("sort")
			printf "time in ppd and PPD operations: %.2f s (summed over parallel jobs); whole build: %.2f s wall\n", all / 1e6, wall / 1e6
		}' "$O/ppd-timing.log"
else
	printf 'whole build: %.2f s wall (no PPD operation ran)\n' "$(echo "$wall_us / 1000000" | bc -l)"
fi
