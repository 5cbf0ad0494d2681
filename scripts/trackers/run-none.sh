#!/usr/bin/env bash
# run-none.sh - the scoreboard's runs without a tracker: the workload alone,
# whose --json report is the truth each tracker is held to.
#
# Usage: scripts/trackers/run-none.sh MODE OUTDIR < RUNS
#   MODE plain  each run holds its allocation for 100 ms (--hold, a ledger
#               entry of its own: the scoreboard's truth is what was held)
#        bare   each run as it is, timed (the sweep's runs without a tracker)
# RUNS and OUTDIR/ID.raw: see scripts/trackers/runner-lib.sh (the tracker
# section is empty). Exit status: 0 every run recorded; 2 usage error.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
# shellcheck source=scripts/trackers/runner-lib.sh
. "$here/runner-lib.sh"

mode=${1:-}
rl_mode "$mode" plain bare
hold=(--hold 100ms)
[ "$mode" = plain ] || hold=()
rl_init "${2:-}"

while IFS= read -r line; do
	rl_read_run "$line" || continue
	p=$rl_tmp/$rl_id
	rl_timed "$p" "${rl_cmd[0]}" --json "${hold[@]}" "${rl_cmd[@]:1}" >"$p.out" 2>"$p.err" </dev/null
	: >"$p.tr"
	emit "$rl_id" "$rl_status" "$rl_pid" "$p.out" "$p.tr"
done
