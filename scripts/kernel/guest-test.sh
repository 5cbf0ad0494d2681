#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of scripts/kernel/vm-test.sh (busybox sh, run by the initramfs'
# /init). Tests kmalloc_lkm.ko: the proc file and its mode, exact kmem:kmalloc /
# kmem:kfree events for kmalloc-test, held allocations in the listing, errno of
# bad writes, injected kmalloc failures (failslab, fail_page_alloc), writers
# not held up by a reader stalled in a page fault, a concurrent stress, rmmod
# with open files, and a kernel log free of KASAN, kmemleak, lockdep, WARNING,
# BUG and Oops reports.
# Prints KTAP (scripts/ktap.sh, in /bin beside guest-lib.sh): the plan, `ok N -
# ...` / `not ok N - ...` per check, `# SKIP` and why for one that cannot run
# here, the totals, then `GUEST-RESULT: N passed, M failed, S skipped`; exits 1
# when a check failed or the checks were not the ones planned.
# Expects kmalloc_lkm.ko in /bin; uses /bin/kmalloc-test, kmalloc-stress and
# stall-reader (scripts/kernel/stall-reader.c) when present.

# `load` also gets arguments through `check`, which shellcheck does not follow;
# nor does it see that the functions only `check` runs (ktap.sh's) are called.
# shellcheck disable=SC2119,SC2120,SC2317

KO=/bin/kmalloc_lkm.ko
# shellcheck source=scripts/ktap.sh
. /bin/ktap.sh
# shellcheck source=scripts/kernel/guest-lib.sh
. /bin/guest-lib.sh

note() { echo "# $*"; }
# diag: its input as diagnostic lines ("# "), so that no line of a log or a
# trace is taken for a result.
diag() { sed 's/^/# /'; }
# missing WHY DESC...: checks that cannot run for want of WHY (what the tests
# need of the kernel or the guest): the first fails, naming it, the others
# are skipped for it; the plan's count holds either way.
missing() {
	_why=$1
	shift
	not_ok "$1: $_why"
	shift
	for _d in "$@"; do skip "$_d" "$_why"; done
}

# The total line of the listing: "total allocations=A requested=R allocated=X max_bytes=M".
total_field() { sed -n "s/^total .*$1=\([0-9]*\).*/\1/p" "$PROC"; }
live_zero() {
	[ "$(total_field allocations)" = 0 ] && [ "$(total_field requested)" = 0 ] &&
		[ "$(total_field allocated)" = 0 ]
}
mode_of() { stat -c %a "$PROC" 2>/dev/null; }
load() { insmod "$KO" "$@"; }
unload() { rmmod kmalloc_lkm; }

# write_err VALUE [FD]: writes VALUE (no newline added) to the proc file, or to
# the already open FD, with one write(2) by dd, and prints OK, EINVAL, ENOMEM,
# EPERM or OTHER(message). (The shell's own echo/printf do not report the errno.)
write_err() {
	if [ $# -ge 2 ]; then
		out=$(printf '%s' "$1" | dd bs=64 count=1 2>&1 >&"$2")
	else
		out=$(printf '%s' "$1" | dd of="$PROC" bs=64 count=1 2>&1)
	fi
	case "$out" in
	*"Invalid argument"*) echo EINVAL ;;
	*"Cannot allocate memory"* | *"Out of memory"*) echo ENOMEM ;;
	*"Operation not permitted"*) echo EPERM ;;
	*"error"*) echo "OTHER($out)" ;;
	*) echo OK ;;
	esac
}

# The number of checks: either side of each branch below has the same (what
# cannot run is skipped, not left out), so it holds on any kernel.
ktap_plan 221
note "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus"
# The kernel's log and lockdep's state before the module is loaded: a report
# from here on is the module's to answer for; one before it is the kernel's.
dmesg -c >/tmp/dmesg.boot
grep -Eq 'debug_locks: +1' /proc/lockdep_stats && locks_at_boot=1 || locks_at_boot=0
check "kmalloc-test and kmalloc-stress are in the guest" sh -c "[ -x $KT ] && [ -x /bin/kmalloc-stress ]"

# --- 1. the proc file and its mode --------------------------------------------
check "insmod creates $PROC" load
check "$PROC has mode 0666 by default" [ "$(mode_of)" = 666 ]
check "rmmod removes $PROC" sh -c "rmmod kmalloc_lkm && [ ! -e $PROC ]"
check "insmod mode=0600" load mode=0600
check "$PROC has mode 0600 with mode=0600" [ "$(mode_of)" = 600 ]
unload
load
check "listing is empty after load" live_zero

# --- 2. exact kmem:kmalloc / kmem:kfree events ---------------------------------
if [ -d "$T/events/kmem/kmalloc" ]; then
	echo 0 >"$T/tracing_on"
	echo 8192 >"$T/buffer_size_kb"
	echo 1 >"$T/events/kmem/kmalloc/enable"
	echo 1 >"$T/events/kmem/kfree/enable"
	# Other kmallocs of the same size in the same process (exec, mm setup) are
	# counted apart from the module's.
	echo "# size ptrs raw_kmalloc_events_of_ptr kfree_of_ptr other_same_size_kmallocs bytes_alloc"
	size=32
	while [ "$size" -le 4194304 ]; do
		traced_kt "$size"
		cat "$T/trace" >/tmp/trace
		grep -E -- "-$pid +\[" /tmp/trace >/tmp/trace.pid
		grep " kmalloc: " /tmp/trace.pid | grep "bytes_req=$size " >/tmp/ev
		ptrs=$(grep -E "$mod_site" /tmp/ev | sed -n 's/.* ptr=\([0-9a-fx]*\) .*/\1/p' | sort -u)
		nptr=$(echo "$ptrs" | grep -c .)
		raw=0
		freed=0
		for p in $ptrs; do
			raw=$((raw + $(grep -c "ptr=$p " /tmp/ev)))
			grep " kfree: " /tmp/trace.pid | grep -Eq "ptr=$p( |\$)" && freed=$((freed + 1))
		done
		other=$(($(wc -l </tmp/ev) - raw))
		alloc=$(grep -E "$mod_site" /tmp/ev | sed -n 's/.* bytes_alloc=\([0-9]*\) .*/\1/p' | sort -u | tr '\n' ' ')
		echo "# $size $nptr $raw $freed $other $alloc"
		if [ "$rc" = 0 ] && [ "$nptr" = 1 ] && [ "$freed" = 1 ]; then
			ok "kmalloc-test $size: one allocation (ptr) with bytes_req=$size in pid $pid, kfree of it (raw kmalloc events: $raw)"
		else
			not_ok "kmalloc-test $size: exit $rc, pid '$pid', $nptr ptrs with bytes_req=$size from the module, $freed freed (raw events: $raw)"
			grep -E " kmalloc: .*bytes_req=$size " /tmp/trace.pid | head -n 20 | diag
		fi
		size=$((size * 2))
	done
	note "raw_kmalloc_events_of_ptr is 2 above KMALLOC_MAX_CACHE_SIZE (8 KiB): this kernel traces one large kmalloc twice, with the same ptr"
	echo 0 >"$T/events/kmem/kmalloc/enable"
	echo 0 >"$T/events/kmem/kfree/enable"
	echo >"$T/trace"
	echo 1408 >"$T/buffer_size_kb"
else
	set --
	size=32
	while [ "$size" -le 4194304 ]; do
		set -- "$@" "kmalloc-test $size: one allocation with bytes_req=$size, and its kfree"
		size=$((size * 2))
	done
	missing "the kmem:kmalloc event is not in $T/events (CONFIG_TRACING)" "$@"
fi

