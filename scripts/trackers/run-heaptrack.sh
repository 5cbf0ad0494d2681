#!/usr/bin/env bash
# run-heaptrack.sh - the scoreboard's runner for heaptrack.
#
# Usage: scripts/trackers/run-heaptrack.sh MODE OUTDIR < RUNS
#   MODE preload  `heaptrack CMD`: heaptrack's library preloaded from exec
#        pid      `heaptrack -p PID`: injected with gdb at the --wait line;
#                 where gdb cannot call into a process, OUTDIR/SKIPPED says
#                 why and nothing runs
# The tracker section holds heaptrack_print's summary (from "total runtime"
# on) and its histogram of allocation sizes (-H), one "histogram SIZE COUNT"
# line each. RUNS and OUTDIR/ID.raw: see scripts/trackers/runner-lib.sh.
# Errors are one line on stderr. Exit status: 0 every run recorded; 1 a run
# could not be made (heaptrack never got ready, or hung); 2 usage or setup
# error.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
# shellcheck source=scripts/trackers/runner-lib.sh
. "$here/runner-lib.sh"

mode=${1:-}
rl_mode "$mode" preload pid
for t in heaptrack heaptrack_print; do
	command -v "$t" >/dev/null 2>&1 || die "$t is not installed"
done
[ "$mode" = preload ] || command -v gdb >/dev/null 2>&1 || die "heaptrack -p needs gdb, which is not installed"
rl_init "${2:-}"

# heaptrack -p has gdb call a function in the process. gdb 13 (Debian 12)
# cannot on some processors (AMX, say: "Couldn't write extended state status:
# Bad address"), and leaves the process broken. Tried first on a process of
# our own: where gdb cannot, the tracker cannot run here, and says why in
# OUTDIR/SKIPPED (its cells are skipped, with the reason).
gdb_can_call() {
	local pid out
	sleep 60 &
	pid=$!
	out=$(timeout 60 gdb -batch -nx -p "$pid" -ex 'print (int)getpid()' 2>&1) || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	grep -q "^\$1 = $pid\$" <<<"$out" && return 0
	echo "gdb cannot call a function in a running process here: $(grep -m1 -E "Couldn't|rror" <<<"$out" || last_line <<<"$out" /dev/stdin)"
	return 1
}
if [ "$mode" = pid ] && ! why=$(gdb_can_call); then
	echo "$why" >"$rl_out/SKIPPED"
	say "skipped: $why"
	exit 0
fi

# summary PREFIX: heaptrack_print's summary and histogram of PREFIX.ht.zst
summary() {
	local out
	out=$(heaptrack_print -f "$1.ht.zst" -H "$1.hist" 2>&1) ||
		fail "heaptrack_print failed on $1.ht.zst: $(last_line <<<"$out" /dev/stdin)"
	sed -n '/^total runtime/,$p' <<<"$out"
	awk -F'\t' 'NF == 2 { print "histogram", $1, $2 }' "$1.hist"
}

while IFS= read -r line; do
	rl_read_run "$line" || continue
	p=$rl_tmp/$rl_id
	if [ "$mode" = preload ]; then
		status=0
		heaptrack -o "$p.ht" "${rl_cmd[0]}" --json "${rl_cmd[@]:1}" >"$p.out" 2>"$p.err" </dev/null || status=$?
		[ -e "$p.ht.zst" ] || fail "$rl_id: heaptrack wrote no data: $(last_line "$p.err" "$p.out")"
		summary "$p" >"$p.tr"
		grep -v '^pid=[0-9]* waiting' "$p.err" | tr_errors /dev/stdin >"$p.trerr"
		pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$p.out" | head -n 1)
		emit "$rl_id" "$status" "$pid" "$p.out" "$p.tr"
	else
		wl_spawn "$p" "${rl_cmd[0]}" --json --wait "${rl_cmd[@]:1}" ||
			fail "$rl_id: the workload never reached its --wait line: $(last_line "$p.err")"
		tr_start "$p.hp" heaptrack -o "$p.ht" -p "$wl_pid"
		tr_wait_ready '^injection finished' "$p.hp" "heaptrack -p"
		wl_release
		wl_finish
		# heaptrack ends with the process; SIGINT only when it does not
		tr_wait_exit 30 || tr_stop
		[ -e "$p.ht.zst" ] || fail "$rl_id: heaptrack -p wrote no data: $(last_line "$p.hp.err" "$p.hp.out")"
		summary "$p" >"$p.tr"
		tr_errors "$p.hp.err" >"$p.trerr"
		emit "$rl_id" "$wl_status" "$wl_pid" "$p.out" "$p.tr"
	fi
done
