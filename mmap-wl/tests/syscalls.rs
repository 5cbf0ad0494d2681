//! mmap-wl under strace: every mode makes exactly the system calls its ledger
//! lists, with the same arguments, results and errnos, and nothing after them;
//! what the calls did to the process (`mapped_bytes`, `rss_bytes`) is what they
//! imply; and what a tracker that sums mmap lengths less munmap lengths would
//! count is what docs/workloads.md says.

use serde_json::Value;
use wltest::*;

const BIN: &str = env!("CARGO_BIN_EXE_mmap-wl");

/// Every call a mode may make (and the loader's).
const TRACE: &str = "mmap,munmap,mremap,mprotect,ftruncate,openat,close";
const NAMES: &[&str] = &[
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "ftruncate",
    "openat",
    "close",
];

fn page() -> u64 {
    wlcore::stat::page_size() as u64
}

/// What a mode does with SIZE = `pages` pages: its calls, in order, the
/// change of the mapped size at each (in pages), and what a system-call
/// tracker sums (successful mmap lengths, munmap lengths, in pages).
struct Expect {
    mode: &'static str,
    pages: u64,
    calls: &'static [&'static str],
    mapped: &'static [i64],
    mmap_sum: u64,
    munmap_sum: u64,
}

const MODES: &[Expect] = &[
    Expect {
        mode: "anon",
        pages: 2,
        calls: &["mmap", "munmap"],
        mapped: &[2, -2],
        mmap_sum: 2,
        munmap_sum: 2,
    },
    Expect {
        mode: "shared",
        pages: 2,
        calls: &["mmap", "munmap"],
        mapped: &[2, -2],
        mmap_sum: 2,
        munmap_sum: 2,
    },
    Expect {
        mode: "file",
        pages: 2,
        calls: &["openat", "ftruncate", "mmap", "close", "munmap"],
        mapped: &[0, 0, 2, 0, -2],
        mmap_sum: 2,
        munmap_sum: 2,
    },
    Expect {
        mode: "populate",
        pages: 2,
        calls: &["mmap", "munmap"],
        mapped: &[2, -2],
        mmap_sum: 2,
        munmap_sum: 2,
    },
    Expect {
        mode: "protnone",
        pages: 2,
        calls: &["mmap", "mprotect", "munmap"],
        mapped: &[2, 0, -2],
        mmap_sum: 2,
        munmap_sum: 2,
    },
    Expect {
        mode: "fixed",
        pages: 2,
        calls: &["mmap", "mmap", "munmap"],
        mapped: &[2, 0, -2],
        mmap_sum: 3,
        munmap_sum: 2,
    },
    Expect {
        mode: "unmap-head",
        pages: 3,
        calls: &["mmap", "munmap", "munmap"],
        mapped: &[3, -1, -2],
        mmap_sum: 3,
        munmap_sum: 3,
    },
    Expect {
        mode: "unmap-middle",
        pages: 3,
        calls: &["mmap", "munmap", "munmap", "munmap"],
        mapped: &[3, -1, -1, -1],
        mmap_sum: 3,
        munmap_sum: 3,
    },
    Expect {
        mode: "unmap-tail",
        pages: 3,
        calls: &["mmap", "munmap", "munmap"],
        mapped: &[3, -1, -2],
        mmap_sum: 3,
        munmap_sum: 3,
    },
    Expect {
        mode: "mremap-grow",
        pages: 2,
        calls: &["mmap", "mremap", "munmap"],
        mapped: &[2, 2, -4],
        mmap_sum: 2,
        munmap_sum: 4,
    },
    Expect {
        mode: "mremap-shrink",
        pages: 2,
        calls: &["mmap", "mremap", "munmap"],
        mapped: &[2, -1, -1],
        mmap_sum: 2,
        munmap_sum: 1,
    },
    Expect {
        mode: "mremap-move",
        pages: 2,
        calls: &["mmap", "mmap", "mremap", "munmap"],
        mapped: &[2, 2, -2, -2],
        mmap_sum: 4,
        munmap_sum: 2,
    },
    Expect {
        mode: "fail-eexist",
        pages: 2,
        calls: &["mmap", "mmap", "munmap"],
        mapped: &[2, 0, -2],
        mmap_sum: 2,
        munmap_sum: 2,
    },
    Expect {
        mode: "unmap-unmapped",
        pages: 2,
        calls: &["mmap", "munmap", "munmap"],
        mapped: &[2, -2, 0],
        mmap_sum: 2,
        munmap_sum: 4,
    },
];