# --- 3. a held allocation is listed ----------------------------------------------
exec 3>"$PROC"
echo 4096 >&3
check "a write of 4096 on an open fd is listed with pid, comm sh, 4096 4096 kmalloc" \
	grep -q "^$$ $$ sh 4096 4096 kmalloc\$" "$PROC"
check "the total counts it" [ "$(total_field requested)" = 4096 ]
echo 5000 >&3
check "a second write replaces it (5000 requested, 8192 allocated)" \
	sh -c "grep -q '^$$ $$ sh 5000 8192 kmalloc\$' $PROC && [ \"\$(grep -c '^[0-9]' $PROC)\" = 1 ]"
exec 3>&-
check "closing the fd frees it" live_zero
"$KT" --hold 3s 65536 &
ktpid=$!
sleep 1
check "kmalloc-test --hold 3s 65536 is listed (65536 65536 kmalloc)" \
	grep -q "^$ktpid $ktpid kmalloc-test 65536 65536 kmalloc\$" "$PROC"
wait "$ktpid"
rc=$?
check "kmalloc-test --hold exits 0" [ "$rc" = 0 ]
check "its allocation is gone after it exits" live_zero

# --- 4. errors ---------------------------------------------------------------------
check "write 0 -> EINVAL" [ "$(write_err 0)" = EINVAL ]
check "write garbage 'abc' -> EINVAL" [ "$(write_err abc)" = EINVAL ]
check "write '12x' -> EINVAL" [ "$(write_err 12x)" = EINVAL ]
check "write '-5' -> EINVAL" [ "$(write_err -5)" = EINVAL ]
check "write empty line -> EINVAL" [ "$(write_err '
')" = EINVAL ]
check "write 40 digits (overlong) -> EINVAL" [ "$(write_err 0000000000000000000000000000000000004096)" = EINVAL ]
check "write 99999999999999999999999 (overflow) -> EINVAL" [ "$(write_err 99999999999999999999999)" = EINVAL ]
check "write 4194305 (4 MiB + 1) -> EINVAL" [ "$(write_err 4194305)" = EINVAL ]
check "write 4194304 (4 MiB) works" [ "$(write_err 4194304)" = OK ]
check "write '4096\\n' works" [ "$(write_err '4096
')" = OK ]
check "nothing is left after the failed writes" live_zero
exec 3>"$PROC"
echo 4096 >&3
check "fd: garbage after 4096 -> EINVAL" [ "$(write_err abc 3)" = EINVAL ]
check "EINVAL keeps the fd's previous allocation" grep -q "^$$ $$ sh 4096 4096 kmalloc\$" "$PROC"
exec 3>&-
check "nothing is left after closing" live_zero
"$KT" 4194305 >/tmp/kt.out 2>&1
check "kmalloc-test 4194305 exits 3 and names the limit" \
	sh -c "[ $? = 3 ] && grep -q 'EINVAL.*4194304' /tmp/kt.out"
unload
check "insmod max_bytes=8192" load max_bytes=8192
exec 3>"$PROC" 4>"$PROC"
check "fd3: 4096 under an 8192 cap works" [ "$(write_err 4096 3)" = OK ]
check "fd4: 8192 with 4096 live -> ENOMEM" [ "$(write_err 8192 4)" = ENOMEM ]
check "fd4 holds nothing after ENOMEM (total 4096)" [ "$(total_field requested)" = 4096 ]
check "fd3: 8192 replaces its 4096 (freed first) and works" [ "$(write_err 8192 3)" = OK ]
check "fd3: 8193 -> ENOMEM" [ "$(write_err 8193 3)" = ENOMEM ]
check "fd3 holds nothing after ENOMEM (its old allocation was freed)" live_zero
"$KT" 16384 >/tmp/kt.out 2>&1
check "kmalloc-test 16384 over the cap exits 3 and names the cap" \
	sh -c "[ $? = 3 ] && grep -q 'ENOMEM): 0 bytes live of its cap of 8192' /tmp/kt.out"
diag </tmp/kt.out
exec 3>&- 4>&-
check "nothing is left after closing" live_zero
unload
check "insmod max_files=2" load max_files=2
exec 3>"$PROC" 4>"$PROC" 5>"$PROC"
write_err 64 3 >/dev/null
write_err 64 4 >/dev/null
check "a third file holding an allocation with max_files=2 -> ENOMEM" [ "$(write_err 64 5)" = ENOMEM ]
exec 3>&- 4>&- 5>&-
check "nothing is left after closing" live_zero
unload

# --- 4b. the rate mode ---------------------------------------------------------------
# 'rate COUNT SIZE': COUNT kmallocs of SIZE in the writer's context, each freed in
# the write; kmalloc-test --rate paces the writes, and the file's entry tallies
# them (path=rate, objects). Held to the trace: every kmalloc of the module's in
# the writer's pid, and the kfree of each (paired in the trace's order).
load
# rate_json FIELD: a number of $json (the first FIELD of that name)
rate_json() { echo "$json" | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" | head -n 1; }
# entry_of KEY: a value of the module's entry in $json
entry_of() { echo "$json" | sed -n "s/.*\"module_entry\": *{[^}]*\"$1\": *\"*\([^\",}]*\).*/\1/p"; }
# rate_traced ARG...: `kmalloc-test --json ARG...` with the kmem:kmalloc and
# kmem:kfree events on, the trace emptied first; sets json, rc, pid
rate_traced() {
	echo 0 >"$T/tracing_on"
	echo >"$T/trace"
	echo 1 >"$T/events/kmem/kmalloc/enable"
	echo 1 >"$T/events/kmem/kfree/enable"
	echo 1 >"$T/tracing_on"
	json=$("$KT" --json "$@")
	rc=$?
	echo 0 >"$T/tracing_on"
	echo 0 >"$T/events/kmem/kmalloc/enable"
	echo 0 >"$T/events/kmem/kfree/enable"
	pid=$(rate_json pid)
}
rate_traced --rate max --calls 1000 64
check "kmalloc-test --rate max --calls 1000 64: exit 0, 1000 kmallocs made (kernel_rate)" \
	[ "$rc $(rate_json allocs)" = "0 1000" ]
check "its module entry: path rate, 1000 objects, 1000 freed, 64 allocated each" \
	[ "$(entry_of path) $(entry_of objects) $(entry_of objects_freed) $(entry_of allocated)" = "rate 1000 1000 64" ]
# "KMALLOCS FREED": the module's kmallocs of 64 in the pid, and those of them
# kfreed afterwards in the pid
grep -E -- "-$pid +\[" "$T/trace" >/tmp/trace.pid
traced=$(awk -v site="$mod_site" '
	/ kmalloc: / && $0 ~ site && / bytes_req=64 / { p = $0; sub(/.* ptr=/, "", p); sub(/ .*/, "", p); live[p] = 1; n++ }
	/ kfree: / { p = $0; sub(/.* ptr=/, "", p); sub(/ .*/, "", p); if (p in live) { delete live[p]; f++ } }
	END { print n + 0, f + 0 }' /tmp/trace.pid)
check "the trace: 1000 kmem:kmalloc of 64 from the module in its pid, each kfreed there ($traced)" \
	[ "$traced" = "1000 1000" ]
echo >"$T/trace"
json=$("$KT" --json --rate 10k --duration 200ms 64)
rc=$?
check "kmalloc-test --rate 10k --duration 200ms 64: 2000 kmallocs, as the module counted them" \
	[ "$rc $(rate_json allocs) $(entry_of objects)" = "0 2000 2000" ]
note "--rate 10k achieved $(rate_json achieved) calls a second in $(rate_json writes) writes"
check "write 'rate 0 64' -> EINVAL" [ "$(write_err 'rate 0 64')" = EINVAL ]
check "write 'rate 65537 64' (over 65536 a write) -> EINVAL" [ "$(write_err 'rate 65537 64')" = EINVAL ]
check "write 'rate 10 65537' (over 64 KiB) -> EINVAL" [ "$(write_err 'rate 10 65537')" = EINVAL ]
check "write 'rate 10' -> EINVAL" [ "$(write_err 'rate 10')" = EINVAL ]
check "write 'rate 10 64 keep' -> EINVAL" [ "$(write_err 'rate 10 64 keep')" = EINVAL ]
check "write 'rate 10 64 hold x' -> EINVAL" [ "$(write_err 'rate 10 64 hold x')" = EINVAL ]
check "write '64 hold' -> EINVAL (hold is for rate only)" [ "$(write_err '64 hold')" = EINVAL ]
check "nothing is left after the rate writes" live_zero
# 'rate COUNT SIZE hold': the file keeps the objects until it closes or
# writes again without hold; the listing's total counts them (held_objects).
held_now() { echo "$(total_field held_objects) $(total_field held_bytes)"; }
exec 3>"$PROC"
check "'rate 1000 64 hold' on an open file: 1000 objects held, 64000 bytes" \
	[ "$(write_err 'rate 1000 64 hold' 3) $(held_now)" = "OK 1000 64000" ]
check "a second 'rate 500 64 hold' adds to them: 1500 held" \
	[ "$(write_err 'rate 500 64 hold' 3) $(held_now)" = "OK 1500 96000" ]
check "'rate 10 64' without hold frees them first: none held" \
	[ "$(write_err 'rate 10 64' 3) $(held_now)" = "OK 0 0" ]
check "then 'rate 100 32 hold': 100 held, 3200 bytes" \
	[ "$(write_err 'rate 100 32 hold' 3) $(held_now)" = "OK 100 3200" ]
exec 3>&-
check "closing the file frees them: none held" [ "$(held_now)" = "0 0" ]
exec 3>"$PROC"
held_max=$(for _i in 1 2 3 4; do write_err 'rate 65536 1 hold' 3; done | tr '\n' ' ')
check "four 'rate 65536 1 hold' (262144 held, the most a file keeps) work" [ "$held_max" = "OK OK OK OK " ]
check "one more object -> ENOMEM, and the file holds nothing then" \
	[ "$(write_err 'rate 1 1 hold' 3) $(held_now)" = "ENOMEM 0 0" ]
exec 3>&-
# kmalloc-test --rate with --hold: the objects kmalloced in the writes and
# kfreed only at the close, all in its pid (the trace)
rate_traced --rate max --calls 1000 --hold 10ms 64
check "kmalloc-test --rate max --calls 1000 --hold 10ms 64: exit 0, its entry: 1000 objects live (none freed), freed at close" \
	[ "$rc $(entry_of objects) $(entry_of objects_freed) $(entry_of state) $(entry_of free)" = "0 1000 0 live close" ]
# "KMALLOCS FREED EARLY": the module's kmallocs of 64 in the pid, those of
# them kfreed there, and those kfreed before the last kmalloc
grep -E -- "-$pid +\[" "$T/trace" >/tmp/trace.pid
traced=$(awk -v site="$mod_site" '
	/ kmalloc: / && $0 ~ site && / bytes_req=64 / { p = $0; sub(/.* ptr=/, "", p); sub(/ .*/, "", p); live[p] = 1; n++ }
	/ kfree: / { p = $0; sub(/.* ptr=/, "", p); sub(/ .*/, "", p); if (p in live) { delete live[p]; f++; if (n < 1000) e++ } }
	END { print n + 0, f + 0, e + 0 }' /tmp/trace.pid)
check "the trace: 1000 kmallocs of 64 from the module in its pid, all kfreed there after the last ($traced)" \
	[ "$traced" = "1000 1000 0" ]
echo >"$T/trace"
check "nothing is held after kmalloc-test" [ "$(held_now)" = "0 0" ]
# two writer threads on the one file at once (the rate writes run without the
# mutex, the hold writes under it): the tally counts both
json=$("$KT" --json --rate max --calls 5000 --writers 2 64)
rc=$?
check "kmalloc-test --rate max --calls 5000 --writers 2 64: exit 0, 10000 made, as the module counted them, all freed" \
	[ "$rc $(rate_json threads) $(rate_json allocs) $(entry_of objects) $(entry_of objects_freed)" = "0 2 10000 10000 10000" ]
json=$("$KT" --json --rate max --calls 5000 --writers 2 --hold 10ms 64)
rc=$?
check "the same held (--hold 10ms): 10000 objects live at its read, none freed, and none held after it" \
	[ "$rc $(entry_of objects) $(entry_of objects_freed) $(entry_of state) $(held_now)" = "0 10000 0 live 0 0" ]
unload
check "insmod max_bytes=8192" load max_bytes=8192
check "rate 10 1024 (a batch of 10 KiB over the 8192 cap) -> ENOMEM" [ "$(write_err 'rate 10 1024')" = ENOMEM ]
check "rate 8 1024 (8 KiB) under it works" [ "$(write_err 'rate 8 1024')" = OK ]
exec 3>"$PROC"
check "'rate 100 64 hold' (6400 bytes held) under it works" [ "$(write_err 'rate 100 64 hold' 3)" = OK ]
"$KT" 4096 >/tmp/kt.out 2>&1
check "kmalloc-test 4096 beside them: exit 3, the held bytes counted as live in its line" \
	sh -c "[ $? = 3 ] && grep -q 'ENOMEM): 6400 bytes live of its cap of 8192' /tmp/kt.out"
check "a second (12800 held, over the cap) -> ENOMEM, and the file holds nothing then" \
	[ "$(write_err 'rate 100 64 hold' 3) $(held_now)" = "ENOMEM 0 0" ]
exec 3>&-
check "nothing is left after them" live_zero
unload
"$KT" 4096 >/tmp/kt.out 2>&1
rc=$?
check "kmalloc-test without the module exits 4 with one line" \
	sh -c "[ $rc = 4 ] && [ \"\$(wc -l </tmp/kt.out)\" = 1 ] && grep -q kmalloc_lkm /tmp/kt.out"
diag </tmp/kt.out

# --- 5. injected kmalloc failures (failslab, fail_page_alloc) -------------------
# Only a task with /proc/PID/make-it-fail = 1 (task-filter), and only for calls
# from the module's code (require-start/-end: its memory in /proc/modules), so
# the writer's exec and open(2) still work; `times` = 1 fails exactly one call.
FI=/sys/kernel/debug
load
# "kmalloc_lkm SIZE REFS DEPS STATE ADDRESS": the module's memory.
mod_start=$(awk '$1 == "kmalloc_lkm" { print $6 }' /proc/modules)
mod_size=$(awk '$1 == "kmalloc_lkm" { print $2 }' /proc/modules)
mod_end=$(printf '0x%x' $((mod_start + mod_size)))
# fi_arm DIR TIMES: fail the next TIMES allocations of make-it-fail tasks made
# from the module (GFP_KERNEL included: ignore-gfp-wait N); one log line each.
fi_arm() {
	echo Y >"$FI/$1/task-filter"
	echo N >"$FI/$1/ignore-gfp-wait"
	echo 1 >"$FI/$1/interval"
	echo 0 >"$FI/$1/space"
	echo 1 >"$FI/$1/verbose"
	echo 32 >"$FI/$1/stacktrace-depth"
	echo "$mod_start" >"$FI/$1/require-start"
	echo "$mod_end" >"$FI/$1/require-end"
	echo "$2" >"$FI/$1/times"
	echo 100 >"$FI/$1/probability"
}
fi_disarm() { echo 0 >"$FI/$1/probability"; }
times_left() { cat "$FI/$1/times"; }
# failing CMD...: runs CMD in a task with make-it-fail set (exec keeps it).
failing() { sh -c 'echo 1 >/proc/self/make-it-fail && exec "$@"' failing "$@"; }
# kt_enomem SIZE: kmalloc-test SIZE with make-it-fail exits 3 with one line
# naming ENOMEM.
kt_enomem() {
	failing "$KT" "$1" >/tmp/kt.out 2>&1
	rc=$?
	[ "$rc" = 3 ] && [ "$(wc -l </tmp/kt.out)" = 1 ] && grep -q "refused $1 bytes (ENOMEM)" /tmp/kt.out
}
# spared DIR CMD...: CMD succeeds and no failure was injected (times still 1).
spared() {
	fi_dir=$1
	shift
	"$@" >/dev/null 2>&1 && [ "$(times_left "$fi_dir")" = 1 ]
}
# fd_enomem: an open fd holding 4096 gets ENOMEM for a write of 64 with
# make-it-fail; the listing, read while the fd is still open, goes to /tmp/fi.list.
fd_enomem() {
	sh -c "exec 3>$PROC && echo 4096 >&3 && echo 1 >/proc/self/make-it-fail || exit 2
		echo 64 >&3 2>/tmp/fi.err && exit 1
		echo 0 >/proc/self/make-it-fail
		cat $PROC >/tmp/fi.list" &&
		grep -Eq 'Cannot allocate memory|Out of memory' /tmp/fi.err
}
if [ -d "$FI/failslab" ] && [ -d "$FI/fail_page_alloc" ] && [ -n "$mod_start" ]; then
	ok "failslab and fail_page_alloc are in $FI; module memory $mod_start-$mod_end"
	check "make-it-fail is inherited across exec and by a forked child" \
		[ "$(failing /bin/busybox sh -c 'cat /proc/self/make-it-fail | cat')" = 1 ]

	fi_arm failslab 1
	check "failslab: a task without make-it-fail is spared (kmalloc-test 64 works)" \
		spared failslab "$KT" 64
	check "failslab: kmalloc-test 64 with make-it-fail exits 3, one line, ENOMEM" kt_enomem 64
	diag </tmp/kt.out
	check "failslab: exactly one allocation was failed (times left $(times_left failslab))" \
		[ "$(times_left failslab)" = 0 ]
	check "failslab: nothing is held afterwards" live_zero
	fi_arm failslab 1
	check "failslab: an fd holding 4096 gets ENOMEM for a write of 64" fd_enomem
	check "failslab: that fd then holds nothing, its 4096 freed (listing while open)" \
		grep -q '^total allocations=0 requested=0 allocated=0 ' /tmp/fi.list
	fi_disarm failslab
	check "failslab off: kmalloc-test 64 with make-it-fail works again" failing "$KT" 64

	# Above KMALLOC_MAX_CACHE_SIZE (8 KiB) kmalloc takes whole pages from the
	# page allocator: 65536 bytes is order 4, and min-order 4 leaves the slab
	# caches' page refills (order 3 at most) alone.
	fi_arm fail_page_alloc 1
	echo 4 >"$FI/fail_page_alloc/min-order"
	check "fail_page_alloc: kmalloc-test 4096 with make-it-fail (slab) is spared" \
		spared fail_page_alloc failing "$KT" 4096
	check "fail_page_alloc: kmalloc-test 65536 with make-it-fail exits 3, one line, ENOMEM" \
		kt_enomem 65536
	diag </tmp/kt.out
	check "fail_page_alloc: exactly one allocation was failed (times left $(times_left fail_page_alloc))" \
		[ "$(times_left fail_page_alloc)" = 0 ]
	check "fail_page_alloc: nothing is held afterwards" live_zero
	fi_disarm fail_page_alloc
	echo 1 >"$FI/fail_page_alloc/min-order"
	check "fail_page_alloc off: kmalloc-test 65536 with make-it-fail works again" failing "$KT" 65536
	note "injected failures in the kernel log: $(dmesg | grep -c 'FAULT_INJECTION: forcing a failure')"
else
	missing "no fault injection ($FI/failslab, $FI/fail_page_alloc, module address '$mod_start')" \
		"failslab and fail_page_alloc are in $FI" \
		"make-it-fail is inherited across exec and by a forked child" \
		"failslab: a task without make-it-fail is spared (kmalloc-test 64 works)" \
		"failslab: kmalloc-test 64 with make-it-fail exits 3, one line, ENOMEM" \
		"failslab: exactly one allocation was failed" \
		"failslab: nothing is held afterwards" \
		"failslab: an fd holding 4096 gets ENOMEM for a write of 64" \
		"failslab: that fd then holds nothing, its 4096 freed (listing while open)" \
		"failslab off: kmalloc-test 64 with make-it-fail works again" \
		"fail_page_alloc: kmalloc-test 4096 with make-it-fail (slab) is spared" \
		"fail_page_alloc: kmalloc-test 65536 with make-it-fail exits 3, one line, ENOMEM" \
		"fail_page_alloc: exactly one allocation was failed" \
		"fail_page_alloc: nothing is held afterwards" \
		"fail_page_alloc off: kmalloc-test 65536 with make-it-fail works again"
fi
unload

# --- 6. a reader stalled in its copy to user space ------------------------------
# stall-reader reads the listing into a userfaultfd page, so the module's copy
# to user space waits on a page fault; a writer must finish meanwhile, as the
# copy runs without the module's mutex (under it, the writer waits: exit 1).
load
if [ -x /bin/stall-reader ]; then
	stall-reader "$PROC" 64 >/tmp/stall.out 2>&1
	rc=$?
	while read -r line; do note "$line"; done </tmp/stall.out
	check "a writer finishes while a reader is stalled in the copy to user space (exit $rc)" [ "$rc" = 0 ]
	check "the stalled read then returns the listing" grep -q "bytes after the fault was resolved, starting '# pid'" /tmp/stall.out
else
	missing "stall-reader is not in the guest" \
		"a writer finishes while a reader is stalled in the copy to user space" \
		"the stalled read then returns the listing"
fi
check "nothing is left after it" live_zero
unload

# --- 7. every allocation path --------------------------------------------------
# The listing of each path, its errors, the tracepoints of kmalloc-test --path
# for a range of sizes, frees by a kworker and by RCU, and leaks for kmemleak.
load
exec 3>"$PROC"
# listed SPEC REQUESTED ALLOCATED PATH: a write of SPEC on fd 3 is listed so.
listed() {
	echo "$1" >&3 && grep -q "^$$ $$ sh $2 $3 $4\$" "$PROC"
}
check "kzalloc 100 is listed: 100 128 kzalloc" listed "kzalloc 100" 100 128 kzalloc
check "krealloc 100 300 (moved) is listed: 300 512 krealloc" listed "krealloc 100 300" 300 512 krealloc
check "krealloc 300 100 (kept in place) is listed: 100 512 krealloc" listed "krealloc 300 100" 100 512 krealloc
check "kmem_cache 100 is listed: 100 100 kmem_cache" listed "kmem_cache 100" 100 100 kmem_cache
check "vmalloc 10000 is listed: 10000 12288 vmalloc" listed "vmalloc 10000" 10000 12288 vmalloc
check "kvmalloc 10000 is served by kmalloc: 10000 16384 kvmalloc:kmalloc" \
	listed "kvmalloc 10000" 10000 16384 kvmalloc:kmalloc
check "kvmalloc 8388608 is served by vmalloc: kvmalloc:vmalloc" \
	listed "kvmalloc 8388608" 8388608 8388608 kvmalloc:vmalloc
check "kvmalloc 10000 vmalloc (forced to the fallback) is listed: 10000 12288 kvmalloc:vmalloc" \
	listed "kvmalloc 10000 vmalloc" 10000 12288 kvmalloc:vmalloc
check "pages 10000 is listed: 10000 16384 pages (order 2)" listed "pages 10000" 10000 16384 pages
ncpu=$(grep -c ^processor /proc/cpuinfo)
check "percpu 100 is listed: 100 $((100 * ncpu)) percpu ($ncpu CPUs)" listed "percpu 100" 100 $((100 * ncpu)) percpu
check "fd: 'vmalloc 1073741825' (above 1 GiB) -> EINVAL" [ "$(write_err 'vmalloc 1073741825' 3)" = EINVAL ]
check "EINVAL keeps the fd's percpu allocation" grep -q "^$$ $$ sh 100 $((100 * ncpu)) percpu\$" "$PROC"
exec 3>&-
check "closing the fd frees it" live_zero
for bad in "kmalloc 0" "kmalloc 4194305" "kzalloc 4194305" "percpu 32769" "pages 4194305" \
	"kmem_cache 1048577" "vmalloc 1073741825" "krealloc 100" "krealloc 0 5" "krealloc 5 4194305" \
	"slab 100" "kmalloc  100" " 100" "vmalloc" "kmalloc 100 200" "free-by" "free-by me" "free-by kworker" \
	"free-by rcu" "leak" "kvmalloc 4096 vmalloc" "kvmalloc 10000 kmalloc" "vmalloc 10000 vmalloc" \
	"kvmalloc 1073741825 vmalloc"; do
	want=EINVAL
	[ "$bad" = leak ] && want=EPERM
	check "write '$bad' -> $want" [ "$(write_err "$bad")" = "$want" ]
done
check "write 'vmalloc 67108865' (over max_bytes) -> ENOMEM" [ "$(write_err 'vmalloc 67108865')" = ENOMEM ]
exec 3>"$PROC"
echo "kmalloc 64" >&3
check "fd holding 64: leak without allow_leaks -> EPERM" [ "$(write_err leak 3)" = EPERM ]
check "and the fd keeps its allocation" grep -q "^$$ $$ sh 64 64 kmalloc\$" "$PROC"
exec 3>&-
"$KT" --path percpu 32769 >/tmp/kt.out 2>&1
check "kmalloc-test --path percpu 32769 exits 3 and names the limit" \
	sh -c "[ $? = 3 ] && grep -q 'EINVAL): one percpu allocation is 1 to 32768 bytes (PCPU_MIN_UNIT_SIZE)' /tmp/kt.out"
check "nothing is left" live_zero

# The tracepoints of each path, for kmalloc-test's pid.
EVENTS="kmem/kmalloc kmem/kfree kmem/kmem_cache_alloc kmem/kmem_cache_free kmem/mm_page_alloc
kmem/mm_page_free percpu/percpu_alloc_percpu percpu/percpu_free_percpu vmalloc/alloc_vmap_area
vmalloc/free_vmap_area_noflush"
events() { for e in $EVENTS; do echo "$1" >"$T/events/$e/enable"; done; }
echo 8192 >"$T/buffer_size_kb"
events 1
# traced_path PATH SIZE [FROM]: kmalloc-test --json --path PATH [--from FROM] SIZE
# with tracing on; sets rc and pid; its events go to /tmp/tp, all to /tmp/ta.
# traced_path PATH SIZE [FROM | vmalloc]: kmalloc-test --path PATH SIZE with
# tracing on (--from FROM, or --force-vmalloc).
traced_path() {
	echo >"$T/trace"
	echo 1 >"$T/tracing_on"
	if [ "$3" = vmalloc ]; then
		json=$("$KT" --json --path "$1" --force-vmalloc "$2")
	elif [ -n "$3" ]; then
		json=$("$KT" --json --path "$1" --from "$3" "$2")
	else
		json=$("$KT" --json --path "$1" "$2")
	fi
	rc=$?
	echo 0 >"$T/tracing_on"
	pid=$(echo "$json" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
	cat "$T/trace" >/tmp/ta
	grep -E -- "-$pid +\[" /tmp/ta >/tmp/tp
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# count_of PATTERN: lines of /tmp/tp matching PATTERN (grep -E).
count_of() { grep -Ec -- "$1" /tmp/tp; }
# one_key PATTERN FIELD: the FIELD of the only line of /tmp/tp matching
# PATTERN; fails unless exactly one matches.
one_key() {
	[ "$(count_of "$1")" = 1 ] && grep -E -- "$1" /tmp/tp | field "$2"
}
# uniq_key PATTERN FIELD: the one value of FIELD over the lines of /tmp/tp
# matching PATTERN (a large kmalloc is traced twice, with one ptr).
uniq_key() {
	k=$(grep -E -- "$1" /tmp/tp | field "$2" | sort -u)
	[ "$(echo "$k" | grep -c .)" = 1 ] && echo "$k"
}
modsite='call_site=[^ ]* \[kmalloc_lkm\]'
# entry_field KEY: KEY of the module's entry in kmalloc-test's report ($json).
entry_field() { echo "$json" | sed -n "s/.*\"module_entry\":{[^}]*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
# expect_field KEY: KEY of kmalloc-test's prediction ($json's expect), before
# its events; expect_event EVENT KEY: the first field KEY of EVENT in it.
expect_field() { echo "$json" | sed -n "s/.*\"expect\":{[^[]*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
expect_event() { echo "$json" | sed -n "s/.*\"expect\":{.*\"$1\",\"count\":[^{]*{[^}]*\"$2\":\([0-9]*\).*/\1/p"; }
# kasan: 1 when KASAN is on; its slab objects then carry a redzone that
# bytes_alloc counts and ksize() does not.
kasan=0
grep -q 'KernelAddressSanitizer initialized' /tmp/dmesg.boot && kasan=1
# hexkey HEX: HEX without 0x and leading zeros.
hexkey() { echo "$1" | sed 's/^0x//; s/^0*//'; }
# account_ok KEY BYTES: the module's entry ($json) is the prediction's
# (path, requested, allocated), its ptr is KEY (the trace's key of the
# allocation, in hex: raw, or hashed as %p prints it, the entry's hash) and,
# when BYTES (what the trace says was given) is not empty, its allocated is
# BYTES (at most BYTES with KASAN).
account_ok() {
	e_alloc=$(entry_field allocated)
	k=$(hexkey "$1")
	[ -n "$e_alloc" ] && [ "$e_alloc" = "$(expect_field allocated_bytes)" ] &&
		[ "$(entry_field path)" = "$(expect_field listed_path)" ] &&
		[ "$(entry_field requested)" = "$(expect_field requested_bytes)" ] && [ -n "$k" ] &&
		{ [ "$k" = "$(hexkey "$(entry_field ptr)")" ] || [ "$k" = "$(hexkey "$(entry_field hash)")" ]; } || return 1
	[ -z "$2" ] && return 0
	[ "$e_alloc" = "$2" ] || { [ "$kasan" = 1 ] && [ "$e_alloc" -le "$2" ]; }
}
# path_events PATH SIZE [FROM]: checks the promised events of one run; prints
# what it found as a note, and the run's trace lines when it failed.
path_events() {
	traced_path "$@"
	p=$1 s=$2 from=$3 what=
	good=0
	opt=${from:+--from $from }
	[ "$from" = vmalloc ] && opt="--force-vmalloc " from=
	case "$p" in
	kmalloc | kzalloc)
		gfp=GFP_KERNEL
		[ "$p" = kzalloc ] && gfp='GFP_KERNEL\|__GFP_ZERO'
		ptr=$(grep ' kmalloc: ' /tmp/tp | grep -E "$mod_site" | grep -E "bytes_req=$s bytes_alloc=[0-9]+ gfp_flags=$gfp " |
			field ptr | sort -u)
		raw=$(grep -c "ptr=$ptr bytes_req=$s " /tmp/tp)
		ba=$(grep " kmalloc: .*ptr=$ptr bytes_req=$s " /tmp/tp | field bytes_alloc | sort -u)
		what="ptr $ptr, $raw kmem:kmalloc event(s), gfp_flags $gfp, bytes_alloc $ba"
		[ "$(echo "$ptr" | grep -c .)" = 1 ] && grep -Eq " kfree: .*ptr=$ptr( |\$)" /tmp/tp &&
			account_ok "$ptr" "$ba" && good=1
		;;
	krealloc)
		first=$(uniq_key " kmalloc: $modsite ptr=[^ ]* bytes_req=$from " ptr)
		second=$(grep -E " kmalloc: $modsite ptr=[^ ]* bytes_req=$s " /tmp/tp | field ptr)
		what="first ptr $first, second '${second:-none}'"
		if [ -n "$first" ] && [ -n "$second" ]; then
			[ "$(echo "$second" | grep -c .)" = 1 ] && grep -Eq " kfree: .*ptr=$first( |\$)" /tmp/tp &&
				grep -Eq " kfree: .*ptr=$second( |\$)" /tmp/tp && [ "$4" = moves ] &&
				account_ok "$second" "$(grep " kmalloc: .*ptr=$second " /tmp/tp | field bytes_alloc | sort -u)" && good=1
		elif [ -n "$first" ]; then
			grep -Eq " kfree: .*ptr=$first( |\$)" /tmp/tp && [ "$4" = stays ] &&
				account_ok "$first" "$(grep " kmalloc: .*ptr=$first " /tmp/tp | field bytes_alloc | sort -u)" && good=1
		fi
		;;
	kmem_cache)
		ptr=$(one_key " kmem_cache_alloc: $modsite ptr=[^ ]* name=kmalloc_lkm-$s bytes_req=$s " ptr)
		ba=$(grep " kmem_cache_alloc: .*name=kmalloc_lkm-$s " /tmp/tp | field bytes_alloc | head -n 1)
		what="ptr $ptr, bytes_alloc $ba"
		[ -n "$ptr" ] && grep -q " kmem_cache_free: .*ptr=$ptr name=kmalloc_lkm-$s\$" /tmp/tp &&
			account_ok "$ptr" "$ba" && good=1
		;;
	vmalloc | kvmalloc)
		# the vmap area's size and the pages, as kmalloc-test predicts them
		vs=$(expect_event vmalloc:alloc_vmap_area size)
		if [ "$p" = kvmalloc ] && [ "$s" -le 4194304 ] && [ -z "$opt" ]; then
			ptr=$(one_key " kmalloc: call_site=kvrealloc_node_align_noprof[^ ]* ptr=[^ ]* bytes_req=$s " ptr)
			what="served by kmalloc: ptr $ptr, $(grep -c "ptr=$ptr bytes_req=$s " /tmp/tp) kmem:kmalloc event(s), no vmap area: $(count_of ' alloc_vmap_area: ')"
			[ -n "$ptr" ] && [ "$ptr" != 0000000000000000 ] && grep -Eq " kfree: .*ptr=$ptr( |\$)" /tmp/tp &&
				[ "$(count_of ' alloc_vmap_area: ')" = 0 ] &&
				account_ok "$ptr" "$(grep " kmalloc: .*ptr=$ptr " /tmp/tp | field bytes_alloc | sort -u)" && good=1
		else
			va=$(grep -E " alloc_vmap_area: va_start: [0-9]+ size=$vs " /tmp/tp | sed -n 's/.*va_start: \([0-9]*\) .*/\1/p')
			hex=$(printf '%x' "$va" 2>/dev/null)
			pages=0
			for o in $(grep ' mm_page_alloc: ' /tmp/tp | grep '__GFP_HIGHMEM' | field order); do
				pages=$((pages + (1 << o)))
			done
			failed=$(grep -c " kmalloc: .*ptr=0000000000000000 bytes_req=$s " /tmp/tp)
			what="vmap area size $vs at 0x$hex, $pages pages (__GFP_HIGHMEM), $failed failed kmalloc(s)"
			# forced: no kmalloc attempt at all
			[ -z "$opt" ] || [ "$(count_of " kmalloc: .*bytes_req=$s ")" = 0 ] &&
				[ -n "$vs" ] && [ "$(count_of " alloc_vmap_area: va_start: [0-9]+ size=$vs ")" = 1 ] &&
				grep -q " free_vmap_area_noflush: va_start=0x$hex " /tmp/tp &&
				[ "$pages" = "$(expect_event kmem:mm_page_alloc pages)" ] &&
				account_ok "$hex" $((vs - 4096)) && good=1
		fi
		;;
	pages)
		o=$(expect_event kmem:mm_page_alloc order)
		pfn=$(one_key " mm_page_alloc: page=[^ ]* pfn=[^ ]* order=$o migratetype=0 gfp_flags=GFP_KERNEL\$" pfn)
		page=$(one_key " mm_page_alloc: page=[^ ]* pfn=[^ ]* order=$o migratetype=0 gfp_flags=GFP_KERNEL\$" page)
		what="order $o, pfn $pfn, page $page"
		[ -n "$pfn" ] && grep -q " mm_page_free: page=[^ ]* pfn=$pfn order=$o\$" /tmp/tp &&
			account_ok "$page" $((4096 << o)) && good=1
		;;
	percpu)
		ptr=$(one_key " percpu_alloc_percpu: $modsite reserved=0 is_atomic=0 size=$s align=8 " ptr)
		ba=$(grep ' percpu_alloc_percpu: ' /tmp/tp | grep -E "$modsite" | field bytes_alloc)
		what="ptr $ptr, bytes_alloc $ba"
		[ -n "$ptr" ] && grep -q " percpu_free_percpu: .*ptr=$ptr\$" /tmp/tp && account_ok "$ptr" "$ba" && good=1
		;;
	esac
	note "$p $opt$s: $what; the module's entry: ptr $(entry_field ptr) hash $(entry_field hash) allocated $(entry_field allocated) ($(entry_field measured_by)), predicted $(expect_field allocated_bytes)"
	if [ "$rc" = 0 ] && [ "$good" = 1 ]; then
		ok "kmalloc-test --path $p $opt$s: its events in pid $pid, and their frees"
	else
		not_ok "kmalloc-test --path $p $opt$s: exit $rc, pid '$pid'"
		grep -v -E 'kmem_cache_free: call_site=rcu_core|name=(kmemleak_object|names_cache|pde_opener)' /tmp/tp | head -n 30 | diag
	fi
}
for s in 1 100 65536; do path_events kmalloc "$s"; done
for s in 1 4096 1048576; do path_events kzalloc "$s"; done
path_events krealloc 300 100 moves
path_events krealloc 100 300 stays
path_events krealloc 120 100 stays
path_events krealloc 65536 4096 moves
path_events krealloc 4096 65536 stays
for s in 32 100 4096 65536; do path_events kmem_cache "$s"; done
path_events kmem_cache 100
for s in 1 4096 10000 1048576 16777216; do path_events vmalloc "$s"; done
for s in 100 65536 8388608; do path_events kvmalloc "$s"; done
for s in 4097 65536; do path_events kvmalloc "$s" vmalloc; done
for s in 1 4096 10000 65536 4194304; do path_events pages "$s"; done
for s in 4 100 32768; do path_events percpu "$s"; done

# Frees in another context: the free event of the allocation comes from a
# kworker (free-by kworker), or from an RCU callback in softirq context (flag
# 's'; a vfree there is passed on to a kworker).
# settled: waits (up to 10 s) until no deferred free is pending.
settled() {
	n=0
	while [ "$(total_field deferred)" != 0 ] && [ "$n" -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ "$(total_field deferred)" = 0 ]
}
# free_by SPEC CTX: writes SPEC then 'free-by CTX' from a shell, with tracing
# on; checks that the writer's close freed nothing and which task freed it,
# and that the writer's entry, read back once the free is done, names that
# task (the trace's COMM-PID).
free_by() {
	echo >"$T/trace"
	echo 1 >"$T/tracing_on"
	sh -c "exec 3<>$PROC && echo '$1' >&3 && echo 'free-by $2' >&3 && echo \$\$ >/tmp/fb.pid &&
		n=0 && while ! grep -q ' deferred=0 ' $PROC && [ \$n -lt 100 ]; do sleep 0.1; n=\$((n + 1)); done &&
		cat <&3 >/tmp/fb.entry"
	settled
	echo 0 >"$T/tracing_on"
	wpid=$(cat /tmp/fb.pid)
	cat "$T/trace" >/tmp/ta
	case "$1" in
	kmalloc*) alloc=" kmalloc: $mod_site" ;;
	kmem_cache*) alloc=' kmem_cache_alloc: .*name=kmalloc_lkm-' ;;
	pages*) alloc=' mm_page_alloc: .*gfp_flags=GFP_KERNEL$' ;;
	percpu*) alloc=" percpu_alloc_percpu: $modsite" ;;
	vmalloc*) alloc=' alloc_vmap_area: ' ;;
	esac
	# The first free of the allocation's key after it was made (a per-CPU
	# offset, for one, is soon reused by other tasks).
	aln=$(grep -nE -- "-$wpid +\[.*$alloc" /tmp/ta | head -n 1 | cut -d: -f1)
	[ -n "$aln" ] || return 1
	aline=$(sed -n "${aln}p" /tmp/ta)
	case "$1" in
	kmalloc*) key=$(echo "$aline" | field ptr) free=" kfree: .*ptr=$key( |\$)" ;;
	kmem_cache*) key=$(echo "$aline" | field ptr) free=" kmem_cache_free: .*ptr=$key " ;;
	pages*) key=$(echo "$aline" | field pfn) free=" mm_page_free: .*pfn=$key " ;;
	percpu*) key=$(echo "$aline" | field ptr) free=" percpu_free_percpu: .*ptr=$key\$" ;;
	vmalloc*)
		key=$(printf '%x' "$(echo "$aline" | sed -n 's/.*va_start: \([0-9]*\) .*/\1/p')")
		free=" free_vmap_area_noflush: va_start=0x$key "
		;;
	esac
	line=$(tail -n +$((aln + 1)) /tmp/ta | grep -E -- "$free" | head -n 1)
	task=$(echo "$line" | awk '{ print $1 }')
	flags=$(echo "$line" | awk '{ print $3 }')
	by=$(sed -n 's/.* free=\([^ ]*\) state=freed freed_by=\([^ ]*\) freed_pid=\([0-9]*\) .*$/\1 \2-\3/p' /tmp/fb.entry)
	note "$1, free-by $2: key $key freed by '$task' flags '$flags' (writer $wpid); the entry says: '$by'"
	[ -n "$key" ] && [ "$(echo "$line" | grep -c .)" = 1 ] || return 1
	# the entry: handed to CTX, freed by the task the trace shows (by pid
	# for RCU, whose softirq may interrupt the idle task, '<idle>' in the
	# trace; vfree from an RCU callback passes the area on to a kworker)
	case "$2.$1" in
	rcu.vmalloc*) [ "${by%% *}" = rcu ] || return 1 ;;
	rcu.*) [ "${by%% *}" = rcu ] && [ "${by##*-}" = "${task##*-}" ] || return 1 ;;
	*) [ "$by" = "$2 $task" ] || return 1 ;;
	esac
	case "$2.$1" in
	kworker.* | rcu.vmalloc*) echo "$task" | grep -q '^kworker/' ;;
	# A softirq runs on whatever task was interrupted, the writer's included
	# (seen: 'sh-1630' with flags 'd.s2.'): the context, not the task, tells.
	rcu.*) echo "$flags" | grep -q 's' || echo "$task" | grep -q '^rcu' ;;
	esac
}
for spec in "kmalloc 3000" "kmem_cache 100" "pages 10000" "percpu 100" "vmalloc 10000"; do
	check "$spec, free-by kworker: freed by a kworker, not the writer" free_by "$spec" kworker
	check "$spec, free-by rcu: freed by an RCU callback (softirq; vfree via a kworker)" free_by "$spec" rcu
