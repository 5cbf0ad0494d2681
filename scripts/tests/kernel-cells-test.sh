#!/usr/bin/env bash
# kernel-cells-test.sh - the kernel cells of the scoreboard, in the VM:
#   - scripts/kernel/kpaths.sh (production kernel): every path of kpaths.list,
#     3 repetitions, classed as a tracker that sums kmalloc and
#     kmem_cache_alloc sees it (tracker kmem-sum);
#   - scripts/kernel/ktrackers.sh (production kernel, the host's root shared):
#     the same paths under the host's eBPF trackers of
#     scripts/trackers/ktrackers.tsv, 3 repetitions (kmem-bt: kmem.bt in bpftrace;
#     memleak-k: bcc's memleak in kernel mode, only with
#     KERNEL_TRACKERS=all); KERNEL_TRACKERS=0 skips them;
#   - scripts/kernel/kleaks.sh (debug kernel): 3 objects leaked for each line of
#     kleaks.list, classed by what kmemleak reported of them (tracker kmemleak);
# and for each: the script wrote its table and cells and printed the table,
# one cell per line of its list (per tracker), and each cell has the class of
# scripts/scoreboard/expected/TOOL-VERSION.csv (linux-, kmemleak-); a class
# that differs, a cell without one or a kernel version without a file fails.
# Accept new classes with `wlreport scoreboard expected --csv CSV --out
# scripts/scoreboard/expected` after a run of the scripts, CSV being
# results/kpaths/kpaths.csv and results/ktrackers/ktrackers.csv joined (the
# header once: they share linux-VERSION.csv), or results/kleaks/kleaks.csv.
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

# run_cells NAME N [ARG...]: runs scripts/kernel/NAME.sh ARG..., checks that
# it wrote its table and N cells; returns 1 when it failed.
run_cells() {
	local name=$1 n=$2 rc=0 f
	shift 2
	"$scripts/kernel/$name.sh" "$@" -o "$work/$name" >"$work/$name.stdout" 2>"$work/$name.stderr" || rc=$?
	if ((rc != 0)); then
		not_ok "$name.sh ran in the VM (exit $rc): $(last_line "$work/$name.stderr")"
		sed 's/^/# /' "$work/$name.stderr"
		return 1
	fi
	ok "$name.sh ran in the VM"
	for f in "$name.md" "$name.csv"; do
		check "$name.sh wrote $f" test -s "$work/$name/$f"
	done
	check "$name.sh printed the table it wrote" cmp -s "$work/$name.stdout" "$work/$name/$name.md"
	check "$n cells in $name.csv" test "$(($(wc -l <"$work/$name/$name.csv") - 1))" -eq "$n"
}

# check_cells NAME...: checks the cells of the scripts' CSVs, together (a
# tool's expected file may hold the cells of more than one script).
check_cells() {
	local name what tv tracker path got expected all="$work/cells.csv"
	head -n 1 "$work/$1/$1.csv" >"$all"
	for name in "$@"; do tail -n +2 "$work/$name/$name.csv" >>"$all"; done
	"$WLREPORT" scoreboard check --defs "$scripts/trackers/trackers.tsv" --csv "$all" \
		--expected "$scripts/scoreboard/expected" \
		>"$work/check" || not_ok "wlreport scoreboard check ran on the cells of $*"
	while IFS=$'\t' read -r what tv tracker path got expected; do
		case "$what" in
		same) ok "$tracker $path: $got, as expected for $tv" ;;
		differs) not_ok "$tracker $path: $got, expected $expected for $tv" ;;
		new) not_ok "$tracker $path: $got, but $tv.csv has no class for it" ;;
		no-file) not_ok "$tv: no expected classes (scripts/scoreboard/expected/$tv.csv; a new kernel?)" ;;
		gone) not_ok "$tracker $path: expected in $tv.csv, but no script ran it" ;;
		esac
	done <"$work/check"
}

ran=()
read_list "$scripts/kernel/kpaths.list"
kpaths_n=${#LIST[@]}
run_cells kpaths "$kpaths_n" && ran+=(kpaths)
# The host's eBPF trackers in the guest (ktrackers.sh): kmem-bt's cells share
# linux-VERSION.csv with kmem-sum's. memleak-k's (memleak-VERSION.csv) take
# about 10 s a run: only with KERNEL_TRACKERS=all.
case ${KERNEL_TRACKERS:-kmem-bt} in
0) kt=() ;;
all) kt=(-t kmem-bt -t memleak-k) ;;
*) kt=(-t kmem-bt) ;;
esac
if ((${#kt[@]} == 0)); then
	skip "ktrackers.sh ran in the VM" "KERNEL_TRACKERS=0"
elif ! command -v bpftrace >/dev/null 2>&1 || [[ ! -x /usr/sbin/memleak-bpfcc ]]; then
	skip "ktrackers.sh ran in the VM" "bpftrace or bpfcc-tools is not installed"
else
	run_cells ktrackers $((kpaths_n * ${#kt[@]} / 2)) "${kt[@]}" && ran+=(ktrackers)
fi
((${#ran[@]})) && check_cells "${ran[@]}"
read_list "$scripts/kernel/kleaks.list"
run_cells kleaks "${#LIST[@]}" && check_cells kleaks
ktap_done
