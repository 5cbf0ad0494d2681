#!/usr/bin/env bash
# sweep.sh - run the workloads for a list of sizes under a memory tracker and
# write DATA.csv in the original suite's format, plus every run and an error
# table.
#
# Usage: scripts/sweep.sh [OPTIONS]
#   -t, --tracker NAME     bpftrace (default) | heap | strace | none | external
#   -c, --tracker-cmd CMD  command for the external tracker; {pid} is replaced
#                          by the workload's pid (implies --tracker external)
#       --ready REGEX      what the external tracker's ready line matches
#                          (extended regex, default: ready)
#       --ready-timeout S  seconds to wait for that line (default 30)
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
# Trackers:
#   bpftrace  one bpftrace process (scripts/trackers/memtrack.bt) stays
#             attached for the whole sweep and prints one line per workload
#             process when it exits. User-space figure = successful mmap
#             lengths + brk growth + shmget sizes; kmalloc-test is measured by
#             its kernel figure (kmem:kmalloc + kmem:kmem_cache_alloc
#             bytes_alloc in the process's context). Needs root.
#   heap      like bpftrace, with scripts/trackers/heap.bt: uprobes on glibc's
#             malloc family; figure = the bytes asked by the successful
#             allocating calls of the process (what bcc's memleak and
#             heaptrack count). Needs root.
#   strace    every run under `strace -f -e trace=mmap,brk,shmget`
#             (scripts/trackers/strace.sh), same user-space figure, no eBPF.
#   none      no tracker; wall time only (baseline for timing).
#   external  any command, through the external tracker contract below.
#
# External tracker contract:
#   1. The workload is started as `WORKLOAD --wait --json SIZE`, stdin on a
#      pipe; the harness waits for its line "pid=<PID> waiting for SIGUSR1 or
#      a line on stdin" on stderr (start-up is over, nothing allocated yet).
#   2. The tracker command is started with `bash -c CMD` (through setsid, in
#      a process group of its own), every {pid} in CMD replaced by the
#      workload's pid, stdin from /dev/null, SIGINT at its default action.
#   3. The harness waits until a line of the tracker's stdout or stderr
#      matches --ready (default "ready"), at most --ready-timeout seconds.
#   4. The workload is released (a newline on its stdin) and reaped; its wall
#      time is measured from the release to its exit.
#   5. The tracker's process group gets SIGINT (if still running), again each
#      second; it has 30 s to exit, after which it is killed and the run counts
#      as failed.
#   6. The tracked bytes are the last non-empty line of the tracker's stdout,
#      which must be a whole number of bytes.
#   The tracker sees only what happens after it attached, so its numbers
#   differ from a whole-process tracker by a constant start-up part; the
#   error table subtracts each workload's own size-1 baseline anyway.
#   Examples:
#     -c 'bpftrace -B line scripts/trackers/memtrack-pid.bt {pid}'
#     -c 'scripts/trackers/strace.sh --pid {pid}'
#
# Output (in --out, written only when the sweep is complete and every run
# succeeded; an interrupted sweep, or one with failed runs, leaves its files
# and a file INCOMPLETE saying why in OUT/incomplete-<time>/ instead):
#   DATA.csv    the original header; one row per size, medians of tracked
#               bytes; kmalloc column from --kernel-csv (or kmalloc-test runs)
#   runs.csv    one row per run: workload,size,repetition,tracker,figure,
#               tracked_bytes,requested_bytes,allocator_bytes,
#               glibc_mmap_bytes,wall_ns,exit_status,pid,mmap_bytes,
#               brk_bytes,shm_bytes,kernel_bytes,kmalloc_events,kmalloc_ptrs,
#               cache_events,module_kmalloc_events,module_kmalloc_ptrs,
#               then the workload's own report (repeat,completed,served_by,
#               reported_mmap_bytes,reported_brk_growth_bytes,failed_repeat,
#               error); the kernel CSV's runs last (tracker kernel-csv).
#               glibc_mmap_bytes: the mmap length glibc makes for
#               malloc(allocator_bytes), 0 when it fits the first heap;
#               kmalloc_*: every kmem:kmalloc event and distinct pointer of
#               the process; module_kmalloc_*: the module's own (kernel CSV)
#               (wlreport's crate docs describe every column)
#   raw-runs.tsv what the harness recorded per run (the tracker's line, the
#               workload's --json), from which `wlreport sweep` makes the
#               tables above
#   errors.csv  per workload and size: median tracked bytes minus the
#               workload's size-1 median (delta) minus allocator_bytes
#               (error_bytes), and delta minus glibc's mmap length
#   errors.md   the same as a markdown table
#   meta.txt    tracker, sizes, repetitions, versions, elapsed time
#   bpftrace.log (bpftrace tracker) every line bpftrace printed
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
ready_re="ready"
ready_timeout=30
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
	--ready) [ $# -ge 2 ] || die "$1 needs a value"; ready_re="$2"; shift 2 ;;
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
rc=0
grep -Eq -- "$ready_re" </dev/null 2>/dev/null || rc=$?
[ "$rc" -ne 2 ] || die "--ready is not an extended regex: $ready_re"
case "$tracker" in
bpftrace|heap|strace|none) [ -z "$tracker_cmd" ] || die "--tracker-cmd goes with --tracker external, not $tracker" ;;
external) [ -n "$tracker_cmd" ] || die "--tracker external needs --tracker-cmd CMD" ;;
*) die "unknown tracker: $tracker (bpftrace|heap|strace|none|external)" ;;
esac

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
tmp=""
stage=""
bpf_pid=""
done_ok=0

# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
	local rc=$?
	if [ -n "$bpf_pid" ] && kill -0 "$bpf_pid" 2>/dev/null; then
		kill -INT "$bpf_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$bpf_pid" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$bpf_pid" 2>/dev/null || true
	fi
	[ -z "$tmp" ] || rm -rf "$tmp"
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
		if [ ! -e "$stage/runs.csv" ] && [ -f "$stage/raw-runs.tsv" ]; then
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sweep.XXXXXX" 2>&1) || { err=$tmp; tmp=""; die "cannot create a temporary folder: ${err##*: }"; }
stage=$(mktemp -d "$out/.partial.XXXXXX" 2>&1) || { err=$stage; stage=""; die "cannot write in the output folder $out: ${err##*: }"; }

# --- the bpftrace tracker process ----------------------------------------------------------
bpf_fd=""
start_bpftrace() {
	local script="$1" fifo="$tmp/bpftrace.fifo" line i
	mkfifo "$fifo"
	# room for the distinct kmalloc pointers of a long sweep (bpftrace's
	# default is 4096 keys per map)
	env --default-signal=INT BPFTRACE_MAP_KEYS_MAX="${BPFTRACE_MAP_KEYS_MAX:-16384}" \
		bpftrace -B line "$here/trackers/$script" >"$fifo" 2>"$stage/bpftrace.err" &
	bpf_pid=$!
	exec {bpf_fd}<"$fifo"
	while :; do
		local rc=0
		IFS= read -r -t 60 -u "$bpf_fd" line || rc=$?
		if [ "$rc" -ne 0 ]; then
			local why="printed no 'ready' line within 60 s"
			# at the end of its output (not a timeout) it is exiting: give it 5 s
			for ((i = 0; rc <= 128 && i < 500; i++)); do
				kill -0 "$bpf_pid" 2>/dev/null || break
				sleep 0.01
			done
			if kill -0 "$bpf_pid" 2>/dev/null; then
				kill -KILL "$bpf_pid" 2>/dev/null || true
				wait "$bpf_pid" 2>/dev/null || true
			else
				rc=0
				wait "$bpf_pid" 2>/dev/null || rc=$?
				why="exited with status $rc before it was ready"
			fi
			bpf_pid=""
			line=$(last_line "$stage/bpftrace.err")
			fail "bpftrace $why${line:+: $line}"
		fi
		echo "$line" >>"$stage/bpftrace.log"
		[ "$line" = ready ] && break
	done
}

# bpf_result PID -> sets bpf_line to bpftrace's line for PID
bpf_line=""
bpf_result() {
	local pid="$1" line
	while :; do
		if ! IFS= read -r -t 20 -u "$bpf_fd" line; then
			if ! kill -0 "$bpf_pid" 2>/dev/null; then
				line=$(last_line "$stage/bpftrace.err")
				bpf_pid=""
				fail "bpftrace exited during the sweep${line:+: $line}"
			fi
			bpf_line=""
			return 1
		fi
		echo "$line" >>"$stage/bpftrace.log"
		if [[ "$line" == "exit pid=$pid "* ]]; then
			bpf_line="$line"
			return 0
		fi
	done
}

# kv KEY LINE -> value of KEY=VALUE in LINE (empty when absent)
kv() {
	if [[ " $2 " =~ [[:space:]]$1=([^[:space:]]*)[[:space:]] ]]; then
		printf '%s' "${BASH_REMATCH[1]}"
	fi
}

now_ns() {
	local t="$EPOCHREALTIME"
	echo $((10#${t/./} * 1000))
}

# --- one run ---------------------------------------------------------------------
# run_one WORKLOAD SIZE REP -> appends a row to runs.csv; sets run_ok
run_one() {
	local w="$1" size="$2" rep="$3" bin
	bin=$(workload_bin "$w")
	workload_opts "$w"
	local status=0 pid="" t0 t1 json="" tracked="" figure=user line=""
	local jf="$tmp/out.json" ef="$tmp/err.txt"
	[ "$w" = kmalloc-test ] && [ "$tracker" = bpftrace ] && figure=kernel
	[ "$tracker" = heap ] && figure=heap
	: >"$jf"
	case "$tracker" in
	bpftrace|heap|none)
		t0=$(now_ns)
		"$bin" "${wl_args[@]}" "${wl_opts[@]}" --json "$size" >"$jf" 2>"$ef" &
		pid=$!
		wait "$pid" || status=$?
		t1=$(now_ns)
		if [ "$tracker" != none ]; then
			if bpf_result "$pid"; then
				line="$bpf_line"
			else
				echo "sweep.sh: no bpftrace line for $w pid $pid (size $size)" >&2
			fi
		fi
		;;
	strace)
		t0=$(now_ns)
		"$here/trackers/strace.sh" --out "$tmp/strace.txt" -- "$bin" "${wl_args[@]}" "${wl_opts[@]}" --json "$size" >"$jf" 2>"$ef" || status=$?
		t1=$(now_ns)
		line=$(<"$tmp/strace.txt")
		;;
	external)
		run_external "$w" "$size" || status=$?
		t0="$ext_t0"; t1="$ext_t1"; pid="$ext_pid"
		[ -z "$ext_tracked" ] || line="tracked=$ext_tracked"
		;;
	esac
	# the figure, for the progress line and to tell a run the tracker missed
	case "$figure" in
	kernel) tracked=$(kv kernel "$line") ;;
	heap) tracked=$(kv bytes "$line") ;;
	*) tracked=$(kv user "$line") ;;
	esac
	[ -n "$tracked" ] || tracked=$(kv tracked "$line")
	IFS= read -r -d '' json <"$jf" || true
	if [ "$status" -ne 0 ]; then
		echo "sweep.sh: $w $size (rep $rep) failed with exit status $status: $(head -c 300 "$ef")" >&2
	elif [ "$tracker" != none ] && [ -z "$tracked" ]; then
		echo "sweep.sh: $w $size (rep $rep): the tracker reported nothing" >&2
		status=255
	fi
	run_ok=$((status == 0))
	last_tracked="$tracked"
	# one line of raw-runs.tsv: the workload's report is one JSON line
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$w" "$size" "$rep" "$tracker" "$figure" "$status" "$((t1 - t0))" "$pid" \
		"${line//[$'\t\n']/ }" "${json//[$'\t\n']/}" >>"$stage/raw-runs.tsv"
}

