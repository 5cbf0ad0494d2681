//! Kernel cells of real trackers (`scripts/kernel/ktrackers.sh`): the host's
//! eBPF tools, run in the VM on the production kernel while kmalloc-test
//! takes every kernel path, read and classed as the scoreboard classes its
//! cells. The trackers are data (`scripts/trackers/ktrackers.tsv`); this
//! module knows the formats of their outputs (readers) only.
//!
//! The guest (`scripts/kernel/guest-ktrackers.sh`) prints, per tracker,
//! `KTRK-ATTACH <tracker> <seconds>`, then for each run and repetition
//! `KTRK-RUN <tracker> <run> <rep>`, `KTRK-JSON <kmalloc-test --json>`, one
//! `KTRK-OUT <line>` per line of the tracker's output for that run, and
//! `KTRK-END <exit status>`; at the end `KTRK-STEP <tracker> <seconds>`.
//!
//! Readers:
//! - `kmem-event-lines` (window mode): `kmem ns=T pid=P ev=E ptr=X bytes=B
//!   live=L` lines (`scripts/trackers/kmem.bt`); the figure is the sum of
//!   `B` over the lines of kmalloc-test's pid inside its write(2) (`T` and the
//!   ledger's `start_ns`/`end_ns` are both CLOCK_MONOTONIC): what the
//!   tracker's running figure for that pid moved by while the module
//!   allocated;
//! - `bcc-outstanding-stacks-module` (held mode): bcc memleak's report,
//!   `N bytes in M allocations from stack` entries, of which the guest kept
//!   those whose stack passes through the module; the figure is the sum of
//!   `N`: what it held outstanding for the module while the allocation was
//!   held;
//! - `contract` (contract mode: a tracker of the tracker contract, started
//!   for each run by `ktrackers.sh --tracker NAME:kernel=COMMAND`): its
//!   reading, `live_bytes N` (or `bytes N`) and `live_blocks M`, made while
//!   the allocation was held.

use std::collections::{BTreeMap, BTreeSet};

use wlmodel::Report;

use crate::kpaths::{self, Cell};
use crate::scoreboard::Class;

/// One kernel tracker: a line of `ktrackers.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KTracker {
    pub name: String,
    /// Its expected file: `TOOL-KERNEL.csv`.
    pub tool: String,
    /// `window` or `held`: how its cells ran.
    pub mode: String,
    pub reader: String,
    pub how: String,
}

/// The readers this module has.
pub const READERS: [&str; 3] = [
    "kmem-event-lines",
    "bcc-outstanding-stacks-module",
    "contract",
];

/// Reads `ktrackers.tsv`: NAME TOOL MODE READER READY SYNC COMMAND HOW.
pub fn read_defs(text: &str) -> Result<Vec<KTracker>, String> {
    let mut out = vec![];
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [name, tool, mode, reader, _ready, _sync, _cmd, how] = f[..] else {
            return Err(format!("ktrackers.tsv: 8 tab-separated fields: {line}"));
        };
        if !READERS.contains(&reader) {
            return Err(format!("ktrackers.tsv: {name}: no reader '{reader}'"));
        }
        if !["window", "held", "contract"].contains(&mode) {
            return Err(format!("ktrackers.tsv: {name}: mode '{mode}'"));
        }
        out.push(KTracker {
            name: name.into(),
            tool: tool.into(),
            mode: mode.into(),
            reader: reader.into(),
            how: how.into(),
        });
    }
    Ok(out)
}

/// What a tracker's output for one run adds up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Its figure, bytes (a sum of signed moves: below 0 when it took off
    /// more than it added).
    pub figure: i64,
    /// The allocation records it counted (events, or allocations).
    pub records: u64,
    /// Records of a failed allocation (`ptr=0`).
    pub failed: u64,
    /// Records of a pointer that it already held: one object counted twice.
    pub twice: u64,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// `kmem-event-lines`: the lines of `pid` inside `[start, end]` (ns).
