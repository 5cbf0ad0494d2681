//! A quiet process: a heap tracker sees no call of glibc's malloc family from
//! mmap-wl, in any mode, whatever the options.

mod common;

use common::MODES;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_mmap-wl");

#[test]
fn a_heap_tracker_sees_nothing() {
    let Some(tracker) = Bpftrace::start("heap.bt", &[]) else {
        return;
    };
    for mode in MODES {
        for opts in [
            &[][..],
            &["--json"][..],
            &["-v", "--json", "--repeat", "3", "--hold", "1ms", "--wait"][..],
            &["--fork", "--json"][..],
        ] {
            let mut args = vec!["--mode", mode];
            args.extend_from_slice(opts);
            args.push("3M");
            let (pid, r) = run_released(BIN, &args);
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
            assert_eq!(tracker.calls_of(pid), vec![], "{args:?}");
        }
    }
    for args in [
        &["--cow", "--json", "--mode", "file", "64K"][..],
        &["--leak", "--json", "--mode", "shared", "64K"][..],
    ] {
        let (pid, r) = run_released(BIN, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(tracker.calls_of(pid), vec![], "{args:?}");
    }
    // A new thread costs glibc one calloc of its own (the thread's TLS vector,
    // see wlcore::cmem::in_thread), and its exit frees of NULL or of that; the
    // workload calls nothing.
    for (args, threads) in [
        (&["--after-thread", "--mode", "anon", "64K"][..], 1),
        (&["--threads", "--json", "--mode", "fixed", "64K"][..], 2),
    ] {
        let (pid, r) = run_released(BIN, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let calls = tracker.calls_of(pid);
        let callocs: Vec<u64> = calls
            .iter()
            .filter(|c| c.call == "calloc")
            .map(|c| c.ptr)
            .collect();
        assert!(callocs.len() <= threads, "{args:?}: {calls:?}");
        let glibcs = |c: &HeapCall| {
            c.call == "calloc" || (c.call == "free" && (c.ptr == 0 || callocs.contains(&c.ptr)))
        };
        assert!(calls.iter().all(glibcs), "{args:?}: {calls:?}");
    }
    // Errors take no detour through malloc either.
    for args in [
        &["--mode", "bogus", "1"][..],
        &["--mode", "unmap-tail", "1"][..],
        &["--help"][..],
    ] {
        let (pid, r) = run_released(BIN, args);
        assert!(r.code == 0 || r.code == 2, "{args:?}");
        assert_eq!(tracker.calls_of(pid), vec![], "{args:?}");
    }
}
