#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs what building the test kernel, the kmalloc-lkm module and the guest
# initramfs needs: rustc (Debian rustc-web, with core/alloc sources), clang/LLVM 19,
# the kernel build helpers, busybox-static and QEMU, plus bindgen >= 0.71.1 with
# `cargo install`. Idempotent; a fast no-op when everything is present. Run as root.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BINDGEN_MIN=0.71.1
PACKAGES=(
	rustc-web rust-web-src
	clang-19 lld-19 llvm-19 libclang-19-dev
	make gcc libc6-dev bc flex bison libelf-dev libssl-dev cpio xz-utils
	busybox-static qemu-system-x86 shellcheck
)

log() { printf 'toolchain: %s\n' "$*" >&2; }

need_pkgs "${PACKAGES[@]}"

# version_ge A B: true when version A >= version B (dotted numbers).
version_ge() {
	[[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

bindgen_ok() {
	local v
	command -v bindgen >/dev/null 2>&1 || return 1
	v=$(bindgen --version 2>/dev/null | awk '{print $2}')
	[[ -n "$v" ]] && version_ge "$v" "$BINDGEN_MIN"
}

export PATH="$HOME/.cargo/bin:$PATH"
if ! bindgen_ok; then
	log "installing bindgen-cli (>= $BINDGEN_MIN) with cargo"
	cargo install --locked bindgen-cli
	bindgen_ok || { log "bindgen still missing or too old"; exit 1; }
fi

log "ok: $(/usr/bin/rustc --version), $(bindgen --version), $(clang-19 --version | head -n1)"