pub fn read_bt(lines: &[&str], pid: u64, start: u64, end: u64) -> Result<Seen, String> {
    let mut s = Seen::default();
    let mut held = BTreeSet::new();
    for l in lines {
        if !l.starts_with("kmem ns=") {
            continue;
        }
        let num = |k: &str| {
            field(l, k)
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| format!("kmem.bt line without {k}: {l}"))
        };
        let (ns, p, bytes) = (num("ns")?, num("pid")?, num("bytes")?);
        if u64::try_from(p).ok() != Some(pid) || ns < 0 || (ns as u64) < start || ns as u64 > end {
            continue;
        }
        let ptr = field(l, "ptr").unwrap_or("0");
        s.figure += bytes;
        if bytes > 0 {
            s.records += 1;
            if ptr.bytes().all(|b| b == b'0') {
                s.failed += 1;
            } else if !held.insert(ptr.to_string()) {
                s.twice += 1;
            }
        } else {
            held.remove(ptr);
        }
    }
    Ok(s)
}

/// `bcc-outstanding-stacks-module`: the entries' bytes and allocations; above
/// a page, an allocation of `size` bytes after the first is one object
/// recorded twice (memleak keeps a large kmalloc under its pointer and its
/// pages under their frame number).
pub fn read_bcc(lines: &[&str], size: u64) -> Result<Seen, String> {
    let mut s = Seen::default();
    let mut of_size = 0;
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let ["bytes", "in", _, "allocations", "from", "stack"] = w.get(1..).unwrap_or(&[]) {
            let n = |t: &str| t.parse::<i64>().map_err(|_| format!("memleak entry: {l}"));
            let (bytes, allocs) = (n(w[0])?, n(w[3])?);
            s.figure += bytes;
            s.records += allocs as u64;
            if size > 4096 && allocs > 0 && bytes == allocs * size as i64 {
                of_size += allocs as u64;
            }
        }
    }
    s.twice = of_size.saturating_sub(1);
    Ok(s)
}

/// `contract`: the reading of a tracker of the contract, as what it holds
/// outstanding.
pub fn read_contract(lines: &[&str]) -> Result<Seen, String> {
    let r = crate::scoreboard::contract(&lines.join("\n"), crate::scoreboard::Kind::Live)?;
    Ok(Seen {
        figure: i64::try_from(r.bytes).map_err(|_| format!("a reading of {} bytes", r.bytes))?,
        records: r.calls.unwrap_or(0),
        ..Seen::default()
    })
}

/// One run under one tracker: the truth (kpaths' reading of the report) and
/// what the tracker saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub truth: kpaths::Run,
    pub seen: Seen,
}

/// Reads one run's report and the tracker's lines for it.
pub fn run(t: &KTracker, json: &str, out: &[&str]) -> Result<Run, String> {
    let truth = kpaths::run(json, &[])?;
    let report = Report::parse(json)?;
    let seen = match t.reader.as_str() {
        "kmem-event-lines" => {
            let (start, end) = truth.window;
            read_bt(out, report.pid, start, end)?
        }
        "contract" => read_contract(out)?,
        _ => read_bcc(out, truth.allocated)?,
    };
    Ok(Run { truth, seen })
}

/// What the console says of one tracker.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracked {
    pub tracker: KTracker,
    /// Seconds from its start to its ready line, in the guest.
    pub attach_s: Option<f64>,
    /// Seconds its runs took, in the guest.
    pub step_s: Option<f64>,
    /// One per run: the repetition with the median figure.
    pub runs: Vec<Run>,
}

type Pending = (String, usize, usize, Option<String>, Vec<String>);

