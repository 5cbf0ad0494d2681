#!/usr/bin/env bash
# sweep-test.sh - end-to-end check of the trackers and the sweep harness.
#
# A short sweep (sizes 1, 4KiB, 256KiB, 1MiB, 64MiB; 3 repetitions) of
# malloc-wl and bytearray-wl under the bpftrace tracker and under the strace
# tracker, then:
#   - DATA.csv, runs.csv and errors.csv have the expected header and shape
#   - from 256 KiB up, tracked(size) - tracked(1) is exactly glibc's mmap for
#     that request: malloc(n) with n >= 128 KiB maps n + 8 (size field) +
#     alignment, rounded up to the page, i.e. SIZE + 4096 for these sizes
#     (262144 -> 266240), for malloc-wl (n = SIZE) and bytearray-wl
#     (n = SIZE + 1) alike
#   - the repetitions agree, and the two trackers agree to the byte
#   - a tracker of the contract works through -c (per-pid bpftrace and
#     strace -p with {pid}, bpftrace starting the workload with {cmd})
#   - under the heap tracker (heap.bt) the malloc column is exactly the
#     bytes asked of malloc (SIZE, SIZE + 1), every error 0
#   - the error against what was asked: 4096 bytes for malloc-wl, 4095 for
#     bytearray-wl (it asks for SIZE + 1), as docs/workloads.md says
#   - runs.csv has wlreport's schema; kmalloc_events/kmalloc_ptrs are the
#     process's in every row, the module's own events and pointers (from a
#     kernel CSV) have columns of their own
#   - a kernel CSV is merged into DATA.csv's kmalloc column
#   - plot.sh writes both PNGs, overhead.sh writes its table
# Prints KTAP (lib.sh: "ok N - ..." / "not ok N - ..." per check, the plan,
# "# Totals: ..."); exits non-zero on any failure. Needs root (bpftrace); installs
# bpftrace, strace, gnuplot and hyperfine when missing.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

# KTAP output: ok, not_ok, check and ktap_done are lib.sh's.
ktap_plan 111

if [ "$(id -u)" -ne 0 ]; then
	not_ok "running as root (bpftrace needs it)"
	ktap_done || exit 1
fi

# --- what the test needs --------------------------------------------------------
# An install that fails shows below as a tool that is not installed.
(need_pkgs bpftrace strace gnuplot-nox hyperfine) || true
have() { command -v "$1" >/dev/null 2>&1; }
for tool in bpftrace strace gnuplot hyperfine; do
	check "$tool is installed" have "$tool"
done

check_workloads_built
if [ "$ktap_fail" -ne 0 ]; then ktap_done || exit 1; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sweep-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

sizes="1,4KiB,256KiB,1MiB,64MiB"
runs_header="workload,size,repetition,tracker,figure,tracked_bytes,requested_bytes,allocator_bytes,glibc_mmap_bytes,wall_ns,exit_status,pid,mmap_bytes,brk_bytes,shm_bytes,kernel_bytes,kmalloc_events,kmalloc_ptrs,cache_events,module_kmalloc_events,module_kmalloc_ptrs,repeat,completed,served_by,reported_mmap_bytes,reported_brk_growth_bytes,failed_repeat,error"
header="Size of Allocation (Bytes),Malloc Workload Userspace (Bytes),Bytearray Workload Userspace (Bytes),Kmalloc Workload Kernelspace (Bytes)"

# cell FILE ROW_KEY COLUMN -> field COLUMN of the row whose first field is ROW_KEY
cell() { awk -F, -v k="$2" -v c="$3" '$1 == k { print $c; exit }' "$1"; }
# err_cell FILE WORKLOAD SIZE COLUMN -> field of errors.csv
# runs_col FILE NAME -> the number of runs.csv's column NAME
runs_col() { awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) print i; exit }' "$1"; }
err_cell() { awk -F, -v w="$2" -v s="$3" -v c="$4" '$1 == w && $2 == s { print $c; exit }' "$1"; }

