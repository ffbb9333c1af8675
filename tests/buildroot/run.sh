#!/usr/bin/env bash
# run.sh -- ppd against the real Buildroot: build the same per-package
# directory configuration (BR2_PER_PACKAGE_DIRECTORIES=y, aarch64, the
# local packages of a BR2_EXTERNAL tree) with Buildroot's own macros and
# with ppd's mk/buildroot.mk, compare the results, then run the everyday
# workflows on the ppd build.
#
# Usage: tests/buildroot/run.sh [--work DIR] [--jobs N] [--setup-only]
#                               [--external DIR [--defconfig FILE]]
#   --work DIR  where everything goes (default: target/buildroot-test);
#               the ppd build's output directory, DIR/out, is kept for
#               inspection (e.g. ppd check-rpath --audit on it)
#   --jobs N    make -jN (default 2)
#   --setup-only  only prepare DIR (Buildroot, toolchain, external tree,
#               DIR/config), as scripts/bench-buildroot.sh does
#   --workflows-only  skip the two builds and their comparison: run the
#               workflows on the ppd build a previous run left in DIR/out
#   --external DIR  the BR2_EXTERNAL tree to build (default:
#               tests/buildroot/external, the full workflows); another tree
#               (tests/buildroot/external2) gets the comparisons, a no-op
#               make and the workflows of its DIR/workflows.sh
#   --defconfig FILE  its configuration, with @TOOLCHAIN@, @OVERRIDES@ and
#               @EXTERNAL@ filled in (default: tests/buildroot/defconfig.in
#               for the default tree, DIR/../defconfig<N>.in for
#               tests/buildroot/external<N>)
# Environment:
#   PPD           the ppd binary (default: target/debug/ppd)
#   BUILDROOT     a Buildroot source tarball or tree (default:
#                 ../shared/buildroot/buildroot-2026.05.1.tar.xz)
#   PPD_BR_PENDING
#                 space-separated names of checks whose failure is reported
#                 as PENDING instead of failing the run: checks of what
#                 mk/buildroot.mk and ppd do not do yet. Default: empty,
#                 every check enforced. Names: reconfigure-own (a
#                 reconfigured package's files it no longer installs leave
#                 its own trees), trees, lists, logs, file-list,
#                 bin-arch, host-rpath, fix-rpath (a stock command in the
#                 ppd build's log), audit, noop, rebuild, rebuild-inplace,
#                 outdated, reconfigure, conflict, dirclean, make,
#                 make-n (make -n on a fresh, a partial and the finished
#                 output: the exit status and the changes of Buildroot's
#                 own make -n on the same state with its own macros, no
#                 ppd error; on the finished one every ppd operation it
#                 prints is one the following make performs).
# Prints progress on stderr; exits 0 when every enforced check passes,
# 1 when one fails, 2 on a setup error.
set -euo pipefail

# Everything runs inside main, which bash reads whole before running it: an
# edit of this file during a run cannot change the running script.
main() {
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/buildroot
work=$top/target/buildroot-test
jobs=2
setup_only=
workflows_only=
external=
defconfig=
while [ $# -gt 0 ]; do
    case "$1" in
    --work) work=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --setup-only) setup_only=1; shift ;;
    --workflows-only) workflows_only=1; shift ;;
    --external) external=$2; shift 2 ;;
    --defconfig) defconfig=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
PPD=${PPD:-$top/target/debug/ppd}
external=${external:-$here/external}
[ -d "$external" ] || { echo "run.sh: no BR2_EXTERNAL tree at $external" >&2; exit 2; }
external=$(cd "$external" && pwd)
if [ -z "$defconfig" ]; then
    case "$external" in
    "$here/external") defconfig=$here/defconfig.in ;;
    *) defconfig=$external/../defconfig${external##*/external}.in ;;
    esac
fi
[ -f "$defconfig" ] || { echo "run.sh: no configuration at $defconfig" >&2; exit 2; }
# The default tree gets the full workflows below; another one its own.
extra_workflows=
[ "$external" = "$here/external" ] || extra_workflows=$external/workflows.sh
# The package a build stops at for the make -n on a partial output: the
# default tree's libbeta (mid-graph), another tree's DIR/partial-target if
# it names one; without one, each build runs in one part and that check is
# left out.
partial=
if [ "$external" = "$here/external" ]; then
    partial=libbeta
elif [ -f "$external/partial-target" ]; then
    partial=$(cat "$external/partial-target")
fi
BUILDROOT=${BUILDROOT:-$top/../shared/buildroot/buildroot-2026.05.1.tar.xz}
# Checks of mk/buildroot.mk's parts still to come (see the header).
PPD_BR_PENDING=${PPD_BR_PENDING-}

say() { echo "br-test: $*" >&2; }
die() { echo "br-test: $*" >&2; exit 2; }
failed=0
pending_hit=0
# check NAME DESCRIPTION COMMAND...: runs COMMAND; a failure fails the run,
# or is reported as PENDING when NAME is in PPD_BR_PENDING.
check() {
    local name=$1 desc=$2
    shift 2
    local output rc=0
    output=$("$@" 2>&1) || rc=$?
    if [ "$rc" = 0 ]; then
        case " $PPD_BR_PENDING " in
        *" $name "*) say "ok      $desc (listed as pending: '$name' can leave PPD_BR_PENDING)" ;;
        *) say "ok      $desc" ;;
        esac
        return 0
    fi
    case " $PPD_BR_PENDING " in
    *" $name "*)
        say "PENDING $desc [$name]"
        pending_hit=$((pending_hit + 1)) ;;
    *)
        say "FAIL    $desc [$name]"
        failed=$((failed + 1)) ;;
    esac
    printf '%s\n' "$output" | head -20 | sed 's/^/br-test:         /' >&2
    return 0
}

