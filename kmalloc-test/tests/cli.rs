//! kmalloc-test on a machine without the module: usage errors and the message
//! that says how to load it. The module itself is tested in a VM
//! (scripts/kernel/vm-test.sh), where this binary drives it.

use std::io::Write;
use std::path::Path;
use wlcore::testing::*;

const BIN: &str = env!("CARGO_BIN_EXE_kmalloc-test");

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    assert_bad_usage(BIN, "kmalloc-test");
}

#[test]
fn module_not_loaded_is_exit_4_with_how_to_load_it() {
    if Path::new("/proc/kmalloc_lkm").exists() {
        // Straight to the stream, past the test harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the module is loaded here; this case is for machines without it"
        );
        return;
    }
    let r = run(BIN, &["4096"]);
    assert_fails(
        &r,
        "kmalloc-test",
        4,
        "/proc/kmalloc_lkm does not exist: the kmalloc_lkm module is not loaded",
    );
    assert!(r.stderr.contains("insmod"), "{}", r.stderr);
    // The same code when the message cannot even be written.
    let full = std::fs::File::options().write(true).open("/dev/full").unwrap();
    let st = std::process::Command::new(BIN)
        .arg("4096")
        .stderr(full)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(4));
}

#[test]
fn no_malloc_family_call_at_all() {
    let Some(tracker) = HeapTracker::start() else {
        return;
    };
    for args in [
        &["4096"][..],
        &["--json", "-v", "--repeat", "3", "4096"][..],
        &["0"][..],
    ] {
        let (pid, _) = run_released(BIN, args);
        assert_eq!(tracker.calls_of(pid), vec![], "{args:?}");
    }
}
