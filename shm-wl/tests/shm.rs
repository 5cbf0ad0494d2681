//! shm-wl run as a user runs it: every mode under strace against its ledger,
//! the measured segments and mappings, usage errors, no malloc-family call.

use serde_json::Value;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_shm-wl");

const TRACE: &str =
    "shmget,shmat,shmdt,shmctl,openat,ftruncate,mmap,munmap,close,unlink,memfd_create";

/// The system calls of a mode's ledger, as the names strace gives them.
fn names(mode: &str) -> &'static [&'static str] {
    match mode {
        "posix" => &["ftruncate", "mmap", "munmap", "close"],
        "memfd" => &["memfd_create", "ftruncate", "mmap", "munmap", "close"],
        _ => &["shmget", "shmat", "shmdt", "shmctl"],
    }
}

/// strace's calls without the `close` of each file the ledger opens in /proc
/// to measure the process (`/proc/self/statm`, `/proc/self/maps`,
/// `/proc/sysvipc/shm`): the same call names as the workload's own.
fn without_measuring(calls: Vec<Syscall>) -> Vec<Syscall> {
    let mut open: Vec<(Option<u64>, String)> = Vec::new();
    calls
        .into_iter()
        .filter(|c| match c.name.as_str() {
            "openat" if c.args.get(1).is_some_and(|p| p.starts_with("\"/proc/")) => {
                open.push((c.tid, c.ret.clone()));
                true
            }
            "close" => match open
                .iter()
                .position(|(tid, fd)| *tid == c.tid && *fd == c.args[0])
            {
                Some(i) => {
                    open.remove(i);
                    false
                }
                None => true,
            },
            _ => true,
        })
        .collect()
}

/// `shm-wl --mode MODE ARGS --json SIZE` under `strace -f`: the report and
/// what strace saw, without the ledger's closes of its /proc files.
fn under_strace(mode: &str, args: &[&str], size: &str) -> (Run, Vec<Syscall>) {
    let mut cmd = vec![BIN, "--mode", mode];
    cmd.extend_from_slice(args);
    cmd.extend_from_slice(&["--json", size]);
    let (run, calls) = strace_calls(TRACE, &cmd);
    (run, without_measuring(calls))
}

/// [`under_strace`], its system-call entries checked one by one against the
/// last calls strace saw.
fn traced(mode: &str, args: &[&str], size: &str) -> (Value, Vec<Syscall>) {
    let (run, calls) = under_strace(mode, args, size);
    assert_eq!(run.code, 0, "{mode} {args:?}: {}", run.stderr);
    let report = run.json();
    assert_syscalls_match(&model(&report), &calls, names(mode), &[]);
    (report, calls)
}

/// A leaking run: what it leaves behind is removed before anything is checked.
fn leaked(mode: &str) -> (Value, Vec<Syscall>, bool) {
    let (run, calls) = under_strace(mode, &["--leak"], "8192");
    let listed = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
    let mut left = false;
    for t in calls
        .iter()
        .filter(|t| t.name == "shmget" && t.errno.is_none())
    {
        if listed
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&t.ret))
        {
            ipcrm(&t.ret);
            left = true;
        }
    }
    for t in calls.iter().filter(|t| t.name == "openat") {
        if let Some(p) = t.args[1].trim_matches('"').strip_prefix("/dev/shm/") {
            let path = format!("/dev/shm/{p}");
            left |= std::fs::remove_file(&path).is_ok();
        }
    }
    assert_eq!(run.code, 0, "{mode} --leak: {}", run.stderr);
    let report = run.json();
    assert_syscalls_match(&model(&report), &calls, names(mode), &[]);
    (report, calls, left)
}

