//! A workload's `--json` report and its ledger, typed (`docs/ledger.md`).
//!
//! [`Report::parse`] checks `ledger_version` before anything else and refuses
//! a version it does not know; members added later are ignored. What the
//! ledger's entries add up to (the allocating calls, the bytes asked, what an
//! entry mapped, the blocks live while held) is defined here once, as methods,
//! for every reader.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The ledger schema this model reads (`wlcore::ledger::VERSION` writes it).
pub const VERSION: u64 = 1;

/// The malloc-family functions that allocate (what a heap tracker counts).
pub const ALLOCATING: [&str; 8] = [
    "malloc",
    "calloc",
    "realloc",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
];

/// In a report without a `hold` entry (one made before the ledger listed
/// the hold), the hold is the one gap at least this long between two calls
/// of the first repeat.
pub const HOLD_GAP_NS: u64 = 40_000_000;

/// One `--json` object: the run's header, its ledger, its outcome.
#[derive(Clone, Debug, Deserialize)]
pub struct Report {
    pub ledger_version: u64,
    pub workload: String,
    pub path: String,
    pub pid: u64,
    pub requested_bytes: u64,
    /// What one call asks the allocator for (SIZE + 1 for bytearray-wl).
    pub allocator_bytes: u64,
    /// glibc's mmap threshold as the workload pinned it (glibc workloads).
    #[serde(default)]
    pub mmap_threshold: Option<u64>,
    #[serde(default)]
    pub repeat: u64,
    pub ledger: Vec<Entry>,
    pub completed: u64,
    #[serde(default)]
    pub served_by: Option<String>,
    #[serde(default)]
    pub mmap_bytes: Option<u64>,
    #[serde(default)]
    pub brk_growth_bytes: Option<u64>,
    #[serde(default)]
    pub failed_repeat: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    /// kmalloc-test's prediction of what the module does (`--expect`).
    #[serde(default)]
    pub expect: Option<Expect>,
    /// rate-wl's counts: per interval, by size, in all.
    #[serde(default)]
    pub rate: Option<Rate>,
    /// kmalloc-test's allocation as the module accounts for it, read back
    /// from the module before the close (absent from older reports).
    #[serde(default)]
    pub module_entry: Option<ModuleEntry>,
    /// kmalloc-test's rate mode (`--rate`): its counts.
    #[serde(default)]
    pub kernel_rate: Option<KernelRate>,
}

/// kmalloc-test's `kernel_rate` member (docs/ledger.md): kmallocs made at a
/// rate through the module's `rate COUNT SIZE` writes, each freed in its write
/// or, `held`, at the close.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct KernelRate {
    pub size: u64,
    /// `calls/s`.
    pub unit: String,
    /// Calls a second; none for `--rate max`.
    pub target: Option<u64>,
    pub duration_ns: Option<u64>,
    pub calls: Option<u64>,
    pub threads: u64,
    /// The writes the module took, and the kmallocs they made (and freed).
    pub writes: u64,
    pub allocs: u64,
    pub frees: u64,
    /// Whether the module kept them until the close (`--hold`); older
    /// reports have no such member.
    #[serde(default)]
    pub held: bool,
    /// From the first write to the end of the last.
    pub elapsed_ns: u64,
    /// Calls a second over `elapsed_ns`.
    pub achieved: u64,
}

/// rate-wl's `rate` member (docs/ledger.md): what a run at a rate did, in
/// counts that do not grow with its duration.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Rate {
    /// The positional argument: a size or a distribution.
    pub sizes: String,
    pub seed: u64,
    /// `calls/s` or `bytes/s`: what `target`, `achieved` and each interval's
    /// `rate` count.
    pub unit: String,
    /// Each thread's rate; none for `--rate max`.
    pub target: Option<u64>,
    #[serde(default)]
    pub duration_ns: Option<u64>,
    #[serde(default)]
    pub calls: Option<u64>,
    pub threads: u64,
    pub live: u64,
    /// `summary` or `full` (the ledger lists every call).
    pub ledger: String,
    pub interval_ns: u64,
    pub intervals: Vec<Interval>,
    pub histogram: Vec<Bucket>,
    /// Allocating calls made (failed ones too), frees (those of the live set
    /// at the end too), bytes asked and freed, failed calls.
    pub allocs: u64,
    pub frees: u64,
    pub bytes: u64,
    pub freed_bytes: u64,
    pub failures: u64,
    /// Frees of the live set after the run (in `frees`, in no interval).
    pub final_frees: u64,
    /// From the start to the end of the (slowest thread's) loop.
    pub elapsed_ns: u64,
    /// Calls or bytes a second, per thread, over `elapsed_ns`.
    pub achieved: u64,
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
}