/// The trackers' runs of the console log, each of `defs` that reported; every
/// repetition of every run of such a tracker must have reported once, with
/// exit status 0.
pub fn from_console(
    console: &str,
    defs: &[KTracker],
    runs: usize,
    reps: usize,
) -> Result<Vec<Tracked>, String> {
    let mut got: BTreeMap<String, Vec<Vec<Run>>> = BTreeMap::new();
    let mut times: BTreeMap<String, (Option<f64>, Option<f64>)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut cur: Option<Pending> = None;
    let def = |name: &str| {
        defs.iter()
            .find(|d| d.name == name)
            .ok_or_else(|| format!("a tracker ktrackers.tsv does not have: {name}"))
    };
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        let Some((tag, rest)) = line.split_once(' ') else {
            continue;
        };
        match tag {
            "KTRK-ATTACH" | "KTRK-STEP" => {
                let (name, s) = rest.split_once(' ').unwrap_or((rest, ""));
                def(name)?;
                let e = times.entry(name.into()).or_default();
                let v = s.trim().parse().ok();
                if tag == "KTRK-ATTACH" {
                    e.0 = v;
                } else {
                    e.1 = v;
                }
            }
            "KTRK-RUN" => {
                let w: Vec<&str> = rest.split(' ').collect();
                let num = |s: &str| s.parse::<usize>().unwrap_or(0);
                let (name, n, rep) = match w[..] {
                    [t, n, r] if (1..=runs).contains(&num(n)) && (1..=reps).contains(&num(r)) => {
                        (t, num(n), num(r))
                    }
                    _ => return Err(format!("a run that was not asked for: {line}")),
                };
                def(name)?;
                if !seen.insert((name.to_string(), n, rep)) {
                    return Err(format!("{name}: run {n} repetition {rep} reported twice"));
                }
                cur = Some((name.into(), n, rep, None, vec![]));
            }
            "KTRK-JSON" => {
                if let Some(c) = cur.as_mut() {
                    c.3 = Some(rest.to_string());
                }
            }
            "KTRK-OUT" => {
                if let Some(c) = cur.as_mut() {
                    c.4.push(rest.to_string());
                }
            }
            "KTRK-END" => {
                let (name, n, rep, json, out) = cur
                    .take()
                    .ok_or_else(|| format!("KTRK-END without KTRK-RUN: {line}"))?;
                if rest.trim() != "0" {
                    return Err(format!(
                        "{name}: run {n} repetition {rep}: kmalloc-test exited {rest}"
                    ));
                }
                let json = json.ok_or_else(|| format!("{name}: run {n}: no report"))?;
                let lines: Vec<&str> = out.iter().map(String::as_str).collect();
                let r =
                    run(def(&name)?, &json, &lines).map_err(|e| format!("{name}: run {n}: {e}"))?;
                got.entry(name).or_insert_with(|| vec![vec![]; runs])[n - 1].push(r);
            }
            _ => {}
        }
    }
    let mut out = vec![];
    for d in defs {
        let Some(per_run) = got.remove(&d.name) else {
            continue;
        };
        let done: usize = per_run.iter().map(Vec::len).sum();
        if done != runs * reps {
            return Err(format!(
                "{}: {done} of {} runs reported",
                d.name,
                runs * reps
            ));
        }
        let (attach_s, step_s) = times.get(&d.name).copied().unwrap_or_default();
        out.push(Tracked {
            tracker: d.clone(),
            attach_s,
            step_s,
            runs: per_run
                .into_iter()
                .map(|mut r| {
                    r.sort_by_key(|x| x.seen.figure);
                    r.swap_remove((r.len() - 1) / 2)
                })
                .collect(),
        });
    }
    if out.is_empty() {
        return Err("no tracker reported".into());
    }
    Ok(out)
}

/// A run's class against the bytes the write asked for, as the scoreboard
/// classes its cells, with the reason in a few words.
pub fn classify(r: &Run) -> (Class, String) {
    let (s, t) = (&r.seen, &r.truth);
    if let Some(by) = &t.freed_by {
        return after_the_free(r, by);
    }
    let req = i128::from(t.requested);
    let alloc = i128::from(t.allocated);
    let fig = i128::from(s.figure);
    let by = |why: String| format!("{:+} B: {why}", fig - req);
    if fig == req {
        return (Class::Exact, String::new());
    }
    if fig > alloc && s.failed > 0 {
        let why = format!("{} failed allocation attempts (ptr=0) counted", s.failed);
        return (Class::Phantom, by(why));
    }
    if fig > alloc && s.twice > 0 {
        return (Class::Double, by("one object recorded twice".into()));
    }
    if fig == alloc {
        return (Class::Rounded, by("what the allocator gave for it".into()));
    }
    if fig > alloc {
        let why = format!("{} records where the write keeps 1", s.records);
        return (Class::Noise, by(why));
    }
    if fig > req {
        return (Class::Rounded, by("part of what the allocator gave".into()));
    }
    let why = if s.records == 0 {
        "saw nothing".to_string()
    } else {
        format!("saw {} B in {} records", s.figure, s.records)
    };
    (Class::Missed, by(why))
}

/// What the process holds at the end of the run's window: what the module
/// allocated, or nothing once another task freed it.
fn held(r: &Run) -> u64 {
    if r.truth.freed_by.is_some() {
        0
    } else {
        r.truth.allocated
    }
}

