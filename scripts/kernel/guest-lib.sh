# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0
#
# What the guest scripts share (busybox sh); vm-test.sh puts it in the guest's
# /bin, and they source it. The variables set here are theirs to use.
# shellcheck disable=SC2034

T=/sys/kernel/tracing
KT=/bin/kmalloc-test

# traced_kt SIZE: runs `kmalloc-test --json SIZE` with tracing on, and sets json,
# rc (its exit status) and pid; the events it caused stay in $T/trace.
traced_kt() {
	echo >"$T/trace"
	echo 1 >"$T/tracing_on"
	json=$("$KT" --json "$1")
	rc=$?
	echo 0 >"$T/tracing_on"
	pid=$(echo "$json" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
}