for tracker in bpftrace strace; do
	out="$work/$tracker"
	start=$(date +%s.%N)
	if "$scripts/sweep.sh" -t "$tracker" -s "$sizes" -r 3 -o "$out" -q 2>"$work/$tracker.err"; then
		ok "$tracker: sweep ran ($(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
	else
		not_ok "$tracker: sweep ran"
		sed 's/^/# /' "$work/$tracker.err"
		continue
	fi
	check "$tracker: DATA.csv has the original header" test "$(head -n 1 "$out/DATA.csv")" = "$header"
	check "$tracker: DATA.csv has 5 rows of 4 columns" \
		test "$(awk -F, 'NR > 1 && NF == 4' "$out/DATA.csv" | wc -l)" -eq 5 -a "$(wc -l <"$out/DATA.csv")" -eq 6
	check "$tracker: DATA.csv sizes are 1 4096 262144 1048576 67108864" \
		test "$(awk -F, 'NR > 1 { printf "%s ", $1 }' "$out/DATA.csv")" = "1 4096 262144 1048576 67108864 "
	check "$tracker: DATA.csv kmalloc column is empty" \
		test "$(awk -F, 'NR > 1 && $4 != ""' "$out/DATA.csv" | wc -l)" -eq 0
	check "$tracker: runs.csv has 30 runs, all with exit status 0 and tracked bytes" \
		test "$(awk -F, 'NR > 1 && $11 == "0" && $6 ~ /^[0-9]+$/' "$out/runs.csv" | wc -l)" -eq 30 -a "$(wc -l <"$out/runs.csv")" -eq 31
	check "$tracker: errors.csv has 10 rows" test "$(wc -l <"$out/errors.csv")" -eq 11
	check "$tracker: runs.csv has wlreport's header" test "$(head -n 1 "$out/runs.csv")" = "$runs_header"
	check "$tracker: plan.tsv has the 30 runs wlreport read, a raw file each" \
		test "$(wc -l <"$out/plan.tsv")" -eq 31 -a "$(find "$out/raw" -name '*.raw' | wc -l)" -eq 30
	check "$tracker: every run's wall time is in runs.csv" \
		test "$(awk -F, 'NR > 1 && $10 ~ /^[1-9][0-9]*$/' "$out/runs.csv" | wc -l)" -eq 30
	if [ "$tracker" = bpftrace ]; then
		check "bpftrace: every run has the process's kmalloc events and pointers, no module columns" \
			test "$(awk -F, 'NR > 1 && $17 ~ /^[0-9]+$/ && $18 ~ /^[0-9]+$/ && $18 <= $17 && $20 == "" && $21 == ""' "$out/runs.csv" | wc -l)" -eq 30
	else
		check "strace: no kernel columns" test "$(awk -F, 'NR > 1 && ($16 $17 $18 $19 $20 $21) != ""' "$out/runs.csv" | wc -l)" -eq 0
	fi
	check "$tracker: no partial results left" test ! -e "$out/INCOMPLETE"
	for w in malloc-wl bytearray-wl; do
		col=2
		[ "$w" = bytearray-wl ] && col=3
		base=$(cell "$out/DATA.csv" 1 "$col")
		check "$w/$tracker: baseline (size 1) is positive: $base" test "${base:-0}" -gt 0
		for s in 262144 1048576 67108864; do
			t=$(cell "$out/DATA.csv" "$s" "$col")
			want=$((s + 4096))
			got=$((${t:-0} - ${base:-0}))
			check "$w/$tracker: tracked($s) - tracked(1) = $got == glibc mmap $want" test "$got" -eq "$want"
			check "$w/$tracker: harness's glibc mmap length for $s is $want" \
				test "$(err_cell "$out/errors.csv" "$w" "$s" 13)" = "$want"
			check "$w/$tracker: error vs glibc mmap at $s is 0" \
				test "$(err_cell "$out/errors.csv" "$w" "$s" 14)" = "0"
			want=4096
			[ "$w" = bytearray-wl ] && want=4095
			check "$w/$tracker: error at $s against the bytes asked of malloc is $want" \
				test "$(err_cell "$out/errors.csv" "$w" "$s" 12)" = "$want"
		done
		spread=$(awk -F, -v w="$w" '$1 == w && $7 != $8' "$out/errors.csv" | wc -l)
		check "$w/$tracker: the 3 repetitions agree at every size" test "$spread" -eq 0
	done