/// A run whose allocation another task freed (`free-by`): the process holds
/// nothing after it, so what the tracker still puts on it is a phantom.
fn after_the_free(r: &Run, by: &str) -> (Class, String) {
    let (fig, alloc) = (
        r.seen.figure,
        i64::try_from(r.truth.allocated).unwrap_or(i64::MAX),
    );
    match fig {
        0 => (Class::Exact, format!("the free by {by} taken off")),
        f if f >= alloc => (
            Class::Phantom,
            format!("{f:+} B: kept after {by} freed it (not the writer's pid)"),
        ),
        f if f > 0 => (Class::Noise, format!("{f:+} B left after {by} freed it")),
        f => (
            Class::Missed,
            format!("{f:+} B: took off more than it added"),
        ),
    }
}

fn secs(s: Option<f64>) -> String {
    s.map_or("?".into(), |s| format!("{s:.0} s"))
}

/// The markdown tables, one per tracker.
pub fn table(tracked: &[Tracked], kernel: &str, reps: usize) -> String {
    let mut t = format!(
        "Linux {kernel}, production config, in QEMU (TCG) with the host's tools; the median of \
         {reps} runs of each\n"
    );
    for k in tracked {
        let d = &k.tracker;
        t += &format!(
            "\n`{}`: {} (attached in {}, its runs took {})\n\n",
            d.name,
            d.how,
            secs(k.attach_s),
            secs(k.step_s)
        );
        t += "| write | listed as | requested | allocated | figure | records | figure - held | class |\n";
        t += "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n";
        for r in &k.runs {
            let (class, why) = classify(r);
            let class = if why.is_empty() {
                class.as_str().to_string()
            } else {
                format!("{} ({why})", class.as_str())
            };
            t += &format!(
                "| `{}` | {} | {} | {} | {} | {} | {:+} | {} |\n",
                r.truth.write,
                r.truth.listed,
                r.truth.requested,
                r.truth.allocated,
                r.seen.figure,
                r.seen.records,
                i128::from(r.seen.figure) - i128::from(held(r)),
                class
            );
        }
    }
    t
}

