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
#   - the external tracker path works (per-pid bpftrace and strace -p)
#   - a kernel CSV is merged into DATA.csv's kmalloc column
#   - plot.sh writes both PNGs, overhead.sh writes its table
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed" at the
# end; exits non-zero on any failure. Needs root (bpftrace); installs
# bpftrace, strace, gnuplot and hyperfine when missing.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
repo=$(cd "$scripts/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...
	local d="$1"
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

if [ "$(id -u)" -ne 0 ]; then
	not_ok "running as root (bpftrace needs it)"
	finish || exit 1
fi

# --- what the test needs --------------------------------------------------------
# An install that fails shows below as a tool that is not installed.
(need_pkgs bpftrace strace gnuplot-nox hyperfine) || true
have() { command -v "$1" >/dev/null 2>&1; }
for tool in bpftrace strace gnuplot hyperfine; do
	check "$tool is installed" have "$tool"
done

bins=("$repo/target/release/malloc-wl" "$repo/target/release/bytearray-wl")
if [ ! -x "${bins[0]}" ] || [ ! -x "${bins[1]}" ]; then
	echo "# building the workloads (cargo build --release)"
	(cd "$repo" && cargo build --release --quiet) || true
fi
check "workload binaries are built" test -x "${bins[0]}" -a -x "${bins[1]}"
if [ "$failed" -ne 0 ]; then finish || exit 1; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sweep-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

sizes="1,4KiB,256KiB,1MiB,64MiB"
header="Size of Allocation (Bytes),Malloc Workload Userspace (Bytes),Bytearray Workload Userspace (Bytes),Kmalloc Workload Kernelspace (Bytes)"

# cell FILE ROW_KEY COLUMN -> field COLUMN of the row whose first field is ROW_KEY
cell() { awk -F, -v k="$2" -v c="$3" '$1 == k { print $c; exit }' "$1"; }
# err_cell FILE WORKLOAD SIZE COLUMN -> field of errors.csv
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

if "$scripts/sweep.sh" -c "sleep 5" --ready-timeout 1 -w malloc-wl -s 1 -r 1 -o "$work/ext-bad" -q 2>/dev/null; then
	not_ok "a tracker that never gets ready makes the sweep fail"
else
	check "a tracker that never gets ready makes the sweep fail, leaving no DATA.csv" test ! -e "$work/ext-bad/DATA.csv"
fi

# --- kernel CSV merge -------------------------------------------------------------------
printf 'size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events\n32,1,32,32,1,1\n32,2,64,32,1,2\n32,3,32,32,1,1\n4194304,1,4194304,4194304,1,1\n' >"$work/kernel.csv"
if "$scripts/sweep.sh" -t none -w malloc-wl -s 1,32 -r 1 -k "$work/kernel.csv" -o "$work/kern" -q 2>/dev/null; then
	check "kernel CSV: median of the repetitions lands in the kmalloc column (32 -> 32)" \
		test "$(cell "$work/kern/DATA.csv" 32 4)" = 32
	check "kernel CSV: sizes only in the kernel CSV get a row (4194304)" \
		test "$(cell "$work/kern/DATA.csv" 4194304 4)" = 4194304
	check "kernel CSV: no kmalloc value at size 1" test -z "$(cell "$work/kern/DATA.csv" 1 4)"
else
	not_ok "kernel CSV: sweep ran"
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
else
	not_ok "overhead.sh ran"
	sed 's/^/# /' "$work/ovh.err"
fi

finish
