//! `wlreport kload` (called by `scripts/kernel/kload.sh`): the load table's
//! kernel half, from the guest's console (`scripts/kernel/guest-kload.sh`):
//! kmalloc-test's rate mode at each rate under each kernel tracker, each run
//! beside the same run alone, in [`load`]'s rows, so that the table, its
//! summary and its plots are the host's.
//!
//! The truth of a run is the module's own count: the `objects` of its entry
//! (the tally of the file's `rate` writes), which must equal the kmallocs
//! kmalloc-test says its writes made (`kernel_rate.allocs`).
//!
//! A tracker of the contract (docs/tracker-contract.md, `kload.sh
//! --tracker NAME:kernel=COMMAND`) gives its reading instead of a count
//! (`KLOAD-READING` lines, read by [`crate::scoreboard::contract`] as a
//! `live` tracker's): its count is the blocks it says the process holds
//! (`live_blocks`; else its bytes over an object's), the module's objects
//! and the process's few others (its open file, its threads').

use crate::load::{Made, Measured, Rate, Row};
use wlmodel::Report;

/// How each kernel tracker runs, for the table: the bundled ones, and those
/// of the contract the console names (`KLOAD-CONTRACT NAME COMMAND`).
pub fn how(console: &str) -> Vec<(String, String)> {
    let mut how = bundled();
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some((name, cmd)) = line
            .strip_prefix("KLOAD-CONTRACT ")
            .and_then(|r| r.split_once(' '))
        {
            how.push((
                name.into(),
                format!(
                    "the tracker contract (docs/tracker-contract.md): `{cmd}`, started on \
                     kmalloc-test's pid at its --wait line for each run, read on SIGINT while \
                     the objects are held; counted: the blocks it said the process held \
                     (live_blocks, else its bytes over an object's: the module's objects and \
                     the process's few others); lost: the contract has no such line"
                ),
            ));
        }
    }
    how
}

fn bundled() -> Vec<(String, String)> {
    [
        (
            "kmem-bt",
            "scripts/trackers/kmem.bt (bpftrace, pid-keyed): the kmalloc lines of the module's \
             object size its user side received for kmalloc-test's pid between its open and \
             its close of the module's file; lost: bpftrace's \"Lost N events\"",
        ),
        (
            "tracefs",
            "the kmem:kmalloc and kmem:kfree events in the trace buffer (1408 KiB a CPU): the \
             module's kmallocs of the process (its writer threads too) it holds; lost: the \
             events the buffer overwrote (per_cpu/cpu*/stats overrun)",
        ),
        (
            "memleak-k",
            "memleak-bpfcc (bcc) in kernel mode, every second: its figure is what is \
             outstanding, so the runs (and the runs alone) hold their objects until the close \
             (`rate COUNT SIZE hold`; the cost a call is the kmallocs', the kfrees at the close \
             are not timed); counted: the allocations of the module's object size in the stacks \
             through the module of its first whole report while they were held; lost: it says \
             nothing of a loss",
        ),
    ]
    .into_iter()
    .map(|(n, h)| (n.to_string(), h.to_string()))
    .collect()
}

/// One run as the console tells it.
#[derive(Default)]
struct Seen {
    json: Option<String>,
    count: Option<u64>,
    /// A tracker of the contract's output (its reading).
    reading: Vec<String>,
    lost: Option<Option<u64>>,
    usage: Option<(u64, u64)>,
    status: Option<String>,
}

/// What the module counted against what kmalloc-test says it made: the run's
/// truth, or why there is none.
fn made_of(json: &str) -> Result<(u64, Made), String> {
    let made = Made::of(json)?;
    let r = Report::parse(json).map_err(|e| format!("the workload's report: {e}"))?;
    let entry = r
        .module_entry
        .ok_or("the report has no module entry (kmalloc-test --json reads it)")?;
    let held = r.kernel_rate.as_ref().is_some_and(|k| k.held);
    let freed = entry.objects_freed.unwrap_or(0);
    match entry.objects {
        // Held until the close, where the entry was read before it: none
        // of them may be freed yet (each freed in its write otherwise).
        Some(n) if held && freed != 0 => Err(format!(
            "the module freed {freed} of the {n} kmallocs the run held before its close"
        )),
        Some(n) if entry.path == "rate" && n == made.allocs => Ok((n, made)),
        Some(n) => Err(format!(
            "the module counted {n} kmallocs ({}), kmalloc-test {}",
            entry.path, made.allocs
        )),
        None => Err("the module's entry has no objects (a module without the rate mode)".into()),
    }
}

