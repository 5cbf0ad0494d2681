#!/usr/bin/env bash
# run-contract.sh - the runner of a tracker of the contract
# (docs/tracker-contract.md, version 1): any command that attaches to a
# process by pid ({pid}) or starts it ({cmd}).
#
# Usage: run-contract.sh MODE OUTDIR < RUNS   (runner-lib.sh: the runs, OUTDIR/ID.raw)
#   MODE pid   OUTDIR/COMMAND has {pid}: the workload starts with --json
#              --wait --hold inf; the command starts with its pid; once it
#              prints "ready", the workload goes on and allocates
#        cmd   OUTDIR/COMMAND has {cmd}: the command starts the workload
#              (`BIN --json --wait --hold inf ARGS`, shell-quoted), which
#              inherits its stdout and stderr; once the tracker printed
#              "ready" and the workload its --wait line, the workload gets
#              SIGUSR1 and allocates
# Then, after a settling time (CONTRACT_SETTLE_S, 0.5 s), the tracker gets
# SIGINT (with {cmd}, every process of its group but the workload) and prints
# its reading on stdout ("KEY N" lines) before it exits; then the workload
# gets SIGINT, frees and reports. The tracker's stdout is the run's tracker
# section. RL_TIMEOUT (60 s) bounds the wait for "ready".
# Exit status: 0 every run recorded; 1 the tracker failed (never ready, or did
# not exit); 2 usage or setup error.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
# shellcheck source=scripts/trackers/runner-lib.sh
. "$here/runner-lib.sh"

mode=${1:-}
rl_mode "$mode" pid cmd
rl_init "${2:-}"
[ -r "$rl_out/COMMAND" ] || die "no tracker command in $rl_out/COMMAND"
template=$(<"$rl_out/COMMAND")
[[ $template == *"{$mode}"* ]] || die "the tracker's command has no {$mode}: $template"
settle=${CONTRACT_SETTLE_S:-0.5}

# by_pid ID PREFIX: the workload waits at --wait; the tracker is given its pid.
by_pid() {
	wl_spawn "$2" "${rl_cmd[0]}" --json --wait --hold inf "${rl_cmd[@]:1}" ||
		fail "$1: the workload never reached its --wait line: $(last_line "$2.err")"
	tr_attach "$2.tr" "the tracker ($template)" bash -c "${template//\{pid\}/$wl_pid}"
	wl_release
	wl_wait_held
	sleep "$settle"
	tr_stop
	wl_stop
	wl_finish
	tr_errors "$2.tr.err" "$2.tr.out" >"$2.trerr"
	mv -f "$rl_tmp/tr.usage" "$2.usage" 2>/dev/null || true
	emit "$1" "$wl_status" "$wl_pid" "$2.out" "$2.tr.out"
}

# by_cmd ID PREFIX: the tracker starts the workload, whose lines are mixed
# with its own; the workload's --wait line gives its pid.
by_cmd() {
	local p=$2 cmd t0 pid rc=0 i
	cmd=$(printf '%q ' "${rl_cmd[0]}" --json --wait --hold inf "${rl_cmd[@]:1}")
	tr_attach "$p.tr" "the tracker ($template)" bash -c "${template//\{cmd\}/$cmd}"
	rl_watch=$rl_tr_pid
	rl_wait_for '^pid=[0-9]+ waiting' "$RL_TIMEOUT" "$p.tr.err" "$p.tr.out" ||
		fail "$1: the workload under the tracker never reached its --wait line: $(last_line "$p.tr.err")"
	rl_watch=""
	pid=$(sed -n 's/^pid=\([0-9]*\) waiting.*/\1/p' "$p.tr.err" "$p.tr.out" | head -n 1)
	t0=$(rl_now_ns)
	kill -USR1 "$pid"
	wl_pid=$pid rl_usage_skip=$pid
	wl_wait_held
	sleep "$settle"
	# its usage before it is asked to stop (SIGINT below, not tr_stop's)
	tr_usage
	mv -f "$rl_tmp/tr.usage" "$p.usage"
	for i in $(pgrep -g "$rl_tr_pid"); do
		[ "$i" = "$pid" ] || kill -INT "$i" 2>/dev/null || true
	done
	# its reading first: the tracker may wait for the workload only after it
	for ((i = 0; i < 100; i++)); do
		kill -0 "$rl_tr_pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -INT "$pid" 2>/dev/null || true
	tr_stop
	# not this runner's child: its report is written once it is gone
	for ((i = 0; i < 1500; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	! kill -0 "$pid" 2>/dev/null || { kill -KILL "$pid"; fail "$1: the workload did not exit within 30 s of SIGINT"; }
	# the workload was the tracker's child, its exit status the tracker's to
	# know: a report without an error stands for 0
	echo $(($(rl_now_ns) - t0)) >"$p.wall"
	json_of "$p.tr.out" | grep -q '"error":null[,}]' || rc=1
	grep -v '^pid=[0-9]* waiting' "$p.tr.err" | tr_errors /dev/stdin "$p.tr.out" >"$p.trerr"
	emit "$1" "$rc" "$pid" "$p.tr.out" "$p.tr.out"
}

while IFS= read -r line; do
	rl_read_run "$line" || continue
	"by_$mode" "$rl_id" "$rl_tmp/$rl_id"
done
