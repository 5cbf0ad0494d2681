#!/usr/bin/env bash
# Everything a tracker evaluation needs, in one command: the kernel sweep in the
# test VM (the kmalloc column), the user-space sweep under a tracker, DATA.csv
# with both, the tracker's error per size, its overhead, and the plots.
#
# Usage: scripts/report.sh [--no-vm] [-t TRACKER] [-r REPS] [-o DIR]
#   --no-vm     leave the kmalloc column empty (no kernel build, no VM)
#   -t TRACKER  bpftrace (default) or strace; see scripts/sweep.sh
#   -r REPS     repetitions per size (default 5)
#   -o DIR      output folder (default results/)
# Writes DIR/{kernel.csv,DATA.csv,runs.csv,errors.csv,errors.md,meta.txt,
# overhead.csv,overhead.md,tracked.png,error.png}. Needs root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

vm=1 tracker=bpftrace reps=5 out=results
while (($#)); do
	case $1 in
	--no-vm) vm=0; shift ;;
	-t) tracker=$2; shift 2 ;;
	-r) reps=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	*) die "unknown option '$1' (usage: scripts/report.sh [--no-vm] [-t TRACKER] [-r REPS] [-o DIR])" ;;
	esac
done
((EUID == 0)) || die "run as root: the trackers and the kernel build need it"
mkdir -p "$out"

kernel=()
if ((vm)); then
	say "kernel sweep in the test VM (the first run builds the kernel: about 12 minutes)"
	scripts/kernel/vm-sweep.sh -r "$reps" -o "$out/kernel.csv"
	kernel=(-k "$out/kernel.csv")
fi
say "user-space sweep under $tracker"
scripts/sweep.sh -t "$tracker" -r "$reps" "${kernel[@]}" -o "$out"
say "overhead"
scripts/overhead.sh -o "$out"
scripts/plot.sh "$out"
cat "$out/errors.md" "$out/overhead.md"
say "done: $out/DATA.csv, runs.csv, errors.md, overhead.md, tracked.png, error.png"