/// The runs as scoreboard cells (tool: the tracker's, version: the kernel's).
pub fn csv(tracked: &[Tracked], kernel: &str, reps: usize) -> Result<String, String> {
    let mut cells = vec![];
    for k in tracked {
        for r in &k.runs {
            let (class, why) = classify(r);
            cells.push(Cell {
                path: kpaths::path_name(&r.truth.write),
                tracker: (&k.tracker.name, &k.tracker.tool, "kernel"),
                version: kernel.to_string(),
                class,
                why,
                figure: Some(u64::try_from(r.seen.figure).unwrap_or(0)),
                // after a free in another context the process holds nothing
                truth: if r.truth.freed_by.is_some() {
                    0
                } else {
                    r.truth.requested
                },
                runs: reps,
                note: match &r.truth.freed_by {
                    Some(by) => format!(
                        "listed as {}, {} B allocated, then freed by {by}",
                        r.truth.listed, r.truth.allocated
                    ),
                    None => format!(
                        "listed as {}, {} B allocated",
                        r.truth.listed, r.truth.allocated
                    ),
                },
            });
        }
    }
    kpaths::cells_csv(&cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &str = "# a comment\n\
        bt\tlinux\twindow\tkmem-event-lines\t^ready$\t^exit PID\tbpftrace x.bt\tper pid\n\
        stacks\tlinux\theld\tbcc-outstanding-stacks-module\t^Attaching\t^Top\tmemleak 1\toutstanding\n";

    fn defs() -> Vec<KTracker> {
        read_defs(DEFS).unwrap()
    }

    /// A report of pid 57 whose write of `buf` ran from `start` to `end` ns.
    fn report(start: u64, end: u64, buf: &str, requested: u64, allocated: u64) -> String {
        let entry = |seq, call: &str, args: &str, start: u64, end: u64| {
            format!(
                r#"{{"seq":{seq},"repeat":1,"pid":57,"tid":57,"call":"{call}","kind":"syscall","args":{{{args}}},"ret":3,"errno":null,"start_ns":{start},"end_ns":{end}}}"#
            )
        };
        let ledger = [
            entry(0, "openat", "", 100, 200),
            entry(
                1,
                "write",
                &format!(r#""fd":3,"buf":"{buf}","count":5"#),
                start,
                end,
            ),
            entry(2, "close", r#""fd":3"#, 9000, 9100),
        ];
        format!(
            r#"{{"workload":"kmalloc-test","path":"kernel allocation via /proc/kmalloc_lkm","pid":57,"requested_bytes":{requested},"allocator_bytes":{requested},"completed":1,"ledger_version":1,"ledger":[{}],"expect":{{"listed_path":"kmalloc","requested_bytes":{requested},"allocated_bytes":{allocated}}}}}"#,
            ledger.join(",")
        )
    }

    fn bt(ns: u64, pid: u64, ev: &str, ptr: &str, bytes: i64) -> String {
        format!("kmem ns={ns} pid={pid} ev={ev} ptr={ptr} bytes={bytes} live=0")
    }

    #[test]
    fn the_definitions() {
        let d = defs();
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].name.as_str(), d[0].tool.as_str(), d[0].mode.as_str()),
            ("bt", "linux", "window")
        );
        assert_eq!(d[1].how, "outstanding");
        let bad = DEFS.replace("kmem-event-lines", "nonesuch");
        assert!(read_defs(&bad)
            .unwrap_err()
            .contains("no reader 'nonesuch'"));
        assert!(read_defs("a\tb\n").unwrap_err().contains("8 tab-separated"));
        let mode = DEFS.replace("\twindow\t", "\tlater\t");
        assert!(read_defs(&mode).unwrap_err().contains("mode 'later'"));
    }

    #[test]
    fn the_bpftrace_lines_of_the_pid_inside_the_write() {
        let lines = [
            bt(999, 57, "kmem_cache_alloc", "ffff1", 256), // the open, before the write
            bt(1000, 57, "kmalloc", "ffff2", 65536),
            bt(1001, 57, "kmalloc", "ffff2", 65536), // the same object, traced again
            bt(1002, 58, "kmalloc", "ffff3", 64),    // another pid
            bt(1003, 57, "kmalloc", "0000000000000000", 8192),
            bt(1004, 57, "kmalloc", "ffff4", 32),
            bt(1005, 57, "kfree", "ffff4", -32),
            bt(2001, 57, "kfree", "ffff2", -65536), // the close, after it
            "ready".into(),
        ];
        let l: Vec<&str> = lines.iter().map(String::as_str).collect();
        let s = read_bt(&l, 57, 1000, 2000).unwrap();
        assert_eq!(
            s,
            Seen {
                figure: 2 * 65536 + 8192,
                records: 4,
                failed: 1,
                twice: 1,
            }
        );
        assert!(read_bt(&["kmem ns=1 pid=x"], 57, 0, 9)
            .unwrap_err()
            .contains("without pid"));
    }

    #[test]
    fn a_free_by_another_task_is_judged_after_it_ran() {
        // the allocation's write, the free-by write, two reads of the entry at
        // offset 0 (the second saw the free done), the close
        let json = report(1000, 1100, "kmalloc 4096", 4096, 4096)
            .replace(
                r#"{"seq":2,"repeat":1,"pid":57,"tid":57,"call":"close""#,
                r#"{"seq":2,"repeat":1,"pid":57,"tid":57,"call":"write","kind":"syscall","args":{"fd":3,"buf":"free-by kworker","count":15},"ret":15,"errno":null,"start_ns":1200,"end_ns":1300},{"seq":3,"repeat":1,"pid":57,"tid":57,"call":"pread64","kind":"syscall","args":{"fd":3,"offset":0},"ret":300,"errno":null,"start_ns":1400,"end_ns":1500},{"seq":4,"repeat":1,"pid":57,"tid":57,"call":"pread64","kind":"syscall","args":{"fd":3,"offset":0},"ret":300,"errno":null,"start_ns":3400,"end_ns":3500},{"seq":5,"repeat":1,"pid":57,"tid":57,"call":"close""#,
            )
            .replace(
                r#""expect":"#,
                r#""module_entry":{"path":"kmalloc","requested":4096,"allocated":4096,"free":"kworker","state":"freed","freed_by":"kworker/u8:1"},"expect":"#,
            );
        let d = defs();
        let lines = [
            bt(1050, 57, "kmalloc", "ffff2", 4096),
            bt(2000, 99, "kfree", "ffff2", -4096), // the kworker's: not the pid's
            bt(4000, 57, "kmem_cache_free", "ffff1", -256), // the close, after it
        ];
        let l: Vec<&str> = lines.iter().map(String::as_str).collect();
        let r = run(&d[0], &json, &l).unwrap();
        assert_eq!(r.truth.write, "kmalloc 4096 free-by kworker");
        assert_eq!(r.truth.window, (1000, 3500));
        assert_eq!(r.truth.freed_by.as_deref(), Some("kworker/u8:1"));
        assert_eq!(
            kpaths::path_name(&r.truth.write),
            "kmalloc-4096-free-by-kworker"
        );
        let (class, why) = classify(&r);
        assert_eq!(
            (class, why.as_str()),
            (
                Class::Phantom,
                "+4096 B: kept after kworker/u8:1 freed it (not the writer's pid)"
            )
        );
        // a tracker that took the free off (keyed by pointer) is exact
        let mut took = r.clone();
        took.seen.figure = 0;
        assert_eq!(classify(&took).0, Class::Exact);
        // a run whose entry does not say the free ran is refused
        let pending = json.replace(r#""state":"freed""#, r#""state":"pending""#);
        assert!(run(&d[0], &pending, &l).unwrap_err().contains("free ran"));
    }

    #[test]
    fn memleaks_entries() {
        let l = [
            "[12:00:01] Top 100000 stacks with outstanding allocations:",
            "\t65536 bytes in 1 allocations from stack",
            "\t\t0xffffffff81234567\t__kmalloc_large_node_noprof+0x5a [kernel]",
            "\t\t0xffffffffc0001234\t_RNvMs_kmalloc_lkm+0x10 [kmalloc_lkm]",
            "\t4096 bytes in 2 allocations from stack",
        ];
        let s = read_bcc(&l, 4096).unwrap();
        assert_eq!((s.figure, s.records, s.twice), (69632, 3, 0));
        // small objects of one size are so many objects
        let s = read_bcc(&l, 2048).unwrap();
        assert_eq!(s.twice, 0);
        // a large kmalloc: its object, and its pages under their frame number
        let l = [
            "\t65536 bytes in 1 allocations from stack",
            "\t16 bytes in 1 allocations from stack",
            "\t65536 bytes in 1 allocations from stack",
        ];
        let s = read_bcc(&l, 65536).unwrap();
        assert_eq!((s.figure, s.records, s.twice), (131088, 3, 1));
        assert!(read_bcc(&["\tx bytes in 1 allocations from stack"], 1)
            .unwrap_err()
            .contains("memleak entry"));
    }

    #[test]
    fn a_contract_trackers_reading() {
        let s = read_contract(&["ready", "live_bytes 4096", "live_blocks 1"]).unwrap();
        assert_eq!((s.figure, s.records, s.twice), (4096, 1, 0));
        // bytes stands in for live_bytes; other lines are not the reading
        let s = read_contract(&["Attaching", "bytes 64"]).unwrap();
        assert_eq!((s.figure, s.records), (64, 0));
        assert!(read_contract(&["ready"])
            .unwrap_err()
            .contains("live_bytes"));
        let d =
            read_defs("c\tc\tcontract\tcontract\t^ready$\t-\tpy x {pid}\tthe contract\n").unwrap();
        let json = report(1, 2, "kmalloc 100", 100, 128);
        let r = run(&d[0], &json, &["ready", "live_bytes 128", "live_blocks 1"]).unwrap();
        assert_eq!((r.seen.figure, r.truth.allocated), (128, 128));
    }

    fn seen(figure: i64, records: u64, failed: u64, twice: u64) -> Run {
        Run {
            truth: kpaths::run(&report(1, 2, "kmalloc 100", 100, 128), &[]).unwrap(),
            seen: Seen {
                figure,
                records,
                failed,
                twice,
            },
        }
    }

    fn class_of(r: &Run) -> String {
        match classify(r) {
            (c, why) if why.is_empty() => c.as_str().to_string(),
            (c, why) => format!("{} ({why})", c.as_str()),
        }
    }

    #[test]
    fn classes() {
        assert_eq!(class_of(&seen(100, 1, 0, 0)), "exact");
        assert_eq!(
            class_of(&seen(128, 1, 0, 0)),
            "rounded (+28 B: what the allocator gave for it)"
        );
        assert_eq!(
            class_of(&seen(256, 2, 0, 1)),
            "double (+156 B: one object recorded twice)"
        );
        assert_eq!(
            class_of(&seen(256, 2, 0, 0)),
            "noise (+156 B: 2 records where the write keeps 1)"
        );
        assert_eq!(
            class_of(&seen(300, 3, 0, 0)),
            "noise (+200 B: 3 records where the write keeps 1)"
        );
        assert_eq!(
            class_of(&seen(8320, 2, 1, 0)),
            "phantom (+8220 B: 1 failed allocation attempts (ptr=0) counted)"
        );
        assert_eq!(class_of(&seen(0, 0, 0, 0)), "missed (-100 B: saw nothing)");
        assert_eq!(
            class_of(&seen(-32, 1, 0, 0)),
            "missed (-132 B: saw -32 B in 1 records)"
        );
        assert_eq!(
            class_of(&seen(110, 1, 0, 0)),
            "rounded (+10 B: part of what the allocator gave)"
        );
    }

    fn console(runs: &[(&str, usize, usize, i64)]) -> String {
        let mut c = String::from("GUEST-START: 7.2.13 cpus=2\r\nKTRK-ATTACH bt 4.5\r\n");
        for &(t, n, rep, bytes) in runs {
            c += &format!("KTRK-RUN {t} {n} {rep}\r\n");
            c += &format!(
                "KTRK-JSON {}\r\n",
                report(1000, 2000, "65536", 65536, 65536)
            );
            if t == "bt" {
                c += &format!("KTRK-OUT {}\r\n", bt(1500, 57, "kmalloc", "ffff1", bytes));
            } else {
                c += &format!("KTRK-OUT \t{bytes} bytes in 1 allocations from stack\r\n");
            }
            c += "KTRK-END 0\r\n";
        }
        c + "KTRK-STEP bt 60.2\r\n"
    }

    #[test]
    fn the_median_repetition_of_each_run_of_each_tracker() {
        let c = console(&[
            ("bt", 1, 1, 70000),
            ("bt", 1, 2, 65536),
            ("bt", 1, 3, 65600),
            ("stacks", 1, 1, 8),
            ("stacks", 1, 2, 8),
            ("stacks", 1, 3, 9),
        ]);
        let t = from_console(&c, &defs(), 1, 3).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].attach_s, t[0].step_s), (Some(4.5), Some(60.2)));
        assert_eq!(t[0].runs[0].seen.figure, 65600);
        assert_eq!(t[1].runs[0].seen.figure, 8);
        assert_eq!(t[1].attach_s, None);
        let md = table(&t, "7.2.13", 3);
        assert!(md.contains("`bt`: per pid (attached in 4 s, its runs took 60 s)"));
        assert!(md.contains("| `65536` | kmalloc | 65536 | 65536 | 65600 | 1 | +64 | noise"));
        assert!(md.contains("`stacks`: outstanding (attached in ?, its runs took ?)"));
        let text = csv(&t, "7.2.13", 3).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("65536,bt,linux,7.2.13,kernel,noise,"));
        assert!(lines[2].starts_with("65536,stacks,linux,7.2.13,kernel,missed,"));
    }

    #[test]
    fn every_repetition_must_report_once_and_succeed() {
        let one = console(&[("bt", 1, 1, 8)]);
        assert_eq!(
            from_console(&one, &defs(), 1, 2).unwrap_err(),
            "bt: 1 of 2 runs reported"
        );
        assert!(from_console(&format!("{one}{one}"), &defs(), 1, 1)
            .unwrap_err()
            .contains("twice"));
        assert!(
            from_console(&one.replace("KTRK-END 0", "KTRK-END 3"), &defs(), 1, 1)
                .unwrap_err()
                .contains("exited 3")
        );
        assert!(
            from_console(&one.replace("RUN bt", "RUN zz"), &defs(), 1, 1)
                .unwrap_err()
                .contains("does not have: zz")
        );
        assert!(from_console(&console(&[("bt", 2, 1, 8)]), &defs(), 1, 1)
            .unwrap_err()
            .contains("not asked"));
        assert_eq!(
            from_console("GUEST-START: 7.2.13\n", &defs(), 1, 1).unwrap_err(),
            "no tracker reported"
        );
    }
}
