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
# Prints `ok - ...` / `not ok - ...` per check and `GUEST-RESULT: N passed,
# M failed`; exits 1 when a check failed.
# Expects kmalloc_lkm.ko in /bin; uses /bin/kmalloc-test, kmalloc-stress and
# stall-reader (scripts/kernel/stall-reader.c) when present.

# `load` also gets arguments through `check`, which shellcheck does not follow.
# shellcheck disable=SC2119,SC2120

KO=/bin/kmalloc_lkm.ko
PROC=/proc/kmalloc_lkm
KMEMLEAK=/sys/kernel/debug/kmemleak
# shellcheck source=scripts/kernel/guest-lib.sh
. /bin/guest-lib.sh
# The module allocates through the kernel crate's KVec<u8, Kmalloc>: the call
# site of its kmem:kmalloc events is that (mangled) Rust function.
mod_site='call_site=_RN[^ ]*kvec[^ ]*Kmalloc'

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
	d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
note() { echo "# $*"; }

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
# the already open FD, with one write(2) by dd, and prints OK, EINVAL, ENOMEM
# or OTHER(message). (The shell's own echo/printf do not report the errno.)
write_err() {
	if [ $# -ge 2 ]; then
		out=$(printf '%s' "$1" | dd bs=64 count=1 2>&1 >&"$2")
	else
		out=$(printf '%s' "$1" | dd of="$PROC" bs=64 count=1 2>&1)
	fi
	case "$out" in
	*"Invalid argument"*) echo EINVAL ;;
	*"Cannot allocate memory"* | *"Out of memory"*) echo ENOMEM ;;
	*"error"*) echo "OTHER($out)" ;;
	*) echo OK ;;
	esac
}

echo "# kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus"
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
			grep -E " kmalloc: .*bytes_req=$size " /tmp/trace.pid | head -n 20
		fi
		size=$((size * 2))
	done
	note "raw_kmalloc_events_of_ptr is 2 above KMALLOC_MAX_CACHE_SIZE (8 KiB): this kernel traces one large kmalloc twice, with the same ptr"
	echo 0 >"$T/events/kmem/kmalloc/enable"
	echo 0 >"$T/events/kmem/kfree/enable"
	echo >"$T/trace"
	echo 1408 >"$T/buffer_size_kb"
else
	not_ok "the kmem:kmalloc event is in $T/events (CONFIG_TRACING)"
fi

# --- 3. a held allocation is listed ----------------------------------------------
exec 3>"$PROC"
echo 4096 >&3
check "a write of 4096 on an open fd is listed with pid, comm sh, 4096 4096" \
	grep -q "^$$ $$ sh 4096 4096\$" "$PROC"
check "the total counts it" [ "$(total_field requested)" = 4096 ]
echo 5000 >&3
check "a second write replaces it (5000 requested, 8192 allocated)" \
	sh -c "grep -q '^$$ $$ sh 5000 8192\$' $PROC && [ \"\$(grep -c '^[0-9]' $PROC)\" = 1 ]"
exec 3>&-
check "closing the fd frees it" live_zero
"$KT" --hold 3s 65536 &
ktpid=$!
sleep 1
check "kmalloc-test --hold 3s 65536 is listed (65536 65536)" \
	grep -q "^$ktpid $ktpid kmalloc-test 65536 65536\$" "$PROC"
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
check "EINVAL keeps the fd's previous allocation" grep -q "^$$ $$ sh 4096 4096\$" "$PROC"
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
note "$(cat /tmp/kt.out)"
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
"$KT" 4096 >/tmp/kt.out 2>&1
rc=$?
check "kmalloc-test without the module exits 4 with one line" \
	sh -c "[ $rc = 4 ] && [ \"\$(wc -l </tmp/kt.out)\" = 1 ] && grep -q kmalloc_lkm /tmp/kt.out"
note "$(cat /tmp/kt.out)"

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
	note "$(cat /tmp/kt.out)"
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
	note "$(cat /tmp/kt.out)"
	check "fail_page_alloc: exactly one allocation was failed (times left $(times_left fail_page_alloc))" \
		[ "$(times_left fail_page_alloc)" = 0 ]
	check "fail_page_alloc: nothing is held afterwards" live_zero
	fi_disarm fail_page_alloc
	echo 1 >"$FI/fail_page_alloc/min-order"
	check "fail_page_alloc off: kmalloc-test 65536 with make-it-fail works again" failing "$KT" 65536
	note "injected failures in the kernel log: $(dmesg | grep -c 'FAULT_INJECTION: forcing a failure')"
else
	not_ok "fault injection is available ($FI/failslab, $FI/fail_page_alloc, module address '$mod_start')"
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
	check "nothing is left after it" live_zero
else
	not_ok "stall-reader is in the guest"
fi
unload

# --- 7. stress: many processes at once ------------------------------------------
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
# Threads: 8 with files of their own, 4 on one shared file.
kmalloc-stress --threads 8 --shared 4 --ops 300 >/tmp/threads.log 2>&1 &
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
check "stress: every write and kmalloc-test run succeeded ($bad failed writes, $failed_jobs failed jobs)" \
	[ "$bad.$failed_jobs" = 0.0 ]
check "stress: zero live bytes afterwards" live_zero

# --- 8. rmmod while files are open ----------------------------------------------
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
want=4
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
	check "trace: each of the $n held allocations is kfree'd by rmmod ($freed)" [ "$n.$freed" = "$want.$want" ]
fi
for p in $pids; do kill "$p" 2>/dev/null; done
for p in $pids; do wait "$p" 2>/dev/null; done
check "insmod again after that" load
check "listing is empty" live_zero
unload

# --- 9. kernel log: KASAN, kmemleak, lockdep, warnings --------------------------
if [ -w "$KMEMLEAK" ]; then
	sleep 6 # kmemleak reports objects older than 5 s
	echo scan >"$KMEMLEAK"
	echo scan >"$KMEMLEAK"
	cat "$KMEMLEAK" >/tmp/kmemleak
	check "kmemleak finds no leak" [ ! -s /tmp/kmemleak ]
	head -n 40 /tmp/kmemleak
else
	not_ok "kmemleak is not available ($KMEMLEAK)"
fi
dmesg >/tmp/dmesg
check "KASAN is on (generic)" grep -q 'KernelAddressSanitizer initialized (generic)' /tmp/dmesg
check "lockdep is on and found nothing (debug_locks: 1)" grep -Eq 'debug_locks: +1' /proc/lockdep_stats
pattern='KASAN|kmemleak: [0-9]+ new suspected|possible recursive locking|circular locking|INFO:|WARNING:|BUG:|Oops|Call Trace|general protection|refcount_t|UBSAN'
check "dmesg has no KASAN/kmemleak/lockdep/WARNING/BUG/Oops report" sh -c "! grep -Eq '$pattern' /tmp/dmesg"
grep -E -B2 -A20 "$pattern" /tmp/dmesg | head -n 80
note "module log lines: $(grep -c kmalloc_lkm /tmp/dmesg), e.g.:"
grep kmalloc_lkm /tmp/dmesg | head -n 4

echo "GUEST-RESULT: $pass passed, $fail failed"
[ "$fail" = 0 ]
