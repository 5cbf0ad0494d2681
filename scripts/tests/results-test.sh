#!/usr/bin/env bash
# The tables of docs/results/ against their records (scripts/results.sh
# check), and the check itself: a copy with one figure changed by hand, or a
# record gone, must fail it, naming the table.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"
results="$here/../results.sh"

ktap_plan 4
if out=$("$results" check 2>&1); then
	ok "every table of docs/results is what wlreport renders from its records"
else
	not_ok "docs/results: tables and records disagree"
	printf '%s\n' "$out" | grep -v '^ok ' | sed 's/^/# /'
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$here/../../docs/results/." "$tmp/"
# One figure of the paths table, as a hand might change it.
sed -i '0,/| 1 call(s), 262144 B, 1 free(s) |/s//| 1 call(s), 262145 B, 1 free(s) |/' "$tmp/paths.md"
out=$(RESULTS_DIR=$tmp "$results" check 2>&1) && rc=0 || rc=$?
check "a figure changed by hand fails the check" test "$rc" = 1
check "the check names the table" grep -q '^not ok .* docs/results/paths.md differs' <<<"$out"
cp "$here/../../docs/results/paths.md" "$tmp/paths.md"
rm "$tmp/kmemleak/console.log"
out=$(RESULTS_DIR=$tmp "$results" check 2>&1) && rc=0 || rc=$?
check "a table whose records are gone fails the check" grep -q '^not ok .*/kmemleak.md: wlreport cannot render' <<<"$out"
ktap_done
