#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/kernel/kleaks.sh (busybox sh, the debug kernel with
# kmemleak): loads the module with allow_leaks=1 and, ROUNDS times, leaks one
# object for each spec given (what a write to /proc/kmalloc_lkm asks for, such
# as "kzalloc 1500"), each from a process that exits; then lets kmemleak scan,
# and prints:
#   KLEAK-SPEC <n> <spec>
#   KLEAK-LEAKED <n> <addr> <path> <requested> <allocated>   as the module logged
#                                    it, once a round
#   KLEAK-REPORTED <addr> <size>     each object kmemleak reports unreferenced
#   KLEAK-END <status>
# `wlreport kleaks` pairs them by address and classes what kmemleak reported.
# Usage (in the guest): guest-kleaks.sh ROUNDS 'SPEC' 'SPEC' ...
set -u
# shellcheck source=scripts/kernel/guest-lib.sh
. /bin/guest-lib.sh

[ -w "$KMEMLEAK" ] || { echo "KERR kmemleak is not available ($KMEMLEAK)"; exit 1; }
insmod /bin/kmalloc_lkm.ko allow_leaks=1 || { echo "KERR insmod failed"; exit 1; }
# churn: every path of the module in many threads, allocating and freeing.
# kmemleak holds an object referenced while any word of scanned memory still
# equals its address: a stale copy (a per-CPU array of free slab objects, a
# cached task stack, a freed vmalloc area's bookkeeping) hides a leak. Churn
# before the leaks moves them off addresses that boot and insmod just freed,
# churn after them writes over the copies their own allocation left.
churn() {
	kmalloc-stress --paths --threads 4 --shared 1 --ops 200 --max 8192 >/dev/null ||
		echo "KERR kmalloc-stress failed"
}

rounds=$1
shift
churn
n=0
for spec in "$@"; do
	n=$((n + 1))
	echo "KLEAK-SPEC $n $spec"
done
round=1
while [ "$round" -le "$rounds" ]; do
	n=0
	for spec in "$@"; do
		n=$((n + 1))
		leak_objects "$spec"
		sed "s/^/KLEAK-LEAKED $n /" /tmp/leaked
	done
	round=$((round + 1))
done
churn
kmemleak_scan
sed 's/^/KLEAK-REPORTED /' /tmp/reported
# The leaked objects stay: rmmod would not free them anyway.
echo "KLEAK-END 0"
