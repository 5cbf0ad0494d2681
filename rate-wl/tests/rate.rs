//! rate-wl run as a user and a tracker run it: its counts against heap.bt
//! and strace, call for call; the same seed, the same sizes; memory that does
//! not grow with the duration; bad input.

use wlmodel::Report;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_rate-wl");

/// Taken by every test: heap.bt prints the calls of every process named
/// rate-wl, so a test's fast run beside another's tracked one floods that
/// tracker's buffers (its lines, the exit line too, are dropped). One at a
/// time they also finish sooner (30 s against 80 s on two cores).
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn report(args: &[&str]) -> (u32, Report) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (pid, r) = run_released(BIN, &a);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    (pid, r.report())
}

/// Calls a second: bucket (power of two) -> calls, from sizes.
fn buckets(sizes: impl Iterator<Item = u64>) -> std::collections::BTreeMap<u64, u64> {
    let mut m = std::collections::BTreeMap::new();
    for s in sizes {
        *m.entry(1u64 << (63 - s.leading_zeros())).or_default() += 1;
    }
    m
}

/// heap.bt, with room for a burst of lines: bpftrace's reader falls behind
/// on a loaded machine, and a full buffer drops lines ("Lost N events"), so
/// each CPU gets a 4 MiB buffer (BPFTRACE_PERF_RB_PAGES) instead of 256 KiB.
fn heap_bt() -> Option<Bpftrace> {
    std::env::set_var("BPFTRACE_PERF_RB_PAGES", "1024");
    Bpftrace::start("heap.bt", &[])
}

fn histogram(r: &Report) -> std::collections::BTreeMap<u64, u64> {
    let rate = r.rate.as_ref().expect("a rate member");
    rate.histogram.iter().map(|b| (b.from, b.calls)).collect()
}

/// What heap.bt saw of the run against what its report counts: every
/// malloc by size bucket, the bytes, and the frees, each of a block malloc
/// returned and not freed before.
fn assert_heap_counts(seen: &[HeapCall], r: &Report, what: &str) {
    let rate = r.rate.as_ref().unwrap();
    let mallocs: Vec<&HeapCall> = seen.iter().filter(|c| c.call == "malloc").collect();
    let frees: Vec<&HeapCall> = seen.iter().filter(|c| c.call == "free").collect();
    assert_eq!(
        mallocs.len() + frees.len(),
        seen.len(),
        "{what}: nothing but malloc and free"
    );
    assert_eq!(mallocs.len() as u64, rate.allocs, "{what}: mallocs");
    assert_eq!(frees.len() as u64, rate.frees, "{what}: frees");
    assert_eq!(
        mallocs.iter().map(|c| c.size).sum::<u64>(),
        rate.bytes,
        "{what}: bytes"
    );
    assert_eq!(
        buckets(mallocs.iter().map(|c| c.size)),
        histogram(r),
        "{what}: sizes"
    );
    let mut live = std::collections::HashSet::new();
    for c in seen {
        if c.call == "malloc" {
            assert!(live.insert(c.ptr), "{what}: {c:?} given twice");
        } else {
            assert!(live.remove(&c.ptr), "{what}: {c:?} not live");
        }
    }
    assert!(live.is_empty(), "{what}: all freed");
    // The intervals add up to the totals; the live set's frees come after.
    let sum = |f: fn(&wlmodel::Interval) -> u64| rate.intervals.iter().map(f).sum::<u64>();
    assert_eq!(sum(|i| i.allocs), rate.allocs, "{what}");
    assert_eq!(sum(|i| i.frees) + rate.final_frees, rate.frees, "{what}");
    assert_eq!(sum(|i| i.bytes), rate.bytes, "{what}");
}

#[test]
fn heap_bt_sees_exactly_the_calls_the_report_counts() {
    let _alone = alone();
    let Some(tracker) = heap_bt() else {
        return;
    };
    // A low rate, sizes from a seeded distribution, a live set of 8.
    let args = [
        "--rate",
        "1k",
        "--duration",
        "500ms",
        "--seed",
        "7",
        "--live",
        "8",
        "uniform:4KiB-1MiB",
    ];
    let (pid, r) = report(&args);
    let rate = r.rate.as_ref().unwrap();
    assert_eq!((rate.allocs, rate.frees, rate.final_frees), (500, 500, 8));
    assert_heap_counts(&tracker.calls_of(pid), &r, "uniform");
    // The whole command, 20,000 malloc(4096) and as many frees in 2 s. At
    // 20,000 calls a second bpftrace's reader falls behind on this machine
    // and drops call lines ("Lost N events"): heap.bt's own counts, kept in
    // the kernel and printed when the process exits, are read instead, the
    // exit held back a second (--hold: no call) so that its line is not
    // dropped with the flood.
    let (pid, r) = report(&["--rate", "10k", "--duration", "2s", "--hold", "1s", "4KiB"]);
    let rate = r.rate.as_ref().unwrap();
    assert_eq!(
        (rate.allocs, rate.frees, rate.bytes),
        (20_000, 20_000, 81_920_000)
    );
    assert_eq!(rate.target, Some(10_000));
    assert_eq!(buckets(std::iter::repeat_n(4096, 20_000)), histogram(&r));
    let exit = tracker.exit_of(pid);
    assert_eq!(
        (exit["calls"], exit["bytes"], exit["frees"], exit["lines"]),
        (20_000, 81_920_000, 20_000, 40_000),
        "heap.bt's counts"
    );
}

