# shellcheck shell=bash
# Helpers the scripts share; source it, do not run it.

# The rustup toolchain lives here; a root shell without a login may lack it.
export PATH="$HOME/.cargo/bin:$PATH"

# Where scripts keep what outlives a run (kernel builds, tools), outside the tree.
export CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/memory-workloads"

# Errors and exit statuses, the same in every script: each error is one line on
# stderr that starts with the script's name, and the exit status says what
# happened:
#   0  done
#   1  it ran and failed (fail): a run, a measurement or a step failed
#   2  usage or setup error, found before anything ran (die): a bad option or
#      value, a missing tool or binary, an unwritable folder
#   130, 143  interrupted by SIGINT, SIGTERM
say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "error: $*"; exit 2; }
# A script whose EXIT trap reports the failure (sweep.sh: with where its partial
# files went, in the same line) sets fail_later=1; fail then leaves the line in
# fail_msg for the trap.
fail_later=0 fail_msg=""
fail() {
	# shellcheck disable=SC2034 # fail_msg is for the caller's EXIT trap
	fail_msg="$*"
	((fail_later)) || say "$*"
	exit 1
}

# usage: the script's header comment (from line 2 to `set -euo`), as --help.
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[-1]}" | sed '$d; s/^# \{0,1\}//'; }

# last_line FILE... -> the last non-empty line of the files, at most 200
# characters (what a failed tool said last, for a one-line error).
last_line() {
	local l
	l=$(cat -- "$@" 2>/dev/null | tr -d '\r' | grep -v '^[[:space:]]*$' | tail -n 1) || true
	printf '%s' "${l:0:200}"
}

# read_list FILE: sets the array LIST to FILE's lines, less empty lines and
# comments (#); dies (exit 2) when it cannot read FILE or it has none.
LIST=()
read_list() {
	local line
	[ -r "$1" ] || die "cannot read the list: $1"
	LIST=()
	while read -r line; do
		[[ -z "$line" || "$line" == \#* ]] && continue
		LIST+=("$line")
	done <"$1"
	((${#LIST[@]})) || die "nothing listed in $1"
}

# need_wlreport: sets WLREPORT to the report tool (wlreport/, target/release),
# building it first when it is missing or older than its sources; dies (exit 2)
# when it cannot be built.
WLREPORT=""
need_wlreport() {
	local top bin log
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	bin="$top/target/release/wlreport"
	if [ ! -x "$bin" ] || [ -n "$(find "$top/wlreport" "$top/wlmodel" "$top/Cargo.lock" -newer "$bin" -type f 2>/dev/null | head -n 1)" ]; then
		command -v cargo >/dev/null 2>&1 || die "$bin is missing and cargo is not on PATH"
		log=$(cd "$top" && cargo build --release --quiet -p wlreport 2>&1) ||
			die "cargo build -p wlreport failed: $(grep -v '^[[:space:]]*$' <<<"$log" | tail -n 1)"
	fi
	[ -x "$bin" ] || die "wlreport is not built: $bin"
	# shellcheck disable=SC2034 # the caller runs it
	WLREPORT="$bin"
}

# record_render OUT TABLE RECORD... -- ARG...: says in OUT/render how the
# table OUT/TABLE ("-": what wlreport prints) is made again from the records
# in OUT: `wlreport ARG...`, run in OUT. Line 1: the arguments, tab-separated;
# line 2: TABLE; then the records, a line each (files or folders under OUT).
# And OUT/made: the command that made OUT, when, and on what.
# scripts/results.sh publishes and checks tables with them.
record_render() {
	local out=$1 table=$2 records=()
	shift 2
	while (($#)) && [[ $1 != -- ]]; do records+=("$1"); shift; done
	shift
	{
		(IFS=$'\t'; printf '%s\n' "$*")
		printf '%s\n' "$table" "${records[@]}"
	} >"$out/render"
	# shellcheck disable=SC2016 # the backquotes are Markdown's
	printf 'Made by `%s` on %s, on a host of %s CPUs (Linux %s).\n' "$MADE_BY" \
		"$(date -u +%Y-%m-%d)" "$(nproc)" "$(uname -r)" >"$out/made"
}
# The command line that started the script, quoted as a shell would take it
# again, for record_render.
MADE_BY="scripts/${0#*scripts/}"
(($# == 0)) || MADE_BY+=$(printf ' %q' "$@")

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

# need_tool COMMAND PACKAGE: installs PACKAGE (need_pkgs) when COMMAND is
# missing; dies (exit 2) when it is still not on PATH.
need_tool() {
	command -v "$1" >/dev/null 2>&1 && return 0
	need_pkgs "$2"
	command -v "$1" >/dev/null 2>&1 || die "$1 is not on PATH (package $2 is installed)"
}

# ensure_tracefs: tracefs with the tracepoints the bpftrace trackers use
# (syscalls, kmem:kmalloc), mounted on /sys/kernel/tracing when it is not;
# dies (exit 2) when the kernel lacks them.
ensure_tracefs() {
	local t=/sys/kernel/tracing
	if [ ! -e "$t/events" ]; then
		if [ -d /sys/kernel/debug/tracing/events ]; then
			return 0
		fi
		say "tracefs is not mounted; mounting it on $t"
		mount -t tracefs nodev "$t" 2>/dev/null ||
			die "tracefs is missing and could not be mounted on $t (kernel without CONFIG_FTRACE?)"
	fi
	[ -e "$t/events/syscalls/sys_enter_mmap" ] ||
		die "no syscall tracepoints in $t/events (kernel without CONFIG_FTRACE_SYSCALLS)"
	[ -e "$t/events/kmem/kmalloc" ] || die "no kmem:kmalloc tracepoint in $t/events"
}

# check_size BIN SIZE [OPTION...]: asks the workload binary BIN, given its own
# OPTIONs, what SIZE is (malloc-wl allocates SIZE and frees it without touching
# it), so that a script accepts exactly the sizes (and options) the workloads accept. Sets size_bytes and returns 0; or sets
# size_error to BIN's one-line complaint and returns BIN's exit status (2: not a
# size, 3: the allocation failed).
size_bytes="" size_error=""
# shellcheck disable=SC2034 # the callers read size_bytes and size_error
check_size() {
	local out rc=0
	size_bytes="" size_error=""
	out=$("$1" "${@:3}" --json -- "$2" 2>&1) || rc=$?
	if ((rc == 0)) && [[ "$out" =~ \"requested_bytes\":[[:space:]]*([0-9]+) ]]; then
		size_bytes=${BASH_REMATCH[1]}
		return 0
	fi
	out=${out%$'\n'}
	out=${out##*$'\n'}
	size_error=${out% (see --help)}
	return $((rc ? rc : 1))
}

# KTAP test output (ktap_plan, check, ok, not_ok, skip, ktap_done): ktap.sh,
# which the tests in the QEMU guest share.
# shellcheck source=scripts/ktap.sh
. "$(dirname "${BASH_SOURCE[0]}")/ktap.sh"

# check_workloads_built: (for the host tests) builds the release workloads when
# they are missing, sets bins=(malloc-wl bytearray-wl) and checks they are there.
check_workloads_built() {
	local top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	bins=("$top/target/release/malloc-wl" "$top/target/release/bytearray-wl")
	if [ ! -x "${bins[0]}" ] || [ ! -x "${bins[1]}" ]; then
		echo "# building the workloads (cargo build --release)"
		(cd "$top" && cargo build --release --quiet) || true
	fi
	check "workload binaries are built" test -x "${bins[0]}" -a -x "${bins[1]}"
}
