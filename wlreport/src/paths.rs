//! The paths table: for each workload path, what it calls and what a heap
//! tracker and a system-call tracker should each see, from the workloads'
//! `--json` ledgers (`docs/ledger.md`), as `scripts/paths.sh` prints it.

use wlmodel::{Report, Timeline};

/// One row: a run's label and what its ledger says.
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub label: String,
    pub path: String,
    /// The calls of the first repeat, in order (`mmap!EEXIST` for a failed one).
    pub calls: Vec<String>,
    /// Allocating malloc-family calls and the bytes they asked for.
    pub heap_calls: u64,
    pub heap_bytes: u64,
    /// Frees of the malloc family.
    pub frees: u64,
    /// What the process held mapped (`wlmodel::Entry::mapping_change`) over
    /// the first repeat: its highest point and where it ended, from before
    /// the first call.
    pub mapped_peak: i64,
    pub mapped_end: i64,
    /// The System V segments alone, when the ledger measures them.
    pub sysv_peak: Option<i64>,
}

/// The row of one `--json` report (the first object, when `--exec` made two).
pub fn row(label: &str, report: &str) -> Result<Row, String> {
    let report = Report::parse(report).map_err(|e| format!("{label}: {e}"))?;
    let t = Timeline::of(&report);
    let (mapped_peak, mapped_end) = t.mapped_peak_end();
    let mut r = Row {
        label: label.to_owned(),
        path: report.path.clone(),
        calls: vec![],
        heap_calls: 0,
        heap_bytes: 0,
        frees: 0,
        mapped_peak,
        mapped_end,
        sysv_peak: None,
    };
    let mut sysv = 0;
    for e in &t.entries {
        r.calls.push(match &e.errno {
            Some(errno) => format!("{}!{errno}", e.call),
            None => e.call.clone(),
        });
        if e.ok() && e.is_allocating() {
            r.heap_calls += 1;
            r.heap_bytes += e.asked_bytes();
        } else if e.ok() && e.is_free() {
            r.frees += 1;
        }
        if let Some(d) = e.sysv_bytes {
            sysv += d;
            r.sysv_peak = Some(r.sysv_peak.unwrap_or(0).max(sysv));
        }
    }
    Ok(r)
}

/// The Markdown table of the rows, for `size` bytes.
pub fn table(rows: &[Row], size: u64) -> String {
    let mut t = format!(
        "SIZE = {size}. Heap tracker: the malloc-family calls a uprobe or LD_PRELOAD tracker \
         sees (allocating calls, bytes asked, frees). System-call tracker: what the process held \
         mapped (mmap, mremap, munmap, brk; a System V segment once, at shmget) over the first \
         repeat, summed over its processes and threads, at its peak and at the end, as measured \
         by the process; SysV: the bytes of segments created (shmget) and not yet removed.\n\n\
         | run | path | calls | heap tracker | system-call tracker: peak, end | SysV peak |\n\
         | --- | --- | --- | --- | --- | --- |\n"
    );
    for r in rows {
        let heap = if r.heap_calls + r.frees == 0 {
            "nothing".to_owned()
        } else {
            format!(
                "{} call(s), {} B, {} free(s)",
                r.heap_calls, r.heap_bytes, r.frees
            )
        };
        t += &format!(
            "| `{}` | {} | {} | {} | {:+}, {:+} | {} |\n",
            r.label,
            r.path,
            r.calls.join(", "),
            heap,
            r.mapped_peak,
            r.mapped_end,
            r.sysv_peak.map_or("".into(), |s| format!("{s:+}"))
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of `path` with these entries: (repeat, call, kind, args,
    /// errno, mapped_bytes, sysv_bytes), one a microsecond.
    type Fixture<'a> = (u64, &'a str, &'a str, &'a str, &'a str, i64, Option<i64>);

    fn report(path: &str, entries: &[Fixture]) -> String {
        let entries: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(k, (repeat, call, kind, args, errno, mapped, sysv))| {
                let sysv = sysv.map_or(String::new(), |s| format!(r#","sysv_bytes":{s}"#));
                format!(
                    r#"{{"repeat":{repeat},"pid":9,"tid":9,"call":"{call}","kind":"{kind}","args":{{{args}}},"errno":{errno},"start_ns":{},"end_ns":{},"mapped_bytes":{mapped}{sysv}}}"#,
                    k * 1000,
                    k * 1000 + 500
                )
            })
            .collect();
        format!(
            r#"{{"ledger_version":1,"workload":"malloc-wl","path":"{path}","pid":9,"requested_bytes":1,"allocator_bytes":1,"completed":2,"ledger":[{}]}}"#,
            entries.join(",")
        )
    }

    #[test]
    fn a_realloc_run() {
        let j = report(
            "realloc",
            &[
                (1, "malloc", "libc", r#""size":100"#, "null", 135168, None),
                (
                    1,
                    "realloc",
                    "libc",
                    r#""ptr":"0x1","size":1048576"#,
                    "null",
                    1052672,
                    None,
                ),
                (1, "free", "libc", r#""ptr":"0x2""#, "null", -1052672, None),
                (2, "malloc", "libc", r#""size":100"#, "null", 0, None),
            ],
        );
        let r = row("--fn realloc", &j).unwrap();
        assert_eq!(r.calls, ["malloc", "realloc", "free"]);
        assert_eq!((r.heap_calls, r.heap_bytes, r.frees), (2, 1048676, 1));
        assert_eq!((r.mapped_peak, r.mapped_end), (1187840, 135168));
        assert_eq!(r.sysv_peak, None);
    }

    #[test]
    fn failed_calls_and_segments() {
        let j = report(
            "sysv",
            &[
                (1, "shmget", "syscall", "", "null", 0, Some(8192)),
                (1, "shmat", "syscall", "", "null", 8192, Some(0)),
                (1, "mmap", "syscall", "", r#""EEXIST""#, 0, Some(0)),
                (1, "shmdt", "syscall", "", "null", -8192, Some(0)),
                (1, "shmctl", "syscall", "", "null", 0, Some(-8192)),
            ],
        );
        let r = row("x", &j).unwrap();
        assert_eq!(
            r.calls,
            ["shmget", "shmat", "mmap!EEXIST", "shmdt", "shmctl"]
        );
        assert_eq!(r.sysv_peak, Some(8192));
        // the segment counts once, from shmget to IPC_RMID (not again at shmat)
        assert_eq!((r.mapped_peak, r.mapped_end), (8192, 0));
        let t = table(&[r], 8192);
        assert!(
            t.contains("| `x` | sysv | shmget, shmat, mmap!EEXIST, shmdt, shmctl | nothing | +8192, +0 | +8192 |"),
            "{t}"
        );
    }

    #[test]
    fn unknown_versions_are_refused() {
        assert!(row("x", r#"{"ledger_version":2,"ledger":[]}"#).is_err());
        assert!(row("x", "not json").is_err());
    }
}
