#!/usr/bin/env bash
# bcc-headers.sh - give bcc's tools kernel headers for the running kernel.
#
# bcc compiles its C at start-up against /lib/modules/$(uname -r)/build. This
# machine's kernel has no headers package of its own release, but Debian 13's
# cloud kernel headers compile bcc's tools against it. This script:
#   1. finds the newest linux-headers-*-cloud-amd64 of Debian 13 (trixie)
#      through a private apt state (the system's sources stay as they are;
#      the archive's address is read from the system's own sources);
#   2. fetches that package and its -common one with `apt-get download`, and
#      unpacks both (dpkg -x) into one folder under the cache;
#   3. points /lib/modules/RELEASE/build at the cloud-amd64 tree and
#      /lib/modules/RELEASE/source at the -common tree (source pointing at the
#      cloud-amd64 tree fails with "./include/linux/kconfig.h not found").
# Idempotent: a second run finds the links in place and does nothing. Links that
# point somewhere else (a real headers package) are left alone.
#
# Usage: scripts/trackers/bcc-headers.sh [-h|--help]
# Prints the headers' folder on stdout. Errors are one line on stderr,
# "bcc-headers.sh: ...". Exit status: 0 the headers are in place; 2 they could
# not be put in place (not root, no archive, download failed).
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

case "${1:-}" in
-h|--help) usage; exit 0 ;;
"") ;;
*) die "unknown option: $1 (see --help)" ;;
esac

rel=$(uname -r)
mods="/lib/modules/$rel"
cache="$CACHE_DIR/bcc-headers"

# in_place: the build link leads to a tree that bcc can compile against.
in_place() {
	[ -e "$mods/build/include/generated/autoconf.h" ] || [ -e "$mods/build/include/config/auto.conf" ]
}
if in_place; then
	readlink -f "$mods/build"
	exit 0
fi
((EUID == 0)) || die "kernel headers for $rel are missing and only root can put them in place"
if [ -e "$mods/build" ] || [ -L "$mods/build" ]; then
	case "$(readlink "$mods/build" || true)" in
	"$cache"/*) ;; # ours, but broken (a half-emptied cache): redo it
	*) die "$mods/build exists but is not a usable headers tree; not replacing it" ;;
	esac
fi

# The Debian archive this machine already uses (deb822 or one-line sources).
archive=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$archive" ] || archive=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
	/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 || true)
[ -n "$archive" ] || die "no Debian archive found in /etc/apt/sources.list*"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || need_pkgs debian-archive-keyring

# A private apt state: its own lists, cache and sources, nothing of the system's.
apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/parts" "$apt_dir/prefs"
echo "deb [signed-by=$keyring] $archive trixie main" >"$apt_dir/sources.list"
apt_opts=(
	-o "Dir::State=$apt_dir" -o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::State::status=/var/lib/dpkg/status"
	-o "Dir::Cache=$apt_dir" -o "Dir::Cache::Archives=$apt_dir/archives"
	-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
	-o "Dir::Etc::Preferences=$apt_dir/prefs/none" -o "Dir::Etc::PreferencesParts=$apt_dir/prefs"
	-o Debug::NoLocking=1 -o APT::Sandbox::User=root -q
)
log=$(apt-get "${apt_opts[@]}" update 2>&1) ||
	die "apt-get update of the private trixie state failed: $(last_line <<<"$log" /dev/stdin)"
flavour=$(apt-cache "${apt_opts[@]}" depends linux-headers-cloud-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-headers-[^ ]*-cloud-amd64\)$/\1/p' | head -n 1)
[ -n "$flavour" ] || die "no linux-headers-*-cloud-amd64 in trixie's index"
common=${flavour%-cloud-amd64}-common

tree="$cache/$flavour"
if [ ! -d "$tree/usr/src/$flavour" ] || [ ! -d "$tree/usr/src/$common" ]; then
	say "fetching $flavour and $common"
	rm -rf "$tree" "$tree.tmp"
	mkdir -p "$tree.tmp/debs"
	log=$(cd "$tree.tmp/debs" && apt-get "${apt_opts[@]}" download "$flavour" "$common" 2>&1) ||
		die "apt-get download $flavour $common failed: $(last_line <<<"$log" /dev/stdin)"
	for deb in "$tree.tmp"/debs/*.deb; do
		dpkg -x "$deb" "$tree.tmp" || die "dpkg -x $deb failed"
	done
	rm -rf "$tree.tmp/debs"
	mv "$tree.tmp" "$tree"
fi
mkdir -p "$mods"
ln -sfn "$tree/usr/src/$flavour" "$mods/build"
ln -sfn "$tree/usr/src/$common" "$mods/source"
in_place || die "the headers in $tree lack the generated config; bcc cannot use them"
readlink -f "$mods/build"
