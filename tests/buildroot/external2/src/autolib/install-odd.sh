#!/bin/sh
# Data files whose names hold spaces, quotes, shell and regex characters,
# a tab, a backslash, UTF-8 and a byte that is not UTF-8.
set -e
d=$1
mkdir -p "$d/dir with space" "$d/[brackets]"
for n in 'with space.txt' ' leading-space.txt' "quote'single.txt" 'quote"double.txt' \
    'dollar$HOME.txt' 'star*question?.txt' 'back\slash.txt' 'comma,colon:.txt' \
    '-dash.txt' '#hash.txt' 'amp&semi;.txt' 'utf8-é.txt' 'dir with space/inner file.txt' \
    '[brackets]/x.txt' "$(printf 'tab\there.txt')" "$(printf 'latin1-\351.txt')"; do
    printf '%s\n' "$n" > "$d/$n"
done
ln -sf 'with space.txt' "$d/link to space"
ln -sf 'dir with space' "$d/dirlink with space"
