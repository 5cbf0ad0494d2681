//! `runs.csv`: one typed row per run, made from what `scripts/sweep.sh` recorded
//! (`raw-runs.tsv`) and from the kernel CSV. The columns are documented in the
//! crate's docs (`HEADER` lists them in order).

use crate::kernel::KernelRun;
use std::collections::BTreeMap;
use wlmodel::glibc;
use wlmodel::{ParseError, Report};

/// The header of `raw-runs.tsv`, which `sweep.sh` writes (tab-separated).
pub const RAW_HEADER: &str =
    "workload\tsize\trepetition\ttracker\tfigure\texit_status\twall_ns\tpid\ttracker_report\tjson";

/// The columns of `runs.csv`, in order.
pub const HEADER: [&str; 28] = [
    "workload",
    "size",
    "repetition",
    "tracker",
    "figure",
    "tracked_bytes",
    "requested_bytes",
    "allocator_bytes",
    "glibc_mmap_bytes",
    "wall_ns",
    "exit_status",
    "pid",
    "mmap_bytes",
    "brk_bytes",
    "shm_bytes",
    "kernel_bytes",
    "kmalloc_events",
    "kmalloc_ptrs",
    "cache_events",
    "module_kmalloc_events",
    "module_kmalloc_ptrs",
    "repeat",
    "completed",
    "served_by",
    "reported_mmap_bytes",
    "reported_brk_growth_bytes",
    "failed_repeat",
    "error",
];

/// What a run's `tracked_bytes` is: the tracker's user-space figure (mmap + brk
/// growth + shmget), its kernel figure (kmalloc + kmem_cache_alloc bytes), or
/// its heap figure (the bytes asked by the malloc family's successful calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    User,
    Kernel,
    Heap,
}

impl Figure {
    fn parse(s: &str) -> Result<Figure, String> {
        match s {
            "user" => Ok(Figure::User),
            "kernel" => Ok(Figure::Kernel),
            "heap" => Ok(Figure::Heap),
            _ => Err(format!("unknown figure '{s}' (user, kernel, heap)")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Figure::User => "user",
            Figure::Kernel => "kernel",
            Figure::Heap => "heap",
        }
    }
}

/// One row of `runs.csv`. `None` is an empty cell: not measured by this tracker
/// or not reported by this workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub workload: String,
    pub size: u64,
    pub repetition: Option<u64>,
    pub tracker: String,
    pub figure: Figure,
    pub tracked_bytes: Option<u64>,
    pub requested_bytes: u64,
    /// What the workload asked its allocator for, over all its repeats.
    pub allocator_bytes: Option<u64>,
    /// glibc's mmap length for that, over all repeats (glibc workloads only).
    pub glibc_mmap_bytes: Option<u64>,
    pub wall_ns: Option<u64>,
    pub exit_status: i32,
    pub pid: Option<u64>,
    pub mmap_bytes: Option<u64>,
    pub brk_bytes: Option<u64>,
    pub shm_bytes: Option<u64>,
    pub kernel_bytes: Option<u64>,
    /// Every `kmem:kmalloc` event in the process's context.
    pub kmalloc_events: Option<u64>,
    /// Distinct pointers of those events.
    pub kmalloc_ptrs: Option<u64>,
    /// Every `kmem:kmem_cache_alloc` event in the process's context.
    pub cache_events: Option<u64>,
    /// `kmem:kmalloc` events of the module's own allocations (kernel CSV only).
    pub module_kmalloc_events: Option<u64>,
    /// The module's own allocations: distinct pointers from its call site.
    pub module_kmalloc_ptrs: Option<u64>,
    pub repeat: Option<u64>,
    pub completed: Option<u64>,
    pub served_by: Option<String>,
    pub reported_mmap_bytes: Option<u64>,
    pub reported_brk_growth_bytes: Option<u64>,
    pub failed_repeat: Option<u64>,
    pub error: Option<String>,
}

