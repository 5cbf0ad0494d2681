#!/usr/bin/env bash
# args-test.sh - how the sweep scripts answer bad arguments and bad environments.
#
# Runs the real scripts (sweep.sh, overhead.sh, report.sh, plot.sh) and checks
# that each refusal is one line on stderr naming the script, with the
# documented exit status (2: usage or setup error, nothing written; 1: the
# sweep ran and failed, its files only in OUT/incomplete-*), and that nothing
# is left outside OUT/incomplete-*. Also the known defects: overhead.sh's
# fallback when a tracker is missing, and report.sh -t strace without
# bpftrace (bpftrace is hidden from PATH for that one).
# Prints KTAP (lib.sh: "ok N - ..." / "not ok N - ..." per check, the plan,
# "# Totals: ..."); exits non-zero on any failure. Needs root (bind mounts, installs
# strace, hyperfine and gnuplot when missing); takes about a minute.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
repo=$(cd "$scripts/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

# KTAP output: ok, not_ok, check and ktap_done are lib.sh's.
ktap_plan "" # the plan at the end: some checks depend on the machine

if [ "$(id -u)" -ne 0 ]; then
	not_ok "running as root"
	ktap_done || exit 1
fi
(need_pkgs strace hyperfine gnuplot-nox) || true
check_workloads_built
if [ "$ktap_fail" -ne 0 ]; then ktap_done || exit 1; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/args-test.XXXXXX")
ro=""
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
	[ -z "$ro" ] || umount "$ro" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# outside_incomplete DIR -> what DIR holds other than incomplete-*/ (nothing: ok)
outside_incomplete() {
	[ -d "$1" ] || return 0
	find "$1" -mindepth 1 -maxdepth 1 ! -name 'incomplete-*'
}

# refuse NAME WANT_STATUS OUT SCRIPT ARGS...: runs SCRIPT ARGS, then checks the
# exit status, one line on stderr starting with "SCRIPT: ", and nothing in
# OUT (status 2) or nothing but OUT/incomplete-*/ (status 1). Leaves the line
# in $line and the seconds taken in $took.
line="" took=0
refuse() {
	local name="$1" want="$2" out="$3" script="$4" rc=0 start lines extra
	shift 4
	start=$EPOCHREALTIME
	timeout 120 "$scripts/$script" "$@" >"$work/stdout" 2>"$work/stderr" </dev/null || rc=$?
	took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	lines=$(wc -l <"$work/stderr")
	line=$(head -n 1 "$work/stderr")
	if [ "$rc" -eq "$want" ] && [ "$lines" -eq 1 ] && [[ "$line" == "$script: "* ]]; then
		ok "$script $name: exit $rc, one line: $line"
	else
		not_ok "$script $name: exit $rc (want $want), $lines lines on stderr (want 1 starting '$script: ')"
		sed 's/^/#   /' "$work/stderr" | head -n 20
	fi
	if [ -n "$out" ]; then
		if [ "$want" -eq 2 ]; then
			extra=$( [ ! -d "$out" ] || find "$out" -mindepth 1 )
			check "$script $name: nothing written in $out" test -z "$extra"
		else
			extra=$(outside_incomplete "$out")
			check "$script $name: nothing outside $out/incomplete-*" test -z "$extra"
		fi
	fi
}

# --- sweep.sh: usage errors (exit 2, nothing written) -----------------------------
n=0
sweep_refuses() { # sweep_refuses NAME ARGS...: after a valid, quick sweep's options
	local name="$1"
	shift
	n=$((n + 1))
	refuse "$name" 2 "$work/out$n" sweep.sh -t none -w malloc-wl -s 1 -r 1 -q -o "$work/out$n" "$@"
}
sweep_refuses "-s 0" -s 0
sweep_refuses "-s abc" -s abc
sweep_refuses "-s 1.5KiB" -s 1.5KiB
sweep_refuses "-s 1,-1" -s 1,-1
sweep_refuses "-s 1e3" -s 1e3
sweep_refuses "-s pow2:0..99" -s pow2:0..99
sweep_refuses "-r 0" -r 0
sweep_refuses "-r -1" -r -1
sweep_refuses "-r x" -r x
sweep_refuses "-t nosuch" -t nosuch
sweep_refuses "-w nosuch" -w nosuch
sweep_refuses "--ready-timeout 0" --ready-timeout 0
sweep_refuses "-c without {pid} or {cmd}" -c true
sweep_refuses "-c with both {pid} and {cmd}" -c 'x {pid} {cmd}'
sweep_refuses "-k missing file" -k "$work/nosuch.csv"
sweep_refuses "--bin-dir without binaries" --bin-dir "$work"
sweep_refuses "unknown option" --nosuch
sweep_refuses "missing value of -s" -s
sweep_refuses "missing value of -o" -o
sweep_refuses "-c then -t strace" -c true -t strace
refuse "-o /proc/nope" 2 "" sweep.sh -t none -w malloc-wl -s 1 -r 1 -q -o /proc/nope
refuse "-o /dev/null/x" 2 "" sweep.sh -t none -w malloc-wl -s 1 -r 1 -q -o /dev/null/x
mkdir -p "$work/ro"
if mount --bind -o ro "$work/ro" "$work/ro" 2>/dev/null; then
	ro="$work/ro"
	refuse "-o a read-only folder" 2 "$work/ro" sweep.sh -t none -w malloc-wl -s 1 -r 1 -q -o "$work/ro"
	refuse "-o under a read-only folder" 2 "$work/ro" sweep.sh -t none -w malloc-wl -s 1 -r 1 -q -o "$work/ro/sub"
	umount "$work/ro"
	ro=""
else
	skip "sweep.sh -o a read-only folder" "no read-only bind mount here (mount --bind -o ro failed)"
fi

# --- sweep.sh: sizes are what the workloads make of them ------------------------------
if "$scripts/sweep.sh" -t none -w malloc-wl -s '4KIB, 2k,1mib' -r 1 -q -o "$work/units" 2>"$work/stderr"; then
	check "sweep.sh -s '4KIB, 2k,1mib' gives rows 2000 4096 1048576, as the workloads read them" \
		test "$(awk -F, 'NR > 1 { printf "%s ", $1 }' "$work/units/DATA.csv")" = "2000 4096 1048576 "
else
	not_ok "sweep.sh -s '4KIB, 2k,1mib' runs"
	sed 's/^/#   /' "$work/stderr"
fi

# --- sweep.sh: runs that fail (exit 1, files only in incomplete-*) ---------------------
out="$work/ext"
refuse "-c 'exit 3' (a tracker that exits at once)" 1 "$out" \
	sweep.sh -c 'echo broken {pid} >&2; exit 3' --ready-timeout 20 -w malloc-wl -s 1 -r 1 -q -o "$out"
check "sweep.sh: the line names the tracker's exit status 3" grep -q 'status 3' <<<"$line"
check "sweep.sh: the line says what the tracker printed last" grep -q 'broken' <<<"$line"
check "sweep.sh: it failed at once, not after the ready timeout (${took} s < 20 s)" awk -v t="$took" 'BEGIN { exit !(t < 10) }'
inc=("$out"/incomplete-*)
check "sweep.sh: one incomplete-* folder, with INCOMPLETE and runs.csv" \
	test "${#inc[@]}" -eq 1 -a -f "${inc[0]}/INCOMPLETE" -a -f "${inc[0]}/runs.csv"
check "sweep.sh: INCOMPLETE gives the reason" grep -q 'status 3' "${inc[0]}/INCOMPLETE"
check "sweep.sh: the workload the tracker was for is gone" \
	test -z "$(pgrep -f "malloc-wl --json --wait --hold inf 1$" || true)"

refuse "-c 'sleep 30' --ready-timeout 1 (a tracker that never gets ready)" 1 "$out" \
	sweep.sh -c 'sleep 30 # {pid}' --ready-timeout 1 -w malloc-wl -s 1 -r 1 -q -o "$out"
check "sweep.sh: the line says the ready timeout ran out" grep -q 'within 1 s' <<<"$line"
check "sweep.sh: gave up after about 1 s ($took s)" awk -v t="$took" 'BEGIN { exit !(t < 10) }'

# bpftrace that will not start (a bad environment variable): one line, exit 1
if command -v bpftrace >/dev/null 2>&1; then
	BPFTRACE_MAP_KEYS_MAX=x refuse "with bpftrace failing at start" 1 "$work/bpf" \
		sweep.sh -w malloc-wl -s 1 -r 1 -q -o "$work/bpf"
	check "sweep.sh: the line names bpftrace's exit status and error" grep -q 'bpftrace memtrack.bt exited with status [1-9].*ERROR' <<<"$line"
else
	skip "sweep.sh with bpftrace failing at start" "bpftrace is not installed"
fi

# A run that fails: a line for the run, then the sweep's one line; exit 1.
rc=0
"$scripts/sweep.sh" -t none -a --nosuch -w malloc-wl -s 1 -r 1 -q -o "$out" 2>"$work/stderr" || rc=$?
line=$(tail -n 1 "$work/stderr")
check "sweep.sh -a --nosuch (every run fails): exit 1 ($rc)" test "$rc" -eq 1
check "sweep.sh -a --nosuch: a line per failed run and one for the sweep, each 'sweep.sh: '" \
	test "$(wc -l <"$work/stderr")" -eq 2 -a "$(grep -c '^sweep.sh: ' "$work/stderr")" -eq 2
check "sweep.sh -a --nosuch: nothing outside $out/incomplete-*" test -z "$(outside_incomplete "$out")"
# failed sweeps in the same second get a folder each
inc=("$out"/incomplete-*)
check "sweep.sh: three failed sweeps left three incomplete-* folders, none inside another" \
	test "${#inc[@]}" -eq 3 -a "$(find "$out" -mindepth 2 -type d -name "incomplete-*" | wc -l)" -eq 0
check "sweep.sh: the line counts the failed runs" grep -q '1 of 1 runs failed' <<<"$line"
partial=""
for d in "${inc[@]}"; do [ ! -f "$d/DATA.csv" ] || partial="$d"; done
check "sweep.sh: the sweep whose runs failed left its DATA.csv in incomplete-*" test -n "$partial"

# --- overhead.sh -----------------------------------------------------------------------
n=0
overhead_refuses() {
	local name="$1"
	shift
	n=$((n + 1))
	refuse "$name" 2 "$work/ovh$n" overhead.sh -t strace -w malloc-wl -s 1 -n 1 --warmup 0 -o "$work/ovh$n" "$@"
}
overhead_refuses "-s 0" -s 0
overhead_refuses "-s 1.5KiB" -s 1.5KiB
overhead_refuses "-n 0" -n 0
overhead_refuses "-n x" -n x
overhead_refuses "--warmup -1" --warmup -1
overhead_refuses "-t nosuch" -t nosuch
overhead_refuses "-w nosuch" -w nosuch
overhead_refuses "unknown option" --nosuch
overhead_refuses "missing value of -n" -n
refuse "-o /proc/nope" 2 "" overhead.sh -t strace -w malloc-wl -s 1 -n 1 --warmup 0 -o /proc/nope

# hide_from_path TOOL -> a PATH without TOOL (/usr/bin as links, but TOOL)
hide_from_path() {
	local farm="$work/path-without-$1"
	mkdir -p "$farm"
	cp -s /usr/bin/* "$farm/" 2>/dev/null || true
	rm -f "$farm/$1"
	echo "$farm:/usr/local/sbin:/usr/local/bin:/usr/sbin"
}
# The fallback for a missing tracker installs it (need_pkgs); when it is
# installed but still not on PATH, that is one line and exit 2, not exit 127.
nostrace=$(hide_from_path strace)
if PATH="$nostrace" command -v strace >/dev/null; then
	not_ok "strace hidden from PATH"
else
	PATH="$nostrace" refuse "-t strace with strace missing from PATH" 2 "$work/ovh-nostrace" \
		overhead.sh -t strace -w malloc-wl -s 1 -n 1 --warmup 0 -o "$work/ovh-nostrace"
	check "overhead.sh: the line says strace is missing" grep -q 'strace is not on PATH' <<<"$line"
fi

# --- report.sh -------------------------------------------------------------------------
n=0
report_refuses() {
	local name="$1"
	shift
	n=$((n + 1))
	refuse "$name" 2 "$work/rep$n" report.sh --no-vm -o "$work/rep$n" "$@"
}
report_refuses "-t nosuch" -t nosuch
report_refuses "-r 0" -r 0
report_refuses "-r x" -r x
report_refuses "unknown option" --nosuch
report_refuses "missing value of -t" -t
refuse "-o /proc/nope" 2 "" report.sh --no-vm -o /proc/nope

# report.sh -t strace needs no bpftrace: bpftrace is hidden from PATH
nobpf=$(hide_from_path bpftrace)
if PATH="$nobpf" command -v bpftrace >/dev/null; then
	not_ok "bpftrace hidden from PATH"
elif PATH="$nobpf" "$scripts/report.sh" --no-vm -t strace -r 1 -o "$work/rep-strace" >"$work/stdout" 2>"$work/stderr"; then
	ok "report.sh --no-vm -t strace ran without bpftrace"
	check "report.sh -t strace: DATA.csv from the strace sweep" \
		grep -qx 'tracker=strace' "$work/rep-strace/meta.txt"
	check "report.sh -t strace: overhead measured for strace only" \
		test "$(awk -F, 'NR > 1 { print $3 }' "$work/rep-strace/overhead.csv" | sort -u)" = strace
	check "report.sh -t strace: both plots" test -s "$work/rep-strace/tracked.png" -a -s "$work/rep-strace/error.png"
else
	not_ok "report.sh --no-vm -t strace ran without bpftrace"
	tail -n 5 "$work/stderr" | sed 's/^/#   /'
fi

# --- plot.sh ---------------------------------------------------------------------------
refuse "unknown option" 2 "" plot.sh --nosuch
refuse "two folders" 2 "" plot.sh "$work/units" "$work/units"
refuse "a folder without DATA.csv" 2 "" plot.sh "$work"
refuse "an incomplete sweep" 2 "" plot.sh "${partial:-$work}"

# --- paths.sh ----------------------------------------------------------------------------
refuse "unknown option" 2 "" paths.sh --nosuch
refuse "-s 0" 2 "" paths.sh -s 0
refuse "a list that is not there" 2 "" paths.sh -l "$work/no-such-list"
printf 'malloc-wl --fn nosuch\n' >"$work/bad-list"
refuse "a run that fails" 1 "" paths.sh -l "$work/bad-list"
if "$scripts/paths.sh" -s 16KiB >"$work/paths.md" 2>"$work/stderr"; then
	want=$(grep -cv '^#' "$scripts/paths/list")
	check "paths.sh: one row per run of its list ($want)" \
		test "$(grep -c '^| `' "$work/paths.md")" -eq "$want"
	# shellcheck disable=SC2016 # the backquotes are Markdown's
	check "paths.sh: malloc-wl 16KiB is one malloc of 16384 and its free" \
		grep -q '^| `malloc-wl` | malloc | malloc, free | 1 call(s), 16384 B, 1 free(s) |' "$work/paths.md"
else
	not_ok "paths.sh -s 16KiB ran"
	sed 's/^/#   /' "$work/stderr"
fi

# --- the exit statuses are documented ------------------------------------------------------
for s in sweep.sh overhead.sh report.sh plot.sh paths.sh; do
	check "$s --help documents exit status 2" grep -qi 'exit status' <("$scripts/$s" --help)
done
check "docs/trackers.md documents sweep.sh's exit statuses" grep -q 'OUT/incomplete-' "$repo/docs/trackers.md"

ktap_done
