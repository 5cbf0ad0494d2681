#!/usr/bin/env bash
# results.sh - the tables of docs/results/: published with the records they
# were made from, and checked against them.
#
# Usage:
#   scripts/results.sh check
#       every table docs/results/NAME.md is what wlreport renders from the
#       records in docs/results/NAME/ (exit 1 naming each one that is not)
#   scripts/results.sh publish NAME OUT
#       NAME's records from a run's output folder OUT (scoreboard.sh -o,
#       paths.sh -o, bench.sh -o, kernel/kpaths.sh -o, kernel/kleaks.sh -o),
#       into docs/results/NAME/ (a folder as NAME/FOLDER.tar.xz), and the table
#       rendered from them into docs/results/NAME.md, under the line that says
#       who made it; OUT's picture (a .png), if any, as docs/results/NAME.png
#   -h, --help   this text
# A run's OUT/render says how its table is made again (scripts/lib.sh,
# record_render); OUT/made, by which command, when and where.
# Exit status: 0 done; 1 a table differs from its records or cannot be
# rendered; 2 usage or setup error.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
# RESULTS_DIR: another folder of published tables (the tests use a copy).
docs=${RESULTS_DIR:-"$here/../docs/results"}

# render DIR: the table of the records in DIR (with DIR/render), on stdout;
# folders stored as FOLDER.tar.xz are unpacked first. (A subshell: its
# scratch copy goes with it.)
render() (
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp -r "$1/." "$tmp/"
	for t in "$tmp"/*.tar.xz; do
		[ -e "$t" ] || continue
		tar -C "$tmp" -xJf "$t" || exit 1
	done
	IFS=$'\t' read -r -a args <"$tmp/render"
	table=$(sed -n 2p "$tmp/render")
	cd "$tmp" || exit 1
	if [[ $table == - ]]; then
		"$WLREPORT" "${args[@]}" || exit 1
	else
		"$WLREPORT" "${args[@]}" >/dev/null && cat "$table" || exit 1
	fi
)

publish() {
	local name=$1 out=$2 rec
	[[ $name =~ ^[a-z0-9-]+$ ]] || die "NAME takes lowercase letters, digits and '-': $name"
	{ [ -r "$out/render" ] && [ -r "$out/made" ]; } || die "$out has no render and made files (not a run's output folder)"
	rm -rf "${docs:?}/$name"
	mkdir -p "$docs/$name"
	cp "$out/render" "$docs/$name/"
	while read -r rec; do
		[ -n "$rec" ] || continue
		if [ -d "$out/$rec" ]; then
			# A fixed order, times and owners: the same records give the same archive.
			tar -C "$out" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
				-cJf "$docs/$name/$rec.tar.xz" "$rec"
		else
			cp "$out/$rec" "$docs/$name/"
		fi
	done < <(tail -n +3 "$out/render")
	{
		cat "$out/made"
		echo
		render "$docs/$name" || fail "$name: the records do not render"
	} >"$docs/$name.md"
	for png in "$out"/*.png; do
		[ -e "$png" ] && cp "$png" "$docs/$name.png"
	done
	say "published $docs/$name.md"
}

check() {
	local md name got diffs
	diffs=$(mktemp)
	# shellcheck disable=SC2119 # the plan is printed at the end
	ktap_plan
	for md in "$docs"/*.md; do
		name=$(basename "$md" .md)
		[[ $name != README ]] || continue
		if [ ! -r "$docs/$name/render" ]; then
			not_ok "docs/results/$name.md has no records (docs/results/$name/render)"
		elif ! got=$(render "$docs/$name" 2>&1); then
			not_ok "docs/results/$name.md: wlreport cannot render its records: $(last_line <<<"$got" /dev/stdin)"
		elif diff -u <(tail -n +3 "$md") <(printf '%s\n' "$got") >"$diffs"; then
			ok "docs/results/$name.md is what wlreport renders from docs/results/$name/"
		else
			not_ok "docs/results/$name.md differs from what wlreport renders from its records"
			sed 's/^/# /' "$diffs" | head -n 20
		fi
	done
	rm -f "$diffs"
	ktap_done
}

case ${1:-} in
check) (($# == 1)) || die "check takes no arguments"; need_pkgs xz-utils; need_wlreport; check ;;
publish) (($# == 3)) || die "publish takes NAME and OUT"; need_pkgs xz-utils; need_wlreport; publish "$2" "$3" ;;
-h | --help) usage ;;
*) die "a command is missing or unknown: '${1:-}' (check, publish; see --help)" ;;
esac
