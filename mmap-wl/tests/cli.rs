//! mmap-wl's command line: usage errors as one line and exit 2, before any call.

mod common;

use common::MODES;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_mmap-wl");

#[test]
fn it_is_laid_out_like_the_c_program() {
    assert_laid_out_like_c(BIN, &["--mode", "anon", "8192"]);
}

#[test]
fn start_up_binds_the_c_functions_it_calls_on_first_call() {
    assert_bound_lazily(BIN, &["mmap", "munmap", "mremap", "mprotect"]);
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    assert_bad_usage(BIN, "mmap-wl");
}

#[test]
fn an_unknown_mode_is_a_usage_error() {
    for args in [
        &["--mode", "bogus", "4096"][..],
        &["--mode", "", "4096"][..],
        &["--mode=ANON", "4096"][..],
        &["4096", "--json", "--mode", "anon\nx"][..],
    ] {
        assert_fails(
            &run(BIN, args),
            "mmap-wl",
            2,
            "for '--mode <NAME>': one of anon, shared, file,",
        );
    }
    assert_fails(
        &run(BIN, &["4096", "--mode"]),
        "mmap-wl",
        2,
        "a value is required for '--mode'",
    );
}

#[test]
fn unmapping_one_page_needs_three() {
    let page = wlcore::stat::page_size();
    for mode in ["unmap-head", "unmap-middle", "unmap-tail"] {
        for size in [1, page, 2 * page] {
            let s = size.to_string();
            // Refused before anything runs: no report, even with --json.
            for extra in [&[][..], &["--json", "--wait"][..]] {
                let mut args = vec!["--mode", mode, &s];
                args.extend_from_slice(extra);
                assert_fails(&run(BIN, &args), "mmap-wl", 2, "needs at least 3 pages");
            }
        }
        let r = run(BIN, &["--mode", mode, &(2 * page + 1).to_string()]);
        assert_eq!(r.code, 0, "{mode}: {}", r.stderr);
    }
}

#[test]
fn every_mode_runs_quietly_and_says_what_it_did() {
    for mode in MODES {
        let r = run(BIN, &["--mode", mode, "3M"]);
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, "", ""),
            "{mode}"
        );
        let r = run(BIN, &["--mode", mode, "-v", "--json", "3M"]);
        assert_eq!(r.code, 0, "{mode}: {}", r.stderr);
        let j = r.json();
        assert_eq!(
            (j["path"].as_str(), j["mode"].as_str()),
            (Some(mode), Some(mode))
        );
        assert_eq!(field(&j, "requested_bytes"), 3_000_000);
        assert!(
            r.stderr
                .starts_with(&format!("mmap-wl: {mode} of 3000000 bytes")),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn help_lists_every_mode() {
    let r = run(BIN, &["--help"]);
    assert_eq!(r.code, 0);
    for mode in MODES {
        assert!(
            r.stdout.contains(&format!(" {mode} ")),
            "{mode}: {}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("--mode <NAME>"));
    assert!(r.stdout.lines().all(|l| l.len() <= 90), "{}", r.stdout);
}

#[test]
fn cow_writes_the_writable_modes_and_refuses_the_others() {
    for mode in [
        "anon",
        "shared",
        "file",
        "populate",
        "protnone",
        "fixed",
        "unmap-middle",
    ] {
        let r = run(BIN, &["--cow", "--mode", mode, "3M"]);
        assert_eq!(r.code, 0, "{mode}: {}", r.stderr);
    }
    assert_fails(
        &run(BIN, &["--cow", "--mode", "unmap-unmapped", "8192"]),
        "mmap-wl",
        2,
        "'--cow' needs memory the process can write; --mode unmap-unmapped holds a PROT_NONE range",
    );
}

#[test]
fn a_mapping_too_large_is_exit_3() {
    assert_fails(
        &run(BIN, &["--mode", "anon", "1PiB"]),
        "mmap-wl",
        3,
        "mmap(NULL, 1125899906842624, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) failed: not enough memory",
    );
}