fn cell(v: Option<u64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

impl Run {
    /// The row's cells, in `HEADER`'s order.
    pub fn record(&self) -> Vec<String> {
        vec![
            self.workload.clone(),
            self.size.to_string(),
            cell(self.repetition),
            self.tracker.clone(),
            self.figure.as_str().to_string(),
            cell(self.tracked_bytes),
            self.requested_bytes.to_string(),
            cell(self.allocator_bytes),
            cell(self.glibc_mmap_bytes),
            cell(self.wall_ns),
            self.exit_status.to_string(),
            cell(self.pid),
            cell(self.mmap_bytes),
            cell(self.brk_bytes),
            cell(self.shm_bytes),
            cell(self.kernel_bytes),
            cell(self.kmalloc_events),
            cell(self.kmalloc_ptrs),
            cell(self.cache_events),
            cell(self.module_kmalloc_events),
            cell(self.module_kmalloc_ptrs),
            cell(self.repeat),
            cell(self.completed),
            self.served_by.clone().unwrap_or_default(),
            cell(self.reported_mmap_bytes),
            cell(self.reported_brk_growth_bytes),
            cell(self.failed_repeat),
            self.error.clone().unwrap_or_default(),
        ]
    }

    /// Counted in the medians: the run succeeded and the tracker gave a figure.
    pub fn ok(&self) -> bool {
        self.exit_status == 0 && self.tracked_bytes.is_some()
    }

    /// A run of the kernel CSV: the MemTracker-style sum is the tracked figure.
    pub fn from_kernel(k: &KernelRun) -> Run {
        Run {
            workload: "kmalloc-test".into(),
            size: k.size,
            repetition: k.repetition,
            tracker: "kernel-csv".into(),
            figure: Figure::Kernel,
            tracked_bytes: Some(k.bytes_alloc_sum),
            requested_bytes: k.size,
            allocator_bytes: k.bytes_req,
            glibc_mmap_bytes: None,
            wall_ns: None,
            exit_status: 0,
            pid: None,
            mmap_bytes: None,
            brk_bytes: None,
            shm_bytes: None,
            kernel_bytes: Some(k.bytes_alloc_sum),
            kmalloc_events: k.kmalloc_events,
            kmalloc_ptrs: k.kmalloc_ptrs,
            cache_events: k.cache_events,
            module_kmalloc_events: k.module_events,
            module_kmalloc_ptrs: k.module_ptrs,
            repeat: None,
            completed: None,
            served_by: None,
            reported_mmap_bytes: None,
            reported_brk_growth_bytes: None,
            failed_repeat: None,
            error: None,
        }
    }

    /// A line of `raw-runs.tsv` (see `RAW_HEADER`): the harness's fields, the
    /// tracker's `key=value` report (bpftrace's or strace.sh's line, or
    /// `tracked=N` from an external tracker; empty for none), the workload's
    /// `--json` report (empty when it printed none).
    pub fn from_raw(line: &str) -> Result<Run, String> {
        let f: Vec<&str> = line.splitn(10, '\t').collect();
        if f.len() != 10 {
            return Err(format!("{} fields, not 10", f.len()));
        }
        let num = |i: usize| -> Result<Option<u64>, String> {
            let v = f[i].trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| format!("{} is not a whole number: '{v}'", RAW_FIELDS[i]))
        };
        let workload = f[0].to_string();
        let size = num(1)?.ok_or("no size")?;
        let tracker = f[3].to_string();
        let figure = Figure::parse(f[4])?;
        let exit_status: i32 = f[5]
            .trim()
            .parse()
            .map_err(|_| format!("exit_status is not a number: '{}'", f[5]))?;
        let report = key_values(f[8]);
        let rep = |k: &str| report.get(k).and_then(|v| v.parse::<u64>().ok());
        // A run cut short has no report, or half of one; a report of
        // another version is refused.
        let json: Option<Report> = match Report::parse(f[9]) {
            Ok(r) => Some(r),
            Err(e @ ParseError::Version(_)) => return Err(e.into()),
            Err(_) => None,
        };
        let js = json.as_ref();

        let tracked_bytes = match (tracker.as_str(), figure) {
            ("none", _) => None,
            (_, Figure::Kernel) => rep("kernel"),
            (_, Figure::Heap) => rep("bytes"),
            _ => rep("user").or_else(|| rep("tracked")),
        };
        let repeat = js.map(|j| j.repeat);
        let times = repeat.unwrap_or(1);
        let allocator = js.map(|j| j.allocator_bytes);
        // The glibc workloads say so with their mmap threshold; kmalloc-test has none.
        let glibc_mmap_bytes = match (allocator, js.and_then(|j| j.mmap_threshold)) {
            (Some(a), Some(t)) => Some(glibc::mmap_len(a, t).saturating_mul(times)),
            _ => None,
        };
        Ok(Run {
            size,
            repetition: num(2)?,
            figure,
            tracked_bytes,
            requested_bytes: js.map_or(size, |j| j.requested_bytes),
            allocator_bytes: allocator.map(|a| a.saturating_mul(times)),
            glibc_mmap_bytes,
            wall_ns: num(6)?,
            exit_status,
            pid: num(7)?.or(js.map(|j| j.pid)),
            mmap_bytes: rep("mmap"),
            brk_bytes: rep("brk"),
            shm_bytes: rep("shm"),
            kernel_bytes: rep("kernel"),
            kmalloc_events: rep("kmalloc_events"),
            kmalloc_ptrs: rep("kmalloc_ptrs"),
            cache_events: rep("cache_events"),
            module_kmalloc_events: None,
            module_kmalloc_ptrs: None,
            repeat,
            completed: js.map(|j| j.completed),
            served_by: js.and_then(|j| j.served_by.clone()),
            reported_mmap_bytes: js.and_then(|j| j.mmap_bytes),
            reported_brk_growth_bytes: js.and_then(|j| j.brk_growth_bytes),
            failed_repeat: js.and_then(|j| j.failed_repeat),
            error: js.and_then(|j| j.error.clone()),
            workload,
            tracker,
        })
    }
}