[ -x "$PPD" ] || die "no ppd binary at $PPD (build it, or set PPD)"
for t in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ rsync patchelf pkg-config file bc cpio \
    unzip perl python3 make gcc g++; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
done

mkdir -p "$work"
work=$(cd "$work" && pwd)
logs=$work/logs
if [ -n "$workflows_only" ]; then
    [ -d "$work/out/per-package" ] || die "no ppd build in $work/out"
    rm -rf "$work/external" "$work/hostpkg"
else
    rm -rf "$logs" "$work/out" "$work/out-stock" "$work/external" "$work/hostpkg"
fi
mkdir -p "$logs"

# --- Buildroot, toolchain, external tree -----------------------------------
br=$work/buildroot
if [ -d "$BUILDROOT" ]; then
    br=$(cd "$BUILDROOT" && pwd)
elif [ -f "$BUILDROOT" ]; then
    stamp=$(stat -c '%s-%Y' "$BUILDROOT")
    if [ "$(cat "$br/.ppd-extracted" 2>/dev/null)" != "$stamp" ]; then
        say "extracting $BUILDROOT"
        rm -rf "$br"
        mkdir -p "$br"
        tar -xf "$BUILDROOT" -C "$br" --strip-components=1
        echo "$stamp" > "$br/.ppd-extracted"
    fi
else
    die "no Buildroot at $BUILDROOT"
fi
[ -f "$br/package/pkg-generic.mk" ] || die "$br is not a Buildroot tree"
bash "$here/toolchain.sh" "$work/toolchain"
cp -a "$external" "$work/external"
cp -a "$here/hostpkg" "$work/"
# Sources get one fixed timestamp, so files installed with their timestamp
# preserved (install -p, cp -p) have the same mtime in both builds.
find "$work/external" "$work/hostpkg" -exec touch -h -d @1700000000 {} +
cat > "$work/overrides.mk" <<EOF
PATCHELF_OVERRIDE_SRCDIR = $work/hostpkg/patchelf
TAR_OVERRIDE_SRCDIR = $work/hostpkg/tar
FAKEROOT_OVERRIDE_SRCDIR = $work/hostpkg/fakeroot
PKGCONF_OVERRIDE_SRCDIR = $work/hostpkg/pkgconf
override HOST_FAKEROOT_DEPENDENCIES =
override HOST_FAKEROOT_AUTORECONF = NO
override HOST_MKPASSWD_DEPENDENCIES =
EOF
sed -e "s:@TOOLCHAIN@:$work/toolchain:" -e "s:@OVERRIDES@:$work/overrides.mk:" \
    -e "s:@EXTERNAL@:$work/external:g" "$defconfig" > "$work/defconfig"

out=$work/out
dropin=(PPDTEST_DROPIN="$top/mk/buildroot.mk" PPD="$PPD")
# brmake LOG ARGS...: one make of Buildroot into $out; output in LOG.
# GIT_CEILING_DIRECTORIES: Buildroot's setlocalversion runs git in its
# tree, which would find the enclosing project checkout (work dirs live in
# its target/): the version in os-release would then follow the checkout's
# state between the two builds, and git update-index would touch its index.
# brmake -a LOG ARGS...: the same, appending to LOG.
brmake() {
    local append=
    if [ "$1" = -a ]; then append=1; shift; fi
    local log=$1
    shift
    [ -n "$append" ] || : > "$log"
    local t0=$EPOCHREALTIME rc=0
    env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS LC_ALL=C GIT_CEILING_DIRECTORIES="$work" \
        make -C "$br" O="$out" BR2_EXTERNAL="$work/external" "$@" >> "$log" 2>&1 || rc=$?
    local t1=$EPOCHREALTIME
    say "  make $* ($(basename "$log")): $(( (${t1/./} - ${t0/./}) / 1000 )) ms, exit $rc"
    return $rc
}

