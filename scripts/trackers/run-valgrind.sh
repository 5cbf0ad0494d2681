#!/usr/bin/env bash
# run-valgrind.sh - the scoreboard's runner for valgrind's massif and memcheck.
#
# Usage: scripts/trackers/run-valgrind.sh MODE OUTDIR < RUNS
#   MODE massif        --tool=massif: the peak snapshot of the heap (the bytes
#                      the program asked for, valgrind's own malloc serving)
#        massif-pages  --tool=massif --pages-as-heap=yes: the peak of every
#                      page mapped (mmap, brk), from exec; each run also has
#                      its null run, for the process's start-up to be taken away
#        memcheck      --tool=memcheck --leak-check=full: the HEAP SUMMARY
#                      (total heap usage, in use at exit) and the LEAK SUMMARY
# The tracker section holds massif's output file (massif.out) or memcheck's
# log. RUNS and OUTDIR/ID.raw: see scripts/trackers/runner-lib.sh.
# Errors are one line on stderr. Exit status: 0 every run recorded; 1 a run
# could not be made; 2 usage or setup error.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
# shellcheck source=scripts/trackers/runner-lib.sh
. "$here/runner-lib.sh"

mode=${1:-}
rl_mode "$mode" massif massif-pages memcheck
command -v valgrind >/dev/null 2>&1 || die "valgrind is not installed"
rl_init "${2:-}"

# vg FILE: the valgrind command line of this mode, its output in FILE
vg() {
	case "$mode" in
	massif) echo valgrind -q --tool=massif --peak-inaccuracy=0 "--massif-out-file=$1" ;;
	massif-pages) echo valgrind -q --tool=massif --pages-as-heap=yes --peak-inaccuracy=0 "--massif-out-file=$1" ;;
	memcheck) echo valgrind --tool=memcheck --leak-check=full "--log-file=$1" ;;
	esac
}

while IFS= read -r line; do
	rl_read_run "$line" || continue
	p=$rl_tmp/$rl_id
	read -r -a tool <<<"$(vg "$p.tr")"
	if [ "$mode" = massif-pages ]; then
		read -r -a ntool <<<"$(vg "$p.null.tr")"
		wl_spawn "$p.null" "${ntool[@]}" "${rl_cmd[0]}" --json --wait "${rl_cmd[@]:1}" ||
			fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.null.err")"
		wl_stop
		wl_finish
		wl_spawn "$p" "${tool[@]}" "${rl_cmd[0]}" --json --wait "${rl_cmd[@]:1}" ||
			fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.err")"
		wl_release
		wl_finish
		emit "$rl_id" "$wl_status" "$wl_pid" "$p.out" "$p.tr" "$p.null.out" "$p.null.tr"
	else
		status=0
		"${tool[@]}" "${rl_cmd[0]}" --json "${rl_cmd[@]:1}" >"$p.out" 2>"$p.err" </dev/null || status=$?
		# valgrind's own refusal ("Program aborting because of call to pvalloc")
		grep -h 'Program aborting' "$p.err" >>"$p.tr" 2>/dev/null || true
		pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$p.out" | head -n 1)
		emit "$rl_id" "$status" "$pid" "$p.out" "$p.tr"
	fi
done
