//! brk-wl run as a user runs it: every mode under strace against its ledger,
//! the measured heap, usage errors, and no malloc-family call at all.

use serde_json::Value;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_brk-wl");

/// `brk-wl ARGS --json SIZE` under `strace -f -e trace=brk`: the report, the
/// ledger's brk entries checked one by one against the last brk calls strace saw.
fn traced(args: &[&str], size: &str) -> Value {
    let mut cmd = vec![BIN];
    cmd.extend_from_slice(args);
    cmd.extend_from_slice(&["--json", size]);
    let (run, calls) = strace_calls("brk", &cmd);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    let report = run.json();
    assert_syscalls_match(&model(&report), &calls, &["brk"], &[]);
    report
}

/// The ledger's entries as (call, the addr argument, the return value).
fn brks(report: &Value) -> Vec<(u64, u64)> {
    entries(report, "brk")
        .iter()
        .map(|e| (addr(&e["args"]["addr"]), addr(&e["ret"])))
        .collect()
}

fn heap_deltas(report: &Value) -> Vec<i64> {
    entries(report, "brk")
        .iter()
        .map(|e| e["heap_bytes"].as_i64().unwrap())
        .collect()
}

#[test]
fn it_is_laid_out_like_the_c_program() {
    assert_laid_out_like_c(BIN, &["--mode", "grow", "8192"]);
}

#[test]
fn start_up_binds_the_c_functions_it_calls_on_first_call() {
    assert_bound_lazily(BIN, &[]);
}

#[test]
fn grow_moves_the_break_by_size_and_back() {
    let r = traced(&[], "8192");
    let b = brks(&r);
    let base = b[0].1;
    assert_eq!(
        b,
        [(0, base), (base + 8192, base + 8192), (base, base)],
        "brk(NULL), brk(B + SIZE), brk(B)"
    );
    assert_eq!(heap_deltas(&r), [0, 8192, -8192]);
    assert_eq!(field(&r, "brk_growth_bytes"), 8192);
    assert_eq!(field(&r, "mmap_bytes"), 0);
    assert_eq!(addr(&r["address"]), base);
    assert_eq!(
        (r["path"].as_str(), r["mode"].as_str()),
        (Some("brk"), Some("grow"))
    );
}

#[test]
fn growth_is_counted_in_whole_pages() {
    let r = traced(&[], "100");
    let b = brks(&r);
    assert_eq!(b[1].1, b[0].1 + 100, "the break itself moves by 100");
    // The break is page-aligned at exec: the heap grows by one page.
    assert_eq!(b[0].1 % 4096, 0);
    assert_eq!(heap_deltas(&r), [0, 4096, -4096]);
}

#[test]
fn shrink_gives_back_half_then_the_rest() {
    let r = traced(&["--mode", "shrink"], "8192");
    let b = brks(&r);
    let base = b[0].1;
    let rets: Vec<u64> = b.iter().map(|x| x.1).collect();
    assert_eq!(rets, [base, base + 8192, base + 4096, base]);
    assert_eq!(heap_deltas(&r), [0, 8192, -4096, -4096]);
    assert_eq!(r["path"], "brk-shrink");
}

#[test]
fn cycles_grow_and_shrink_within_one_allocation() {
    for (cycles, n) in [("1", 1), ("3", 3)] {
        let r = traced(&["--mode", "cycles", "--cycles", cycles], "8192");
        let b = brks(&r);
        let base = b[0].1;
        let mut want = vec![base];
        for _ in 0..n {
            want.extend([base + 8192, base]);
        }
        let rets: Vec<u64> = b.iter().map(|x| x.1).collect();
        assert_eq!(rets, want, "--cycles {cycles}");
        let heap = heap_deltas(&r);
        assert_eq!(heap.iter().filter(|d| **d == 8192).count(), n);
        assert_eq!(heap.iter().sum::<i64>(), 0);
        assert_eq!(field(&r, "cycles"), n as u64);
    }
    // The default is 3.
    assert_eq!(brks(&traced(&["--mode", "cycles"], "1")).len(), 7);
}