#[test]
fn leak_frees_nothing() {
    let _alone = alone();
    let Some(tracker) = heap_bt() else {
        return;
    };
    let (pid, r) = report(&[
        "--rate",
        "max",
        "--calls",
        "300",
        "--leak",
        "mix:4KiB,64KiB",
    ]);
    let rate = r.rate.as_ref().unwrap();
    assert_eq!((rate.allocs, rate.frees, rate.freed_bytes), (300, 0, 0));
    let seen = tracker.calls_of(pid);
    assert_eq!(seen.iter().filter(|c| c.call == "free").count(), 0);
    assert_eq!(seen.iter().filter(|c| c.call == "malloc").count(), 300);
    assert_eq!(buckets(seen.iter().map(|c| c.size)), histogram(&r));
}

#[test]
fn the_full_ledger_is_what_heap_bt_sees_and_nothing_of_its_own() {
    let _alone = alone();
    let Some(tracker) = heap_bt() else {
        return;
    };
    for f in ["malloc", "calloc", "realloc", "posix_memalign", "pvalloc"] {
        let (pid, r) = report(&[
            "--ledger",
            "full",
            "--fn",
            f,
            "--rate",
            "2k",
            "--calls",
            "50",
            "--live",
            "3",
            "loguniform:1-1MiB",
        ]);
        assert_eq!(r.ledger.len(), 100, "{f}");
        assert_eq!(r.rate.as_ref().unwrap().allocs, 50);
        // glibc's realloc(NULL, n) jumps to malloc: heap.bt prints the call
        // once, as the realloc it is.
        assert_eq!(tracker.calls_of(pid), ledger_heap_calls(&r), "{f}");
    }
    // The mmap path makes no malloc-family call at all.
    let (pid, r) = report(&["--fn", "mmap", "--rate", "max", "--calls", "100", "64KiB"]);
    assert_eq!(r.rate.as_ref().unwrap().allocs, 100);
    assert_eq!(tracker.calls_of(pid), vec![], "--fn mmap");
}

