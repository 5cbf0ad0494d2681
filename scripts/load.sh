#!/usr/bin/env bash
# load.sh - what each tracker loses and costs under load: rate-wl at rising
# rates under each tracker that counts calls, each run beside the same run
# without a tracker (docs/load.md).
#
# Usage: scripts/load.sh [OPTIONS]
#   -t, --trackers LIST  only these trackers (names or kinds, as in
#                        scoreboard.sh; default every tracker that counts
#                        calls: kind calls, and memleak, which counts the
#                        outstanding blocks of a run that leaks them all)
#       --rates LIST     each thread's calls a second, or max (default
#                        1k,10k,100k,1M,max)
#       --threads LIST   thread counts (default 1,2)
#       --duration D     a run at a rate lasts D (default 1s)
#       --max-calls N    a run at max makes N calls a thread (default 1000000)
#       --size SIZES     rate-wl's sizes (default 64)
#       --tracker NAME:KIND=COMMAND
#                        a tracker of the contract (docs/tracker-contract.md),
#                        KIND calls or live (repeatable), as in scoreboard.sh
#   -o, --out DIR        output folder (default results/load)
#       --bin-dir DIR    the workload binaries (default target/release, built
#                        when missing)
#   -h, --help           this text
# Each run goes through the tracker's runner (scripts/trackers/run-*.sh; one
# run a call of the runner, so a session's lost events and usage are the
# run's), and just before it the same rate-wl run alone (run-none.sh bare).
# A tracker of kind live runs rate-wl with --leak, so that every call is
# outstanding when it reports. The runners are told to read a tracker only
# once rate-wl holds after its last call (RL_WAIT_HELD=1).
# Writes in OUT: load.csv (a row per tracker, thread count and rate),
# load.md (the table and a line per tracker, also printed), load.png (loss
# and cost a call against the rate, gnuplot), plan.tsv, trackers.tsv,
# versions.tsv, meta.txt, raw/TRACKER/ID.raw and ID.none.raw (every run),
# raw/TRACKER/stderr (what its runner said; heap.bt's call lines counted,
# not kept: wlreport load compact), render and made
# (scripts/results.sh publish load OUT).
# Errors are one line on stderr, "load.sh: ...". Exit status:
#   0  the table is made (trackers that cannot run here are in it, skipped,
#      with the reason)
#   1  it is made, but a run failed (its row says why)
#   2  usage or setup error, before anything ran
#   130, 143  interrupted by SIGINT, SIGTERM
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
# shellcheck source=scripts/trackers/defs.sh
. "$here/trackers/defs.sh"