#[test]
fn repeats_threads_fork_cow_and_leak() {
    // Repeats: each one learns the break again.
    let r = traced(&["--repeat", "3"], "8192");
    assert_eq!(brks(&r).len(), 9);
    // Threads: glibc's pthread_create callocs the new thread's TLS vector, which
    // makes glibc's heap first; ours grows above it (checked by strace's tail).
    let r = traced(&["--threads"], "8192");
    let e = entries(&r, "brk");
    assert_ne!(e[0]["tid"], r["pid"], "allocated in a thread");
    assert_ne!(e[2]["tid"], e[0]["tid"], "freed in another");
    // Fork: the child's calls, by the child.
    let r = traced(&["--fork"], "8192");
    assert!(entries(&r, "brk").iter().all(|e| e["pid"] != r["pid"]));
    assert_eq!(heap_deltas(&r), [0, 8192, -8192]);
    // Cow: the child writes its copy of the pages.
    let r = traced(&["--cow", "--mode", "shrink"], "64KiB");
    let touches = entries(&r, "touch");
    assert_eq!(touches.len(), 2);
    assert_eq!(field(&touches[0]["args"], "length"), 32768);
    // Leak: the break stays up; the next repeat starts from there.
    let r = traced(&["--leak", "--repeat", "2"], "8192");
    let b = brks(&r);
    assert_eq!(b.len(), 4);
    assert_eq!(
        b[2].1,
        b[0].1 + 8192,
        "the second brk(NULL) finds the first growth"
    );
}

#[test]
fn touch_makes_every_page_resident() {
    let r = run(BIN, &["--json", "--touch", "1MiB"]).json();
    let t = &entries(&r, "touch")[0];
    assert_eq!(field(&t["args"], "pages"), 256);
    assert!(t["rss_bytes"].as_i64().unwrap() >= 1 << 20, "{t}");
    assert_eq!(r["touched"], true);
}

#[test]
fn a_refused_growth_is_exit_3() {
    let r = run(BIN, &["--json", "1PiB"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("failed: the break stayed at"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1);
    let report = r.json();
    let b = brks(&report);
    assert_eq!(b.len(), 2, "brk(NULL) and the refused growth: {b:?}");
    assert_eq!(b[1].1, b[0].1, "the kernel answers with the old break");
    assert_eq!(report["failed_repeat"], 1);
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    assert_bad_usage(BIN, "brk-wl");
    for (args, words) in [
        (
            &["--mode", "sideways", "1"][..],
            "'sideways' for '--mode <NAME>': one of grow, shrink, cycles",
        ),
        (&["1", "--mode"][..], "--mode"),
        (
            &["--mode", "cycles", "--cycles", "0", "1"][..],
            "'0' for '--cycles <N>': at least 1",
        ),
        (
            &["--mode", "cycles", "--cycles", "x", "1"][..],
            "'x' for '--cycles <N>'",
        ),
        (
            &["--cycles", "2", "1"][..],
            "'--cycles' applies to --mode cycles only",
        ),
    ] {
        assert_fails(&run(BIN, args), "brk-wl", 2, words);
    }
}

#[test]
fn help_names_the_modes() {
    let r = run(BIN, &["--help"]);
    assert_eq!(r.code, 0);
    for w in [
        "--mode <NAME>",
        "grow",
        "shrink",
        "cycles",
        "--cycles <N>",
        "raw brk",
    ] {
        assert!(r.stdout.contains(w), "{w}: {}", r.stdout);
    }
}

#[test]
fn a_heap_tracker_sees_no_call_at_all() {
    let Some(tracker) = Bpftrace::start("heap.bt", &[]) else {
        return;
    };
    for args in [
        &["8192"][..],
        &["--json", "8192"][..],
        &["--json", "--mode", "shrink", "8192"][..],
        &["--json", "--mode", "cycles", "--cycles", "5", "100"][..],
        &["-v", "--touch", "--repeat", "3", "--hold", "1ms", "1MiB"][..],
        &["--wait", "--json", "--fork", "8192"][..],
        &["--json", "--cow", "8192"][..],
        &["--json", "--leak", "8192"][..],
        &["--mode", "bogus", "1"][..],
    ] {
        let (pid, r) = run_released(BIN, args);
        assert!(r.code == 0 || r.code == 2, "{args:?}: {}", r.stderr);
        assert_eq!(tracker.calls_of(pid), vec![], "{args:?}");
    }
}

#[test]
fn a_run_maps_few_pages_of_its_file() {
    assert_maps_few_pages(BIN, &["1"]);
}
