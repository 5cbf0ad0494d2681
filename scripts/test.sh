#!/usr/bin/env bash
# Runs every test of the suite: formatting, lints, the workloads' own tests (real
# binaries under strace) and that they ran the binaries cargo build makes, the
# scripts' shellcheck, the static build, the tracker sweep, and the
# kernel module, the kernel sweep, the kernel scoreboard cells and the kernel
# trackers under load in a VM.
# Installs what is missing (as root, Debian 12). Each step
# prints its own output; the last line counts the steps.
#
# Usage: scripts/test.sh [--no-vm]     (--no-vm skips the kernel and its VM)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

vm=1
[[ "${1:-}" == "--no-vm" ]] && vm=0

# strace and bpftrace: the workloads' tests run them; gcc builds the C program they are
# compared with; valgrind (callgrind) sees which code a run executes.
need_pkgs strace shellcheck bpftrace gcc valgrind

passed=0 failed=0 failures=()
step() {
	local name=$1 start=$SECONDS
	shift
	printf '\n==> %s\n' "$name"
	if "$@"; then
		passed=$((passed + 1))
		printf '==> %s: ok (%ss)\n' "$name" $((SECONDS - start))
	else
		failed=$((failed + 1)) failures+=("$name")
		printf '==> %s: FAILED (%ss)\n' "$name" $((SECONDS - start))
	fi
}

step "cargo fmt" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "cargo test" cargo test --workspace --release
step "cargo test builds what cargo build does" scripts/tests/fresh-test.sh
step "shellcheck" shellcheck -x scripts/*.sh scripts/*/*.sh .ci/run
step "static build" cargo build-static
step "tracker sweep" scripts/tests/sweep-test.sh
step "sweep script arguments" scripts/tests/args-test.sh
step "tables of docs/results against their records" scripts/tests/results-test.sh
step "tracker scoreboard" scripts/tests/scoreboard-test.sh
step "trackers under load" scripts/tests/load-test.sh
step "kernel reports before and after insmod" scripts/tests/reports-test.sh
if ((vm)); then
	step "kernel module in a VM" scripts/kernel/vm-test.sh
	step "kernel sweep in a VM" scripts/tests/kernel-sweep-test.sh
	step "kernel scoreboard cells in a VM" scripts/tests/kernel-cells-test.sh
	step "kernel trackers under load in a VM" scripts/tests/kernel-load-test.sh
fi

printf '\n'
((failed == 0)) || say "failed: ${failures[*]}"
echo "steps: $passed passed, $failed failed"
((failed == 0))
