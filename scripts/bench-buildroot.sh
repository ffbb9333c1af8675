#!/usr/bin/env bash
# The real Buildroot (the configuration of tests/buildroot: aarch64, the
# local packages of tests/buildroot/external, Debian's cross compiler as an
# external toolchain), built three ways:
#   stock   BR2_PER_PACKAGE_DIRECTORIES=y with Buildroot's own macros
#   ppd     BR2_PER_PACKAGE_DIRECTORIES=y with mk/buildroot.mk
#   noppd   without per-package directories (Buildroot's classic build)
# and timed for:
#   clean      a clean build (make -jJOBS from an empty output directory)
#   noop       a no-op make right after it
#   rebuild    make libalpha-rebuild, then make
# Every recipe line runs through scripts/lib/br-timeshell.sh (make's SHELL),
# which sums the time spent in per-package directory and instrumentation
# steps (prepare, fixup, finalize, file lists, check-bin-arch,
# check-host-rpath, fix-rpath; ppd's commands for the ppd build): the column
# "steps" of the clean build. It also records CPU time (user + system) of
# the steps' processes and of the whole make, a cross-check that does not
# depend on how busy the machine is: the "CPU share" columns. The three
# builds of a round run one after the other, their order rotating between
# rounds; the table gives medians. Each step line is kept with its command in
# $PPD_BENCH_WORK/buildroot/<mode>-<scenario>.timelog ("<step> <start> <end>
# <user> <sys> <command>"), for a breakdown by package.
#
# Usage: scripts/bench-buildroot.sh [--quick] [--rounds N] [--jobs J] [--keep]
#                                   [--modes "stock ppd noppd"]
#   --quick     one round
#   --rounds N  rounds (default 3)
#   --jobs J    make -jJ (default 2)
#   --keep      keep the last output directories
#   --modes M   the builds to run (default "stock ppd noppd"), e.g. "ppd"
#               to look at the drop-in alone
# Environment: BUILDROOT (a Buildroot tarball or tree, default
# ../shared/buildroot/buildroot-2026.05.1.tar.xz), PPD_BENCH_WORK, PPD (a
# ppd binary to use instead of building one with scripts/build-release.sh).
# Results: $PPD_BENCH_WORK/results/bench-buildroot.md (and stdout).
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ARGS="$*"
ROUNDS=3 JOBS=2 KEEP=
modes=(stock ppd noppd)
while [ $# -gt 0 ]; do
    case $1 in
        --quick) ROUNDS=1 ;;
        --rounds) ROUNDS=$2; shift ;;
        --jobs) JOBS=$2; shift ;;
        --keep) KEEP=1 ;;
        --modes) read -r -a modes <<< "$2"; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'; exit 0 ;;
        *) bench_die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
bench_empty_trash
BUILDROOT=${BUILDROOT:-$BENCH_REPO/../shared/buildroot/buildroot-2026.05.1.tar.xz}
[ -e "$BUILDROOT" ] || bench_die "no Buildroot at $BUILDROOT (set BUILDROOT to a Buildroot tarball or tree)"

if [ -n "${PPD:-}" ]; then
    [ -x "$PPD" ] || bench_die "PPD=$PPD is not executable"
    BENCH_PPD_FROM="given as PPD"
else
    bench_build_ppd
fi
W=$BENCH_WORK/buildroot
mkdir -p "$W" "$BENCH_WORK/results"
echo "bench: preparing Buildroot, toolchain and packages in $W"
BR=$(BUILDROOT=$BUILDROOT PPD=$PPD bash "$BENCH_REPO/tests/buildroot/run.sh" --work "$W" --setup-only) \
    || bench_die "setup failed"
timeshell=$BENCH_REPO/scripts/lib/br-timeshell.sh
alpha_version=$W/external/src/libalpha/version.h

# The configuration without per-package directories.
mkdir -p "$W/out-noppd-cfg"
grep -v '^BR2_PER_PACKAGE_DIRECTORIES=' "$W/config" > "$W/out-noppd-cfg/.config"
make -s -C "$BR" O="$W/out-noppd-cfg" BR2_EXTERNAL="$W/external" olddefconfig >/dev/null \
    || bench_die "olddefconfig failed"
grep -q '^# BR2_PER_PACKAGE_DIRECTORIES is not set' "$W/out-noppd-cfg/.config" \
    || bench_die "could not turn off per-package directories"
