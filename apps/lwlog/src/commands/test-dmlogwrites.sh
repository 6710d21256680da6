#!/bin/bash
# Drives xfstests' own shell functions (common/dmlogwrites, sourced from the xfstests tree,
# never copied here) on one log, the way fstests tests call them, with whichever replay-log
# the caller put at $HERE/src/log-writes/replay-log. replay-log-fstests.test.ts runs it once
# with lwlog's drop-in there and once with the C replay-log, and compares.
#
# Environment: XFSTESTS (the xfstests tree), HERE, LOG, WORK (a scratch folder), SIZE (image
# bytes), MARKS (mark names, one a line), ENTRIES (entry numbers for the range replays),
# FUACHAIN (1: list every FUA from entry 0), LOOPMAX (stop generic/482's loop after this
# many FUAs; 0: run it to the end), FSCHECK (ext4: e2fsck a scratch copy at each of its FUAs),
# SHA (1: also the sha256 of the image at each mark, in $WORK/sha).
#
# stdout: one line per result, images as their CRC and size (cksum: sha256sum costs 20 times
# more); $WORK/seqres.full: what the functions append there (replay-log's -vv output among
# it); $WORK/checks: e2fsck verdicts.
# (No `set -u`: fstests' functions read unset parameters, as _log_writes_find_next_fua's $1.)

# The few fstests globals and functions common/dmlogwrites uses.
here=$HERE
seqres=$WORK/seqres
LOGWRITES_DEV=$LOG
_fail() { echo "_fail: $*"; exit 1; }
_fatal() { echo "_fatal: $*"; exit 1; }
_notrun() { echo "_notrun: $*"; exit 0; }
# shellcheck source=/dev/null
. "$XFSTESTS/common/dmlogwrites"

: > "$seqres.full"
: > "$WORK/checks"
: > "$WORK/sha"
img=$WORK/image

fresh_image() {
	rm -f "$img"
	truncate -s "$SIZE" "$img"
}

crc() {
	cksum < "$1" | tr ' ' :
}

echo "num-entries $("$here/src/log-writes/replay-log" --log "$LOG" --num-entries)"

# Marks to entry numbers, then each mark replayed onto a blank image (--find, then --replay).
while IFS= read -r m; do
	[ -z "$m" ] && continue
	echo "mark ${#m}:${m:0:40} -> $(_log_writes_mark_to_entry_number "$m")"
done <<< "$MARKS"
echo "mark nosuch-mark -> $(_log_writes_mark_to_entry_number nosuch-mark)"
while IFS= read -r m; do
	[ -z "$m" ] && continue
	fresh_image
	out=$( (_log_writes_replay_log "$m" "$img") 2>&1)
	echo "replay_log ${#m}:${m:0:40} $out $(crc "$img")"
	[ "$SHA" = 1 ] && echo "${#m}:${m:0:40} $(sha256sum < "$img" | cut -d' ' -f1)" >> "$WORK/sha"
done <<< "$MARKS"
fresh_image
out=$( (_log_writes_replay_log nosuch-mark "$img") 2>&1)
echo "replay_log nosuch-mark $out $(crc "$img")"

# Every FUA from the first entry, found one after the other as generic/482 finds them.
if [ "$FUACHAIN" = 1 ]; then
	cur=$(_log_writes_find_next_fua)
	while [ -n "$cur" ]; do
		echo "fua $cur"
		cur=$(_log_writes_find_next_fua $((cur + 1)))
	done
fi

# Replays of entries 0..N onto blank images.
for e in $ENTRIES; do
	fresh_image
	out=$( (_log_writes_replay_log_range "$e" "$img") 2>&1)
	echo "range $e $out $(crc "$img")"
done

# generic/482's loop: replay 0..FUA onto the same image, FUA after FUA from the mark mkfs;
# its mount and check are replaced by e2fsck on a scratch copy (journal recovery, then a
# read-only check).
fresh_image
(
	mkfs=$(_log_writes_mark_to_entry_number mkfs)
	[ -z "$mkfs" ] && _fail "failed to locate entry mark 'mkfs'"
	cur=$(_log_writes_find_next_fua "$mkfs")
	[ -z "$cur" ] && _notrun "could not locate any FUA write"
	n=0
	while [ -n "$cur" ]; do
		_log_writes_replay_log_range "$cur" "$img" >> "$seqres.full"
		echo "482 $cur $(crc "$img")"
		if [ "$FSCHECK" = ext4 ]; then
			cp --sparse=always "$img" "$WORK/scratch"
			e2fsck -fy "$WORK/scratch" > /dev/null 2>&1
			e2fsck -fn "$WORK/scratch" > "$WORK/e2fsck.out" 2>&1
			echo "482 $cur e2fsck $?" >> "$WORK/checks"
		fi
		n=$((n + 1))
		[ "$LOOPMAX" -gt 0 ] && [ "$n" -ge "$LOOPMAX" ] && break
		cur=$(_log_writes_find_next_fua $((cur + 1)))
		[ -z "$cur" ] && break
	done
	echo "482 done"
)
echo "482 status $?"