# run_external WORKLOAD SIZE -> ext_t0, ext_t1, ext_tracked, ext_pid; status
ext_t0=0 ext_t1=0 ext_tracked="" ext_pid=""
run_external() {
	local w="$1" size="$2" bin
	bin=$(workload_bin "$w")
	workload_opts "$w"
	local fifo="$tmp/wl.stdin" tout="$tmp/tracker.out" terr="$tmp/tracker.err"
	local wfd wpid tpid cmd i status=0 ready=0
	ext_tracked="" ext_pid="" ext_t0=0 ext_t1=0
	rm -f "$fifo"
	mkfifo "$fifo"
	# Empty before the start: the child opens (truncates) them only later.
	: >"$tmp/err.txt"
	: >"$tmp/out.json"
	exec {wfd}<>"$fifo"
	"$bin" "${wl_args[@]}" "${wl_opts[@]}" --wait --json "$size" <"$fifo" >"$tmp/out.json" 2>"$tmp/err.txt" &
	wpid=$!
	ext_pid="$wpid"
	for ((i = 0; i < 1000; i++)); do
		grep -q "waiting for SIGUSR1" "$tmp/err.txt" 2>/dev/null && break
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.01
	done
	if ! grep -q "waiting for SIGUSR1" "$tmp/err.txt" 2>/dev/null; then
		exec {wfd}>&-
		kill -KILL "$wpid" 2>/dev/null || true
		wait "$wpid" 2>/dev/null || status=$?
		echo "sweep.sh: $w did not reach its --wait point" >&2
		return "$((status ? status : 254))"
	fi
	cmd="${tracker_cmd//\{pid\}/$wpid}"
	: >"$tout"
	: >"$terr"
	setsid env --default-signal=INT bash -c "$cmd" >"$tout" 2>"$terr" </dev/null &
	tpid=$!
	for ((i = 0; i < ready_timeout * 100; i++)); do
		if grep -Eq -- "$ready_re" "$tout" "$terr" 2>/dev/null; then ready=1; break; fi
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.01
	done
	# it may have printed the line just before it exited
	[ "$ready" -eq 1 ] || ! grep -Eq -- "$ready_re" "$tout" "$terr" 2>/dev/null || ready=1
	if [ "$ready" -ne 1 ]; then
		local why last trc=0
		if kill -0 "$tpid" 2>/dev/null; then
			why="printed no line matching '$ready_re' within $ready_timeout s"
			kill -KILL -- "-$tpid" 2>/dev/null || kill -KILL "$tpid" 2>/dev/null || true
			wait "$tpid" 2>/dev/null || true
		else
			wait "$tpid" 2>/dev/null || trc=$?
			why="exited with status $trc before it printed a line matching '$ready_re'"
		fi
		last=$(last_line "$terr" "$tout")
		exec {wfd}>&-
		kill -KILL "$wpid" 2>/dev/null || true
		wait "$wpid" 2>/dev/null || true
		fail "the tracker $why (command: $cmd)${last:+; its last line: $last}"
	fi
	ext_t0=$(now_ns)
	echo >&"$wfd"
	exec {wfd}>&-
	wait "$wpid" || status=$?
	ext_t1=$(now_ns)
	# SIGINT once a second: bpftrace 0.17 can lose one that comes just after
	# it started (seen on a loaded machine); a later one ends it.
	for ((i = 0; i < 3000; i++)); do
		kill -0 "$tpid" 2>/dev/null || break
		((i % 100)) || kill -INT -- "-$tpid" 2>/dev/null || kill -INT "$tpid" 2>/dev/null || true
		sleep 0.01
	done
	if kill -0 "$tpid" 2>/dev/null; then
		kill -KILL -- "-$tpid" 2>/dev/null || kill -KILL "$tpid" 2>/dev/null || true
		wait "$tpid" 2>/dev/null || true
		echo "sweep.sh: the tracker did not exit within 30 s of SIGINT" >&2
		return 253
	fi
	wait "$tpid" 2>/dev/null || true
	local last
	last=$(grep -v '^[[:space:]]*$' "$tout" | tail -n 1 | tr -d '[:space:]') || true
	if [[ "$last" =~ ^[0-9]+$ ]]; then
		ext_tracked="$last"
	else
		echo "sweep.sh: the tracker's last line is not a number: '$last'" >&2
		tail -n 5 "$terr" >&2 || true
	fi
	return "$status"
}