done

if [ -f "$work/bpftrace/DATA.csv" ] && [ -f "$work/strace/DATA.csv" ]; then
	check "bpftrace and strace agree to the byte (DATA.csv identical)" \
		cmp -s "$work/bpftrace/DATA.csv" "$work/strace/DATA.csv"
	for w in malloc-wl bytearray-wl; do
		check "bpftrace and strace agree for every run of $w (mmap and brk parts)" \
			test "$(awk -F, -v w="$w" 'NR > 1 && $1 == w { print $2, $6, $13, $14, $15 }' "$work/bpftrace/runs.csv" | sort | uniq | md5sum)" = \
			"$(awk -F, -v w="$w" 'NR > 1 && $1 == w { print $2, $6, $13, $14, $15 }' "$work/strace/runs.csv" | sort | uniq | md5sum)"
	done
fi

# --- external tracker contract ------------------------------------------------------
ext() { # ext NAME CMD
	local name="$1" cmd="$2" out="$work/ext-$1" d
	if "$scripts/sweep.sh" -c "$cmd" -w malloc-wl,bytearray-wl -s 1,1MiB -r 1 -o "$out" -q 2>"$work/ext-$name.err"; then
		ok "external $name: sweep ran"
	else
		not_ok "external $name: sweep ran"
		sed 's/^/# /' "$work/ext-$name.err"
		return 0
	fi
	for w in malloc-wl bytearray-wl; do
		d=$(err_cell "$out/errors.csv" "$w" 1048576 10)
		check "external $name: $w delta at 1 MiB is glibc's mmap 1052672 ($d)" test "$d" = 1052672
	done
}
ext bpftrace "bpftrace -B line $scripts/trackers/memtrack-pid.bt {pid}"
ext strace "$scripts/trackers/strace.sh --pid {pid}"
# {cmd}: the tracker starts the workload (here a shell that then attaches
# bpftrace to it by pid: the workload waits at its --wait line)
ext bpftrace-cmd "sh -c '{cmd} & exec bpftrace -B line $scripts/trackers/memtrack-pid.bt \$!'"

if "$scripts/sweep.sh" -c "sleep 5 # {pid}" --ready-timeout 1 -w malloc-wl -s 1 -r 1 -o "$work/ext-bad" -q 2>/dev/null; then
	not_ok "a tracker that never gets ready makes the sweep fail"
else
	check "a tracker that never gets ready makes the sweep fail, leaving no DATA.csv" test ! -e "$work/ext-bad/DATA.csv"
fi

