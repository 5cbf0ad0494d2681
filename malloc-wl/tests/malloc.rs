//! malloc-wl run as a user runs it: exit codes, strace, resident size, signals.

use wlcore::testing::*;

const BIN: &str = env!("CARGO_BIN_EXE_malloc-wl");

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    assert_bad_usage(BIN, "malloc-wl");
}

#[test]
fn malloc_null_is_exit_3() {
    assert_fails(
        &run(BIN, &["1PiB"]),
        "malloc-wl",
        3,
        "malloc(1125899906842624) failed",
    );
}

#[test]
fn one_mmap_of_the_size_per_repeat() {
    assert_mmap_path(BIN, &[]);
}

#[test]
fn touched_or_not() {
    let size = 64u64 << 20;
    let grew = |args: &[&str]| {
        let r = run(BIN, args).json();
        assert_eq!(field(&r, "requested_bytes"), size);
        field(&r, "rss_after_bytes") as i64 - field(&r, "rss_before_bytes") as i64
    };
    let untouched = grew(&["--json", "64MiB"]);
    assert!(
        untouched < 1 << 20,
        "untouched malloc grew rss by {untouched}"
    );
    let touched = grew(&["--json", "--touch", "64MiB"]);
    assert!(
        touched >= size as i64 && touched < size as i64 + (1 << 20),
        "touched: {touched}"
    );
}
