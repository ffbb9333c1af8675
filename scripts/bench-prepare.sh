#!/usr/bin/env bash
# Whole-build replay of every prepare step of two workload shapes.
#
# Workloads (--workload default|distro|both, default both; 'wide' is distro):
#   default  scripts/gen-workload.py's synthetic Buildroot build (250
#            packages, 4.6 direct dependencies): each step "<pkg> <dep>..." of
#            its steps.txt fills a fresh DEST/<pkg>/{host,target} from the
#            finished per-package trees of the generated build.
#   distro   scripts/gen-distro.py's build derived from a real distribution's
#            file lists and dependency graph (scripts/workload-distro.xz: 761
#            steps, 1.25 M entries placed, one directory per 8 entries, up to
#            24 direct dependencies with heavily overlapping closures): the
#            build is chained as make runs it, each step preparing
#            DEST/<pkg>/{host,target} from DEST/<dep>/{host,target} (the trees
#            the same method produced earlier in the same replay, with their
#            manifests), then installing the package's own files (untimed).
# Methods, each one process (or loop) per step:
#   rsync         Buildroot's loop: per tree, mkdir -p, then one
#                 rsync -a --hard-links --link-dest=DEP/ DEP/ DEST per dependency
#   cp-al         the same loop with cp -al DEP/. DEST/
#   ppd           ppd prepare --no-manifest
#   ppd-manifest  ppd prepare (default: also writes the manifest)
#   floor         scripts/floor.c replaying precomputed mkdir/link/symlink lists
#   noop          a no-op command (true): what the replay loop itself costs
#   ppd-base, ppd-manifest-base
#                 with --baseline BIN: ppd and ppd-manifest run with BIN, an
#                 earlier build of ppd, in the same rounds (before/after)
# Only the prepare commands are timed (summed over the steps). Every method
# replays the whole build; rounds are interleaved (the method order rotates
# each round); destinations are cleared and synced between runs (untimed).
# The rsync loop, ~20x slower than the others, is timed in the first
# --rsync-rounds rounds only (default 0); otherwise it runs once, untimed,
# for the steps the correctness check compares (and, for distro, the steps
# they depend on), as the check's reference.
# Medians, ratios and, when rsync is among the methods, an untimed
# correctness check (results identical to rsync's: same inodes, symlink
# texts, directory modes and mtimes) are printed and written to the
# results file.
#
# Usage: scripts/bench-prepare.sh [--quick] [--rounds N] [--workload default|distro|both|DIR]
#            [--packages N] [--toolchain-files F] [--seed S] [--distro-packages N]
#            [--rsync-rounds N] [--results FILE]
#            [--methods "rsync cp-al ppd ppd-manifest floor noop"] [--baseline BIN] [--keep]
#   --workload DIR   the default workload, already generated in DIR
#   --quick          small builds of both shapes (60 and ~120 packages)
#   --packages, --toolchain-files, --seed: the default workload's generator
#   --distro-packages N: a distro build of about N packages (the closures of
#                    the widest packages; default all 761)
# The per-package directories of the distro workload are hard-linked from its
# generated files: PPD_BENCH_WORK must be on one file system.
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ARGS="$*"
ROUNDS=3 PACKAGES=250 TC=4000 SEED=1 WORKLOAD=${PPD_BENCH_WORKLOAD:-} RESULTS= KEEP= BASE=
WLS="default distro" DPACKAGES=0 RSYNC_ROUNDS=0
METHODS="rsync cp-al ppd ppd-manifest floor noop"
while [ $# -gt 0 ]; do
    case $1 in
        --quick) PACKAGES=60 TC=1000 DPACKAGES=120 ;;
        --workload)
            [ $# -ge 2 ] || bench_die "--workload needs a value"
            case $2 in
                default|distro) WLS=$2 ;;
                wide) WLS=distro ;;
                both) WLS="default distro" ;;
                *) WORKLOAD=$2 ;;
            esac
            shift ;;
        --distro-packages|--rsync-rounds)
            [[ ${2:-} =~ ^[0-9]+$ ]] || bench_die "$1 takes a whole number"
            if [ "$1" = --rsync-rounds ]; then RSYNC_ROUNDS=$2; else DPACKAGES=$2; fi
            shift ;;
        --methods) [ $# -ge 2 ] || bench_die "--methods needs a value"; METHODS=$2; shift ;;
        --baseline) [ $# -ge 2 ] || bench_die "--baseline needs a value"; BASE=$2; shift ;;
        --keep) KEEP=1 ;;
        *) bench_opt "$@"; shift $((BENCH_USED - 1)) ;;
    esac
    shift
done
bench_empty_trash

