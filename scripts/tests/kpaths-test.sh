#!/usr/bin/env bash
# kpaths-test.sh - the kernel cells of the scoreboard: every path of
# scripts/kernel/kpaths.list in the production kernel's VM
# (scripts/kernel/kpaths.sh, 3 repetitions, the median one kept), then:
#   - kpaths.sh wrote the table and the cells, and printed the table
#   - one cell per run of the list
#   - each cell's class (what a tracker that sums kmalloc and
#     kmem_cache_alloc makes of it) is the one in
#     scripts/scoreboard/expected/linux-VERSION.csv; a class that differs, a
#     cell without one or a kernel version without a file fails. Accept new
#     classes with `wlreport scoreboard expected --csv results/kpaths/kpaths.csv
#     --out scripts/scoreboard/expected` after a scripts/kernel/kpaths.sh run.
# Prints KTAP (lib.sh); exits non-zero on a failure. Builds the kernel on
# first use (see scripts/kernel/build.sh).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

ktap_plan "" # the plan at the end: a check a cell
need_wlreport
work=$(mktemp -d "${TMPDIR:-/tmp}/kpaths-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

runs=$(grep -cv '^\(#\|$\)' "$scripts/kernel/kpaths.list")
rc=0
"$scripts/kernel/kpaths.sh" -r 3 -o "$work/out" >"$work/stdout" 2>"$work/stderr" || rc=$?
if ((rc == 0)); then
	ok "kpaths.sh ran every path in the VM"
else
	not_ok "kpaths.sh ran every path in the VM (exit $rc): $(last_line "$work/stderr")"
	sed 's/^/# /' "$work/stderr"
	ktap_done || exit 1
fi
for f in kpaths.md kpaths.csv; do
	check "kpaths.sh wrote $f" test -s "$work/out/$f"
done
check "kpaths.sh printed the table it wrote" cmp -s "$work/stdout" "$work/out/kpaths.md"
check "one cell per run of kpaths.list ($runs)" test "$(($(wc -l <"$work/out/kpaths.csv") - 1))" -eq "$runs"

"$WLREPORT" scoreboard check --csv "$work/out/kpaths.csv" --expected "$scripts/scoreboard/expected" >"$work/check" ||
	not_ok "wlreport scoreboard check ran"
while IFS=$'\t' read -r what tv tracker path got expected; do
	case "$what" in
	same) ok "$tracker $path: $got, as expected for $tv" ;;
	differs) not_ok "$tracker $path: $got, expected $expected for $tv" ;;
	new) not_ok "$tracker $path: $got, but $tv.csv has no class for it" ;;
	no-file) not_ok "$tv: no expected classes (scripts/scoreboard/expected/$tv.csv; a new kernel?)" ;;
	gone) not_ok "$tracker $path: expected in $tv.csv, but kpaths.list does not run it" ;;
	esac
done <"$work/check"

ktap_done
