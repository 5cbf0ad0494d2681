#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The load table's kernel half (docs/load.md#the-kernel-half): kmalloc-test's
# rate mode (kmallocs at a rate through the module's `rate COUNT SIZE`
# writes) at rising rates, under each kernel tracker, in the QEMU guest on the
# production kernel with the host's root shared (vm-test.sh --production
# --host-root), each run beside the same run alone (kmem-bt's and
# memleak-k's all before the tracker attaches: its probes run while it is
# attached). `wlreport kload`
# makes the table from the guest's lines, as `wlreport load table` makes
# the host's: what each tracker counted of the kmallocs the module made
# (its own tally), whether it said it lost the rest, and what it cost a call.
#
# Usage: scripts/kernel/kload.sh [-t LIST] [--rates LIST] [--threads LIST]
#            [--duration D] [--max-calls N] [--size SIZE]
#            [--tracker NAME:kernel=COMMAND]... [--file PATH]... [-o DIR]
#   -t LIST        the trackers, comma-separated (default
#                  kmem-bt,tracefs,memleak-k): kmem-bt
#                  (scripts/trackers/kmem.bt in bpftrace), tracefs (the kmem
#                  events in the trace buffer) and memleak-k (bcc's memleak
#                  in kernel mode: what is outstanding, so its runs hold
#                  their objects until the close; at most 262144 a run),
#                  and those --tracker adds
#   --tracker NAME:kernel=COMMAND  a tracker of the contract
#                  (docs/tracker-contract.md), as ktrackers.sh takes it:
#                  COMMAND runs in the guest, {pid} kmalloc-test's; started
#                  for each run, its runs hold their objects; without -t,
#                  added to the default list
#   --file PATH    put PATH among the guest's files (a tracker's script)
#   --rates LIST   calls a second, or max (default 1k,10k,100k,max)
#   --threads LIST how many threads write at once, each at the rate
#                  (kmalloc-test --writers; default 1,2)
#   --duration D   how long a run at a rate lasts (default 1s)
#   --max-calls N  the calls of a thread's run at max (default 100000)
#   --size SIZE    the kmallocs' size in bytes, 1 to 65536 (default 64)
#   -o DIR         output folder (default results/kload)
# Writes in DIR: kload.md (the table, also printed, with a line per
# tracker), kload.csv, kload.png (loss and cost a call against the rate),
# console.log (the guest's lines they are made from), render and made
# (scripts/results.sh publish kload DIR).
# Needs bpftrace and bpfcc-tools on the host (shared with the guest). Errors are one line on
# stderr, "kload.sh: ...". Exit status: 0 the table is made; 1 a run failed
# (its row says why) or the guest failed; 2 usage or setup error.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

trackers=kmem-bt,tracefs,memleak-k rates=1k,10k,100k,max threads=1,2 duration=1s max_calls=100000 size=64
out="$here/../../results/kload" chosen=0 added=() files=()
while (($#)); do
	case $1 in
	-t|--rates|--threads|--duration|--max-calls|--size|-o|--tracker|--file) (($# >= 2)) || die "$1 needs a value (see --help)" ;;&
	-t) trackers=$2 chosen=1; shift 2 ;;
	--tracker) added+=("$2"); shift 2 ;;
	--file) [ -f "$2" ] || die "--file $2: no such file"
		files+=(--file "$2"); shift 2 ;;
	--rates) rates=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--max-calls) max_calls=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option '$1' (usage: kload.sh [-t LIST] [--rates LIST] [--threads LIST] [--duration D] [--max-calls N] [--size SIZE] [--tracker NAME:kernel=COMMAND]... [--file PATH]... [-o DIR])" ;;
	esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the trackers of the contract, a line "NAME<tab>COMMAND" each, for the guest
contracts=$tmp/kload-contract.tsv
: >"$contracts"
for t in "${added[@]}"; do
	[[ $t =~ ^([a-z0-9._-]+):([a-z]+)=(.+)$ ]] || die "--tracker takes NAME:kernel=COMMAND (NAME in lower case), not '$t'"
	tn=${BASH_REMATCH[1]} tk=${BASH_REMATCH[2]} tc=${BASH_REMATCH[3]}
	[ "$tk" = kernel ] || die "--tracker $tn: the kind of a kernel tracker is kernel, not '$tk'"
	[[ $tc == *"{pid}"* ]] || die "--tracker $tn: COMMAND needs {pid} (in the guest a tracker attaches by pid)"
	[[ $tc != *$'\t'* && $tc != *"{cmd}"* ]] || die "--tracker $tn: COMMAND has a tab or {cmd}"
	case $tn in kmem-bt | tracefs | memleak-k) die "--tracker $tn: a tracker of that name exists" ;; esac
	! cut -f 1 "$contracts" | grep -qxF -- "$tn" || die "--tracker $tn: given twice"
	printf '%s\t%s\n' "$tn" "$tc" >>"$contracts"
	((chosen)) || trackers+=",$tn"
done
for t in ${trackers//,/ }; do
	case $t in
	kmem-bt | tracefs | memleak-k) ;;
	*) cut -f 1 "$contracts" | grep -qxF -- "$t" ||
		die "-t: no kernel tracker '$t' (kmem-bt, tracefs, memleak-k, or one --tracker adds)" ;;
	esac
done
[[ $trackers =~ ^[a-z0-9._-]+(,[a-z0-9._-]+)*$ ]] || die "-t takes names separated by commas, not '$trackers'"
[[ $max_calls =~ ^[1-9][0-9]{0,9}$ ]] || die "--max-calls must be a whole number from 1: $max_calls"
if ! [[ $size =~ ^[1-9][0-9]{0,4}$ ]] || ((size > 65536)); then
	die "--size takes 1 to 65536 bytes, not '$size'"
