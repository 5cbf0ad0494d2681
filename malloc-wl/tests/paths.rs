//! Every function of `--fn` and every attribution option, checked against real
//! trackers: the ledger says what the process did, and a uprobe heap tracker
//! (heap.bt) and strace must have seen exactly that.

use serde_json::Value;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_malloc-wl");

/// The malloc-family calls of a run: name and size asked.
type Calls = &'static [(&'static str, u64)];

/// (arguments, the ledger's malloc-family calls).
const FUNCTIONS: &[(&[&str], Calls)] = &[
    (&["--fn", "malloc", "1000"], &[("malloc", 1000)]),
    (&["--fn", "calloc", "1000"], &[("calloc", 1000)]),
    (&["--fn", "calloc", "300000"], &[("calloc", 300_000)]),
    (
        &["--fn", "posix_memalign", "1000"],
        &[("posix_memalign", 1000)],
    ),
    (
        &["--fn", "aligned_alloc", "--align", "4096", "1000"],
        // A uprobe sees glibc's aligned_alloc as memalign (the same function).
        &[("memalign", 1000)],
    ),
    (
        &["--fn", "memalign", "--align", "1MiB", "5000"],
        &[("memalign", 5000)],
    ),
    (&["--fn", "valloc", "5000"], &[("valloc", 5000)]),
    (&["--fn", "pvalloc", "5000"], &[("pvalloc", 5000)]),
    // Grow and shrink inside the heap, out of it, and an mmapped chunk grown.
    (
        &["--fn", "realloc", "--from", "100", "200"],
        &[("malloc", 100), ("realloc", 200)],
    ),
    (
        &["--fn", "realloc", "--from", "2000", "100"],
        &[("malloc", 2000), ("realloc", 100)],
    ),
    (
        &["--fn", "realloc", "--from", "100", "1MiB"],
        &[("malloc", 100), ("realloc", 1 << 20)],
    ),
    (
        &["--fn", "realloc", "--from", "1MiB", "4MiB"],
        &[("malloc", 1 << 20), ("realloc", 4 << 20)],
    ),
];

fn json_of(args: &[&str]) -> (u32, Value) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (pid, r) = run_released(BIN, &a);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    (pid, r.json())
}

#[test]
fn every_function_is_the_one_call_a_heap_tracker_sees() {
    let Some(tracker) = Bpftrace::start("heap.bt", &[]) else {
        return;
    };
    for (args, calls) in FUNCTIONS {
        let (pid, j) = json_of(args);
        let ledger = ledger_heap_calls(&model(&j));
        let named: Vec<(&str, u64)> = ledger
            .iter()
            .filter(|c| c.call != "free")
            .map(|c| (c.call.as_str(), c.size))
            .collect();
        assert_eq!(&named, calls, "{args:?}");
        // One free, of the last block.
        assert_eq!(ledger.last().unwrap().call, "free", "{args:?}");
        let seen: Vec<HeapCall> = tracker
            .calls_until_exit(pid)
            .into_iter()
            .filter(|c| c.pid == pid)
            .collect();
        assert_eq!(seen, ledger, "{args:?}: heap.bt against the ledger");
    }
}

