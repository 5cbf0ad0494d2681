//! malloc-wl run as a user runs it: exit codes, strace, resident size, signals.

use wltest::*;

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

#[test]
fn start_up_binds_the_c_functions_it_calls_on_first_call() {
    assert_bound_lazily(
        BIN,
        &[
            "malloc",
            "calloc",
            "realloc",
            "posix_memalign",
            "aligned_alloc",
            "free",
        ],
    );
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
fn start_up_opens_only_libc_and_sets_up_no_signals() {
    // Rust's usual runtime start would read /proc/self/maps and mmap a signal
    // stack: noise a tracker would book to the workload. workload_main! skips it.
    let out = std::process::Command::new("strace")
        .args([
            "-qq",
            "-e",
            "trace=openat,open,sigaltstack,signalfd4",
            BIN,
            "1",
        ])
        .output()
        .expect("strace runs");
    assert!(out.status.success());
    let trace = String::from_utf8_lossy(&out.stderr);
    let opened: Vec<&str> = trace.lines().filter(|l| l.starts_with("open")).collect();
    assert!(!trace.contains("sigaltstack"), "{trace}");
    // Without --wait or --hold there is nothing to wait for: no signalfd.
    assert!(!trace.contains("signalfd"), "{trace}");
    assert!(
        opened
            .iter()
            .all(|l| l.contains("ld.so.cache") || l.contains("libc.so.6")),
        "{trace}"
    );
    assert!(!trace.contains("libgcc_s"), "{trace}");
}

#[test]
fn repeats_add_nothing_but_their_own_mmaps() {
    // Many repeats: the same heap and the same other mappings as one repeat, and
    // one mmap of glibc's length each.
    let (one, once) = strace(BIN, &["256KiB"]);
    let (many, repeated) = strace(BIN, &["--repeat", "5000", "256KiB"]);
    assert_eq!((one.code, many.code), (0, 0));
    assert_eq!(
        brk_growth(&once),
        brk_growth(&repeated),
        "the heap did not grow"
    );
    let split = |calls: &[Syscall]| {
        let (ours, other): (Vec<u64>, Vec<u64>) =
            mmap_lens(calls).into_iter().partition(|l| *l == 266240);
        (ours.len(), other)
    };
    let ((n1, other1), (n2, other2)) = (split(&once), split(&repeated));
    assert_eq!((n1, n2), (1, 5000));
    assert_eq!(other1, other2, "no other mapping");
}
