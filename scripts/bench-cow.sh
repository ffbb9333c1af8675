#!/usr/bin/env bash
# Copy-on-write per-package trees: the whole-build prepare replay of
# scripts/bench-prepare.sh (every prepare step of a generated PPD workload,
# each into a fresh destination, one ppd process per step) on btrfs and XFS
# loop images, with every link mode on the same filesystem, and finalize's
# copy with clones against plain copies.
#
# Per filesystem image (made, loop-mounted and removed by this script; needs
# root, btrfs-progs and xfsprogs), the workload's per-package trees are
# copied onto the image (on btrfs a second time as subvolumes, which is
# what snapshot mode snapshots; hard links cannot cross subvolumes, so the
# other methods read the plain copy). Methods:
#   rsync      Buildroot's loop (rsync -a --hard-links --link-dest per dependency)
#   hardlink   ppd prepare --link-mode hardlink
#   reflink    ppd prepare --link-mode reflink
#   snapshot   ppd prepare --link-mode snapshot (btrfs only): snapshots where
#              one saves at least 3000 entries, else clones into a subvolume
#   auto       ppd prepare --link-mode auto (btrfs only, on the subvolumes:
#              as snapshot on Linux 6.4 and later)
# plus, on the machine's own work directory (ext4 here), ext4-hardlink: ppd
# prepare --link-mode hardlink, the figure hard links give there. Finalize:
#   finalize-reflink  ppd finalize --link-mode reflink of every target tree
#   finalize-copy     ppd finalize --link-mode copy (data read and written)
# Rounds are interleaved (the method order rotates); ratios come from one
# run. An untimed check compares a few trees of each ppd method with the
# rsync loop's (names, types, modes, mtimes, sizes, symlink texts) and counts
# regular files sharing an inode with a dependency (must be 0 for reflink
# and snapshot).
#
# Usage: scripts/bench-cow.sh [--quick] [--rounds N] [--fs "btrfs xfs"]
#            [--image-size SIZE] [--workload DIR] [--packages N]
#            [--toolchain-files F] [--seed S] [--results FILE] [--no-ext4]
#            [--no-rsync] [--sync] [--keep]
# --sync ends every timed run with syncfs on its filesystem: a btrfs snapshot
# commits the transaction (writing out everything done since the last
# commit) inside the timed run, where the other methods leave their
# writeback to the kernel's flusher after it; --sync makes every method pay
# for writing its work out.
set -u
. "$(dirname "$0")/lib/bench-common.sh"

ARGS="$*"
ROUNDS=3 PACKAGES=250 TC=4000 SEED=1 WORKLOAD=${PPD_BENCH_WORKLOAD:-} RESULTS= KEEP=
FSES="btrfs xfs" SIZE=24G EXT4=1 RSYNC=1 SYNC=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) PACKAGES=60 TC=1000 SIZE=6G ROUNDS=1 ;;
        --fs) [ $# -ge 2 ] || bench_die "--fs needs a value"; FSES=$2; shift ;;
        --image-size) [ $# -ge 2 ] || bench_die "--image-size needs a value"; SIZE=$2; shift ;;
        --no-ext4) EXT4= ;;
        --no-rsync) RSYNC= ;;
        --sync) SYNC=1 ;;
        --keep) KEEP=1 ;;
        *) bench_opt "$@"; shift $((BENCH_USED - 1)) ;;
    esac
    shift
done
bench_empty_trash

[ "$(id -u)" = 0 ] || bench_die "needs root (to loop-mount the btrfs and XFS images)"
bench_need rsync=rsync python3=python3 mkfs.btrfs=btrfs-progs mkfs.xfs=xfsprogs \
    btrfs=btrfs-progs losetup=mount
RESULTS=${RESULTS:-$BENCH_WORK/results/cow.md}
OUT=$BENCH_WORK/cow
mkdir -p "$OUT" "$(dirname "$RESULTS")"
bench_build_ppd
bench_use_workload
PP0=$WORKLOAD/per-package
mapfile -t STEPS < "$WORKLOAD/steps.txt"
mapfile -t PKGS < <(ls "$PP0")

