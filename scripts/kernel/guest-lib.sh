# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0
#
# What the guest scripts share (busybox sh); vm-test.sh puts it in the guest's
# /bin, and they source it. The variables set here are theirs to use. The
# test output is ktap.sh's (scripts/ktap.sh, beside it in /bin).
# shellcheck disable=SC2034

T=/sys/kernel/tracing
# WLBIN: where vm-run.sh --host-root puts the files, /bin otherwise
KT=${WLBIN:-/bin}/kmalloc-test

# traced_kt SIZE: runs `kmalloc-test --json SIZE` with tracing on, and sets json,
# rc (its exit status) and pid; the events it caused stay in $T/trace.
traced_kt() {
	echo >"$T/trace"
	echo 1 >"$T/tracing_on"
	json=$("$KT" --json "$1")
	rc=$?
	echo 0 >"$T/tracing_on"
	pid=$(echo "$json" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
}

# now: seconds of uptime; since T: seconds from T to now, to a tenth
now() { cut -d ' ' -f 1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# wait_for SECONDS CMD...: polls CMD every 0.2 s, at most SECONDS
wait_for() {
	_n=$(($1 * 5))
	shift
	while ! "$@"; do
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || return 1
		sleep 0.2
	done
}

# holding PID: kmalloc-test is in its --hold, polling its signalfd alone (poll
# or ppoll of one descriptor, x86-64)
# shellcheck disable=SC2317 # called through wait_for
holding() {
	read -r _nr _ _nfds _ <"/proc/$1/syscall" 2>/dev/null || return 1
	[ "$_nr $_nfds" = "7 0x1" ] || [ "$_nr $_nfds" = "271 0x1" ]
}

# The trackers' scripts (guest-ktrackers.sh, guest-kload.sh) keep a
# tracker's output in $OUT.
OUT=/tmp/tracker.out
# shellcheck disable=SC2317 # called through wait_for
has() { grep -Eq -- "$1" "$OUT"; }
# shellcheck disable=SC2317
at_least() { [ "$(grep -Ec -- "$1" "$OUT")" -ge "$2" ]; }
# shellcheck disable=SC2317
kt_waiting() { grep -q '^pid=[0-9]* waiting' /tmp/kt.err; }
# shellcheck disable=SC2317
tracker_gone() { ! kill -0 "$tpid" 2>/dev/null; }
# shellcheck disable=SC2317
ready_or_gone() { has '^ready$' || tracker_gone; }

# contract ARGS CMD PREFIX: one run of `kmalloc-test --json --wait --hold inf
# ARGS` (its report in /tmp/kt.json) under the tracker of the contract
# (docs/tracker-contract.md) named $name, its reading in $OUT: kmalloc-test
# stopped at its --wait line, the tracker CMD started on its pid ({pid}) in
# the folder of the guest's files, in a process group of its own (SIGINT at
# its default: a background job of sh would ignore it), "ready", kmalloc-test
# let go, `contract_held` (the caller's: waits until the allocation is made
# and held, with kpid set), SIGINT to the tracker's group half a second later
# (it prints its reading and exits), then to kmalloc-test (it frees and
# reports). `contract_released`, the caller's too, runs just before
# kmalloc-test is let go. Sets kpid, tpid and rc; the first time ($attached
# empty), prints "PREFIX-ATTACH <name> <seconds to ready>".
# shellcheck disable=SC2154 # name, W and attached are the caller's
contract() {
	rm -f /tmp/kt.in
	mkfifo /tmp/kt.in
	# shellcheck disable=SC2086 # the run's arguments are words
	"$KT" --json --wait --hold inf $1 </tmp/kt.in >/tmp/kt.json 2>/tmp/kt.err &
	kpid=$!
	exec 3>/tmp/kt.in
	if ! wait_for 60 kt_waiting; then
		echo "KERR kmalloc-test $1: no --wait line: $(tail -n 1 /tmp/kt.err)"
		kill -KILL "$kpid"
	else
		_t0=$(now)
		(cd "$W" && exec setsid env --default-signal=INT sh -c "$(echo "$2" | sed "s/{pid}/$kpid/g")") \
			>"$OUT" 2>/tmp/tracker.err </dev/null &
		tpid=$!
		if ! wait_for 900 ready_or_gone || ! has '^ready$'; then
			echo "KERR $name did not attach: $(tail -n 3 /tmp/tracker.err | tr '\n' ' ')"
			/bin/kill -s KILL -- "-$tpid" 2>/dev/null
			kill -KILL "$kpid"
		else
			[ -n "$attached" ] || echo "$3-ATTACH $name $(since "$_t0")"
			attached=1
			contract_released
			echo >&3
			contract_held
			sleep 0.5
			/bin/kill -s INT -- "-$tpid"
			wait_for 60 tracker_gone || { echo "KERR $name: still running 60 s after SIGINT"; /bin/kill -s KILL -- "-$tpid"; }
			kill -INT "$kpid"
		fi
	fi
	exec 3>&-
	wait "$kpid"
	rc=$?
	wait "$tpid" 2>/dev/null
}

PROC=/proc/kmalloc_lkm
# The module allocates through the kernel crate's KVec<u8, Kmalloc>: the call
# site of its kmem:kmalloc events is that (mangled) Rust function.
mod_site='call_site=_RN[^ ]*kvec[^ ]*Kmalloc'
KMEMLEAK=/sys/kernel/debug/kmemleak

# leak_objects SPEC...: for each SPEC (what a write to the module asks for, such
# as "kzalloc 1500"), a process that writes it, then `leak`, and exits (the
# module needs allow_leaks=1); the process exits, so that no stale copy of the
# pointer stays on a live kernel stack. Writes "ADDR PATH REQUESTED ALLOCATED"
# of each object the module logged as leaked to /tmp/leaked (ADDR in hex,
# without 0x).
leak_objects() {
	_before=$(dmesg | wc -l)
	for _spec in "$@"; do
		sh -c "exec 3>$PROC && echo '$_spec' >&3 && echo leak >&3"
	done
	dmesg | tail -n +$((_before + 1)) | grep 'leaked object at' |
		sed -n 's/.*leaked object at 0x\([0-9a-f]*\) path=\([^ ]*\) requested=\([0-9]*\) allocated=\([0-9]*\).*/\1 \2 \3 \4/p' >/tmp/leaked
}

# kmemleak_scan: once the leaks are older than kmemleak's 5 s, scans twice and
# writes its report to /tmp/kmemleak and "ADDR SIZE" of each unreferenced
# object, sorted, to /tmp/reported. Task stacks are not scanned: a new task's
# stack may be the reused pages of an exited one, holding a stale copy of a
# leaked pointer, which would hide the leak.
kmemleak_scan() {
	sleep 6
	echo stack=off >"$KMEMLEAK"
	echo scan >"$KMEMLEAK"
	echo scan >"$KMEMLEAK"
	cat "$KMEMLEAK" >/tmp/kmemleak
	sed -n 's/^unreferenced object 0x\([0-9a-f]*\) (size \([0-9]*\)):.*/\1 \2/p' /tmp/kmemleak |
		sort >/tmp/reported
}

# The kernel log's reports that fail the module's test: KASAN, lockdep,
# WARNING, BUG, Oops and the like.
REPORT_PATTERN='KASAN|possible recursive locking|circular locking|INFO:|WARNING:|BUG:|Oops|Call Trace|general protection|refcount_t|UBSAN'

# first_report FILE: the first line of FILE that starts a report, without its
# timestamp; nothing when there is none.
first_report() {
	grep -E "$REPORT_PATTERN" "$1" | head -n 1 | sed 's/^\[ *[0-9.]*\] *//'
}

# judge_reports BEFORE AFTER: the kernel log before the module was loaded
# (BEFORE: the kernel's own, printed and counted as its, a KTAP SKIP) and
# after (AFTER: the module's to answer for); one check for each (ok, not_ok,
# skip of ktap.sh, which the caller sources) and returns 1 when AFTER has a
# report.
judge_reports() {
	_own=$(first_report "$1")
	if [ -n "$_own" ]; then
		skip "the kernel's log before insmod has no report" "the kernel's own report, not the module's: $_own"
	else
		ok "the kernel's log before insmod has no report"
	fi
	_mine=$(first_report "$2")
	if [ -n "$_mine" ]; then
		not_ok "dmesg after insmod has no KASAN/kmemleak/lockdep/WARNING/BUG/Oops report: $_mine"
		return 1
	fi
	ok "dmesg after insmod has no KASAN/kmemleak/lockdep/WARNING/BUG/Oops report"
}
