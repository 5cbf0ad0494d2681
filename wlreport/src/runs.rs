//! `runs.csv`: one typed row per run, made from what the runners recorded for
//! `scripts/sweep.sh` (its `plan.tsv` and a raw file a run, the scoreboard's
//! format) and from the kernel CSV. The columns are documented in the crate's
//! docs (`HEADER` lists them in order).

use crate::kernel::KernelRun;
use std::collections::BTreeMap;
use wlmodel::glibc;
use wlmodel::{ParseError, Report};

/// The header of the sweep's `plan.tsv`, which `sweep.sh` writes
/// (tab-separated): a run a line, its raw file `ID.raw`; READER says how the
/// tracker's section of it gives the run's figures (`Reader`).
pub const PLAN_HEADER: &str = "id\tworkload\tsize\trepetition\ttracker\tfigure\treader";

/// How a tracker's section of a raw file gives the run's `key=value` figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// No tracker: no figure.
    None,
    /// A session's line for the run's process, `exit pid=PID key=value...`.
    ExitLine,
    /// The first line with `key=value` pairs (one tracker a run).
    KeyLine,
    /// The tracker contract's reading (`bytes N`): the figure is `tracked`.
    Contract,
}

impl Reader {
    fn parse(s: &str) -> Result<Reader, String> {
        match s {
            "none" => Ok(Reader::None),
            "exit-line" => Ok(Reader::ExitLine),
            "key-line" => Ok(Reader::KeyLine),
            "contract" => Ok(Reader::Contract),
            _ => Err(format!(
                "unknown reader '{s}' (none, exit-line, key-line, contract)"
            )),
        }
    }