done
settled_zero() { settled && live_zero; }
check "nothing is left or pending after the deferred frees" settled_zero
events 0
echo >"$T/trace"
echo 1408 >"$T/buffer_size_kb"
unload

# Leaks on purpose (allow_leaks=1), from processes that exit, so that no stale
# copy of a pointer stays on a live kernel stack; kmemleak must report exactly
# these (section 10). kmemleak is conservative: any word in scanned memory equal
# to an object's address keeps it from being reported, and the small kmalloc
# buckets (64, 128 bytes), reused by everything, often keep a stale copy of
# their addresses in some live object; so the leaks are 1 KiB and more. The
# vmalloc leak has a size of its own (6 pages with the guard page): vmalloc
# hands a freed area of the same page count back at the same address, so a
# leak the size of an earlier test's area lands where that area was, and a
# stale copy of its address could hide the leak.
check "insmod allow_leaks=1" load allow_leaks=1
leak_objects 3000 "kzalloc 1500" "krealloc 50 10000" "vmalloc 20000" "kvmalloc 6000"
exec 3>"$PROC"
echo "pages 4096" >&3
check "allow_leaks=1: leak of pages -> EINVAL (kmemleak does not track pages)" [ "$(write_err leak 3)" = EINVAL ]
check "and the fd keeps its pages" grep -q "^$$ $$ sh 4096 4096 pages\$" "$PROC"
exec 3>&-
check "allow_leaks=1: leak with nothing held -> EINVAL" [ "$(write_err leak)" = EINVAL ]
check "5 objects leaked, each logged with its address ($(wc -l </tmp/leaked))" [ "$(wc -l </tmp/leaked)" = 5 ]
while read -r line; do note "leaked: $line"; done </tmp/leaked
check "the leaks left nothing listed" live_zero
unload

