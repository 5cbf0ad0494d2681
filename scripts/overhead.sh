#!/usr/bin/env bash
# overhead.sh - how much slower each workload runs with a tracker attached.
#
# Every workload binary is timed with hyperfine without a tracker and with
# each tracker:
#   bpftrace  the sweep's bpftrace program (scripts/trackers/memtrack.bt)
#             attached system-wide while hyperfine runs the plain command
#   strace    the command run under `strace -f -qq -e trace=mmap,brk,shmget
#             -o FILE` (the log is summed afterwards, which is not timed)
#
# Usage: scripts/overhead.sh [OPTIONS]
#   -t, --trackers LIST   comma-separated: bpftrace,strace (default both)
#   -s, --sizes LIST      comma-separated sizes as the workloads take them
#                         (default 1,1MiB,64MiB)
#   -w, --workloads LIST  default malloc-wl,bytearray-wl
#   -n, --runs N          hyperfine runs per command (default 50)
#       --warmup N        hyperfine warm-up runs (default 3)
#   -o, --out DIR         output directory (default results/)
#       --bin-dir DIR     workload binaries (default target/release)
#   -h, --help            this text
# Writes OUT/overhead.csv and OUT/overhead.md (ratio = time with the tracker
# / time without, by mean and by median) and OUT/overhead-ratios.md (the
# table of docs/results/overhead.md: the ratio of the medians, a column per
# tracker), and OUT/overhead/ (the manifest and hyperfine's exports they are
# made from); they are written only when every measurement succeeded. Needs root for bpftrace; installs hyperfine, strace
# and bpftrace (apt) when they are missing.
# Errors are one line on stderr, "overhead.sh: ...". Exit status:
#   0  done
#   1  a measurement failed (hyperfine, or bpftrace did not start); nothing
#      is written
#   2  usage or setup error, before anything ran: a bad option or value (a
#      size the workloads refuse), a missing workload binary or tool, an
#      unwritable --out
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

trackers_opt="bpftrace,strace"
sizes_opt="1,1MiB,64MiB"
workloads_opt="malloc-wl,bytearray-wl"
runs=50
warmup=3
out="$repo/results"
bin_dir="$repo/target/release"

# die (lib.sh): usage or setup error (exit 2); fail: a measurement failed (exit 1)

while [ $# -gt 0 ]; do
	case "$1" in
	-t|--trackers) [ $# -ge 2 ] || die "$1 needs a value"; trackers_opt="$2"; shift 2 ;;
	-s|--sizes) [ $# -ge 2 ] || die "$1 needs a value"; sizes_opt="$2"; shift 2 ;;
	-w|--workloads) [ $# -ge 2 ] || die "$1 needs a value"; workloads_opt="$2"; shift 2 ;;
	-n|--runs) [ $# -ge 2 ] || die "$1 needs a value"; runs="$2"; shift 2 ;;
	--warmup) [ $# -ge 2 ] || die "$1 needs a value"; warmup="$2"; shift 2 ;;
	-o|--out) [ $# -ge 2 ] || die "$1 needs a value"; out="$2"; shift 2 ;;
	--bin-dir) [ $# -ge 2 ] || die "$1 needs a value"; bin_dir="$2"; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option: $1 (see --help)" ;;
	esac
done
[[ "$runs" =~ ^[1-9][0-9]{0,5}$ ]] || die "--runs must be a whole number from 1 to 999999: $runs"
[[ "$warmup" =~ ^[0-9]{1,6}$ ]] || die "--warmup must be a whole number from 0 to 999999: $warmup"

IFS=, read -r -a trackers <<<"$trackers_opt"
IFS=, read -r -a sizes <<<"$sizes_opt"
IFS=, read -r -a workloads <<<"$workloads_opt"
[ "${#trackers[@]}" -gt 0 ] || die "no trackers given"
[ "${#sizes[@]}" -gt 0 ] || die "no sizes given"
[ "${#workloads[@]}" -gt 0 ] || die "no workloads given"
for t in "${trackers[@]}"; do
	case "$t" in
	bpftrace) [ "$(id -u)" -eq 0 ] || die "the bpftrace tracker needs root" ;;
	strace) ;;
	*) die "unknown tracker: '$t' (bpftrace, strace)" ;;
	esac
done
for w in "${workloads[@]}"; do
	case "$w" in
	malloc-wl|bytearray-wl|kmalloc-test) ;;
	*) die "unknown workload: '$w' (malloc-wl, bytearray-wl, kmalloc-test)" ;;
	esac
	[ -x "$bin_dir/$w" ] || die "workload binary not found: $bin_dir/$w (cargo build --release)"
done
# The sizes go to the workloads as given; malloc-wl says whether they are sizes.
checker="$bin_dir/malloc-wl"
[ -x "$checker" ] || checker="$bin_dir/${workloads[0]}"
declare -A bytes=()
for s in "${sizes[@]}"; do
	check_size "$checker" "$s" || case $? in
		2) die "bad size in --sizes: $size_error" ;;
		*) die "size $s cannot be run here: $size_error" ;;
	esac
	bytes[$s]=$size_bytes
