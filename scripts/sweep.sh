#!/usr/bin/env bash
# sweep.sh - run the workloads for a list of sizes under a memory tracker and
# write DATA.csv in the original suite's format, plus every run and an error
# table.
#
# Usage: scripts/sweep.sh [OPTIONS]
#   -t, --tracker NAME     bpftrace (default) | heap | strace | none | external
#   -c, --tracker-cmd CMD  a tracker of the contract (docs/tracker-contract.md):
#                          a command with {pid} (attached to the workload's
#                          pid) or {cmd} (it starts the workload); its reading's
#                          "bytes N" is the figure (implies --tracker external)
#       --ready-timeout S  seconds to wait for its "ready" line (default 60)
#   -s, --sizes LIST       comma-separated sizes: 4096, 4KiB, 1MiB, 1GiB (powers
#                          of 1024), 4K, 1M, 1G (powers of 1000), or pow2:A..B
#                          for 2^A..2^B; default pow2:0..30 (pow2:5..22 for
#                          kmalloc-test). Size 1 is always run as the baseline.
#   -r, --reps N           runs per workload and size (default 5); the median
#                          is reported
#   -w, --workloads LIST   comma-separated: malloc-wl, bytearray-wl,
#                          kmalloc-test, mmap-wl, brk-wl, shm-wl (default
#                          malloc-wl,bytearray-wl); a workload's own options
#                          follow a colon, joined by +, and the tables name
#                          the path so: malloc-wl:--fn=calloc,
#                          mmap-wl:--mode=fixed, malloc-wl:--fn=realloc+--from=1
#   -o, --out DIR          output directory (default results/ at the top of
#                          the repository)
#   -k, --kernel-csv FILE  kernel results to merge into DATA.csv's kmalloc
#                          column: columns size,repetition,bytes_alloc_sum,
#                          bytes_req,distinct_ptrs,raw_events,kmalloc_events,
#                          cache_events,kmalloc_ptrs,sheaf_bytes
#                          (scripts/kernel/vm-sweep.sh;
#                          size and bytes_alloc_sum are needed; header optional)
#       --bin-dir DIR      where the workload binaries are (default
#                          target/release; built with cargo when missing)
#   -a, --workload-arg ARG extra argument for every workload run (repeatable),
#                          e.g. -a --touch
#   -q, --quiet            no progress line
#   -h, --help             this text
#
# The sweep is a plan (workloads x sizes x repetitions, plan.tsv) run by the
# scoreboard's runners (scripts/trackers/run-*.sh: the same trackers started
# the same way, one raw file a run); sweep.sh starts no tracker itself.
# Trackers:
#   bpftrace  memtrack.bt (GranuloTrack's MemTracker rules), one session for
#             the whole sweep (run-bpftrace.sh memtrack): its line for each
#             workload process at exit. User-space figure = successful mmap
#             lengths + brk growth + shmget sizes; kmalloc-test is measured by
#             its kernel figure (kmem:kmalloc + kmem:kmem_cache_alloc
#             bytes_alloc in the process's context). Needs root.
#   heap      heap.bt, uprobes on glibc's malloc family (run-bpftrace.sh
#             heap): figure = the bytes asked by the successful allocating
#             calls of the process (what bcc's memleak and heaptrack count).
#             Needs root.
#   strace    every run under `strace -f` (run-strace.sh exec), the same
#             user-space figure, no eBPF.
#   none      no tracker (run-none.sh bare); wall time only.
#   external  a tracker of the contract (run-contract.sh), -c CMD.
# The tracker sees only what happens after it attached, so a contract
# tracker's numbers differ from a whole-process tracker's by a constant
# start-up part; the error table subtracts each workload's own size-1
# baseline anyway. Examples:
#   -c 'bpftrace -B line scripts/trackers/memtrack-pid.bt {pid}'
#   -c 'scripts/trackers/strace.sh --pid {pid}'
#
# Output (in --out, written only when the sweep is complete and every run
# succeeded; an interrupted sweep, or one with failed runs, leaves its files
# and a file INCOMPLETE saying why in OUT/incomplete-<time>/ instead):
#   DATA.csv    the original header; one row per size, medians of tracked
#               bytes; kmalloc column from --kernel-csv (or kmalloc-test runs)
#   runs.csv    one row per run (wlreport's crate docs describe every
#               column): the tracker's figure and its parts, what was
#               requested and what glibc maps for it, the wall time, the
#               workload's own report; the kernel CSV's runs last (tracker
#               kernel-csv)
#   plan.tsv, raw/
#               the plan and a raw file a run, from which `wlreport sweep`
#               makes the tables
#   errors.csv  per workload and size: median tracked bytes minus the
#               workload's size-1 median (delta) minus allocator_bytes
#               (error_bytes), and delta minus glibc's mmap length
#   errors.md   the same as a markdown table
#   meta.txt    tracker, sizes, repetitions, versions, elapsed time
#   runner.err  what the runner printed on stderr
# Errors are one line on stderr, "sweep.sh: ...". Exit status:
#   0  every run succeeded; the files above are in --out
#   1  the sweep ran and failed: a run failed, or the tracker exited, never
#      got ready or hung; the partial files are in OUT/incomplete-<time>/
#   2  usage or setup error, found before anything ran; nothing is written:
#      a bad option or value (a size the workloads refuse, such as 0, 1.5KiB
#      or -1), a missing workload binary or tracker, an unwritable --out
#   130, 143  interrupted by SIGINT, SIGTERM (partial files as for 1)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