# --- 8. stress: many processes at once ------------------------------------------
load
stress_loop() {
	n=0
	bad=0
	exec 7>"$PROC"
	while [ "$n" -lt "$2" ]; do
		s=$(((n * 97 + $1 * 389) % 65536 + 1))
		echo "$s" >"$PROC" 2>/dev/null || bad=$((bad + 1))
		echo "$s" >&7 2>/dev/null || bad=$((bad + 1))
		n=$((n + 1))
	done
	exec 7>&-
	echo "$bad" >"/tmp/stress.$1"
}
start=$(date +%s)
pids=
i=1
while [ "$i" -le 8 ]; do
	stress_loop "$i" 250 &
	pids="$pids $!"
	i=$((i + 1))
done
# Threads: 8 with files of their own, 4 on one shared file; then 6 + 2 more
# taking every path at random, with frees by kworkers and RCU.
kmalloc-stress --threads 8 --shared 4 --ops 300 >/tmp/threads.log 2>&1 &
pids="$pids $!"
kmalloc-stress --paths --threads 6 --shared 2 --ops 150 --max 262144 >/tmp/paths.log 2>&1 &
pids="$pids $!"
"$KT" --repeat 500 4096 >/dev/null 2>&1 &
pids="$pids $!"
"$KT" --repeat 200 1048576 >/dev/null 2>&1 &
pids="$pids $!"
"$KT" --repeat 50 4194304 >/dev/null 2>&1 &
pids="$pids $!"
failed_jobs=0
for job in $pids; do
	wait "$job" || failed_jobs=$((failed_jobs + 1))
