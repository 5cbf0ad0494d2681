#!/usr/bin/env bash
# run-memleak.sh - the scoreboard's runner for bcc's memleak (memleak-bpfcc).
#
# memleak reports the allocations that are outstanding (not yet freed) every
# interval; so each workload holds its allocation (--hold inf) until memleak
# has reported once after it, then both are stopped with SIGINT.
#
# Usage: scripts/trackers/run-memleak.sh MODE OUTDIR < RUNS
#   MODE pid  `memleak -p PID 1`, attached at the workload's --wait line
#        cmd  `memleak -c "CMD" 1`: memleak starts the workload itself,
#             before its probes are attached (it compiles them first), so the
#             workload is still given --wait, on memleak's stdin
# The workload is released once memleak's first report is out (the probes
# are attached by then), and held over two more: the first may have been
# under way as it allocated. memleak prints a report's heading before it
# reads its map, and SIGINT in between leaves the report empty; so it is
# stopped only once the heading after those two is out, and the tracker
# section holds its stdout up to that heading: its reports ("N bytes in M
# allocations from stack"), the last one complete and taken while the
# allocation was held. Runs bcc-headers.sh first (kernel headers
# for bcc's compiler). RUNS and OUTDIR/ID.raw: see runner-lib.sh. Needs root.
# Errors are one line on stderr. Exit status: 0 every run recorded; 1 a run
# could not be made (memleak never got ready, or hung); 2 usage or setup
# error (no memleak, no headers).
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
# shellcheck source=scripts/trackers/runner-lib.sh
. "$here/runner-lib.sh"

mode=${1:-}
rl_mode "$mode" pid cmd
((EUID == 0)) || die "memleak needs root"
memleak=$(command -v memleak-bpfcc) || die "memleak-bpfcc is not installed (package bpfcc-tools)"
# bcc's Python module is Debian's: the system's interpreter, not one earlier on PATH.
py=/usr/bin/python3
"$py" -c 'import bcc' 2>/dev/null || die "$py cannot import bcc (package python3-bpfcc)"
err=$("$here/bcc-headers.sh" 2>&1 >/dev/null) || die "no kernel headers for bcc: ${err#bcc-headers.sh: error: }"
rl_init "${2:-}"

# the line that starts each of memleak's reports
heading='stacks with outstanding allocations'
# reports FILE -> how many reports memleak has printed so far
reports() { grep -c "$heading" "$1" 2>/dev/null || true; }
# complete_reports FILE N: FILE's lines before the heading of report N+1,
# without the workload's report (memleak -c prints it too)
complete_reports() {
	awk -v n="$2" -v h="$heading" 'index($0, h) && ++seen > n { exit }
		!/^\{"workload"/ { print }' "$1"
}
# next_report FILE N WATCH: waits for report N+1
next_report() {
	local i
	for ((i = 0; i < RL_TIMEOUT * 50; i++)); do
		(($(reports "$1") > $2)) && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# one_run: the run of rl_id; 1 when memleak did not get ready (its last line
# in why), having stopped what it started.
why=""
one_run() {
	local p=$rl_tmp/$rl_id keep i status
	if [ "$mode" = pid ]; then
		wl_spawn "$p" "${rl_cmd[0]}" --json --wait --hold inf "${rl_cmd[@]:1}" ||
			fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.err")"
		tr_start "$p.ml" env PYTHONUNBUFFERED=1 "$py" "$memleak" -p "$wl_pid" 1
		if ! next_report "$p.ml.out" 0 "$rl_tr_pid"; then
			why=$(last_line "$p.ml.out" "$p.ml.err")
			tr_stop
			wl_stop
			wl_finish
			return 1
		fi
		# the reports to keep: those so far and the two after the release
		keep=$(($(reports "$p.ml.out") + 2))
		wl_release
		if [ "${RL_WAIT_HELD:-0}" = 1 ]; then
			wl_wait_held
			keep=$(($(reports "$p.ml.out") + 2))
		fi
		next_report "$p.ml.out" "$keep" "$rl_tr_pid" ||
			fail "memleak -p printed no report after the allocation: $(last_line "$p.ml.err")"
		tr_stop
		wl_stop
		wl_finish
		complete_reports "$p.ml.out" "$keep" >"$p.tr"
		tr_errors "$p.ml.err" >"$p.trerr"
		mv -f "$rl_tmp/tr.usage" "$p.usage" 2>/dev/null || true
		emit "$rl_id" "$wl_status" "$wl_pid" "$p.out" "$p.tr"
	else
		# memleak splits the command on spaces and inherits our pipe as the
		# workload's stdin; its stdout carries the workload's report too.
		wl_spawn "$p" env PYTHONUNBUFFERED=1 "$py" "$memleak" 1 \
			-c "${rl_cmd[*]:0:1} --json --wait --hold inf ${rl_cmd[*]:1}" ||
			fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.err")"
		if ! next_report "$p.out" 0 "$rl_wl_job"; then
			why=$(last_line "$p.out" "$p.err")
			kill -INT "$rl_wl_job" 2>/dev/null || true
			wl_stop
			for ((i = 0; i < 1500; i++)); do kill -0 "$wl_pid" 2>/dev/null || break; sleep 0.02; done
			wl_finish
			return 1
		fi
		# the reports to keep: those so far and the two after the release
		keep=$(($(reports "$p.out") + 2))
		wl_release
		if [ "${RL_WAIT_HELD:-0}" = 1 ]; then
			wl_wait_held
			keep=$(($(reports "$p.out") + 2))
		fi
		next_report "$p.out" "$keep" "$rl_wl_job" ||
			fail "memleak -c printed no report after the allocation: $(last_line "$p.err")"
		kill -INT "$rl_wl_job" 2>/dev/null || true
		for ((i = 0; i < 1500; i++)); do kill -0 "$rl_wl_job" 2>/dev/null || break; sleep 0.02; done
		wl_stop
		# the workload outlives memleak, its parent: wait for its report
		for ((i = 0; i < 1500; i++)); do kill -0 "$wl_pid" 2>/dev/null || break; sleep 0.02; done
		wl_finish
		complete_reports "$p.out" "$keep" >"$p.tr"
		grep -v '^pid=[0-9]* waiting' "$p.err" | tr_errors /dev/stdin >"$p.trerr"
		status=0
		grep -q '"error":null' "$p.out" || status=1
		emit "$rl_id" "$status" "$wl_pid" "$p.out" "$p.tr"
	fi
}

# memleak 0.26 sometimes fails to attach its uprobes ("Failed to attach BPF
# to uprobe") when another tracer attaches at the same moment: a run is
# tried 6 times.
while IFS= read -r line; do
	rl_read_run "$line" || continue
	tries=0
	until one_run; do
		tries=$((tries + 1))
		((tries < 6)) || fail "memleak -$([ "$mode" = pid ] && echo p || echo c) did not get ready 6 times: $why"
		say "$rl_id: memleak did not get ready ($why); again"
		# another tracer attaching uprobes at the same moment (the other
		# memleak's lane): a pause of its own moves this one out of step
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))" "$((RANDOM % 3))"
	done
done
