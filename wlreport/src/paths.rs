//! The paths table: for each workload path, what it calls and what a heap
//! tracker and a system-call tracker should each see, from the workloads'
//! `--json` ledgers (`docs/ledger.md`), as `scripts/paths.sh` prints it.

use serde_json::Value;

/// The malloc-family functions that allocate (what a heap tracker counts).
const ALLOCATING: [&str; 8] = [
    "malloc",
    "calloc",
    "realloc",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
];

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
    /// The mapped size (mappings and brk heap together) over the first repeat:
    /// its highest point and where it ended, from before the first call.
    pub mapped_peak: i64,
    pub mapped_end: i64,
    /// The same for System V segments, when the ledger measures them.
    pub sysv_peak: Option<i64>,
}

fn num(v: &Value, what: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{what} is not a number: {v}"))
}

/// The row of one `--json` report (the first object, when `--exec` made two).
pub fn row(label: &str, report: &str) -> Result<Row, String> {
    let first = report.lines().next().unwrap_or_default();
    let j: Value = serde_json::from_str(first).map_err(|e| format!("{label}: not JSON: {e}"))?;
    match j["ledger_version"].as_u64() {
        Some(1) => {}
        v => return Err(format!("{label}: ledger_version {v:?}, this reads 1")),
    }
    let entries = j["ledger"]
        .as_array()
        .ok_or_else(|| format!("{label}: no ledger"))?;
    let mut r = Row {
        label: label.to_owned(),
        path: j["path"].as_str().unwrap_or_default().to_owned(),
        calls: vec![],
        heap_calls: 0,
        heap_bytes: 0,
        frees: 0,
        mapped_peak: 0,
        mapped_end: 0,
        sysv_peak: None,
    };
    let (mut mapped, mut sysv) = (0i64, None::<i64>);
    for e in entries.iter().filter(|e| e["repeat"].as_u64() == Some(1)) {
        let call = e["call"].as_str().unwrap_or_default();
        r.calls.push(match e["errno"].as_str() {
            Some(errno) => format!("{call}!{errno}"),
            None => call.to_owned(),
        });
        let ok = e["errno"].is_null();
        if e["kind"] == "libc" && ok {
            if ALLOCATING.contains(&call) {
                let size = num(&e["args"]["size"], "size")?;
                let n = e["args"]["nmemb"].as_u64().unwrap_or(1);
                r.heap_calls += 1;
                r.heap_bytes += n * size;
            } else if call == "free" {
                r.frees += 1;
            }
        }
        mapped += e["mapped_bytes"].as_i64().unwrap_or(0);
        r.mapped_peak = r.mapped_peak.max(mapped);
        if let Some(d) = e["sysv_bytes"].as_i64() {
            let s = sysv.unwrap_or(0) + d;
            sysv = Some(s);
            r.sysv_peak = Some(r.sysv_peak.unwrap_or(0).max(s));
        }
    }
    r.mapped_end = mapped;
    Ok(r)
}

/// The Markdown table of the rows, for `size` bytes.
pub fn table(rows: &[Row], size: u64) -> String {
    let mut t = format!(
        "SIZE = {size}. Heap tracker: the malloc-family calls a uprobe or LD_PRELOAD tracker \
         sees (allocating calls, bytes asked, frees). System-call tracker: the mapped size \
         (mmap, mremap, munmap, brk, shmat) over the first repeat, summed over its processes and \
         threads, at its peak and at the end, as measured by the process; SysV: the bytes of segments created (shmget) and not yet removed.\n\n\
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

    const REALLOC: &str = r#"{"path":"realloc","ledger_version":1,"ledger":[
        {"repeat":1,"call":"malloc","kind":"libc","args":{"size":100},"errno":null,"mapped_bytes":135168},
        {"repeat":1,"call":"realloc","kind":"libc","args":{"ptr":"0x1","size":1048576},"errno":null,"mapped_bytes":1052672},
        {"repeat":1,"call":"free","kind":"libc","args":{"ptr":"0x2"},"errno":null,"mapped_bytes":-1052672},
        {"repeat":2,"call":"malloc","kind":"libc","args":{"size":100},"errno":null,"mapped_bytes":0}]}"#;

    #[test]
    fn a_realloc_run() {
        let r = row("--fn realloc", &REALLOC.replace('\n', "")).unwrap();
        assert_eq!(r.calls, ["malloc", "realloc", "free"]);
        assert_eq!((r.heap_calls, r.heap_bytes, r.frees), (2, 1048676, 1));
        assert_eq!((r.mapped_peak, r.mapped_end), (1187840, 135168));
        assert_eq!(r.sysv_peak, None);
    }

    #[test]
    fn failed_calls_and_segments() {
        let j = r#"{"path":"sysv","ledger_version":1,"ledger":[{"repeat":1,"call":"shmget","kind":"syscall","args":{},"errno":null,"mapped_bytes":0,"sysv_bytes":8192},{"repeat":1,"call":"mmap","kind":"syscall","args":{},"errno":"EEXIST","mapped_bytes":0,"sysv_bytes":0},{"repeat":1,"call":"shmctl","kind":"syscall","args":{},"errno":null,"mapped_bytes":0,"sysv_bytes":-8192}]}"#;
        let r = row("x", j).unwrap();
        assert_eq!(r.calls, ["shmget", "mmap!EEXIST", "shmctl"]);
        assert_eq!(r.sysv_peak, Some(8192));
        let t = table(&[r], 8192);
        assert!(
            t.contains("| `x` | sysv | shmget, mmap!EEXIST, shmctl | nothing | +0, +0 | +8192 |"),
            "{t}"
        );
    }

    #[test]
    fn unknown_versions_are_refused() {
        assert!(row("x", r#"{"ledger_version":2,"ledger":[]}"#).is_err());
        assert!(row("x", "not json").is_err());
    }
}