done
bad=$(cat /tmp/stress.* | awk '{ s += $1 } END { print s + 0 }')
note "stress: 8 shell loops x 500 writes + kmalloc-test 750 runs + threads in $(($(date +%s) - start)) s"
note "$(tail -n 3 /tmp/threads.log)"
check "stress: kmalloc-stress ran its threads, every write succeeded" grep -q "threads .* 0 failed" /tmp/threads.log
note "$(tail -n 3 /tmp/paths.log)"
check "stress: kmalloc-stress --paths (every path, deferred frees), every write succeeded" \
	grep -q "threads .* 0 failed" /tmp/paths.log
check "stress: no deferred free pending afterwards" settled
check "stress: every write and kmalloc-test run succeeded ($bad failed writes, $failed_jobs failed jobs)" \
	[ "$bad.$failed_jobs" = 0.0 ]
check "stress: zero live bytes afterwards" live_zero

# --- 9. rmmod while files are open ----------------------------------------------
tracing=0
if [ -d "$T/events/kmem/kmalloc" ]; then
	echo >"$T/trace"
	echo 1 >"$T/events/kmem/kmalloc/enable"
	echo 1 >"$T/events/kmem/kfree/enable"
	echo 1 >"$T/tracing_on"
	tracing=1
fi
pids=
want=3
i=1
while [ "$i" -le 3 ]; do
	sh -c "exec 3>$PROC; echo $((i * 30000)) >&3; exec sleep 30" &
	pids="$pids $!"
	i=$((i + 1))
