#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/kernel/ktrackers.sh, run chrooted in the host's root
# (vm-run.sh --host-root: the host's bpftrace, bcc tools and python3 on the
# guest's kernel; this script's files in $WLBIN). For each tracker named (a
# line of ktrackers.tsv), starts it once, waits for it to attach, and runs
# kmalloc-test once per repetition for each run given (its arguments), then
# stops it; a tracker of the contract (mode contract, docs/tracker-contract.md)
# is started for each run instead, attached by pid at kmalloc-test's --wait
# line, and read on SIGINT while the allocation is held. Prints:
#   KTRK-ATTACH <tracker> <seconds from its start to its ready line> (a
#               tracker of the contract: its first run's)
#   KTRK-RUN <tracker> <run> <repetition>
#   KTRK-JSON <kmalloc-test's --json report>
#   KTRK-OUT <line>   the tracker's lines of that run: window mode, those of
#                     kmalloc-test's pid; held mode, the stacks of a whole
#                     report made while the allocation was held that pass
#                     through the module (the report's header first);
#                     contract mode, its output (the reading) whole
#   KTRK-END <exit status>
#   KTRK-STEP <tracker> <seconds of its runs>
# and "KERR <message>" on a failure. One untraced run of each comes first, so
# that no traced run pays for a first use (a kmem_cache size's cache, a
# per-CPU chunk).
# Usage (in the guest): guest-ktrackers.sh REPS TRACKER[,TRACKER...] 'ARGS' ...
set -u

reps=$1
names=$2
shift 2
W=${WLBIN:?no WLBIN: run by vm-run.sh --host-root}
# shellcheck source=scripts/kernel/guest-lib.sh
. "$W/guest-lib.sh"

count_of() { grep -Ec -- "$1" "$OUT"; }
# shellcheck disable=SC2317
listed() { grep -q "^$1 " "$PROC"; }
# held PID RUN: the run's allocation is made and held: listed by the module,
# or after a free in another context (--free-by, no longer listed), its hold
# begun
# shellcheck disable=SC2317
held() {
	case $2 in
	*--free-by*) holding "$1" ;;
	*) listed "$1" ;;
	esac
}

# a run of the contract (guest-lib.sh's contract) is held once listed
# shellcheck disable=SC2317 # called by contract
contract_released() { :; }
# shellcheck disable=SC2317
contract_held() { wait_for 60 held "$kpid" "$run" || echo "KERR kmalloc-test $run: not held"; }

# the stacks of the report that starts at the COUNT-th line matching SYNC and
# pass through the module, its header first
report() {
	awk -v re="$1" -v n="$2" '
		$0 ~ re { k++; if (k == n) print; next }
		k != n { next }
		/^\t[0-9]+ bytes in [0-9]+ allocations from stack/ { flush(); e = $0; m = 0; next }
		{ e = e "\n" $0; if ($0 ~ /kmalloc_lkm/) m = 1 }
		function flush() { if (e != "" && m) print e; e = "" }
		END { flush() }' "$OUT"
}

insmod "$W/kmalloc_lkm.ko" || { echo "KERR insmod failed"; exit 1; }
status=0
IFS_TAB=$(printf '\t')
for name in $(echo "$names" | tr , ' '); do
	line=$(grep -v '^#' "$W/ktrackers.tsv" | awk -F '\t' -v n="$name" '$1 == n')
	[ -n "$line" ] || { echo "KERR no tracker $name in ktrackers.tsv"; status=1; continue; }
	IFS=$IFS_TAB read -r _ _ mode _ ready sync cmd _ <<LINE
$line
LINE
	attached="" tpid=""
	if [ "$mode" != contract ]; then
		t0=$(now)
		(cd "$W" && exec sh -c "$cmd") >"$OUT" 2>/tmp/tracker.err &
		tpid=$!
		if ! wait_for 900 has "$ready"; then
			echo "KERR $name did not attach: $(tail -n 3 /tmp/tracker.err | tr '\n' ' ')"
			kill "$tpid" 2>/dev/null
			status=1
			continue
		fi
		echo "KTRK-ATTACH $name $(since "$t0")"
	fi
	t1=$(now)
	n=0
	for run in "$@"; do
		n=$((n + 1))
		# shellcheck disable=SC2086 # the run's arguments are words
		"$KT" $run >/dev/null || { echo "KERR kmalloc-test $run exited $?"; status=1; continue; }
		rep=1
		while [ "$rep" -le "$reps" ]; do
			echo "KTRK-RUN $name $n $rep"
			case $mode in
			window)
				# shellcheck disable=SC2086
				json=$("$KT" --json $run)
				rc=$?
				pid=$(echo "$json" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
				wait_for 60 has "$(echo "$sync" | sed "s/PID/$pid/")" ||
					echo "KERR $name: no end of pid $pid"
				echo "KTRK-JSON $json"
				grep -- " pid=$pid " "$OUT" | sed 's/^/KTRK-OUT /'
				;;
			held)
				# shellcheck disable=SC2086
				"$KT" --json --hold inf $run >/tmp/kt.json &
				kpid=$!
				wait_for 60 held "$kpid" "$run" || echo "KERR kmalloc-test $run: not held"
				# the report after the next one starts after the allocation, and
				# the one after it says that it is whole
				h=$(($(count_of "$sync") + 1))
				wait_for 120 at_least "$sync" $((h + 1)) || echo "KERR $name: no report"
				kill -TERM "$kpid"
				wait "$kpid"
				rc=$?
				echo "KTRK-JSON $(cat /tmp/kt.json)"
				report "$sync" "$h" | sed 's/^/KTRK-OUT /'
				;;
			contract)
				contract "$run" "$cmd" KTRK
				echo "KTRK-JSON $(cat /tmp/kt.json)"
				sed 's/^/KTRK-OUT /' "$OUT"
				;;
			*) echo "KERR $name: unknown mode $mode"; rc=1 ;;
			esac
			echo "KTRK-END $rc"
			[ "$rc" = 0 ] || status=1
			rep=$((rep + 1))
		done
	done
	echo "KTRK-STEP $name $(since "$t1")"
	[ "$mode" != contract ] || continue
	# TERM: a background job of sh ignores SIGINT, and python keeps it ignored
	kill -TERM "$tpid"
	wait "$tpid"
done
rmmod kmalloc_lkm
exit "$status"
