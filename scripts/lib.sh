# shellcheck shell=bash
# Helpers the scripts share; source it, do not run it.

# The rustup toolchain lives here; a root shell without a login may lack it.
export PATH="$HOME/.cargo/bin:$PATH"

# Where scripts keep what outlives a run (kernel builds, tools), outside the tree.
export CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/memory-workloads"

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "$*"; exit 1; }

# need_pkgs PKG...: installs the Debian packages that are missing (needs root).
need_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	((EUID == 0)) || die "missing packages: ${missing[*]} (install them, or run as root)"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Wait for another apt to finish rather than fail; the package lists may be
	# stale or absent on a fresh machine: refresh them once.
	local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
	"${apt[@]}" install --no-install-recommends "${missing[@]}" >&2 ||
		{ "${apt[@]}" update >&2 && "${apt[@]}" install --no-install-recommends "${missing[@]}" >&2; } ||
		die "could not install ${missing[*]}"
}

# check_size BIN SIZE: asks the workload binary BIN (malloc-wl: it allocates SIZE
# and frees it without touching it) what SIZE is, so that a script accepts exactly
# the sizes the workloads accept. Sets size_bytes and returns 0; or sets
# size_error to BIN's one-line complaint and returns BIN's exit status (2: not a
# size, 3: the allocation failed).
size_bytes="" size_error=""
# shellcheck disable=SC2034 # the callers read size_bytes and size_error
check_size() {
	local out rc=0
	size_bytes="" size_error=""
	out=$("$1" --json -- "$2" 2>&1) || rc=$?
	if ((rc == 0)) && [[ "$out" =~ \"requested_bytes\":[[:space:]]*([0-9]+) ]]; then
		size_bytes=${BASH_REMATCH[1]}
		return 0
	fi
	out=${out%$'\n'}
	out=${out##*$'\n'}
	size_error=${out% (see --help)}
	return $((rc ? rc : 1))
}
