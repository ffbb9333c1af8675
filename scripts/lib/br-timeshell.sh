#!/bin/bash
# br-timeshell.sh -- make's SHELL for scripts/bench-buildroot.sh: runs each
# recipe line with bash, and for the lines that are per-package directory or
# instrumentation steps appends "<step> <start> <end>" (seconds since the
# epoch) to $BR_TIMELOG. Other lines are handed to bash at once.
#
# The steps, for Buildroot's own commands and for ppd's:
#   prepare     rsync --link-dest (one per dependency and tree) | ppd prepare
#   fixup       the grep | file | sed path fixup | ppd fixup-paths
#   finalize    rsync --files-from (host and target) | ppd finalize
#   file-list   pkg_size_before/after: find -printf | sort, comm | ppd file-list
#   bin-arch    support/scripts/check-bin-arch | ppd's architecture check
#   host-rpath  support/scripts/check-host-rpath | ppd check-rpath
#   fix-rpath   support/scripts/fix-rpath | ppd fix-rpath
# A ppd line is recognised by $BR_PPD (the binary's path) and named by its
# subcommand.
cmd=${!#}
step=
case $cmd in
*"$BR_PPD "*|*"$BR_PPD")
    if [ -n "$BR_PPD" ]; then
        sub=${cmd#*"$BR_PPD" }
        sub=${sub%% *}
        step=ppd-$sub
    fi ;;
esac
if [ -z "$step" ]; then
    case $cmd in
    *--link-dest=*) step=prepare ;;
    *"grep --binary-files=without-match -lrZ"*) step=fixup ;;
    *--files-from=-*) step=finalize ;;
    *"-printf '%T@:%i:%#m:%y:%s,%p\n'"*|*"comm -13"*) step=file-list ;;
    *support/scripts/check-bin-arch*) step=bin-arch ;;
    *support/scripts/check-host-rpath*) step=host-rpath ;;
    *support/scripts/fix-rpath*) step=fix-rpath ;;
    esac
fi
[ -n "$step" ] || exec /bin/bash "$@"
start=$EPOCHREALTIME
/bin/bash "$@"
rc=$?
echo "$step $start $EPOCHREALTIME" >> "$BR_TIMELOG"
exit $rc