# --- kernel CSV merge -------------------------------------------------------------------
printf 'size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events\n32,1,32,32,1,1,7,3\n32,2,64,32,1,2,8,3\n32,3,32,32,1,1,7,3\n4194304,1,4194304,4194304,1,2,9,4\n' >"$work/kernel.csv"
if "$scripts/sweep.sh" -t none -w malloc-wl -s 1,32 -r 1 -k "$work/kernel.csv" -o "$work/kern" -q 2>/dev/null; then
	check "kernel CSV: median of the repetitions lands in the kmalloc column (32 -> 32)" \
		test "$(cell "$work/kern/DATA.csv" 32 4)" = 32
	check "kernel CSV: sizes only in the kernel CSV get a row (4194304)" \
		test "$(cell "$work/kern/DATA.csv" 4194304 4)" = 4194304
	check "kernel CSV: no kmalloc value at size 1" test -z "$(cell "$work/kern/DATA.csv" 1 4)"
	r="$work/kern/runs.csv"
	check "kernel CSV: its runs in runs.csv: the process's kmalloc events in kmalloc_events, the module's in module_kmalloc_events/_ptrs" \
		test "$(awk -F, -v e="$(runs_col "$r" kmalloc_events)" -v p="$(runs_col "$r" kmalloc_ptrs)" \
			-v me="$(runs_col "$r" module_kmalloc_events)" -v mp="$(runs_col "$r" module_kmalloc_ptrs)" \
			'$4 == "kernel-csv" { printf "%s/%s/%s/%s ", $e, $p, $me, $mp }' "$r")" = "7//1/1 8//2/1 7//1/1 9//2/1 "
else
	not_ok "kernel CSV: sweep ran"
fi
printf 'size,bytes\n32,1\n' >"$work/kernel-bad.csv"
if "$scripts/sweep.sh" -t none -w malloc-wl -s 1 -r 1 -k "$work/kernel-bad.csv" -o "$work/kern-bad" -q 2>"$work/kern-bad.err"; then
	not_ok "kernel CSV without bytes_alloc_sum: refused before the sweep"
else
	check "kernel CSV without bytes_alloc_sum: refused before the sweep, in one line, nothing written" \
		test "$(wc -l <"$work/kern-bad.err")" -eq 1 -a ! -e "$work/kern-bad/runs.csv"
fi

# --- the heap tracker (uprobes on glibc's malloc family) ------------------------------------
if "$scripts/sweep.sh" -t heap -s 4096,131072,262144 -r 1 -o "$work/heap" -q 2>"$work/heap.err"; then
	ok "a sweep under the heap tracker (heap.bt) succeeds"
	check "heap tracker: DATA.csv holds exactly what each workload asked of malloc" \
		test "$(tail -n +2 "$work/heap/DATA.csv" | tr '\n' ' ')" = "4096,4096,4097, 131072,131072,131073, 262144,262144,262145, "
	# shellcheck disable=SC2016 # an awk program, not shell
	check "heap tracker: every error is 0 (a quiet process makes no call of its own)" \
		awk -F, 'NR > 1 && $12 != 0 { bad = 1 } END { exit bad }' "$work/heap/errors.csv"
else
	not_ok "a sweep under the heap tracker (heap.bt) succeeds: $(tail -n 1 "$work/heap.err")"
fi

# --- plots and overhead ---------------------------------------------------------------------
if [ -f "$work/bpftrace/DATA.csv" ] && "$scripts/plot.sh" "$work/bpftrace" 2>/dev/null; then
	check "plot.sh wrote tracked.png" test -s "$work/bpftrace/tracked.png"
	check "plot.sh wrote error.png" test -s "$work/bpftrace/error.png"
else
	not_ok "plot.sh ran"
fi
if "$scripts/overhead.sh" -w malloc-wl -s 1MiB -n 3 --warmup 1 -o "$work/ovh" >/dev/null 2>"$work/ovh.err"; then
	check "overhead.sh wrote a ratio for bpftrace and strace" \
		test "$(awk -F, 'NR > 1 && $7 > 0 && $10 > 0' "$work/ovh/overhead.csv" | wc -l)" -eq 2
	check "overhead.sh wrote the markdown table" test "$(grep -c '^| malloc-wl' "$work/ovh/overhead.md")" -eq 2
	check "overhead.sh wrote the ratios table: a column per tracker" \
		grep -Eqx '\| malloc-wl \| 1 MiB \| [0-9.]+x \| [0-9.]+x \|' "$work/ovh/overhead-ratios.md"
else
	not_ok "overhead.sh ran"
	sed 's/^/# /' "$work/ovh.err"
fi

ktap_done
