//! A quiet process: a tracker sees malloc-wl's own allocation and nothing of ours.

use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_malloc-wl");

#[test]
fn a_heap_tracker_sees_only_the_workloads_malloc_and_free() {
    let Some(tracker) = Bpftrace::start("heap.bt", &[]) else {
        return;
    };
    for size in ["1", "256KiB"] {
        let bytes = if size == "1" { 1 } else { 256 << 10 };
        for (mode, n) in [
            (&[][..], 1),
            (&["--json"][..], 1),
            (&["-v"][..], 1),
            (&["--hold", "10ms"][..], 1),
            (&["--wait", "--json"][..], 1),
            (&["--repeat", "5"][..], 5),
            (&["--touch"][..], 1),
            (
                &[
                    "--json", "-v", "--touch", "--repeat", "3", "--hold", "1ms", "--wait",
                ][..],
                3,
            ),
        ] {
            let mut args = mode.to_vec();
            args.push(size);
            let (pid, r) = run_released(BIN, &args);
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
            assert_only_mallocs(&tracker.calls_of(pid), n, bytes, &format!("{args:?}"));
        }
    }
    // Errors take no detour through malloc either.
    for args in [&["0"][..], &["--bogus", "1"][..], &["--help"][..]] {
        let (pid, r) = run_released(BIN, args);
        assert!(r.code == 0 || r.code == 2, "{args:?}");
        assert_eq!(tracker.calls_of(pid), vec![], "{args:?}");
    }
}

#[test]
fn the_same_memory_system_calls_as_the_c_program() {
    // Every power of two, and across the heap/mmap boundary in fine steps.
    let mut sizes: Vec<u64> = (0..=30).map(|p| 1u64 << p).collect();
    sizes.extend((131_000..=135_000).step_by(250));
    sizes.extend([FIRST_HEAP_MAX, FIRST_HEAP_MAX + 1]);
    let c = cmalloc();
    for size in sizes {
        let s = size.to_string();
        let ours = memory_calls_after_loader(&[BIN, &s]);
        let theirs = memory_calls_after_loader(&[&c, &s]);
        assert_eq!(ours, theirs, "malloc-wl {size} against cmalloc {size}");
        // And --json, which reads /proc/self, maps nothing more.
        assert_eq!(
            memory_calls_after_loader(&[BIN, "--json", &s]),
            theirs,
            "--json {size}"
        );
    }
}

#[test]
fn the_boundary_between_heap_and_mmap() {
    let served = |size: u64| run(BIN, &["--json", &size.to_string()]).json()["served_by"].clone();
    assert_eq!(
        served(131_072),
        "heap",
        "131072 comes from the heap, as in C"
    );
    assert_eq!(served(FIRST_HEAP_MAX), "heap");
    assert_eq!(served(FIRST_HEAP_MAX + 1), "mmap");
    // The measured figures: a heap block grows the break, an mmapped one maps glibc's length.
    let heap = run(BIN, &["--json", "130000"]).json();
    assert_eq!(
        (field(&heap, "mmap_bytes"), field(&heap, "brk_growth_bytes")),
        (0, 135_168)
    );
    let mapped = run(BIN, &["--json", "256KiB"]).json();
    assert_eq!(field(&mapped, "mmap_bytes"), glibc_mmap_len(256 << 10));
}

/// Bytes of user-space memory that memtrack-pid.bt, attached by pid while the
/// workload waits, books to `malloc-wl --wait --json SIZE`.
fn attached_by_pid(size: &str) -> u64 {
    use std::io::{BufRead, BufReader, Write};
    let mut child = std::process::Command::new(BIN)
        .args(["--wait", "--json", size])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = child.id().to_string();
    let tracker = Bpftrace::start("memtrack-pid.bt", &[&pid]).unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
    // The contract's reading: its "bytes N" line.
    let lines = tracker.stop();
    let reading = lines.iter().find_map(|l| l.strip_prefix("bytes "));
    reading
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{lines:?}"))
}

/// DATA.csv's malloc column as the original suite made it, under MemTracker's
/// rules (memtrack.bt): malloc-wl reads what the C program reads, to the byte,
/// at every size: a constant baseline while glibc serves the block from the
/// heap it makes anyway, then SIZE + 4096 more once glibc mmaps it. A non-PIE
/// build would add its heap's address (the first brk counted from 0).
#[test]
fn under_memtrackers_rules_it_reads_what_the_c_program_reads() {
    let Some(tracker) = Bpftrace::start("memtrack.bt", &[]) else {
        return;
    };
    let c = cmalloc();
    let sizes = [1u64, 4096, 131072, 262144, 1 << 20];
    let mut ours = vec![];
    for size in sizes {
        let arg = size.to_string();
        let (pid, r) = run_released(BIN, &[&arg]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mine = tracker.exit_of(pid)["user"];
        let (cpid, r) = run_released(&c, &[&arg]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let theirs = tracker.exit_of(cpid)["user"];
        assert_eq!(
            mine, theirs,
            "malloc-wl {size} reads {mine}, the C program {theirs}"
        );
        ours.push(mine);
    }
    let base = ours[0];
    let above: Vec<i64> = ours.iter().map(|&u| u as i64 - base as i64).collect();
    assert_eq!(
        above,
        [0, 0, 0, 262144 + 4096, (1 << 20) + 4096],
        "{ours:?}"
    );
}

#[test]
fn a_tracker_that_cannot_start_says_why_in_bpftraces_words() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: bpftrace needs root");
        return;
    }
    let dir = scratch_dir("bad-bt");
    let script = dir.join("bad.bt");
    std::fs::write(&script, "tracepoint:nosuch:thing { }\n").unwrap();
    let err = Bpftrace::start_file(&script, &[])
        .err()
        .expect("a program on a tracepoint that does not exist cannot start");
    assert!(
        err.starts_with("bpftrace bad.bt did not start: ")
            && err.ends_with("ERROR: tracepoint not found: nosuch:thing")
            && !err.contains('\n'),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn attached_by_pid_or_from_exec_a_tracker_counts_the_same() {
    let Some(exec) = Bpftrace::start("memtrack.bt", &[]) else {
        return;
    };
    let sizes = [
        "1", "4096", "130000", "131072", "134472", "134473", "256KiB", "1MiB",
    ];
    let mut from_exec = Vec::new();
    let mut by_pid = Vec::new();
    for size in sizes {
        let (pid, r) = run_released(BIN, &["--wait", "--json", size]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        from_exec.push(exec.exit_of(pid)["user"]);
        by_pid.push(attached_by_pid(size));
    }
    let delta = |v: &[u64]| {
        v.iter()
            .map(|&b| b as i64 - v[0] as i64)
            .collect::<Vec<_>>()
    };
    assert_eq!(delta(&by_pid), delta(&from_exec), "sizes {sizes:?}");
    // The heap's first growth is seen by both (it used to be lost by pid).
    assert_eq!(
        delta(&by_pid)[2],
        0,
        "130000 comes from the heap glibc makes anyway"
    );
    assert!(by_pid[0] >= 135_168, "the first heap: {by_pid:?}");
}

#[test]
fn the_threshold_it_pins_is_the_one_the_model_of_glibc_knows() {
    let r = run(BIN, &["--json", "1"]).report();
    assert_eq!(r.mmap_threshold, Some(GLIBC_MMAP_THRESHOLD));
}