# --- make -n ------------------------------------------------------------------
# Real Buildroot's own make -n is neither silent nor harmless: make
# remakes its included makefiles (.br2-external.*) and runs every recipe
# line that mentions $(MAKE) (the '+' lines), which on a fresh or partial
# output includes a few install lines (ifupdown-scripts' target files, the
# host-skeleton 'ln -snf') and a sub-make of a package not extracted yet,
# which fails ("No such file or directory. Stop.", exit 2). So each make -n
# of the ppd build is held against the stock build's make -n on the same
# state: the same exit status and failing target, nothing changed that
# the stock one does not change, and no ppd error.
# snap_n: every entry under $out: path, type, inode, link count, size, mode,
# nanosecond mtime and ctime, symlink target.
nstate=$work/make-n
snap_n() {
    [ -d "$out" ] || return 0
    (cd "$out" && find . -printf '%p\t%y %i %n %s %m %T@ %C@ %l\n' | LC_ALL=C sort)
}
# make_n NAME ARGS...: make -n ARGS on $out; keeps its exit status, failing
# targets and the paths it changed in $nstate/NAME.*.
make_n() {
    local name=$1 rc=0
    shift
    mkdir -p "$nstate"
    snap_n > "$nstate/$name.before"
    brmake "$logs/make-n-$name.log" -n "$@" || rc=$?
    snap_n > "$nstate/$name.after"
    echo "$rc" > "$nstate/$name.rc"
    grep '^make: \*\*\*' "$logs/make-n-$name.log" > "$nstate/$name.failed" || true
    diff "$nstate/$name.before" "$nstate/$name.after" | sed -n 's/^[<>] \([^\t]*\)\t.*/\1/p' \
        | LC_ALL=C sort -u > "$nstate/$name.changed" || true
}
# as_stock NAME: the ppd build's make -n (ppd-NAME) next to the stock one's
# (stock-NAME).
as_stock() {
    local s=$nstate/stock-$1 p=$nstate/ppd-$1 bad=0
    [ -e "$s.rc" ] || { echo "no stock make -n '$1' recorded in $nstate"; return 1; }
    if [ "$(cat "$p.rc")" != "$(cat "$s.rc")" ]; then
        echo "exit $(cat "$p.rc"), Buildroot's own make -n: exit $(cat "$s.rc")"
        bad=1
    fi
    if ! diff "$s.failed" "$p.failed"; then
        echo "failing targets differ from Buildroot's own make -n (above)"
        bad=1
    fi
    local more
    more=$(LC_ALL=C comm -13 "$s.changed" "$p.changed")
    if [ -n "$more" ]; then
        echo "changed what Buildroot's own make -n does not:"
        printf '%s\n' "$more" | head
        bad=1
    fi
    # ppd's errors ('ppd: <operation> <path>: <reason>'); conflicts and
    # warnings are reports.
    if grep '^ppd: ' "$logs/make-n-ppd-$1.log" | grep -v -e '^ppd: conflict: ' -e '^ppd: warning: '; then
        echo "ppd failed under make -n (above)"
        bad=1
    fi
    return $bad
}

if [ -z "$workflows_only" ]; then
# --- The two builds ---------------------------------------------------------
say "configuring (Buildroot in $br)"
brmake "$logs/defconfig.log" BR2_DEFCONFIG="$work/defconfig" defconfig \
    || die "defconfig failed, see $logs/defconfig.log"
cp "$out/.config" "$work/config"
if [ -n "$setup_only" ]; then
    rm -rf "$out"
    echo "$br"
    exit 0
fi

# --trace prints every recipe line, also those Buildroot runs silently (@),
# so the log shows which commands ran.
# Both builds start from the configuration alone.
rm -rf "$nstate" "$out"
mkdir -p "$out"
cp "$work/config" "$out/.config"
make_n stock-fresh
stock_start=$(date +%s.%N)
say "building with Buildroot's macros"
# In two parts, for a make -n on a partial output: $partial (mid-graph: for
# libbeta the toolchain, skeletons and libalpha before it), then everything.
if [ -n "$partial" ]; then
    brmake "$logs/stock.log" -j"$jobs" V=1 --trace "$partial" || die "the stock build failed, see $logs/stock.log"
    make_n stock-partial
fi
[ -n "$partial" ] || : > "$logs/stock.log"
brmake -a "$logs/stock.log" -j"$jobs" V=1 --trace || die "the stock build failed, see $logs/stock.log"
make_n stock-finished
mv "$out" "$work/out-stock"