bench_need rsync=rsync cp=coreutils gcc=gcc python3=python3
RESULTS=${RESULTS:-$BENCH_WORK/results/prepare.md}
OUT=$BENCH_WORK/prepare
mkdir -p "$OUT" "$(dirname "$RESULTS")"
if [ -n "$BASE" ]; then
    bench_executable BASE "--baseline "
    METHODS="$METHODS ppd-base ppd-manifest-base"
fi
bench_build_ppd
NOOP=$(type -P true) || bench_die "no true command"

# The floor: compiled here, its plans precomputed outside the timing.
FLOOR=$OUT/floor
gcc -O2 -o "$FLOOR" "$BENCH_REPO/scripts/floor.c" || bench_die "cannot compile scripts/floor.c"
rm -rf "$OUT"/dest-* "$OUT"/plans "$OUT"/default "$OUT"/distro
sync

# Per workload: WL_DIR (the generated workload), WL_SRC (where the
# dependencies' trees are read: a directory, or empty for the replay's own
# destination), WL_PLANS (floor plans <i>.plan), WL_INSTALL (install plans,
# empty when steps install nothing), STEPS_<wl> (the lines of steps.txt).
declare -A WL_DIR WL_SRC WL_PLANS WL_INSTALL

setup_default() {
    bench_use_workload
    local dir=$WORKLOAD
    mkdir -p "$OUT/default"
    python3 "$BENCH_REPO/scripts/lib/floor-plan.py" --workload "$dir" --dest "$OUT/default/dest-floor" \
        --out "$OUT/default/plans" || bench_die "floor plans failed"
    WL_DIR[default]=$dir WL_SRC[default]=$dir/per-package WL_PLANS[default]=$OUT/default/plans
    WL_INSTALL[default]=
    mapfile -t STEPS_default < "$dir/steps.txt"
}

# The distro workload is generated once per description and generator and
# reused (the stamp is written last).
setup_distro() {
    local desc=$BENCH_REPO/scripts/workload-distro.xz gen=$BENCH_REPO/scripts/gen-distro.py
    local dir=$BENCH_WORK/distro-$DPACKAGES
    if [ -f "$dir/.generated" ] && [ "$dir/.generated" -nt "$gen" ] && [ "$dir/.generated" -nt "$desc" ]; then
        bench_say "reusing workload $dir"
    else
        [ -e "$dir" ] && rm -rf "$dir"
        bench_say "generating the distro workload in $dir (minutes on a busy disk)"
        python3 "$gen" --out "$dir" --description "$desc" --packages "$DPACKAGES" >&2 \
            || bench_die "distro workload generation failed"
        touch "$dir/.generated"
    fi
    mkdir -p "$OUT/distro"
    WL_DIR[distro]=$dir WL_SRC[distro]= WL_PLANS[distro]=$dir/plans WL_INSTALL[distro]=$dir/install
    mapfile -t STEPS_distro < "$dir/steps.txt"
}

for wl in $WLS; do
    "setup_$wl"
done
sync

# prep_METHOD SRC DEST PKG DEP...: one prepare step: DEST/PKG/{host,target}
# from SRC/DEP/{host,target}. $STEP is the step's number (%05d), $LOGDIR
# the workload's log directory.
prep_rsync() {
    local src=$1 dest=$2 pkg=$3 dep tree
    shift 3
    for tree in host target; do
        mkdir -p "$dest/$pkg/$tree"
        for dep; do
            rsync -a --hard-links --link-dest="$src/$dep/$tree/" "$src/$dep/$tree/" "$dest/$pkg/$tree" \
                || return 1
        done
    done
}

prep_cp-al() {
    local src=$1 dest=$2 pkg=$3 dep tree
    shift 3
    for tree in host target; do
        mkdir -p "$dest/$pkg/$tree"
        for dep; do
            cp -al "$src/$dep/$tree/." "$dest/$pkg/$tree/" || return 1
        done
    done
}

# ppd's conflict warnings (info/dir is rewritten by several packages) go to a
# log: writing them is part of the work, reading them is not.
prep_ppd_common() {
    local src=$1 dest=$2 pkg=$3 log=$LOGDIR/$PPD_LOG.log rc
    shift 3
    "$PPD" prepare --per-package-dir "$src" --host-dir "$dest/$pkg/host" \
        --target-dir "$dest/$pkg/target" $PPD_EXTRA "$@" 2>>"$log"
    rc=$?
    if [ $rc -ge 2 ]; then
        echo "bench: ppd prepare failed on step $pkg (exit $rc):" >&2
        tail -3 "$log" >&2
        return 1
    fi
}

