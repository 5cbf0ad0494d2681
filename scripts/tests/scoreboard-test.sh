#!/usr/bin/env bash
# scoreboard-test.sh - the tracker scoreboard on a few paths, held to the
# expected classes.
#
# Runs scripts/scoreboard.sh on seven paths of scripts/scoreboard/paths.tsv
# (malloc-wl 256 KiB: glibc's mmap; its --fork: the child's calls;
# bytearray-wl 4096: a heap block; mmap-wl --mode fixed: the overlay counted
# twice; shm-wl sysv-same-key: the second shmget; and two that MemTracker's
# rules make phantoms of: the static, non-PIE malloc-wl 1, whose first brk
# counts from 0, and mmap-wl --mode fail-eexist, a failed mmap), 3 runs a
# cell, under every tracker that paths.tsv runs on them and the example
# tracker of the contract (scripts/trackers/examples/malloc-calls.bt) through
# --tracker, as a user adds one, twice: by {pid} and started with {cmd}. Then
# it checks each cell's class and figure against
# scripts/scoreboard/expected/TOOL-VERSION.csv: a class or figure that
# differs (runs that disagree make an "unstable" cell), or a tool version
# without a file, fails (a new tracker version shows up as a diff; accept it
# with `wlreport scoreboard expected --csv results/scoreboard/scoreboard.csv
# --out scripts/scoreboard/expected` after a full scripts/scoreboard.sh). A
# tracker that cannot run here fails, with the reason, unless the list below
# allows it (then a SKIP with the reason, never a pass); a cell of the
# subset's paths gone from the table fails.
# Prints KTAP (lib.sh); exits non-zero on any failure. Needs root; installs
# the trackers when missing (through scoreboard.sh); takes under 3 minutes.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

ktap_plan "" # the plan at the end: the cells depend on the tools that can run

if [ "$(id -u)" -ne 0 ]; then
	not_ok "running as root (bpftrace, bcc and the installs need it)"
	ktap_done || exit 1
fi
check_workloads_built
need_wlreport
if [ "$ktap_fail" -ne 0 ]; then ktap_done || exit 1; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/scoreboard-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

subset="malloc-256KiB fork-256KiB bytearray-4KiB mmap-fixed shm-sysv-same-key malloc-1-nonpie mmap-fail-eexist"
for p in $subset; do
	awk -F'\t' -v p="$p" '$1 == p' "$scripts/scoreboard/paths.tsv"
done >"$work/paths.tsv"
check "the subset's paths are in paths.tsv" test "$(wc -l <"$work/paths.tsv")" -eq 7

# The judge's own refusals: a bad --tracker, and a tracker that cannot run,
# which fails the scoreboard unless allowed to be skipped.
awk -F'\t' '$1 == "malloc-1"' "$scripts/scoreboard/paths.tsv" >"$work/one.tsv"
sb_rc() { "$scripts/scoreboard.sh" -p "$work/one.tsv" -r 1 -o "$work/judge" "$@" >/dev/null 2>"$work/judge.err" && echo 0 || echo $?; }
check "--tracker without {pid} or {cmd} is a usage error (exit 2)" test "$(sb_rc --tracker 'x:calls=prog')" = 2
check "--tracker with both {pid} and {cmd} is a usage error (exit 2)" test "$(sb_rc --tracker 'x:calls=prog {pid} {cmd}')" = 2
check "a --tracker of another kind is a usage error (exit 2)" test "$(sb_rc --tracker 'x:bytes=prog {pid}')" = 2
check "a tracker that cannot run fails the scoreboard (exit 1)" \
	test "$(sb_rc -t x --tracker 'x:calls=no-such-program {pid}')" = 1
check "... naming it and why" grep -q 'x cannot run here: no-such-program is not installed' "$work/judge.err"
check "... unless allowed: --allow-skip x" \
	test "$(sb_rc -t x --tracker 'x:calls=no-such-program {pid}' --allow-skip x)" = 0