#[test]
fn what_each_function_does_to_the_process_is_measured() {
    let entry = |args: &[&str], call: &str| -> Value {
        let (_, j) = json_of(args);
        entries(&j, call).remove(0)
    };
    // Aligned blocks are aligned.
    let e = entry(&["--fn", "memalign", "--align", "1MiB", "5000"], "memalign");
    assert_eq!(addr(&e["ret"]) % (1 << 20), 0, "{e}");
    let e = entry(&["--fn", "pvalloc", "5000"], "pvalloc");
    assert_eq!(addr(&e["ret"]) % 4096, 0, "{e}");
    // An mmapped chunk that realloc grows is moved with mremap: the mapping
    // grows by the difference, no second mapping appears.
    let (_, j) = json_of(&["--fn", "realloc", "--from", "1MiB", "4MiB"]);
    let m = &entries(&j, "malloc")[0];
    let r = &entries(&j, "realloc")[0];
    let grown = glibc_mmap_len(4 << 20) - glibc_mmap_len(1 << 20);
    assert_eq!(field(r, "mapped_bytes"), grown, "{r}");
    assert_ne!(m["ret"], Value::Null);
    let traced = strace_calls(
        "mmap,mremap,munmap",
        &[BIN, "--fn", "realloc", "--from", "1MiB", "4MiB"],
    )
    .1;
    let mremaps: Vec<_> = traced.iter().filter(|t| t.name == "mremap").collect();
    assert_eq!(mremaps.len(), 1, "{traced:#?}");
    assert_eq!(
        mremaps[0].args[1],
        glibc_mmap_len(1 << 20).to_string(),
        "old length"
    );
    assert_eq!(
        mremaps[0].args[2],
        glibc_mmap_len(4 << 20).to_string(),
        "new length"
    );
    // calloc of a fresh mmapped chunk writes nothing: its 4 MiB do not become
    // resident (what does is the first heap, made by the same call).
    let e = entry(&["--fn", "calloc", "4MiB"], "calloc");
    assert!(field_i(&e, "rss_bytes") < 1 << 20, "{e}");
    // --touch makes every page resident, listed as its own entry.
    let e = entry(&["--touch", "4MiB"], "touch");
    assert_eq!(field(&e["args"], "pages"), 1025, "{e}");
    assert!(field_i(&e, "rss_bytes") >= 4 << 20, "{e}");
}

