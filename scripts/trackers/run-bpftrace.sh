#!/usr/bin/env bash
# run-bpftrace.sh - the scoreboard's runner for our bpftrace trackers.
#
# Usage: scripts/trackers/run-bpftrace.sh MODE OUTDIR < RUNS
#   MODE memtrack      memtrack.bt (GranuloTrack's MemTracker rules, on a
#                      whole process from exec), one session for every run;
#                      each run also has its null run, for the process's
#                      start-up to be taken away
#        memtrack-pid  memtrack-pid.bt attached to the workload at its --wait
#                      line, one bpftrace a run
#        maps          maps.bt (the correct rule) attached the same way
#        heap          heap.bt (uprobes on glibc's malloc family), one session
#                      for every run, each workload run plainly
# RUNS and OUTDIR/ID.raw: see scripts/trackers/runner-lib.sh. Needs root.
# Errors are one line on stderr. Exit status: 0 every run recorded; 1 bpftrace
# failed (did not start or hung); 2 usage or setup error.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
# shellcheck source=scripts/trackers/runner-lib.sh
. "$here/runner-lib.sh"

mode=${1:-}
rl_mode "$mode" memtrack memtrack-pid maps heap
command -v bpftrace >/dev/null 2>&1 || die "bpftrace is not installed"
((EUID == 0)) || die "bpftrace needs root"
rl_init "${2:-}"

# A session's ready line, and the pids of its runs, for the split at the end.
declare -A pid_of=() null_pid_of=()
ids=()
# bt_start PREFIX SCRIPT [ARGS]: bpftrace SCRIPT, up to its ready line. A
# uprobe another tracer holds on the same function (bcc's memleak) makes it
# fail to attach, and a machine busy with other BPF programs can refuse its
# RLIMIT_MEMLOCK: it is tried again, 10 s apart, 6 times.
bt_start() {
	local t=$1 bt=$2
	shift 2
	# room for a whole scoreboard's pointers (memtrack.bt keeps them per pid)
	tr_attach "$t" "bpftrace $bt" env BPFTRACE_MAP_KEYS_MAX="${BPFTRACE_MAP_KEYS_MAX:-65536}" bpftrace -B line "$here/$bt" "$@"
}
session() { bt_start "$rl_tmp/bt" "$1"; }
# drain FILE: waits (at most RL_TIMEOUT s) until FILE, a session's output,
# has not grown for 1 s.
drain() {
	local i last=-1 now still=0
	for ((i = 0; i < RL_TIMEOUT * 4; i++)); do
		now=$(stat -c %s -- "$1")
		if [ "$now" = "$last" ]; then
			still=$((still + 1))
			((still < 4)) || return 0
		else
			still=0
		fi
		last=$now
		sleep 0.25
	done
}
# lines_of PID [JSON]: the session's lines for that process, and for the
# processes its --json ledger names (a forked child reports on its own)
lines_of() {
	local pids=$1
	if [ -n "${2:-}" ]; then
		pids=$( (echo "$1"; json_of "$2" | grep -o '"pid":[0-9]*' | cut -d: -f2) | sort -u | paste -sd'|')
	fi
	grep -E "(^| )pid=($pids)( |\$)" "$rl_tmp/bt.out" || true
}

case "$mode" in
memtrack)
	session memtrack.bt
	while IFS= read -r line; do
		rl_read_run "$line" || continue
		p=$rl_tmp/$rl_id
		wl_spawn "$p.null" "${rl_cmd[0]}" --json --wait "${rl_cmd[@]:1}" ||
			fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.null.err")"
		wl_stop
		wl_finish
		null_pid_of[$rl_id]=$wl_pid
		wl_spawn "$p" "${rl_cmd[0]}" --json --wait "${rl_cmd[@]:1}" ||
			fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.err")"
		wl_release
		wl_finish
		pid_of[$rl_id]=$wl_pid
		echo "$wl_status" >"$p.status"
		ids+=("$rl_id")
	done
	tr_stop
	for id in "${ids[@]}"; do
		p=$rl_tmp/$id
		lines_of "${pid_of[$id]}" "$p.out" >"$p.tr"
		lines_of "${null_pid_of[$id]}" >"$p.null.tr"
		emit "$id" "$(<"$p.status")" "${pid_of[$id]}" "$p.out" "$p.tr" "$p.null.out" "$p.null.tr"
	done
	;;
heap)
	session heap.bt
	while IFS= read -r line; do
		rl_read_run "$line" || continue
		p=$rl_tmp/$rl_id
		rl_timed "$p" "${rl_cmd[0]}" --json "${rl_cmd[@]:1}" >"$p.out" 2>"$p.err" </dev/null
		pid_of[$rl_id]=$rl_pid
		echo "$rl_status" >"$p.status"
		ids+=("$rl_id")
	done
	# bpftrace prints what is in its buffers while the calls go on, and may be
	# behind after many; SIGINT would end it with its lines unread (lost, and
	# never said so): stopped only once its output has not grown for 1 s.
	drain "$rl_tmp/bt.out"
	tr_stop
	for id in "${ids[@]}"; do
		p=$rl_tmp/$id
		lines_of "${pid_of[$id]}" "$p.out" >"$p.tr"
		# the session's lost events and usage: the run's when it had one
		tr_errors "$rl_tmp/bt.err" "$rl_tmp/bt.out" >"$p.trerr"
		((${#ids[@]} > 1)) || cp "$rl_tmp/tr.usage" "$p.usage" 2>/dev/null || true
		emit "$id" "$(<"$p.status")" "${pid_of[$id]}" "$p.out" "$p.tr"
	done
	;;
memtrack-pid | maps)
	while IFS= read -r line; do
		rl_read_run "$line" || continue
		p=$rl_tmp/$rl_id
		wl_spawn "$p" "${rl_cmd[0]}" --json --wait "${rl_cmd[@]:1}" ||
			fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.err")"
		bt_start "$p.bt" "$mode.bt" "$wl_pid"
		wl_release
		wl_finish
		tr_stop
		tr_errors "$p.bt.err" "$p.bt.out" >"$p.trerr"
		mv -f "$rl_tmp/tr.usage" "$p.usage" 2>/dev/null || true
		emit "$rl_id" "$wl_status" "$wl_pid" "$p.out" "$p.bt.out"
	done
	;;
esac
