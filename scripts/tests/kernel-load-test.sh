#!/usr/bin/env bash
# kernel-load-test.sh - a short scripts/kernel/kload.sh run in the VM (the
# production kernel, the host's root shared): kmalloc-test --rate under
# kmem-bt (bpftrace) and tracefs (and memleak-k, bcc's memleak, only with
# KERNEL_TRACKERS=all: in a boot where its stack map has no room for the
# module's stack it drops every object, docs/kernel.md) at 1k calls a second
# for 1 s and at max for 20,000 calls, with 1 and 2 writer threads, each
# beside the run alone, then:
#   - kload.sh refuses bad input before it boots anything (exit 2): a rate
#     that is none, a tracker it does not know, a size over 64 KiB, 0 threads
#   - it exits 0 and writes kload.csv, kload.md, kload.png, console.log,
#     render and made; kload.csv has load.csv's header and a row per tracker
#     and rate, each with figures
#   - each run's truth is the module's own count, equal to kmalloc-test's
#     (wlreport refuses a row where they differ): 1000 a thread at 1k, 20000
#     a thread at max
#   - at 1k calls a second each tracker counted every kmalloc of both
#     threads, and said nothing lost (tracefs: no event overwritten)
#   - the table is what `wlreport kload` renders again from the records
#   - a tracker of the contract given by --tracker (the example
#     scripts/trackers/examples/kmem-live.py, bcc) makes its row: at 1k calls
#     a second it counted the 1000 held objects, and a few of the process's
# Prints KTAP (lib.sh). Needs root, bpftrace (bpfcc-tools for memleak-k), the
# kernel toolchain (builds the production kernel on first use).
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

ktap_plan 12
(need_pkgs bpftrace bpfcc-tools gnuplot-nox) || true
case ${KERNEL_TRACKERS:-} in
all) trackers=(kmem-bt tracefs memleak-k) ;;
*) trackers=(kmem-bt tracefs) ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/kernel-load-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# exits CODE CMD...: CMD exits with CODE
exits() {
	local want=$1 rc=0
	shift
	"$@" >/dev/null 2>"$work/err" || rc=$?
	[ "$rc" -eq "$want" ] || { echo "# exit $rc, not $want: $(last_line "$work/err")"; return 1; }
}
kload=$scripts/kernel/kload.sh
check "a rate of 0 is a usage error (exit 2)" exits 2 "$kload" --rates 1k,0 -o "$work/bad"
check "a tracker it does not know is a usage error (exit 2)" exits 2 "$kload" -t heap-bt -o "$work/bad"
check "a size over 64 KiB is a usage error (exit 2)" exits 2 "$kload" --size 65537 -o "$work/bad"
check "0 writer threads is a usage error (exit 2)" exits 2 "$kload" --threads 1,0 -o "$work/bad"
check "nothing was written for them" test ! -e "$work/bad"

out="$work/out"
rc=0
"$kload" -t "$(IFS=,; echo "${trackers[*]}")" --rates 1k,max --threads 1,2 --max-calls 20000 --duration 1s -o "$out" \
	>"$work/stdout" 2>"$work/stderr" || rc=$?
sed 's/^/# /' "$work/stderr"
check "kload.sh exits 0" test "$rc" -eq 0
check "kload.sh writes kload.csv, kload.md, kload.png, console.log, render and made" \
	test -s "$out/kload.csv" -a -s "$out/kload.md" -a -s "$out/kload.png" -a -s "$out/console.log" \
	-a -s "$out/render" -a -s "$out/made"
check "kload.sh printed the table it wrote" cmp -s "$work/stdout" "$out/kload.md"

header="tracker,threads,rate,made,counted,loss,reported_lost,silent,no_figure,lines_printed,lines_made,achieved_alone,achieved_tracked,ns_per_call_alone,ns_per_call_tracked,cost_ns_per_call,ratio,tracker_cpu_ns,tracker_cpu_ns_per_call,tracker_peak_rss_bytes,error"
rows_ok() {
	local want=() t
	for t in "${trackers[@]}"; do want+=("$t,1,1k,1000" "$t,2,1k,2000" "$t,1,max,20000" "$t,2,max,40000"); done
	[ "$(head -n 1 "$out/kload.csv")" = "$header" ] &&
		[ "$(tail -n +2 "$out/kload.csv" | cut -d, -f1-4 | paste -sd' ')" = "${want[*]}" ]
}
check "kload.csv: a row per tracker and rate, each made what it asked (the module's count)" rows_ok
at_1k() {
	local t n row fail=0
	for t in "${trackers[@]}"; do
		for n in 1 2; do
			row=$(grep "^$t,$n,1k," "$out/kload.csv")
			echo "# $row"
			# made, counted, loss, reported_lost (kmem-bt, memleak-k: none
			# said; tracefs: 0 overwritten), silent
			case $t in
			kmem-bt) [ "$(cut -d, -f4-8 <<<"$row")" = "${n}000,${n}000,0.000000,,no" ] || fail=1 ;;
			# memleak's report, a walk of its map while the kernel changes
			# it, was seen a few allocations short with 2 threads (1996 of
			# 2000), and long at max: within 1% here
			memleak-k) awk -F, -v m="${n}000" '$4 != m || $5 < m * 0.99 || $5 > m * 1.01 || $7 != "" { exit 1 }' <<<"$row" || fail=1 ;;
			tracefs) [ "$(cut -d, -f4-8 <<<"$row")" = "${n}000,${n}000,0.000000,0,no" ] || fail=1 ;;
			esac
		done
	done
	return "$fail"
}
within=""
[[ " ${trackers[*]} " != *" memleak-k "* ]] || within="; memleak-k within 1%"
check "at 1k calls a second ${trackers[*]} counted every kmalloc (1000, 2000 with 2 threads$within), nothing said lost" at_1k
rerender() {
	cp -r "$out" "$work/again"
	rm -f "$work/again/kload.md"
	IFS=$'\t' read -r -a args <"$work/again/render"
	need_wlreport
	(cd "$work/again" && "$WLREPORT" "${args[@]}" >/dev/null) && cmp -s "$out/kload.md" "$work/again/kload.md"
}
check "kload.md is what wlreport renders again from the records" rerender

# A tracker of the contract through --tracker: the example kmem-live.py
# (bcc), which counts the slab objects the process holds: the module's,
# and a few of the process's own (its open file).
contract_row() {
	local rc=0 row
	"$kload" -t kmem-live --tracker 'kmem-live:kernel=python3 -u kmem-live.py {pid}' \
		--file "$scripts/trackers/examples/kmem-live.py" --rates 1k --threads 1 --duration 1s \
		-o "$work/contract" >/dev/null 2>"$work/contract.err" || rc=$?
	[ "$rc" -eq 0 ] || { echo "# exit $rc: $(last_line "$work/contract.err")"; return 1; }
	row=$(grep "^kmem-live,1,1k," "$work/contract/kload.csv")
	echo "# $row"
	awk -F, '$4 != 1000 || $5 < 1000 || $5 > 1064 || $21 != "" { exit 1 }' <<<"$row"
}
check "kload.sh --tracker: kmem-live.py, of the contract, counted the 1000 held objects and at most 64 of the process's own" contract_row
ktap_done
