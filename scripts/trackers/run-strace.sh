#!/usr/bin/env bash
# run-strace.sh - the scoreboard's runner for strace (scripts/trackers/strace.sh).
#
# Usage: scripts/trackers/run-strace.sh exec OUTDIR < RUNS
#   MODE exec  every run under `strace -f` from exec (strace.sh --out): the
#              sum of mmap lengths, brk growth and shmget sizes of the whole
#              process; each run also has its null run, for the process's
#              start-up to be taken away
# RUNS and OUTDIR/ID.raw: see scripts/trackers/runner-lib.sh.
# Errors are one line on stderr. Exit status: 0 every run recorded; 1 a run
# could not be made; 2 usage or setup error.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
# shellcheck source=scripts/trackers/runner-lib.sh
. "$here/runner-lib.sh"

case "${1:-}" in
-h|--help) usage; exit 0 ;;
exec) ;;
*) die "unknown mode '${1:-}' (exec; see --help)" ;;
esac
command -v strace >/dev/null 2>&1 || die "strace is not installed"
rl_init "${2:-}"

while IFS= read -r line; do
	rl_read_run "$line" || continue
	p=$rl_tmp/$rl_id
	wl_spawn "$p.null" "$here/strace.sh" --out "$p.null.tr" -- "${rl_cmd[0]}" --json --wait "${rl_cmd[@]:1}" ||
		fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.null.err")"
	wl_stop
	wl_finish
	wl_spawn "$p" "$here/strace.sh" --out "$p.tr" -- "${rl_cmd[0]}" --json --wait "${rl_cmd[@]:1}" ||
		fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.err")"
	wl_release
	wl_finish
	emit "$rl_id" "$wl_status" "$wl_pid" "$p.out" "$p.tr" "$p.null.out" "$p.null.tr"
done