tracker=bpftrace
tracker_cmd=""
ready_timeout=60
sizes_opt=""
reps=5
workloads_opt="malloc-wl,bytearray-wl"
out="$repo/results"
kernel_csv=""
bin_dir="$repo/target/release"
quiet=0
wl_args=()

# die (lib.sh): a usage or setup error, before anything ran or was written
# (exit 2). fail (lib.sh): the sweep failed once under way (exit 1); the EXIT
# trap prints the reason with where the partial files went, in one line.
fail_later=1

while [ $# -gt 0 ]; do
	case "$1" in
	-t|--tracker) [ $# -ge 2 ] || die "$1 needs a value"; tracker="$2"; shift 2 ;;
	-c|--tracker-cmd) [ $# -ge 2 ] || die "$1 needs a value"; tracker=external; tracker_cmd="$2"; shift 2 ;;
	--ready-timeout) [ $# -ge 2 ] || die "$1 needs a value"; ready_timeout="$2"; shift 2 ;;
	-s|--sizes) [ $# -ge 2 ] || die "$1 needs a value"; sizes_opt="$2"; shift 2 ;;
	-r|--reps) [ $# -ge 2 ] || die "$1 needs a value"; reps="$2"; shift 2 ;;
	-w|--workloads) [ $# -ge 2 ] || die "$1 needs a value"; workloads_opt="$2"; shift 2 ;;
	-o|--out) [ $# -ge 2 ] || die "$1 needs a value"; out="$2"; shift 2 ;;
	-k|--kernel-csv) [ $# -ge 2 ] || die "$1 needs a value"; kernel_csv="$2"; shift 2 ;;
	--bin-dir) [ $# -ge 2 ] || die "$1 needs a value"; bin_dir="$2"; shift 2 ;;
	-a|--workload-arg) [ $# -ge 2 ] || die "$1 needs a value"; wl_args+=("$2"); shift 2 ;;
	-q|--quiet) quiet=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option: $1 (see --help)" ;;
	esac
done

[[ "$reps" =~ ^[1-9][0-9]{0,5}$ ]] || die "--reps must be a whole number from 1 to 999999: $reps"
[[ "$ready_timeout" =~ ^[1-9][0-9]{0,5}$ ]] || die "--ready-timeout must be whole seconds, at least 1: $ready_timeout"
# The tracker: its runner and mode, what its figure is, how its output is
# read (wlreport's runs::Reader).
case "$tracker" in
bpftrace) runner=(run-bpftrace.sh memtrack) figure=user reader=exit-line ;;
heap) runner=(run-bpftrace.sh heap) figure=heap reader=exit-line ;;
strace) runner=(run-strace.sh exec) figure=user reader=key-line ;;
none) runner=(run-none.sh bare) figure=user reader=none ;;
external)
	[ -n "$tracker_cmd" ] || die "--tracker external needs --tracker-cmd CMD"
	case "$tracker_cmd" in
	*"{pid}"*"{cmd}"* | *"{cmd}"*"{pid}"*) die "--tracker-cmd has {pid} or {cmd}, not both: $tracker_cmd" ;;
	*"{pid}"*) runner=(run-contract.sh pid) ;;
	*"{cmd}"*) runner=(run-contract.sh cmd) ;;
	*) die "--tracker-cmd has no {pid} or {cmd}: $tracker_cmd" ;;
	esac
	figure=user reader=contract
	;;