/// One interval of `interval_ns` from `start_ns` after the start.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Interval {
    pub start_ns: u64,
    pub allocs: u64,
    pub frees: u64,
    pub bytes: u64,
    pub freed_bytes: u64,
    pub failures: u64,
    /// The interval's calls or bytes, a second.
    pub rate: u64,
}

/// The sizes asked from `from` to `to` (a power of two and the next less one).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Bucket {
    pub from: u64,
    pub to: u64,
    pub calls: u64,
    pub bytes: u64,
}

/// The module's entry of one allocation (`entry` line of
/// kmalloc-lkm/README.md, the same keys): what the allocator gave, measured
/// in the kernel. Every member but the sizes is optional, so that an entry
/// with fewer keys still parses.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ModuleEntry {
    /// The path as the module lists it (`kvmalloc:vmalloc`, ...).
    pub path: String,
    /// The C function the allocation was made with (`kmem_cache_alloc`).
    #[serde(default)]
    pub call: Option<String>,
    /// The address the allocator returned, `"0x..."`: the object, the
    /// vmalloc area, the `struct page` of a pages block, the per-CPU pointer.
    #[serde(default)]
    pub ptr: Option<String>,
    /// `ptr` as `%p` (and tracefs) prints it, hashed with the boot's key.
    #[serde(default)]
    pub hash: Option<String>,
    pub requested: u64,
    /// krealloc's first size (0 on the other paths).
    #[serde(default)]
    pub from: Option<u64>,
    /// What the allocator gave, measured (`measured_by` says how).
    pub allocated: u64,
    /// `ksize`, `vmalloc_to_page`, `order` or `percpu`.
    #[serde(default)]
    pub measured_by: Option<String>,
    /// percpu: the bytes of each CPU's copy, and the possible CPUs (0 else).
    #[serde(default)]
    pub unit: Option<u64>,
    #[serde(default)]
    pub cpus: Option<u64>,
    /// Where it is freed: `close`, `kworker` or `rcu` (after `free-by`),
    /// `write` (a `rate` tally).
    #[serde(default)]
    pub free: Option<String>,
    /// `live`; after `free-by`, `pending`, then `freed`.
    #[serde(default)]
    pub state: Option<String>,
    /// The task that ran a deferred free (`kworker/u8:1`, `swapper/0`), `-`
    /// until it ran.
    #[serde(default)]
    pub freed_by: Option<String>,
    /// The objects it stands for (1; a `rate` tally's kmallocs), and how many
    /// of them are freed.
    #[serde(default)]
    pub objects: Option<u64>,
    #[serde(default)]
    pub objects_freed: Option<u64>,
}

impl ModuleEntry {
    /// The task that freed it in another context, once that free ran
    /// (`free-by`); `None` for an allocation the file still holds.
    pub fn freed_elsewhere(&self) -> Option<&str> {
        match (self.free.as_deref(), self.state.as_deref()) {
            (Some("kworker" | "rcu"), Some("freed")) => self.freed_by.as_deref(),
            _ => None,
        }
    }

    /// The address as a number.
    pub fn addr(&self) -> Option<u64> {
        word(&Value::String(self.ptr.clone()?))
    }

    /// Whether a pointer as a trace prints it (hex, with or without `0x`)
    /// is this one: raw, or hashed as `%p` prints it.
    pub fn is_ptr(&self, traced: &str) -> bool {
        let hex = |t: &str| u64::from_str_radix(t.strip_prefix("0x").unwrap_or(t), 16).ok();
        let t = hex(traced);
        t.is_some() && (t == self.addr() || t == self.hash.as_deref().and_then(hex))
    }
}

/// kmalloc-test's `expect`: the path the module lists and its sizes.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Expect {
    pub listed_path: String,
    pub requested_bytes: u64,
    pub allocated_bytes: u64,
}