cp "$W/out-noppd-cfg/.config" "$W/config-noppd"
rm -rf "$W/out-noppd-cfg"

# brmake MODE OUT LOG TIMELOG ARGS...: one make, its wall time in $secs.
brmake() {
    local mode=$1 out=$2 log=$3 timelog=$4
    shift 4
    local extra=()
    [ "$mode" = ppd ] && extra=(PPDTEST_DROPIN="$BENCH_REPO/mk/buildroot.mk" PPD="$PPD")
    local t0 t1 c0 c1 rc=0
    # CPU time of the make and everything it ran: this shell's cutime +
    # cstime (clock ticks) before and after.
    read -r -a c0 < /proc/$BASHPID/stat
    bench_now t0
    # GIT_CEILING_DIRECTORIES: Buildroot's setlocalversion runs git in its
    # tree, which would otherwise find the enclosing project checkout.
    env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS LC_ALL=C GIT_CEILING_DIRECTORIES="$W" \
        BR_TIMELOG="$timelog" BR_PPD="$PPD" BR_TIMECMD=1 \
        make -C "$BR" O="$out" BR2_EXTERNAL="$W/external" SHELL="$timeshell" \
        "${extra[@]}" "$@" >> "$log" 2>&1 || rc=$?
    bench_now t1
    read -r -a c1 < /proc/$BASHPID/stat
    rm -f "$timelog".times.*
    secs=$(bench_secs "$t0" "$t1")
    cpusecs=$(awk -v a="$(( ${c1[15]} + ${c1[16]} - ${c0[15]} - ${c0[16]} ))" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", a / t }')
    [ "$rc" = 0 ] || bench_die "make $* ($mode) failed, see $log"
}

# steps TIMELOG: the summed seconds per step, "step=secs ..." and the total,
# then the CPU seconds (user + system) per step, "step@cpu=secs ...", and of
# all step lines, "cpu=secs".
steps() {
    awk '{ s[$1] += $3 - $2; t += $3 - $2; u[$1] += $4 + $5; c += $4 + $5 }
         END { for (k in s) printf "%s=%.2f %s@cpu=%.3f ", k, s[k], k, u[k]; printf "total=%.2f cpu=%.2f\n", t, c }' "$1" 2>/dev/null
}

raw=$W/raw.tsv
: > "$raw"
nmodes=${#modes[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < nmodes; i++)); do
        mode=${modes[$(((i + r - 1) % nmodes))]}
        out=$W/out-$mode
        bench_clean "$out"
        mkdir -p "$out"
        if [ "$mode" = noppd ]; then cp "$W/config-noppd" "$out/.config"; else cp "$W/config" "$out/.config"; fi
        echo '#define ALPHA_VERSION "1.0"' > "$alpha_version"
        log=$W/$mode.log
        : > "$log"
        load0=$(cut -d' ' -f1 /proc/loadavg)
        for scen in clean noop rebuild; do
            tl=$W/$mode-$scen.timelog
            : > "$tl"
            case $scen in
            clean) brmake "$mode" "$out" "$log" "$tl" -j"$JOBS"; s=$secs; cs=$cpusecs ;;
            noop) brmake "$mode" "$out" "$log" "$tl" -j"$JOBS"; s=$secs; cs=$cpusecs ;;
            rebuild)
                echo "#define ALPHA_VERSION \"1.$r\"" > "$alpha_version"
                # No -j: make before 4.4 ignores the .WAIT that orders the
                # rebuild's clean before its build.
                brmake "$mode" "$out" "$log" "$tl" libalpha-rebuild; s=$secs; cs=$cpusecs
                brmake "$mode" "$out" "$log" "$tl" -j"$JOBS"
                s=$(awk -v a="$s" -v b="$secs" 'BEGIN { printf "%.4f", a + b }')
                cs=$(awk -v a="$cs" -v b="$cpusecs" 'BEGIN { printf "%.2f", a + b }') ;;
            esac
            st=$(steps "$tl")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$mode" "$r" "$s" "$st" "$load0" "$cs" >> "$raw"
            echo "bench: round $r $mode $scen: ${s}s (CPU ${cs}s), steps: ${st//@cpu=/ cpu } (load $load0)"
            # Keep this round's step lines (the next round starts them anew).
            cp "$tl" "$W/$mode-$scen.round$r.timelog"
        done
    done
