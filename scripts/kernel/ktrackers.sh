#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Kernel cells of real trackers: the host's eBPF tools (bpftrace, bcc's
# memleak) run in the QEMU guest on the production kernel, chrooted in the
# host's root (vm-test.sh --production --host-root), each compiled and
# attached once per boot, while kmalloc-test takes every path of
# scripts/kernel/kpaths.list. The trackers are the lines of
# scripts/trackers/ktrackers.tsv (kmem-bt: scripts/trackers/kmem.bt;
# memleak-k: memleak-bpfcc in kernel mode). `wlreport ktrackers` reads what
# each printed for each run, classes it as the scoreboard classes its cells,
# and prints the table.
# Writes DIR/ktrackers.md (the table), DIR/console.log (the guest's lines it is
# made from) and DIR/ktrackers.csv (the cells, in the scoreboard's schema:
# `wlreport scoreboard check` holds them to
# scripts/scoreboard/expected/linux-VERSION.csv).
#
# Usage: scripts/kernel/ktrackers.sh [-r REPS] [-l LIST] [-t NAME]...
#            [--tracker NAME:kernel=COMMAND]... [--file PATH]... [-o DIR]
#   -r REPS   repetitions of each run; the table shows the median one (default 3)
#   -l LIST   the runs, kmalloc-test's arguments one run a line
#             (default scripts/kernel/kpaths.list)
#   -t NAME   only this tracker (repeatable; default: all)
#   --tracker NAME:kernel=COMMAND
#             a tracker of the contract (docs/tracker-contract.md) as a row of
#             its own, as scoreboard.sh takes one: COMMAND a shell command
#             line with {pid}, run in the guest (chrooted in the host's root:
#             the host's paths are the guest's, but for /tmp, /run and
#             /var/tmp, a tmpfs there) once a run, in the folder of the
#             files given by --file, attached to
#             kmalloc-test at its --wait line and read on SIGINT while the
#             allocation is held; its figure, live_bytes (or bytes), is held
#             to what the module allocated; its expected file is
#             NAME-KERNEL.csv (repeatable)
#   --file PATH
#             a file the guest needs (a tracker's script), copied into the
#             folder where COMMAND runs (repeatable)
# Needs bpftrace and bpfcc-tools on the host (their files are shared with the
# guest). Errors are one line on stderr, "ktrackers.sh: ...". Exit status: 0
# done; 1 a run failed or did not report; 2 usage or setup error.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

defs="$here/../trackers/ktrackers.tsv"
reps=3 list="$here/kpaths.list" out="$here/../../results/ktrackers" names=() added=() files=()
while (($#)); do
	case $1 in
	-r|-l|-t|-o|--tracker|--file) (($# >= 2)) || die "$1 needs a value (see --help)" ;;&
	-r) reps=$2; shift 2 ;;
	-l) list=$2; shift 2 ;;
	-t) names+=("$2"); shift 2 ;;
	--tracker) added+=("$2"); shift 2 ;;
	--file) [ -f "$2" ] || die "--file $2: no such file"
		files+=(--file "$2"); shift 2 ;;
	-o) out=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option '$1' (usage: ktrackers.sh [-r REPS] [-l LIST] [-t NAME]... [--tracker NAME:kernel=COMMAND]... [--file PATH]... [-o DIR])" ;;
	esac
done
[[ $reps =~ ^[1-9][0-9]?$ ]] || die "-r takes a whole number from 1 to 99, not '$reps'"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The trackers of the contract join the definitions the guest reads.
grep -v '^#' "$defs" >"$tmp/ktrackers.tsv"
defs=$tmp/ktrackers.tsv
for t in "${added[@]}"; do
	[[ $t =~ ^([A-Za-z0-9._-]+):([a-z]+)=(.+)$ ]] || die "--tracker takes NAME:kernel=COMMAND, not '$t'"
	tn=${BASH_REMATCH[1]} tk=${BASH_REMATCH[2]} tc=${BASH_REMATCH[3]}
	[ "$tk" = kernel ] || die "--tracker $tn: the kind of a kernel tracker is kernel, not '$tk'"
	[[ $tc == *"{pid}"* ]] || die "--tracker $tn: COMMAND needs {pid} (in the guest a tracker attaches by pid)"
	[[ $tc != *$'\t'* && $tc != *"{cmd}"* ]] || die "--tracker $tn: COMMAND has a tab or {cmd}"
	! cut -f 1 "$defs" | grep -qxF -- "$tn" || die "--tracker $tn: a tracker of that name exists"
	read -ra words <<<"$tc"
	for w in "${words[@]}"; do
		case $w in /tmp/* | /run/* | /var/tmp/*)
			die "--tracker $tn: $w is not in the guest (a tmpfs there): give it with --file, by its name" ;;
		esac
	done
	printf '%s\t%s\tcontract\tcontract\t^ready$\t-\t%s\tthe tracker contract: %s\n' "$tn" "$tn" "$tc" "$tc" >>"$defs"
done
known=$(cut -f 1 "$defs")
((${#names[@]})) || mapfile -t names <<<"$known"
for n in "${names[@]}"; do
	grep -qxF -- "$n" <<<"$known" || die "no tracker '$n' in $defs (one of: ${known//$'\n'/ })"
done
command -v bpftrace >/dev/null 2>&1 || die "bpftrace is not installed (Debian: bpftrace)"
[[ -x /usr/sbin/memleak-bpfcc ]] || die "memleak-bpfcc is not installed (Debian: bpfcc-tools)"
read_list "$list"
runs=("${LIST[@]}")
need_wlreport

# Each tracker compiles once (bcc's a minute or more under TCG), then each
# run takes a few seconds; one of the contract starts (compiles) every run.
per_run=5
for n in "${names[@]}"; do
	[ "$(awk -F'\t' -v n="$n" '$1 == n { print $3 }' "$defs")" != contract ] || per_run=$((per_run + 150))
done
timeout=$((300 + ${#names[@]} * 120 + per_run * reps * ${#runs[@]}))
"$here/vm-test.sh" --production --host-root --quiet --log "$tmp/console" --timeout "$timeout" \
	--file "$here/../trackers/kmem.bt" --file "$defs" "${files[@]}" \
	--guest "$here/guest-ktrackers.sh" -- "$reps" "$(IFS=,; echo "${names[*]}")" "${runs[@]}" \
	>"$tmp/out" 2>&1 || vm_rc=$?
# what the guest said went wrong first, then how the VM ended
kerr=$(grep -a '^KERR' "$tmp/console" 2>/dev/null | tr -d '\r') && fail "in the guest: ${kerr//$'\n'/; }"
[ -z "${vm_rc:-}" ] || fail "the guest failed: $(last_line "$tmp/out")"
kernel=$(sed -n 's/^GUEST-START: \([^ ]*\).*/\1/p' "$tmp/console" | tr -d '\r' | head -n 1)
mkdir -p "$out" || die "cannot make $out"
grep -a -e '^KTRK-' -e '^GUEST-HOST-ROOT' "$tmp/console" | tr -d '\r' >"$out/console.log" || true
cp "$defs" "$out/ktrackers.tsv"
args=(ktrackers --console console.log --defs ktrackers.tsv --runs ${#runs[@]} --reps "$reps" --kernel "$kernel")
record_render "$out" - console.log ktrackers.tsv -- "${args[@]}"
(cd "$out" && "$WLREPORT" "${args[@]}" --csv ktrackers.csv) >"$out/ktrackers.md" || fail "wlreport ktrackers failed"
cat "$out/ktrackers.md"