fn field_i(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[test]
fn threads_forks_and_leaks_as_trackers_see_them() {
    let Some(tracker) = Bpftrace::start("heap.bt", &[]) else {
        return;
    };
    for args in [
        &["--fork", "1000"][..],
        &["--fork", "--repeat", "2", "300000"][..],
        &["--cow", "10000"][..],
        &["--leak", "--repeat", "3", "1000"][..],
        &["--after-thread", "1000"][..],
        &["--threads", "1000"][..],
        &["--threads", "300000"][..],
    ] {
        let (pid, j) = json_of(args);
        let ledger = ledger_heap_calls(&model(&j));
        let pids: Vec<u32> = ledger.iter().map(|c| c.pid).collect();
        let seen: Vec<HeapCall> = tracker
            .calls_until_exit(pid)
            .into_iter()
            .filter(|c| c.pid == pid || pids.contains(&c.pid))
            .collect();
        let threads = args[0].contains("thread");
        if !threads {
            assert_eq!(seen, ledger, "{args:?}");
        } else {
            // glibc's own calls around a thread: the new thread's TLS vector
            // (calloc of 16-byte entries, once), and at the thread's exit the
            // frees of its tcache (free(NULL), and the blocks in it again).
            // In order within each thread: bpftrace's per-CPU buffers may print
            // two threads' events out of their order in time.
            for tid in ledger.iter().map(|c| c.tid) {
                let theirs: Vec<&HeapCall> = seen.iter().filter(|c| c.tid == tid).collect();
                let mut rest = theirs.iter();
                for want in ledger.iter().filter(|c| c.tid == tid) {
                    assert!(
                        rest.any(|c| *c == want),
                        "{args:?}: {want:?} not in {theirs:#?}"
                    );
                }
            }
            for c in seen.iter().filter(|c| !ledger.contains(c)) {
                assert!(
                    c.call == "free" || (c.call == "calloc" && c.size == 16),
                    "{args:?}: {c:?} is neither ours nor glibc's thread set-up"
                );
            }
        }
        let leak = args[0] == "--leak";
        let frees = ledger.iter().filter(|c| c.call == "free").count();
        let allocs = ledger.len() - frees;
        assert_eq!(frees, if leak { 0 } else { allocs }, "{args:?}");
        match args[0] {
            "--fork" => {
                // Each child allocates and frees; the parent makes no call.
                assert!(ledger.iter().all(|c| c.pid != pid), "{args:?}");
                let forks = entries(&j, "fork");
                assert_eq!(forks.len(), 2 * field(&j, "repeat") as usize);
            }
            "--threads" => {
                let (m, f) = (&entries(&j, "malloc")[0], &entries(&j, "free")[0]);
                let main = u64::from(pid);
                assert!(field(m, "tid") != main && field(f, "tid") != main);
                assert_ne!(field(m, "tid"), field(f, "tid"), "freed in another thread");
            }
            "--cow" => {
                // Both touches listed: the parent's, then the child's, whose
                // writes copy the pages.
                let touches = entries(&j, "touch");
                assert_eq!(touches.len(), 2);
                assert_ne!(touches[0]["pid"], touches[1]["pid"]);
                assert_eq!(touches[0]["args"], touches[1]["args"]);
            }
            _ => {}
        }
    }
}

#[test]
fn system_calls_of_threads_and_forks_are_in_the_ledger() {
    // strace -f sees the clone of fork in the parent, and every thread.
    let (r, traced) = strace_calls("clone,clone3", &[BIN, "--json", "--fork", "1000"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    let child = entries(&j, "malloc")[0]["pid"].as_u64().unwrap();
    let clones: Vec<_> = traced
        .iter()
        .filter(|t| t.name.starts_with("clone"))
        .collect();
    assert_eq!(clones.len(), 1, "{traced:#?}");
    assert_eq!(clones[0].ret, child.to_string());
    let parent = entries(&j, "fork")
        .into_iter()
        .find(|e| e["ret"] != 0)
        .unwrap();
    assert_eq!(
        parent["ret"], child,
        "the parent's fork entry gives the child"
    );
    // Threads: the allocating and the freeing thread are the ones strace saw made.
    let (r, traced) = strace_calls("clone,clone3", &[BIN, "--json", "--threads", "1000"]);
    let j = r.json();
    let made: Vec<String> = traced
        .iter()
        .filter(|t| t.name.starts_with("clone"))
        .map(|t| t.ret.clone())
        .collect();
    let tids: Vec<String> = ["malloc", "free"]
        .iter()
        .map(|c| entries(&j, c)[0]["tid"].to_string())
        .collect();
    assert_eq!(made, tids);
}

#[test]
fn exec_runs_the_next_workload_after_the_report() {
    let r = run(BIN, &["--json", "--exec", "malloc-wl --json 10", "1000"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert_eq!(lines[0]["exec"], "malloc-wl --json 10");
    assert_eq!(lines[1]["requested_bytes"], 10);
    assert_eq!(lines[0]["pid"], lines[1]["pid"], "the same process");
    let r = run(BIN, &["--exec", "no-such-workload", "1"]);
    assert_fails(&r, "malloc-wl", 4, "cannot exec");
}

#[test]
fn bad_combinations_are_usage_errors() {
    for (args, words) in [
        (&["--fn", "mallocx", "1"][..], "one of malloc, calloc"),
        (
            &["--fn", "malloc", "--align", "64", "1"][..],
            "'--align' does not apply",
        ),
        (
            &["--fn", "memalign", "--align", "48", "1"][..],
            "a power of two",
        ),
        (
            &["--fn", "calloc", "--from", "1", "2"][..],
            "'--from' applies to --fn realloc",
        ),
        (
            &["--fn", "realloc", "--from", "x", "2"][..],
            "--from <SIZE>",
        ),
        (
            &["--threads", "--fork", "1"][..],
            "'--fork' cannot be used with '--threads'",
        ),
        (&["--exec", " ", "1"][..], "empty"),
        (&["--fn"][..], "--fn"),
    ] {
        let r = run(BIN, args);
        assert_fails(&r, "malloc-wl", 2, words);
    }
    // A forked child's failure is said once, by the child (the parent used to
    // add a second line).
    let r = run(BIN, &["--fork", "1PiB"]);
    assert_fails(&r, "malloc-wl", 3, "malloc(1125899906842624) failed");
    // Failures of the call itself are exit 3 with the call named.
    let r = run(BIN, &["--fn", "aligned_alloc", "--align", "1EiB", "1"]);
    assert_fails(
        &r,
        "malloc-wl",
        3,
        "aligned_alloc(1152921504606846976, 1) failed",
    );
}
