#!/bin/bash
# patchelf with Buildroot's --make-rpath-relative, for an offline build.
#
# Buildroot's host-patchelf carries a patch adding
#   --make-rpath-relative ROOTDIR [--no-standard-lib-dirs] [--relative-to-file] FILE
# which support/scripts/fix-rpath runs on every ELF file; the build
# machine's patchelf lacks it. This script implements that option the way
# the patch does (package/patchelf/0001-Add-option-to-make-the-rpath-
# relative-under-a-specif.patch) on top of the machine's patchelf, and hands
# every other command line to it unchanged. For each RPATH entry, in order:
# "$ORIGIN..." is resolved against the file's directory, an entry starting
# with ROOTDIR is taken as is, any other is looked up under ROOTDIR; an
# entry whose path does not exist (realpath) is dropped, and with
# --no-standard-lib-dirs so is ROOTDIR/lib or ROOTDIR/usr/lib; a kept entry
# becomes "$ORIGIN/<relative path>" with --relative-to-file, else its path
# below ROOTDIR. The RPATH is written only when it changes; a file without
# one is left alone. (bash, not python: fix-rpath runs it once per ELF file.)
real=@REAL@
root= nostd= tofile= files=()
while [ $# -gt 0 ]; do
    case $1 in
    --make-rpath-relative) [ $# -ge 2 ] || { echo "patchelf: missing argument to --make-rpath-relative" >&2; exit 1; }
        root=$2; shift ;;
    --no-standard-lib-dirs) nostd=1 ;;
    --relative-to-file) tofile=1 ;;
    *) files+=("$1") ;;
    esac
    shift
done
[ -n "$root" ] || exec "$real" "${files[@]}"

# The patch's makePathRelative: strip the common leading components of
# PATH and REF, then one ".." per component left in REF.
relative() {
    local p=$1 r=$2 rel='$ORIGIN' pp rp pr
    while :; do
        # The index of the second slash (-1 when there is none), as the
        # patch's find_first_of('/', 1).
        pr=${p:1}; if [[ $pr == */* ]]; then pr=${pr%%/*}; pp=$(( ${#pr} + 1 )); else pp=-1; fi
        pr=${r:1}; if [[ $pr == */* ]]; then pr=${pr%%/*}; rp=$(( ${#pr} + 1 )); else rp=-1; fi
        [ "$pp" = "$rp" ] || break
        if [ "$pp" = -1 ]; then
            [ "$p" = "$r" ] || break
            break
        fi
        [ "${p:0:pp}" = "${r:0:rp}" ] || break
        p=${p:pp}; r=${r:rp}
    done
    if [ "$p" != "$r" ]; then
        pr=$r
        while :; do
            rel+=/..
            pr=${pr:1}
            [[ $pr == */* ]] || break
            pr=/${pr#*/}
        done
        rel+=$p
    fi
    printf '%s' "$rel"
}

rc=0
for f in "${files[@]}"; do
    rpath=$("$real" --print-rpath "$f") || { rc=1; continue; }
    [ -n "$rpath" ] || continue
    dir=${f%/*}
    new=
    IFS=: read -r -a entries <<< "$rpath"
    for d in "${entries[@]}"; do
        [ -n "$d" ] || continue
        if [[ $d == '$ORIGIN'* ]]; then
            path=$dir${d:7}
        elif [[ $d == "$root"* ]]; then
            path=$d
        else
            path=$root$d
        fi
        canon=$(realpath -e -- "$path" 2>/dev/null) || continue
        if [ -n "$nostd" ] && { [ "$canon" = "$root/lib" ] || [ "$canon" = "$root/usr/lib" ]; }; then
            continue
        fi
        if [ -n "$tofile" ]; then
            kept=$(relative "$canon" "$dir")
        else
            kept=${canon:${#root}}
        fi
        new+=${new:+:}$kept
    done
    [ "$new" = "$rpath" ] || "$real" --set-rpath "$new" "$f" || rc=1
done
exit $rc