# The images: unmounted and deleted on any exit.
MOUNTS=()
cleanup() {
    local m
    for m in "${MOUNTS[@]}"; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        rm -f "$m.img"
        rmdir "$m" 2>/dev/null
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_image() {
    local fs=$1 mnt=$OUT/$1
    umount "$mnt" 2>/dev/null
    rm -f "$mnt.img"
    mkdir -p "$mnt"
    truncate -s "$SIZE" "$mnt.img" || bench_die "cannot make $mnt.img"
    case $fs in
        xfs) mkfs.xfs -q -f -m reflink=1 "$mnt.img" ;;
        btrfs) mkfs.btrfs -q -f "$mnt.img" >/dev/null ;;
    esac || bench_die "mkfs.$fs failed"
    mount -o loop "$mnt.img" "$mnt" || bench_die "cannot loop-mount $mnt.img"
    MOUNTS+=("$mnt")
}

# The workload's trees onto the image: one cp -a (hard-link groups kept);
# on btrfs also one subvolume per package tree.
copy_workload() {
    local fs=$1 mnt=$OUT/$1 pkg tree
    cp -a "$PP0" "$mnt/pp" || bench_die "copying the workload onto $fs failed"
    if [ "$fs" = btrfs ]; then
        for pkg in "${PKGS[@]}"; do
            mkdir -p "$mnt/pp-sub/$pkg"
            for tree in host target; do
                btrfs -q subvolume create "$mnt/pp-sub/$pkg/$tree" >/dev/null || bench_die "btrfs subvolume create failed"
                cp -a --reflink=always "$mnt/pp/$pkg/$tree/." "$mnt/pp-sub/$pkg/$tree/" \
                    || bench_die "copying $pkg/$tree into its subvolume failed"
                touch -r "$mnt/pp/$pkg/$tree" "$mnt/pp-sub/$pkg/$tree"
                chmod --reference="$mnt/pp/$pkg/$tree" "$mnt/pp-sub/$pkg/$tree"
            done
        done
    fi
    sync
}

replay_rsync() {
    local pp=$1 d=$2 line pkg dep tree
    for line in "${STEPS[@]}"; do
        set -- $line; pkg=$1; shift
        for tree in host target; do
            mkdir -p "$d/$pkg/$tree"
            for dep; do
                rsync -a --hard-links --link-dest="$pp/$dep/$tree/" "$pp/$dep/$tree/" "$d/$pkg/$tree" \
                    || return 1
            done
        done
    done
}

# One ppd prepare per step; conflict warnings go to a log.
replay_ppd() {
    local pp=$1 d=$2 mode=$3 log=$4 line pkg rc
    for line in "${STEPS[@]}"; do
        set -- $line; pkg=$1; shift
        mkdir -p "$d/$pkg"
        "$PPD" prepare --link-mode "$mode" --per-package-dir "$pp" --host-dir "$d/$pkg/host" \
            --target-dir "$d/$pkg/target" "$@" 2>>"$log"
        rc=$?
        if [ $rc -ge 2 ]; then
            echo "bench: ppd prepare --link-mode $mode failed on step $pkg (exit $rc):" >&2
            tail -3 "$log" >&2
            return 1
        fi
    done
}

finalize_mode() {
    local pp=$1 d=$2 mode=$3
    "$PPD" finalize --conflicts ignore --link-mode "$mode" --per-package-dir "$pp" --tree target \
        --dest "$d" "${PKGS[@]}" 2>>"$OUT/finalize.log"
}

# Removes a destination (untimed); subvolumes go with rm -rf too.
clear_dest() {
    rm -rf "$1"
    sync
}

run_method() {
    local scen=$1 m=$2 r=$3 mnt=$4 dest t0 t1 s pp
    dest=$mnt/dest-$m
    [ "$m" = ext4-hardlink ] && dest=$OUT/dest-$m
    clear_dest "$dest"
    : > "$OUT/$scen-$m.log"
    pp=$mnt/pp
    case $m in snapshot|auto) pp=$mnt/pp-sub ;; esac
    bench_now t0
    case $m in
        rsync) replay_rsync "$pp" "$dest" ;;
        ext4-hardlink) replay_ppd "$PP0" "$dest" hardlink "$OUT/$scen-$m.log" ;;
        hardlink|reflink|snapshot|auto) replay_ppd "$pp" "$dest" "$m" "$OUT/$scen-$m.log" ;;
        finalize-reflink) finalize_mode "$pp" "$dest" reflink ;;
        finalize-copy) finalize_mode "$pp" "$dest" copy ;;
    esac || bench_die "$scen: method $m failed"
    [ -n "$SYNC" ] && sync -f "$dest"
    bench_now t1
    s=$(bench_secs "$t0" "$t1")
    printf '%s\t%s\t%d\t%s\n' "$scen" "$m" "$r" "$s" >> "$TIMES"
    bench_say "$scen round $((r + 1))/$ROUNDS $m: $s s"
}