/// What an entry is: a glibc function, one system call, or a plain write.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Libc,
    Syscall,
    Access,
    /// The workload holding what it allocated (`--hold`): the entry's window.
    Hold,
}

/// One call of the ledger.
#[derive(Clone, Debug, Deserialize)]
pub struct Entry {
    #[serde(default)]
    pub seq: u64,
    pub repeat: u64,
    pub pid: u64,
    pub tid: u64,
    pub call: String,
    pub kind: Kind,
    /// The arguments as the C prototype names them (read with [`Entry::arg`]).
    #[serde(default)]
    pub args: Map<String, Value>,
    #[serde(default)]
    pub ret: Value,
    pub errno: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    #[serde(default)]
    pub mapped_bytes: Option<i64>,
    #[serde(default)]
    pub heap_bytes: Option<i64>,
    #[serde(default)]
    pub rss_bytes: Option<i64>,
    #[serde(default)]
    pub sysv_bytes: Option<i64>,
}

/// A number, or an address written `"0x..."`.
fn word(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => u64::from_str_radix(s.strip_prefix("0x")?, 16).ok(),
        _ => None,
    }
}

impl Entry {
    /// Whether the call succeeded.
    pub fn ok(&self) -> bool {
        self.errno.is_none()
    }

    /// The argument `name` as a number (addresses included).
    pub fn arg(&self, name: &str) -> Option<u64> {
        self.args.get(name).and_then(word)
    }

    /// The argument `name` as text (flags, commands, names).
    pub fn arg_text(&self, name: &str) -> Option<&str> {
        self.args.get(name).and_then(Value::as_str)
    }

    /// What the call returned, as a number or an address.
    pub fn ret(&self) -> Option<u64> {
        word(&self.ret)
    }

    /// A malloc-family call that allocates (made, whether it failed or not).
    pub fn is_allocating(&self) -> bool {
        self.kind == Kind::Libc && ALLOCATING.contains(&self.call.as_str())
    }

    /// A `free` of the malloc family.
    pub fn is_free(&self) -> bool {
        self.kind == Kind::Libc && self.call == "free"
    }

    /// The bytes an allocating call asked for (calloc: nmemb x size).
    pub fn asked_bytes(&self) -> u64 {
        self.arg("size").unwrap_or(0) * self.arg("nmemb").unwrap_or(1)
    }

    /// What the entry changed of what the process holds mapped: its mappings
    /// and brk heap (`mapped_bytes`), and the System V segments it made
    /// (`sysv_bytes`). A segment counts once, from shmget to its removal:
    /// the mapping shmat adds and shmdt takes away is not counted again; nor
    /// is a pthread_join's, whose window spans the joined thread's own calls,
    /// which have entries of their own.
    pub fn mapping_change(&self) -> i64 {
        if self.kind == Kind::Hold {
            return 0;
        }
        let mapped = match self.call.as_str() {
            "shmat" | "shmdt" | "pthread_join" => 0,
            _ => self.mapped_bytes.unwrap_or(0),
        };
        mapped + self.sysv_bytes.unwrap_or(0)
    }

    /// Whether this is one of the workload's own calls, not a thread's or a
    /// child's start or end: its pid is a process that made calls.
    pub fn own(&self) -> bool {
        !matches!(
            self.call.as_str(),
            "fork" | "pthread_create" | "pthread_join"
        )
    }
}

/// The malloc-family blocks live at a point of the ledger: by address, the
/// bytes asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Live(pub BTreeMap<u64, u64>);

impl Live {
    /// Takes entry `e` (the `k`th) into account: a free or a realloc releases
    /// its `ptr`, an allocating call adds its block.
    pub fn apply(&mut self, k: usize, e: &Entry) {
        if e.kind != Kind::Libc || !e.ok() {
            return;
        }
        if e.call == "free" || e.call == "realloc" {
            self.0.remove(&e.arg("ptr").unwrap_or(0));
        }
        if e.is_allocating() {
            self.0.insert(e.ret().unwrap_or(k as u64), e.asked_bytes());
        }
    }

    pub fn blocks(&self) -> u64 {
        self.0.len() as u64
    }