# make_tables: runs.csv, DATA.csv, errors.csv, errors.md from raw-runs.tsv
make_tables() {
	local w sizes args=(--raw "$stage/raw-runs.tsv" --out "$stage")
	for w in "${workloads[@]}"; do
		sizes="${wl_req[$w]% }"
		args+=(--requested "$w=${sizes// /,}")
	done
	[ -z "$kernel_csv" ] || args+=(--kernel-csv "$kernel_csv")
	"$WLREPORT" sweep "${args[@]}"
}

# --- the sweep -------------------------------------------------------------------
printf 'workload\tsize\trepetition\ttracker\tfigure\texit_status\twall_ns\tpid\ttracker_report\tjson\n' >"$stage/raw-runs.tsv"

total=0
for w in "${workloads[@]}"; do
	read -r -a s <<<"${wl_sizes[$w]}"
	total=$((total + ${#s[@]} * reps))
done

started=$(now_ns)
case "$tracker" in
bpftrace) start_bpftrace memtrack.bt ;;
heap) start_bpftrace heap.bt ;;
esac

n=0
failed=0
run_ok=0
last_tracked=""
tty=0
[ -t 2 ] && [ "$quiet" -eq 0 ] && tty=1
for ((rep = 1; rep <= reps; rep++)); do
	for w in "${workloads[@]}"; do
		read -r -a s <<<"${wl_sizes[$w]}"
		for size in "${s[@]}"; do
			n=$((n + 1))
			run_one "$w" "$size" "$rep"
			[ "$run_ok" -eq 1 ] || failed=$((failed + 1))
			if [ "$tty" -eq 1 ]; then
				printf '\r\033[K[%d/%d] rep %d/%d %s %s: tracked %s' "$n" "$total" "$rep" "$reps" "$w" "$size" "${last_tracked:--}" >&2
			fi
		done
		if [ "$quiet" -eq 0 ] && [ "$tty" -eq 0 ]; then
			echo "sweep.sh: [$n/$total] rep $rep/$reps $w: ${#s[@]} sizes done ($failed failed so far)" >&2
		fi
	done
done
[ "$tty" -eq 1 ] && echo >&2

if [ -n "$bpf_pid" ]; then
	kill -INT "$bpf_pid" 2>/dev/null || true
	while IFS= read -r -t 30 -u "$bpf_fd" line; do echo "$line" >>"$stage/bpftrace.log"; done || true
	wait "$bpf_pid" 2>/dev/null || true
	bpf_pid=""
	exec {bpf_fd}<&-
fi
finished=$(now_ns)

# --- aggregation -------------------------------------------------------------------
err=$(make_tables 2>&1) || fail "the tables could not be made: ${err#wlreport: }"

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
	echo "elapsed_s=$(awk -v a="$started" -v b="$finished" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel=$(uname -r)"
	echo "host_cpus=$(nproc)"
	case "$tracker" in
	bpftrace|heap) echo "bpftrace=$(bpftrace --version 2>&1 | head -n 1)" ;;
	strace) echo "strace=$(strace -V 2>&1 | head -n 1)" ;;
	esac
} >"$stage/meta.txt"

# --- publish -------------------------------------------------------------------------
if [ "$failed" -ne 0 ]; then
	fail "$failed of $n runs failed (exit_status in runs.csv; their cells are left out of the medians)"
fi
for f in DATA.csv runs.csv raw-runs.tsv errors.csv errors.md meta.txt bpftrace.log bpftrace.err INCOMPLETE; do
	[ -e "$stage/$f" ] || rm -f "$out/$f"
done
for f in "$stage"/*; do
	mv -f "$f" "$out/"
done
rmdir "$stage"
done_ok=1
elapsed=$(awk -v a="$started" -v b="$finished" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
echo "sweep.sh: $n runs in ${elapsed}s with tracker $tracker; results in $out" >&2
exit 0