done
"$KT" --hold 30s 131072 >/dev/null 2>&1 &
pids="$pids $!"
"$KT" --hold 30s --path kmem_cache 4096 >/dev/null 2>&1 &
pids="$pids $!"
"$KT" --hold 30s --path percpu 1000 >/dev/null 2>&1 &
pids="$pids $!"
"$KT" --hold 30s --path vmalloc 100000 >/dev/null 2>&1 &
pids="$pids $!"
want=7
sleep 2
held=$(total_field allocations)
check "$want allocations held by open files before rmmod (listed: $held)" [ "$held" = "$want" ]
check "rmmod with open files succeeds" unload
check "$PROC is gone" [ ! -e "$PROC" ]
check "rmmod freed what open files held (log: $want held at unload)" \
	sh -c "dmesg | grep -q 'unloading ($want allocations still held'"
if [ "$tracing" = 1 ]; then
	echo 0 >"$T/tracing_on"
	cat "$T/trace" >/tmp/trace.rmmod
	echo 0 >"$T/events/kmem/kmalloc/enable"
	echo 0 >"$T/events/kmem/kfree/enable"
	echo >"$T/trace"
	ptrs=$(grep " kmalloc: " /tmp/trace.rmmod | grep -E "$mod_site" |
		grep -E "bytes_req=(30000|60000|90000|131072) " |
		sed -n 's/.* ptr=\([0-9a-fx]*\) .*/\1/p' | sort -u)
	n=$(echo "$ptrs" | grep -c .)
	freed=0
	for p in $ptrs; do
		grep -E -- "rmmod-[0-9]+ .* kfree: .*ptr=$p( |\$)" /tmp/trace.rmmod >/dev/null && freed=$((freed + 1))
	done
	check "trace: each of the $n held kmallocs is kfree'd by rmmod ($freed)" [ "$n.$freed" = "4.4" ]
