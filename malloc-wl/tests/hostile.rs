//! Hostile input and a hostile environment: a documented exit code, never a
//! panic, an abort, a hang or a silent loss. The logic is wlcore's, shared by
//! every workload; malloc-wl stands for all of them here.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_malloc-wl");

fn signal(child: &Child, s: Signal) {
    kill(Pid::from_raw(child.id() as i32), s).unwrap();
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs a bash command line with `$BIN` set; gives its run.
fn bash(script: &str) -> Run {
    Command::new("bash")
        .args(["-c", script])
        .env("BIN", BIN)
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into()
}

#[test]
fn holds_past_584_years_are_refused_not_a_panic() {
    for hold in ["9223372036854775807s", "292277024626y", "585y"] {
        assert_fails(
            &run(BIN, &["--hold", hold, "1"]),
            "malloc-wl",
            2,
            "longer than 584 years; use inf",
        );
    }
}

#[test]
fn hold_ns_is_the_true_figure_for_the_longest_hold() {
    let child = spawn(&["--json", "--hold", "584y", "4096"]);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, Signal::SIGINT);
    let r: Run = child.wait_with_output().unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(field(&j, "hold_ns"), 584 * 31_557_600 * 1_000_000_000);
    assert_eq!(j["stopped_by"], "SIGINT");
}

/// stderr that cannot be written: /dev/full, or a pipe nobody reads.
fn bad_stderrs() -> Vec<(&'static str, Stdio)> {
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    drop(read);
    vec![
        (
            "/dev/full",
            File::options()
                .write(true)
                .open("/dev/full")
                .unwrap()
                .into(),
        ),
        ("a closed pipe", write.into()),
    ]
}

#[test]
fn a_stderr_that_fails_never_changes_the_exit_code() {
    for (args, code) in [
        (&["0"][..], 2),
        (&["--bogus", "1"][..], 2),
        (&["1PiB"][..], 3),
        (&["-v", "1"][..], 0),
        (&["-v", "--repeat", "3", "256KiB"][..], 0),
    ] {
        // With SIGPIPE at its default and ignored (inherited across exec).
        for trap in ["", "trap '' PIPE; "] {
            for (what, stderr) in bad_stderrs() {
                let st = Command::new("bash")
                    .args(["-c", &format!("{trap}exec \"$0\" \"$@\""), BIN])
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(stderr)
                    .status()
                    .unwrap();
                assert_eq!(
                    st.code(),
                    Some(code),
                    "{args:?}, stderr {what}, {trap:?}: {st}"
                );
            }
        }
    }
}