start=$SECONDS
rc=0
example="calls-bt:calls=bpftrace -B line $scripts/trackers/examples/malloc-calls.bt {pid}"
# the same script started by a command that starts the workload ({cmd})
example_cmd="calls-cmd:calls=sh -c '{cmd} & exec bpftrace -B line $scripts/trackers/examples/malloc-calls.bt \$!'"
# Every tracker must run here but heaptrack -p: gdb 13 cannot call a function
# in a running process on processors with AMX state (this machine's), and the
# runner says so (raw/heaptrack-p/SKIPPED).
allowed=(heaptrack-p)
skip_args=()
for t in "${allowed[@]}"; do skip_args+=(--allow-skip "$t"); done
"$scripts/scoreboard.sh" -p "$work/paths.tsv" -r 3 -o "$work/out" --tracker "$example" --tracker "$example_cmd" \
	"${skip_args[@]}" >"$work/stdout" 2>"$work/stderr" || rc=$?
if ((rc == 0)); then
	ok "scoreboard.sh ran ($((SECONDS - start)) s)"
else
	not_ok "scoreboard.sh ran (exit $rc): $(last_line "$work/stderr")"
	sed 's/^/# /' "$work/stderr"
fi
for f in scoreboard.csv scoreboard.md scoreboard.png; do
	check "scoreboard.sh wrote $f" test -s "$work/out/$f"
done
check "scoreboard.sh printed the table it wrote" cmp -s "$work/stdout" "$work/out/scoreboard.md"
if [ ! -s "$work/out/scoreboard.csv" ]; then ktap_done || exit 1; fi

# A tracker that could not run: a failure with the reason, unless allowed
# above (then a SKIP with the reason: never a pass).
cannot() {
	local t=$1 why=$2
	echo "# $t cannot run here: $why"
	if printf '%s\n' "${allowed[@]}" | grep -qxF "$t"; then
		skip "$t: every cell has its expected class" "$t cannot run here (allowed): $why"
	else
		not_ok "$t runs here: $why"
	fi
}
while IFS=$'\t' read -r tool dash why; do
	[ "$dash" = - ] || continue
	while read -r t; do
		cannot "$t" "$why"
	done < <(awk -F'\t' -v tool="$tool" '$2 == tool { print $1 }' "$work/out/trackers.tsv")
done <"$work/out/versions.tsv"
for f in "$work"/out/raw/*/SKIPPED; do
	[ -e "$f" ] || continue
	cannot "$(basename "$(dirname "$f")")" "$(<"$f")"
done

for t in calls-bt calls-cmd; do
	check "the tracker of the contract $t has a row" grep -q "^| $t | exact |" "$work/out/scoreboard.md"
done
"$WLREPORT" scoreboard check --defs "$work/out/trackers.tsv" --csv "$work/out/scoreboard.csv" \
	--expected "$scripts/scoreboard/expected" >"$work/check" ||
	not_ok "wlreport scoreboard check ran"
# explain TRACKER PATH: what a differing cell's runs read and did, as
# comments, so that a failure says which run differed and how.
explain() {
	local f
	grep "^$2,$1," "$work/out/scoreboard.csv" | sed 's/^/# row: /'
	for f in "$work/out/raw/$1/$2".*.raw; do
		[ -e "$f" ] || continue
		echo "# ${f##*/}: $(awk '/^@@ /{s=$2; next} s=="tracker" && NF' "$f" | tail -n 3 | paste -sd'|')"
		echo "#   ledger: $(grep -o '"call":"[a-z_]*"\|"mapped_bytes":-\?[0-9]*\|"heap_bytes":-\?[0-9]*' "$f" | cut -d: -f2 | paste -sd' ')"
	done
}
while IFS=$'\t' read -r what tv tracker path got expected; do
	case "$what" in
	same) ok "$tracker $path: $got, as expected for $tv" ;;
	differs)
		not_ok "$tracker $path: $got, expected $expected for $tv"
		explain "$tracker" "$path"
		;;
	new) not_ok "$tracker $path: $got, but $tv.csv has no class for it" ;;
	no-file) not_ok "$tv: no expected classes (scripts/scoreboard/expected/$tv.csv; a new version?)" ;;
	gone)
		# the subset leaves most paths out; a cell of its own paths missing
		# from the table (not skipped: gone) fails
		if [[ " $subset " == *" $path "* ]] && ! grep -q "^$path,$tracker," "$work/out/scoreboard.csv"; then
			not_ok "$tracker $path: in $tv.csv, but gone from the scoreboard"
		fi
		;;
	esac
done <"$work/check"

ktap_done
