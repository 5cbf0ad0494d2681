#!/usr/bin/env bash
# kernel-cells-test.sh - the kernel cells of the scoreboard, in the VM:
#   - scripts/kernel/kpaths.sh (production kernel): every path of kpaths.list,
#     3 repetitions, classed as a tracker that sums kmalloc and
#     kmem_cache_alloc sees it (tracker kmem-sum);
#   - scripts/kernel/ktrackers.sh (production kernel, the host's root shared):
#     the same paths under the host's eBPF trackers of
#     scripts/trackers/ktrackers.tsv, 3 repetitions (kmem-bt: kmem.bt in bpftrace;
#     memleak-k: bcc's memleak in kernel mode, only with
#     KERNEL_TRACKERS=all); KERNEL_TRACKERS=0 skips them; and a tracker of
#     the contract given by ktrackers.sh --tracker, the example
#     scripts/trackers/examples/kmem-live.py (bcc), once on a few paths (bcc
#     compiles it at each run's start);
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
# (NAME:DIR writes in DIR instead of NAME)
run_cells() {
	local name=${1%%:*} dir=${1#*:} n=$2 rc=0 f
	shift 2
	"$scripts/kernel/$name.sh" "$@" -o "$work/$dir" >"$work/$dir.stdout" 2>"$work/$dir.stderr" || rc=$?
	if ((rc != 0)); then
		not_ok "$name.sh ran in the VM (exit $rc): $(last_line "$work/$dir.stderr")"
		sed 's/^/# /' "$work/$dir.stderr"
		return 1
	fi
	ok "$name.sh ran in the VM"
	for f in "$name.md" "$name.csv"; do
		check "$name.sh wrote $f" test -s "$work/$dir/$f"
	done
	check "$name.sh printed the table it wrote" cmp -s "$work/$dir.stdout" "$work/$dir/$name.md"
	check "$n cells in $name.csv" test "$(($(wc -l <"$work/$dir/$name.csv") - 1))" -eq "$n"
}

# check_cells NAME[:DIR]...: checks the cells of the scripts' CSVs, together
# (a tool's expected file may hold the cells of more than one script).
check_cells() {
	local nd what tv tracker path got expected all="$work/cells.csv" from=1
	: >"$all"
	for nd in "$@"; do
		tail -n +"$from" "$work/${nd#*:}/${nd%%:*}.csv" >>"$all"
		from=2 # the header once
	done
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

# ktrackers.sh's refusals of a bad --tracker: one line, exit 2, before any VM.
kt_rc() { "$scripts/kernel/ktrackers.sh" -o "$work/refused" "$@" >/dev/null 2>"$work/refused.err" && echo 0 || echo $?; }
check "ktrackers.sh --tracker of another kind than kernel: exit 2" test "$(kt_rc --tracker 'x:calls=p {pid}')" = 2
check "... naming it" grep -q "^ktrackers.sh: error: --tracker x: the kind of a kernel tracker is kernel" "$work/refused.err"
check "ktrackers.sh --tracker without {pid}: exit 2" test "$(kt_rc --tracker 'x:kernel=p')" = 2
check "ktrackers.sh --tracker with {cmd}: exit 2" test "$(kt_rc --tracker 'x:kernel=p {pid} {cmd}')" = 2
check "ktrackers.sh --tracker of a bundled tracker's name: exit 2" test "$(kt_rc --tracker 'kmem-bt:kernel=p {pid}')" = 2
check "ktrackers.sh --tracker with a path the guest has not (its /tmp is a tmpfs): exit 2" \
	test "$(kt_rc --tracker 'x:kernel=python3 /tmp/x.py {pid}')" = 2
check "... each in one line" test "$(wc -l <"$work/refused.err")" -eq 1

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
if ((${#kt[@]})) && ((${#ran[@]})) && [[ " ${ran[*]} " == *" ktrackers "* ]]; then
	# A kernel tracker of the contract, by ktrackers.sh --tracker: the example
	# of docs/tracker-contract.md, on paths where it differs from kmem-bt (a
	# large kmalloc traced twice, a krealloc that frees) or sees nothing
	# (vmalloc), once each: bcc compiles it at each run's start (a minute in
	# the guest).
	printf '%s\n' "--path kmalloc 4194304" "--path krealloc --from 4096 100" \
		"--path kmem_cache 32" "--path vmalloc 4096" >"$work/contract.list"
	run_cells ktrackers:contract 4 -t kmem-live -r 1 -l "$work/contract.list" \
		--file "$scripts/trackers/examples/kmem-live.py" \
		--tracker "kmem-live:kernel=python3 -u kmem-live.py {pid}" &&
		ran+=(ktrackers:contract)
fi
((${#ran[@]})) && check_cells "${ran[@]}"
read_list "$scripts/kernel/kleaks.list"
run_cells kleaks "${#LIST[@]}" && check_cells kleaks
ktap_done
