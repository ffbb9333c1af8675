# workflows.sh -- the second package set's workflows, sourced by run.sh
# after the two builds, their comparison and the no-op make (its functions
# and variables are in scope). Kept short for CI: one rebuild, then make.

say "workflow: modpkg-rebuild then make: its hook appends to basefiles' file again"
base_before=$(cat "$ppdir/basefiles/target/etc/base.conf")
base_ino=$(stat -c %i "$ppdir/basefiles/target/etc/base.conf")
# Serial, as the other set's rebuilds (.WAIT under make 4.3); 'all' then
# runs the finalize steps and the root filesystem image again.
brmake "$logs/rebuild.log" V=1 "${dropin[@]}" modpkg-rebuild all \
    || die "modpkg-rebuild all failed, see $logs/rebuild.log"
appended_twice() {
    local n
    n=$(grep -c '^modpkg = ' "$1") || true
    [ "$n" = 2 ] || { echo "$1: $n lines 'modpkg = ', expected 2"; cat "$1"; return 1; }
}
check rebuild "the rebuild's hook appends to modpkg's copy of etc/base.conf" \
    appended_twice "$ppdir/modpkg/target/etc/base.conf"
basefiles_untouched() {
    [ "$(cat "$ppdir/basefiles/target/etc/base.conf")" = "$base_before" ] \
        || { echo "basefiles' etc/base.conf changed:"; cat "$ppdir/basefiles/target/etc/base.conf"; return 1; }
    [ "$(stat -c %i "$ppdir/basefiles/target/etc/base.conf")" = "$base_ino" ] \
        || { echo "basefiles' etc/base.conf has another inode"; return 1; }
}
check rebuild-inplace "the rebuild's in-place write does not reach basefiles' tree" basefiles_untouched
# The final merge lets the last package in name order win a path, as
# Buildroot's does: symfarm (after modpkg) holds basefiles' etc/base.conf
# through its dependency, so basefiles' content wins, and the finalize
# says so.
check make "the final target tree has basefiles' etc/base.conf (symfarm's copy, last in name order)" \
    cmp "$ppdir/basefiles/target/etc/base.conf" "$out/target/etc/base.conf"
rebuild_conflict() {
    grep -E '^ppd: conflict: .*/target/etc/base\.conf is provided differently by modpkg \(file\), basefiles \(file\); basefiles wins$' "$1"
}
check conflict "the finalize reports the conflict the rebuild made, with the winner" \
    rebuild_conflict "$logs/rebuild.log"
in_image() {
    tar -xOf "$out/images/rootfs.tar" ./etc/base.conf | cmp - "$out/target/etc/base.conf"
}
check make "the root filesystem image has it too" in_image
