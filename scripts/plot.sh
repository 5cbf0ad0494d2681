#!/usr/bin/env bash
# plot.sh - PNG plots of a sweep's results (gnuplot; installed from apt when
# missing and running as root).
#
# Usage: scripts/plot.sh [RESULTS_DIR]   (default results/)
# Reads RESULTS_DIR/DATA.csv, errors.csv and meta.txt; writes
#   RESULTS_DIR/tracked.png  tracked bytes vs requested size, log-log, one
#                            line per workload
#   RESULTS_DIR/error.png    tracked - size-1 baseline - allocator bytes per
#                            size, and the same against glibc's mmap length
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

die() { echo "plot.sh: error: $*" >&2; exit 2; }

case "${1:-}" in
-h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
dir="${1:-$repo/results}"
[ -f "$dir/DATA.csv" ] || die "no DATA.csv in $dir (run scripts/sweep.sh first)"
[ -f "$dir/errors.csv" ] || die "no errors.csv in $dir"
[ ! -e "$dir/INCOMPLETE" ] || die "$dir holds an incomplete sweep"

command -v gnuplot >/dev/null 2>&1 || need_pkgs gnuplot-nox

# has COLUMN -> 1 when DATA.csv has a value in that column
has() {
	awk -F, -v c="$1" 'NR > 1 && $c != "" { f = 1 } END { print f ? 1 : 0 }' "$dir/DATA.csv"
}

tracker=$(sed -n 's/^tracker=//p' "$dir/meta.txt" 2>/dev/null || true)
reps=$(sed -n 's/^repetitions=//p' "$dir/meta.txt" 2>/dev/null || true)
kernel_csv=$(sed -n 's/^kernel_csv=//p' "$dir/meta.txt" 2>/dev/null || true)
subtitle="tracker: ${tracker:-?}, median of ${reps:-?} runs, kernel $(sed -n 's/^kernel=//p' "$dir/meta.txt" 2>/dev/null || true)"
[ -z "$kernel_csv" ] || subtitle+=", kmalloc from $(basename "$kernel_csv")"
workloads=$(awk -F, 'NR > 1 && !($1 in s) { s[$1] = 1; printf "%s%s", (n++ ? " " : ""), $1 }' "$dir/errors.csv")

esc() { printf '%s' "${1//\'/\'\'}"; }

gnuplot -e "data='$(esc "$dir/DATA.csv")'; out='$(esc "$dir/tracked.png.tmp")'; subtitle='$(esc "$subtitle")'; has_m=$(has 2); has_b=$(has 3); has_k=$(has 4)" \
	"$here/plot/tracked.gp"
gnuplot -e "errs='$(esc "$dir/errors.csv")'; out='$(esc "$dir/error.png.tmp")'; subtitle='$(esc "$subtitle")'; workloads='$(esc "$workloads")'" \
	"$here/plot/error.gp"
mv -f "$dir/tracked.png.tmp" "$dir/tracked.png"
mv -f "$dir/error.png.tmp" "$dir/error.png"
echo "plot.sh: wrote $dir/tracked.png and $dir/error.png" >&2