*) die "unknown tracker: $tracker (bpftrace|heap|strace|none|external)" ;;
esac
[ "$tracker" = external ] || [ -z "$tracker_cmd" ] || die "--tracker-cmd goes with --tracker external, not $tracker"

IFS=, read -r -a workloads <<<"$workloads_opt"
[ "${#workloads[@]}" -gt 0 ] || die "no workloads given"
# workload_bin W -> the binary of W (what comes before its colon)
workload_bin() { printf '%s/%s' "$bin_dir" "${1%%:*}"; }
# workload_opts W -> W's own options (after the colon, joined by +), in the array wl_opts
workload_opts() {
	wl_opts=()
	[[ "$1" == *:* ]] || return 0
	IFS=+ read -r -a wl_opts <<<"${1#*:}"
}
for w in "${workloads[@]}"; do
	case "${w%%:*}" in
	malloc-wl|bytearray-wl|kmalloc-test|mmap-wl|brk-wl|shm-wl) ;;
	*) die "unknown workload: '$w' (malloc-wl, bytearray-wl, kmalloc-test, mmap-wl, brk-wl, shm-wl)" ;;
	esac
done

# --- workload binaries ------------------------------------------------------------
for w in "${workloads[@]}"; do
	b=$(workload_bin "$w")
	if [ ! -x "$b" ]; then
		if [ "$bin_dir" = "$repo/target/release" ] && command -v cargo >/dev/null 2>&1; then
			echo "sweep.sh: $b missing; running cargo build --release" >&2
			(cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
		fi
		[ -x "$b" ] || die "workload binary not found: $b (cargo build --release)"
	fi
	# The workload's own options are its to refuse, before anything runs.
	workload_opts "$w"
	check_size "$b" "1" "${wl_opts[@]}" || die "-w $w: $size_error"
	if [ "$w" = kmalloc-test ] && [ ! -e /proc/kmalloc_lkm ]; then
		die "kmalloc-test needs the kmalloc_lkm module loaded (/proc/kmalloc_lkm is missing)"
	fi
done

# --- sizes -----------------------------------------------------------------
# A size is what the workloads make of it: malloc-wl (which allocates it
# untouched) is asked, so the units and refusals (0, 1.5KiB, -1, 1e3) are theirs.
checker="$bin_dir/malloc-wl"
[ -x "$checker" ] || checker="$bin_dir/${workloads[0]}"

# expand_sizes LIST -> the sizes in bytes, in the array sizes_out
sizes_out=()
expand_sizes() {
	local item a b i
	local -a items
	sizes_out=()
	IFS=, read -r -a items <<<"$1"
	for item in "${items[@]}"; do
		item="${item//[[:space:]]/}"
		[ -n "$item" ] || continue
		if [[ "$item" =~ ^pow2:([0-9]{1,2})\.\.([0-9]{1,2})$ ]]; then
			a=$((10#${BASH_REMATCH[1]}))
			b=$((10#${BASH_REMATCH[2]}))
			if [ "$a" -gt "$b" ] || [ "$b" -gt 40 ]; then die "bad range: $item (pow2:A..B, A <= B <= 40)"; fi
			for ((i = a; i <= b; i++)); do sizes_out+=($((1 << i))); done
		else
			check_size "$checker" "$item" || case $? in
				2) die "bad size in --sizes: $size_error" ;;
				*) die "size $item cannot be run here: $size_error" ;;
			esac
			sizes_out+=("$size_bytes")
		fi
	done
	[ "${#sizes_out[@]}" -gt 0 ] || die "no sizes given"
}

declare -A wl_sizes=()    # workload -> space-separated sizes to run
declare -A wl_req=()      # workload -> space-separated sizes asked for
[ -z "$sizes_opt" ] || expand_sizes "$sizes_opt"
for w in "${workloads[@]}"; do
	if [ -z "$sizes_opt" ] && [ "$w" = kmalloc-test ]; then
		expand_sizes "pow2:5..22"
	elif [ -z "$sizes_opt" ]; then
		expand_sizes "pow2:0..30"
	fi
	wl_req[$w]=$(printf '%s\n' "${sizes_out[@]}" | sort -n -u | tr '\n' ' ')
	wl_sizes[$w]=$(printf '%s\n' 1 "${sizes_out[@]}" | sort -n -u | tr '\n' ' ')
done

# --- the tracker and the machine ----------------------------------------------
need_root() {
	[ "$(id -u)" -eq 0 ] || die "the $1 needs root (run with sudo)"
}

case "$tracker" in
bpftrace|heap)
	need_root "$tracker tracker"
	need_tool bpftrace bpftrace
	ensure_tracefs
	;;
strace)
	need_tool strace strace
	;;
esac
if [ -n "$kernel_csv" ] && { [ ! -f "$kernel_csv" ] || [ ! -r "$kernel_csv" ]; }; then
	die "cannot read kernel CSV: $kernel_csv"
fi
# The tables are made by wlreport; a kernel CSV it cannot merge is refused now.
need_wlreport
if [ -n "$kernel_csv" ]; then
	err=$("$WLREPORT" kernel-check "$kernel_csv" 2>&1) || die "${err#wlreport: }"
fi

# --- staging and cleanup ------------------------------------------------------
# Nothing is written before this point. The runs go to OUT/.partial.* first;
# the EXIT trap moves them to OUT/incomplete-<time>/ unless the sweep succeeded.
err=$(mkdir -p -- "$out" 2>&1) || die "cannot create the output folder $out: ${err##*: }"
out=$(cd "$out" && pwd)
stage=""
runner_pid=""
done_ok=0

# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
	local rc=$?
	if [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null; then
		# the runner's own trap stops its tracker and workload
		kill -TERM "$runner_pid" 2>/dev/null || true
		wait "$runner_pid" 2>/dev/null || true
	fi
	if [ "$done_ok" -ne 1 ] && [ -n "$stage" ] && [ -d "$stage" ]; then
		local base dest i=1 why="$fail_msg"
		case "$rc" in
		130) why="interrupted (SIGINT)" ;;
		143) why="interrupted (SIGTERM)" ;;
		esac
		[ -n "$why" ] || why="the sweep stopped before it finished (exit status $rc)"
		base="$out/incomplete-$(date +%Y%m%d-%H%M%S)"
		dest="$base"
		while [ -e "$dest" ]; do dest="$base-$i"; i=$((i + 1)); done
		# an interrupted sweep still gets the tables of the runs it recorded
		if [ ! -e "$stage/runs.csv" ] && [ -f "$stage/plan.tsv" ]; then
			make_tables >/dev/null 2>&1 || true
		fi
		echo "INCOMPLETE: $why; these files are partial." >"$stage/INCOMPLETE"
		mv "$stage" "$dest"
		echo "sweep.sh: $why; partial files in $dest" >&2
		[ "$rc" -ne 0 ] || rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stage=$(mktemp -d "$out/.partial.XXXXXX" 2>&1) || { err=$stage; stage=""; die "cannot write in the output folder $out: ${err##*: }"; }

