#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel column of DATA.csv: boots the production kernel (build.sh
# --production: no KASAN, kmemleak or lockdep, so bytes_alloc is what a tracker
# sees on a distribution kernel) with scripts/kernel/vm-test.sh, runs
# kmalloc-test under the kmem tracepoints for each size (guest-sweep.sh),
# and writes the runs as CSV for `scripts/sweep.sh --kernel-csv FILE`:
#   size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events,kmalloc_ptrs,sheaf_bytes
# (guest-sweep.sh says what each column is; `wlreport kernel-csv` checks that
# every run reported, and writes it.) The VM has no BPF: tracefs is read
# directly, with the figures a MemTracker-style tracker computes.
#
# Usage: scripts/kernel/vm-sweep.sh [-s SIZES] [-r REPS] [-o FILE] [-l X.Y]
#   -s SIZES  space- or comma-separated byte counts (default 1 and 2^5..2^22)
#   -r REPS   repetitions per size (default 5)
#   -o FILE   output (default results/kernel.csv); written only when every run
#             succeeded
#   -l X.Y    Debian's linux-source-X.Y instead of the default 7.2, built
#             with the same production config (build.sh --linux X.Y)
# Errors are one line on stderr, "vm-sweep.sh: ...". Exit status: 0 done; 1 a
# run failed or did not report; 2 usage or setup error.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

sizes="1" reps=5 out="$repo/results/kernel.csv" linux=()
for ((e = 5; e <= 22; e++)); do sizes+=" $((1 << e))"; done
while (($#)); do
	case $1 in
	-s|-r|-o|-l) (($# >= 2)) || die "$1 needs a value (see --help)" ;;&
	-s) sizes=${2//,/ }; shift 2 ;;
	-r) reps=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-l) [[ $2 =~ ^[0-9]+\.[0-9]+$ ]] || die "-l takes a kernel version like 7.3, not '$2'"
		linux=(--linux "$2"); shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option '$1' (usage: vm-sweep.sh [-s SIZES] [-r REPS] [-o FILE] [-l X.Y])" ;;
	esac
done
[[ $reps =~ ^[1-9][0-9]{0,5}$ ]] || die "-r takes a whole number from 1 to 999999, not '$reps'"
for s in $sizes; do
	[[ $s =~ ^[1-9][0-9]{0,18}$ ]] || die "sizes are whole bytes, not '$s'"
done
need_wlreport

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Each run boots the guest for a few seconds and then takes about 0.1 s.
"$here/vm-test.sh" --production "${linux[@]}" --quiet --log "$tmp/console" --timeout $((120 + 2 * reps * $(wc -w <<<"$sizes"))) \
	--guest "$here/guest-sweep.sh" -- "$sizes" "$reps" >&2
kerr=$(grep -a '^KERR' "$tmp/console" | tr -d '\r') && fail "in the guest: ${kerr//$'\n'/; }"
err=$("$WLREPORT" kernel-csv --console "$tmp/console" --sizes "$sizes" --reps "$reps" --out "$tmp/kernel.csv" 2>&1) ||
	fail "${err#wlreport: }"
mkdir -p "$(dirname "$out")"
mv "$tmp/kernel.csv" "$out"
say "$(($(wc -l <"$out") - 1)) runs -> $out"
