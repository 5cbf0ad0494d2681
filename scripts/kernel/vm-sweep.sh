#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel column of DATA.csv: boots the test kernel (scripts/kernel/vm-test.sh),
# runs kmalloc-test under the kmem tracepoints for each size (guest-sweep.sh),
# and writes the runs as CSV for `scripts/sweep.sh --kernel-csv FILE`:
#   size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events
# (guest-sweep.sh says what each column is.) The VM has no BPF: tracefs is read
# directly, with the figures a MemTracker-style tracker computes.
#
# Usage: scripts/kernel/vm-sweep.sh [-s SIZES] [-r REPS] [-o FILE]
#   -s SIZES  space- or comma-separated byte counts (default 1 and 2^5..2^22)
#   -r REPS   repetitions per size (default 5)
#   -o FILE   output (default results/kernel.csv); written only when every run
#             succeeded
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

sizes="1" reps=5 out="$repo/results/kernel.csv"
for ((e = 5; e <= 22; e++)); do sizes+=" $((1 << e))"; done
while (($#)); do
	case $1 in
	-s) sizes=${2//,/ }; shift 2 ;;
	-r) reps=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	*) echo "vm-sweep.sh: unknown option '$1' (usage: vm-sweep.sh [-s SIZES] [-r REPS] [-o FILE])" >&2; exit 2 ;;
	esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "vm-sweep.sh: -r takes a positive number, not '$reps'" >&2; exit 2; }
for s in $sizes; do
	[[ $s =~ ^[1-9][0-9]*$ ]] || { echo "vm-sweep.sh: sizes are whole bytes, not '$s'" >&2; exit 2; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Each run boots the guest for a few seconds and then takes about 0.1 s.
"$here/vm-test.sh" --quiet --log "$tmp/console" --timeout $((120 + 2 * reps * $(wc -w <<<"$sizes"))) \
	--guest "$here/guest-sweep.sh" -- "$sizes" "$reps" >&2
grep -a '^KERR' "$tmp/console" >&2 && exit 1
mkdir -p "$(dirname "$out")"
{
	echo "size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events"
	sed -n 's/^KCSV \([0-9,]*\).*/\1/p' "$tmp/console" | tr -d '\r'
} >"$tmp/kernel.csv"
want=$((reps * $(wc -w <<<"$sizes")))
got=$(($(wc -l <"$tmp/kernel.csv") - 1))
((got == want)) || { echo "vm-sweep.sh: $got of $want runs reported" >&2; exit 1; }
mv "$tmp/kernel.csv" "$out"
echo "vm-sweep.sh: $got runs -> $out" >&2
