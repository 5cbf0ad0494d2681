#!/usr/bin/env bash
# Times the user-space workloads side by side with what they stand in for, in one
# run, with hyperfine, and measures each command's peak RSS and page faults with
# GNU time:
#   malloc-wl SIZE      against  cmalloc SIZE (plain C, gcc -O0)
#   bytearray-wl SIZE   against  python3 -c 'bytearray(SIZE)'
#                       and      cmalloc SIZE memset (the floor: faulting SIZE in)
# at 1 B, 1 MiB and 1 GiB, each workload in its default (dynamic) and static build,
# and malloc-wl also as an installed copy; and what the --json ledger costs a
# call: malloc-wl --repeat 100000 1 without and with --json.
# rate-wl's top speed against the same loop in C (scripts/bench/crate.c:
# malloc and free of 4 KiB, 10^6 times), and its pacing: the rate achieved by
# `rate-wl --rate 10k --duration 2s` (its --json), 3 runs, in pacing.md.
# At 1 B it also counts instructions with callgrind (the start-up cost, exact and
# repeatable where wall times on a shared machine are not) and the calls to the
# malloc family that memcheck sees (a quiet workload makes only its own one).
# The commands compared take turns: hyperfine times them in ROUNDS rounds, each
# starting with the next command, and a command's median is that of all its
# runs. A shared machine's speed drifts over seconds; taking turns spreads the
# drift over every command instead of charging it to whichever ran last.
# Writes results/bench/bench.{md,csv} (the table by wlreport) and prints the table;
# keeps hyperfine's exports (hyperfine/) and the manifest of what was measured:
# scripts/results.sh publish bench DIR puts the table and them in docs/results/.
#
# Usage: scripts/bench.sh [--runs N] [--rounds ROUNDS] [--out DIR]
#   N runs of each command in all (default 30), over ROUNDS rounds (default 5).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