    pub fn bytes(&self) -> u64 {
        self.0.values().sum()
    }
}

/// Why a text is not a report this model reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not a JSON object with a `ledger_version` (a run cut short, another file).
    NotAReport(String),
    /// A report of a version this model does not know.
    Version(u64),
    /// A report of this version that lacks a member or has one of the wrong type.
    Bad(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::NotAReport(e) => write!(f, "not a --json report: {e}"),
            ParseError::Version(v) => write!(f, "ledger_version {v}; this reads {VERSION}"),
            ParseError::Bad(e) => write!(f, "a bad --json report: {e}"),
        }
    }
}

impl From<ParseError> for String {
    fn from(e: ParseError) -> String {
        e.to_string()
    }
}

impl Report {
    /// The first object of a `--json` output (the next one, after `--exec`,
    /// is the new program's), its version checked first.
    pub fn parse(text: &str) -> Result<Report, ParseError> {
        #[derive(Deserialize)]
        struct Version {
            ledger_version: Option<u64>,
        }
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let v: Version =
            serde_json::from_str(first).map_err(|e| ParseError::NotAReport(e.to_string()))?;
        match v.ledger_version {
            Some(VERSION) => {}
            Some(v) => return Err(ParseError::Version(v)),
            None => return Err(ParseError::NotAReport("no ledger_version".into())),
        }
        serde_json::from_str(first).map_err(|e| ParseError::Bad(e.to_string()))
    }

    /// The first repeat's entries, in the order they were made.
    pub fn first_repeat(&self) -> Vec<&Entry> {
        let mut first: Vec<&Entry> = self.ledger.iter().filter(|e| e.repeat == 1).collect();
        first.sort_by_key(|e| e.start_ns);
        first
    }

    /// The processes that made calls (a forked child's, not only the parent).
    pub fn pids(&self) -> Vec<u64> {
        let mut pids = vec![];
        for e in self.ledger.iter().filter(|e| e.own()) {
            if !pids.contains(&e.pid) {
                pids.push(e.pid);
            }
        }
        if pids.is_empty() {
            pids.push(self.pid);
        }
        pids
    }

    /// Whether a repeat failed (the call was made and failed).
    pub fn failed(&self) -> bool {
        self.failed_repeat.is_some()
    }
}

/// The first repeat laid out in time: what was mapped and live after each
/// entry, and where the hold lies.
#[derive(Clone, Debug)]
pub struct Timeline<'a> {
    pub entries: Vec<&'a Entry>,
    /// What was mapped after each entry, from before the first.
    pub mapped: Vec<i64>,
    /// The entries up to the hold (the allocate side): those before its
    /// `hold` entry (or, in an older report, the one long gap); without a
    /// hold, up to the peak of what was mapped.
    pub held_end: usize,
    /// The same for the blocks live: up to the hold, or the peak of live bytes.
    pub live_end: usize,
}

