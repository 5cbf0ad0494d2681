#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boots a kernel under QEMU (TCG) with an initramfs made of busybox-static, the
# given files and a guest script, streams the guest's console, and exits with
# the guest script's exit status.
#
# Usage: vm-run.sh [options] GUEST_SCRIPT [ARG...]
#   --kernel BZIMAGE   kernel to boot (default: $BZIMAGE)
#   --file PATH        put PATH into the guest's /bin (repeatable), e.g. the
#                      module (.ko) or static binaries
#   --timeout SECONDS  kill the guest after this long (default 300), times
#                      VM_TIME_MARGIN (default 3): the limits were measured on
#                      the fastest machine, and TCG runs 2-3x slower on a
#                      slower or busy one
#   --log FILE         also write the guest console to FILE
#   --smp N            virtual CPUs (default 2)
#   --mem SIZE         guest memory (default 512M)
#   --append ARGS      more kernel command line (repeatable)
#   --quiet            do not stream the console; afterwards print the guest
#                      script's output, or the whole console on failure
#   --host-root        share the host's / read-only (virtio-9p) and run the
#                      guest script chrooted in it, so the host's programs
#                      (bpftrace, bcc's tools, python3) run on the guest's
#                      kernel; the kernel needs 9P_FS and VIRTIO_PCI
#                      (config.fragment). Memory defaults to 2G (bcc's
#                      compiler needs more than 512M)
#
# In the guest, /init mounts proc, sys, devtmpfs, tmpfs (/tmp), tracefs
# (/sys/kernel/tracing) and debugfs (/sys/kernel/debug), runs
# `sh /guest.sh ARG...` with /bin on PATH, prints `GUEST-EXIT: <status>` and
# reboots, which ends QEMU (-no-reboot). A panic also ends QEMU (panic=-1).
# With --host-root, /init mounts the host's / on /host (9p, read-only), proc,
# sys, devtmpfs, tracefs and debugfs in it and tmpfs on its tmp, run, var/tmp
# and lib/modules (nothing is written to the host), copies the given files,
# the guest script and busybox (as insmod, rmmod, lsmod) to /tmp/wl there, and runs
# `chroot /host sh /tmp/wl/guest.sh ARG...` with WLBIN=/tmp/wl and
# PATH=/tmp/wl:/usr/sbin:/usr/bin:/sbin:/bin.
# This script exits with that status, 124 on timeout (its message names the
# last line the guest printed: the check that was running), or 125 when the
# guest ended without reporting one.
set -euo pipefail

kernel=${BZIMAGE:-}
files=()
timeout_s=300
log_file=
smp=2
mem=
quiet=0
host_root=0
cmdline="console=ttyS0 panic=-1 loglevel=4 rdinit=/init"

usage() { sed -n '/^# Usage:/,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

while (($#)); do
	case "$1" in
	--kernel) kernel=$2; shift 2 ;;
	--file) files+=("$2"); shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--log) log_file=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--append) cmdline+=" $2"; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--host-root) host_root=1; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) echo "vm-run: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
