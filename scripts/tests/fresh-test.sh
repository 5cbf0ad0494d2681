#!/usr/bin/env bash
# fresh-test.sh - the binaries `cargo test --release` runs are those `cargo
# build --release` makes.
#
# Cargo builds a workload for its tests with the features of the tests'
# dev-dependencies unified in; a feature that only a test asks for (of nix,
# say) makes the tested binaries other builds than the ones the scripts run
# and trackers measure. So, after `cargo test --release --workspace --no-run`:
# `cargo build --release` of the workspace compiles nothing (each artifact it
# compiled is named), leaves each binary the tests ran as it was (each one
# changed is named: cargo may keep both builds and swap them without
# compiling), and `cargo run --release -p malloc-wl` (the features of one
# package alone) compiles nothing.
# wltest is left out of the workspace build: a library of the tests only,
# which cargo builds for them with panic=unwind (the test harness needs it)
# and for `cargo build` with the release profile's panic=abort; and as a
# member of the build it would lend its own features to the workloads and
# hide what this checks.
# Prints KTAP; exits non-zero on any failure. Needs cargo and jq (installed
# when missing, as root); takes seconds once `cargo test --release` has built.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
repo=$(cd "$scripts/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"
need_tool jq jq
cd "$repo"

ktap_plan 4
work=$(mktemp -d "${TMPDIR:-/tmp}/fresh-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# cargo_json COMMAND ARGS...: cargo COMMAND --message-format=json ARGS, its
# messages in $work/out, what it printed on stderr in $work/err.
cargo_json() {
	local cmd=$1
	shift
	cargo "$cmd" --message-format=json "$@" >"$work/out" 2>"$work/err"
}

# comment WHAT TEXT: each line of TEXT as a KTAP comment "# WHAT: line".
comment() {
	local l
	while IFS= read -r l; do printf '# %s: %s\n' "$1" "$l"; done <<<"$2"
}

# artifacts JQ-FILTER: the compiler-artifact messages of $work/out that pass
# the filter, one line each ("bin malloc-wl (malloc-wl)": kinds, target, and
# the package's folder); other lines (a program's output) are skipped.
artifacts() {
	jq -Rr "fromjson? | select(.reason == \"compiler-artifact\") | select($1)
		| \"\(.target.kind | join(\",\")) \(.target.name) (\(.manifest_path | split(\"/\") | .[-2]))\""
}

# fresh NAME COMMAND ARGS...: "ok" when cargo COMMAND ARGS compiled nothing,
# else "not ok" and a line for each artifact it compiled.
fresh() {
	local name=$1 list
	shift
	if ! cargo_json "$@"; then
		not_ok "$name: cargo $*: $(last_line "$work/err")"
		return
	fi
	list=$(artifacts '.fresh == false' <"$work/out")
	if [ -z "$list" ]; then
		ok "$name"
	else
		not_ok "$name"
		comment compiled "$list"
	fi
}

# The binaries the tests run (not the test harnesses), with their checksums.
if cargo_json test --release --workspace --no-run; then
	ok "cargo test --release --workspace --no-run"
	jq -Rr 'fromjson? | select(.reason == "compiler-artifact" and .profile.test == false
		and (.target.kind | index("bin")) and .executable != null) | .executable' \
		<"$work/out" | sort -u | xargs -r sha256sum >"$work/tested"
else
	not_ok "cargo test --release --workspace --no-run: $(last_line "$work/err")"
	: >"$work/tested"
fi
fresh "cargo build --release compiles nothing after cargo test --release" \
	build --release --workspace --exclude wltest
changed=$(while read -r sum bin; do
	[ "$(sha256sum <"$bin" 2>/dev/null | cut -d' ' -f1)" = "$sum" ] || echo "${bin#"$repo"/}"
done <"$work/tested")
if [ ! -s "$work/tested" ]; then
	not_ok "the binaries cargo test ran are those cargo build left: none listed"
elif [ -z "$changed" ]; then
	ok "the binaries cargo test ran ($(wc -l <"$work/tested")) are those cargo build left"
else
	not_ok "the binaries cargo test ran are those cargo build left"
	comment changed "$changed"
fi
fresh "cargo run --release -p malloc-wl compiles nothing after cargo test --release" \
	run --release -p malloc-wl -- 1
ktap_done