/// strace's calls without the ledger's own reading of `/proc/self` (an openat
/// of a `/proc/self/...` file and the close of its descriptor in that thread).
fn without_proc_reads(traced: Vec<Syscall>) -> Vec<Syscall> {
    let mut open: Vec<(Option<u64>, String)> = Vec::new();
    traced
        .into_iter()
        .filter(|t| {
            let proc_file = t.args.get(1).is_some_and(|p| p.starts_with("\"/proc/"));
            if t.name == "openat" && proc_file {
                open.push((t.tid, t.ret.clone()));
                return false;
            }
            if t.name == "close" {
                let fd = t.args.first();
                if let Some(i) = open
                    .iter()
                    .position(|(tid, f)| *tid == t.tid && Some(f) == fd)
                {
                    open.remove(i);
                    return false;
                }
            }
            true
        })
        .collect()
}

/// Runs `mmap-wl --json ARGS` under strace; gives the report, and strace's
/// calls after the dynamic loader's (whose last is the munmap of the ld.so
/// cache), without the ledger's reading of /proc.
fn traced(args: &[&str]) -> (Value, Vec<Syscall>) {
    traced_with(NAMES, args)
}

/// [`traced`], the calls named `names` only.
fn traced_with(names: &[&str], args: &[&str]) -> (Value, Vec<Syscall>) {
    let mut cmd = vec![BIN, "--json"];
    cmd.extend_from_slice(args);
    let (run, calls) = strace_calls(TRACE, &cmd);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    let report = run.json();
    let calls = without_proc_reads(calls);
    assert_syscalls_match(&model(&report), &calls, names, &[]);
    let loader = calls
        .iter()
        .position(|t| t.name == "munmap")
        .expect("the loader's munmap");
    let ours = calls[loader + 1..]
        .iter()
        .filter(|t| names.contains(&t.name.as_str()))
        .cloned()
        .collect();
    (report, ours)
}

/// The ledger's system-call entries.
fn syscalls(report: &Value) -> Vec<&Value> {
    report["ledger"]
        .as_array()
        .expect("a ledger")
        .iter()
        .filter(|e| e["kind"] == "syscall")
        .collect()
}

fn len_arg(t: &Syscall, i: usize) -> u64 {
    t.args[i]
        .parse()
        .unwrap_or_else(|_| panic!("a length: {t:?}"))
}

#[test]
fn every_mode_makes_exactly_its_calls() {
    let page = page();
    for x in MODES {
        let size = (x.pages * page).to_string();
        let (report, after_loader) = traced(&["--mode", x.mode, &size]);
        let what = format!("--mode {} {size}", x.mode);
        assert_eq!(report["path"], x.mode, "{what}");
        assert_eq!(report["completed"], 1, "{what}");
        let ledger = syscalls(&report);
        let names: Vec<&str> = ledger.iter().map(|e| e["call"].as_str().unwrap()).collect();
        assert_eq!(names, x.calls, "{what}");
        // After the loader, strace saw the ledger's calls and nothing else.
        let seen: Vec<&str> = after_loader.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(seen, x.calls, "{what}: {after_loader:#?}");
        // What the calls did to the mapped size, and the truth: nothing left.
        let mapped: Vec<i64> = ledger
            .iter()
            .map(|e| e["mapped_bytes"].as_i64().unwrap())
            .collect();
        let want: Vec<i64> = x.mapped.iter().map(|p| p * page as i64).collect();
        assert_eq!(mapped, want, "{what}: mapped_bytes");
        // A tracker that sums the lengths of successful mmaps and of munmaps.
        let sum = |name: &str, len_at: usize| -> u64 {
            after_loader
                .iter()
                .filter(|t| t.name == name && t.errno.is_none())
                .map(|t| len_arg(t, len_at))
                .sum()
        };
        assert_eq!(
            (sum("mmap", 1), sum("munmap", 1)),
            (x.mmap_sum * page, x.munmap_sum * page),
            "{what}: mmap and munmap lengths"
        );
    }
}

#[test]
fn the_failed_call_is_recorded_with_its_errno() {
    let size = (2 * page()).to_string();
    let (report, after) = traced(&["--mode", "fail-eexist", &size]);
    let maps = entries(&report, "mmap");
    assert_eq!(maps.len(), 2);
    let (first, failed) = (&maps[0], &maps[1]);
    assert_eq!(failed["errno"], "EEXIST");
    assert!(failed["ret"].is_null());
    assert_eq!(failed["mapped_bytes"], 0);
    assert_eq!(failed["args"]["addr"], first["ret"], "at the same address");
    assert_eq!(
        failed["args"]["flags"],
        "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE"
    );
    assert_eq!(after[1].errno.as_deref(), Some("EEXIST"));
}

