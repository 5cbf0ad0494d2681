#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/kernel/kload.sh, run chrooted in the host's root
# (vm-run.sh --host-root; this script's files in $WLBIN): kmalloc-test's rate
# mode at each rate, under each kernel tracker, each run beside the same run
# alone (kmem-bt's runs alone all before it attaches). The trackers:
#   kmem-bt  scripts/trackers/kmem.bt in bpftrace, started once: the kmalloc
#            lines of the module's object size it printed for kmalloc-test's
#            pid between its open and its close of the module's file (what
#            its user side received; the process makes a few kmallocs of
#            other sizes then), and the events bpftrace said it lost ("Lost
#            N events")
#   tracefs  the kmem:kmalloc and kmem:kfree events in the trace buffer
#            (1408 KiB a CPU, the default), enabled for the run: the module's
#            kmallocs of the process (its writer threads too: record-tgid)
#            it holds, and the events the buffer
#            overwrote (per_cpu/cpu*/stats "overrun"), which it reports
#   memleak-k  bcc's memleak in kernel mode (memleak-bpfcc -o 0 -T 100000 1:
#            every outstanding allocation, reported every second), started
#            once: its figure is what is outstanding, so its runs (and their
#            runs alone) hold their objects until the close (kmalloc-test
#            --hold: 'rate COUNT SIZE hold'), and its count is the objects of
#            the module's object size in the stacks through the module of its
#            first whole report made while they were held; memleak says
#            nothing of a loss
#   NAME     a tracker of the contract (docs/tracker-contract.md), a line
#            "NAME<tab>COMMAND" of kload-contract.tsv among the files: for
#            each run, started on kmalloc-test's pid ({pid}) at its --wait
#            line, "ready", the run (its objects held), SIGINT to the
#            tracker's group half a second later (it prints its reading
#            and exits), then to kmalloc-test; its runs alone hold too
# Prints, for each run:
#   KLOAD-RUN <tracker> <rate> <writers> alone|tracked
#   KLOAD-JSON <kmalloc-test's --json report>
#   KLOAD-COUNT <events the tracker counted>    (tracked)
#   KLOAD-READING <line>    (tracked, a tracker of the contract: its output,
#               which wlreport reads as the contract's reading)
#   KLOAD-LOST <events it said it lost>         (tracked)
#   KLOAD-USAGE cpu_ns=N peak_rss_bytes=N       (tracked, kmem-bt and
#               memleak-k: the tracker's CPU time over the run's writes, its
#               peak resident size)
#   KLOAD-END <kmalloc-test's exit status>
# and KLOAD-ATTACH <tracker> <seconds to attach>, KLOAD-CONTRACT <tracker>
# <command> first for a tracker of the contract, "KERR <message>" on a
# failure.
# Usage (in the guest): guest-kload.sh TRACKERS RATES DURATION MAX_CALLS SIZE WRITERS
#   (TRACKERS, RATES and WRITERS comma-separated; a rate is calls a second or
#   max, WRITERS the threads kmalloc-test writes with, --writers)
set -u

names=$1 rates=$2 duration=$3 max_calls=$4 size=$5 writers=$6
# each run: RATE/WRITERS
runs=$(for _r in $(echo "$rates" | tr , ' '); do
	for _n in $(echo "$writers" | tr , ' '); do echo "$_r/$_n"; done
done)
W=${WLBIN:?no WLBIN: run by vm-run.sh --host-root}
# shellcheck source=scripts/kernel/guest-lib.sh
. "$W/guest-lib.sh"

