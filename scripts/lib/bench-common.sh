# Shared helpers for the scripts/bench-*.sh benchmarks (sourced, not run).
#
# Conventions every benchmark follows:
#   * the work directory is $PPD_BENCH_WORK (default <repo>/bench-work, which
#     git ignores); generated workloads and destinations live there;
#   * a workload is generated once by scripts/gen-workload.py and reused
#     (PPD_BENCH_WORKLOAD=DIR or --workload DIR names one explicitly);
#   * every timed run is a line "<scenario>\t<method>\t<round>\t<seconds>" and
#     scripts/lib/bench-table.py turns those into the markdown table;
#   * results go to $PPD_BENCH_WORK/results/<name>.md and are also printed.

BENCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_WORK=${PPD_BENCH_WORK:-$BENCH_REPO/bench-work}
BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

bench_die() {
    echo "bench: $*" >&2
    exit 2
}

# Progress lines go to stderr, unbuffered, as they happen: stdout carries
# the results table (and may be a pipe read only at the end).
bench_say() {
    echo "bench: $*" >&2
}

# bench_opt "$@": one of the options every workload benchmark takes, at the
# front of the arguments: --rounds N, --workload DIR, --packages N,
# --toolchain-files F, --seed S, --results FILE, -h/--help (the script's
# header comment). Sets ROUNDS, WORKLOAD, PACKAGES, TC, SEED or RESULTS, and
# BENCH_USED to the number of words used; anything else is a usage error.
bench_opt() {
    local var=
    case $1 in
        --rounds) var=ROUNDS ;;
        --workload) var=WORKLOAD ;;
        --packages) var=PACKAGES ;;
        --toolchain-files) var=TC ;;
        --seed) var=SEED ;;
        --results) var=RESULTS ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'; exit 0 ;;
        *) bench_die "unknown argument $1 (see --help)" ;;
    esac
    [ $# -ge 2 ] || bench_die "$1 needs a value (see --help)"
    case $var in
        ROUNDS|PACKAGES|TC|SEED)
            [[ $2 =~ ^[0-9]+$ ]] || bench_die "$1 takes a whole number, not '$2'"
            ;;
    esac
    printf -v "$var" '%s' "$2"
    BENCH_USED=2
}

# bench_use_workload: makes WORKLOAD (the --workload or PPD_BENCH_WORKLOAD
# directory, or empty) the absolute path of a complete generated workload:
# a given directory holding steps.txt is used as it is; otherwise the
# workload of PACKAGES, TC and SEED is generated (or reused) there, or under
# the work directory.
bench_use_workload() {
    local given=$WORKLOAD
    WORKLOAD=${WORKLOAD:-$BENCH_WORK/workload-$PACKAGES-$TC-$SEED}
    WORKLOAD=$(mkdir -p "$(dirname "$WORKLOAD")" && cd "$(dirname "$WORKLOAD")" && pwd)/$(basename "$WORKLOAD")
    if [ -n "$given" ] && [ -f "$WORKLOAD/steps.txt" ]; then
        bench_say "using workload $WORKLOAD"
    else
        bench_workload "$WORKLOAD" "$PACKAGES" "$TC" "$SEED"
    fi
}

# Makes sure the tools a benchmark runs are there: bench_need TOOL=PACKAGE...
# (the Debian package that provides each). Missing ones are installed with
# apt-get (never removing anything) when running as root on a Debian-like
# system; otherwise the benchmark stops, naming what to install.
bench_need() {
    local spec tool missing=() pkgs=()
    for spec in "$@"; do
        tool=${spec%%=*}
        command -v "$tool" >/dev/null 2>&1 && continue
        missing+=("$tool")
        pkgs+=("${spec#*=}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench: installing ${pkgs[*]} (for ${missing[*]})" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-remove \
            --no-install-recommends "${pkgs[@]}" >/dev/null \
            || bench_die "apt-get could not install ${pkgs[*]}"
        for tool in "${missing[@]}"; do
            command -v "$tool" >/dev/null 2>&1 || bench_die "$tool is still missing after installing ${pkgs[*]}"
        done
        return 0
    fi
    bench_die "needs ${missing[*]}: install ${pkgs[*]} (e.g. apt-get install --no-remove ${pkgs[*]})"
}

# Stores the wall clock in nanoseconds into the variable named $1, from
# bash's EPOCHREALTIME: no date process, and no command substitution, whose
# fork would add about a millisecond to every interval.
bench_now() {
    local t=${EPOCHREALTIME/./}
    printf -v "$1" '%s000' "$t"
}

# Seconds between two bench_now values, with 0.1 ms resolution.
bench_secs() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b - a) / 1e9 }'
}

# bench_executable VAR WHAT: the executable file named by $VAR (given as
# WHAT, for the error), made absolute in VAR, since the benchmarks run it
# from other directories.
bench_executable() {
    local p=${!1}
    [ -f "$p" ] && [ -x "$p" ] || bench_die "$2$p is not an executable"
    printf -v "$1" '%s' "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
}

