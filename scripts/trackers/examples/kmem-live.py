#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# kmem-live.py - an example kernel tracker of the tracker contract
# (docs/tracker-contract.md), in Python with bcc: the slab memory one process
# holds, keyed by pointer.
#
# Usage: kmem-live.py PID
# Every kmem:kmalloc and kmem:kmem_cache_alloc in the context of process PID
# (its threads too) records its pointer and bytes_alloc; a kmem:kfree or
# kmem:kmem_cache_free of a recorded pointer, by any task (a kworker, an RCU
# callback), takes it off. Unlike a pid-keyed tracker (kmem.bt, GranuloTrack's
# MemTracker), a free made elsewhere is seen, and an object traced twice
# (Linux 7.2 traces a large kmalloc twice) is held once. vmalloc, the page
# allocator and per-CPU memory are not traced. Its map holds 65536 objects:
# more are not recorded, and it does not say so (the load table shows it).
#
# Prints "ready" once attached; on SIGINT, the reading and exits:
#   live_bytes N    bytes_alloc of the objects held
#   live_blocks M   how many
# Run with Debian's python3 (its bcc module) and the kernel's headers (bcc
# compiles the program at start: a minute or more in the TCG guest).
import signal
import sys

from bcc import BPF

PROGRAM = """
BPF_HASH(held, u64, u64, 65536);

static int mine(void)
{
    return (bpf_get_current_pid_tgid() >> 32) == TARGET;
}

static void add(u64 ptr, u64 bytes)
{
    if (ptr && mine())
        held.update(&ptr, &bytes);
}

static void take(u64 ptr)
{
    held.delete(&ptr);
}

TRACEPOINT_PROBE(kmem, kmalloc)
{
    add((u64)args->ptr, args->bytes_alloc);
    return 0;
}

TRACEPOINT_PROBE(kmem, kmem_cache_alloc)
{
    add((u64)args->ptr, args->bytes_alloc);
    return 0;
}

TRACEPOINT_PROBE(kmem, kfree)
{
    take((u64)args->ptr);
    return 0;
}

TRACEPOINT_PROBE(kmem, kmem_cache_free)
{
    take((u64)args->ptr);
    return 0;
}
"""


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.stderr.write("usage: kmem-live.py PID\n")
        return 2
    # Blocked from the start and waited for: a SIGINT that comes at any time
    # (even while bcc compiles) is taken once it is ready.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
    bpf = BPF(text=PROGRAM.replace("TARGET", sys.argv[1]))
    print("ready", flush=True)
    signal.sigwait([signal.SIGINT])
    held = [v.value for v in bpf["held"].values()]
    print(f"live_bytes {sum(held)}\nlive_blocks {len(held)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