# kt_args RUN: kmalloc-test's arguments for the rate mode of RUN (RATE/WRITERS)
kt_args() {
	case ${1%/*} in
	max) echo "--rate max --calls $max_calls --writers ${1#*/}" ;;
	*) echo "--rate ${1%/*} --duration $duration --writers ${1#*/}" ;;
	esac
}
# kt_at RUN [ARG...]: kmalloc-test --json in the rate mode of RUN; sets
# json, rc, pid
kt_at() {
	_r=$1
	shift
	# shellcheck disable=SC2046 # kt_args gives words
	json=$("$KT" --json $(kt_args "$_r") "$@" "$size")
	rc=$?
	pid=$(echo "$json" | sed -n 's/^{"workload":"kmalloc-test","path":"[^"]*","pid":\([0-9]*\).*/\1/p')
}
# ledger_ns CALL KEY: KEY (start_ns, end_ns) of the ledger's entry of CALL
ledger_ns() { echo "$json" | sed -n "s/.*\"call\":\"$1\",\"kind\":\"[a-z]*\",\"args\":{[^}]*}[^}]*\"$2\":\([0-9]*\).*/\1/p"; }
# lost_sum FILE...: the events bpftrace said it lost, in all
lost_sum() { cat "$@" | awk '{ for (i = 1; i < NF - 1; i++) if ($i == "Lost" && $(i + 2) == "events") s += $(i + 1) } END { print s + 0 }'; }
# exited_or_quiet PID: kmem.bt printed the exit line of PID, or nothing for
# a second
# shellcheck disable=SC2317 # called through wait_for
exited_or_quiet() { has "^kmem exit pid=$1 " || grown_stopped; }
# ticks PID: its utime + stime, in clock ticks
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# group_ticks PGID, group_hwm PGID: the utime + stime of the processes of
# process group PGID, and the sum of their peak resident sizes in bytes
# (the fields after the command name, which may hold spaces)
group_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^.*) //' | awk -v g="$1" '$3 == g { s += $12 + $13 } END { print s + 0 }'
}
group_hwm() {
	for _p in /proc/[0-9]*; do
		[ "$(sed 's/^.*) //' "$_p/stat" 2>/dev/null | cut -d ' ' -f 3)" = "$1" ] || continue
		sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "$_p/status"
	done | awk '{ s += $1 } END { print s * 1024 }'
}
# contract RUN CMD: the run RUN under a tracker of the contract (guest-lib.sh's
# contract), its output in $OUT; sets rc, json, and usage (its group's CPU
# time over the run's writes, its peak resident size)
# shellcheck disable=SC2317 # called by contract
contract_released() { u0=$(group_ticks "$tpid"); }
# shellcheck disable=SC2317
contract_held() {
	wait_for 600 holding "$kpid" || echo "KERR kmalloc-test $(kt_args "$r"): not held"
	usage="cpu_ns=$((($(group_ticks "$tpid") - u0) * (1000000000 / hz))) peak_rss_bytes=$(group_hwm "$tpid")"
}
run_contract() {
	usage=""
	contract "$(kt_args "$1") $size" "$2" KLOAD
	json=$(cat /tmp/kt.json)
}
# attach READY CMD...: starts the tracker $name, CMD in the folder of the
# guest's files, once, its output appended to an empty $OUT (so that the file
# can be emptied between runs), and waits for its line READY; sets tpid and
# prints KLOAD-ATTACH, or KERR and returns 1
attach() {
	_ready=$1
	shift
	: >"$OUT"
	_t0=$(now)
	(cd "$W" && exec "$@") >>"$OUT" 2>/tmp/tracker.err &
	tpid=$!
	if ! wait_for 900 has "$_ready"; then
		echo "KERR $name did not attach: $(tail -n 3 /tmp/tracker.err | tr '\n' ' ')"
		kill "$tpid" 2>/dev/null
		return 1
	fi
	echo "KLOAD-ATTACH $name $(since "$_t0")"
}
# grown_stopped: the tracker's output has not grown for a second
# shellcheck disable=SC2317 # called through wait_for
grown_stopped() {
	_a=$(wc -c <"$OUT")
	sleep 1
	[ "$(wc -c <"$OUT")" = "$_a" ]
}

