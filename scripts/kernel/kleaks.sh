#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The kmemleak cells of the scoreboard: boots the debug kernel (vm-test.sh,
# with kmemleak), leaks one object of the module for each line of the list,
# REPS times, each from a process that exits (guest-kleaks.sh), lets kmemleak
# scan, and prints the table `wlreport kleaks` makes of what kmemleak reported
# for each (tracker kmemleak: its size against the bytes asked, or nothing; a
# cell takes the class most of its objects had). Writes
# DIR/kleaks.md (the table), DIR/console.log (the guest's lines it is made
# from; scripts/results.sh publish puts both in docs/results/) and
# DIR/kleaks.csv (the cells, in the scoreboard's
# schema: `wlreport scoreboard check` holds them to
# scripts/scoreboard/expected/kmemleak-VERSION.csv).
#
# Usage: scripts/kernel/kleaks.sh [-r REPS] [-l LIST] [-o DIR]
#   -r REPS   objects leaked for each line (default 3)
#   -l LIST   the leaks, what a write to /proc/kmalloc_lkm asks for, one a line
#             (default scripts/kernel/kleaks.list)
#   -o DIR    where the table and the cells go (default results/kleaks)
# Errors are one line on stderr, "kleaks.sh: ...". Exit status: 0 done; 1 the
# guest failed or did not report; 2 usage or setup error.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

reps=3 list="$here/kleaks.list" out="$here/../../results/kleaks"
while (($#)); do
	case $1 in
	-r|-l|-o) (($# >= 2)) || die "$1 needs a value (see --help)" ;;&
	-r) reps=$2; shift 2 ;;
	-l) list=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option '$1' (usage: kleaks.sh [-r REPS] [-l LIST] [-o DIR])" ;;
	esac
done
[[ $reps =~ ^[1-9]$ ]] || die "-r takes a whole number from 1 to 9, not '$reps'"
read_list "$list"
need_wlreport

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/vm-test.sh" --quiet --log "$tmp/console" --guest "$here/guest-kleaks.sh" -- "$reps" "${LIST[@]}" \
	>"$tmp/out" 2>&1 || fail "the guest failed: $(last_line "$tmp/out")"
kerr=$(grep -a '^KERR' "$tmp/console" | tr -d '\r') && fail "in the guest: ${kerr//$'\n'/; }"
kernel=$(sed -n 's/^GUEST-START: \([^ ]*\).*/\1/p' "$tmp/console" | tr -d '\r' | head -n 1)
mkdir -p "$out" || die "cannot make $out"
# The guest's lines wlreport reads: the records the table is made from.
grep -a '^KLEAK-' "$tmp/console" | tr -d '\r' >"$out/console.log" || true
args=(kleaks --console console.log --leaks ${#LIST[@]} --reps "$reps" --kernel "$kernel")
record_render "$out" - console.log -- "${args[@]}"
(cd "$out" && "$WLREPORT" "${args[@]}" --csv kleaks.csv) >"$out/kleaks.md" || fail "wlreport kleaks failed"
cat "$out/kleaks.md"