prep_ppd() { PPD_LOG=ppd PPD_EXTRA=--no-manifest prep_ppd_common "$@"; }
prep_ppd-manifest() { PPD_LOG=ppd-manifest PPD_EXTRA= prep_ppd_common "$@"; }
prep_ppd-base() { PPD=$BASE PPD_LOG=ppd-base PPD_EXTRA=--no-manifest prep_ppd_common "$@"; }
prep_ppd-manifest-base() { PPD=$BASE PPD_LOG=ppd-manifest-base PPD_EXTRA= prep_ppd_common "$@"; }
prep_floor() { "$FLOOR" -C "$2" "$PLANS/$STEP.plan"; }
prep_noop() { "$NOOP"; }

# replay WL METHOD DEST [ONLY]: replays every step of workload WL with
# METHOD into the per-package directory DEST (which must not exist); the
# summed time of the prepare commands, in seconds, goes to $SECS. Steps of a
# workload that installs (distro) are followed by their install, untimed,
# except for noop. ONLY (a file of package names) limits the replay to
# those steps.
replay() {
    local wl=$1 m=$2 dest=$3 src=${WL_SRC[$1]:-$3} inst=${WL_INSTALL[$1]} line pkg i=0 t0 t1 ns=0
    local -n steps=STEPS_$wl
    local limit=${4:-}
    local -A only=()
    if [ -n "$limit" ]; then
        while read -r pkg; do only[$pkg]=1; done < "$limit"
    fi
    PLANS=${WL_PLANS[$wl]} LOGDIR=$OUT/$wl
    [ "$m" = noop ] && inst=
    : > "$LOGDIR/$m.log"
    mkdir -p "$dest"
    for line in "${steps[@]}"; do
        set -- $line
        pkg=$1
        shift
        printf -v STEP '%05d' "$i"
        i=$((i + 1))
        [ -n "$limit" ] && [ -z "${only[$pkg]:-}" ] && continue
        bench_now t0
        "prep_$m" "$src" "$dest" "$pkg" "$@" || return 1
        bench_now t1
        ns=$((ns + t1 - t0))
        if [ -n "$inst" ]; then
            "$FLOOR" -C "$dest" "$inst/$STEP.plan" || { echo "bench: install of $pkg failed" >&2; return 1; }
        fi
    done
    SECS=$(awk -v n="$ns" 'BEGIN { printf "%.4f", n / 1e9 }')
}

TIMES=$OUT/times.tsv
: > "$TIMES"
read -ra M <<< "$METHODS"
for wl in $WLS; do
    declare -n s=STEPS_$wl
    bench_say "$wl: ${#s[@]} prepare steps"
    unset -n s
