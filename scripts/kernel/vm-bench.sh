#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# vm-bench.sh - allocate-and-free cycles per second in the test VM (the debug
# kernel, under QEMU TCG): kmalloc-test, a busybox shell loop writing to
# /proc/kmalloc_lkm, and malloc-wl, at 32 B, 4 KiB and 4 MiB
# (guest-bench.sh). Prints the table `wlreport vmbench` makes of the guest's
# KBENCH lines; writes it in DIR/vm-bench.md, with DIR/console.log (the
# lines it is made from: scripts/results.sh publish vm-bench DIR).
#
# Usage: scripts/kernel/vm-bench.sh [-n REPEAT] [-o DIR]
#   -n REPEAT  cycles at 32 B and 4 KiB, a tenth at 4 MiB (default 2000)
#   -o DIR     where the table goes (default results/vm-bench)
# Errors are one line on stderr, "vm-bench.sh: ...". Exit status: 0 done; 1 the
# guest failed; 2 usage or setup error.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

n=2000 out="$here/../../results/vm-bench"
while (($#)); do
	case $1 in
	-n|-o) (($# >= 2)) || die "$1 needs a value (see --help)" ;;&
	-n) n=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option '$1' (usage: vm-bench.sh [-n REPEAT] [-o DIR])" ;;
	esac
done
[[ $n =~ ^[1-9][0-9]{0,5}$ ]] || die "-n takes a whole number from 1 to 999999, not '$n'"
need_wlreport

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/vm-test.sh" --bench --quiet --log "$tmp/console" -- "$n" >"$tmp/out" 2>&1 ||
	fail "the guest failed: $(last_line "$tmp/out")"
mkdir -p "$out" || die "cannot make $out"
grep -a '^KBENCH ' "$tmp/console" | tr -d '\r' >"$out/console.log" || true
args=(vmbench --console console.log)
record_render "$out" - console.log -- "${args[@]}"
(cd "$out" && "$WLREPORT" "${args[@]}") >"$out/vm-bench.md" || fail "wlreport vmbench failed"
cat "$out/vm-bench.md"