fi
[[ $duration =~ ^[0-9]+(ms|s)$ ]] || die "--duration takes a time like 500ms or 2s, not '$duration'"
for r in ${rates//,/ }; do
	[[ $r =~ ^([1-9][0-9]*[kMG]?|max)$ ]] || die "--rates: a rate is calls a second (1k, 10k, 1M, 500) or max, not '$r'"
done
[[ $rates =~ ^[^,]+(,[^,]+)*$ ]] || die "--rates takes rates separated by commas, not '$rates'"
[[ $threads =~ ^([1-9]|1[0-6])(,([1-9]|1[0-6]))*$ ]] || die "--threads takes counts from 1 to 16 separated by commas, not '$threads'"
most=$(tr ',' '\n' <<<"$threads" | sort -n | tail -n 1)
holders=$(tr ',' '\n' <<<"$trackers" | grep -vxE 'kmem-bt|tracefs' | paste -sd, -) || true
if [ -n "$holders" ]; then
	# their runs hold every object, and the module keeps at most 262144 a file
	held_max=262144
	((max_calls * most <= held_max)) ||
		die "--max-calls: the runs of $holders hold every object, at most $held_max, not $max_calls x $most threads"
	[[ $duration =~ ^([0-9]+)(ms|s)$ ]]
	ms=${BASH_REMATCH[1]}
	[ "${BASH_REMATCH[2]}" = ms ] || ms=$((ms * 1000))
	for r in ${rates//,/ }; do
		[[ $r =~ ^([0-9]+)([kMG]?)$ ]] || continue
		case ${BASH_REMATCH[2]} in
		k) per_s=$((BASH_REMATCH[1] * 1000)) ;;
		M) per_s=$((BASH_REMATCH[1] * 1000000)) ;;
		G) per_s=$((BASH_REMATCH[1] * 1000000000)) ;;
		*) per_s=${BASH_REMATCH[1]} ;;
		esac
		(((per_s * ms / 1000) * most <= held_max)) ||
			die "--rates $r for $duration: the runs of $holders hold every object, at most $held_max, not $((per_s * ms / 1000)) x $most threads"
	done
fi
need_wlreport
command -v bpftrace >/dev/null 2>&1 || [[ $trackers != *kmem-bt* ]] || die "bpftrace is not installed (Debian: bpftrace)"
[[ -x /usr/sbin/memleak-bpfcc || $trackers != *memleak-k* ]] || die "memleak-bpfcc is not installed (Debian: bpfcc-tools)"
mkdir -p "$out" || die "cannot make $out"
out=$(cd "$out" && pwd)

# bpftrace attaches in 5 to 30 s under TCG; a run takes its duration (or
# its calls at max) twice, and a second for the tracker's lines
n_rates=$(($(tr ',' '\n' <<<"$rates" | grep -c .) * $(tr ',' '\n' <<<"$threads" | grep -c .)))
timeout=$((300 + 120 * $(tr ',' '\n' <<<"$trackers" | grep -c .) * (1 + n_rates)))
# a tracker of the contract starts again for each run (bcc compiles for a
# minute or more under TCG)
timeout=$((timeout + 300 * ${#added[@]} * n_rates))
started=$SECONDS
"$here/vm-test.sh" --production --host-root --quiet --log "$tmp/console" --timeout "$timeout" \
	--file "$here/../trackers/kmem.bt" --file "$contracts" "${files[@]}" \
	--guest "$here/guest-kload.sh" -- "$trackers" "$rates" "$duration" "$max_calls" "$size" "$threads" \
	>"$tmp/out" 2>&1 || vm_rc=$?
elapsed=$((SECONDS - started))
kerr=$(grep -a '^KERR' "$tmp/console" 2>/dev/null | tr -d '\r') && fail "in the guest: ${kerr//$'\n'/; }"
[ -z "${vm_rc:-}" ] || fail "the guest failed: $(last_line "$tmp/out")"
kernel=$(sed -n 's/^GUEST-START: \([^ ]*\).*/\1/p' "$tmp/console" | tr -d '\r' | head -n 1)
grep -a -e '^KLOAD-' "$tmp/console" | tr -d '\r' >"$out/console.log" || true
args=(kload --console console.log --out .)
record_render "$out" kload.md console.log -- "${args[@]}"
sed -i "s/\.\$/, in ${elapsed} s, guest kernel ${kernel:-unknown}./" "$out/made"
summary=$(cd "$out" && "$WLREPORT" "${args[@]}" 2>&1) || fail "the table could not be made: ${summary#wlreport: }"
if command -v gnuplot >/dev/null 2>&1 || { (need_pkgs gnuplot-nox) >/dev/null 2>&1 && command -v gnuplot >/dev/null 2>&1; }; then
	esc() { printf '%s' "${1//\'/\'\'}"; }
	err=$(gnuplot -e "loss='$(esc "$out/loss.dat")'; cost='$(esc "$out/cost.dat")'; out='$(esc "$out/kload.png")'; what='kmalloc-test --rate in the guest (TCG), kernel ${kernel:-unknown}'; subtitle='$(esc "$duration a rate, $max_calls calls a thread at max, size $size")'" \
		"$here/../load/plots.gp" 2>&1 >/dev/null) || fail "gnuplot failed: $(last_line <<<"$err" /dev/stdin)"
else
	say "no gnuplot: no picture"
fi
cat "$out/kload.md"
printf '%s\n' "$summary" | sed 's/^/kload.sh: /' >&2
# a row without figures (no "made") is a run that failed
awk -F, 'NR > 1 && $4 == "" { bad = 1 } END { exit bad }' "$out/kload.csv" || fail "a run failed: see $out/kload.md"