# make_tables: runs.csv, DATA.csv, errors.csv, errors.md from the plan and
# the raw files; prints "runs=N failed=M"
make_tables() {
	local w sizes args=(--plan "$stage/plan.tsv" --raw "$stage/raw" --out "$stage")
	for w in "${workloads[@]}"; do
		sizes="${wl_req[$w]% }"
		args+=(--requested "$w=${sizes// /,}")
	done
	[ -z "$kernel_csv" ] || args+=(--kernel-csv "$kernel_csv")
	"$WLREPORT" sweep "${args[@]}"
}

# --- the sweep -------------------------------------------------------------------
# The plan: a run a line, in the order they run (repetition, workload, size);
# the runner's input: ID, the binary, its arguments ending with the size.
printf 'id\tworkload\tsize\trepetition\ttracker\tfigure\treader\n' >"$stage/plan.tsv"
mkdir "$stage/raw"
[ "$tracker" != external ] || printf '%s\n' "$tracker_cmd" >"$stage/raw/COMMAND"
runs_in="$stage/runs.in"
: >"$runs_in"
total=0
for ((rep = 1; rep <= reps; rep++)); do
	for w in "${workloads[@]}"; do
		read -r -a s <<<"${wl_sizes[$w]}"
		workload_opts "$w"
		f=$figure
		[ "$tracker" != bpftrace ] || [ "${w%%:*}" != kmalloc-test ] || f=kernel
		for size in "${s[@]}"; do
			total=$((total + 1))
			id=$(printf 'r%06d' "$total")
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$w" "$size" "$rep" "$tracker" "$f" "$reader" >>"$stage/plan.tsv"
			run=("$id" "$(workload_bin "$w")" "${wl_args[@]}" "${wl_opts[@]}" "$size")
			(IFS=$'\t'; echo "${run[*]}") >>"$runs_in"
		done
	done
