# shellcheck shell=sh
# KTAP test output, shared by the host tests (scripts/tests/*.sh, through
# lib.sh) and the module's tests in the QEMU guest (scripts/kernel/guest-test.sh,
# busybox sh; vm-test.sh puts this file in the guest's /bin), so it is plain
# POSIX sh. Source it, do not run it.
#   ktap_plan [N]     "KTAP version 1", and the plan "1..N" when the number of
#                     checks is known before they run; without N the plan is
#                     printed by ktap_done, after the checks
#   check DESC CMD... "ok N - DESC" when CMD succeeds, else "not ok N - DESC"
#                     (CMD runs in this shell: what it sets stays set)
#   ok DESC, not_ok DESC   a result decided by the caller
#   skip DESC WHY     "ok N - DESC # SKIP WHY": a check that cannot run here
#   ktap_done         the plan (unless given first) and "# Totals: pass:P
#                     fail:F skip:S"; returns 1 when a check failed, or when
#                     the checks that ran are not the ones planned (counted
#                     as a failure)
# Other output of a test should be diagnostic lines: "# ...".
# Descriptions are printed as they are (printf, not echo: no escapes).
ktap_n=0 ktap_pass=0 ktap_fail=0 ktap_skip=0 ktap_planned=""
ktap_plan() {
	echo "KTAP version 1"
	ktap_planned="${1:-}"
	[ -z "$ktap_planned" ] || echo "1..$ktap_planned"
}
ok() {
	ktap_n=$((ktap_n + 1))
	ktap_pass=$((ktap_pass + 1))
	printf 'ok %d - %s\n' "$ktap_n" "$*"
}
not_ok() {
	ktap_n=$((ktap_n + 1))
	ktap_fail=$((ktap_fail + 1))
	printf 'not ok %d - %s\n' "$ktap_n" "$*"
}
skip() {
	ktap_n=$((ktap_n + 1))
	ktap_skip=$((ktap_skip + 1))
	printf 'ok %d - %s # SKIP %s\n' "$ktap_n" "$1" "${2:-}"
}
# POSIX sh has no local variables: the description waits in a global of its
# own, which a CMD that is itself a check would overwrite (none is).
check() {
	_ktap_desc=$1
	shift
	if "$@"; then ok "$_ktap_desc"; else not_ok "$_ktap_desc"; fi
}
ktap_done() {
	if [ -z "$ktap_planned" ]; then
		echo "1..$ktap_n"
	elif [ "$ktap_n" -ne "$ktap_planned" ]; then
		echo "# planned $ktap_planned checks, ran $ktap_n"
		ktap_fail=$((ktap_fail + 1))
	fi
	echo "# Totals: pass:$ktap_pass fail:$ktap_fail skip:$ktap_skip"
	[ "$ktap_fail" -eq 0 ]
}