#[test]
fn the_overlay_and_the_pieces_lie_where_they_should() {
    let page = page();
    let size = (2 * page).to_string();
    let (fixed, _) = traced(&["--mode", "fixed", &size]);
    let maps = entries(&fixed, "mmap");
    let base = addr(&maps[0]["ret"]);
    assert_eq!(
        addr(&maps[1]["args"]["addr"]),
        base + page,
        "the second half"
    );
    assert_eq!(field(&maps[1]["args"], "length"), page);
    assert_eq!(
        maps[1]["args"]["flags"],
        "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS"
    );
    // One page: the overlay covers it all.
    let (one, _) = traced(&["--mode", "fixed", &page.to_string()]);
    let maps = entries(&one, "mmap");
    assert_eq!(maps[1]["args"]["addr"], maps[0]["ret"]);

    let size = (5 * page).to_string();
    for (mode, gone, rest) in [
        ("unmap-head", 0, &[(1, 4)][..]),
        ("unmap-middle", 2, &[(0, 2), (3, 2)][..]),
        ("unmap-tail", 4, &[(0, 4)][..]),
    ] {
        let (r, _) = traced(&["--mode", mode, &size]);
        let base = addr(&entries(&r, "mmap")[0]["ret"]);
        let unmaps: Vec<(u64, u64)> = entries(&r, "munmap")
            .iter()
            .map(|e| {
                let a = addr(&e["args"]["addr"]);
                ((a - base) / page, field(&e["args"], "length") / page)
            })
            .collect();
        let mut want = vec![(gone, 1)];
        want.extend_from_slice(rest);
        assert_eq!(unmaps, want, "{mode}: (page, pages) of each munmap");
        // Only the page is gone while the rest is held.
        assert_eq!(
            field(&r, "vsz_after_bytes") - field(&r, "vsz_before_bytes"),
            4 * page
        );
    }
}

#[test]
fn mremap_moves_and_resizes() {
    let page = page();
    let size = 4 * page;
    let s = size.to_string();
    let (grow, _) = traced(&["--mode", "mremap-grow", &s]);
    let m = &entries(&grow, "mremap")[0]["args"];
    assert_eq!(
        (field(m, "old_size"), field(m, "new_size")),
        (size, 2 * size)
    );
    assert_eq!(m["flags"], "MREMAP_MAYMOVE");
    let (shrink, _) = traced(&["--mode", "mremap-shrink", &s]);
    let m = &entries(&shrink, "mremap")[0]["args"];
    assert_eq!(field(m, "new_size"), size / 2);
    assert_eq!(m["flags"], "0");
    // SIZE/2 rounded up to a page: 3 pages give 2.
    let (odd, _) = traced(&["--mode", "mremap-shrink", &(3 * page).to_string()]);
    assert_eq!(
        field(&entries(&odd, "mremap")[0]["args"], "new_size"),
        2 * page
    );
    let (mv, _) = traced(&["--mode", "mremap-move", &s]);
    let maps = entries(&mv, "mmap");
    assert_eq!(maps[1]["args"]["prot"], "PROT_NONE", "the reservation");
    let m = &entries(&mv, "mremap")[0];
    assert_eq!(m["args"]["flags"], "MREMAP_MAYMOVE|MREMAP_FIXED");
    assert_eq!(m["args"]["new_address"], maps[1]["ret"]);
    assert_eq!(m["ret"], maps[1]["ret"]);
    assert_eq!(
        mv["address"], maps[1]["ret"],
        "the report's address is the held one"
    );
}