/// `runs.csv`: the header, then a row a run (the kernel's after the user
/// space's).
pub fn csv(runs: &[Run], kernel: &[Run]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(HEADER).map_err(|e| e.to_string())?;
    for r in runs.iter().chain(kernel) {
        w.write_record(r.record()).map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

const RAW_FIELDS: [&str; 10] = [
    "workload",
    "size",
    "repetition",
    "tracker",
    "figure",
    "exit_status",
    "wall_ns",
    "pid",
    "tracker_report",
    "json",
];

/// `key=value` pairs of a tracker's line (`exit pid=1 user=2 ...`); words
/// without `=` are left out.
pub fn key_values(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Reads `raw-runs.tsv`: its header, then one run a line.
pub fn read_raw(text: &str) -> Result<Vec<Run>, String> {
    let mut runs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            if line != RAW_HEADER {
                return Err("the first line is not the header of raw-runs.tsv".into());
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        runs.push(Run::from_raw(line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON_256K: &str = r#"{"workload":"malloc-wl","path":"malloc","pid":25293,"requested_bytes":262144,"allocator_bytes":262144,"mmap_threshold":131072,"touched":false,"repeat":1,"hold_ns":0,"ledger_version":1,"place":"main","leak":false,"exec":null,"ledger":[],"completed":1,"stopped_by":null,"address":"0x7fed2eff0010","served_by":"mmap","mmap_bytes":266240,"brk_growth_bytes":135168,"failed_repeat":null,"error":null}"#;

    fn raw(fields: [&str; 10]) -> String {
        fields.join("\t")
    }

    #[test]
    fn a_bpftrace_run() {
        let line = raw([
            "malloc-wl", "262144", "2", "bpftrace", "user", "0", "1500000", "25293",
            "exit pid=25293 comm=malloc-wl user=4253019 mmap=4117851 mmap_calls=20 brk=135168 shm=0 kmalloc=9000 kmalloc_events=90 kmalloc_ptrs=80 cache=100 cache_events=5 kernel=9100",
            JSON_256K,
        ]);
        let r = Run::from_raw(&line).unwrap();
        assert_eq!(r.tracked_bytes, Some(4253019));
        assert_eq!(r.allocator_bytes, Some(262144));
        assert_eq!(r.glibc_mmap_bytes, Some(266240));
        assert_eq!(r.kernel_bytes, Some(9100));
        assert_eq!(
            (r.kmalloc_events, r.kmalloc_ptrs, r.cache_events),
            (Some(90), Some(80), Some(5))
        );
        assert_eq!(
            (r.module_kmalloc_events, r.module_kmalloc_ptrs),
            (None, None)
        );
        assert_eq!(r.served_by.as_deref(), Some("mmap"));
        assert_eq!(r.reported_mmap_bytes, Some(266240));
        assert!(r.ok());
        let rec = r.record();
        assert_eq!(rec.len(), HEADER.len());
        assert_eq!(rec[5], "4253019");
        assert_eq!(rec[26], "");
    }

    #[test]
    fn the_kernel_figure_and_repeats() {
        let json = r#"{"workload":"kmalloc-test","path":"kmalloc","pid":7,"requested_bytes":4096,"allocator_bytes":4096,"mmap_threshold":null,"repeat":3,"ledger_version":1,"ledger":[],"completed":3}"#;
        let line = raw([
            "kmalloc-test",
            "4096",
            "1",
            "bpftrace",
            "kernel",
            "0",
            "9",
            "",
            "user=5 kernel=12288 kmalloc_events=4",
            json,
        ]);
        let r = Run::from_raw(&line).unwrap();
        assert_eq!(r.tracked_bytes, Some(12288));
        assert_eq!(r.allocator_bytes, Some(3 * 4096));
        assert_eq!(r.glibc_mmap_bytes, None);
        assert_eq!(r.pid, Some(7));
        let json = JSON_256K.replace("\"repeat\":1", "\"repeat\":3");
        let line = raw([
            "malloc-wl",
            "262144",
            "1",
            "strace",
            "user",
            "0",
            "9",
            "1",
            "user=1 mmap=1 brk=0 shm=0",
            &json,
        ]);
        let r = Run::from_raw(&line).unwrap();
        assert_eq!(r.glibc_mmap_bytes, Some(3 * 266240));
        assert_eq!(r.kernel_bytes, None);
    }

    #[test]
    fn external_none_and_failed_runs() {
        let ext = raw([
            "bytearray-wl",
            "1",
            "1",
            "external",
            "user",
            "0",
            "5",
            "9",
            "tracked=123",
            "",
        ]);
        let r = Run::from_raw(&ext).unwrap();
        assert_eq!(r.tracked_bytes, Some(123));
        assert_eq!(r.requested_bytes, 1);
        assert_eq!(r.allocator_bytes, None);
        let none = raw([
            "malloc-wl",
            "1",
            "1",
            "none",
            "user",
            "0",
            "5",
            "9",
            "",
            JSON_256K,
        ]);
        assert_eq!(Run::from_raw(&none).unwrap().tracked_bytes, None);
        let failed = r#"{"workload":"malloc-wl","path":"malloc","pid":9,"requested_bytes":1125899906842624,"allocator_bytes":1125899906842624,"mmap_threshold":131072,"repeat":1,"ledger_version":1,"ledger":[],"completed":0,"failed_repeat":1,"error":"malloc(1125899906842624) failed: not enough memory, really"}"#;
        let line = raw([
            "malloc-wl",
            "1125899906842624",
            "1",
            "strace",
            "user",
            "3",
            "5",
            "9",
            "user=1",
            failed,
        ]);
        let r = Run::from_raw(&line).unwrap();
        assert!(!r.ok());
        assert_eq!(r.failed_repeat, Some(1));
        assert!(r.error.as_deref().unwrap().ends_with("really"));
    }

    #[test]
    fn kernel_csv_rows_keep_the_two_meanings_apart() {
        let k = KernelRun {
            size: 65536,
            repetition: Some(1),
            bytes_alloc_sum: 150000,
            bytes_req: Some(65536),
            module_ptrs: Some(1),
            module_events: Some(2),
            kmalloc_events: Some(70),
            cache_events: Some(30),
            kmalloc_ptrs: Some(60),
            sheaf_bytes: None,
        };
        let r = Run::from_kernel(&k);
        // the process's, as in bpftrace's rows
        assert_eq!((r.kmalloc_events, r.kmalloc_ptrs), (Some(70), Some(60)));
        assert_eq!(r.module_kmalloc_events, Some(2));
        assert_eq!(r.module_kmalloc_ptrs, Some(1));
        assert_eq!(r.tracked_bytes, Some(150000));
        assert_eq!(r.allocator_bytes, Some(65536));
    }

    #[test]
    fn bad_raw_lines() {
        assert!(Run::from_raw("a\tb").is_err());
        let line = raw(["malloc-wl", "x", "1", "none", "user", "0", "", "", "", ""]);
        assert!(Run::from_raw(&line).unwrap_err().contains("size"));
        let line = raw(["malloc-wl", "1", "1", "none", "both", "0", "", "", "", ""]);
        assert!(Run::from_raw(&line).is_err());
        assert!(read_raw("nope\n").is_err());
        let ok = format!(
            "{RAW_HEADER}\n{}\n\n",
            raw([
                "malloc-wl",
                "1",
                "1",
                "none",
                "user",
                "0",
                "",
                "",
                "",
                "not json"
            ])
        );
        let runs = read_raw(&ok).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].requested_bytes, 1);
    }
}