mkdir -p "$out"
cp "$work/config" "$out/.config"
make_n ppd-fresh "${dropin[@]}"
check make-n "make -n on a fresh output: as Buildroot's own make -n, no ppd error" as_stock fresh
dropin_start=$(date +%s.%N)
say "building with mk/buildroot.mk"
if [ -n "$partial" ]; then
    brmake "$logs/dropin.log" -j"$jobs" V=1 --trace "${dropin[@]}" "$partial" \
        || die "the build with mk/buildroot.mk failed, see $logs/dropin.log"
    make_n ppd-partial "${dropin[@]}"
    check make-n "make -n on a partial output ($partial built): as Buildroot's own make -n, no ppd error" \
        as_stock partial
fi
[ -n "$partial" ] || : > "$logs/dropin.log"
brmake -a "$logs/dropin.log" -j"$jobs" V=1 --trace "${dropin[@]}" \
    || die "the build with mk/buildroot.mk failed, see $logs/dropin.log"

# --- Same results -------------------------------------------------------------
# ELF files may differ in their RPATH string as ppd fix-rpath documents
# (it drops entries holding no needed library; patchelf pads with 'X'):
# treecmp checks that rule instead of the bytes of that string.
cmp_tree() { python3 "$top/scripts/lib/treecmp.py" --copy --since "$stock_start" "$dropin_start" "$@"; }
staging_rel=$(cd "$out/host" && echo */sysroot)
check trees "host directory (with staging) equal: content, modes, symlinks, link groups, preserved mtimes" \
    cmp_tree --rpath-rule "$staging_rel" "$work/out-stock/host" "$out/host"
check trees "target directory equal" cmp_tree --rpath-rule "$work/out-stock/target" "$out/target"
# The lines of a list come in the order of Buildroot's sort key, which
# starts with mtime and inode: files installed in the same instant (or with
# the same preserved mtime) are ordered by inode number, which differs from
# build to build. So the lists are compared as sorted lines.
cmp_lists() {
    local a=$1 b=$2 f rel n=0 bad=0
    for f in "$a"/build/*/.files-list*.txt "$a"/build/packages-file-list*.txt; do
        rel=${f#"$a"/}
        # The images lists depend on the build's schedule (see
        # imageslists.py): compared below.
        case "$rel" in */.files-list-images.txt) n=$((n + 1)); continue ;; esac
        if [ ! -e "$b/$rel" ]; then
            echo "missing: $b/$rel"
            bad=1
        elif ! diff <(LC_ALL=C sort "$f") <(LC_ALL=C sort "$b/$rel") > /dev/null; then
            echo "differs: $rel"
            diff <(LC_ALL=C sort "$f") <(LC_ALL=C sort "$b/$rel") | head -5
            bad=1
        fi
        n=$((n + 1))
    done
    # Four lists (target, staging, images, host) per installed package.
    local pkgs
    pkgs=$(find "$a/build" -mindepth 2 -maxdepth 2 -name .stamp_installed | wc -l)
    [ "$pkgs" -gt 10 ] && [ "$n" -ge $((4 * pkgs)) ] || { echo "only $n lists for $pkgs packages"; return 1; }
    [ "$bad" = 0 ] && echo "$n lists with the same lines"
}
check lists "package file lists (.files-list*.txt, packages-file-list*.txt): the same lines" \
    cmp_lists "$work/out-stock" "$out"
check lists "images file lists the same, but for images other packages installed meanwhile (make -j)" \
    python3 "$here/imageslists.py" "$work/out-stock" "$out"
# The images: the files packages install into BINARIES_DIR, and the root
# filesystem tarballs, compared by their content (owners, modes, device
# nodes, symlinks, hard links), extracted.
cmp_images() {
    local a=$1 b=$2 t
    rm -rf "$work/img-a" "$work/img-b"
    cp -a "$a" "$work/img-a" && cp -a "$b" "$work/img-b" || return 1
    rm -f "$work"/img-[ab]/*.tar
    cmp_tree "$work/img-a" "$work/img-b" || return 1
    for t in "$a"/*.tar; do
        [ -e "$t" ] || continue
        rm -rf "$work/img-a" "$work/img-b"
        mkdir -p "$work/img-a" "$work/img-b"
        tar -xpf "$t" --numeric-owner -C "$work/img-a" || return 1
        tar -xpf "$b/${t##*/}" --numeric-owner -C "$work/img-b" || return 1
        echo "${t##*/}:"
        cmp_tree --rpath-rule "$work/img-a" "$work/img-b" || return 1
    done
}
if [ -d "$work/out-stock/images" ] && [ -n "$(ls -A "$work/out-stock/images")" ]; then
    # A tarball's bytes hold the build's own mtimes: its entries are
    # compared instead.
    check images "images directory equal (root filesystem tarballs by their entries)" \
        cmp_images "$work/out-stock/images" "$out/images"
fi