done

started=$SECONDS
[ "$quiet" -eq 1 ] || say "$total runs under ${runner[*]}"
RL_TIMEOUT=$ready_timeout "$here/trackers/${runner[0]}" "${runner[1]}" "$stage/raw" <"$runs_in" 2>"$stage/runner.err" &
runner_pid=$!
if [ -t 2 ] && [ "$quiet" -eq 0 ]; then
	while kill -0 "$runner_pid" 2>/dev/null; do
		n=$(find "$stage/raw" -name '*.raw' | wc -l)
		printf '\r\033[K[%d/%d] runs recorded' "$n" "$total" >&2
		sleep 1
	done
	echo >&2
fi
rc=0
wait "$runner_pid" || rc=$?
runner_pid=""
rm -f "$runs_in"
((rc == 0)) || fail "the tracker's runner failed (${runner[*]}, exit $rc): $(last_line "$stage/runner.err")"
finished=$SECONDS

# --- aggregation -------------------------------------------------------------------
counts=$(make_tables 2>&1) || fail "the tables could not be made: ${counts#wlreport: }"
sed -n 's/^failed: /sweep.sh: /p' <<<"$counts" >&2
n=$(sed -n 's/^runs=\([0-9]*\) .*/\1/p' <<<"$counts")
failed=$(sed -n 's/.* failed=\([0-9]*\)$/\1/p' <<<"$counts")
[ "$n" = "$total" ] || fail "$((total - n)) of $total runs were not recorded"

{
	echo "tracker=$tracker"
	[ "$tracker" = external ] && echo "tracker_cmd=$tracker_cmd"
	echo "workloads=${workloads[*]}"
	for w in "${workloads[@]}"; do echo "sizes[$w]=${wl_req[$w]}"; done
	echo "repetitions=$reps"
	echo "workload_args=${wl_args[*]}"
	echo "kernel_csv=$kernel_csv"
	echo "runs=$n"
	echo "failed_runs=$failed"
	echo "elapsed_s=$((finished - started))"
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel=$(uname -r)"
	echo "host_cpus=$(nproc)"
	echo "runner=${runner[*]}"
	case "$tracker" in
	bpftrace|heap) echo "bpftrace=$(bpftrace --version 2>&1 | head -n 1)" ;;
	strace) echo "strace=$(strace -V 2>&1 | head -n 1)" ;;
	esac
} >"$stage/meta.txt"

# --- publish -------------------------------------------------------------------------
if [ "$failed" -ne 0 ]; then
	fail "$failed of $n runs failed (exit_status in runs.csv; their cells are left out of the medians)"
fi
for f in DATA.csv runs.csv plan.tsv errors.csv errors.md meta.txt runner.err INCOMPLETE; do
	[ -e "$stage/$f" ] || rm -f "$out/$f"
done
rm -rf "$out/raw"
for f in "$stage"/*; do
	mv -f "$f" "$out/"
done
rmdir "$stage"
done_ok=1
echo "sweep.sh: $n runs in $((finished - started))s with tracker $tracker; results in $out" >&2
exit 0