fn calls(report: &Value) -> Vec<String> {
    report["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["call"].as_str().unwrap().to_owned())
        .collect()
}

fn delta(e: &Value, what: &str) -> i64 {
    e[what]
        .as_i64()
        .unwrap_or_else(|| panic!("no {what} in {e}"))
}

/// Removes a segment a test leaked on purpose.
fn ipcrm(id: &str) {
    let st = std::process::Command::new("ipcrm")
        .args(["-m", id])
        .status()
        .expect("ipcrm runs");
    assert!(st.success(), "ipcrm -m {id}");
}

#[test]
fn it_is_laid_out_like_the_c_program() {
    assert_laid_out_like_c(BIN, &["--mode", "posix", "8192"]);
}

#[test]
fn start_up_binds_the_c_functions_it_calls_on_first_call() {
    assert_bound_lazily(
        BIN,
        &[
            "shmget",
            "shmat",
            "shmdt",
            "shmctl",
            "shm_open",
            "memfd_create",
        ],
    );
}

#[test]
fn sysv_segment_made_attached_detached_removed() {
    let (r, _) = traced("sysv", &[], "8192");
    assert_eq!(calls(&r), ["shmget", "shmat", "shmdt", "shmctl"]);
    let e = &r["ledger"];
    assert_eq!(e[0]["args"]["key"], "IPC_PRIVATE");
    assert_eq!(e[0]["args"]["shmflg"], "IPC_CREAT|0600");
    assert_eq!(e[1]["args"]["shmid"], e[0]["ret"]);
    assert_eq!(e[3]["args"]["cmd"], "IPC_RMID");
    // The segment exists from shmget to IPC_RMID; it is mapped from shmat to shmdt.
    let sysv: Vec<i64> = (0..4).map(|i| delta(&e[i], "sysv_bytes")).collect();
    assert_eq!(sysv, [8192, 0, 0, -8192]);
    let mapped: Vec<i64> = (0..4).map(|i| delta(&e[i], "mapped_bytes")).collect();
    assert_eq!(mapped, [0, 8192, -8192, 0]);
    assert_eq!(addr(&r["address"]), addr(&e[1]["ret"]));
    assert_eq!(r["path"], "shmget");
}

#[test]
fn removed_while_attached_the_segment_goes_at_detach() {
    let (r, _) = traced("sysv-rmid-attached", &[], "8192");
    assert_eq!(calls(&r), ["shmget", "shmat", "shmctl", "shmdt"]);
    let e = &r["ledger"];
    let sysv: Vec<i64> = (0..4).map(|i| delta(&e[i], "sysv_bytes")).collect();
    assert_eq!(sysv, [8192, 0, 0, -8192], "IPC_RMID frees nothing yet");
}

#[test]
fn a_second_shmget_of_the_same_key_makes_nothing() {
    let (r, seen) = traced("sysv-same-key", &[], "8192");
    assert_eq!(calls(&r), ["shmget", "shmget", "shmat", "shmdt", "shmctl"]);
    let e = &r["ledger"];
    assert_eq!(e[0]["args"]["key"], e[1]["args"]["key"]);
    assert_ne!(e[0]["args"]["key"], "IPC_PRIVATE");
    assert_eq!(e[0]["args"]["shmflg"], "IPC_CREAT|IPC_EXCL|0600");
    assert_eq!(e[1]["args"]["shmflg"], "IPC_CREAT|0600");
    assert_eq!(e[0]["ret"], e[1]["ret"], "the same segment");
    assert_eq!(
        (delta(&e[0], "sysv_bytes"), delta(&e[1], "sysv_bytes")),
        (8192, 0)
    );
    // What a tracker that sums shmget sizes counts: twice the size.
    let sizes: Vec<&str> = seen
        .iter()
        .filter(|t| t.name == "shmget")
        .map(|t| t.args[1].as_str())
        .collect();
    assert_eq!(sizes, ["8192", "8192"]);
    // Repeats take keys of their own (a leaked one would stay in the way).
    let (r, _) = traced("sysv-same-key", &["--repeat", "2"], "4096");
    let keys: Vec<Value> = entries(&r, "shmget")
        .iter()
        .map(|e| e["args"]["key"].clone())
        .collect();
    assert_eq!(keys.len(), 4);
    assert_ne!(keys[0], keys[2]);
}

#[test]
fn posix_object_in_dev_shm() {
    let (r, seen) = traced("posix", &[], "8192");
    assert_eq!(
        calls(&r),
        [
            "shm_open",
            "ftruncate",
            "mmap",
            "munmap",
            "close",
            "shm_unlink"
        ]
    );
    let e = &r["ledger"];
    assert_eq!(e[0]["kind"], "libc");
    assert_eq!(e[5]["kind"], "libc");
    let name = e[0]["args"]["name"].as_str().unwrap();
    // glibc's shm_open is an openat in /dev/shm, its shm_unlink an unlink.
    let path = format!("\"/dev/shm{name}\"");
    let open = seen
        .iter()
        .find(|t| t.name == "openat" && t.args[1] == path)
        .expect("the openat of shm_open");
    assert_eq!(open.args[2], "O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC");
    assert_eq!((open.args[3].as_str(), open.ret.as_str()), ("0600", "3"));
    assert_eq!(e[0]["ret"], 3);
    assert!(seen.iter().any(|t| t.name == "unlink" && t.args[0] == path));
    assert_eq!(delta(&e[2], "mapped_bytes"), 8192);
    assert_eq!(delta(&e[3], "mapped_bytes"), -8192);
    assert_eq!(e[2]["args"]["flags"], "MAP_SHARED");
    assert!(!std::path::Path::new(&format!("/dev/shm{name}")).exists());
}

#[test]
fn memfd_mapped_shared() {
    let (r, _) = traced("memfd", &[], "8192");
    assert_eq!(
        calls(&r),
        ["memfd_create", "ftruncate", "mmap", "munmap", "close"]
    );
    let e = &r["ledger"];
    assert_eq!(e[0]["args"]["flags"], "MFD_CLOEXEC");
    assert_eq!(delta(&e[2], "mapped_bytes"), 8192);
    assert_eq!(delta(&e[3], "mapped_bytes"), -8192);
    assert_eq!(field(&r, "mmap_bytes"), 8192);
}

#[test]
fn threads_fork_and_cow() {
    let (r, _) = traced("sysv", &["--threads"], "8192");
    let e = entries(&r, "shmget");
    assert_ne!(e[0]["tid"], r["pid"], "made in a thread");
    assert_ne!(
        entries(&r, "shmdt")[0]["tid"],
        e[0]["tid"],
        "freed in another"
    );
    let (r, _) = traced("memfd", &["--fork"], "8192");
    assert!(entries(&r, "mmap").iter().all(|e| e["pid"] != r["pid"]));
    let (r, _) = traced("sysv-rmid-attached", &["--fork"], "8192");
    let e = entries(&r, "shmdt");
    assert_eq!(delta(&e[0], "sysv_bytes"), -8192, "measured in the child");
    // Shared memory is not copied on write: the child writes the same pages.
    let (r, _) = traced("posix", &["--cow"], "64KiB");
    let t = entries(&r, "touch");
    assert_eq!(t.len(), 2);
    assert_eq!(field(&t[0]["args"], "pages"), 16);
}

#[test]
fn leaked_segments_and_objects_outlive_the_process() {
    let (r, _, left) = leaked("sysv");
    assert!(left, "the segment outlives the process");
    assert_eq!(calls(&r), ["shmget", "shmat"]);
    // Removed while attached, a leaked segment goes when the process exits.
    let (r, _, left) = leaked("sysv-rmid-attached");
    assert!(!left);
    assert_eq!(calls(&r), ["shmget", "shmat", "shmctl"]);
    // A POSIX object stays in /dev/shm; a memfd goes with the process.
    let (r, _, left) = leaked("posix");
    assert!(left, "the /dev/shm file outlives the process");
    assert_eq!(calls(&r), ["shm_open", "ftruncate", "mmap"]);
    let (_, _, left) = leaked("memfd");
    assert!(!left);
}

#[test]
fn touch_makes_every_page_resident() {
    for mode in ["sysv", "posix", "memfd"] {
        let r = run(BIN, &["--json", "--touch", "--mode", mode, "1MiB"]).json();
        let t = &entries(&r, "touch")[0];
        assert_eq!(field(&t["args"], "pages"), 256, "{mode}");
        assert!(delta(t, "rss_bytes") >= 1 << 20, "{mode}: {t}");
    }
}

#[test]
fn a_refused_segment_is_exit_3() {
    // Larger than any machine's SHMALL or memory: shmget says ENOMEM or EINVAL,
    // ftruncate EFBIG or succeeds, then mmap ENOMEM.
    for mode in ["sysv", "memfd"] {
        let r = run(BIN, &["--mode", mode, "1PiB"]);
        assert_eq!(r.code, 3, "{mode}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.starts_with("shm-wl: "), "{}", r.stderr);
    }
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    assert_bad_usage(BIN, "shm-wl");
    assert_fails(
        &run(BIN, &["--mode", "tmpfs", "1"]),
        "shm-wl",
        2,
        "'tmpfs' for '--mode <NAME>': one of sysv, sysv-rmid-attached, sysv-same-key, posix, memfd",
    );
    assert_fails(&run(BIN, &["1", "--mode"]), "shm-wl", 2, "--mode");
}

#[test]
fn help_names_the_modes() {
    let r = run(BIN, &["--help"]);
    assert_eq!(r.code, 0);
    for w in [
        "--mode <NAME>",
        "sysv-rmid-attached",
        "sysv-same-key",
        "posix",
        "memfd",
        "ipcrm",
    ] {
        assert!(r.stdout.contains(w), "{w}: {}", r.stdout);
    }
}

#[test]
fn a_heap_tracker_sees_no_call_at_all() {
    let Some(tracker) = Bpftrace::start("heap.bt", &[]) else {
        return;
    };
    for mode in [
        "sysv",
        "sysv-rmid-attached",
        "sysv-same-key",
        "posix",
        "memfd",
    ] {
        for more in [
            &["8192"][..],
            &["--json", "8192"][..],
            &[
                "--json", "--touch", "--repeat", "3", "--hold", "1ms", "1MiB",
            ][..],
            &["--wait", "--json", "--fork", "8192"][..],
            &["--json", "--cow", "8192"][..],
        ] {
            let mut args = vec!["--mode", mode];
            args.extend_from_slice(more);
            let (pid, r) = run_released(BIN, &args);
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
            assert_eq!(tracker.calls_of(pid), vec![], "{args:?}");
        }
    }
    let (pid, r) = run_released(BIN, &["--mode", "bogus", "1"]);
    assert_eq!(r.code, 2);
    assert_eq!(tracker.calls_of(pid), vec![]);
}

#[test]
fn a_run_maps_few_pages_of_its_file() {
    assert_maps_few_pages(BIN, &["1"]);
}
