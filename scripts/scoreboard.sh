#!/usr/bin/env bash
# scoreboard.sh - every workload path under every tracker that can run here,
# each cell classed against what the workload did: scoreboard.csv,
# scoreboard.md and a heat map.
#
# Usage: scripts/scoreboard.sh [OPTIONS]
#   -p, --paths FILE     the paths to run (default scripts/scoreboard/paths.tsv:
#                        NAME, WORKLOAD, ARGS, TRACKERS a line)
#   -t, --trackers LIST  only these trackers (names or kinds, as in paths.tsv;
#                        default all)
#   -r, --reps N         runs of each cell (default 3)
#   -o, --out DIR        output folder (default results/scoreboard)
#       --allow-skip NAME
#                        let tracker NAME be skipped (repeatable; all: any):
#                        a tracker that cannot run here is otherwise a failure
#       --tracker NAME:KIND=COMMAND
#                        a tracker of the contract (docs/tracker-contract.md)
#                        as a row of its own: KIND calls, live or mapping;
#                        COMMAND a shell command line with {pid} (attached
#                        to the workload's pid) or {cmd} (it starts the
#                        workload) (repeatable; on every path of paths.tsv
#                        whose TRACKERS take its kind, or "all")
#       --bin-dir DIR    the workload binaries (default target/release, built
#                        when missing); a WORKLOAD named NAME.static is
#                        NAME's static, non-PIE build (cargo build-static)
#   -h, --help           this text
# Trackers: those scripts/trackers/trackers.tsv defines (scripts/trackers/
# run-*.sh run them), and those --tracker adds. What a tool needs is installed
# from Debian when missing (as root; scripts/trackers/tools.tsv); a tool that
# still cannot run is a failure, unless --allow-skip lets it be skipped.
# Writes in OUT: scoreboard.csv (a row a cell), scoreboard.md (the table, also
# printed on stdout), scoreboard.png (the heat map, gnuplot), versions.tsv,
# meta.txt (elapsed time), times.tsv (each tracker's runs and seconds; memleak's
# run beside the others), raw/ (every run's normalized file, by tracker),
# paths.tsv and trackers.tsv (the paths and trackers run), render and made
# (scripts/results.sh publish scoreboard OUT puts the table and its records
# in docs/results/).
# Errors are one line on stderr, "scoreboard.sh: ...". Exit status:
#   0  the scoreboard is made (trackers skipped with --allow-skip are in it,
#      with the reason)
#   1  it is made, but a tracker's runner failed (its cells are "failed"), or
#      a tracker could not run here and was not allowed to be skipped
#   2  usage or setup error, before anything ran: a bad option or paths
#      file, a missing workload binary, an unwritable --out
#   130, 143  interrupted by SIGINT, SIGTERM
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
# shellcheck source=scripts/trackers/defs.sh
. "$here/trackers/defs.sh"

