#!/usr/bin/env bash
# reports-test.sh - how the module's VM test tells the kernel's own reports
# from the module's.
#
# Runs judge_reports (scripts/kernel/guest-lib.sh, the function the guest runs
# on its kernel log, with the guest's KTAP output of scripts/ktap.sh) on logs
# made here: a report that came before insmod (the
# KASAN report a busy host once drew from the guest's early boot) is shown as
# the kernel's, a KTAP SKIP, and does not fail the test; the same report after
# insmod fails it, and so does a WARNING; a clean log passes.
# Prints KTAP; exits non-zero on any failure. Needs nothing but a POSIX sh.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$scripts/lib.sh"

ktap_plan 6
work=$(mktemp -d "${TMPDIR:-/tmp}/reports-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat >"$work/clean" <<'LOG'
[    0.000000] Linux version 7.2.13 (root@host) #1 SMP PREEMPT_DYNAMIC
[    0.004000] KernelAddressSanitizer initialized (generic)
[    2.100000] kmalloc_lkm: loaded, /proc/kmalloc_lkm
LOG
cat >"$work/early" <<'LOG'
[    0.004000] KernelAddressSanitizer initialized (generic)
[    0.005210] BUG: KASAN: wild-memory-access in do_raw_spin_lock+0xbc/0x1d0
[    0.005230] Call Trace:
[    0.005240]  handle_edge_irq+0x1c/0x200
LOG
cat >"$work/warning" <<'LOG'
[   40.100000] WARNING: CPU: 0 PID: 77 at mm/slub.c:4567 kfree+0x1a/0x200
LOG

# judge BEFORE AFTER: judge_reports' lines and exit status, as the guest runs it.
judge() {
	sh -c '. "$1"; . "$2"; judge_reports "$3" "$4"' sh "$scripts/ktap.sh" \
		"$scripts/kernel/guest-lib.sh" "$1" "$2" >"$work/out" && rc=0 || rc=$?
}

judge "$work/clean" "$work/clean"
check "a clean log passes: two ok lines, numbered 1 and 2, no SKIP" \
	test "$rc:$(grep -c '^ok [12] - ' "$work/out"):$(grep -c 'SKIP' "$work/out" || true)" = 0:2:0

judge "$work/early" "$work/clean"
check "a report before insmod does not fail the module's test" test "$rc" = 0
check "it is shown as the kernel's own, with its first line, as a KTAP SKIP" \
	grep -q "^ok 1 - .* # SKIP the kernel's own report, not the module's: BUG: KASAN: wild-memory-access in do_raw_spin_lock+0xbc/0x1d0$" "$work/out"

judge "$work/clean" "$work/early"
check "the same report after insmod fails it" test "$rc" = 1
check "and names it in the failed check" grep -q '^not ok 2 - .*: BUG: KASAN: wild-memory-access' "$work/out"

judge "$work/early" "$work/warning"
check "a WARNING after insmod fails it even when the kernel had its own report" \
	test "$rc:$(grep -c '^not ok 2 - .*WARNING: CPU: 0 PID: 77' "$work/out")" = 1:1

ktap_done