/// A contract tracker's count of the run's objects from its reading: the
/// blocks it says the process `pid` holds, or its bytes over an object's
/// (`allocated`); `Err` (why) when it gave no figure.
fn contract_count(reading: &[String], pid: u64, allocated: u64) -> Result<u64, String> {
    let r = crate::scoreboard::contract(&reading.join("\n"), crate::scoreboard::Kind::Live)?;
    let (bytes, blocks) = if r.by_pid.is_empty() {
        (r.bytes, r.calls)
    } else {
        // Lines of other processes are not this run's.
        let mine = r.by_pid.iter().find(|(p, ..)| *p == pid);
        mine.map_or((0, Some(0)), |&(_, b, c)| (b, c))
    };
    Ok(blocks.unwrap_or(bytes / allocated.max(1)))
}

fn row(
    tracker: &str,
    rate: &str,
    threads: u64,
    contract: bool,
    alone: &Seen,
    tracked: &Seen,
) -> Result<Row, String> {
    let rate = Rate::parse(rate)?;
    let result = (|| {
        let ok = |s: &Seen, what: &str| match s.status.as_deref() {
            Some("0") => Ok(()),
            Some(st) => Err(format!("the run {what} exited with status {st}")),
            None => Err(format!("the run {what} did not end")),
        };
        ok(alone, "alone")?;
        ok(tracked, "tracked")?;
        let (_, alone) = made_of(alone.json.as_deref().ok_or("no report of the run alone")?)?;
        let (truth, made) = made_of(tracked.json.as_deref().ok_or("no report of the run")?)?;
        for m in [&alone, &made] {
            if m.threads != threads {
                return Err(format!(
                    "a run of {threads} writer threads reported {}",
                    m.threads
                ));
            }
        }
        let json = tracked.json.as_deref().unwrap_or_default();
        let (counted, no_figure) = if contract {
            let r = Report::parse(json).map_err(|e| format!("the workload's report: {e}"))?;
            let allocated = r.module_entry.map_or(0, |e| e.allocated);
            match contract_count(&tracked.reading, r.pid, allocated) {
                Ok(n) => (n, None),
                Err(why) => (0, Some(why)),
            }
        } else {
            (tracked.count.ok_or("no count of the tracker's")?, None)
        };
        Ok(Measured {
            made: truth,
            counted,
            no_figure,
            reported_lost: tracked.lost.ok_or("no loss line of the tracker's")?,
            lines: None,
            tracked: made,
            alone,
            tracker_usage: tracked.usage,
        })
    })();
    Ok(Row {
        tracker: tracker.into(),
        rate,
        threads,
        result,
    })
}

