#!/usr/bin/env bash
# kernel-cells-test.sh - the kernel cells of the scoreboard, in the VM:
#   - scripts/kernel/kpaths.sh (production kernel): every path of kpaths.list,
#     3 repetitions, classed as a tracker that sums kmalloc and
#     kmem_cache_alloc sees it (tracker kmem-sum);
#   - scripts/kernel/kleaks.sh (debug kernel): 3 objects leaked for each line of
#     kleaks.list, classed by what kmemleak reported of them (tracker kmemleak);
# and for each: the script wrote its table and cells and printed the table,
# one cell per line of its list, and each cell has the class of
# scripts/scoreboard/expected/TOOL-VERSION.csv (linux-, kmemleak-); a class
# that differs, a cell without one or a kernel version without a file fails.
# Accept new classes with `wlreport scoreboard expected --csv
# results/kpaths/kpaths.csv --out scripts/scoreboard/expected` (kleaks.csv
# likewise) after a run of the script.
# Prints KTAP (lib.sh); exits non-zero on a failure. Builds the kernels on
# first use (see scripts/kernel/build.sh).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

ktap_plan "" # the plan at the end: a check a cell
need_wlreport
work=$(mktemp -d "${TMPDIR:-/tmp}/kernel-cells-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# cells NAME: runs scripts/kernel/NAME.sh and checks its cells.
cells() {
	local name=$1 rc=0 what tv tracker path got expected
	read_list "$scripts/kernel/$name.list"
	"$scripts/kernel/$name.sh" -o "$work/$name" >"$work/$name.stdout" 2>"$work/$name.stderr" || rc=$?
	if ((rc != 0)); then
		not_ok "$name.sh ran in the VM (exit $rc): $(last_line "$work/$name.stderr")"
		sed 's/^/# /' "$work/$name.stderr"
		return
	fi
	ok "$name.sh ran in the VM"
	for f in "$name.md" "$name.csv"; do
		check "$name.sh wrote $f" test -s "$work/$name/$f"
	done
	check "$name.sh printed the table it wrote" cmp -s "$work/$name.stdout" "$work/$name/$name.md"
	check "one cell per line of $name.list (${#LIST[@]})" \
		test "$(($(wc -l <"$work/$name/$name.csv") - 1))" -eq "${#LIST[@]}"
	"$WLREPORT" scoreboard check --defs "$scripts/trackers/trackers.tsv" --csv "$work/$name/$name.csv" \
		--expected "$scripts/scoreboard/expected" \
		>"$work/$name.check" || not_ok "wlreport scoreboard check ran on $name.csv"
	while IFS=$'\t' read -r what tv tracker path got expected; do
		case "$what" in
		same) ok "$tracker $path: $got, as expected for $tv" ;;
		differs) not_ok "$tracker $path: $got, expected $expected for $tv" ;;
		new) not_ok "$tracker $path: $got, but $tv.csv has no class for it" ;;
		no-file) not_ok "$tv: no expected classes (scripts/scoreboard/expected/$tv.csv; a new kernel?)" ;;
		gone) not_ok "$tracker $path: expected in $tv.csv, but $name.list does not run it" ;;
		esac
	done <"$work/$name.check"
}

cells kpaths
cells kleaks
ktap_done
