#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetches the Debian kernel source package (linux-source-7.2, else the newest
# linux-source-7.x) from sid/forky/trixie-backports without touching the
# system's apt sources, and builds a bzImage with Rust support and the kernel's
# memory-safety checkers (tinyconfig + scripts/kernel/config.fragment).
#
# Everything lives in a cache outside the repository:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/memory-workloads/kernel/
#     download/                 the .deb and a private apt state
#     <version>-<hash>/src      the kernel source tree    (KSRC)
#     <version>-<hash>/build    the O= build tree         (KBUILD)
#     <version>-<hash>/env      KSRC, KBUILD, BZIMAGE, KVERSION as shell assignments
# <hash> is a short hash of config.fragment (with --production, of it and
# config.production.fragment). The build tree stays usable for
# out-of-tree modules: make -C "$KSRC" O="$KBUILD" M=DIR LLVM=-19 RUSTC=/usr/bin/rustc modules
#
# Usage: build.sh [--production] [--linux X.Y] [--print-env]
#        build.sh             build if needed, print the paths
#        build.sh --print-env build if needed, print only `export VAR=...` lines
#                             (use: eval "$(scripts/kernel/build.sh --print-env)")
#        --production         the production kernel instead of the debug one:
#                             config.production.fragment on top (no KASAN,
#                             kmemleak, lockdep or fault injection), cached
#                             beside the debug kernel under its own hash
#        --linux X.Y          Debian's linux-source-X.Y instead of the default
#                             (7.2, else the newest 7.x): e.g. --linux 7.3 for
#                             a one-off comparison; cached under its version
# A marker is written only after a successful build, so an interrupted build
# resumes on the next run; a second run with the cache present does no work.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fragment="$here/config.fragment"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/memory-workloads/kernel"
dl="$cache/download"
print_env=0
production=0
linux=""
usage_line='usage: build.sh [--production] [--linux X.Y] [--print-env]'
while (($#)); do
	case "$1" in
	--print-env) print_env=1; shift ;;
	--production) production=1; shift ;;
	--linux)
		[[ "${2:-}" =~ ^[0-9]+\.[0-9]+$ ]] || { printf 'kernel-build: --linux takes a version like 7.3 (%s)\n' "$usage_line" >&2; exit 2; }
		linux=$2; shift 2 ;;
	*) printf 'kernel-build: unknown argument %s (%s)\n' "$1" "$usage_line" >&2; exit 2 ;;
	esac
done

log() { printf 'kernel-build: %s\n' "$*" >&2; }

# The kernel must be built with Debian's rustc (it ships core/alloc sources);
# bindgen comes from cargo; LLVM 19 from Debian.
export PATH="$HOME/.cargo/bin:$PATH"
MAKE_VARS=(LLVM=-19 RUSTC=/usr/bin/rustc)

"$here/toolchain.sh" >&2

# --- fetch the source package -------------------------------------------------

mirror_uri() {
	# First URI of the main (non-security) Debian archive in the system's sources.
	awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list.d/debian.sources
}

fetch_source_deb() {
	local uri apt_opts name
	uri=$(mirror_uri)
	[[ -n "$uri" ]] || { log "no Debian mirror URI in /etc/apt/sources.list.d/debian.sources"; exit 1; }
	mkdir -p "$dl/lists/partial" "$dl/cache/archives/partial"
	# Newer suites than the host's, in a private list only. sid and forky are
	# signed with keys that bookworm's debian-archive-keyring already carries.
	{
		for suite in sid forky trixie-backports; do
			printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$uri" "$suite"
		done
	} >"$dl/sources.list"
	apt_opts=(
		-o "Dir::Etc::sourcelist=$dl/sources.list"
		-o "Dir::Etc::sourceparts=/nonexistent"
		-o "Dir::State::Lists=$dl/lists"
		-o "Dir::Cache=$dl/cache"
		-o "APT::Architectures=amd64"
		-o "Acquire::Languages=none"
		-o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
		-o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
		-o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
		-o "APT::Sandbox::User=root"
	)
	log "reading package lists of sid/forky/trixie-backports (private apt state in $dl)"
	apt-get "${apt_opts[@]}" -q update >&2
	if [[ -n "$linux" ]]; then
		apt-cache "${apt_opts[@]}" show "linux-source-$linux" >/dev/null 2>&1 ||
			{ log "no package linux-source-$linux in sid/forky/trixie-backports"; exit 1; }
		name="linux-source-$linux"
	elif apt-cache "${apt_opts[@]}" show linux-source-7.2 >/dev/null 2>&1; then
		name="linux-source-7.2"
	else
		name=$(apt-cache "${apt_opts[@]}" pkgnames linux-source-7. | sort -V | tail -n1)
	fi
	[[ -n "$name" ]] || { log "no linux-source-7.x package found"; exit 1; }
	log "downloading $name"
	(cd "$dl" && apt-get "${apt_opts[@]}" -q download "$name" >&2)
}

