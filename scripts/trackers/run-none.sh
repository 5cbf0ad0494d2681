#!/usr/bin/env bash
# run-none.sh - the scoreboard's runs without a tracker: the workload alone,
# whose --json report is the truth each tracker is held to.
#
# Usage: scripts/trackers/run-none.sh plain OUTDIR < RUNS
# Each run holds its allocation for 100 ms (--hold): the one long gap between
# the ledger's calls tells the allocate side from the free side (wlreport
# scoreboard's truth: what was held). RUNS and OUTDIR/ID.raw: see
# scripts/trackers/runner-lib.sh (the tracker section is empty). Exit status: 0 every run recorded; 2 usage error.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
# shellcheck source=scripts/trackers/runner-lib.sh
. "$here/runner-lib.sh"

case "${1:-}" in
-h|--help) usage; exit 0 ;;
plain) ;;
*) die "unknown mode '${1:-}' (plain; see --help)" ;;
esac
rl_init "${2:-}"

while IFS= read -r line; do
	rl_read_run "$line" || continue
	p=$rl_tmp/$rl_id
	status=0
	"${rl_cmd[0]}" --json --hold 100ms "${rl_cmd[@]:1}" >"$p.out" 2>"$p.err" </dev/null || status=$?
	: >"$p.tr"
	emit "$rl_id" "$status" "$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$p.out" | head -n 1)" "$p.out" "$p.tr"
done
