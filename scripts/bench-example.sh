#!/bin/bash
# bench-example.sh -- whole-build wall time of the built-in example, and the
# time spent in its PPD operations, for:
#   PPD + ppd    make -j$(nproc), per-package directories, PPD_BACKEND=ppd
#   PPD + rsync  make -j$(nproc), per-package directories, Buildroot's own
#                rsync / grep | file | sed macros (PPD_BACKEND=rsync)
#   non-PPD      make, one global host/ and target/ (.NOTPARALLEL: serial)
#   PPD + drop-in (with --dropin) make -j$(nproc), Buildroot's macros as
#                redefined by mk/buildroot.mk
# Each configuration is built from scratch RUNS times (rounds interleaved,
# the order rotating); the table shows medians. "PPD operations" sums the
# wall time of every prepare, path fixup and final merge (over parallel
# jobs); file lists and RPATH steps run in every configuration and are shown
# apart. Downloads are shared (warmed by an untimed first build), as a
# Buildroot dl/ directory would be. SETTLE (default 3) seconds of rest
# before each build let the disk finish deleting the previous output.
#
# Usage: scripts/bench-example.sh [--quick] [--runs N] [--jobs N] [--toolchain-files N]
#            [--dropin] [--no-doc]
#   --quick   a smoke run: 1 round, a 300-file toolchain, docs left alone
# Needs make, gcc, rsync, file and tac: installed with apt-get (--no-remove)
# when run as root, else named.
# Writes the table to stdout and, unless --no-doc, into docs/example.md
# between the bench-example markers.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
ARGS="$*"
RUNS=3 JOBS=$(nproc) TC=3000 DROPIN= DOC=1
while [ $# -gt 0 ]; do
	case $1 in
	--quick) RUNS=1 TC=300 DOC= ;;
	--runs) RUNS=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--toolchain-files) TC=$2; shift ;;
	--dropin) DROPIN=1 ;;
	--no-doc) DOC= ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d'; exit 0 ;;
	*) echo "bench-example: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
. "$top/scripts/lib/bench-common.sh"
bench_empty_trash
bench_need make=make gcc=gcc rsync=rsync file=file tac=coreutils

PPD=$("$top/scripts/build-release.sh" --quiet)
work=${BENCH_WORK:-$top/bench-work/example}
mkdir -p "$work"
dl=$work/dl

configs=(ppd rsync nonppd)
[ -n "$DROPIN" ] && configs+=(dropin)
label() {
	case $1 in
	ppd) echo "PPD + ppd, make -j$JOBS" ;;
	rsync) echo "PPD + rsync macros, make -j$JOBS" ;;
	dropin) echo "PPD + mk/buildroot.mk, make -j$JOBS" ;;
	nonppd) echo "non-PPD, serial make" ;;
	esac
}
args() {
	case $1 in
	ppd) echo "-j$JOBS PER_PACKAGE=y PPD_BACKEND=ppd" ;;
	rsync) echo "-j$JOBS PER_PACKAGE=y PPD_BACKEND=rsync" ;;
	dropin) echo "-j$JOBS PER_PACKAGE=y PPD_BACKEND=buildroot" ;;
	nonppd) echo "PER_PACKAGE=n" ;;
	esac
}

# build CONFIG: a clean build; prints "wall_us ppd_ops_us other_us"
build() {
	local o=$work/out-$1 s e
	# Deleting the previous output (170,000 entries with ppd) keeps the disk
	# busy well after rm returns; builds started right away ran up to twice
	# as slow here. Let it settle, untimed.
	rm -rf "$o"
	sync
	sleep "${SETTLE:-3}"
	s=$EPOCHREALTIME
	# shellcheck disable=SC2046
	make -C "$top/example" O="$o" PPD="$PPD" DL_DIR="$dl" EXAMPLE_TOOLCHAIN_FILES="$TC" \
		$(args "$1") >"$work/$1.log" 2>&1 ||
		{ echo "bench-example: $1 build failed, see $work/$1.log" >&2; exit 1; }
	e=$EPOCHREALTIME
	awk -v wall=$(( ${e/./} - ${s/./} )) '
		$1 == "prepare" || $1 == "fixup-paths" || $1 == "finalize" { ops += $2; next }
		{ other += $2 }
		END { printf "%d %d %d\n", wall, ops, other }' "$o/ppd-timing.log"
}

echo "bench-example: warm-up build (downloads, page cache)" >&2
build ppd >/dev/null
declare -A results
for ((r = 0; r < RUNS; r++)); do
	n=${#configs[@]}
	for ((i = 0; i < n; i++)); do
		c=${configs[(i + r) % n]}
		res=$(build "$c")
		echo "bench-example: round $((r + 1))/$RUNS $c: $res (wall, PPD ops, other ops; us)" >&2
		results[$c]+="$res"$'\n'
	done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { printf '%s' "${results[$1]}" | awk -v c="$2" 'NF { print $c }' | median; }
secs() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1e6 }'; }

base=$(col nonppd 1)
ppd_ops=$(col ppd 2)
table=$(
	echo "| build ($(nproc) cores, toolchain of $TC headers, median of $RUNS) | wall | vs non-PPD | PPD operations | file lists + RPATH steps |"
	echo "|---|---:|---:|---:|---:|"
	for c in "${configs[@]}"; do
		wall=$(col "$c" 1) ops=$(col "$c" 2) other=$(col "$c" 3)
		ratio=$(awk -v a="$wall" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')
		if [ "$c" = nonppd ]; then opscell="-"; else opscell="$(secs "$ops") s"; fi
		[ "$c" = rsync ] && opscell="$opscell ($(awk -v a="$ops" -v b="$ppd_ops" 'BEGIN { printf "%.1fx ppd", a / b }'))"
		echo "| $(label "$c") | $(secs "$wall") s | $ratio | $opscell | $(secs "$other") s |"
	done
)
echo "$table"

doc=$top/docs/example.md
if [ -n "$DOC" ] && [ -f "$doc" ] && grep -q '<!-- bench-example:begin -->' "$doc"; then
	{
		sed '/<!-- bench-example:begin -->/q' "$doc"
		echo
		echo "Measured $(date -u +%Y-%m-%d) with \`scripts/bench-example.sh${ARGS:+ $ARGS}\`:"
		echo
		echo "$table"
		echo
		sed -n '/<!-- bench-example:end -->/,$p' "$doc"
	} >"$doc.tmp" && mv "$doc.tmp" "$doc"
	echo "bench-example: table written to $doc" >&2
fi
