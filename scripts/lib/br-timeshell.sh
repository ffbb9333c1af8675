#!/bin/bash
# br-timeshell.sh -- make's SHELL for scripts/bench-buildroot.sh: runs each
# recipe line with bash, and for the lines that are per-package directory or
# instrumentation steps appends "<step> <start> <end> <user> <sys>" to
# $BR_TIMELOG: wall clock start and end (seconds since the epoch) and the CPU
# seconds the line's processes used (user and system, every waited-for
# descendant counted). With $BR_TIMECMD set, the line
# itself follows (its first 400 characters, one line), for a breakdown by
# package. Other lines are handed to bash at once.
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
# subcommand (the first one: a line running several ppd commands counts as
# its first).
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
end=$EPOCHREALTIME
# The CPU time of the line's processes, from bash's `times` (getrusage of
# the waited-for children, microseconds; /proc's clock ticks would lose up
# to 10 ms per process): its second line, "XmY.ZZZs XmY.ZZZs". A builtin
# writing to a file of this shell keeps every process out of the account.
tf=$BR_TIMELOG.times.$$
times > "$tf"
{ read -r _; read -r cu cs; } < "$tf"
cpu() {
    local m=${1%%m*} s=${1#*m}
    s=${s%s}
    local ms=$((10#$m * 60000 + 10#${s%.*} * 1000 + 10#${s#*.}))
    printf -v "$2" '%d.%03d' $((ms / 1000)) $((ms % 1000))
}
cpu "$cu" u
cpu "$cs" sy
line="$step $start $end $u $sy"
if [ -n "${BR_TIMECMD:-}" ]; then
    c=${cmd//$'\n'/ }
    c=${c//$'\t'/ }
    line="$line ${c:0:400}"
fi
echo "$line" >> "$BR_TIMELOG"
exit $rc