#[test]
fn the_file_is_made_in_tmpdir_unnamed() {
    let dir = scratch_dir("tmpdir");
    let d = dir.to_str().unwrap();
    let cmd = [BIN, "--json", "--mode", "file", "8192"];
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", &format!("trace={TRACE}"), "-o"])
        .arg(dir.join("trace"))
        .args(cmd)
        .env("TMPDIR", d)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(dir.join("trace")).unwrap();
    let calls = without_proc_reads(parse_strace(&text));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_syscalls_match(&model(&report), &calls, NAMES, &[]);
    let open = &entries(&report, "openat")[0]["args"];
    assert_eq!(open["pathname"], d);
    assert_eq!(open["flags"], "O_RDWR|O_TMPFILE");
    // Nothing is left behind in the folder.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "trace")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn threads_fork_leak_and_repeats_match_strace_too() {
    let size = (2 * page()).to_string();
    // --threads: mapped in one new thread, unmapped in another.
    let (r, _) = traced(&["--threads", "--mode", "anon", &size]);
    let calls = syscalls(&r);
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0]["tid"], calls[1]["tid"]);
    assert_ne!(calls[0]["tid"], r["pid"]);
    // --fork: all in the child.
    let (r, after) = traced(&["--fork", "--mode", "mremap-move", &size]);
    let calls = syscalls(&r);
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|e| e["pid"] != r["pid"]), "{calls:?}");
    assert_eq!(after.len(), 4);
    // --leak: the mapping is never unmapped.
    let (r, after) = traced(&["--leak", "--mode", "shared", &size]);
    let seen: Vec<&str> = after.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(seen, ["mmap"]);
    assert_eq!(syscalls(&r).len(), 1);
    // --repeat: the same calls each time. (The run then reads signals from a
    // signalfd, which it closes at the end: a close of its own.)
    let memory = &NAMES[..5];
    let (r, after) = traced_with(memory, &["--repeat", "3", "--mode", "unmap-middle", "3M"]);
    assert_eq!(syscalls(&r).len(), 12);
    assert_eq!(after.len(), 12);
    // --cow: the pages written here and in a child, which unmaps nothing.
    let (r, after) = traced(&["--cow", "--mode", "file", &size]);
    assert_eq!(entries(&r, "touch").len(), 2);
    let seen: Vec<&str> = after.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(seen, ["openat", "ftruncate", "mmap", "close", "munmap"]);
}

#[test]
fn resident_size_follows_the_mode() {
    // The second repeat: the first also faults in the binary's own pages.
    let size = 1u64 << 20;
    let second = |mode: &str, more: &[&str]| {
        let mut args = vec!["--json", "--repeat", "2", "--mode", mode];
        args.extend_from_slice(more);
        args.push("1MiB");
        let r = run(BIN, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.json()["ledger"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["repeat"] == 2)
            .map(|e| {
                (
                    e["call"].as_str().unwrap().to_owned(),
                    e["rss_bytes"].as_i64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let s = size as i64;
    let pair = |a: &str, x: i64, b: &str, y: i64| vec![(a.to_owned(), x), (b.to_owned(), y)];
    assert_eq!(second("populate", &[]), pair("mmap", s, "munmap", -s));
    assert_eq!(second("anon", &[]), pair("mmap", 0, "munmap", 0));
    assert_eq!(second("protnone", &[])[1], ("mprotect".to_owned(), 0));
    // --cow writes every page: resident from the touch until the munmap.
    let cow = second("anon", &["--cow"]);
    assert_eq!(cow[1], ("touch".to_owned(), s), "{cow:?}");
    assert_eq!(cow.last().unwrap(), &("munmap".to_owned(), -s), "{cow:?}");
}

#[test]
fn sizes_that_are_not_whole_pages_are_passed_as_given() {
    let page = page();
    let size = 2 * page + 1;
    let (r, after) = traced(&["--mode", "unmap-tail", &size.to_string()]);
    let lens: Vec<u64> = after.iter().map(|t| len_arg(t, 1)).collect();
    assert_eq!(lens, [size, 1, 2 * page], "the lengths given");
    let mapped: Vec<i64> = syscalls(&r)
        .iter()
        .map(|e| e["mapped_bytes"].as_i64().unwrap())
        .collect();
    let p = page as i64;
    assert_eq!(mapped, [3 * p, -p, -2 * p], "the kernel's pages");
}

/// The user-space figure of the suite's strace tracker
/// (`scripts/trackers/strace-sum.awk`) for `mmap-wl ARGS`.
fn strace_figure(args: &[&str]) -> u64 {
    let dir = scratch_dir("strace-sum");
    let log = dir.join("trace");
    let st = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=mmap,brk,shmget", "-o"])
        .arg(&log)
        .arg(BIN)
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "{args:?}");
    let awk = repo_root().join("scripts/trackers/strace-sum.awk");
    let out = std::process::Command::new("awk")
        .arg("-f")
        .arg(awk)
        .arg(&log)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix("user="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{text}"))
}

#[test]
fn the_suites_strace_tracker_counts_the_mmap_lengths() {
    // Its figure sums successful mmap lengths, the loader's too: against
    // `--mode anon` of the same size, a mode adds its own sum less SIZE.
    let page = page();
    for x in MODES {
        let size = (x.pages * page).to_string();
        let base = strace_figure(&["--mode", "anon", &size]);
        let got = strace_figure(&["--mode", x.mode, &size]);
        assert_eq!(
            got as i64 - base as i64,
            (x.mmap_sum as i64 - x.pages as i64) * page as i64,
            "--mode {} {size}",
            x.mode
        );
    }
}