trackers="" rates="1k,10k,100k,1M,max" threads="1,2" duration=1s max_calls=1000000 size=64
out="$repo/results/load"
bin_dir="$repo/target/release"
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	-t|--trackers) [ $# -ge 2 ] || die "$1 needs a value"; trackers=$2; shift 2 ;;
	--rates) [ $# -ge 2 ] || die "$1 needs a value"; rates=$2; shift 2 ;;
	--threads) [ $# -ge 2 ] || die "$1 needs a value"; threads=$2; shift 2 ;;
	--duration) [ $# -ge 2 ] || die "$1 needs a value"; duration=$2; shift 2 ;;
	--max-calls) [ $# -ge 2 ] || die "$1 needs a value"; max_calls=$2; shift 2 ;;
	--size) [ $# -ge 2 ] || die "$1 needs a value"; size=$2; shift 2 ;;
	--tracker) [ $# -ge 2 ] || die "$1 needs a value"; extra+=("$2"); shift 2 ;;
	-o|--out) [ $# -ge 2 ] || die "$1 needs a value"; out=$2; shift 2 ;;
	--bin-dir) [ $# -ge 2 ] || die "$1 needs a value"; bin_dir=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option: $1 (see --help)" ;;
	esac
done
[[ $max_calls =~ ^[1-9][0-9]{0,9}$ ]] || die "--max-calls must be a whole number from 1: $max_calls"

# The trackers' definitions: the bundled ones and those of the contract.
defs=$(mktemp)
trap 'rm -f "$defs"' EXIT
tracker_defs "$defs" "${extra[@]}"
# a contract tracker named on the command line is run even without -t
if [ -z "$trackers" ] && ((${#contract_cmd[@]})); then
	trackers="calls,memleak-p,memleak-c$(printf ',%s' "${!contract_cmd[@]}")"
fi

# rate-wl is the judge of its own arguments: the duration and the size.
rate_wl="$bin_dir/rate-wl"
if [ ! -x "$rate_wl" ] && [ "$bin_dir" = "$repo/target/release" ]; then
	say "$rate_wl is missing; running cargo build --release"
	(cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
fi
[ -x "$rate_wl" ] || die "workload binary not found: $rate_wl"
# (a run of 1 ms; rate-wl allows no --calls with --duration)
err=$("$rate_wl" --rate 1k --calls 1 "$size" 2>&1 >/dev/null) || die "rate-wl refuses --size $size: ${err#rate-wl: }"
err=$("$rate_wl" --rate 1k --duration "$duration" --help 2>&1 >/dev/null) || die "rate-wl refuses --duration $duration: ${err#rate-wl: }"

need_wlreport
plan_args=(load plan --defs "$defs" --rates "$rates" --threads "$threads" --duration "$duration"
	--max-calls "$max_calls" --size "$size" --bin "$rate_wl")
[ -z "$trackers" ] || plan_args+=(--trackers "$trackers")
plan=$("$WLREPORT" "${plan_args[@]}" 2>&1) || die "${plan#wlreport: error: }"

err=$(mkdir -p -- "$out" 2>&1) || die "cannot create the output folder $out: ${err##*: }"
out=$(cd "$out" && pwd)
[ -w "$out" ] || die "cannot write in $out"
rm -rf "$out/raw"
mkdir -p "$out/raw"
mv "$defs" "$out/trackers.tsv"
printf '%s\n' "$plan" >"$out/plan.tsv"
contract_commands "$out/raw"


loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)
started=$SECONDS
declare -A tool_ok=()
: >"$out/versions.tsv"
failed=0 total=$(grep -c . <<<"$plan") n=0
while IFS=$'\t' read -r t runner mode id rest; do
	n=$((n + 1))
	dir="$out/raw/$t"
	mkdir -p "$dir"
	tool=$(tool_of "$t")
	if [ -z "${tool_ok[$tool]:-}" ]; then
		if v=$(tool_setup "$tool" 2>/dev/null </dev/null); then
			tool_ok[$tool]=1
			printf '%s\t%s\n' "$tool" "$v" >>"$out/versions.tsv"
		else
			tool_ok[$tool]=0
			printf '%s\t-\t%s\n' "$tool" "${v:-cannot run}" >>"$out/versions.tsv"
		fi
	fi
	if [ "${tool_ok[$tool]}" != 1 ]; then
		[ -e "$dir/SKIPPED" ] || { awk -F'\t' -v t="$tool" '$1 == t { print $3 }' "$out/versions.tsv" >"$dir/SKIPPED"; say "skipping $t: $(<"$dir/SKIPPED")"; }
		continue
	fi
	# a runner that found its tracker cannot run here said so once
	[ ! -e "$dir/SKIPPED" ] || continue
	say "[$n/$total] $t at ${id%-t*} calls/s, ${id##*-t} thread(s)"
	printf '%s\t%s\n' "$id.none" "$rest" | "$here/trackers/run-none.sh" bare "$dir" 2>>"$dir/stderr" ||
		{ echo "the run alone failed: $(last_line "$dir/stderr")" >"$dir/$id.failed"; failed=1; continue; }
	rc=0
	printf '%s\t%s\n' "$id" "$rest" |
		RL_WAIT_HELD=1 "$here/trackers/$runner" "$mode" "$dir" 2>>"$dir/stderr" || rc=$?
	if ((rc != 0)); then
		last_line "$dir/stderr" >"$dir/$id.failed"
		say "$t $id failed (exit $rc): $(<"$dir/$id.failed")"
		failed=1
	fi
	[ ! -e "$dir/SKIPPED" ] || say "skipping $t: $(<"$dir/SKIPPED")"
done <<<"$plan"
elapsed=$((SECONDS - started))
load_end=$(loadavg)

# --- the table and the picture -------------------------------------------------------
# heap.bt prints two lines a call: the records keep their count instead
err=$("$WLREPORT" load compact --raw "$out/raw" 2>&1) || fail "the raw files could not be compacted: ${err#wlreport: }"
args=(load table --defs trackers.tsv --plan plan.tsv --raw raw --out .)
record_render "$out" load.md trackers.tsv plan.tsv versions.tsv raw -- "${args[@]}"
sed -i "s/\.\$/, in ${elapsed} s; load average ${load_start// /, } at the start, ${load_end// /, } at the end./" "$out/made"
summary=$(cd "$out" && "$WLREPORT" "${args[@]}" 2>&1) || fail "the table could not be made: ${summary#wlreport: }"
{
	echo "trackers=${trackers:-default}"
	echo "rates=$rates"
	echo "threads=$threads"
	echo "duration=$duration"
	echo "max_calls=$max_calls"
	echo "size=$size"
	echo "elapsed_s=$elapsed"
	echo "loadavg_start=$load_start"
	echo "loadavg_end=$load_end"
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel=$(uname -r)"
	echo "host_cpus=$(nproc)"
} >"$out/meta.txt"
if command -v gnuplot >/dev/null 2>&1 || { (need_pkgs gnuplot-nox) >/dev/null 2>&1 && command -v gnuplot >/dev/null 2>&1; }; then
	esc() { printf '%s' "${1//\'/\'\'}"; }
	err=$(gnuplot -e "loss='$(esc "$out/loss.dat")'; cost='$(esc "$out/cost.dat")'; out='$(esc "$out/load.png")'; subtitle='$(esc "$duration a rate, $max_calls calls at max, size $size; kernel $(uname -r), $(nproc) CPUs, load average $load_start")'" \
		"$here/load/plots.gp" 2>&1 >/dev/null) || fail "gnuplot failed: $(last_line <<<"$err" /dev/stdin)"
else
	say "no gnuplot: no picture"
fi
cat "$out/load.md"
printf '%s\n' "$summary" | sed 's/^/load.sh: /' >&2
say "made in ${elapsed}s: $out/load.md"
exit "$failed"
