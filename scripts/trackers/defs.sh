# shellcheck shell=bash
# shellcheck disable=SC2154 # here (the scripts folder) and out are the sourcing script's
# defs.sh - the trackers' definitions and their tools, for the scripts that
# run trackers (scoreboard.sh, load.sh); source it after scripts/lib.sh.

# tracker_defs DEFS SPEC...: writes to DEFS the bundled trackers
# (trackers.tsv) and one line for each --tracker NAME:KIND=COMMAND SPEC (the
# contract, docs/tracker-contract.md), whose commands go to contract_cmd;
# dies (exit 2) on a bad SPEC.
declare -A contract_cmd=()
tracker_defs() {
	local defs=$1 spec name kind cmd mode how
	shift
	grep -v '^#' "$here/trackers/trackers.tsv" >"$defs"
	for spec; do
		[[ $spec =~ ^([A-Za-z0-9._-]+):(calls|live|mapping)=(.+)$ ]] ||
			die "--tracker takes NAME:KIND=COMMAND, KIND calls, live or mapping: '$spec'"
		name=${BASH_REMATCH[1]} kind=${BASH_REMATCH[2]} cmd=${BASH_REMATCH[3]}
		mode=pid
		[[ $cmd != *"{cmd}"* ]] || mode=cmd
		[[ $cmd == *"{$mode}"* && ($mode == pid || $cmd != *"{pid}"*) ]] ||
			die "--tracker $name: the command has {pid} or {cmd}, not both: $cmd"
		[[ $cmd != *$'\t'* && $cmd != *$'\n'* ]] || die "--tracker $name: the command is one line, without tabs"
		! cut -f1 "$defs" | grep -qxF -- "$name" || die "--tracker $name: a tracker of that name exists"
		[[ $name != none ]] || die "--tracker: 'none' is the runs without a tracker"
		contract_cmd[$name]=$cmd
		how="by pid"
		[ "$mode" = pid ] || how="starting the workload"
		printf '%s\t%s\trun-contract.sh\t%s\t%s\twhole\tcontract\t%s (the contract, %s)\n' \
			"$name" "$name" "$mode" "$kind" "${cmd//|//}" "$how" >>"$defs"
	done
}

# contract_commands RAW: each contract tracker's command in RAW/NAME/COMMAND,
# where run-contract.sh reads it.
contract_commands() {
	local name
	for name in "${!contract_cmd[@]}"; do
		mkdir -p "$1/$name"
		printf '%s\n' "${contract_cmd[$name]}" >"$1/$name/COMMAND"
	done
}

# tool_setup TOOL: installs what TOOL needs (scripts/trackers/tools.tsv; in a
# subshell: a failed install is the tool's reason to be skipped, not the
# script's end); prints the version text, or fails with the reason.
tool_setup() {
	local name pkgs root cmds check version c e
	while IFS=$'\t' read -r name pkgs root cmds check version; do
		[ "$name" = "$1" ] || continue
		[ "$root" != root ] || ((EUID == 0)) || { echo "needs root"; return 1; }
		# shellcheck disable=SC2086 # lists of words
		(need_pkgs $pkgs) >/dev/null 2>&1 || true
		for c in $cmds; do
			command -v "$c" >/dev/null || { echo "$c could not be installed ($pkgs)"; return 1; }
		done
		if [ "$check" != - ]; then
			e=$(eval "$check" 2>&1) || { last_line /dev/stdin <<<"$e"; echo; return 1; }
		fi
		eval "$version" 2>&1 | head -n 1
		return 0
	done < <(grep -v '^#' "$here/trackers/tools.tsv")
	# a tracker of the contract: its command's program must be there
	c=${contract_cmd[$1]:-}
	[ -n "$c" ] || { echo "unknown tool $1 (scripts/trackers/tools.tsv)"; return 1; }
	local -a w
	read -r -a w <<<"$c"
	command -v "${w[0]}" >/dev/null || { echo "${w[0]} is not installed"; return 1; }
	# the contract's version stands for the tool's (docs/tracker-contract.md)
	echo "contract 1.0"
}

# tool_of TRACKER: its tool, from the definitions the run keeps (OUT/trackers.tsv)
tool_of() { awk -F'\t' -v t="$1" '$1 == t { print $2; exit }' "$out/trackers.tsv"; }