(($#)) || usage
guest_script=$1
shift
if [[ -z "$mem" ]]; then
	if ((host_root)); then mem=2G; else mem=512M; fi
fi

[[ -n "$kernel" && -f "$kernel" ]] || { echo "vm-run: no kernel (--kernel or BZIMAGE)" >&2; exit 2; }
[[ -f "$guest_script" ]] || { echo "vm-run: no guest script $guest_script" >&2; exit 2; }
busybox=/bin/busybox # statically linked, from the busybox-static package
[[ -x "$busybox" ]] || { echo "vm-run: busybox-static is not installed" >&2; exit 2; }
# gen_init_cpio from the kernel build tree writes the archive without needing
# root for /dev/console; plain cpio is the fallback.
gen_init_cpio="${KBUILD:-$(dirname "$kernel")/../../..}/usr/gen_init_cpio"

work=$(mktemp -d "${TMPDIR:-/tmp}/vm-run.XXXXXX")
qemu_pid=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	if [[ -n "$qemu_pid" ]]; then
		kill "$qemu_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# Guest arguments travel in a file, quoted for the guest's sh.
args_file="$work/args"
: >"$args_file"
for a in "$@"; do
	printf "'%s' " "${a//\'/\'\\\'\'}" >>"$args_file"
done

cat >"$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox --install -s /bin
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
export PATH=/bin HOME=/tmp
cd /tmp || exit
# A line of its own: the firmware's last escape codes end without a newline.
echo
echo "GUEST-START: $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
eval "set -- $(cat /guest.args)"
if [ -e /guest.files ]; then
	# --host-root: the host's / read-only, tmpfs where programs write.
	H=/host
	mkdir -p $H
	if mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot $H; then
		mount -t proc proc $H/proc
		mount -t sysfs sysfs $H/sys
		mount -t devtmpfs devtmpfs $H/dev
		mount -t tracefs tracefs $H/sys/kernel/tracing
		mount -t debugfs debugfs $H/sys/kernel/debug
		for d in tmp run var/tmp lib/modules; do
			mount -t tmpfs tmpfs $H/$d || echo "GUEST: no tmpfs on /$d"
		done
		mkdir -p $H/tmp/wl
		cp /guest.sh $H/tmp/wl/guest.sh
		# busybox's module tools: the host may have no kmod
		cp /bin/busybox $H/tmp/wl/busybox
		for a in insmod rmmod lsmod; do ln -s busybox $H/tmp/wl/$a; done
		while read -r f; do cp "/bin/$f" "$H/tmp/wl/$f"; done </guest.files
		echo "GUEST-HOST-ROOT: mounted in $(cut -d' ' -f1 /proc/uptime) s of uptime"
		chroot $H /usr/bin/env -i PATH=/tmp/wl:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp \
			WLBIN=/tmp/wl TERM=dumb LANG=C.UTF-8 /bin/sh /tmp/wl/guest.sh "$@"
		echo "GUEST-EXIT: $?"
	else
		echo "GUEST: the host's root (9p, tag hostroot) did not mount"
		echo "GUEST-EXIT: 125"
	fi
else
	sh /guest.sh "$@"
	echo "GUEST-EXIT: $?"
fi
sync
reboot -f
INIT

# --host-root: the names of the files to copy into the chroot.
: >"$work/files"
for f in "${files[@]}"; do basename "$f" >>"$work/files"; done

if [[ -x "$gen_init_cpio" ]]; then
	{
		echo "dir /bin 0755 0 0"
		echo "dir /dev 0755 0 0"
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "file /bin/busybox $busybox 0755 0 0"
		echo "file /init $work/init 0755 0 0"
		echo "file /guest.sh $(realpath "$guest_script") 0755 0 0"
		echo "file /guest.args $args_file 0644 0 0"
		for f in "${files[@]}"; do
			echo "file /bin/$(basename "$f") $(realpath "$f") 0755 0 0"
		done
		if ((host_root)); then echo "file /guest.files $work/files 0644 0 0"; fi
	} >"$work/list"
	"$gen_init_cpio" "$work/list" >"$work/initramfs.cpio"
else
	root="$work/root"
	mkdir -p "$root/bin" "$root/dev"
	cp "$busybox" "$root/bin/busybox"
	cp "$work/init" "$root/init"
	cp "$guest_script" "$root/guest.sh"
	cp "$args_file" "$root/guest.args"
	for f in "${files[@]}"; do cp "$f" "$root/bin/"; done
	if ((host_root)); then cp "$work/files" "$root/guest.files"; fi
	chmod 0755 "$root" "$root/init" "$root/bin"/*
	mknod "$root/dev/console" c 5 1
	(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initramfs.cpio"
fi

margin=${VM_TIME_MARGIN:-3}
[[ "$margin" =~ ^[1-9][0-9]*$ ]] || { echo "vm-run: VM_TIME_MARGIN must be a whole number: $margin" >&2; exit 2; }
timeout_s=$((timeout_s * margin))
console="$work/console.log"
start=$(date +%s)
# The console file exists before the tail below follows it.
: >"$console"
virtfs=()
if ((host_root)); then
	virtfs=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
fi
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "$smp" -m "$mem" \
	-nographic -no-reboot -nic none "${virtfs[@]}" \
	-kernel "$kernel" -initrd "$work/initramfs.cpio" \
	-append "$cmdline" \
	</dev/null >>"$console" 2>&1 &
qemu_pid=$!
if ((quiet)); then
	status=0
	wait "$qemu_pid" || status=$?
else
	tail -n +1 -f --pid="$qemu_pid" "$console" &
	tail_pid=$!
	status=0
	wait "$qemu_pid" || status=$?
	wait "$tail_pid" || true
fi
qemu_pid=
elapsed=$(($(date +%s) - start))
[[ -n "$log_file" ]] && cp "$console" "$log_file"

if ((status == 124 || status == 137)); then
	((quiet)) && cat "$console"
	last=$(sed -n '/^GUEST-START/,$p' "$console" | grep -Ev '^\[ *[0-9]+\.[0-9]+\]' | grep -v '^[[:space:]]*$' | tail -n 1)
	echo "vm-run: the guest did not finish within ${timeout_s} s; its last line: ${last:-none (it never started its script)}" >&2
	exit 124
fi
guest_rc=$(sed -n 's/^GUEST-EXIT: \([0-9]*\).*/\1/p' "$console" | tail -n1)
if [[ -z "$guest_rc" ]]; then
	((quiet)) && cat "$console"
	echo "vm-run: the guest ended without reporting a status (qemu exit $status, ${elapsed} s)" >&2
	exit 125
fi
if ((quiet)); then
	if ((guest_rc != 0)); then
		cat "$console"
	else
		# The guest script's own output, without firmware and kernel messages.
		sed -n '/^GUEST-START/,/^GUEST-EXIT/p' "$console" | grep -Ev '^\[ *[0-9]+\.[0-9]+\]' || true
	fi
fi
echo "vm-run: guest exit status $guest_rc after ${elapsed} s" >&2
exit "$guest_rc"
