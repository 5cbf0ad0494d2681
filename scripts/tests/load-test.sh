#!/usr/bin/env bash
# load-test.sh - a short load.sh run: heap.bt (heap-bt) under rate-wl at
# 1k and 10k calls a second, one thread, 1 s each, then:
#   - load.sh refuses bad input before it runs anything (exit 2): a rate
#     that is none, a tracker that counts no calls
#   - it exits 0 and writes load.csv, load.md, load.png, render and made
#   - load.csv has wlreport's header and a row per rate, the runs' raw files
#     (tracked and alone) are there, the tracked one with the tracker's usage
#   - at 1k calls a second heap.bt counted every call rate-wl made (1000,
#     loss 0, nothing said lost)
#   - the table is what `wlreport load table` renders again from the records
# Prints KTAP (lib.sh). Needs root (bpftrace). Holds the uprobe lock file
# ($TMPDIR/memory-workloads-uprobes.lock) while heap.bt runs.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

ktap_plan 11
if [ "$(id -u)" -ne 0 ]; then
	not_ok "running as root (bpftrace needs it)"
	ktap_done || exit 1
fi
(need_pkgs bpftrace gnuplot-nox) || true
check "bpftrace is installed" command -v bpftrace
rate_wl="$scripts/../target/release/rate-wl"
[ -x "$rate_wl" ] || (cd "$scripts/.." && cargo build --release --quiet) || true
check "rate-wl is built" test -x "$rate_wl"
if [ "$ktap_fail" -ne 0 ]; then ktap_done || exit 1; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/load-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# exits CODE CMD...: CMD exits with CODE
exits() {
	local want=$1 rc=0
	shift
	"$@" >/dev/null 2>"$work/err" || rc=$?
	[ "$rc" -eq "$want" ] || { echo "# exit $rc, not $want: $(last_line "$work/err")"; return 1; }
}
check "a rate of 0 is a usage error (exit 2), nothing run" exits 2 "$scripts/load.sh" --rates 1k,0 -o "$work/bad"
check "a tracker that counts no calls is a usage error (exit 2)" exits 2 "$scripts/load.sh" -t maps -o "$work/bad"

out="$work/out"
rc=0
(
	flock 9
	"$scripts/load.sh" -t heap-bt --rates 1k,10k --threads 1 --duration 1s -o "$out" >"$work/stdout" 2>"$work/stderr"
) 9>"${TMPDIR:-/tmp}/memory-workloads-uprobes.lock" || rc=$?
sed 's/^/# /' "$work/stderr"
check "load.sh exits 0" test "$rc" -eq 0
check "load.sh writes load.csv, load.md, load.png, render and made" \
	test -s "$out/load.csv" -a -s "$out/load.md" -a -s "$out/load.png" -a -s "$out/render" -a -s "$out/made"

header="tracker,threads,rate,made,counted,loss,reported_lost,silent,no_figure,lines_printed,lines_made,achieved_alone,achieved_tracked,ns_per_call_alone,ns_per_call_tracked,cost_ns_per_call,ratio,tracker_cpu_ns,tracker_cpu_ns_per_call,tracker_peak_rss_bytes,error"
rows_ok() {
	[ "$(head -n 1 "$out/load.csv")" = "$header" ] &&
		[ "$(tail -n +2 "$out/load.csv" | cut -d, -f1-3 | paste -sd' ')" = "heap-bt,1,1k heap-bt,1,10k" ]
}
check "load.csv has the header and a row per rate" rows_ok
usage_kept() {
	local f
	for f in 1k-t1 10k-t1; do
		grep -q '^@@ tracker-usage' "$out/raw/heap-bt/$f.raw" || { echo "# no usage in $f.raw"; return 1; }
	done
}
check "each run was recorded, with the tracker's usage" usage_kept
check "the runs alone were recorded" test -s "$out/raw/heap-bt/1k-t1.none.raw" -a -s "$out/raw/heap-bt/10k-t1.none.raw"
at_1k() {
	local row
	row=$(grep '^heap-bt,1,1k,' "$out/load.csv")
	echo "# $row"
	# made, counted, loss, reported_lost, silent, no_figure
	[ "$(cut -d, -f4-9 <<<"$row")" = "1000,1000,0.000000,,no," ]
}
check "at 1k calls a second heap.bt counted all 1000 calls, and said nothing lost" at_1k
rerender() {
	cp -r "$out" "$work/again"
	rm -f "$work/again/load.md"
	IFS=$'\t' read -r -a args <"$work/again/render"
	need_wlreport
	(cd "$work/again" && "$WLREPORT" "${args[@]}" >/dev/null) && cmp -s "$out/load.md" "$work/again/load.md"
}
check "load.md is what wlreport renders again from the records" rerender
ktap_done