impl<'a> Timeline<'a> {
    pub fn of(report: &'a Report) -> Timeline<'a> {
        let entries = report.first_repeat();
        let hold = entries.iter().position(|e| e.kind == Kind::Hold);
        let gap = hold.or_else(|| {
            entries
                .windows(2)
                .enumerate()
                .map(|(k, w)| (w[1].start_ns.saturating_sub(w[0].start_ns), k + 1))
                .filter(|&(g, _)| g >= HOLD_GAP_NS)
                .max()
                .map(|(_, k)| k)
        });
        let mut live = Live::default();
        let (mut now, mut mapped) = (0i64, vec![]);
        let (mut peak, mut at_peak) = (i64::MIN, 0);
        let (mut live_peak, mut live_at) = (0, 0);
        for (k, e) in entries.iter().enumerate() {
            now += e.mapping_change();
            mapped.push(now);
            if now > peak {
                (peak, at_peak) = (now, k + 1);
            }
            live.apply(k, e);
            if live.bytes() > live_peak {
                (live_peak, live_at) = (live.bytes(), k + 1);
            }
        }
        let (held_end, live_end) = match gap {
            Some(k) => (k, k),
            None => (at_peak, live_at),
        };
        Timeline {
            entries,
            mapped,
            held_end,
            live_end,
        }
    }

    /// What was mapped while held: the allocate side's growth, never below 0.
    pub fn held_bytes(&self) -> u64 {
        match self.held_end {
            0 => 0,
            k => self.mapped[k - 1].max(0).unsigned_abs(),
        }
    }

    /// The highest point of what was mapped, and where it ended.
    pub fn mapped_peak_end(&self) -> (i64, i64) {
        let peak = self.mapped.iter().copied().max().unwrap_or(0).max(0);
        (peak, self.mapped.last().copied().unwrap_or(0))
    }

    /// The malloc-family blocks live while held.
    pub fn live_while_held(&self) -> Live {
        let mut live = Live::default();
        for (k, e) in self.entries[..self.live_end].iter().enumerate() {
            live.apply(k, e);
        }
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(call: &str, args: &str, ret: &str, mapped: i64, start: u64) -> String {
        format!(
            r#"{{"repeat":1,"pid":7,"tid":7,"call":"{call}","kind":"libc","args":{{{args}}},"ret":{ret},"errno":null,"start_ns":{start},"end_ns":{start},"mapped_bytes":{mapped}}}"#
        )
    }

    fn report(entries: &[String]) -> String {
        format!(
            r#"{{"ledger_version":1,"workload":"malloc-wl","path":"realloc","pid":7,"requested_bytes":4,"allocator_bytes":4,"completed":1,"ledger":[{}]}}"#,
            entries.join(",")
        )
    }

    #[test]
    fn versions_are_checked_first() {
        let e = Report::parse(r#"{"ledger_version":2,"ledger":"whatever"}"#).unwrap_err();
        assert_eq!(e, ParseError::Version(2));
        assert_eq!(e.to_string(), "ledger_version 2; this reads 1");
        assert!(matches!(
            Report::parse("not json"),
            Err(ParseError::NotAReport(_))
        ));
        assert_eq!(
            Report::parse(r#"{"ledger":[]}"#).unwrap_err().to_string(),
            "not a --json report: no ledger_version"
        );
        assert!(matches!(
            Report::parse(r#"{"ledger_version":1,"ledger":[]}"#),
            Err(ParseError::Bad(_))
        ));
    }

    #[test]
    fn the_modules_entry_is_optional() {
        let old = report(&[]);
        assert_eq!(Report::parse(&old).unwrap().module_entry, None);
        let with = old.replace(
            r#""completed":1"#,
            r#""completed":1,"module_entry":{"pid":7,"tid":7,"path":"percpu","call":"pcpu_alloc","ptr":"0x3c5e0","hash":"0000000012345678","requested":100,"from":0,"allocated":208,"measured_by":"percpu","unit":104,"cpus":2,"free":"close","state":"live","freed_by":"-","freed_pid":0}"#,
        );
        let m = Report::parse(&with).unwrap().module_entry.unwrap();
        assert_eq!(
            (m.requested, m.allocated, m.unit, m.cpus),
            (100, 208, Some(104), Some(2))
        );
        assert_eq!(m.addr(), Some(0x3c5e0));
        // raw or hashed, with or without 0x and leading zeros
        assert!(m.is_ptr("0x3c5e0") && m.is_ptr("000000000003c5e0") && m.is_ptr("12345678"));
        assert!(!m.is_ptr("0x3c5e8") && !m.is_ptr("(null)"));
        // an entry with only the sizes and the path still parses
        let bare = old.replace(
            r#""completed":1"#,
            r#""completed":1,"module_entry":{"path":"kmalloc","requested":1,"allocated":8}"#,
        );
        let m = Report::parse(&bare).unwrap().module_entry.unwrap();
        assert_eq!((m.addr(), m.is_ptr("8")), (None, false));
    }

    #[test]
    fn a_realloc_held_and_freed() {
        let text = report(&[
            entry("malloc", r#""size":100"#, r#""0x10""#, 135168, 0),
            entry(
                "realloc",
                r#""ptr":"0x10","size":1048576"#,
                r#""0x20""#,
                1052672,
                1000,
            ),
            // the hold, then the free
            entry("free", r#""ptr":"0x20""#, "null", -1052672, 100_000_000),
        ]);
        let r = Report::parse(&format!("{text}\n{{\"exec\":1}}")).unwrap();
        let t = Timeline::of(&r);
        assert_eq!(t.held_end, 2);
        assert_eq!(t.held_bytes(), 135168 + 1052672);
        assert_eq!(t.mapped_peak_end(), (1187840, 135168));
        let live = t.live_while_held();
        assert_eq!((live.blocks(), live.bytes()), (1, 1048576));
        assert_eq!(r.pids(), [7]);
    }

    #[test]
    fn the_hold_entry_marks_the_hold() {
        // a hold shorter than any gap rule, listed as such
        let hold = r#"{"repeat":1,"pid":7,"tid":7,"call":"hold","kind":"hold","args":{},"ret":null,"errno":null,"start_ns":2000,"end_ns":3000,"mapped_bytes":0}"#;
        let text = report(&[
            entry("malloc", r#""size":100"#, r#""0x10""#, 135168, 0),
            entry("malloc", r#""size":200"#, r#""0x20""#, 0, 1000),
            hold.to_string(),
            entry("free", r#""ptr":"0x20""#, "null", 0, 4000),
            entry("free", r#""ptr":"0x10""#, "null", 0, 5000),
        ]);
        let r = Report::parse(&text).unwrap();
        let t = Timeline::of(&r);
        assert_eq!((t.held_end, t.live_end), (2, 2));
        assert_eq!(t.live_while_held().bytes(), 300);
        assert_eq!(r.ledger[2].mapping_change(), 0);
    }

    #[test]
    fn what_an_entry_maps() {
        let e = |call: &str, mapped: i64, sysv: Option<i64>| Entry {
            seq: 0,
            repeat: 1,
            pid: 1,
            tid: 1,
            call: call.into(),
            kind: Kind::Syscall,
            args: Map::new(),
            ret: Value::Null,
            errno: None,
            start_ns: 0,
            end_ns: 0,
            mapped_bytes: Some(mapped),
            heap_bytes: None,
            rss_bytes: None,
            sysv_bytes: sysv,
        };
        assert_eq!(e("mmap", 8192, None).mapping_change(), 8192);
        assert_eq!(e("shmget", 0, Some(8192)).mapping_change(), 8192);
        // the segment, counted at shmget, is not counted again when attached
        assert_eq!(e("shmat", 8192, Some(0)).mapping_change(), 0);
        assert_eq!(e("shmdt", -8192, Some(-8192)).mapping_change(), -8192);
        assert_eq!(e("pthread_join", 4096, None).mapping_change(), 0);
    }

    #[test]
    fn a_rate_report_and_one_without() {
        let text = report(&[]).replace(
            r#""ledger":[]"#,
            r#""ledger":[],"rate":{"sizes":"4KiB","seed":1,"unit":"calls/s","target":10,"duration_ns":200000000,"calls":null,"threads":1,"live":1,"ledger":"summary","interval_ns":100000000,"intervals":[{"start_ns":0,"allocs":1,"frees":1,"bytes":4096,"freed_bytes":4096,"failures":0,"rate":10},{"start_ns":100000000,"allocs":1,"frees":0,"bytes":4096,"freed_bytes":0,"failures":0,"rate":10}],"histogram":[{"from":4096,"to":8191,"calls":2,"bytes":8192}],"allocs":2,"frees":2,"bytes":8192,"freed_bytes":8192,"failures":0,"final_frees":1,"elapsed_ns":200000000,"achieved":10,"peak_rss_bytes":1000000}"#,
        );
        let r = Report::parse(&text).unwrap();
        let rate = r.rate.unwrap();
        assert_eq!(rate.intervals.len(), 2);
        assert_eq!(rate.histogram[0].calls, 2);
        assert_eq!(
            rate.intervals.iter().map(|i| i.frees).sum::<u64>() + rate.final_frees,
            rate.frees
        );
        assert!(Report::parse(&report(&[])).unwrap().rate.is_none());
    }

    #[test]
    fn calloc_asks_nmemb_times_size() {
        let r = Report::parse(&report(&[entry(
            "calloc",
            r#""nmemb":4,"size":16"#,
            r#""0x10""#,
            0,
            0,
        )]))
        .unwrap();
        assert!(r.ledger[0].is_allocating());
        assert_eq!(r.ledger[0].asked_bytes(), 64);
    }
}