else
	skip "trace: each of the held kmallocs is kfree'd by rmmod" "no kmem:kmalloc event in $T/events (section 2)"
fi
for p in $pids; do kill "$p" 2>/dev/null; done
for p in $pids; do wait "$p" 2>/dev/null; done
check "insmod again after that" load
check "listing is empty" live_zero
unload

# --- 10. kernel log: KASAN, kmemleak, lockdep, warnings --------------------------
if [ -w "$KMEMLEAK" ]; then
	# Exactly the objects leaked on purpose in section 7, by address, each with
	# its requested or allocated size (kmalloc reports the bucket, large
	# kmalloc and vmalloc the size asked). What is checked is that nothing
	# else references them (kmemleak_scan leaves task stacks out).
	kmemleak_scan
	awk '{ print $1 }' /tmp/leaked | sort >/tmp/leaked.addr
	check "kmemleak reports exactly the $(wc -l </tmp/leaked) leaked objects, by address ($(wc -l </tmp/reported) reported)" \
		sh -c "[ -s /tmp/leaked.addr ] && awk '{ print \$1 }' /tmp/reported | cmp -s - /tmp/leaked.addr"
	sizes_ok=1
	while read -r addr size; do
		line=$(grep "^$addr " /tmp/leaked) || continue
		note "kmemleak: 0x$addr size $size; leaked: $line"
		req=$(echo "$line" | awk '{ print $3 }')
		alloc=$(echo "$line" | awk '{ print $4 }')
		[ "$size" = "$req" ] || [ "$size" = "$alloc" ] || sizes_ok=0
	done </tmp/reported
	check "kmemleak's size of each is its requested or allocated size" [ "$sizes_ok" = 1 ]
	check "kmemleak lists nothing else (every report is one of those)" \
		[ "$(grep -c '^unreferenced object' /tmp/kmemleak)" = "$(wc -l </tmp/leaked)" ]
	suspected=$(dmesg | sed -n 's/.*kmemleak: \([0-9]*\) new suspected memory leaks.*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	check "the kernel log's kmemleak reports add up to those ($suspected)" [ "$suspected" = "$(wc -l </tmp/leaked)" ]
	head -n 40 /tmp/kmemleak | diag
else
	missing "kmemleak is not available ($KMEMLEAK)" \
		"kmemleak reports exactly the leaked objects, by address" \
		"kmemleak's size of each is its requested or allocated size" \
		"kmemleak lists nothing else (every report is one of those)" \
		"the kernel log's kmemleak reports add up to those"
fi
dmesg >/tmp/dmesg
check "KASAN is on (generic)" grep -q 'KernelAddressSanitizer initialized (generic)' /tmp/dmesg.boot
if [ "$locks_at_boot" = 1 ]; then
	check "lockdep is on and found nothing (debug_locks: 1)" grep -Eq 'debug_locks: +1' /proc/lockdep_stats
else
	skip "lockdep is on and found nothing" "lockdep was off before insmod (the kernel's own report turned it off)"
fi
judge_reports /tmp/dmesg.boot /tmp/dmesg
for f in /tmp/dmesg.boot /tmp/dmesg; do
	grep -E -B2 -A20 "$REPORT_PATTERN" "$f" | head -n 80 | diag
done
note "module log lines: $(grep -c kmalloc_lkm /tmp/dmesg), e.g.:"
grep kmalloc_lkm /tmp/dmesg | head -n 4 | diag

ktap_done
status=$?
echo "GUEST-RESULT: $ktap_pass passed, $ktap_fail failed, $ktap_skip skipped"
exit "$status"
