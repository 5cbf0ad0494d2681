#!/usr/bin/env bash
# kernel-sweep-test.sh - the kmalloc column of DATA.csv, end to end, on the
# production kernel (scripts/kernel/build.sh --production: no KASAN, kmemleak or
# lockdep): a short kernel sweep in the VM (scripts/kernel/vm-sweep.sh: sizes 1,
# 32 B, 64 B, 4 KiB, 8 KiB, 64 KiB, 4 MiB; 3 repetitions), merged by
# scripts/sweep.sh, then:
#   - the kernel CSV has its header and one row per run
#   - every run: bytes_req == size and one allocation (one object) by the
#     module, traced once up to 8 KiB and twice above (Linux 7.2's large kmalloc)
#   - less SLUB's own sheaf kmallocs (sheaf_bytes, now and then in any task),
#     every run of a size has the same tracked sum: the process's other
#     kmallocs do not change
#   - that sum grows with SIZE exactly as the kmalloc column of the original
#     table does, wherever the kernel traces once: by SIZE less the 8 bytes of
#     the size-1 run's bucket (32 bytes for a 32-byte kmalloc, not KASAN's 64);
#     above 8 KiB by twice SIZE, the double trace of a large kmalloc, the
#     tracker error this column exposes
#   - DATA.csv's kmalloc column holds the median sum for each size, and so the
#     same growth once the median run's sheaf bytes are taken out
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

ktap_plan 14
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sizes=(1 32 64 4096 8192 65536 4194304) reps=3
check "vm-sweep.sh ran every size in the production kernel's VM" \
	"$scripts/kernel/vm-sweep.sh" -s "${sizes[*]}" -r "$reps" -o "$tmp/kernel.csv"
check "kernel CSV header" \
	[ "$(head -n1 "$tmp/kernel.csv" 2>/dev/null)" = "size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events,kmalloc_ptrs,sheaf_bytes" ]
check "kernel CSV has one row per run" [ "$(wc -l <"$tmp/kernel.csv" 2>/dev/null)" = $((1 + reps * ${#sizes[@]})) ]

# every_run AWK-CONDITION: true when the condition holds on every data row.
every_run() { awk -F, -v bad=0 "NR > 1 && !($1) { print \"# \" \$0; bad = 1 } END { exit bad }" "$tmp/kernel.csv"; }
check "bytes_req equals the size in every run" every_run '$4 == $1'
check "the module made exactly one allocation per run" every_run '$5 == 1'
check "one kmem:kmalloc event up to 8 KiB, two above (same object)" every_run '$6 == ($1 > 8192 ? 2 : 1)'
check "the process's distinct kmalloc pointers: at least the module's, at most its events" \
	every_run '$9 >= $5 && $9 <= $7 && $6 <= $7'
# What the module's kmalloc adds to the sum: its bucket (8 bytes for size 1;
# the size for the powers of two here) once up to 8 KiB, twice above.
module_bytes='($1 == 1 ? 8 : ($1 > 8192 ? 2 * $1 : $1))'
base=$(awk -F, '$1 == 1 { print $3 - $10; exit }' "$tmp/kernel.csv")
check "less SLUB's sheaf kmallocs, every run of a size has the same tracked sum" \
	awk -F, 'NR > 1 { f = $3 - $10; if (($1 in v) && v[$1] != f) { print "# size " $1 ": " v[$1] " and " f; bad = 1 }; v[$1] = f }
		END { exit bad }' "$tmp/kernel.csv"
check "less the sheaves, the sum grows by SIZE - 8 from size 1 up to 8 KiB (32 B: 32, not KASAN's 64), by 2 x SIZE - 8 above" \
	every_run "\$3 - \$10 - $base == $module_bytes - 8"

check "sweep.sh merges it (no user-space workloads)" \
	"$scripts/sweep.sh" -q -t none -w malloc-wl -s "$(IFS=,; echo "${sizes[*]}")" -r 1 \
	-k "$tmp/kernel.csv" -o "$tmp/out"
# median COLUMN: size,the median of that column of the kernel CSV per size
# (an odd number of repetitions: the middle value)
median() {
	awk -F, -v c="$1" 'NR > 1 { print $1, $c }' "$tmp/kernel.csv" | sort -k1,1n -k2,2n |
		awk -v n="$reps" '{ v[$1, ++k[$1]] = $2 } END { for (s in k) print s "," v[s, (n + 1) / 2] }' | sort -n
}
column() { awk -F, 'NR > 1 && $4 != "" { print $1 "," $4 }' "$tmp/out/DATA.csv" | sort -n; }
check "DATA.csv's kmalloc column is the median tracked sum per size" \
	[ "$(median 3)" = "$(column)" ]
# The column less the median sheaf bytes of each size (the sum less the
# sheaves being the same in every run of a size, the median run's sum is the
# median sum), against the module's bytes as above.
col_growth() {
	paste -d, <(column) <(median 10) | awk -F, 'NR == 1 { b = $2 - $4 } { print $1 "," $2 - $4 - b }'
}
want_growth() { printf '%s\n' "${sizes[@]}" | awk -F, "{ print \$1 \",\" $module_bytes - 8 }"; }
check "DATA.csv's kmalloc column less the median sheaf bytes grows by SIZE - 8 up to 8 KiB, 2 x SIZE - 8 above" \
	[ "$(col_growth)" = "$(want_growth)" ]
# runs.csv's kernel-csv rows against the kernel CSV, column by column
rows() { awk -F, 'NR > 1 { print $1 "," $2 "," $3 "," $7 "," $9 "," $6 "," $5 }' "$tmp/kernel.csv" | sort; }
runs_rows() {
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$4 == "kernel-csv" { print $2 "," $3 "," $(c["tracked_bytes"]) "," $(c["kmalloc_events"]) "," $(c["kmalloc_ptrs"]) "," \
			$(c["module_kmalloc_events"]) "," $(c["module_kmalloc_ptrs"]) }' "$tmp/out/runs.csv" | sort
}
check "runs.csv has every kernel run (tracker kernel-csv)" \
	[ "$(awk -F, '$4 == "kernel-csv"' "$tmp/out/runs.csv" 2>/dev/null | wc -l)" = $((reps * ${#sizes[@]})) ]
check "runs.csv: the process's kmalloc events and pointers in kmalloc_events/_ptrs, the module's in module_kmalloc_events/_ptrs" \
	[ "$(rows)" = "$(runs_rows)" ]

ktap_done