# Each stock command, as --trace shows it, and the check it belongs to:
# "<check>|F|<fixed string>" or "<check>|E|<extended regex>". The
# per-package-rsync of the Buildroot under test decides the prepare
# patterns: before 2024.08 (so in 2024.02.x) it is one rsync per package in
# both modes, its arguments on continued lines (the log shows runs of spaces
# between them); since 2024.08 the copy mode (the final merges) is one
# 'printf | tac | rsync --files-from=-'.
if grep -q -F -e '--files-from=-' "$br/package/pkg-utils.mk"; then
    copy_cmd="prepare|F|--files-from=-"
else
    copy_cmd="prepare|E|rsync -a +--hard-links +[^ ]*/per-package/[^ ]+/(host|target)/ +[^ ]+$"
fi
stock_cmds=(
    "prepare|E|rsync -a +--hard-links +--link-dest="
    "$copy_cmd"
    "prepare|F|grep --binary-files=without-match -lrZ"
    "file-list|F|-printf '%T@:%i:%#m:%y:%s,%p"
    "bin-arch|F|support/scripts/check-bin-arch -p"
    "host-rpath|F|support/scripts/check-host-rpath "
    # Buildroot's own script, by its path (a replacement may take its name
    # in another directory).
    "fix-rpath|F|$br/support/scripts/fix-rpath"
)
# in_log LOG F|E PATTERN; not_in_log LOG F|E PATTERN
in_log() { grep -c -"$2" -e "$3" "$1"; }
not_in_log() {
    local n
    n=$(grep -c -"$2" -e "$3" "$1") || return 0
    echo "$n lines of $1 contain: $3"
    grep -m 3 -"$2" -e "$3" "$1"
    return 1
}
for entry in "${stock_cmds[@]}"; do
    name=${entry%%|*}
    kind=${entry#*|}
    kind=${kind%%|*}
    pat=${entry#*|*|}
    check logs "the stock build runs: $pat" in_log "$logs/stock.log" "$kind" "$pat"
    check "$name" "the ppd build does not run: $pat" not_in_log "$logs/dropin.log" "$kind" "$pat"
done
check logs "the ppd build runs ppd prepare" in_log "$logs/dropin.log" F " prepare "
# The architecture check runs in the ppd file-list process that writes the
# lists, not as a command of its own.
check bin-arch "the ppd build checks the architecture in ppd file-list" \
    in_log "$logs/dropin.log" F " --check-bin-arch "
check bin-arch "the ppd build runs no separate check-bin-arch" \
    not_in_log "$logs/dropin.log" F " check-bin-arch "

# --- The audit of the ppd build's output ------------------------------------
if "$PPD" check-rpath --help 2>&1 | grep -q -- --buildroot-output; then
    # A package set may expect findings (a build-machine binary its
    # package excludes from Buildroot's architecture check): its
    # audit-expected lists them as '<path below the output> <level> <code>'.
    audit_expected=$work/external/audit-expected
    audit() {
        local o rc=0
        o=$("$PPD" check-rpath --audit --buildroot-output "$out" 2>&1) || rc=$?
        printf '%s\n' "$o"
        if [ -f "$audit_expected" ]; then
            # A finding is its file's line (the path, unindented) followed by
            # '  <level>   <code>  <text>' lines.
            diff <(grep -v '^#' "$audit_expected") <(printf '%s\n' "$o" | awk -v out="$out/" '
                /^\// { f = substr($0, length(out) + 1); next }
                /^  (error|warning|info) / { print f, $1, $2 }' | LC_ALL=C sort)
            return
        fi
        [ "$rc" = 0 ] || return 1
        # The totals are the last line.
        printf '%s\n' "$o" | tail -n 1 | grep -q '^0 error(s), 0 warning(s), '
    }
    check audit "ppd check-rpath --audit --buildroot-output: no error, no warning (but those expected)" audit
else
    say "SKIP    ppd check-rpath --audit --buildroot-output (this ppd has no --buildroot-output)"
fi
fi

# --- Everyday workflows on the ppd build ------------------------------------
ppdir=$out/per-package
sysroot=host/aarch64-buildroot-linux-gnu/sysroot

say "workflow: make -n, then a no-op make"
make_n ppd-finished "${dropin[@]}"
check make-n "make -n on the finished output: as Buildroot's own make -n, no ppd error" \
    as_stock finished
# Per-package trees must stay untouched (inode, link count, mtime); the
# final trees keep their content, but Buildroot's own target-finalize hooks
# rewrite a few files (etc/hostname, ...) on every make, so their times are
# not compared.
snap_full() { (cd "$1" && find . -printf '%y %m %i %n %s %T@ %p -> %l\n' | LC_ALL=C sort); }
snap_content() {
    (cd "$1" && find . \( -type d -printf '%y %m %p\n' \) -o \( -type l -printf '%y %p -> %l\n' \) \
        -o \( -type f -printf '%y %m %s %p ' -exec md5sum {} + \) | LC_ALL=C sort)
}
snap_full "$ppdir" > "$work/per-package.before"
snap_content "$out/target" > "$work/target.before"
snap_content "$out/host" > "$work/host.before"
lines_before=$(wc -l < "$out/build/build-time.log")
brmake "$logs/noop.log" -j"$jobs" V=1 "${dropin[@]}" || die "no-op make failed, see $logs/noop.log"
# ppd's dry runs print one operation per line, '<verb> <path> ...', right
# after the command line make prints (Buildroot's own lines may start with
# the same verbs: 'rmdir /path 2>/dev/null || true').
performed() {
    local ops bad=0 path
    ops=$(awk '/\/ppd [a-z-]+ .*--dry-run/ { in_ppd = 1; next }
        in_ppd && /^(mkdir|link|copy|symlink|meta|remove|rmdir|rewrite|write) \// { print $2; next }
        /^ppd: (conflict|warning): / { next }
        { in_ppd = 0 }' "$logs/make-n-ppd-finished.log" | LC_ALL=C sort -u)
    snap_n > "$nstate/noop.after"
    local changed
    changed=$(diff "$nstate/ppd-finished.after" "$nstate/noop.after" \
        | sed -n 's/^[<>] \([^\t]*\)\t.*/\1/p' | sed "s|^\\.|$out|" | LC_ALL=C sort -u)
    # A path missing after the make was placed and removed again within it:
    # finalize copies usr/include, static libraries, .la files, pkgconfig
    # and cmake directories into target/ on every make, and Buildroot's
    # target-finalize deletes them, so no snapshot can show the copy.
    local present
    present=$(sed -n 's/^\([^\t]*\)\t.*/\1/p' "$nstate/noop.after" | sed "s|^\\.|$out|")
    local removed=0
    while IFS= read -r path; do
        [ -n "$path" ] || continue
        case $path in
        "$out"/target/*)
            if ! grep -qxF -e "$path" <<< "$present"; then
                removed=$((removed + 1))
                continue
            fi
            ;;
        esac
        # Not a pipe: grep -q stops reading early, and under pipefail the
        # writer's SIGPIPE would count as "not found".
        if ! grep -qxF -e "$path" <<< "$changed"; then
            echo "make -n printed an operation on $path, which the following make did not change"
            bad=1
        fi
    done <<< "$ops"
    echo "$(printf '%s\n' "$ops" | grep -c /) paths in make -n's ppd operations: $removed placed and removed again within the make, the others changed by it"
    return $bad
}
check make-n "the finished output's make -n prints no ppd operation that the following make does not perform" \
    performed
noop_steps() {
    [ "$(wc -l < "$out/build/build-time.log")" = "$lines_before" ] && return 0
    echo "package steps ran:"
    tail -n +"$((lines_before + 1))" "$out/build/build-time.log" | head
    return 1
}
check noop "no-op make runs no package step" noop_steps
check noop "no-op make leaves every per-package tree untouched (inodes, link counts, mtimes)" \
    diff "$work/per-package.before" <(snap_full "$ppdir")
check noop "no-op make leaves the final target tree's content as it was" \
    diff "$work/target.before" <(snap_content "$out/target")
check noop "no-op make leaves the final host tree's content as it was" \
    diff "$work/host.before" <(snap_content "$out/host")
no_conflict() { ! grep 'conflict: ' "$1"; }
check noop "no-op make reports no conflict" no_conflict "$logs/noop.log"

if [ -n "$extra_workflows" ]; then
    # Another package set: its own workflows (they may use check, brmake,
    # snap_full, snap_content, $out, $ppdir, $sysroot, $work, $dropin).
    if [ -f "$extra_workflows" ]; then
        # shellcheck source=/dev/null
        . "$extra_workflows"
    fi
    finish
fi

say "workflow: libalpha changes and is rebuilt; its install writes in place"
echo '#define ALPHA_VERSION "2.0"' > "$work/external/src/libalpha/version.h"
# The packages holding libalpha's files: libalpha itself and its dependents.
holders=$(cd "$ppdir" && for p in *; do
    if [ -e "$p/$sysroot/usr/share/alpha/version.txt" ]; then echo "$p"; fi; done)
dependents=$(printf '%s\n' $holders | grep -vx libalpha | LC_ALL=C sort)
[ -n "$dependents" ] || die "no package holds libalpha's files"
# <pkg>-rebuild and -reconfigure run without -j: they order their clean
# and build parts with .WAIT, which make before 4.4 ignores, and under -j
# make 4.3 then finds the stamps present before the clean removes them.
brmake "$logs/rebuild.log" V=1 "${dropin[@]}" libalpha-rebuild \
    || die "libalpha-rebuild failed, see $logs/rebuild.log"
new_in_own() {
    grep -q 2.0 "$ppdir/libalpha/$sysroot/usr/lib/pkgconfig/alpha.pc" &&
        grep -q 2.0 "$ppdir/libalpha/$sysroot/usr/bin/alpha-config"
}
check rebuild "the rebuild installs the new alpha.pc and alpha-config in libalpha's tree" new_in_own
old_in_dependents() {
    local p bad=0
    for p in $dependents; do
        for f in usr/lib/pkgconfig/alpha.pc usr/bin/alpha-config usr/share/alpha/version.txt; do
            if grep -q 2.0 "$ppdir/$p/$sysroot/$f"; then
                echo "$p: $f holds the rebuilt content"
                bad=1
            fi
        done
    done
    return $bad
}
check rebuild-inplace "the rebuild's in-place writes do not reach the $(echo $dependents | wc -w) dependents" \
    old_in_dependents
outdated() {
    local o
    o=$(env -u MAKEFLAGS -u MAKELEVEL "$PPD" outdated --per-package-dir "$ppdir" 2>&1) || true
    printf '%s\n' "$o"
    local named
    # One line per package: "<pkg>: <why>; refresh: make <pkg>-reconfigure",
    # then the make command refreshing them all, dependencies first.
    named=$(printf '%s\n' "$o" | sed -n 's/^\([^ :]*\): .*; refresh: make .*/\1/p' | LC_ALL=C sort -u)
    printf '%s\n' "$o" | sed -n 's/^make //p' | tail -n 1 > "$work/refresh"
    [ "$named" = "$dependents" ] || { echo "expected: $(echo $dependents)"; return 1; }
}
check outdated "ppd outdated names exactly libalpha's dependents" outdated
# A make before the refresh: the final merge lets the last package in name
# order win a path, as Buildroot's does, so a dependent's old copy of
# libalpha's version.txt wins; ppd finalize says so once, naming the
# package to reconfigure.
brmake "$logs/after-rebuild.log" "${dropin[@]}" || die "make after the rebuild failed, see $logs/after-rebuild.log"
stale_warned() {
    local l who
    l=$(grep -F "warning: $out/target/usr/share/alpha/version.txt is " "$logs/after-rebuild.log") \
        || { echo "no outdated-copy warning in after-rebuild.log"; return 1; }
    printf '%s\n' "$l"
    who=$(printf '%s\n' "$l" | sed -n "s/.* is \([^ ']*\)'s outdated copy.* make \([^ ]*\)-reconfigure refreshes it.*/\1 \2/p")
    set -- $who
    [ $# = 2 ] && printf '%s\n' $dependents | grep -qx "$1" && printf '%s\n' $dependents | grep -qx "$2" \
        || { echo "the winner and the package to reconfigure are not libalpha's dependents"; return 1; }
    grep -q 1.0 "$out/target/usr/share/alpha/version.txt" || { echo "the final tree does not hold the old copy"; return 1; }
}
check outdated "after the rebuild, make warns that a dependent's outdated copy wins the final merge" stale_warned

say "workflow: the refresh ppd outdated names; libshrink stops installing two files; a conflict appears"
# The dependents keep libalpha's old files until they are reconfigured (the
# final merge lets the last package in name order win a path, as
# Buildroot's does, so a stale copy in libbeta would win libalpha's).
refresh=$(cat "$work/refresh" 2>/dev/null || true)
# A content change, not a removal: Buildroot's rsync -au (no --delete) of
# the local source would keep a removed EXTRA in output/build/libshrink-1.0.
echo no > "$work/external/src/libshrink/EXTRA"
echo common.conf > "$work/external/src/conflict-b/FILE"
# shellcheck disable=SC2086 # a list of targets
brmake "$logs/reconfigure.log" V=1 "${dropin[@]}" $refresh \
    libshrink-reconfigure app-shrink-reconfigure conflict-b-reconfigure app-conflict-reconfigure \
    || die "the reconfigure failed, see $logs/reconfigure.log"
nothing_outdated() {
    local o
    o=$(env -u MAKEFLAGS -u MAKELEVEL "$PPD" outdated --per-package-dir "$ppdir" 2>&1) || return 1
    [ -z "$o" ] || { printf '%s\n' "$o"; return 1; }
}
check outdated "after the refresh it proposed, ppd outdated names nothing" nothing_outdated
gone() {
    local f bad=0
    for f in "$@"; do
        if [ -e "$f" ]; then echo "still there: $f"; bad=1; fi
    done
    return $bad
}
# Buildroot reinstalls a reconfigured package on top of its per-package
# trees as they are, so its own earlier installs stay unless the re-prepare
# drops them.
check reconfigure-own "libshrink-reconfigure: the files it no longer installs leave its own trees" \
    gone "$ppdir/libshrink/$sysroot/usr/include/shrink-extra.h" \
    "$ppdir/libshrink/target/usr/share/shrink/extra.txt"
conflict_report() {
    grep -E 'conflict: .*usr/share/ppdtest/common\.conf' "$1" | grep 'conflict-a' \
        | grep 'conflict-b' | grep -q 'conflict-b wins'
}
check conflict "the conflict is reported with both packages and the winner" \
    conflict_report "$logs/reconfigure.log"
check conflict "the winner's file is in app-conflict's tree" \
    cmp "$ppdir/app-conflict/target/usr/share/ppdtest/common.conf" "$work/external/src/conflict-b/content"

say "workflow: fwblob installs a program of the build machine's architecture, then no more"
# Buildroot's check-bin-arch fails the install with its message; the file
# lists are written before the check, so the next -reconfigure removes the
# program from fwblob's trees (ppd unshare --remove) and succeeds.
echo yes > "$work/external/src/fwblob/WRONG_ARCH"
wrong_arch_rc=0
brmake "$logs/wrongarch.log" "${dropin[@]}" fwblob-reconfigure || wrong_arch_rc=$?
check bin-arch "a target program of another architecture fails fwblob's install" \
    test "$wrong_arch_rc" != 0
# readelf's name of the build machine's architecture, as the script prints it.
host_arch=$(LC_ALL=C readelf -h "$out/build/fwblob-1.0/blob.bin" | sed -n 's/^ *Machine: *//p')
check bin-arch "the failure is check-bin-arch's message" \
    grep -qxF "ERROR: architecture for \"/usr/bin/fwblob-host\" is \"$host_arch\", should be \"AArch64\"" \
    "$logs/wrongarch.log"
check bin-arch "the file list naming the program was written before the check" \
    grep -qxF 'fwblob,./usr/bin/fwblob-host' "$out/build/fwblob-1.0/.files-list.txt"
echo no > "$work/external/src/fwblob/WRONG_ARCH"
brmake -a "$logs/wrongarch.log" "${dropin[@]}" fwblob-reconfigure \
    || die "fwblob-reconfigure without the program failed, see $logs/wrongarch.log"
check bin-arch "the program left fwblob's target tree at its next reconfigure" \
    gone "$ppdir/fwblob/target/usr/bin/fwblob-host"

say "workflow: gen-03-dirclean and libshrink-dirclean, then app-shrink-reconfigure and make"
brmake "$logs/dirclean.log" "${dropin[@]}" gen-03-dirclean libshrink-dirclean || die "dirclean failed"
gone_dir() { gone "$out/build/gen-03-1.0" "$ppdir/gen-03" "$out/build/libshrink-1.0" "$ppdir/libshrink"; }
check dirclean "dirclean removes the build and per-package directories" gone_dir
# Serial, for the reconfigure (see above); 'all' then builds the rest.
brmake "$logs/make.log" V=1 "${dropin[@]}" app-shrink-reconfigure all \
    || die "make after the workflows failed, see $logs/make.log"
check reconfigure "the files libshrink no longer installs leave app-shrink's trees at its reconfigure" \
    gone "$ppdir/app-shrink/$sysroot/usr/include/shrink-extra.h" \
    "$ppdir/app-shrink/target/usr/share/shrink/extra.txt"
check reconfigure "app-shrink still has what libshrink installs" \
    test -e "$ppdir/app-shrink/$sysroot/usr/include/shrink.h"
check dirclean "make rebuilds gen-03" test -e "$ppdir/gen-03/target/usr/lib/libgen03.so.1"
final_tree() {
    grep -q 2.0 "$out/target/usr/share/alpha/version.txt" || { echo "old libalpha in target"; return 1; }
    cmp "$out/target/usr/share/ppdtest/common.conf" "$work/external/src/conflict-b/content" || return 1
    test -e "$out/target/usr/lib/libgen03.so.1" || return 1
}
check make "the final target tree has the rebuilt libalpha, the winner's file, gen-03" final_tree

finish
}

# finish: the summary; exits 1 when an enforced check failed, else 0.
finish() {
    say "the ppd build's output is kept in $out"
    if [ "$pending_hit" -gt 0 ]; then
        say "$pending_hit checks PENDING (listed in PPD_BR_PENDING: $PPD_BR_PENDING)"
    fi
    if [ "$failed" -gt 0 ]; then
        say "$failed checks FAILED (logs in $logs)"
        exit 1
    fi
    say "all enforced checks passed"
    exit 0
}

# exit on the same line: bash reads no further into a file edited meanwhile.
main "$@"; exit $?
