#!/usr/bin/env bash
# run-contract.sh - the scoreboard's runner of a tracker of the contract
# (docs/tracker-contract.md, version 1): any command that attaches to a
# process by pid.
#
# Usage: run-contract.sh pid OUTDIR < RUNS   (runner-lib.sh: the runs, OUTDIR/ID.raw)
# OUTDIR/COMMAND holds the tracker's command, a shell command line with {pid}
# where the workload's pid goes. For each run: the workload starts with --json
# --wait --hold inf; the command starts with its pid; once it prints "ready"
# on stdout, the workload goes on and allocates; after a settling time
# (CONTRACT_SETTLE_S, 0.5 s) the tracker gets SIGINT and prints its reading on
# stdout ("KEY N" lines) before it exits; then the workload gets SIGINT, frees
# and reports. The tracker's stdout is the run's tracker section.
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
rl_mode "$mode" pid
rl_init "${2:-}"
[ -r "$rl_out/COMMAND" ] || die "no tracker command in $rl_out/COMMAND"
template=$(<"$rl_out/COMMAND")
[[ $template == *"{pid}"* ]] || die "the tracker's command has no {pid}: $template"
settle=${CONTRACT_SETTLE_S:-0.5}

while IFS= read -r line; do
	rl_read_run "$line" || continue
	p=$rl_tmp/$rl_id
	wl_spawn "$p" "${rl_cmd[0]}" --json --wait --hold inf "${rl_cmd[@]:1}" ||
		fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.err")"
	tr_attach "$p.tr" "the tracker ($template)" bash -c "${template//\{pid\}/$wl_pid}"
	wl_release
	sleep "$settle"
	tr_stop
	wl_stop
	wl_finish
	emit "$rl_id" "$wl_status" "$wl_pid" "$p.out" "$p.tr.out"
done
