#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/kernel/vm-sweep.sh (busybox sh): runs kmalloc-test for
# each size and repetition with the kmem tracepoints on, and prints one line
#   KCSV size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events,kmalloc_ptrs,sheaf_bytes
# per run, where, over the events in the run's pid:
#   bytes_alloc_sum  sum of bytes_alloc of kmem:kmalloc and kmem:kmem_cache_alloc
#                    (what a MemTracker-style tracker reports for the process)
#   kmalloc_events, cache_events   how many events that sum is made of
#   kmalloc_ptrs     distinct pointers of those kmem:kmalloc events
#   sheaf_bytes      the part of the sum that SLUB allocated for itself: Linux
#                    7.x keeps per-CPU "sheaves" of free objects and now and
#                    then kmallocs a new one (64 to 512 bytes) in whichever task
#                    needs it; its kmem:kmalloc call site is mm/slub.c's sheaf
#                    code (__alloc_empty_sheaf, or __pcs_* where it is inlined)
# and, for the module's own allocation (its kmem:kmalloc call site is the kernel
# crate's KVec<u8, Kmalloc>):
#   bytes_req        the size it asked for (the truth)
#   distinct_ptrs    how many allocations it made (1)
#   raw_events       how many kmem:kmalloc events those produced (2 for one large
#                    kmalloc on Linux 7.2 and 7.3: it is traced twice); an object's events
#                    are told from those of an earlier object at the same address
#                    by the kmem:kfree between them
# One untraced run comes first, so that no run pays for the first use of a path.
# Usage (in the guest): guest-sweep.sh "SIZE SIZE ..." REPS
set -u

sizes=$1
reps=$2
# shellcheck source=scripts/kernel/guest-lib.sh
. /bin/guest-lib.sh

insmod /bin/kmalloc_lkm.ko || { echo "KERR insmod failed"; exit 1; }
echo 0 >"$T/tracing_on"
echo 8192 >"$T/buffer_size_kb"
for e in kmalloc kmem_cache_alloc kfree; do
	echo 1 >"$T/events/kmem/$e/enable" || { echo "KERR no kmem:$e event"; exit 1; }
done
"$KT" 1 >/dev/null || { echo "KERR kmalloc-test 1 exited $?"; exit 1; }

status=0
for size in $sizes; do
	rep=1
	while [ "$rep" -le "$reps" ]; do
		traced_kt "$size"
		if [ "$rc" != 0 ] || [ -z "$pid" ]; then
			echo "KERR kmalloc-test $size exited $rc"
			status=1
		else
			# Trace lines read "<comm>-<pid> [cpu] ...: kmalloc: call_site=... ptr=...
			# bytes_req=N bytes_alloc=M ..."; the comm may hold '-' and spaces.
			# An object is its ptr and how many kfrees of that ptr came before
			# (in any task): slab objects are reused at once.
			awk -v pid="$pid" -v size="$size" -v rep="$rep" '
				function val(k,   m) { return match($0, " " k "=[^ ]*") ? substr($0, RSTART + length(k) + 2, RLENGTH - length(k) - 2) : "" }
				/ kfree: / { gen[val("ptr")]++; next }
				$0 !~ "-" pid " +\\[" { next }
				/ kmalloc: / { sum += val("bytes_alloc"); nk++; p = val("ptr"); obj = p "@" gen[p] + 0
					events[obj]++; ptrs[p] = 1
					if ($0 ~ /call_site=([a-z_]*sheaf[a-z_]*|__pcs_[a-z_]*)\+/) sheaf += val("bytes_alloc")
					# The second event of a large kmalloc has another call site: the
					# module is found by its own, its events by object.
					if ($0 ~ /call_site=_RN[^ ]*kvec[^ ]*Kmalloc/) { req = val("bytes_req"); mine[obj] = 1 } }
				/ kmem_cache_alloc: / { sum += val("bytes_alloc"); nc++ }
				END { for (o in mine) { mods++; raw += events[o] }
				      for (p in ptrs) all++
				      printf "KCSV %s,%s,%d,%s,%d,%d,%d,%d,%d,%d\n", size, rep, sum, req, mods, raw, nk, nc, all, sheaf }
			' "$T/trace"
		fi
		rep=$((rep + 1))
	done
done
for e in kmalloc kmem_cache_alloc kfree; do echo 0 >"$T/events/kmem/$e/enable"; done
rmmod kmalloc_lkm
exit "$status"
