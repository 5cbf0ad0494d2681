#!/usr/bin/env bash
# Times the user-space workloads side by side with what they stand in for, in one
# run, with hyperfine, and measures each command's peak RSS with GNU time:
#   malloc-wl SIZE      against  cmalloc SIZE (plain C, gcc -O0)
#   bytearray-wl SIZE   against  python3 -c 'bytearray(SIZE)'
#                       and      cmalloc SIZE memset (the floor: faulting SIZE in)
# at 1 B, 1 MiB and 1 GiB, each workload in its default (dynamic) and static build.
# At 1 B it also counts instructions with callgrind (the start-up cost, exact and
# repeatable where wall times on a shared machine are not) and the calls to the
# malloc family that memcheck sees (a quiet workload makes only its own one).
# Writes results/bench/bench.{md,csv} and prints the table.
#
# Usage: scripts/bench.sh [--runs N] [--out DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

runs=30 out=results/bench
while (($#)); do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) die "unknown option '$1' (usage: scripts/bench.sh [--runs N] [--out DIR])" ;;
	esac
done

need_pkgs hyperfine time gcc python3 valgrind
mkdir -p "$out"
cargo build --release -q -p malloc-wl -p bytearray-wl
cargo build-static -q -p malloc-wl -p bytearray-wl
gcc -O0 -o "$out/cmalloc" scripts/bench/cmalloc.c

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

# peak_rss CMD...: the largest maximum resident size of 5 runs, in KiB.
peak_rss() {
	local i kib max=0
	for i in 1 2 3 4 5; do
		kib=$(/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n1)
		((kib > max)) && max=$kib
		: "$i"
	done
	echo "$max"
}

printf 'group,size,command,median_s,stddev_s,peak_rss_kib,instructions,heap_calls\n' >"$out/bench.csv"
for size in "${sizes[@]}"; do
	# Fewer runs at 1 GiB: each takes a good fraction of a second.
	n=$runs
	((size >= 1 << 30)) && n=$((runs < 10 ? runs : 10))
	for group in malloc bytearray; do
		if [[ $group == malloc ]]; then
			cmds=("$rel/malloc-wl $size" "$st/malloc-wl $size" "$cm $size")
		else
			cmds=("$rel/bytearray-wl $size" "$st/bytearray-wl $size" "$py -c 'bytearray($size)'" "$cm $size memset")
		fi
		say "timing $group at $size bytes ($n runs each)"
		hyperfine -N --warmup 3 --runs "$n" --style none --export-json "$out/hf.json" "${cmds[@]}" >/dev/null
		for c in "${cmds[@]}"; do
			read -r -a argv <<<"${c//\'/}"
			rss=$(peak_rss "${argv[@]}")
			ins='' calls=''
			if ((size == 1)); then
				ins=$(instructions "${argv[@]}")
				# memcheck cannot replace the malloc linked into a static binary.
				[[ $c == "$st/"* ]] || calls=$(heap_calls "${argv[@]}")
			fi
			python3 - "$out/hf.json" "$c" "$group" "$size" "$rss" "$ins" "$calls" >>"$out/bench.csv" <<'PY'
import json, sys
path, cmd, group, size, rss, ins, calls = sys.argv[1:]
r = next(r for r in json.load(open(path))["results"] if r["command"] == cmd)
print(f'{group},{size},"{cmd}",{r["median"]:.6f},{r["stddev"] or 0:.6f},{rss},{ins},{calls}')
PY
		done
	done
done

python3 - "$out/bench.csv" >"$out/bench.md" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def human(n):
    n = int(n)
    return next(f"{n >> s} {u}" for s, u in ((30, "GiB"), (20, "MiB"), (10, "KiB"), (0, "B")) if n >> s)
def name(cmd):
    static = " (static)" if "x86_64-unknown-linux-gnu/" in cmd else ""
    return cmd.split(" ")[0].split("/")[-1] + " " + " ".join(cmd.split(" ")[1:]) + static
print("| size | command | median time | peak RSS | instructions | malloc calls | time / workload | instructions / workload |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
base = {}
for r in rows:
    key = (r["group"], r["size"])
    t, rss = float(r["median_s"]), int(r["peak_rss_kib"])
    ins = int(r["instructions"]) if r["instructions"] else None
    base.setdefault(key, (t, ins))  # the first of a group is the dynamic workload
    bt, bins = base[key]
    ins_text = f"{ins:,}" if ins else ""
    ratio = f"{ins / bins:.2f}x" if ins and bins else ""
    print(f'| {human(r["size"])} | `{name(r["command"]).replace(chr(39), "")}` '
          f'| {t * 1000:.2f} ms ± {float(r["stddev_s"]) * 1000:.2f} '
          f'| {rss} KiB | {ins_text} | {r["heap_calls"]} | {t / bt:.2f}x | {ratio} |')
PY
cat "$out/bench.md"
