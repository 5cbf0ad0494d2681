#!/usr/bin/env bash
# kernel-sweep-test.sh - the kmalloc column of DATA.csv, end to end: a short
# kernel sweep in the test VM (scripts/kernel/vm-sweep.sh: sizes 1, 32 B, 4 KiB,
# 64 KiB, 4 MiB; 2 repetitions), merged by scripts/sweep.sh, then:
#   - the kernel CSV has its header and one row per run
#   - every run: bytes_req == size and one allocation (distinct pointer) by the
#     module, traced once up to 8 KiB and twice above (Linux 7.2's large kmalloc)
#   - the MemTracker-style sum grows by twice the size from 64 KiB up: the
#     double trace of a large kmalloc, the tracker error this column exposes
#   - DATA.csv's kmalloc column holds the median sum for each size
#   - runs.csv: the process's kmalloc events and distinct pointers in
#     kmalloc_events/kmalloc_ptrs, the module's own in module_kmalloc_*
# Prints KTAP (lib.sh); exits non-zero on a failure. Builds the kernel on
# first use (see scripts/kernel/build.sh).
# The checks pass awk conditions in single quotes, on purpose.
# shellcheck disable=SC2016
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

ktap_plan 12
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sizes=(1 32 4096 65536 4194304)
check "vm-sweep.sh ran every size in the VM" \
	"$scripts/kernel/vm-sweep.sh" -s "${sizes[*]}" -r 2 -o "$tmp/kernel.csv"
check "kernel CSV header" \
	[ "$(head -n1 "$tmp/kernel.csv" 2>/dev/null)" = "size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events,kmalloc_ptrs" ]
check "kernel CSV has one row per run" [ "$(wc -l <"$tmp/kernel.csv" 2>/dev/null)" = $((1 + 2 * ${#sizes[@]})) ]

# every_run AWK-CONDITION: true when the condition holds on every data row.
every_run() { awk -F, -v bad=0 "NR > 1 && !($1) { print \"# \" \$0; bad = 1 } END { exit bad }" "$tmp/kernel.csv"; }
check "bytes_req equals the size in every run" every_run '$4 == $1'
check "the module made exactly one allocation per run" every_run '$5 == 1'
check "one kmem:kmalloc event up to 8 KiB, two above (same pointer)" every_run '$6 == ($1 > 8192 ? 2 : 1)'
check "the process's distinct kmalloc pointers: at least the module's, at most its events" \
	every_run '$9 >= $5 && $9 <= $7 && $6 <= $7'
# Below 64 KiB the process's own kmallocs (exec, mm) vary by a few KiB from run
# to run, more than the allocation; above, the large kmalloc shows, counted twice.
base=$(awk -F, '$1 == 1 { print $3; exit }' "$tmp/kernel.csv")
check "from 64 KiB the tracked sum less the size-1 baseline is twice the size (within 8 KiB)" \
	every_run "\$1 < 65536 || (\$3 - $base - 2 * \$1 < 8192 && \$3 - $base - 2 * \$1 > -8192)"

check "sweep.sh merges it (no user-space workloads)" \
	"$scripts/sweep.sh" -q -t none -w malloc-wl -s "$(IFS=,; echo "${sizes[*]}")" -r 1 \
	-k "$tmp/kernel.csv" -o "$tmp/out"
medians() { # size,median bytes_alloc_sum, from the kernel CSV
	awk -F, 'NR > 1 { v[$1] = v[$1] " " $3 } END { for (s in v) { n = split(v[s], a, " ");
		# two repetitions: the median is their mean
		m = 0; for (i = 1; i <= n; i++) m += a[i]; printf "%s,%.0f\n", s, m / n } }' "$tmp/kernel.csv" | sort -n
}
column() { awk -F, 'NR > 1 && $4 != "" { print $1 "," $4 }' "$tmp/out/DATA.csv" | sort -n; }
check "DATA.csv's kmalloc column is the median tracked sum per size" \
	[ "$(medians)" = "$(column)" ]
# runs.csv's kernel-csv rows against the kernel CSV, column by column
rows() { awk -F, 'NR > 1 { print $1 "," $2 "," $3 "," $7 "," $9 "," $6 "," $5 }' "$tmp/kernel.csv" | sort; }
runs_rows() {
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$4 == "kernel-csv" { print $2 "," $3 "," $(c["tracked_bytes"]) "," $(c["kmalloc_events"]) "," $(c["kmalloc_ptrs"]) "," \
			$(c["module_kmalloc_events"]) "," $(c["module_kmalloc_ptrs"]) }' "$tmp/out/runs.csv" | sort
}
check "runs.csv has every kernel run (tracker kernel-csv)" \
	[ "$(awk -F, '$4 == "kernel-csv"' "$tmp/out/runs.csv" 2>/dev/null | wc -l)" = $((2 * ${#sizes[@]})) ]
check "runs.csv: the process's kmalloc events and pointers in kmalloc_events/_ptrs, the module's in module_kmalloc_events/_ptrs" \
	[ "$(rows)" = "$(runs_rows)" ]

ktap_done