done
bench_say "methods: ${M[*]}, $ROUNDS rounds (rsync timed in $RSYNC_ROUNDS)"
for ((r = 0; r < ROUNDS; r++)); do
    for wl in $WLS; do
        for ((k = 0; k < ${#M[@]}; k++)); do
            m=${M[(k + r) % ${#M[@]}]}
            [ "$m" = rsync ] && [ "$r" -ge "$RSYNC_ROUNDS" ] && continue
            dest=$OUT/$wl/dest-$m
            bench_clean "$dest"
            # Each replay caches the dentries and inodes of a whole build:
            # the next methods would otherwise start slower, round by round.
            bench_drop_caches "before every timed replay"
            replay "$wl" "$m" "$dest" || bench_die "method $m failed on workload $wl"
            printf '%s\t%s\t%d\t%s\n' "$wl" "$m" "$r" "$SECS" >> "$TIMES"
            bench_say "round $((r + 1))/$ROUNDS $wl $m: $SECS s"
        done
    done
done

# Untimed check: for the steps with the most dependencies, the last step and
# a few spread over the build (every 37th; distro: every 97th, whose
# reference needs every step they depend on), every method's trees must be
# identical to rsync's.
VERIFY=$OUT/verify.tsv
: > "$VERIFY"
if [[ " ${M[*]} " == *" rsync "* ]]; then
    for wl in $WLS; do
        steps=${WL_DIR[$wl]}/steps.txt
        spread=37
        [ -n "${WL_INSTALL[$wl]}" ] && spread=97
        picks=$(awk 'NF > 1 { print NF, NR, $1 }' "$steps" | sort -k1,1nr -k2,2n | head -3 | cut -d' ' -f3)
        picks+=" "$(awk 'NF > 1 { print $1 }' "$steps" | awk -v n=$spread 'NR % n == 5')
        picks+=" "$(awk 'NF > 1 && /(^| )toolchain( |$)/ { print $1 }' "$steps" | tail -1)
        picks+=" "$(awk 'NF > 1 { print $1 }' "$steps" | tail -1)
        picks=$(echo $picks | tr ' ' '\n' | awk '!seen[$0]++')
        if ! awk -v w="$wl" '$1 == w && $2 == "rsync" { f = 1 } END { exit !f }' "$TIMES"; then
            # The reference: those steps (distro: and their dependencies, in
            # build order), untimed.
            echo "$picks" > "$OUT/$wl/picks.txt"
            if [ -n "${WL_INSTALL[$wl]}" ]; then
                tac "$steps" | awk 'NR == FNR { want[$1] = 1; next }
                    $1 in want { print $1; for (i = 2; i <= NF; i++) want[$i] = 1 }' \
                    "$OUT/$wl/picks.txt" - > "$OUT/$wl/reference.txt"
            else
                cp "$OUT/$wl/picks.txt" "$OUT/$wl/reference.txt"
            fi
            bench_say "$wl: building the rsync reference ($(wc -l < "$OUT/$wl/reference.txt") steps, untimed)"
            bench_clean "$OUT/$wl/dest-rsync"
            replay "$wl" rsync "$OUT/$wl/dest-rsync" "$OUT/$wl/reference.txt" \
                || bench_die "the rsync reference failed on workload $wl"
        fi
        for m in "${M[@]}"; do
            [ "$m" = rsync ] || [ "$m" = noop ] && continue
            ok=0 n=0 bad=
            for pkg in $picks; do
                for tree in host target; do
                    n=$((n + 1))
                    if python3 "$BENCH_REPO/scripts/lib/treecmp.py" "$OUT/$wl/dest-rsync/$pkg/$tree" \
                        "$OUT/$wl/dest-$m/$pkg/$tree" > "$OUT/cmp.txt" 2>&1; then
                        ok=$((ok + 1))
                    else
                        bad+=" $pkg/$tree"
                        sed "s/^/bench: $wl $m: /" "$OUT/cmp.txt" | head -6 >&2
                    fi
                done
            done
            if [ -z "$bad" ]; then
                printf '%s\t%s\tyes (%d/%d trees)\n' "$wl" "$m" "$ok" "$n" >> "$VERIFY"
            else
                printf '%s\t%s\tNO: %d/%d trees differ (%s)\n' "$wl" "$m" $((n - ok)) "$n" "${bad# }" >> "$VERIFY"
            fi
        done
        printf '%s\trsync\t(reference)\n' "$wl" >> "$VERIFY"
    done
fi

targets=()
for wl in $WLS; do
    targets+=(--target="$wl/ppd-manifest/floor/within/1.1" --target="$wl/ppd-manifest/cp-al/speedup/2"
        --target="$wl/ppd/floor/within/1.1" --target="$wl/ppd/cp-al/speedup/2"
        --target="$wl/ppd-manifest/rsync/speedup/20")
    [ -n "$BASE" ] && targets+=(--target="$wl/ppd/ppd-base/within/1.05"
        --target="$wl/ppd-manifest/ppd-manifest-base/within/1.05")
done
{
    echo "### ppd prepare: whole-build replay of every prepare step"
    echo
    for wl in $WLS; do
        declare -n s=STEPS_$wl
        echo "- workload $wl: $(basename "${WL_DIR[$wl]}"), ${#s[@]} steps; $(sed -n '1p' "${WL_DIR[$wl]}/workload.txt");" \
            "$(sed -n 's/^prepare replay: //p' "${WL_DIR[$wl]}/workload.txt")"
        unset -n s
    done
    bench_env
    echo "- command: scripts/bench-prepare.sh $ARGS"
    echo "- times: the prepare commands only, summed over the steps (distro: each step's install untimed);" \
        "medians of $ROUNDS interleaved rounds (the rsync loop: timed in $RSYNC_ROUNDS)"
    [ -s "$VERIFY" ] ||
        echo "- correctness check against the rsync loop: not run (rsync is not among --methods)"
    echo
    python3 "$BENCH_REPO/scripts/lib/bench-table.py" --times "$TIMES" --verify "$VERIFY" \
        --label rsync="rsync loop (Buildroot)" --label cp-al="cp -al loop" \
        --label ppd="ppd prepare --no-manifest" --label ppd-manifest="ppd prepare (manifest)" \
        --label floor="raw floor (C)" --label noop="no-op command (replay overhead)" \
        --faster-than rsync="rsync" --faster-than cp-al="cp -al" --floor floor \
        --label ppd-base="ppd prepare --no-manifest (baseline)" \
        --label ppd-manifest-base="ppd prepare (manifest, baseline)" \
        "${targets[@]}"
    echo
    for wl in $WLS; do
        conflicts=$(grep -c 'conflict' "$OUT/$wl/ppd.log" 2>/dev/null)
        echo "- $wl: ppd reported ${conflicts:-0} conflicts in the last round (paths that several packages"
        echo "  install, such as share/info/dir; the rsync loop overwrites them silently)."
    done
} > "$RESULTS"
echo
cat "$RESULTS"
[ -n "$KEEP" ] || bench_clean "$OUT"/*/dest-*
grep -q 'NO:' "$VERIFY" && exit 1
exit 0
