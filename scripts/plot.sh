#!/usr/bin/env bash
# plot.sh - PNG plots of a sweep's results (gnuplot; installed from apt when
# missing and running as root).
#
# Usage: scripts/plot.sh [-h|--help] [RESULTS_DIR]   (default results/)
# Reads RESULTS_DIR/DATA.csv, errors.csv and meta.txt; writes
#   RESULTS_DIR/tracked.png  tracked bytes vs requested size, log-log, one
#                            line per workload
#   RESULTS_DIR/error.png    tracked - size-1 baseline - allocator bytes per
#                            size, and the same against glibc's mmap length
# Errors are one line on stderr, "plot.sh: ...". Exit status: 0 done; 1
# gnuplot failed (no PNG is replaced); 2 usage or setup error: a bad option,
# a folder without a complete sweep, an unwritable folder.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"


dir=""
while [ $# -gt 0 ]; do
	case "$1" in
	-h|--help) usage; exit 0 ;;
	--) shift; [ $# -le 1 ] || die "one RESULTS_DIR at most (see --help)"; dir="${1:-}"; break ;;
	-*) die "unknown option: $1 (see --help)" ;;
	*) [ -z "$dir" ] || die "one RESULTS_DIR at most (see --help)"; dir="$1"; shift ;;
	esac
done
dir="${dir:-$repo/results}"
[ -f "$dir/DATA.csv" ] || die "no DATA.csv in $dir (run scripts/sweep.sh first)"
[ -f "$dir/errors.csv" ] || die "no errors.csv in $dir"
[ ! -e "$dir/INCOMPLETE" ] || die "$dir holds an incomplete sweep"
probe=$(mktemp "$dir/.plot.XXXXXX" 2>&1) || die "cannot write in $dir: ${probe##*: }"
rm -f "$probe"

command -v gnuplot >/dev/null 2>&1 || need_pkgs gnuplot-nox
command -v gnuplot >/dev/null 2>&1 || die "gnuplot is not on PATH (package gnuplot-nox is installed)"
trap 'rm -f "$dir/tracked.png.tmp" "$dir/error.png.tmp"' EXIT
# plot NAME ARGS...: gnuplot ARGS, its complaint as one line when it fails
plot() {
	local name="$1" err
	shift
	err=$(gnuplot "$@" 2>&1 >/dev/null) ||
		fail "gnuplot failed for $name: $(grep -v '^[[:space:]]*$' <<<"$err" | tail -n 1)"
}

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

plot tracked.png -e "data='$(esc "$dir/DATA.csv")'; out='$(esc "$dir/tracked.png.tmp")'; subtitle='$(esc "$subtitle")'; has_m=$(has 2); has_b=$(has 3); has_k=$(has 4)" \
	"$here/plot/tracked.gp"
plot error.png -e "errs='$(esc "$dir/errors.csv")'; out='$(esc "$dir/error.png.tmp")'; subtitle='$(esc "$subtitle")'; workloads='$(esc "$workloads")'" \
	"$here/plot/error.gp"
mv -f "$dir/tracked.png.tmp" "$dir/tracked.png"
mv -f "$dir/error.png.tmp" "$dir/error.png"
echo "plot.sh: wrote $dir/tracked.png and $dir/error.png" >&2