runs=30 rounds=5 out=results/bench
usage="usage: scripts/bench.sh [--runs N] [--rounds ROUNDS] [--out DIR]"
while (($#)); do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) die "unknown option '$1' ($usage)" ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] ||
	die "--runs and --rounds take a whole number above 0 ($usage)"

need_pkgs hyperfine time gcc python3 valgrind
need_wlreport
mkdir -p "$out/hyperfine"
cargo build --release -q -p malloc-wl -p bytearray-wl -p rate-wl
cargo build-static -q -p malloc-wl -p bytearray-wl
gcc -O0 -o "$out/cmalloc" scripts/bench/cmalloc.c
gcc -O2 -o "$out/crate" scripts/bench/crate.c
# The same malloc-wl, copied as an install copies it: the kernel then holds its
# pages in large folios (the linker's output, or a file read back from disk,
# comes in single pages), and maps them around each fault at less cost.
mkdir -p "$out/installed"
install -m 755 target/release/malloc-wl "$out/installed/malloc-wl"

rel=target/release st=target/x86_64-unknown-linux-gnu/release cm=$out/cmalloc
# The interpreter itself: `python3` on PATH may be a shim script (pyenv) whose
# own start-up would be charged to Python.
py=$(python3 -c 'import sys; print(sys.executable)')
sizes=(1 1048576 1073741824)

# instructions CMD...: instructions executed, start to exit (callgrind).
instructions() {
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
		awk '/Collected :/ { print $NF }'
}

# heap_calls CMD...: calls to the malloc family (malloc, calloc, realloc, memalign...)
# from start to exit, as memcheck's "total heap usage" counts them.
heap_calls() {
	valgrind --tool=memcheck "$@" 2>&1 >/dev/null |
		awk '/total heap usage:/ { gsub(",", "", $5); print $5 }'
}

# rss_faults CMD...: over 5 runs, the largest maximum resident size (KiB) and
# the fewest page faults served without I/O (minor faults), as "KIB FAULTS".
rss_faults() {
	local i kib flt max=0 min=''
	for i in 1 2 3 4 5; do
		read -r kib flt < <(/usr/bin/time -f '%M %R' "$@" 2>&1 >/dev/null | tail -n1)
		((kib > max)) && max=$kib
		[[ -z $min ]] || ((flt < min)) && min=$flt
		: "$i"
	done
	echo "$max $min"
}

manifest="$out/manifest.tsv"
: >"$manifest"
for size in "${sizes[@]}"; do
	for group in malloc bytearray; do
		# Fewer runs of the bytearray group at 1 GiB: faulting 1 GiB in takes a
		# good fraction of a second. malloc-wl leaves it untouched, as fast as 1 B.
		n=$runs
		((size >= 1 << 30)) && [[ $group == bytearray ]] && n=$((runs < 10 ? runs : 10))
		if [[ $group == malloc ]]; then
			cmds=("$rel/malloc-wl $size" "$st/malloc-wl $size" "$out/installed/malloc-wl $size" "$cm $size")
		else
			cmds=("$rel/bytearray-wl $size" "$st/bytearray-wl $size" "$py -c 'bytearray($size)'" "$cm $size memset")
		fi
		say "timing $group at $size bytes ($n runs each, in up to $rounds rounds)"
		# Round r starts with command r (mod the count): each leads in turn.
		nr=$((rounds < n ? rounds : n))
		per=$(((n + nr - 1) / nr)) hf=''
		for ((r = 0; r < nr; r++)); do
			k=$((r % ${#cmds[@]}))
			json="hyperfine/$group-$size-$r.json"
			hyperfine -N --warmup 1 --runs "$per" --style none --export-json "$out/$json" \
				"${cmds[@]:k}" "${cmds[@]:0:k}" >/dev/null
			hf+=${hf:+,}$json
		done
		for c in "${cmds[@]}"; do
			read -r -a argv <<<"${c//\'/}"
			read -r rss faults < <(rss_faults "${argv[@]}")
			ins='' calls=''
			if ((size == 1)); then
				ins=$(instructions "${argv[@]}")
				# memcheck cannot replace the malloc linked into a static binary.
				[[ $c == "$st/"* ]] || calls=$(heap_calls "${argv[@]}")
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$size" "$c" "$rss" "$faults" "$ins" "$calls" "$hf" >>"$manifest"
		done
	done
done

# The ledger's cost: the same 100,000 repeats of malloc(1) and free without and
# with --json (its report goes where hyperfine sends output, /dev/null), in one
# hyperfine run; the table says what each of the 200,000 calls' entries cost.
lrep=100000 json=hyperfine/ledger.json
cmds=("$rel/malloc-wl --repeat $lrep 1" "$rel/malloc-wl --repeat $lrep --json 1")
n=$((runs < 10 ? runs : 10))
say "timing the ledger: malloc-wl --repeat $lrep 1, without and with --json ($n runs each)"
hyperfine -N --warmup 1 --runs "$n" --style none --export-json "$out/$json" "${cmds[@]}" >/dev/null
for c in "${cmds[@]}"; do
	read -r -a argv <<<"$c"
	read -r rss faults < <(rss_faults "${argv[@]}")
	printf '%s\t%s\t%s\t%s\t%s\t\t\t%s\n' ledger 1 "$c" "$rss" "$faults" "$json" >>"$manifest"
done

# rate-wl at its top speed against the C loop: one group, taking turns too.
calls=1000000
cmds=("$rel/rate-wl --rate max --calls $calls 4096" "$out/crate 4096 $calls")
say "timing rate-wl --rate max against crate ($calls malloc/free of 4096 bytes)"
nr=$((rounds < runs ? rounds : runs))
per=$(((runs + nr - 1) / nr)) hf=''
for ((r = 0; r < nr; r++)); do
	k=$((r % ${#cmds[@]}))
	json="hyperfine/rate-4096-$r.json"
	hyperfine -N --warmup 1 --runs "$per" --style none --export-json "$out/$json" \
		"${cmds[@]:k}" "${cmds[@]:0:k}" >/dev/null
	hf+=${hf:+,}$json
done
for c in "${cmds[@]}"; do
	read -r -a argv <<<"$c"
	read -r rss faults < <(rss_faults "${argv[@]}")
	printf 'rate\t4096\t%s\t%s\t%s\t\t\t%s\n' "$c" "$rss" "$faults" "$hf" >>"$manifest"
done

# Pacing: what rate-wl achieved of its target, from its reports (kept in
# pacing/, the table made by wlreport).
say "pacing: rate-wl --rate 10k --duration 2s, 3 runs"
mkdir -p "$out/pacing"
pace=(rate-wl --rate 10k --duration 2s --json 4KiB) reports=()
for i in 1 2 3; do
	"$rel/${pace[0]}" "${pace[@]:1}" >"$out/pacing/$i.json"
	reports+=(--report "${pace[*]}=pacing/$i.json")
done
(cd "$out" && "$WLREPORT" pacing "${reports[@]}" --md pacing.md)

# The manifest names the exports under its folder: the table is made there.
args=(bench --manifest manifest.tsv --csv bench.csv --md bench.md)
record_render "$out" bench.md manifest.tsv hyperfine -- "${args[@]}"
(cd "$out" && "$WLREPORT" "${args[@]}")
cat "$out/bench.md"
echo
cat "$out/pacing.md"