# Builds the release binary as scripts/build-release.sh does (statically
# linked on glibc) and sets PPD to it; PPD_BENCH_PPD=BIN uses that binary
# instead (one built earlier, or elsewhere).
bench_build_ppd() {
    if [ -n "${PPD_BENCH_PPD:-}" ]; then
        PPD=$PPD_BENCH_PPD
        BENCH_PPD_FROM="given as PPD_BENCH_PPD"
        bench_executable PPD PPD_BENCH_PPD=
        return
    fi
    command -v cargo >/dev/null || bench_die "needs cargo (a Rust toolchain, e.g. from rustup.rs), or PPD_BENCH_PPD=BIN"
    bench_say "building the release binary (scripts/build-release.sh)"
    PPD=$("$BENCH_REPO/scripts/build-release.sh" --quiet) || bench_die "scripts/build-release.sh failed"
    [ -x "$PPD" ] || bench_die "no binary at $PPD"
}

# bench_workload DIR PACKAGES TOOLCHAIN_FILES SEED: makes sure DIR holds a
# complete workload generated by the current generator (workload.txt is written
# last, so its presence means the generation finished).
bench_workload() {
    local dir=$1 packages=$2 tc=$3 seed=$4
    local gen=$BENCH_REPO/scripts/gen-workload.py
    # The generator gives every file it writes a fixed mtime, workload.txt
    # included, so a stamp written afterwards tells whether it is current.
    if [ -f "$dir/.generated" ] && [ "$dir/.generated" -nt "$gen" ]; then
        bench_say "reusing workload $dir"
        return
    fi
    [ -e "$dir" ] && rm -rf "$dir"
    bench_say "generating workload in $dir ($packages packages, $tc toolchain files, seed $seed;" \
        "minutes for the full size on a busy disk, progress below)"
    python3 "$gen" --out "$dir" --packages "$packages" --toolchain-files "$tc" --seed "$seed" >&2 \
        || bench_die "workload generation failed"
    touch "$dir/.generated"
}

# Clears destinations between timed runs without deleting them: the trees
# are renamed into $BENCH_WORK/trash (one rename, not a million unlinks) and
# deleted when the next benchmark script starts, before anything is timed.
# Deleting large trees between runs made the next run's mkdir and symlink
# calls slower and slower on this machine's ext4 (mounted with discard),
# for ppd and the floor more than for rsync, which skewed every ratio.
bench_clean() {
    local d
    mkdir -p "$BENCH_WORK/trash"
    BENCH_TRASHED=1
    for d in "$@"; do
        [ -e "$d" ] || continue
        mv "$d" "$(mktemp -d "$BENCH_WORK/trash/XXXXXX")/" || rm -rf "$d"
    done
    sync
}

# A whole-build replay moves gigabytes aside; say where they are when the
# script ends (a script with an EXIT trap of its own replaces this one).
bench_left_behind() {
    [ -n "${BENCH_TRASHED:-}" ] && [ -d "$BENCH_WORK/trash" ] || return 0
    bench_say "the trees this run moved aside stay in $BENCH_WORK/trash until the next" \
        "benchmark starts; rm -rf it to free the space now"
}
trap bench_left_behind EXIT

# Deletes what earlier runs left in the trash, then lets the disk settle.
# Each benchmark calls it once its options are read, so that --help or a
# mistyped option returns at once instead of after deleting gigabytes.
bench_empty_trash() {
    if [ -d "$BENCH_WORK/trash" ]; then
        bench_say "deleting what earlier runs left in $BENCH_WORK/trash"
        rm -rf "$BENCH_WORK/trash"
        sync
        sleep "${PPD_BENCH_SETTLE:-5}"
    fi
}

# bench_drop_caches [WHEN]: empties the dentry and inode caches (as root;
# otherwise does nothing); WHEN (default "at start") is what the results
# say. Trees that earlier runs moved aside fill them, and a run then slows
# down unevenly, method by method (docs/bench.md, "Long benchmark
# sessions"): every benchmark starts from emptied caches.
BENCH_CACHES="kept (not root)"
bench_drop_caches() {
    [ "$(id -u)" = 0 ] || return 0
    sync
    echo 2 > /proc/sys/vm/drop_caches 2>/dev/null && BENCH_CACHES="emptied ${1:-at start}"
}
bench_drop_caches

# A few lines describing the machine, for the results file.
bench_env() {
    local fs
    fs=$(df -T "$BENCH_WORK" 2>/dev/null | awk 'NR == 2 { print $2 }')
    echo "- machine: $(nproc) cores, $(uname -sr), $fs file system under $BENCH_WORK"
    echo "- load average (1, 5, 15 min) at start: $BENCH_LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- tools: $(rsync --version | head -1 | sed 's/  */ /g'), $(cp --version | head -1)"
    local linked=dynamically
    ldd "${PPD:-/nonexistent}" 2>&1 | grep -q "statically linked" && linked=statically
    echo "- ppd: ${PPD#"$BENCH_REPO"/}, ${BENCH_PPD_FROM:-built by scripts/build-release.sh} ($linked linked)"
    echo "- dentry and inode caches: $BENCH_CACHES"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
}
