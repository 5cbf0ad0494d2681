#!/usr/bin/env bash
# paths.sh - the table of every workload path: what it calls, and what a heap
# tracker and a system-call tracker should each see for one SIZE, from the
# workloads' own --json ledgers (docs/ledger.md). Prints it on stdout.
#
# Usage: scripts/paths.sh [-s SIZE] [-l LIST] [-o DIR]
#   -s, --size SIZE   bytes for every path (default 256KiB)
#   -l, --list FILE   the runs, one a line (default scripts/paths/list)
#   -o, --out DIR     keep the reports there (N.json, manifest) with the table
#                     (paths.md): scripts/results.sh publish paths DIR
#   -h, --help        this text
# Exit status: 0 done, 1 a workload failed, 2 usage or setup error.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"

size=256KiB list="$top/scripts/paths/list" out=""
while (($#)); do
	case $1 in
	-s | --size) (($# > 1)) || die "$1 needs a value"; size=$2; shift 2 ;;
	-l | --list) (($# > 1)) || die "$1 needs a value"; list=$2; shift 2 ;;
	-o | --out) (($# > 1)) || die "$1 needs a value"; out=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument: '$1' (see --help)" ;;
	esac
done
[ -r "$list" ] || die "cannot read the list: $list"
need_wlreport
bin_dir="$top/target/release"
[ -x "$bin_dir/malloc-wl" ] || die "the workloads are not built (cargo build --release)"
check_size "$bin_dir/malloc-wl" "$size" || die "-s: $size_error"

if [ -n "$out" ]; then
	mkdir -p "$out" || die "cannot make $out"
	rm -f "$out"/*.json "$out/manifest"
	tmp=$out
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
fi
: >"$tmp/manifest"
n=0
while read -r workload opts; do
	[[ -z "$workload" || "$workload" == \#* ]] && continue
	[ -x "$bin_dir/$workload" ] || die "$workload is not built (cargo build --release)"
	n=$((n + 1))
	# shellcheck disable=SC2086 # the options are words
	"$bin_dir/$workload" --json $opts "$size" >"$tmp/$n.json" 2>"$tmp/stderr" </dev/null ||
		fail "$workload $opts $size failed (exit $?): $(tail -n 1 "$tmp/stderr")"
	label="$workload${opts:+ $opts}"
	printf '%s\t%s\n' "$label" "$n.json" >>"$tmp/manifest"
done <"$list"
# The manifest names the reports beside it: the table is made in that folder.
records=(manifest)
for ((i = 1; i <= n; i++)); do records+=("$i.json"); done
record_render "$tmp" - "${records[@]}" -- paths --size "$size_bytes" --manifest manifest
(cd "$tmp" && "$WLREPORT" paths --size "$size_bytes" --manifest manifest) >"$tmp/paths.md"
cat "$tmp/paths.md"