paths="$here/scoreboard/paths.tsv"
trackers=all
reps=3
out="$repo/results/scoreboard"
bin_dir="$repo/target/release"
extra=() allowed=()
while [ $# -gt 0 ]; do
	case "$1" in
	-p|--paths) [ $# -ge 2 ] || die "$1 needs a value"; paths=$2; shift 2 ;;
	-t|--trackers) [ $# -ge 2 ] || die "$1 needs a value"; trackers=$2; shift 2 ;;
	-r|--reps) [ $# -ge 2 ] || die "$1 needs a value"; reps=$2; shift 2 ;;
	-o|--out) [ $# -ge 2 ] || die "$1 needs a value"; out=$2; shift 2 ;;
	--bin-dir) [ $# -ge 2 ] || die "$1 needs a value"; bin_dir=$2; shift 2 ;;
	--tracker) [ $# -ge 2 ] || die "$1 needs a value"; extra+=("$2"); shift 2 ;;
	--allow-skip) [ $# -ge 2 ] || die "$1 needs a value"; allowed+=("$2"); shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option: $1 (see --help)" ;;
	esac
done
[[ "$reps" =~ ^[1-9][0-9]?$ ]] || die "--reps must be a whole number from 1 to 99: $reps"
[ -r "$paths" ] || die "cannot read the paths file: $paths"

# The trackers: the bundled ones, and those of the contract (--tracker), a
# definition each (trackers.tsv's columns), their commands kept apart.
defs=$(mktemp)
trap 'rm -f "$defs"' EXIT
tracker_defs "$defs" "${extra[@]}"

need_wlreport
plan=$("$WLREPORT" scoreboard plan --defs "$defs" --paths "$paths" --reps "$reps" --trackers "$trackers" 2>&1) ||
	{ rm -f "$defs"; die "${plan#wlreport: }"; }
[ -n "$plan" ] || die "no runs: no path of $paths is run under $trackers"

# The workloads the plan names, built when they are the default ones. A name
# ending in .static is that workload's static build (`cargo build-static`), a
# non-PIE executable like `gcc -static` makes.
static_dir="$repo/target/x86_64-unknown-linux-gnu/release"
# bin_of WORKLOAD: the binary's path
bin_of() {
	case "$1" in
	*.static) echo "$static_dir/${1%.static}" ;;
	*) echo "$bin_dir/$1" ;;
	esac
}
mapfile -t workloads < <(cut -f5 <<<"$plan" | sort -u)
for w in "${workloads[@]}"; do
	b=$(bin_of "$w")
	if [ ! -x "$b" ] && [ "$w" != "${w%.static}" ]; then
		say "$b is missing; running cargo build-static"
		(cd "$repo" && cargo build-static --quiet) || die "cargo build-static failed"
	elif [ ! -x "$b" ] && [ "$bin_dir" = "$repo/target/release" ]; then
		say "$b is missing; running cargo build --release"
		(cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
	fi
	[ -x "$b" ] || die "workload binary not found: $b"
done

err=$(mkdir -p -- "$out" 2>&1) || die "cannot create the output folder $out: ${err##*: }"
out=$(cd "$out" && pwd)
[ -w "$out" ] || die "cannot write in $out"
rm -rf "$out/raw"
mkdir -p "$out/raw"
printf 'tracker\truns\tseconds\n' >"$out/times.tsv"
mv "$defs" "$out/trackers.tsv"
contract_commands "$out/raw"
started=$SECONDS

# --- the tools: installed when missing (defs.sh's tool_setup), their versions asked at run time

mapfile -t tracker_list < <(cut -f1 <<<"$plan" | awk '!s[$0]++')
declare -A tool_ok=()
: >"$out/versions.tsv"
for t in "${tracker_list[@]}"; do
	tool=$(tool_of "$t")
	[ -z "${tool_ok[$tool]:-}" ] || continue
	if v=$(tool_setup "$tool" 2>/dev/null); then
		tool_ok[$tool]=1
		printf '%s\t%s\n' "$tool" "$v" >>"$out/versions.tsv"
	else
		tool_ok[$tool]=0
		printf '%s\t-\t%s\n' "$tool" "${v:-cannot run}" >>"$out/versions.tsv"
		say "skipping $tool: ${v:-cannot run}"
	fi
done

# --- the runs ---------------------------------------------------------------------
# run_tracker TRACKER RUNNER MODE: the plan's lines of TRACKER through its
# runner; a runner that fails leaves raw/TRACKER/FAILED with its last line.
failed=0
run_tracker() {
	local t=$1 runner=$2 mode=$3 dir="$out/raw/$1" rc=0 t0=$SECONDS
	mkdir -p "$dir"
	# the plan's lines of t: ID, the binary's path, the arguments
	local tr id w args
	while IFS=$'\t' read -r tr _ _ id w args; do
		if [ "$tr" = "$t" ]; then printf '%s\t%s\t%s\n' "$id" "$(bin_of "$w")" "$args"; fi
	done <<<"$plan" | "$here/trackers/$runner" "$mode" "$dir" 2>"$dir/stderr" || rc=$?
	# what each tracker's runs took, for the time the whole takes
	printf '%s\t%s\t%s\n' "$t" "$(grep -c "^$t	" <<<"$plan")" $((SECONDS - t0)) >>"$out/times.tsv"
	if ((rc != 0)); then
		last_line "$dir/stderr" >"$dir/FAILED"
		say "$t failed (exit $rc): $(<"$dir/FAILED")"
		return 1
	fi
}

# The truth: every path alone, each repetition.
none_plan=$(awk -F'\t' 'BEGIN { OFS = "\t" } !s[$4]++ { $1 = "none"; print }' <<<"$plan")
plan+=$'\n'$none_plan
run_tracker none run-none.sh plain || die "the workloads could not run alone: $(<"$out/raw/none/FAILED")"

# run_lane SPECS: the trackers of SPECS (TRACKER RUNNER MODE lines) in turn;
# 1 when one of them failed.
run_lane() {
	local t runner mode rc=0
	while IFS=$'\t' read -r t runner mode; do
		[ -n "$t" ] || continue
		[ "${tool_ok[$(tool_of "$t")]:-0}" = 1 ] || continue
		say "running $t ($(grep -c "^$t	" <<<"$plan") runs)"
		run_tracker "$t" "$runner" "$mode" || rc=1
	done <<<"$1"
	return "$rc"
}
specs=$(cut -f1-3 <<<"$plan" | awk '!s[$0]++' | grep -v '^none' || true)
# The trackers run in lanes side by side: each follows its own pids, and a
# bpftrace attached by pid spends most of its time waiting for the kernel to
# attach and detach its tracepoints, not on the CPU. Two tracers attaching
# uprobes to glibc at once fail (bpftrace's "Error attaching probe", bcc's
# "Failed to attach BPF to uprobe"), so heap.bt (run-bpftrace.sh heap) runs
# first, alone; then side by side memleak -p and memleak -c (run-memleak.sh:
# uprobes, a few seconds of compiling and of waiting for reports every run,
# the longest lanes; a run whose memleak could not attach is made again),
# memtrack-pid, maps, and the rest, none with uprobes; the trackers of the
# contract, which may use uprobes, last, alone.
of_runner() { awk -F'\t' -v r="$1" -v m="${2:-}" '$2 == r && (m == "" || $3 == m)' <<<"$specs"; }
heap=$(of_runner run-bpftrace.sh heap)
contract=$(of_runner run-contract.sh)
lanes=("$(of_runner run-memleak.sh pid)" "$(of_runner run-memleak.sh cmd)"
	"$(of_runner run-bpftrace.sh memtrack-pid)" "$(of_runner run-bpftrace.sh maps)")
lanes+=("$(grep -vxF -f <(printf '%s\n' "$heap" "$contract" "${lanes[@]}" | grep .) <<<"$specs" || true)")
run_lane "$heap" || failed=1
bg=()
trap 'for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
for l in "${lanes[@]}"; do
	[ -z "$l" ] || { run_lane "$l" & bg+=($!); }
done
for p in "${bg[@]}"; do wait "$p" || failed=1; done
bg=()
run_lane "$contract" || failed=1
elapsed=$((SECONDS - started))

# A tracker that could not run here fails the scoreboard unless allowed to.
for t in "${tracker_list[@]}"; do
	why=""
	tool=$(tool_of "$t")
	if [ "${tool_ok[$tool]:-0}" != 1 ]; then
		why=$(awk -F'\t' -v t="$tool" '$1 == t && $2 == "-" { print $3 }' "$out/versions.tsv")
	elif [ -e "$out/raw/$t/SKIPPED" ]; then
		why=$(<"$out/raw/$t/SKIPPED")
	fi
	[ -n "$why" ] || continue
	if printf '%s\n' "${allowed[@]}" | grep -qxF -e "$t" -e all; then
		say "$t skipped (allowed): $why"
	else
		say "$t cannot run here: $why (--allow-skip $t to accept)"
		failed=1
	fi
done

# --- the tables and the heat map ------------------------------------------------------------
[ "$paths" -ef "$out/paths.tsv" ] || cp "$paths" "$out/paths.tsv"
args=(scoreboard table --defs trackers.tsv --paths paths.tsv --reps "$reps" --trackers "$trackers"
	--raw raw --versions versions.tsv --out .)
record_render "$out" scoreboard.md trackers.tsv paths.tsv versions.tsv raw -- "${args[@]}"
sed -i "s/\.\$/, in ${elapsed} s./" "$out/made"
err=$(cd "$out" && "$WLREPORT" "${args[@]}" 2>&1) ||
	fail "the tables could not be made: ${err#wlreport: }"
{
	echo "paths=$paths"
	echo "trackers=$trackers"
	echo "repetitions=$reps"
	echo "elapsed_s=$elapsed"
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel=$(uname -r)"
	echo "host_cpus=$(nproc)"
} >"$out/meta.txt"
if command -v gnuplot >/dev/null 2>&1 || { (need_pkgs gnuplot-nox) >/dev/null 2>&1 && command -v gnuplot >/dev/null 2>&1; }; then
	esc() { printf '%s' "${1//\'/\'\'}"; }
	err=$(gnuplot -e "data='$(esc "$out/heat.dat")'; out='$(esc "$out/scoreboard.png")'; subtitle='$(esc "$reps runs a cell, kernel $(uname -r), $elapsed s")'" \
		"$here/scoreboard/heatmap.gp" 2>&1 >/dev/null) || fail "gnuplot failed: $(last_line <<<"$err" /dev/stdin)"
else
	say "no gnuplot: no heat map"
fi
cat "$out/scoreboard.md"
say "time by tracker (runs, seconds): $(awk -F'\t' 'NR > 1 { printf "%s%s %s %ss", sep, $1, $2, $3; sep = ", " }' "$out/times.tsv")"
say "scoreboard made in ${elapsed}s: $out/scoreboard.md"
exit "$failed"