done

need_tool hyperfine hyperfine
need_wlreport
for t in "${trackers[@]}"; do
	case "$t" in
	bpftrace)
		need_tool bpftrace bpftrace
		ensure_tracefs
		;;
	strace) need_tool strace strace ;;
	esac
done

err=$(mkdir -p -- "$out" 2>&1) || die "cannot create the output folder $out: ${err##*: }"
probe=$(mktemp "$out/.overhead.XXXXXX" 2>&1) || die "cannot write in the output folder $out: ${probe##*: }"
rm -f "$probe"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/overhead.XXXXXX" 2>&1) || { err=$tmp; tmp=""; die "cannot create a temporary folder: ${err##*: }"; }
bpf_pid=""
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
	if [ -n "$bpf_pid" ]; then
		kill -INT "$bpf_pid" 2>/dev/null || true
		wait "$bpf_pid" 2>/dev/null || true
	fi
	[ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# hf NAME CMD... -> times CMD, leaves $tmp/NAME.csv
hf() {
	local name="$1"
	shift
	hyperfine -N --style basic --runs "$runs" --warmup "$warmup" \
		--export-csv "$tmp/$name.csv" "$*" >"$tmp/$name.log" 2>&1 ||
		fail "hyperfine failed for: $*: $(last_line "$tmp/$name.log")"
	echo "overhead.sh: $name done" >&2
}

bpf_start() {
	local fifo="$tmp/bpftrace.fifo" line
	rm -f "$fifo"
	mkfifo "$fifo"
	env --default-signal=INT bpftrace -B line "$here/trackers/memtrack.bt" >"$fifo" 2>"$tmp/bpftrace.err" &
	bpf_pid=$!
	exec {bfd}<"$fifo"
	until IFS= read -r -t 60 -u "$bfd" line && [ "$line" = ready ]; do
		kill -0 "$bpf_pid" 2>/dev/null || fail "bpftrace did not start: $(last_line "$tmp/bpftrace.err")"
	done
	# keep draining bpftrace's lines so it never blocks on a full pipe
	cat <&"$bfd" >>"$tmp/bpftrace.log" &
	drain=$!
}

bpf_stop() {
	kill -INT "$bpf_pid" 2>/dev/null || true
	wait "$bpf_pid" 2>/dev/null || true
	bpf_pid=""
	wait "$drain" 2>/dev/null || true
	exec {bfd}<&-
}

# For each workload and size, the runs without a tracker and with each
# tracker follow each other, so that drifts of the machine hit all alike.
# bpftrace is attached only while its own runs are timed.
bfd=""
drain=""
for w in "${workloads[@]}"; do
	for s in "${sizes[@]}"; do
		hf "none_${w}_$s" "$bin_dir/$w" "$s"
		for t in "${trackers[@]}"; do
			case "$t" in
			strace)
				hf "strace_${w}_$s" strace -f -qq -e trace=mmap,brk,shmget -o "$tmp/strace.log" "$bin_dir/$w" "$s"
				;;
			bpftrace)
				bpf_start
				hf "bpftrace_${w}_$s" "$bin_dir/$w" "$s"
				bpf_stop
				;;
			esac
		done
	done
done
if [ -f "$tmp/bpftrace.log" ]; then
	lines=$(grep -c '^exit pid=' "$tmp/bpftrace.log" || true)
	echo "overhead.sh: bpftrace saw $lines workload exits" >&2
fi

# The ratios (wlreport overhead): one line per workload, size and tracker,
# with hyperfine's exports without and with the tracker.
# The records stay in OUT/overhead/: the manifest and the exports it names
# (scripts/results.sh publish overhead OUT/overhead).
rec="$out/overhead"
rm -rf "$rec"
mkdir -p "$rec/hyperfine"
for w in "${workloads[@]}"; do
	for s in "${sizes[@]}"; do
		cp "$tmp/none_${w}_$s.csv" "$rec/hyperfine/"
		for t in "${trackers[@]}"; do
			cp "$tmp/${t}_${w}_$s.csv" "$rec/hyperfine/"
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$s" "${bytes[$s]}" "$t" "hyperfine/none_${w}_$s.csv" "hyperfine/${t}_${w}_$s.csv"
		done
	done
done >"$rec/manifest.tsv"
args=(overhead --runs "$runs" --manifest manifest.tsv --csv overhead.csv --md overhead.md --ratios ratios.md)
record_render "$rec" ratios.md manifest.tsv hyperfine -- "${args[@]}"
err=$(cd "$rec" && "$WLREPORT" "${args[@]}" 2>&1) ||
	fail "the overhead table could not be made: ${err#wlreport: }"
cp "$rec/overhead.csv" "$rec/overhead.md" "$out/"
cp "$rec/ratios.md" "$out/overhead-ratios.md"
cat "$out/overhead.md"
echo "overhead.sh: wrote $out/overhead.csv, $out/overhead.md and $out/overhead-ratios.md" >&2
