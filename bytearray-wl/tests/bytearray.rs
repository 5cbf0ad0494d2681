//! bytearray-wl run as a user runs it: exit codes, strace, resident size.

use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_bytearray-wl");

#[test]
fn start_up_binds_the_c_functions_it_calls_on_first_call() {
    assert_bound_lazily(BIN, &["malloc", "free"]);
}

#[test]
fn it_is_laid_out_like_the_c_program() {
    assert_laid_out_like_c(BIN, &["1"]);
}

#[test]
fn the_code_a_run_executes_lies_together() {
    assert_start_up_code_together(BIN, &["1"]);
}

#[test]
fn a_run_maps_few_pages_of_its_file() {
    assert_maps_few_pages(BIN, &["1"]);
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    assert_bad_usage(BIN, "bytearray-wl");
    assert_fails(
        &run(BIN, &["--touch", "1"]),
        "bytearray-wl",
        2,
        "unexpected argument '--touch'",
    );
}

#[test]
fn failed_allocation_is_exit_3_not_an_abort() {
    assert_fails(
        &run(BIN, &["1PiB"]),
        "bytearray-wl",
        3,
        "malloc(1125899906842625) returned NULL",
    );
}

#[test]
fn one_mmap_of_size_plus_one_per_repeat() {
    assert_mmap_path(BIN, &[]);
}

#[test]
fn every_page_is_resident() {
    let size = 64u64 << 20;
    let r = run(BIN, &["--json", "64MiB"]).json();
    assert_eq!(field(&r, "allocator_bytes"), size + 1);
    assert_eq!(r["touched"], true);
    let grew = field(&r, "rss_after_bytes") - field(&r, "rss_before_bytes");
    assert!(
        grew >= size && grew < size + (1 << 20),
        "rss grew by {grew}"
    );
}

#[test]
fn a_heap_tracker_sees_only_malloc_of_size_plus_one() {
    let Some(tracker) = Bpftrace::start("heap.bt", &[]) else {
        return;
    };
    for (args, n, bytes) in [
        (&["1"][..], 1, 2),
        (
            &["--json", "-v", "--wait", "--repeat", "4", "256KiB"][..],
            4,
            (256 << 10) + 1,
        ),
    ] {
        let (pid, r) = run_released(BIN, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_only_mallocs(&tracker.calls_of(pid), n, bytes, &format!("{args:?}"));
    }
}
