#!/usr/bin/env bash
# The real-Buildroot test (tests/buildroot.rs) against other Buildroot
# versions: for each TAG of a Buildroot git repository, the tree of that tag
# (git archive) is built with Buildroot's own macros and with mk/buildroot.mk
# and compared, for the first package set and, with --sets "1 2", the
# second. CI runs the test on the 2026.05.1 tarball only (its time budget);
# this script is for checking a Buildroot release before relying on it.
#
# Usage: scripts/test-buildroot-versions.sh --git DIR [--sets "1 2"] [--keep]
#                                           TAG...
#   --git DIR   a Buildroot git repository, bare or checked out (e.g. a clone
#               of https://gitlab.com/buildroot.org/buildroot.git); default
#               $BUILDROOT_GIT
#   --sets S    the package sets to run per tag: 1 (tests/buildroot/external,
#               the full workflows) and/or 2 (tests/buildroot/external2);
#               default "1"
#   --keep      keep each tag's extracted source tree
#   TAG         e.g. 2024.02.13 2025.02.16 2026.02.3 2026.05.1 2026.08-rc1
# Environment: PPD_VERSIONS_WORK (default target/buildroot-versions): the
# extracted trees and one log per run, <tag>-set<N>.log; CARGO_TARGET_DIR as
# for cargo (the test's work directory, with the last ppd build's output, is
# its tmp/buildroot-test or tmp/buildroot-test2).
# Each run takes about as long as the test (a few minutes per package set on
# 2 cores; the runs are serial). Prints a table of tag x set: pass, FAIL or
# SKIP; exits 1 when a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

git_dir=${BUILDROOT_GIT:-}
sets=1
keep=
tags=()
while [ $# -gt 0 ]; do
    case "$1" in
    --git) git_dir=$2; shift 2 ;;
    --sets) sets=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "test-buildroot-versions.sh: unknown option: $1" >&2; exit 2 ;;
    *) tags+=("$1"); shift ;;
    esac
done
[ -n "$git_dir" ] || { echo "test-buildroot-versions.sh: no Buildroot repository (--git DIR or BUILDROOT_GIT)" >&2; exit 2; }
[ ${#tags[@]} -gt 0 ] || { echo "test-buildroot-versions.sh: no tag given" >&2; exit 2; }
for t in "${tags[@]}"; do
    git -C "$git_dir" rev-parse -q --verify "refs/tags/$t^{commit}" >/dev/null \
        || { echo "test-buildroot-versions.sh: no tag $t in $git_dir" >&2; exit 2; }
done
for s in $sets; do
    case "$s" in 1|2) ;; *) echo "test-buildroot-versions.sh: no package set '$s' (1 or 2)" >&2; exit 2 ;; esac
done

work=${PPD_VERSIONS_WORK:-$PWD/target/buildroot-versions}
mkdir -p "$work/logs"
work=$(cd "$work" && pwd)
# The test binary once, before the first run.
cargo test --release --test buildroot --no-run

declare -A result
failed=0
for t in "${tags[@]}"; do
    tree=$work/buildroot-$t
    rm -rf "$tree"
    mkdir -p "$tree"
    git -C "$git_dir" archive "refs/tags/$t" | tar -x -C "$tree"
    for s in $sets; do
        case "$s" in
        1) test=real_buildroot_builds_the_same_with_ppd ;;
        2) test=real_buildroot_second_package_set_builds_the_same_with_ppd ;;
        esac
        log=$work/logs/$t-set$s.log
        echo "test-buildroot-versions.sh: Buildroot $t, package set $s (log: $log)" >&2
        start=$(date +%s)
        rc=0
        # CI=true: a missing tool fails instead of skipping.
        PPD_BUILDROOT=$tree CI=true cargo test --release --test buildroot -- "$test" --exact \
            --nocapture > "$log" 2>&1 || rc=$?
        secs=$(( $(date +%s) - start ))
        if [ "$rc" != 0 ]; then
            r=FAIL
            failed=1
        elif grep -q '^SKIP' "$log"; then
            r=SKIP
        elif grep -q 'test result: ok\. 1 passed' "$log"; then
            r=pass
        else
            # Not run (a renamed test): not a pass.
            r=FAIL
            failed=1
        fi
        result[$t,$s]="$r (${secs}s)"
        echo "test-buildroot-versions.sh: Buildroot $t, package set $s: ${result[$t,$s]}" >&2
    done
    [ -n "$keep" ] || rm -rf "$tree"
done

printf '| Buildroot |'
for s in $sets; do printf ' set %s |' "$s"; done
printf '\n|---|'
for s in $sets; do printf -- '---|'; done
printf '\n'
for t in "${tags[@]}"; do
    printf '| %s |' "$t"
    for s in $sets; do printf ' %s |' "${result[$t,$s]}"; done
    printf '\n'
done
exit $failed
