#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Tests the kmalloc_lkm kernel module in a QEMU guest:
#   1. installs the toolchain and builds the kernel (cached, see build.sh): the
#      debug kernel (KASAN, kmemleak, lockdep, fault injection) that the tests
#      need, or with --production the kernel the measurements use,
#   2. builds kmalloc-lkm/ against it, the static kmalloc-test and malloc-wl
#      binaries of the workspace and the static stall-reader.c helper,
#   3. boots the guest with scripts/kernel/guest-test.sh (or another guest
#      script) and exits with its status.
#
# Usage: scripts/kernel/vm-test.sh [--bench] [--guest SCRIPT] [--production]
#                                  [--linux X.Y] [--timeout S] [--log FILE]
#                                  [--quiet] [--host-root] [--file PATH]
#                                  [-- GUEST_ARG...]
#   --bench          run scripts/kernel/guest-bench.sh instead of the tests
#   --guest SCRIPT   run SCRIPT in the guest (busybox sh) instead of the tests;
#                    it finds kmalloc_lkm.ko, kmalloc-test and malloc-wl in /bin,
#                    and guest-lib.sh and ktap.sh (KTAP output) to source
#   --production     boot the production kernel (build.sh --production: no
#                    KASAN, kmemleak, lockdep or fault injection) instead of
#                    the debug one; guest-test.sh needs the debug kernel
#   --linux X.Y      another Debian kernel source (build.sh --linux X.Y)
#   --timeout S      fail when the guest runs longer (default 300 s, times
#                    vm-run.sh's VM_TIME_MARGIN)
#   --log FILE       keep the guest console in FILE
#   --quiet          print only the guest script's output (the whole console
#                    when the guest fails)
#   --host-root      run the guest script chrooted in the host's root, shared
#                    read-only (vm-run.sh --host-root), its files in $WLBIN
#   --file PATH      one more file for the guest (repeatable)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
guest="$here/guest-test.sh"
run_args=()
build_args=()
extra=()

while (($#)); do
	case "$1" in
	--bench) guest="$here/guest-bench.sh"; shift ;;
	--guest) guest=$(realpath "$2"); shift 2 ;;
	--production) build_args+=("$1"); shift ;;
	--linux)
		(($# >= 2)) || { echo "vm-test: --linux needs a version (X.Y)" >&2; exit 2; }
		build_args+=("$1" "$2"); shift 2 ;;
	--timeout | --log) run_args+=("$1" "$2"); shift 2 ;;
	--quiet | --host-root) run_args+=("$1"); shift ;;
	--file) extra+=("$2"); shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '/^# Usage:/,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "vm-test: unknown argument $1" >&2; exit 2 ;;
	esac
done

log() { printf 'vm-test: %s\n' "$*" >&2; }
t0=$(date +%s)

# 1. toolchain and kernel (build.sh runs toolchain.sh)
eval "$("$here/build.sh" "${build_args[@]}" --print-env)"
log "kernel $KVERSION: $BZIMAGE"

# 2. the module and the static workloads
export PATH="$HOME/.cargo/bin:$PATH"
make -s -C "$repo/kmalloc-lkm" KDIR="$KSRC" O="$KBUILD" LLVM=-19 RUSTC=/usr/bin/rustc >&2
ko="$repo/kmalloc-lkm/kmalloc_lkm.ko"
[[ -f "$ko" ]] || { log "no $ko after make"; exit 1; }

# Static, so that the guest needs no libc of its own.
(cd "$repo" && cargo build-static -q -p kmalloc-test -p malloc-wl) >&2
static_dir="$repo/target/x86_64-unknown-linux-gnu/release"
# The userfaultfd helper of the test of a stalled reader, also static.
helpers=$(mktemp -d)
trap 'rm -rf "$helpers"' EXIT
"${CC:-cc}" -static -O2 -pthread -Wall -Wextra -Werror -o "$helpers/stall-reader" "$here/stall-reader.c" >&2
files=("$ko" "$static_dir/kmalloc-test" "$static_dir/kmalloc-stress" "$static_dir/malloc-wl" "$helpers/stall-reader" "$here/guest-lib.sh"
	"$repo/scripts/ktap.sh" "${extra[@]}")
log "prepared in $(($(date +%s) - t0)) s; booting the guest with $(basename "$guest")"

# 3. boot and run
file_args=()
for f in "${files[@]}"; do file_args+=(--file "$f"); done
# The tests' kernel zeroes what is freed: an object or page reused after a
# free then holds no stale copy of a pointer, which would keep kmemleak from
# reporting the leaks the tests make on purpose.
if [[ $guest == "$here/guest-test.sh" || $guest == "$here/guest-kleaks.sh" ]]; then
	run_args+=(--append init_on_free=1)
fi
status=0
"$here/vm-run.sh" "${run_args[@]}" "${file_args[@]}" "$guest" "$@" || status=$?
log "total $(($(date +%s) - t0)) s, guest status $status"
exit "$status"