find_deb() {
	local debs
	shopt -s nullglob
	if [[ -n "$linux" ]]; then
		debs=("$dl/linux-source-${linux}_"*.deb)
	else
		debs=("$dl"/linux-source-7.2_*.deb)
		((${#debs[@]})) || debs=("$dl"/linux-source-7.*_*.deb)
	fi
	shopt -u nullglob
	((${#debs[@]})) || return 1
	printf '%s\n' "${debs[@]}" | sort -V | tail -n1
}

mkdir -p "$dl"
deb=$(find_deb || true)
if [[ -z "$deb" ]]; then
	fetch_source_deb
	deb=$(find_deb) || { log "download produced no .deb"; exit 1; }
fi
pkgver=$(dpkg-deb -f "$deb" Version)
if ((production)); then
	# Both fragments, the production one last; the hash covers both.
	hash=$(cat "$fragment" "$here/config.production.fragment" | sha256sum | cut -c1-8)
else
	hash=$(sha256sum "$fragment" | cut -c1-8)
fi
top="$cache/$pkgver-$hash"
KSRC="$top/src"
KBUILD="$top/build"
BZIMAGE="$KBUILD/arch/x86/boot/bzImage"

# --- unpack ------------------------------------------------------------------

if [[ ! -e "$top/.unpacked" ]]; then
	log "unpacking $deb"
	rm -rf "$top/src" "$top/deb"
	mkdir -p "$top/src" "$top/deb"
	dpkg -x "$deb" "$top/deb"
	tarball=$(find "$top/deb/usr/src" -maxdepth 1 -name 'linux-source-*.tar.*' | head -n1)
	[[ -n "$tarball" ]] || { log "no source tarball in $deb"; exit 1; }
	tar -xf "$tarball" -C "$top/src" --strip-components=1
	rm -rf "$top/deb"
	touch "$top/.unpacked"
fi

# --- configure and build -------------------------------------------------------

check_config() {
	local line sym want got bad=0
	while IFS= read -r line; do
		if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			sym=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
		elif [[ "$line" =~ ^\#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			sym=${BASH_REMATCH[1]} want=n
		else
			continue
		fi
		got=$(grep -E "^$sym=" "$KBUILD/.config" | cut -d= -f2- || true)
		[[ -n "$got" ]] || got=n
		if [[ "$got" != "$want" ]]; then
			log "config: $sym is '$got', wanted '$want'"
			bad=1
		fi
	done <"$fragment"
	return "$bad"
}

if ((production)); then
	# The effective fragment: every symbol once, with its last setting, so that
	# merge_config.sh and check_config see the production values.
	mkdir -p "$top"
	awk '
		/^CONFIG_[A-Za-z0-9_]+=/ { sym = $0; sub(/=.*/, "", sym) }
		/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { sym = $2 }
		/^CONFIG_|^# CONFIG_.* is not set$/ { if (!(sym in val)) order[n++] = sym; val[sym] = $0 }
		END { for (i = 0; i < n; i++) print val[order[i]] }
	' "$fragment" "$here/config.production.fragment" >"$top/config.fragment"
	fragment="$top/config.fragment"
fi

if [[ ! -e "$top/.built" ]]; then
	mkdir -p "$KBUILD"
	if [[ ! -e "$top/.configured" ]]; then
		log "configuring in $KBUILD"
		make -C "$KSRC" O="$KBUILD" "${MAKE_VARS[@]}" rustavailable >&2
		make -C "$KSRC" O="$KBUILD" "${MAKE_VARS[@]}" tinyconfig >&2
		"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KBUILD" "$KBUILD/.config" "$fragment" >&2
		make -C "$KSRC" O="$KBUILD" "${MAKE_VARS[@]}" olddefconfig >&2
		check_config || { log "the configuration does not match $fragment"; exit 1; }
		touch "$top/.configured"
	fi
	log "building $pkgver in $KBUILD (log: $top/build.log)"
	start=$(date +%s)
	if ! make -C "$KSRC" O="$KBUILD" "${MAKE_VARS[@]}" -j"$(nproc)" >"$top/build.log" 2>&1; then
		tail -n 40 "$top/build.log" >&2
		log "kernel build failed (full log: $top/build.log)"
		exit 1
	fi
	log "built in $(($(date +%s) - start)) s"
	[[ -f "$BZIMAGE" ]] || { log "no bzImage after the build"; exit 1; }
	KVERSION=$(cat "$KBUILD/include/config/kernel.release")
	cat >"$top/env" <<ENV
KSRC='$KSRC'
KBUILD='$KBUILD'
BZIMAGE='$BZIMAGE'
KVERSION='$KVERSION'
ENV
	touch "$top/.built"
fi

# shellcheck source=/dev/null
. "$top/env"
if ((print_env)); then
	printf 'export KSRC=%q\nexport KBUILD=%q\nexport BZIMAGE=%q\nexport KVERSION=%q\n' \
		"$KSRC" "$KBUILD" "$BZIMAGE" "$KVERSION"
else
	printf 'KSRC=%s\nKBUILD=%s\nBZIMAGE=%s\nKVERSION=%s\n' "$KSRC" "$KBUILD" "$BZIMAGE" "$KVERSION"
fi
