#!/usr/bin/env bash
# Everything a tracker evaluation needs, in one command: the kernel sweep in the
# VM on the production kernel (the kmalloc column), the user-space sweep under a
# tracker, DATA.csv with both, the tracker's error per size, its overhead, and
# the plots.
#
# Usage: scripts/report.sh [--no-vm] [-t TRACKER] [-r REPS] [-o DIR]
#   --no-vm     leave the kmalloc column empty (no kernel build, no VM)
#   -t TRACKER  bpftrace (default) or strace, for the sweep and the overhead;
#               see scripts/sweep.sh (strace needs no eBPF and no bpftrace)
#   -r REPS     repetitions per size (default 5)
#   -o DIR      output folder (default results/ at the top of the repository)
#   -h, --help  this text
# Writes DIR/{kernel.csv,DATA.csv,runs.csv,raw-runs.tsv,errors.csv,errors.md,
# meta.txt,overhead.csv,overhead.md,overhead-ratios.md,tracked.png,error.png}.
# Needs root.
# Errors are one line on stderr, "report.sh: ..."; the options are checked
# before anything runs. Exit status: 0 done; 2 usage or setup error (a bad
# option or value, not root, an unwritable DIR), nothing run; otherwise the
# exit status of the step that failed (1: a run failed; see sweep.sh,
# overhead.sh, plot.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"


vm=1 tracker=bpftrace reps=5 out="$here/../results"
while (($#)); do
	case $1 in
	--no-vm) vm=0; shift ;;
	-t|-r|-o) (($# >= 2)) || die "$1 needs a value (see --help)" ;;&
	-t) tracker=$2; shift 2 ;;
	-r) reps=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option: $1 (see --help)" ;;
	esac
done
case $tracker in
bpftrace|strace) ;;
*) die "unknown tracker: $tracker (bpftrace|strace)" ;;
esac
[[ $reps =~ ^[1-9][0-9]{0,5}$ ]] || die "-r must be a whole number from 1 to 999999: $reps"
((EUID == 0)) || die "run as root: the trackers and the kernel build need it"
err=$(mkdir -p -- "$out" 2>&1) || die "cannot create the output folder $out: ${err##*: }"
probe=$(mktemp "$out/.report.XXXXXX" 2>&1) || die "cannot write in the output folder $out: ${probe##*: }"
rm -f "$probe"
# the steps run from the top of the repository; DIR is as given from here
out=$(cd "$out" && pwd)
cd "$here/.."

kernel=()
if ((vm)); then
	say "kernel sweep in the VM on the production kernel (the first run builds it: docs/kernel.md says how long)"
	scripts/kernel/vm-sweep.sh -r "$reps" -o "$out/kernel.csv"
	kernel=(-k "$out/kernel.csv")
fi
say "user-space sweep under $tracker"
scripts/sweep.sh -t "$tracker" -r "$reps" "${kernel[@]}" -o "$out"
say "overhead"
scripts/overhead.sh -t "$tracker" -o "$out"
scripts/plot.sh "$out"
cat "$out/errors.md" "$out/overhead.md"
say "done: $out/DATA.csv, runs.csv, errors.md, overhead.md, tracked.png, error.png"
