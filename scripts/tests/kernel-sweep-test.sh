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
# Prints "ok - ..." / "not ok - ..." and "N passed, M failed"; exits non-zero on
# a failure. Builds the kernel on first use (see scripts/kernel/build.sh).
# The checks pass awk conditions in single quotes, on purpose.
# shellcheck disable=SC2016
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)

passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then echo "ok - $d"; passed=$((passed + 1)); else echo "not ok - $d"; failed=$((failed + 1)); fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sizes=(1 32 4096 65536 4194304)
check "vm-sweep.sh ran every size in the VM" \
	"$scripts/kernel/vm-sweep.sh" -s "${sizes[*]}" -r 2 -o "$tmp/kernel.csv"
check "kernel CSV header" \
	[ "$(head -n1 "$tmp/kernel.csv" 2>/dev/null)" = "size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events" ]
check "kernel CSV has one row per run" [ "$(wc -l <"$tmp/kernel.csv" 2>/dev/null)" = $((1 + 2 * ${#sizes[@]})) ]

# every_run AWK-CONDITION: true when the condition holds on every data row.
every_run() { awk -F, -v bad=0 "NR > 1 && !($1) { print \"# \" \$0; bad = 1 } END { exit bad }" "$tmp/kernel.csv"; }
check "bytes_req equals the size in every run" every_run '$4 == $1'
check "the module made exactly one allocation per run" every_run '$5 == 1'
check "one kmem:kmalloc event up to 8 KiB, two above (same pointer)" every_run '$6 == ($1 > 8192 ? 2 : 1)'
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

echo "$passed passed, $failed failed"
((failed == 0))
