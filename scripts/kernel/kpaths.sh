#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The table of every kernel path (docs/results/kernel-paths.md): every allocation path of kmalloc_lkm at a few
# sizes, with what a tracefs or MemTracker-style kernel tracker sums for it
# (bytes_alloc of kmem:kmalloc and kmem:kmem_cache_alloc) next to the truth and
# to what that sum leaves out (page, vmalloc and per-CPU allocations). Boots the
# production kernel (vm-test.sh --production), runs kmalloc-test for each line
# of the list with the tracepoints of every path on (guest-kpaths.sh), and
# prints the table `wlreport kpaths` makes of the events inside each write,
# with the class of the sum in each (a scoreboard cell of tracker kmem-sum).
# Writes DIR/kpaths.md (the table), DIR/console.log (the guest's lines it is
# made from; scripts/results.sh publish puts both in docs/results/) and
# DIR/kpaths.csv (the cells, in the scoreboard's schema: `wlreport scoreboard
# check` holds them to scripts/scoreboard/expected/linux-VERSION.csv).
#
# Usage: scripts/kernel/kpaths.sh [-r REPS] [-l LIST] [-k X.Y] [-o DIR]
#   -r REPS   repetitions of each run; the table shows the median one (default 3)
#   -l LIST   the runs, kmalloc-test's arguments one run a line
#             (default scripts/kernel/kpaths.list)
#   -k X.Y    Debian's linux-source-X.Y instead of the default 7.2
#             (build.sh --linux X.Y)
#   -o DIR    where the table and the cells go (default results/kpaths)
# Errors are one line on stderr, "kpaths.sh: ...". Exit status: 0 done; 1 a
# run failed or did not report; 2 usage or setup error.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

reps=3 list="$here/kpaths.list" linux=() out="$here/../../results/kpaths"
while (($#)); do
	case $1 in
	-r|-l|-k|-o) (($# >= 2)) || die "$1 needs a value (see --help)" ;;&
	-r) reps=$2; shift 2 ;;
	-l) list=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-k) [[ $2 =~ ^[0-9]+\.[0-9]+$ ]] || die "-k takes a kernel version like 7.3, not '$2'"
		linux=(--linux "$2"); shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option '$1' (usage: kpaths.sh [-r REPS] [-l LIST] [-k X.Y] [-o DIR])" ;;
	esac
done
[[ $reps =~ ^[1-9][0-9]?$ ]] || die "-r takes a whole number from 1 to 99, not '$reps'"
read_list "$list"
runs=("${LIST[@]}")
need_wlreport

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/vm-test.sh" --production "${linux[@]}" --quiet --log "$tmp/console" \
	--timeout $((120 + 5 * reps * ${#runs[@]})) --guest "$here/guest-kpaths.sh" -- "$reps" "${runs[@]}" \
	>"$tmp/out" 2>&1 || fail "the guest failed: $(last_line "$tmp/out")"
kerr=$(grep -a '^KERR' "$tmp/console" | tr -d '\r') && fail "in the guest: ${kerr//$'\n'/; }"
kernel=$(sed -n 's/^GUEST-START: \([^ ]*\).*/\1/p' "$tmp/console" | tr -d '\r' | head -n 1)
mkdir -p "$out" || die "cannot make $out"
# The guest's lines wlreport reads: the records the table is made from.
grep -a '^KPATH-' "$tmp/console" | tr -d '\r' >"$out/console.log" || true
args=(kpaths --console console.log --runs ${#runs[@]} --reps "$reps" --kernel "$kernel")
record_render "$out" - console.log -- "${args[@]}"
(cd "$out" && "$WLREPORT" "${args[@]}" --csv kpaths.csv) >"$out/kpaths.md" || fail "wlreport kpaths failed"
cat "$out/kpaths.md"
