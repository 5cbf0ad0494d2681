#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of `scripts/kernel/vm-test.sh --bench` (busybox sh): operations
# per second of one allocate+free cycle at 32 B, 4 KiB and 4 MiB,
#   - kmalloc:      `kmalloc-test --repeat N SIZE` (open, write SIZE, close on
#                   /proc/kmalloc_lkm: one kmalloc and one kfree per cycle),
#   - shell kmalloc: the same cycle as a busybox `echo SIZE >/proc/kmalloc_lkm` loop,
#   - malloc:       `malloc-wl --repeat N SIZE` (malloc + free in user space),
# printed as a markdown table. The rates of the two workloads come from the
# timestamps of their --json report (first allocation to last free), so process
# start-up is not counted. The guest runs under QEMU TCG with KASAN, kmemleak
# and lockdep: compare the columns with each other, not with real hardware.
# Usage: guest-bench.sh [REPEAT]   (default 2000; a tenth of it at 4 MiB)

KO=/bin/kmalloc_lkm.ko
PROC=/proc/kmalloc_lkm
N=${1:-2000}

# rate JSON: cycles per second from a --json report.
rate() {
	first=$(echo "$1" | grep -o '"start_ns":[0-9]*' | head -n1 | cut -d: -f2)
	last=$(echo "$1" | grep -o '"end_ns":[0-9]*' | tail -n1 | cut -d: -f2)
	cnt=$(echo "$1" | grep -o '"completed":[0-9]*' | cut -d: -f2)
	if [ -z "$first" ] || [ -z "$last" ] || [ -z "$cnt" ]; then
		echo "n/a"
		return
	fi
	awk -v n="$cnt" -v a="$first" -v b="$last" 'BEGIN { if (b > a) printf "%.0f", n * 1e9 / (b - a); else print "n/a" }'
}

uptime_cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }

shell_rate() {
	i=0
	t0=$(uptime_cs)
	while [ "$i" -lt "$2" ]; do
		echo "$1" >"$PROC" || return 1
		i=$((i + 1))
	done
	t1=$(uptime_cs)
	awk -v n="$2" -v t="$((t1 - t0))" 'BEGIN { if (t > 0) printf "%.0f", n * 100 / t; else print "n/a" }'
}

insmod "$KO" || exit 1
status=0
echo "GUEST-BENCH: repeat $N (4 MiB: $((N / 10)))"
echo
echo "| size | kmalloc-test (ops/s) | shell echo loop (ops/s) | malloc-wl (ops/s) |"
echo "| ---: | ---: | ---: | ---: |"
for size in 32 4096 4194304; do
	n=$N
	[ "$size" -ge 1048576 ] && n=$((N / 10))
	[ "$n" -ge 1 ] || n=1
	k=n/a m=n/a
	if [ -x /bin/kmalloc-test ]; then
		out=$(/bin/kmalloc-test --json --repeat "$n" "$size") || status=1
		k=$(rate "$out")
	fi
	s=$(shell_rate "$size" "$n") || { s=failed; status=1; }
	if [ -x /bin/malloc-wl ]; then
		out=$(/bin/malloc-wl --json --repeat "$n" "$size") || status=1
		m=$(rate "$out")
	fi
	echo "| $size | $k | $s | $m |"
done
echo
rmmod kmalloc_lkm || status=1
exit "$status"