done
echo '#define ALPHA_VERSION "1.0"' > "$alpha_version"
[ -n "$KEEP" ] || bench_clean "$W/out-stock" "$W/out-ppd" "$W/out-noppd"

res=$BENCH_WORK/results/bench-buildroot.md
python3 - "$raw" "$ROUNDS" "$JOBS" "$ARGS" "$BENCH_LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" > "$res" <<'EOF'
import statistics, sys
raw, rounds, jobs, args, load0, load1 = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(raw) if l.strip()]
def med(xs):
    return statistics.median(xs) if xs else float("nan")
def parse_steps(s):
    d = {}
    for kv in s.split():
        k, v = kv.split("=")
        d[k] = float(v)
    return d
names = {"stock": "PPD, Buildroot's macros", "ppd": "PPD, mk/buildroot.mk", "noppd": "no per-package directories"}
modes = [m for m in names if any(r[1] == m for r in rows)]
def col(scen, m, f):
    return med([f(r) for r in rows if r[0] == scen and r[1] == m])
wall = lambda r: float(r[3])
cpu = lambda r: float(r[6])
stw = lambda r: parse_steps(r[4])["total"]
stc = lambda r: parse_steps(r[4])["cpu"]
print(f"Buildroot benchmark (scripts/bench-buildroot.sh {args}): {rounds} round(s), make -j{jobs}, medians.")
print(f"Load average at start {load0}, at end {load1}; per build at its start: "
      + ", ".join(f"{r[1]} {r[5]}" for r in rows if r[0] == "clean") + ".")
print()
print("| build | clean build (s) | PPD + instrumentation steps (s) | share of the build | no-op make (s) | rebuild libalpha + make (s) | steps in rebuild (s) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for m in modes:
    clean, steps = col("clean", m, wall), col("clean", m, stw)
    print(f"| {names[m]} | {clean:.1f} | {steps:.1f} | {100 * steps / clean:.1f}% | {col('noop', m, wall):.1f} | {col('rebuild', m, wall):.1f} | {col('rebuild', m, stw):.1f} |")
print()
print("CPU time (user + system) of the clean build, all processes of the make, and of its steps' processes:")
print()
print("| build | clean build CPU (s) | steps CPU (s) | CPU share of the build |")
print("|---|---:|---:|---:|")
for m in modes:
    c, sc = col("clean", m, cpu), col("clean", m, stc)
    print(f"| {names[m]} | {c:.1f} | {sc:.1f} | {100 * sc / c:.1f}% |")
if "ppd" in modes and "stock" in modes:
    print()
    print(f"mk/buildroot.mk's steps against Buildroot's macros': {100 * col('clean', 'ppd', stw) / col('clean', 'stock', stw):.1f}% of the wall time, "
          f"{100 * col('clean', 'ppd', stc) / col('clean', 'stock', stc):.1f}% of the CPU time.")
if "ppd" in modes and "noppd" in modes:
    print(f"Clean build with mk/buildroot.mk against no per-package directories: {col('clean', 'ppd', wall):.1f} s against {col('clean', 'noppd', wall):.1f} s wall, "
          f"{col('clean', 'ppd', cpu):.1f} s against {col('clean', 'noppd', cpu):.1f} s CPU.")
print()
print("Steps of the clean build (median seconds, summed over both jobs):")
print()
keys = sorted({k for r in rows if r[0] == "clean" for k in parse_steps(r[4]) if k not in ("total", "cpu") and "@" not in k})
print("| build | " + " | ".join(keys) + " |")
print("|---|" + "---:|" * len(keys))
for m in modes:
    vals = [f"{col('clean', m, lambda r: parse_steps(r[4]).get(k, 0.0)):.2f}" for k in keys]
    print(f"| {names[m]} | " + " | ".join(vals) + " |")
print()
print("CPU time (user + system) of the steps of the clean build, by step (median seconds):")
print()
print("| build | " + " | ".join(keys) + " |")
print("|---|" + "---:|" * len(keys))
for m in modes:
    vals = [f"{col('clean', m, lambda r: parse_steps(r[4]).get(k + '@cpu', 0.0)):.3f}" for k in keys]
    print(f"| {names[m]} | " + " | ".join(vals) + " |")
EOF
{ echo; bench_env; echo "- make: $(make --version | head -1), Buildroot: $BR"; } >> "$res"
cat "$res"
echo "bench: results in $res, raw runs in $raw"