# Untimed check of a few steps' trees against the rsync loop's, and the
# count of regular files sharing an inode with a dependency's file.
verify() {
    local scen=$1 mnt=$2 m=$3 pp=$mnt/pp picks
    case $m in snapshot|auto) pp=$mnt/pp-sub ;; esac
    picks=$(awk 'NF > 1 { print NF, NR, $1 }' "$WORKLOAD/steps.txt" | sort -k1,1nr -k2,2n | head -2 | cut -d' ' -f3)
    picks+=" "$(awk 'NF > 1 && /(^| )toolchain( |$)/ { print $1 }' "$WORKLOAD/steps.txt" | tail -1)
    python3 - "$mnt/dest-rsync" "$mnt/dest-$m" "$pp" $picks <<'EOF' > "$OUT/verify.txt" 2>&1
import os, stat, sys
ref, got, pp, picks = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def walk(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            t = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            mt = None if stat.S_ISDIR(st.st_mode) and False else st.st_mtime_ns
            out[rel] = (stat.S_IFMT(st.st_mode), st.st_mode & 0o7777 if not stat.S_ISLNK(st.st_mode) else 0,
                        mt, st.st_size if stat.S_ISREG(st.st_mode) else 0, t, (st.st_dev, st.st_ino))
    return out
src = set()
for pkg in os.listdir(pp):
    for tree in ("host", "target"):
        for v in walk(os.path.join(pp, pkg, tree)).values():
            if stat.S_ISREG(v[0]):
                src.add(v[5])
bad, shared, n = 0, 0, 0
for pkg in picks:
    for tree in ("host", "target"):
        a = walk(os.path.join(ref, pkg, tree)); b = walk(os.path.join(got, pkg, tree))
        n += 1
        if set(a) != set(b):
            bad += 1; print("names differ in", pkg, tree, sorted(set(a) ^ set(b))[:3]); continue
        for k in a:
            if a[k][:5] != b[k][:5]:
                bad += 1; print("differs:", pkg, tree, k, a[k][:5], b[k][:5]); break
        shared += sum(1 for v in b.values() if stat.S_ISREG(v[0]) and v[5] in src)
print(f"RESULT {n} {bad} {shared}")
EOF
    local res
    res=$(sed -n 's/^RESULT //p' "$OUT/verify.txt")
    set -- $res
    if [ "${2:-1}" = 0 ]; then
        printf '%s\t%s\tyes (%d/%d trees; %d regular files sharing an inode with a dependency)\n' \
            "$scen" "$m" "$1" "$1" "$3" >> "$VERIFY"
    else
        head -5 "$OUT/verify.txt" | sed "s/^/bench: $scen $m: /" >&2
        printf '%s\t%s\tNO: %s/%s trees differ\n' "$scen" "$m" "${2:-?}" "${1:-?}" >> "$VERIFY"
    fi
}

