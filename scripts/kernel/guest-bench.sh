#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of `scripts/kernel/vm-test.sh --bench` (busybox sh): operations
# per second of one allocate+free cycle at 32 B, 4 KiB and 4 MiB,
#   - kmalloc:      `kmalloc-test --repeat N SIZE` (open, write SIZE, close on
#                   /proc/kmalloc_lkm: one kmalloc and one kfree per cycle),
#   - shell kmalloc: the same cycle as a busybox `echo SIZE >/proc/kmalloc_lkm` loop,
#   - malloc:       `malloc-wl --repeat N SIZE` (malloc + free in user space),
# printed as `KBENCH SIZE COLUMN CYCLES NS` lines (`wlreport vmbench` makes
# the table; scripts/kernel/vm-bench.sh runs it all). The time of the two
# workloads is what their --json report's entries spent inside the calls (each
# entry's window holds its call alone), so neither process start-up nor the
# ledger's own readings count; the shell loop's is the whole loop's, from
# /proc/uptime (centiseconds). The guest runs under QEMU TCG with KASAN,
# kmemleak and lockdep: compare the columns with each other, not with real
# hardware.
# Usage: guest-bench.sh [REPEAT]   (default 2000; a tenth of it at 4 MiB)

KO=/bin/kmalloc_lkm.ko
PROC=/proc/kmalloc_lkm
N=${1:-2000}

# span JSON: "CYCLES NS" of a --json report: its repeats done, and the time
# spent inside the calls, summed over the ledger's entries (each entry's
# window holds the call alone: the ledger's own readings fall between them).
span() {
	cnt=$(echo "$1" | grep -o '"completed":[0-9]*' | cut -d: -f2)
	ns=$(echo "$1" | grep -o '"start_ns":[0-9]*,"end_ns":[0-9]*' |
		awk -F'[:,]' '{ t += $4 - $2 } END { if (NR) printf "%.0f", t }')
	if [ -z "$cnt" ] || [ -z "$ns" ]; then
		echo "n/a n/a"
		return
	fi
	echo "$cnt $ns"
}

uptime_cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }

# shell_span SIZE N: "N NS" of N writes of SIZE by the shell.
shell_span() {
	i=0
	t0=$(uptime_cs)
	while [ "$i" -lt "$2" ]; do
		echo "$1" >"$PROC" || return 1
		i=$((i + 1))
	done
	t1=$(uptime_cs)
	echo "$2 $(((t1 - t0) * 10000000))"
}

insmod "$KO" || exit 1
status=0
echo "GUEST-BENCH: repeat $N (4 MiB: $((N / 10)))"
for size in 32 4096 4194304; do
	n=$N
	[ "$size" -ge 1048576 ] && n=$((N / 10))
	[ "$n" -ge 1 ] || n=1
	k="n/a n/a" m="n/a n/a"
	if [ -x /bin/kmalloc-test ]; then
		out=$(/bin/kmalloc-test --json --repeat "$n" "$size") || status=1
		k=$(span "$out")
	fi
	s=$(shell_span "$size" "$n") || { s="n/a n/a"; status=1; }
	if [ -x /bin/malloc-wl ]; then
		out=$(/bin/malloc-wl --json --repeat "$n" "$size") || status=1
		m=$(span "$out")
	fi
	echo "KBENCH $size kmalloc-test $k"
	echo "KBENCH $size shell $s"
	echo "KBENCH $size malloc-wl $m"
done
rmmod kmalloc_lkm || status=1
exit "$status"
