# shellcheck shell=bash
# shellcheck disable=SC2034 # rl_id, rl_cmd, wl_status are the runners'
# runner-lib.sh - what the scoreboard's tracker runners (run-*.sh) share;
# source it after scripts/lib.sh.
#
# A runner is called once per tracker mode with a list of runs on stdin, one a
# line, tab-separated: ID, the workload binary, then its arguments (ending with
# SIZE). For each it writes OUTDIR/ID.raw, the one normalized file wlreport
# reads (`wlreport scoreboard`), made of sections that each start with a line
# "@@ NAME":
#   @@ status       the workload's exit status (one line)
#   @@ pid          the workload's pid
#   @@ json         the workload's --json report (one line)
#   @@ tracker      the tracker's own output for the run, as it printed it
#   @@ wall_ns      the workload's wall time from its release (or start) to
#                   its exit, in ns, where the runner times it
#   @@ stderr       the last lines the workload printed on stderr
#   @@ tracker-stderr
#                   what the tracker printed on stderr (its last 50 lines),
#                   and its own lines about lost events wherever it printed
#                   them (bpftrace's "Lost N events" on stdout)
#   @@ tracker-usage
#                   "cpu_ns=N peak_rss_bytes=M": the tracker's processes
#                   (its process group, less the workload), CPU time from
#                   its ready line to its stop and the sum of their peak
#                   resident sizes, read from /proc before it is stopped;
#                   only for a tracker started apart from the workload
#   @@ null-json, @@ null-tracker
#                   the same for the null run of a tracker that counts a
#                   whole process from exec: the same command stopped by SIGINT
#                   at its --wait line, so it did everything but allocate
# A runner adds --json (and --wait, --hold where it needs them) before the
# arguments. It exits 0 when every run was recorded (a workload that failed is
# recorded with its status), 1 when the tracker failed (did not start, never
# got ready, hung), 2 on a usage or setup error.

# What a run is waiting for, at most (valgrind and gdb are slow to start).
RL_TIMEOUT=${RL_TIMEOUT:-60}

rl_tmp=""
rl_tr_pid=""
rl_wl_job=""
rl_wl_fd=""
# shellcheck disable=SC2317 # runs from the EXIT trap
rl_cleanup() {
	# reaped here, so that bash prints no "Killed" line after the runner's own
	{
		[ -z "$rl_tr_pid" ] || { kill -KILL -- "-$rl_tr_pid"; wait "$rl_tr_pid"; }
		[ -z "$rl_wl_job" ] || { kill -KILL "$rl_wl_job"; wait "$rl_wl_job"; }
	} 2>/dev/null || true
	[ -z "$rl_tmp" ] || rm -rf "$rl_tmp"
}

# rl_mode ARG MODE...: a runner's first argument, one of its MODEs; -h or
# --help prints the runner's usage and exits 0, anything else is a usage error.
rl_mode() {
	local arg=$1 m
	shift
	case "$arg" in -h | --help) usage; exit 0 ;; esac
	for m; do [ "$arg" = "$m" ] && return 0; done
	local all="$*"
	die "unknown mode '$arg' (${all// /, }; see --help)"
}