insmod "$W/kmalloc_lkm.ko" || { echo "KERR insmod failed"; exit 1; }
# a first run, untraced, so that no measured one pays for a first use
"$KT" --rate max --calls 1000 "$size" >/dev/null || echo "KERR kmalloc-test --rate failed: $?"
hz=$(getconf CLK_TCK)
status=0
# alone RUN [ARG...]: the run RUN (RATE/WRITERS) without a tracker
alone() {
	echo "KLOAD-RUN $name ${1%/*} ${1#*/} alone"
	kt_at "$@"
	echo "KLOAD-JSON $json"
	echo "KLOAD-END $rc"
}
for name in $(echo "$names" | tr , ' '); do
	tpid=""
	case $name in
	kmem-bt)
		# Its probes run at every kmalloc of the machine while it is
		# attached, whatever process it counts: the runs alone are made
		# before it attaches, the tracked ones after.
		for r in $runs; do
			alone "$r"
		done
		attach '^ready$' env BPFTRACE_MAP_KEYS_MAX=65536 bpftrace -B line kmem.bt kmalloc-test ||
			{ status=1; continue; }
		;;
	tracefs)
		echo 0 >"$T/tracing_on"
		echo 1 >"$T/options/record-tgid"
		;;
	memleak-k)
		# As kmem-bt's, its probes run at every allocation of the machine.
		for r in $runs; do
			alone "$r" --hold 1ms
		done
		attach '^Attaching to kernel allocators' python3 -u /usr/sbin/memleak-bpfcc -o 0 -T 100000 1 ||
			{ status=1; continue; }
		;;
	*)
		cmd=$(awk -F '\t' -v n="$name" '$1 == n { print $2 }' "$W/kload-contract.tsv" 2>/dev/null)
		if [ -z "$cmd" ]; then
			echo "KERR no kernel tracker $name (kmem-bt, tracefs, memleak-k, or of the contract)"
			status=1
			continue
		fi
		echo "KLOAD-CONTRACT $name $cmd"
		attached=""
		;;
	esac
	for r in $runs; do
		# tracefs, a tracker of the contract: just before the run tracked,
		# as it is off then
		case $name in
		tracefs) alone "$r" ;;
		kmem-bt | memleak-k) ;;
		*) alone "$r" --hold 1ms ;;
		esac
		echo "KLOAD-RUN $name ${r%/*} ${r#*/} tracked"
		case $name in
		kmem-bt)
			: >"$OUT"
			lost0=$(lost_sum /tmp/tracker.err)
			u0=$(ticks "$tpid")
			kt_at "$r"
			# its exit line (lost with the rest, at times), and no more lines
			# for a second: bpftrace has printed what it had of the run
			wait_for 60 exited_or_quiet "$pid"
			wait_for 60 grown_stopped
			u1=$(ticks "$tpid")
			a=$(ledger_ns openat end_ns) b=$(ledger_ns close start_ns)
			# the kmallocs of the module's object size (its entry's
			# allocated: bytes_alloc), as the process makes a few others
			sz=$(echo "$json" | sed -n 's/.*"module_entry":{[^}]*"allocated":\([0-9]*\).*/\1/p')
			count=$(awk -v p="pid=$pid" -v a="${a:-0}" -v b="${b:-0}" -v sz="bytes=${sz:-0}" '
				$1 == "kmem" && $3 == p && $4 == "ev=kmalloc" && $6 == sz {
					t = substr($2, 4) + 0
					if (t >= a && t <= b) n++
				}
				END { print n + 0 }' "$OUT")
			lost=$(($(lost_sum /tmp/tracker.err "$OUT") - lost0))
			# bpftrace says nothing when it lost nothing
			[ "$lost" -gt 0 ] || lost=-
			echo "KLOAD-JSON $json"
			echo "KLOAD-COUNT $count"
			echo "KLOAD-LOST $lost"
			echo "KLOAD-USAGE cpu_ns=$(((u1 - u0) * (1000000000 / hz))) peak_rss_bytes=$(($(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$tpid/status") * 1024))"
			;;
		tracefs)
			echo >"$T/trace"
			echo 1 >"$T/events/kmem/kmalloc/enable"
			echo 1 >"$T/events/kmem/kfree/enable"
			echo 1 >"$T/tracing_on"
			kt_at "$r"
			echo 0 >"$T/tracing_on"
			echo 0 >"$T/events/kmem/kmalloc/enable"
			echo 0 >"$T/events/kmem/kfree/enable"
			# by process (record-tgid): the writers are threads of it
			count=$(grep -E -- "-[0-9]+ +\( *$pid\) +\[.* kmalloc: .*$mod_site.* bytes_req=$size " "$T/trace" | grep -c .)
			echo "KLOAD-JSON $json"
			echo "KLOAD-COUNT $count"
			echo "KLOAD-LOST $(awk '$1 == "overrun:" { s += $2 } END { print s + 0 }' "$T"/per_cpu/cpu*/stats)"
			echo >"$T/trace"
			;;
		memleak-k)
			sync='^\[[0-9:]*\] Top [0-9]* stacks'
			u0=$(ticks "$tpid")
			# shellcheck disable=SC2046 # kt_args gives words
			"$KT" --json $(kt_args "$r") --hold inf "$size" >/tmp/kt.json &
			kpid=$!
			wait_for 600 holding "$kpid" || echo "KERR kmalloc-test $(kt_args "$r") --hold: not held"
			u1=$(ticks "$tpid")
			# the report after the next one starts while the objects are
			# held, and the one after it says that it is whole
			h=$(($(grep -Ec -- "$sync" "$OUT") + 1))
			wait_for 600 at_least "$sync" $((h + 1)) || echo "KERR $name: no whole report"
			kill -TERM "$kpid"
			wait "$kpid"
			rc=$?
			json=$(cat /tmp/kt.json)
			sz=$(echo "$json" | sed -n 's/.*"module_entry":{[^}]*"allocated":\([0-9]*\).*/\1/p')
			# "B bytes in N allocations from stack", then its frames: the N of
			# the stacks through the module whose allocations are all of its
			# object size
			# (each such stack's header line, and its first frame in the
			# module, go to the console as KLOAD-OUT)
			awk -v re="$sync" -v n="$h" -v sz="${sz:-0}" '
				function flush() {
					if (mod && b == m * sz) { s += m; print "KLOAD-OUT " head " | " frame }
					mod = 0; m = 0
				}
				$0 ~ re { k++; next }
				k != n { next }
				/^\t[0-9]+ bytes in [0-9]+ allocations from stack/ { flush(); b = $1; m = $4; head = $0; sub(/^\t/, "", head); next }
				/kmalloc_lkm/ && !mod { mod = 1; frame = $0; sub(/^[ \t]*/, "", frame) }
				END { flush(); print "KLOAD-COUNT " s + 0 }' "$OUT" >/tmp/count
			echo "KLOAD-JSON $json"
			sed '$d' /tmp/count
			tail -n 1 /tmp/count
			echo "KLOAD-LOST -"
			echo "KLOAD-USAGE cpu_ns=$(((u1 - u0) * (1000000000 / hz))) peak_rss_bytes=$(($(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$tpid/status") * 1024))"
			;;
		*)
			: >"$OUT"
			run_contract "$r" "$cmd"
			echo "KLOAD-JSON $json"
			sed 's/^/KLOAD-READING /' "$OUT"
			echo "KLOAD-LOST -"
			[ -z "$usage" ] || echo "KLOAD-USAGE $usage"
			;;
		esac
		echo "KLOAD-END $rc"
		[ "$rc" = 0 ] || status=1
	done
	case $name in
	kmem-bt | memleak-k) [ -z "$tpid" ] || { kill -TERM "$tpid"; wait "$tpid"; } ;;
	esac
done
rmmod kmalloc_lkm
exit "$status"
