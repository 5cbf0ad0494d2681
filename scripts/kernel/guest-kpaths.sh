#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/kernel/kpaths.sh (busybox sh): runs kmalloc-test once
# per repetition for each run given (its arguments, one word list per run) with
# the allocation tracepoints of every path on and tracefs's clock set to
# CLOCK_MONOTONIC (trace_clock mono, the clock of the ledger's start_ns and
# end_ns), and prints, per run and repetition:
#   KPATH-RUN <run> <repetition>
#   KPATH-JSON <kmalloc-test's --json report>
#   KPATH-EV <trace line>      each event in kmalloc-test's pid, in order
#   KPATH-END <exit status>
# `wlreport kpaths` keeps the events inside the write's window and sums them.
# One untraced run of each comes first, so that no traced run pays for a
# first use (a kmem_cache size's cache, a per-CPU chunk).
# Usage (in the guest): guest-kpaths.sh REPS 'ARGS' 'ARGS' ...
set -u

reps=$1
shift
# shellcheck source=scripts/kernel/guest-lib.sh
. /bin/guest-lib.sh

insmod /bin/kmalloc_lkm.ko || { echo "KERR insmod failed"; exit 1; }
echo 0 >"$T/tracing_on"
echo 16384 >"$T/buffer_size_kb"
echo mono >"$T/trace_clock" || { echo "KERR no trace_clock mono"; exit 1; }
for e in kmem/kmalloc kmem/kmem_cache_alloc kmem/mm_page_alloc vmalloc/alloc_vmap_area \
	percpu/percpu_alloc_percpu; do
	echo 1 >"$T/events/$e/enable" || { echo "KERR no event $e"; exit 1; }
done

status=0
n=0
for run in "$@"; do
	n=$((n + 1))
	# shellcheck disable=SC2086 # the run's arguments are words
	"$KT" $run >/dev/null || { echo "KERR kmalloc-test $run exited $?"; status=1; continue; }
	rep=1
	while [ "$rep" -le "$reps" ]; do
		echo >"$T/trace"
		echo 1 >"$T/tracing_on"
		# shellcheck disable=SC2086
		json=$("$KT" --json $run)
		rc=$?
		echo 0 >"$T/tracing_on"
		pid=$(echo "$json" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
		echo "KPATH-RUN $n $rep"
		echo "KPATH-JSON $json"
		grep -E -- "-$pid +\[" "$T/trace" | sed 's/^/KPATH-EV /'
		echo "KPATH-END $rc"
		[ "$rc" = 0 ] || status=1
		rep=$((rep + 1))
	done
done
for e in kmem/kmalloc kmem/kmem_cache_alloc kmem/mm_page_alloc vmalloc/alloc_vmap_area \
	percpu/percpu_alloc_percpu; do
	echo 0 >"$T/events/$e/enable"
done
rmmod kmalloc_lkm
exit "$status"