#[test]
fn strace_sees_exactly_the_mmaps_and_munmaps_the_report_counts() {
    let _alone = alone();
    let mut cmd = vec![BIN, "--json", "--fn", "mmap", "--seed", "3", "--live", "4"];
    cmd.extend([
        "--rate",
        "1k",
        "--duration",
        "500ms",
        "loguniform:4KiB-1MiB",
    ]);
    let (run, calls) = strace_calls("mmap,munmap,signalfd4", &cmd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    let rate = r.rate.as_ref().unwrap();
    // The run's own calls come after it takes its signals over; the loader's before.
    let at = calls.iter().position(|c| c.name == "signalfd4").unwrap();
    let ours = &calls[at + 1..];
    let maps = anon_mmaps(ours);
    let unmaps: Vec<&Syscall> = ours.iter().filter(|c| c.name == "munmap").collect();
    assert_eq!(maps.len() + unmaps.len(), ours.len(), "{ours:#?}");
    assert_eq!(
        (maps.len() as u64, unmaps.len() as u64),
        (rate.allocs, rate.frees)
    );
    assert_eq!((rate.allocs, rate.frees), (500, 500));
    assert_eq!(maps.iter().map(|m| m.0).sum::<u64>(), rate.bytes);
    assert_eq!(buckets(maps.iter().map(|m| m.0)), histogram(&r));
    for (len, addr) in &maps {
        assert!(unmapped(ours, *addr, *len), "{addr:#x} {len}");
    }
}

#[test]
fn the_same_seed_draws_the_same_sizes() {
    let _alone = alone();
    let h = |seed: &str| {
        let (_, r) = report(&[
            "--rate",
            "max",
            "--calls",
            "2000",
            "--seed",
            seed,
            "uniform:4KiB-1MiB",
        ]);
        let rate = r.rate.unwrap();
        (rate.histogram, rate.bytes)
    };
    let (a, b, c) = (h("11"), h("11"), h("12"));
    assert_eq!(a, b);
    assert_ne!(a.1, c.1, "another seed, other sizes");
}

#[test]
fn memory_does_not_grow_with_the_duration() {
    let _alone = alone();
    let peak = |d: &str| {
        let r = run(
            BIN,
            &[
                "--json",
                "--rate",
                "20k",
                "--duration",
                d,
                "--live",
                "16",
                "uniform:1-4KiB",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let rate = r.report().rate.unwrap();
        assert_eq!(
            rate.allocs,
            20_000 * d.trim_end_matches('s').parse::<u64>().unwrap()
        );
        (rate.peak_rss_bytes.unwrap(), rate.intervals.len())
    };
    let (short, long) = (peak("1s"), peak("10s"));
    assert!(long.1 >= 10 * short.1 - 10, "{short:?} {long:?}");
    // 180,000 calls more: a word kept per call would be 1.4 MiB more, 3
    // bytes 527 KiB. The peak resident size moves by up to 200 KiB from run
    // to run of the same seed (the pages of the libraries a run faults in,
    // the kernel's per-CPU counters), and the report's 16 KiB buffer fills
    // further; nothing else may grow.
    assert!(
        long.0 <= short.0 + 512 * 1024,
        "peak RSS {short:?} -> {long:?}"
    );
}

#[test]
fn threads_each_at_the_rate() {
    let _alone = alone();
    let (_, r) = report(&[
        "--threads",
        "3",
        "--rate",
        "2k",
        "--calls",
        "200",
        "--live",
        "5",
        "4KiB",
    ]);
    let rate = r.rate.unwrap();
    assert_eq!((rate.allocs, rate.frees, rate.final_frees), (600, 600, 15));
    assert_eq!(r.ledger.len(), 0);
}

#[test]
fn a_signal_ends_the_run_and_frees_the_live_set() {
    let _alone = alone();
    use std::process::{Command, Stdio};
    for threads in [None, Some("2")] {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--json",
            "--rate",
            "5",
            "--duration",
            "1h",
            "--live",
            "4",
            "4KiB",
        ]);
        if let Some(n) = threads {
            cmd.args(["--threads", n]);
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Let it make a few calls first (the first one at once).
        std::thread::sleep(std::time::Duration::from_millis(500));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let out: Run = child.wait_with_output().unwrap().into();
        assert_eq!(out.code, 0, "{}", out.stderr);
        let j = out.json();
        assert_eq!(j["stopped_by"], "SIGINT", "{threads:?}");
        let rate = out.report().rate.unwrap();
        assert!(rate.allocs >= 1, "{threads:?}");
        assert_eq!(rate.frees, rate.allocs, "{threads:?}: all freed");
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let _alone = alone();
    for (args, words) in [
        (&[][..], "required arguments were not provided: <SIZES>"),
        (
            &["0"],
            "'0' for '<SIZES>': the size must be at least 1 byte",
        ),
        (&["-1"], "sizes are positive"),
        (&["uniform:1MiB-4KiB"], "above its end"),
        (&["uniform:4KiB"], "a range is A-B"),
        (&["normal:1-2"], "expected a size"),
        (&["mix:"], "'mix:' for '<SIZES>'"),
        (&["--rate", "0", "1"], "at least 1 call a second"),
        (&["--rate", "fast", "1"], "'fast' for '--rate <RATE>'"),
        (&["--rate", "100MB", "1"], "ends in /s"),
        (&["--rate", "2G", "1"], "at most 1000000000 calls"),
        (&["--rate", "1.5k", "1"], "'1.5k' for '--rate <RATE>'"),
        (&["--duration", "0s", "1"], "above 0"),
        (&["--duration", "8days", "1"], "at most 7 days"),
        (
            &["--duration", "soon", "1"],
            "'soon' for '--duration <DURATION>'",
        ),
        (
            &["--duration", "1s", "--calls", "5", "1"],
            "cannot be used with",
        ),
        (&["--calls", "0", "1"], "'0' for '--calls <N>'"),
        (&["--threads", "0", "1"], "'0' for '--threads <N>'"),
        (&["--threads", "65", "1"], "from 1 to 64"),
        (&["--threads", "x", "1"], "'x' for '--threads <N>'"),
        (&["--live", "0", "1"], "'0' for '--live <K>'"),
        (
            &["--live", "40000", "--threads", "2", "1"],
            "at most 65536 blocks",
        ),
        (&["--fn", "new", "1"], "one of malloc, calloc"),
        (
            &["--align", "64", "1"],
            "'--align' does not apply to --fn malloc",
        ),
        (
            &["--ledger", "full", "--rate", "max", "1"],
            "--ledger full lists every call",
        ),
        (
            &["--ledger", "full", "--rate", "1k", "--duration", "11s", "1"],
            "could make 11000",
        ),
        (&["--ledger", "all", "1"], "'all' for '--ledger <KIND>'"),
        (&["--repeat", "2", "1"], "unexpected argument '--repeat'"),
        (&["1", "2"], "unexpected argument '2'"),
    ] {
        assert_fails(&run(BIN, args), "rate-wl", 2, words);
    }
}