/// The rows of the console's `KLOAD-` lines: a row a tracker and rate, in
/// the order they first come, each from its run alone and its run tracked
/// wherever they are (kmem-bt's runs alone all come before its tracked ones).
pub fn from_console(text: &str) -> Result<Vec<Row>, String> {
    // (tracker, rate) -> [alone, tracked]
    let mut runs: Vec<((String, String, u64), [Seen; 2])> = vec![];
    let mut cur: Option<(usize, usize)> = None;
    let mut contracts: Vec<String> = vec![];
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        let Some((key, rest)) = line.split_once(' ') else {
            continue;
        };
        let bad = || format!("a console line out of place: '{line}'");
        match key {
            "KLOAD-RUN" => {
                let w: Vec<&str> = rest.split(' ').collect();
                let [t, r, n, which] = w[..] else {
                    return Err(bad());
                };
                let n = n.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(bad)?;
                let side = match which {
                    "alone" => 0,
                    "tracked" => 1,
                    _ => return Err(bad()),
                };
                let k = (t.to_string(), r.to_string(), n);
                let i = match runs.iter().position(|(key, _)| *key == k) {
                    Some(i) => i,
                    None => {
                        runs.push((k, Default::default()));
                        runs.len() - 1
                    }
                };
                if runs[i].1[side].status.is_some() || runs[i].1[side].json.is_some() {
                    return Err(format!("the run {t} {r} {n} {which} comes twice"));
                }
                cur = Some((i, side));
            }
            "KLOAD-CONTRACT" => {
                let name = rest.split(' ').next().unwrap_or_default();
                contracts.push(name.to_string());
            }
            "KLOAD-JSON" | "KLOAD-COUNT" | "KLOAD-READING" | "KLOAD-LOST" | "KLOAD-USAGE"
            | "KLOAD-END" => {
                let (i, side) = cur.ok_or_else(bad)?;
                let s = &mut runs[i].1[side];
                let num = |v: &str| v.trim().parse::<u64>().map_err(|_| bad());
                match key {
                    "KLOAD-JSON" => s.json = Some(rest.into()),
                    "KLOAD-COUNT" => s.count = Some(num(rest)?),
                    "KLOAD-READING" => s.reading.push(rest.into()),
                    "KLOAD-LOST" if rest.trim() == "-" => s.lost = Some(None),
                    "KLOAD-LOST" => s.lost = Some(Some(num(rest)?)),
                    "KLOAD-USAGE" => s.usage = crate::load::usage(rest),
                    _ => s.status = Some(rest.trim().into()),
                }
            }
            _ => {}
        }
    }
    if runs.is_empty() {
        return Err("the console has no KLOAD-RUN line: the guest made no run".into());
    }
    runs.iter()
        .map(|((t, r, n), [a, b])| row(t, r, *n, contracts.contains(t), a, b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(allocs: u64, objects: u64, elapsed_ns: u64) -> String {
        format!(
            r#"{{"workload":"kmalloc-test","path":"kernel allocation via /proc/kmalloc_lkm","pid":90,"requested_bytes":64,"allocator_bytes":64,"ledger_version":1,"ledger":[],"completed":1,"kernel_rate":{{"size":64,"unit":"calls/s","target":1000,"duration_ns":1000000000,"calls":null,"threads":1,"writes":{allocs},"allocs":{allocs},"frees":{allocs},"elapsed_ns":{elapsed_ns},"achieved":{allocs}}},"module_entry":{{"pid":90,"tid":90,"path":"rate","call":"krealloc_node_align","ptr":"0x0","hash":"(null)","requested":64,"from":0,"allocated":64,"measured_by":"ksize","unit":0,"cpus":0,"free":"write","state":"freed","freed_by":"-","freed_pid":0,"objects":{objects},"objects_freed":{objects}}}}}"#
        )
    }

    #[test]
    fn a_run_and_its_run_alone() {
        let console = [
            "KLOAD-ATTACH kmem-bt 5.1".to_string(),
            "KLOAD-RUN kmem-bt 1k 1 alone".into(),
            format!("KLOAD-JSON {}", json(1000, 1000, 1_000_000_000)),
            "KLOAD-END 0".into(),
            "KLOAD-RUN kmem-bt 1k 1 tracked".into(),
            format!("KLOAD-JSON {}", json(1000, 1000, 1_100_000_000)),
            "KLOAD-COUNT 990\r".into(),
            "KLOAD-LOST -".into(),
            "KLOAD-USAGE cpu_ns=20000000 peak_rss_bytes=1048576".into(),
            "KLOAD-END 0".into(),
            "KLOAD-RUN tracefs max 1 alone".into(),
            format!("KLOAD-JSON {}", json(5000, 5000, 1_000_000)),
            "KLOAD-END 0".into(),
            "KLOAD-RUN tracefs max 1 tracked".into(),
            format!("KLOAD-JSON {}", json(5000, 4999, 2_000_000)),
            "KLOAD-COUNT 5000".into(),
            "KLOAD-LOST 7".into(),
            "KLOAD-END 0".into(),
        ]
        .join("\n");
        let rows = from_console(&console).unwrap();
        assert_eq!(rows.len(), 2);
        let m = rows[0].result.as_ref().unwrap();
        assert_eq!((m.made, m.counted, m.reported_lost), (1000, 990, None));
        assert!(m.silent());
        assert_eq!(m.tracker_usage, Some((20_000_000, 1_048_576)));
        assert_eq!(m.cost_ns(), Some(100_000.0));
        // the module's count and kmalloc-test's differ: no figures
        let e = rows[1].result.as_ref().unwrap_err();
        assert!(
            e.contains("the module counted 4999 kmallocs (rate), kmalloc-test 5000"),
            "{e}"
        );
        assert_eq!(rows[1].rate, Rate::Max);
    }

    #[test]
    fn runs_of_two_writers_are_rows_of_their_own() {
        let two = |allocs: u64, threads: u64| {
            json(allocs, allocs, 1_000_000_000)
                .replace(r#""threads":1,"#, &format!(r#""threads":{threads},"#))
        };
        let run = |n: u64, reported: u64| {
            [
                format!("KLOAD-RUN kmem-bt 1k {n} alone"),
                format!("KLOAD-JSON {}", two(1000 * n, n)),
                "KLOAD-END 0".into(),
                format!("KLOAD-RUN kmem-bt 1k {n} tracked"),
                format!("KLOAD-JSON {}", two(1000 * n, reported)),
                format!("KLOAD-COUNT {}", 1000 * n),
                "KLOAD-LOST -".into(),
                "KLOAD-END 0".into(),
            ]
            .join("\n")
        };
        let rows = from_console(&format!("{}\n{}", run(1, 1), run(2, 2))).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].threads, rows[1].threads), (1, 2));
        let m = rows[1].result.as_ref().unwrap();
        assert_eq!((m.made, m.counted), (2000, 2000));
        // a thread's time a call: 1 s over 1000 calls each
        assert_eq!(m.alone.ns_per_call(), Some(1_000_000.0));
        let rows = from_console(&run(2, 1)).unwrap();
        let e = rows[0].result.as_ref().unwrap_err();
        assert_eq!(e, "a run of 2 writer threads reported 1");
    }

    #[test]
    fn a_contract_trackers_reading_is_its_count() {
        let run = |reading: &[&str]| {
            let mut c = vec![
                "KLOAD-CONTRACT live-py python3 -u kmem-live.py {pid}".to_string(),
                "KLOAD-RUN live-py 1k 1 alone".into(),
                format!("KLOAD-JSON {}", json(1000, 1000, 1_000_000_000)),
                "KLOAD-END 0".into(),
                "KLOAD-RUN live-py 1k 1 tracked".into(),
                format!("KLOAD-JSON {}", json(1000, 1000, 1_000_000_000)),
            ];
            c.extend(reading.iter().map(|l| format!("KLOAD-READING {l}")));
            c.extend(["KLOAD-LOST -".to_string(), "KLOAD-END 0".into()]);
            c.join("\n")
        };
        // the blocks it says live: the module's objects and a few others
        let text = run(&["ready", "live_bytes 68000", "live_blocks 1003"]);
        let rows = from_console(&text).unwrap();
        let m = rows[0].result.as_ref().unwrap();
        assert_eq!(
            (m.made, m.counted, m.no_figure.as_deref()),
            (1000, 1003, None)
        );
        let how = how(&text);
        assert_eq!(how.last().unwrap().0, "live-py");
        assert!(how
            .last()
            .unwrap()
            .1
            .contains("`python3 -u kmem-live.py {pid}`"));
        // bytes only: over an object's (64)
        let rows = from_console(&run(&["live_bytes 64000"])).unwrap();
        assert_eq!(rows[0].result.as_ref().unwrap().counted, 1000);
        // by process: another's lines are not this run's (pid 90 is its)
        let rows = from_console(&run(&[
            "pid=90 live_bytes 6400",
            "pid=90 live_blocks 100",
            "pid=7 live_bytes 64000",
            "pid=7 live_blocks 1000",
        ]))
        .unwrap();
        assert_eq!(rows[0].result.as_ref().unwrap().counted, 100);
        // no figure: it counted nothing, and the row says why
        let rows = from_console(&run(&["ready"])).unwrap();
        let m = rows[0].result.as_ref().unwrap();
        assert_eq!(m.counted, 0);
        assert!(
            m.no_figure.as_deref().unwrap().contains("live_bytes"),
            "{m:?}"
        );
    }

    #[test]
    fn a_held_run_frees_nothing_before_its_close() {
        let held = |freed: u64| {
            json(1000, 1000, 1_000_000_000)
                .replace(r#""frees":1000,"#, r#""frees":1000,"held":true,"#)
                .replace(
                    r#""objects_freed":1000"#,
                    &format!(r#""objects_freed":{freed}"#),
                )
        };
        let console = |freed: u64| {
            [
                "KLOAD-RUN memleak-k 1k 1 alone".to_string(),
                format!("KLOAD-JSON {}", held(0)),
                "KLOAD-END 0".into(),
                "KLOAD-RUN memleak-k 1k 1 tracked".into(),
                format!("KLOAD-JSON {}", held(freed)),
                "KLOAD-COUNT 1000".into(),
                "KLOAD-LOST -".into(),
                "KLOAD-END 0".into(),
            ]
            .join("\n")
        };
        let rows = from_console(&console(0)).unwrap();
        let m = rows[0].result.as_ref().unwrap();
        assert_eq!((m.made, m.counted, m.reported_lost), (1000, 1000, None));
        let rows = from_console(&console(64)).unwrap();
        let e = rows[0].result.as_ref().unwrap_err();
        assert!(
            e.contains("the module freed 64 of the 1000 kmallocs the run held before its close"),
            "{e}"
        );
    }

    #[test]
    fn the_runs_alone_may_all_come_first() {
        let console = [
            "KLOAD-RUN kmem-bt 1k 1 alone".to_string(),
            format!("KLOAD-JSON {}", json(1000, 1000, 1_000_000_000)),
            "KLOAD-END 0".into(),
            "KLOAD-RUN kmem-bt max 1 alone".into(),
            format!("KLOAD-JSON {}", json(50, 50, 1_000)),
            "KLOAD-END 0".into(),
            "KLOAD-RUN kmem-bt 1k 1 tracked".into(),
            format!("KLOAD-JSON {}", json(1000, 1000, 1_000_000_000)),
            "KLOAD-COUNT 1000".into(),
            "KLOAD-LOST -".into(),
            "KLOAD-END 0".into(),
            "KLOAD-RUN kmem-bt max 1 tracked".into(),
            format!("KLOAD-JSON {}", json(50, 50, 2_000)),
            "KLOAD-COUNT 40".into(),
            "KLOAD-LOST 10".into(),
            "KLOAD-END 0".into(),
        ]
        .join("\n");
        let rows = from_console(&console).unwrap();
        let m: Vec<&Measured> = rows.iter().map(|r| r.result.as_ref().unwrap()).collect();
        assert_eq!(
            (rows[0].rate.clone(), m[0].counted),
            (Rate::PerSec(1000), 1000)
        );
        assert_eq!(
            (rows[1].rate.clone(), m[1].counted, m[1].reported_lost),
            (Rate::Max, 40, Some(10))
        );
        assert_eq!(m[1].cost_ns(), Some(20.0));
    }

    #[test]
    fn a_run_that_failed_or_is_out_of_place() {
        let failed = format!(
            "KLOAD-RUN tracefs 1k 1 alone\nKLOAD-JSON {}\nKLOAD-END 0\nKLOAD-RUN tracefs 1k 1 tracked\nKLOAD-END 3\n",
            json(1000, 1000, 1)
        );
        let rows = from_console(&failed).unwrap();
        assert_eq!(
            rows[0].result.as_ref().unwrap_err(),
            "the run tracked exited with status 3"
        );
        assert!(from_console("KLOAD-COUNT 5\n").is_err());
        let twice = from_console("KLOAD-RUN a 1k 1 alone\nKLOAD-END 0\nKLOAD-RUN a 1k 1 alone\n");
        assert_eq!(twice.unwrap_err(), "the run a 1k 1 alone comes twice");
        // the writers' count is a word of its own
        let e = from_console("KLOAD-RUN a 1k alone\n").unwrap_err();
        assert!(e.contains("out of place"), "{e}");
        // a run tracked without its run alone: a row that says so
        let lone = from_console("KLOAD-RUN b 1k 1 tracked\nKLOAD-END 0\n").unwrap();
        assert_eq!(
            lone[0].result.as_ref().unwrap_err(),
            "the run alone did not end"
        );
        assert!(from_console("nothing\n").is_err());
    }
}