#[test]
fn wait_with_a_failing_stderr_still_waits() {
    for (what, stderr) in bad_stderrs() {
        let mut child = Command::new(BIN)
            .args(["--wait", "--json", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(child.try_wait().unwrap().is_none(), "{what}: it waits");
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
        let r: Run = child.wait_with_output().unwrap().into();
        assert_eq!(r.code, 0, "{what}");
        assert_eq!(field(&r.json(), "completed"), 1, "{what}");
    }
}

#[test]
fn a_report_that_cannot_be_written_is_exit_5() {
    let full = File::options().write(true).open("/dev/full").unwrap();
    let r: Run = Command::new(BIN)
        .args(["--json", "1"])
        .stdout(full)
        .output()
        .unwrap()
        .into();
    assert_fails(
        &r,
        "malloc-wl",
        5,
        "the work was done, but the report could not be written to stdout: No space left on device",
    );
}

#[test]
fn a_reader_that_goes_away_gets_one_documented_result() {
    // A report that fits one write is written whole before `head` can leave.
    for _ in 0..20 {
        let r = bash("set -o pipefail; \"$BIN\" --json --repeat 10 1 | head -c1 >/dev/null");
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    // A larger one meets the closed pipe: exit 5, one line, every time.
    for _ in 0..3 {
        let r = bash("set -o pipefail; \"$BIN\" --json --repeat 200000 1 | head -c1 >/dev/null");
        assert_fails(
            &r,
            "malloc-wl",
            5,
            "could not be written to stdout: Broken pipe",
        );
    }
}

#[test]
fn memory_does_not_grow_with_repeat() {
    // 30 MB of address space: the ledger of 100000 repeats is ~45 MB.
    let r =
        bash("set -o pipefail; ulimit -v 30000; \"$BIN\" --repeat 100000 --json 1 | tail -c 600");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let tail = &r.stdout;
    assert!(tail.contains("\"completed\":100000,"), "{tail}");
    let num = |k: &str| -> u64 {
        let at = tail.find(&format!("\"{k}\":")).unwrap() + k.len() + 3;
        tail[at..]
            .split([',', '}'])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // The figures describe the first allocation, not our bookkeeping (which
    // used to add 48 MB here). statm's counters are per-CPU and approximate:
    // the first heap's 132 KiB may show up whole or not at all.
    let grew = num("rss_after_bytes") - num("rss_before_bytes");
    assert!(grew <= 1 << 20, "rss grew by {grew}");
    let r = bash("ulimit -v 200000; \"$BIN\" --repeat 1000000 -v 1");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("1000000 of 1000000 time(s)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_failing_repeat_is_reported_with_what_was_done() {
    // Only the workload calls malloc, so the shim's third call is the third repeat.
    let dir = scratch_dir("shim");
    let src = dir.join("fail3.c");
    std::fs::write(
        &src,
        "#include <stddef.h>\n\
         extern void *__libc_malloc(size_t);\n\
         void *malloc(size_t n) { static int calls; return ++calls == 3 ? NULL : __libc_malloc(n); }\n",
    )
    .unwrap();
    let so = dir.join("fail3.so");
    let st = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let run = |args: &[&str]| -> Run {
        Command::new(BIN)
            .args(args)
            .env("LD_PRELOAD", &so)
            .output()
            .unwrap()
            .into()
    };
    // Without --json too: the EAGAIN of the loop's look at its signals is not
    // the NULL's errno.
    let plain = run(&["--repeat", "5", "1"]);
    let r = run(&["--json", "--repeat", "5", "1"]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        (plain.code, plain.stderr.as_str()),
        (
            3,
            "malloc-wl: repeat 3 of 5: malloc(1) failed: not enough memory\n"
        )
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "malloc-wl: repeat 3 of 5: malloc(1) failed: not enough memory\n"
    );
    let j = r.json();
    assert_eq!(field(&j, "completed"), 2);
    // The ledger lists the failed call too, with its errno.
    let mallocs = entries(&j, "malloc");
    assert_eq!(mallocs.len(), 3);
    assert_eq!(
        (&mallocs[2]["ret"], &mallocs[2]["errno"]),
        (&serde_json::Value::Null, &serde_json::json!("ENOMEM"))
    );
    assert_eq!(entries(&j, "free").len(), 2);
    assert_eq!(field(&j, "failed_repeat"), 3);
    assert_eq!(j["error"], "malloc(1) failed: not enough memory");
}

/// Starts a run that lasts, lets it get going, sends `s`, and gives the run.
fn interrupted(args: &[&str], s: Signal) -> Run {
    let child = spawn(args);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, s);
    child.wait_with_output().unwrap().into()
}

#[test]
fn signals_stop_a_loop_with_a_report() {
    // A zero hold still looks for the signal (it used to run all repeats).
    let r = interrupted(
        &["--repeat", "1000000000", "--hold", "0s", "-v", "1"],
        Signal::SIGINT,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("stopped by SIGINT"), "{}", r.stderr);
    // A plain loop, no hold: stopped after the allocation in flight is freed.
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        let r = interrupted(&["--repeat", "1000000000", "--json", "1"], s);
        assert_eq!(r.code, 0, "{s}: {}", r.stderr);
        let j = r.json();
        assert_eq!(j["stopped_by"], s.as_str());
        let done = field(&j, "completed");
        assert!(done > 0 && done < 1_000_000_000);
        assert_eq!(entries(&j, "malloc").len() as u64, done);
    }
}

#[test]
fn signals_during_a_hold() {
    let r = interrupted(&["--hold", "inf", "--json", "1"], Signal::SIGHUP);
    assert_eq!(
        (r.code, r.json()["stopped_by"].clone()),
        (0, "SIGHUP".into())
    );
    // SIGUSR1 releases --wait only; a hold goes on to its end.
    let r = interrupted(&["--hold", "600ms", "--json", "1"], Signal::SIGUSR1);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["stopped_by"], serde_json::Value::Null);
    // Signals the workloads do not take keep their default: the process dies
    // of them, without a report.
    for s in [Signal::SIGUSR2, Signal::SIGQUIT] {
        let child = spawn(&["--hold", "inf", "--json", "1"]);
        std::thread::sleep(Duration::from_millis(200));
        signal(&child, s);
        let out = child.wait_with_output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(s as i32), "{s}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn sigusr1_does_not_stop_a_loop() {
    let r = interrupted(
        &["--repeat", "3", "--hold", "200ms", "--json", "1"],
        Signal::SIGUSR1,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(field(&r.json(), "completed"), 3);
}

#[test]
fn hostile_arguments_are_one_line() {
    for (args, words) in [
        (
            vec!["1\n2".to_string()],
            r"invalid value '1\n2' for '<SIZE>'",
        ),
        (
            vec!["9".repeat(5000)],
            "argument 1 is 5000 bytes long (at most 4096",
        ),
        (
            vec!["1".to_string(); 65],
            "too many arguments: 65 (at most 64",
        ),
        (
            vec!["--repeat".into(), "18446744073709551616".into(), "1".into()],
            "'--repeat <N>'",
        ),
        (vec!["--hold".into()], "a value is required for '--hold'"),
        (vec!["--json=1".into(), "1".into()], "'--json'"),
        (vec!["-x".into(), "1".into()], "unexpected argument '-x'"),
        (
            vec![String::from_utf8_lossy(b"\xff").into_owned()],
            "for '<SIZE>'",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_fails(&run(BIN, &args), "malloc-wl", 2, words);
    }
}