TIMES=$OUT/times.tsv
VERIFY=$OUT/verify.tsv
: > "$TIMES"
: > "$VERIFY"
: > "$OUT/finalize.log"
for fs in $FSES; do
    bench_say "$fs image ($SIZE, sparse) under $OUT"
    mount_image "$fs"
    mnt=$OUT/$fs
    copy_workload "$fs"
    M=(hardlink reflink)
    [ "$fs" = btrfs ] && M+=(snapshot auto)
    [ -n "$RSYNC" ] && M+=(rsync)
    [ -n "$EXT4" ] && [ "$fs" = "${FSES%% *}" ] && M+=(ext4-hardlink)
    for ((r = 0; r < ROUNDS; r++)); do
        for ((k = 0; k < ${#M[@]}; k++)); do
            m=${M[(k + r) % ${#M[@]}]}
            run_method "prepare on $fs" "$m" "$r" "$mnt"
            if [ "$m" = ext4-hardlink ]; then
                clear_dest "$OUT/dest-$m"
            fi
        done
    done
    if [ -n "$RSYNC" ]; then
        for m in hardlink reflink snapshot auto; do
            [ -d "$mnt/dest-$m" ] && verify "prepare on $fs" "$mnt" "$m"
        done
        printf '%s\trsync\t(reference)\n' "prepare on $fs" >> "$VERIFY"
    fi
    for m in hardlink reflink snapshot auto; do clear_dest "$mnt/dest-$m"; done
    clear_dest "$mnt/dest-rsync"
    for ((r = 0; r < ROUNDS; r++)); do
        for m in finalize-reflink finalize-copy; do
            run_method "finalize on $fs" "$m" "$r" "$mnt"
        done
    done
    if [ -z "$KEEP" ]; then
        umount "$mnt" && rm -f "$mnt.img" && rmdir "$mnt"
        MOUNTS=("${MOUNTS[@]/$mnt}")
    fi
done

entries=$(sed -n 's/^prepare replay: \([0-9]*\) entries linked, \([0-9]*\) directories.*/\1 entries and \2 directories/p' \
    "$WORKLOAD/workload.txt")
{
    echo "### Copy-on-write per-package trees: prepare replay and finalize on btrfs and XFS"
    echo
    echo "- workload: $(basename "$WORKLOAD") (${#STEPS[@]} steps, $entries created per replay)"
    sed -n '1p' "$WORKLOAD/workload.txt" | sed 's/^/- graph: /'
    bench_env
    echo "- images: $SIZE sparse files on the work directory's filesystem, loop-mounted (btrfs: mkfs.btrfs defaults; xfs: -m reflink=1)"
    echo "- command: scripts/bench-cow.sh $ARGS"
    [ -n "$SYNC" ] && echo "- every timed run ends with syncfs (--sync)"
    echo
    python3 - "$TIMES" "$VERIFY" <<'EOF'
import statistics, sys
times, verify = sys.argv[1], sys.argv[2]
data = {}
for line in open(times):
    scen, m, r, s = line.rstrip("\n").split("\t")
    data.setdefault(scen, {}).setdefault(m, []).append(float(s))
checks = {}
for line in open(verify):
    scen, m, v = line.rstrip("\n").split("\t")
    checks[(scen, m)] = v
labels = {
    "rsync": "rsync loop (Buildroot)", "hardlink": "ppd --link-mode hardlink",
    "reflink": "ppd --link-mode reflink", "snapshot": "ppd --link-mode snapshot",
    "auto": "ppd --link-mode auto (subvolume sources)",
    "ext4-hardlink": "ppd --link-mode hardlink on ext4 (work directory)",
    "finalize-reflink": "ppd finalize --link-mode reflink",
    "finalize-copy": "ppd finalize --link-mode copy (plain copies)",
}
targets = []
for scen, ms in data.items():
    med = {m: statistics.median(v) for m, v in ms.items()}
    ref = "finalize-copy" if scen.startswith("finalize") else "hardlink"
    print(f"**{scen}** (medians of {max(len(v) for v in ms.values())} rounds)")
    print()
    print(f"| method | median | x {ref} time | rsync loop is | check |")
    print("|---|---:|---:|---:|---|")
    for m in sorted(med, key=med.get):
        rel = f"{med[m] / med[ref]:.2f}x" if ref in med else ""
        vs = f"{med['rsync'] / med[m]:.1f}x slower" if "rsync" in med and m != "rsync" else ""
        print(f"| {labels.get(m, m)} | {med[m]:.2f} s | {rel} | {vs} | {checks.get((scen, m), '')} |")
    print()
    fs = scen.split()[-1]
    if scen.startswith("prepare") and fs == "btrfs" and "snapshot" in med:
        ok = med["snapshot"] <= med["hardlink"] and "; 0 regular" in checks.get((scen, "snapshot"), "; 0 regular")
        targets.append(f"- btrfs: snapshot {med['snapshot']:.2f} s <= hardlink {med['hardlink']:.2f} s with 0 shared inodes: {'met' if ok else 'NOT met'}")
    if scen.startswith("prepare") and fs == "xfs" and "reflink" in med:
        r = med["reflink"] / med["hardlink"]
        line = f"- xfs: reflink is {r:.2f}x hardlink's time (target <= 4x): {'met' if r <= 4 else 'NOT met'}"
        if "rsync" in med:
            s = med["rsync"] / med["reflink"]
            line += f"; {s:.1f}x faster than the rsync loop (target >= 5x): {'met' if s >= 5 else 'NOT met'}"
        targets.append(line)
if targets:
    print("Targets:")
    print()
    print("\n".join(targets))
EOF
} > "$RESULTS"
echo
cat "$RESULTS"
grep -q 'NO:' "$VERIFY" && exit 1
exit 0
