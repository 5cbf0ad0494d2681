//! --wait and --hold with real signals and a real stdin. The logic is wlcore's,
//! shared by every workload; malloc-wl stands for all of them here.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use wlcore::stat::monotonic_ns;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_malloc-wl");

/// Starts malloc-wl with `args`; with `--wait`, returns once it says it waits.
fn start(args: &[&str], stdin: Stdio) -> (Child, Option<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = None;
    if args.contains(&"--wait") {
        let mut l = String::new();
        BufReader::new(child.stderr.as_mut().unwrap())
            .read_line(&mut l)
            .unwrap();
        line = Some(l);
    }
    (child, line)
}

fn finish(child: Child) -> Run {
    child.wait_with_output().unwrap().into()
}

fn signal(child: &Child, s: Signal) {
    kill(Pid::from_raw(child.id() as i32), s).unwrap();
}

#[test]
fn wait_until_a_line_on_stdin() {
    let (mut child, line) = start(&["--wait", "--json", "256KiB"], Stdio::piped());
    assert_eq!(
        line.unwrap().trim(),
        format!("pid={} waiting for SIGUSR1 or a line on stdin", child.id())
    );
    let released = monotonic_ns() + 300_000_000;
    std::thread::sleep(Duration::from_millis(300));
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let pid = u64::from(child.id());
    let r = finish(child);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(field(&j, "pid"), pid);
    assert!(
        field(&entries(&j, "malloc")[0], "start_ns") >= released,
        "allocated before release"
    );
    assert_eq!(j["stopped_by"], serde_json::Value::Null);
}

#[test]
fn wait_until_sigusr1_with_stdin_at_eof() {
    let (child, _) = start(&["--wait", "--json", "4096"], Stdio::null());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        kill(Pid::from_raw(child.id() as i32), None).is_ok(),
        "still waiting"
    );
    let released = monotonic_ns();
    signal(&child, Signal::SIGUSR1);
    let r = finish(child);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(field(&entries(&r.json(), "malloc")[0], "start_ns") >= released);
}

#[test]
fn sigint_while_waiting_allocates_nothing() {
    let (child, _) = start(&["--wait", "--json", "4096"], Stdio::piped());
    signal(&child, Signal::SIGINT);
    let r = finish(child);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["stopped_by"], "SIGINT");
    assert_eq!(field(&j, "completed"), 0);
}

#[test]
fn hold_for_a_duration() {
    let r = run(BIN, &["--hold", "300ms", "--repeat", "2", "--json", "4096"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    let (mallocs, frees) = (entries(&j, "malloc"), entries(&j, "free"));
    assert_eq!((mallocs.len(), frees.len()), (2, 2));
    for (m, f) in mallocs.iter().zip(&frees) {
        assert!(
            field(f, "start_ns") - field(m, "end_ns") >= 300_000_000,
            "{m} {f}"
        );
    }
}

/// The resident size as another process sees it, in bytes.
fn rss_of(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

#[test]
fn held_memory_is_seen_from_outside_and_sigterm_frees_it() {
    let size = 64u64 << 20;
    let (child, _) = start(
        &["--touch", "--hold", "inf", "--json", "64MiB"],
        Stdio::null(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while rss_of(child.id()) < size {
        assert!(
            Instant::now() < deadline,
            "rss never reached {size}: {}",
            rss_of(child.id())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, Signal::SIGTERM);
    let r = finish(child);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["stopped_by"], "SIGTERM");
    assert_eq!(field(&j, "completed"), 1);
    let free = &entries(&j, "free")[0];
    assert!(field(free, "end_ns") >= field(free, "start_ns"));
}