# rl_init OUTDIR: checks OUTDIR, makes the scratch folder, sets the traps.
rl_init() {
	[ -n "${1:-}" ] || die "usage: ${0##*/} MODE OUTDIR < RUNS (see --help)"
	if [ ! -d "$1" ] || [ ! -w "$1" ]; then die "not a writable folder: $1"; fi
	rl_out=$(cd "$1" && pwd)
	rl_tmp=$(mktemp -d "${TMPDIR:-/tmp}/runner.XXXXXX") || die "cannot make a temporary folder"
	trap rl_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# rl_read_run LINE: splits a line of stdin into rl_id, rl_cmd (binary and
# arguments); returns 1 for an empty line.
rl_read_run() {
	local -a f
	IFS=$'\t' read -r -a f <<<"$1"
	((${#f[@]} >= 3)) || return 1
	[[ "${f[0]}" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad run id: ${f[0]}"
	rl_id=${f[0]}
	rl_cmd=("${f[@]:1}")
}

# rl_wait_for REGEX TIMEOUT FILE...: 0 once a line of FILE matches REGEX, 1
# after TIMEOUT seconds or as soon as process rl_watch (when set) is gone.
rl_watch=""
rl_wait_for() {
	local re=$1 t=$2 i
	shift 2
	for ((i = 0; i < t * 50; i++)); do
		grep -Eq -- "$re" "$@" 2>/dev/null && return 0
		if [ -n "$rl_watch" ] && ! kill -0 "$rl_watch" 2>/dev/null; then
			grep -Eq -- "$re" "$@" 2>/dev/null
			return
		fi
		sleep 0.02
	done
	return 1
}

# wl_spawn PREFIX CMD...: starts CMD (a workload given --wait, maybe under a
# tracker) with stdin on a pipe the runner holds, stdout in PREFIX.out and
# stderr in PREFIX.err; waits for the workload's --wait line and sets wl_pid
# from it (the workload's own pid, whatever wraps it). Fails (1) when the line
# does not come.
wl_pid=""
rl_wl_prefix="" rl_wl_t0=""
wl_spawn() {
	local p=$1 fifo="$rl_tmp/stdin"
	shift
	rl_wl_prefix=$p rl_wl_t0=""
	rm -f "$fifo"
	mkfifo "$fifo"
	: >"$p.out"
	: >"$p.err"
	# SIGINT at its default: a background job of a script would ignore it, and
	# an ignored signal never reaches the workload's signalfd.
	env --default-signal=INT "$@" <"$fifo" >"$p.out" 2>"$p.err" &
	rl_wl_job=$!
	exec {rl_wl_fd}>"$fifo"
	rl_watch=$rl_wl_job
	if ! rl_wait_for '^pid=[0-9]+ waiting' "$RL_TIMEOUT" "$p.err"; then
		rl_watch=""
		wl_finish
		return 1
	fi
	rl_watch=""
	wl_pid=$(sed -n 's/^pid=\([0-9]*\) waiting.*/\1/p' "$p.err" | head -n 1)
}

# wl_release: a line on the workload's stdin lets it go on; its wall time
# runs from here to its exit.
wl_release() {
	rl_wl_t0=$(rl_now_ns)
	echo >&"$rl_wl_fd"
}

# rl_now_ns: the wall clock in ns.
rl_now_ns() {
	local t=$EPOCHREALTIME
	echo $((10#${t/./} * 1000))
}

# wl_stop: SIGINT, which ends the --wait or the --hold (the workload reports);
# with --fork the child holds, so it gets one too (the parent waits for it).
wl_stop() {
	local c kids
	kids=$(cat /proc/"$wl_pid"/task/*/children 2>/dev/null || true)
	for c in $kids; do
		kill -INT "$c" 2>/dev/null || true
	done
	kill -INT "$wl_pid" 2>/dev/null || true
}

# wl_finish: closes the workload's stdin and reaps it; sets wl_status. A
# released workload's wall time goes to PREFIX.wall, for emit.
wl_status=0
wl_finish() {
	[ -z "$rl_wl_fd" ] || exec {rl_wl_fd}>&-
	rl_wl_fd=""
	wl_status=0
	wait "$rl_wl_job" 2>/dev/null || wl_status=$?
	rl_wl_job=""
	[ -z "$rl_wl_t0" ] || echo $(($(rl_now_ns) - rl_wl_t0)) >"$rl_wl_prefix.wall"
	rl_wl_t0=""
}

# rl_timed PREFIX CMD...: runs CMD (a workload run plainly) in the background
# and reaps it; sets rl_pid and rl_status, its wall time to PREFIX.wall.
rl_pid="" rl_status=0
rl_timed() {
	local p=$1 t0
	shift
	t0=$(rl_now_ns)
	"$@" &
	rl_pid=$!
	rl_status=0
	wait "$rl_pid" || rl_status=$?
	echo $(($(rl_now_ns) - t0)) >"$p.wall"
}

# rl_group_usage PGID [SKIP_PID]: "CPU_NS PEAK_RSS_BYTES" of the processes of
# group PGID but SKIP_PID: their CPU time (utime + stime) and the sum of
# their peak resident sizes (VmHWM), from /proc.
rl_group_usage() {
	local tck pid f
	tck=$(getconf CLK_TCK)
	for pid in $(pgrep -g "$1" 2>/dev/null); do
		[ "$pid" != "${2:-}" ] || continue
		f=$(cat "/proc/$pid/stat" "/proc/$pid/status" 2>/dev/null) || continue
		printf '%s\n' "$f"
	done | awk -v tck="$tck" '
		/^[0-9]+ \(/ { sub(/^.*\) /, ""); cpu += $12 + $13 }
		/^VmHWM:/ { rss += $2 * 1024 }
		END { printf "%.0f %.0f\n", cpu * 1e9 / tck, rss }'
}

# The tracker's usage is counted from its ready line (tr_attach) or its
# start; rl_usage_skip is a pid of its group that is not the tracker's (the
# workload it started).
rl_tr_base="" rl_usage_skip=""
# tr_usage: writes the tracker's usage so far to $rl_tmp/tr.usage.
tr_usage() {
	local now base=${rl_tr_base:-0 0}
	now=$(rl_group_usage "$rl_tr_pid" "$rl_usage_skip")
	echo "cpu_ns=$((${now% *} - ${base% *})) peak_rss_bytes=${now#* }" >"$rl_tmp/tr.usage"
}

# tr_start PREFIX CMD...: the tracker in a process group of its own, stdout in
# PREFIX.out, stderr in PREFIX.err, stdin from /dev/null.
tr_start() {
	local p=$1
	shift
	rl_tr_base="" rl_usage_skip=""
	rm -f "$rl_tmp/tr.usage"
	: >"$p.out"
	: >"$p.err"
	setsid env --default-signal=INT "$@" >"$p.out" 2>"$p.err" </dev/null &
	rl_tr_pid=$!
}

# tr_stop: SIGINT to the tracker's group, again each second (bpftrace 0.17
# can lose one that comes just after it started); killed after 30 s, which
# fails the runner.
tr_stop() {
	local i
	! kill -0 "$rl_tr_pid" 2>/dev/null || tr_usage
	for ((i = 0; i < 1500; i++)); do
		kill -0 "$rl_tr_pid" 2>/dev/null || break
		((i % 50)) || kill -INT -- "-$rl_tr_pid" 2>/dev/null || true
		sleep 0.02
	done
	if kill -0 "$rl_tr_pid" 2>/dev/null; then
		kill -KILL -- "-$rl_tr_pid" 2>/dev/null || true
		wait "$rl_tr_pid" 2>/dev/null || true
		rl_tr_pid=""
		fail "the tracker did not exit within 30 s of SIGINT"
	fi
	wait "$rl_tr_pid" 2>/dev/null || true
	rl_tr_pid=""
}

# tr_wait_exit SECONDS: lets the tracker finish by itself (heaptrack ends with
# the process it traces); 1 when it is still running after SECONDS.
tr_wait_exit() {
	local i
	for ((i = 0; i < $1 * 50; i++)); do
		kill -0 "$rl_tr_pid" 2>/dev/null || { wait "$rl_tr_pid" 2>/dev/null || true; rl_tr_pid=""; return 0; }
		sleep 0.02
	done
	return 1
}

# tr_wait_ready REGEX PREFIX WHAT: waits for the tracker's ready line in
# PREFIX.out or PREFIX.err; fails the runner (exit 1) when it does not come.
tr_wait_ready() {
	rl_watch=$rl_tr_pid
	if ! rl_wait_for "$1" "$RL_TIMEOUT" "$2.out" "$2.err"; then
		rl_watch=""
		local last
		last=$(last_line "$2.out" "$2.err")
		fail "$3 did not get ready${last:+: $last}"
	fi
	rl_watch=""
}

# tr_attach PREFIX WHAT CMD...: starts the tracker CMD (tr_start) and waits for
# its "ready" line. An attach of uprobes that failed ("Error attaching probe":
# another tracer was attaching uprobes to the same library at that moment, as
# memleak's runs do in the background of the scoreboard) is tried again, up
# to 6 times, 10 s apart; any other failure fails the runner (exit 1) with
# the tracker's own last line.
tr_attach() {
	local p=$1 what=$2 try
	shift 2
	for try in 1 2 3 4 5 6; do
		tr_start "$p" "$@"
		rl_watch=$rl_tr_pid
		if rl_wait_for '^ready$' "$RL_TIMEOUT" "$p.out" "$p.err"; then
			rl_watch=""
			rl_tr_base=$(rl_group_usage "$rl_tr_pid")
			return 0
		fi
		rl_watch=""
		if ! grep -Eq 'Error attaching probe|RLIMIT_MEMLOCK' "$p.err" || ((try == 6)); then break; fi
		say "$what: $(last_line "$p.err"); again in 10 s"
		tr_stop
		sleep 10
	done
	local why="printed no ready line within $RL_TIMEOUT s" rc=0 last
	if ! kill -0 "$rl_tr_pid" 2>/dev/null; then
		wait "$rl_tr_pid" 2>/dev/null || rc=$?
		rl_tr_pid=""
		why="exited with status $rc before it was ready"
	fi
	last=$(last_line "$p.out" "$p.err")
	fail "$what $why${last:+: $last}"
}

# tr_errors ERR [OUT...]: the tracker's stderr (its last 50 lines) and its
# lines about lost events in OUT, for the tracker-stderr section.
tr_errors() {
	tail -n 50 -- "$1" 2>/dev/null || true
	shift
	(($#)) || return 0
	grep -hE '^Lost [0-9]+ events|[Pp]ossibly lost [0-9]+ samples' -- "$@" 2>/dev/null || true
}

# wl_wait_held: with RL_WAIT_HELD=1, waits (up to RL_RUN_TIMEOUT s, 600) until
# the released workload holds: its main thread in poll on one descriptor
# (the signalfd of its --hold, after rate-wl's loop; its --wait polls two,
# the signalfd and stdin), so that a tracker is read only once every call
# is made.
wl_wait_held() {
	[ "${RL_WAIT_HELD:-0}" = 1 ] || return 0
	local i nr nfds arch
	arch=$(uname -m)
	for ((i = 0; i < ${RL_RUN_TIMEOUT:-600} * 50; i++)); do
		read -r nr _ nfds _ 2>/dev/null <"/proc/$wl_pid/syscall" || return 0
		case "$arch $nr $nfds" in
		# poll and ppoll on x86-64; ppoll on arm64 (73 is flock on x86-64)
		"x86_64 7 0x1" | "x86_64 271 0x1" | "aarch64 73 0x1") return 0 ;;
		esac
		sleep 0.02
	done
	fail "the workload was still running ${RL_RUN_TIMEOUT:-600} s after its release"
}

# json_of FILE: the workload's report, the first line that is one (a tracker
# may write on the same stdout).
json_of() { grep -m 1 '^{"workload"' "$1" 2>/dev/null || true; }

# emit ID STATUS PID JSON_FILE TRACKER_FILE [NULL_JSON_FILE NULL_TRACKER_FILE]:
# writes OUTDIR/ID.raw.
emit() {
	{
		printf '@@ status\n%s\n@@ pid\n%s\n@@ json\n' "$2" "$3"
		json_of "$4"
		echo "@@ tracker"
		cat -- "$5" 2>/dev/null || true
		if [ -s "$rl_tmp/$1.wall" ]; then
			echo "@@ wall_ns"
			cat -- "$rl_tmp/$1.wall"
		fi
		if [ -s "$rl_tmp/$1.err" ]; then
			echo "@@ stderr"
			tail -n 5 -- "$rl_tmp/$1.err"
		fi
		if [ -s "$rl_tmp/$1.trerr" ]; then
			echo "@@ tracker-stderr"
			cat -- "$rl_tmp/$1.trerr"
		fi
		if [ -s "$rl_tmp/$1.usage" ]; then
			echo "@@ tracker-usage"
			cat -- "$rl_tmp/$1.usage"
		fi
		if [ $# -ge 7 ]; then
			echo "@@ null-json"
			json_of "$6"
			echo "@@ null-tracker"
			cat -- "$7" 2>/dev/null || true
		fi
	} >"$rl_out/$1.raw"
}