    /// The run's `key=value` line from the tracker's section.
    fn line(self, section: &str, pid: Option<u64>) -> String {
        match self {
            Reader::None => String::new(),
            Reader::ExitLine => {
                let want = pid.map(|p| format!("pid={p}"));
                section
                    .lines()
                    .find(|l| {
                        l.starts_with("exit ")
                            && want
                                .as_ref()
                                .is_some_and(|w| l.split_whitespace().any(|x| x == w))
                    })
                    .unwrap_or_default()
                    .to_string()
            }
            Reader::KeyLine => section
                .lines()
                .find(|l| l.contains('='))
                .unwrap_or_default()
                .to_string(),
            Reader::Contract => {
                crate::scoreboard::contract(section, crate::scoreboard::Kind::Mapping)
                    .map(|r| format!("tracked={}", r.bytes))
                    .unwrap_or_default()
            }
        }
    }
}

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
    /// The last line the workload printed on stderr (not a column: what a
    /// failed run is reported with).
    pub stderr: Option<String>,
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

    /// Why a sweep's run failed (its exit status, or no figure under a
    /// tracker; `none` is the sweep without one), or `None`.
    pub fn failure(&self) -> Option<String> {
        let why = if self.exit_status != 0 {
            format!("failed with exit status {}", self.exit_status)
        } else if self.tracker != "none" && self.tracked_bytes.is_none() {
            "the tracker reported nothing for it".to_string()
        } else {
            return None;
        };
        let rep = self
            .repetition
            .map_or(String::new(), |r| format!(" (rep {r})"));
        let last = self.error.as_ref().or(self.stderr.as_ref());
        Some(format!(
            "{} {}{rep} {why}{}",
            self.workload,
            self.size,
            last.map_or(String::new(), |l| format!(": {l}"))
        ))
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
            stderr: None,
        }
    }

    /// A run from its fields (`FIELDS`): the plan's, the raw file's status,
    /// wall time and pid, the tracker's `key=value` line (a session's line, a
    /// tracker's own, or `tracked=N` from the contract; empty for none), the
    /// workload's `--json` report (empty when it printed none).
    fn from_fields(f: &[&str; 10]) -> Result<Run, String> {
        let num = |i: usize| -> Result<Option<u64>, String> {
            let v = f[i].trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| format!("{} is not a whole number: '{v}'", FIELDS[i]))
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

        let tracked_bytes = match figure {
            Figure::Kernel => rep("kernel"),
            Figure::Heap => rep("bytes"),
            Figure::User => rep("user"),
        }
        .or_else(|| rep("tracked"));
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
            stderr: None,
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

const FIELDS: [&str; 10] = [
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

/// Reads the sweep's runs: `plan.tsv` (`PLAN_HEADER`), and for each of its
/// runs the raw file `raw(ID)` gives (the runners' sections, `@@ NAME`; see
/// `scripts/trackers/runner-lib.sh`). A run without a raw file was not
/// recorded (an interrupted sweep) and is left out.
pub fn read_runs(
    plan: &str,
    raw: impl Fn(&str) -> Result<Option<String>, String>,
) -> Result<Vec<Run>, String> {
    let mut runs = Vec::new();
    for (i, line) in plan.lines().enumerate() {
        let at = |e: String| format!("plan.tsv line {}: {e}", i + 1);
        if i == 0 {
            if line != PLAN_HEADER {
                return Err("the first line of plan.tsv is not its header".into());
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let p: Vec<&str> = line.split('\t').collect();
        let [id, workload, size, repetition, tracker, figure, reader] = p[..] else {
            return Err(at(format!("{} fields, not 7", p.len())));
        };
        let reader = Reader::parse(reader).map_err(at)?;
        let Some(text) = raw(id)? else { continue };
        let s = crate::scoreboard::sections(&text);
        let sec = |n: &str| s.get(n).map_or("", |v| v.trim_end());
        let pid = sec("pid").trim().parse().ok();
        let line = reader.line(sec("tracker"), pid);
        let f = [
            workload,
            size,
            repetition,
            tracker,
            figure,
            sec("status").trim(),
            sec("wall_ns").trim(),
            sec("pid").trim(),
            line.as_str(),
            sec("json").trim(),
        ];
        let mut run = Run::from_fields(&f).map_err(|e| at(format!("{id}: {e}")))?;
        run.stderr = sec("stderr").lines().last().map(str::to_string);
        runs.push(run);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON_256K: &str = r#"{"workload":"malloc-wl","path":"malloc","pid":25293,"requested_bytes":262144,"allocator_bytes":262144,"mmap_threshold":131072,"touched":false,"repeat":1,"hold_ns":0,"ledger_version":1,"place":"main","leak":false,"exec":null,"ledger":[],"completed":1,"stopped_by":null,"address":"0x7fed2eff0010","served_by":"mmap","mmap_bytes":266240,"brk_growth_bytes":135168,"failed_repeat":null,"error":null}"#;

    fn raw(fields: [&str; 10]) -> [&str; 10] {
        fields
    }

    #[test]
    fn a_bpftrace_run() {
        let line = raw([
            "malloc-wl", "262144", "2", "bpftrace", "user", "0", "1500000", "25293",
            "exit pid=25293 comm=malloc-wl user=4253019 mmap=4117851 mmap_calls=20 brk=135168 shm=0 kmalloc=9000 kmalloc_events=90 kmalloc_ptrs=80 cache=100 cache_events=5 kernel=9100",
            JSON_256K,
        ]);
        let r = Run::from_fields(&line).unwrap();
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
        let r = Run::from_fields(&line).unwrap();
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
        let r = Run::from_fields(&line).unwrap();
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
        let r = Run::from_fields(&ext).unwrap();
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
        assert_eq!(Run::from_fields(&none).unwrap().tracked_bytes, None);
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
        let r = Run::from_fields(&line).unwrap();
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
    fn a_sweep_from_its_plan_and_raw_files() {
        let plan = format!(
            "{PLAN_HEADER}\n\
             r1\tmalloc-wl\t262144\t1\tbpftrace\tuser\texit-line\n\
             r2\tmalloc-wl\t262144\t1\tmine\tuser\tcontract\n\
             r3\tmalloc-wl\t1\t1\tstrace\tuser\tkey-line\n\
             r4\tmalloc-wl\t1\t2\tnone\tuser\tnone\n"
        );
        let raw = |id: &str| -> Result<Option<String>, String> {
            let tracker = match id {
                "r1" => "ready\nexit pid=8 user=9\nexit pid=25293 user=4253019 mmap=7\n",
                "r2" => "Attaching 1 probe...\nready\nbytes 266240\ncalls 1\n",
                "r3" => "user=5 mmap=0 brk=5 shm=0\n5\n",
                _ => return Ok(None),
            };
            Ok(Some(format!(
                "@@ status\n0\n@@ pid\n25293\n@@ json\n{JSON_256K}\n@@ tracker\n{tracker}@@ wall_ns\n1500\n"
            )))
        };
        let runs = read_runs(&plan, raw).unwrap();
        // r4 has no raw file: not recorded
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].tracked_bytes, Some(4253019));
        assert_eq!(runs[0].mmap_bytes, Some(7));
        assert_eq!(runs[0].wall_ns, Some(1500));
        assert_eq!(runs[1].tracked_bytes, Some(266240));
        assert_eq!(
            (runs[2].tracked_bytes, runs[2].brk_bytes),
            (Some(5), Some(5))
        );
        assert_eq!(runs[2].size, 1);
    }

    #[test]
    fn bad_plans_and_fields() {
        let line = raw(["malloc-wl", "x", "1", "none", "user", "0", "", "", "", ""]);
        assert!(Run::from_fields(&line).unwrap_err().contains("size"));
        let line = raw(["malloc-wl", "1", "1", "none", "both", "0", "", "", "", ""]);
        assert!(Run::from_fields(&line).is_err());
        let none = |_: &str| Ok(None);
        assert!(read_runs("nope\n", none).is_err());
        let short = format!("{PLAN_HEADER}\nr1\tmalloc-wl\t1\n");
        assert!(read_runs(&short, none).unwrap_err().contains("3 fields"));
        let bad = format!("{PLAN_HEADER}\nr1\tmalloc-wl\t1\t1\tx\tuser\tguess\n");
        assert!(read_runs(&bad, none)
            .unwrap_err()
            .contains("unknown reader"));
        let one = |_: &str| Ok(Some("@@ status\n0\n@@ json\nnot json\n".to_string()));
        let ok = format!("{PLAN_HEADER}\nr1\tmalloc-wl\t1\t1\tnone\tuser\tnone\n\n");
        let runs = read_runs(&ok, one).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].requested_bytes, 1);
    }
}
