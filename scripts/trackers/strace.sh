#!/usr/bin/env bash
# strace.sh - user-space memory figure through strace (no eBPF).
#
# Traces mmap, brk and shmget with `strace -f` and sums them as
# strace-sum.awk describes (successful mmap lengths + brk growth + shmget
# sizes).
#
# Usage:
#   strace.sh --out FILE -- CMD [ARGS...]
#       Run CMD under strace; CMD's stdout and stderr pass through, the
#       summary line (user=U mmap=M ...) goes to FILE. Exits with CMD's status.
#   strace.sh --pid PID
#       A tracker of the contract (docs/tracker-contract.md): attach to PID,
#       print "ready" once attached, and when PID exits (or on SIGINT) print
#       the summary line and the reading, "bytes U" (the user-space figure).
#   strace.sh --parse LOG
#       Print the summary line for an existing strace log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
awk_prog="$here/strace-sum.awk"
syscalls="trace=mmap,brk,shmget"

die() { echo "strace.sh: $*" >&2; exit 2; }

command -v strace >/dev/null 2>&1 || die "strace not found (apt-get install -y strace)"

mode="${1:-}"
case "$mode" in
--parse)
	[ $# -eq 2 ] || die "usage: strace.sh --parse LOG"
	awk -f "$awk_prog" "$2"
	;;
--out)
	if [ $# -lt 4 ] || [ "$3" != "--" ]; then die "usage: strace.sh --out FILE -- CMD [ARGS...]"; fi
	out="$2"
	shift 3
	log=$(mktemp "${TMPDIR:-/tmp}/strace-wl.XXXXXX")
	status=0
	strace -f -qq -e "$syscalls" -o "$log" -- "$@" || status=$?
	awk -f "$awk_prog" "$log" >"$out"
	rm -f "$log"
	exit "$status"
	;;
--pid)
	[ $# -eq 2 ] || die "usage: strace.sh --pid PID"
	pid="$2"
	[[ "$pid" =~ ^[0-9]+$ ]] || die "not a pid: $pid"
	work=$(mktemp -d "${TMPDIR:-/tmp}/strace-pid.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	strace -f -e "$syscalls" -o "$work/log" -p "$pid" 2>"$work/err" &
	tracer=$!
	# strace reports "Process N attached" on stderr once it has seized PID.
	for _ in $(seq 1 500); do
		grep -q "attached" "$work/err" 2>/dev/null && break
		kill -0 "$tracer" 2>/dev/null || break
		sleep 0.01
	done
	grep -q "attached" "$work/err" || { cat "$work/err" >&2; die "could not attach to $pid"; }
	echo "ready"
	trap 'kill -INT "$tracer" 2>/dev/null || true' INT TERM
	# wait returns early when a trapped signal arrives; wait again for strace.
	while kill -0 "$tracer" 2>/dev/null; do
		wait "$tracer" 2>/dev/null || true
	done
	# A SIGINT from now on must not cut the summary short.
	trap '' INT TERM
	line=$(awk -f "$awk_prog" "$work/log")
	echo "$line"
	user=${line#user=}
	echo "bytes ${user%% *}"
	;;
*)
	die "usage: strace.sh --out FILE -- CMD [ARGS...] | --pid PID | --parse LOG"
	;;
esac
