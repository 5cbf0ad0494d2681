//! The kernel paths table (`scripts/kernel/kpaths.sh`): for every allocation
//! path of kmalloc_lkm, what a tracefs or MemTracker-style kernel tracker sums
//! for one write of kmalloc-test, next to the truth. One concern in one file
//! (the events, their sum, the classes, the table), its tests nearly half of it.
//!
//! The guest (`scripts/kernel/guest-kpaths.sh`) prints, for each run and
//! repetition, `KPATH-RUN <run> <rep>`, `KPATH-JSON <kmalloc-test --json>`,
//! one `KPATH-EV <trace line>` per event in kmalloc-test's pid, and
//! `KPATH-END <exit status>`. Tracefs runs on CLOCK_MONOTONIC there, the clock
//! of the ledger's `start_ns`/`end_ns`, so the events of the write(2) that
//! made the allocation are those between its two timestamps (tracefs prints
//! whole microseconds: an event counts when its microsecond meets the window).
//! Nothing else of the process runs in that window (docs/ledger.md), so what
//! the write's events add up to is what a tracker sums for the allocation.
//!
//! Per run:
//! - the MemTracker-style figure: `bytes_alloc` of `kmem:kmalloc` and
//!   `kmem:kmem_cache_alloc`, summed over every event as such a tracker does
//!   (a failed kmalloc, `ptr=0`, and both events of a large kmalloc included);
//! - what that figure leaves out: `kmem:mm_page_alloc` (`PAGE_SIZE << order`
//!   each), `vmalloc:alloc_vmap_area` (`size`, guard page included) and
//!   `percpu:percpu_alloc_percpu` (`bytes_alloc`);
//! - the truth, from the report's `"module_entry"`: the size written and what
//!   the allocator gave for it, as the module measured it in the kernel
//!   (`ksize()`, the vmalloc area's pages, the page order, the per-CPU
//!   copies); held to the trace: the allocation event of the entry's `ptr`
//!   must report the same bytes, or the run is refused. Reports from before
//!   the module had entries fall back to kmalloc-test's prediction,
//!   `"expect"`.

use wlmodel::{ModuleEntry, Report};

use crate::scoreboard::Class;

const PAGE: u64 = 4096;

/// One tracepoint event of a tracefs line.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    /// The line's timestamp in ns (tracefs prints whole microseconds).
    pub ts_ns: u64,
    /// The event's name without its system: `kmalloc`, `mm_page_alloc`, ...
    pub name: String,
    /// The `key=value` words after the name, in order.
    pub fields: Vec<(String, String)>,
    /// The word after `va_start:` (alloc_vmap_area), if any.
    pub va: Option<String>,
}

/// `SECONDS.FRACTION` in ns.
fn timestamp_ns(text: &str) -> Option<u64> {
    let (s, frac) = text.split_once('.')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(s) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let ns: u64 = format!("{frac:0<9}").parse().ok()?;
    s.parse::<u64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(ns)
}

impl Event {
    /// Parses `<comm>-<pid> [cpu] <flags> <seconds>.<micros>: <name>: k=v ...`.
    pub fn parse(line: &str) -> Option<Event> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let i = words
            .iter()
            .position(|w| w.strip_suffix(':').and_then(timestamp_ns).is_some())?;
        let ts_ns = timestamp_ns(words[i].strip_suffix(':')?)?;
        let name = words.get(i + 1)?.strip_suffix(':')?.to_string();
        let rest = &words[i + 2..];
        let fields = rest
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let va = rest
            .iter()
            .position(|w| *w == "va_start:")
            .and_then(|j| rest.get(j + 1))
            .map(ToString::to_string);
        Some(Event {
            ts_ns,
            name,
            fields,
            va,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, key: &str) -> u64 {
        self.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// `alloc_vmap_area`'s start (`va_start: N`, in decimal, the one field
    /// printed with a colon).
    fn va_start(&self) -> Option<u64> {
        self.va.as_deref().and_then(|v| v.parse().ok())
    }

    /// Whether the event's microsecond meets the window `[start, end]` (ns).
    fn within(&self, start: u64, end: u64) -> bool {
        self.ts_ns + 999 >= start && self.ts_ns <= end
    }
}

/// What the events of one write add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub kmalloc_events: u64,
    /// `kmem:kmalloc` events with `ptr=0`: attempts that failed.
    pub failed_kmallocs: u64,
    /// The distinct pointers of the other `kmem:kmalloc` events: fewer than
    /// those events when one object was traced twice.
    pub kmalloc_ptrs: u64,
    pub kmalloc_bytes: u64,
    pub cache_events: u64,
    pub cache_bytes: u64,
    pub page_events: u64,
    pub page_bytes: u64,
    pub vmap_events: u64,
    pub vmap_bytes: u64,
    pub percpu_events: u64,
    pub percpu_bytes: u64,
}

impl Figures {
    /// What a MemTracker-style tracker sums: kmalloc and kmem_cache_alloc.
    pub fn tracked(&self) -> u64 {
        self.kmalloc_bytes + self.cache_bytes
    }

    /// Adds up `events`.
    pub fn of(events: &[Event]) -> Figures {
        let mut f = Figures::default();
        let mut ptrs = std::collections::BTreeSet::new();
        for e in events {
            match e.name.as_str() {
                "kmalloc" => {
                    f.kmalloc_events += 1;
                    f.kmalloc_bytes += e.num("bytes_alloc");
                    match e.get("ptr") {
                        Some(p) if p.bytes().all(|b| b == b'0') => f.failed_kmallocs += 1,
                        p => {
                            ptrs.insert(p.unwrap_or_default().to_string());
                        }
                    }
                }
                "kmem_cache_alloc" => {
                    f.cache_events += 1;
                    f.cache_bytes += e.num("bytes_alloc");
                }
                "mm_page_alloc" => {
                    f.page_events += 1;
                    f.page_bytes += PAGE << e.num("order");
                }
                "alloc_vmap_area" => {
                    f.vmap_events += 1;
                    f.vmap_bytes += e.num("size");
                }
                "percpu_alloc_percpu" => {
                    f.percpu_events += 1;
                    f.percpu_bytes += e.num("bytes_alloc");
                }
                _ => {}
            }
        }
        f.kmalloc_ptrs = ptrs.len() as u64;
        f
    }
}

/// One run of kmalloc-test: the truth and the figures of its write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// What kmalloc-test wrote to /proc/kmalloc_lkm.
    pub write: String,
    /// The path as the module lists it (`kvmalloc:vmalloc`, ...).
    pub listed: String,
    pub requested: u64,
    /// What the module allocated for it (its listing's `allocated`).
    pub allocated: u64,
    pub figures: Figures,
    /// The task that freed it in another context (`--free-by`: the second
    /// write, `free-by kworker|rcu`), once that free ran: after it the process
    /// holds nothing.
    pub freed_by: Option<String>,
    /// Where the process's hold is judged (ns): from the write's start to its
    /// end, or with a free in another context, to the end of the read that
    /// saw it done.
    pub window: (u64, u64),
}

/// The run of one `--json` report and the trace lines of its pid: the events
/// inside its write's window, which the module's entry is held to (no trace
/// lines at all: none was recorded, as under a kernel tracker of its own).
pub fn run(json: &str, trace: &[&str]) -> Result<Run, String> {
    let report = Report::parse(json)?;
    let write = report
        .ledger
        .iter()
        .find(|e| e.call == "write")
        .ok_or("the ledger has no write")?;
    if let Some(errno) = &write.errno {
        return Err(format!("the write failed: {errno}"));
    }
    let events: Vec<Event> = trace
        .iter()
        .filter_map(|l| Event::parse(l))
        .filter(|e| e.within(write.start_ns, write.end_ns))
        .collect();
    let free_by = report
        .ledger
        .iter()
        .filter(|e| e.call == "write")
        .find_map(|e| e.arg_text("buf")?.strip_prefix("free-by "));
    let freed_by = report
        .module_entry
        .as_ref()
        .and_then(|m| m.freed_elsewhere())
        .map(str::to_string);
    if free_by.is_some() && freed_by.is_none() {
        return Err("a free-by run whose module entry does not say the free ran".into());
    }
    let end = match free_by {
        Some(_) => report
            .ledger
            .iter()
            .filter(|e| e.call == "read" || e.call == "pread64")
            .map(|e| e.end_ns)
            .max()
            .unwrap_or(write.end_ns),
        None => write.end_ns,
    };
    let (listed, requested, allocated) = match &report.module_entry {
        Some(m) => {
            // no trace was recorded (a run under a kernel tracker of its
            // own): nothing to hold the entry to
            if !trace.is_empty() {
                held_to_the_trace(m, &events)?;
            }
            (m.path.clone(), m.requested, m.allocated)
        }
        None => {
            let e = report
                .expect
                .as_ref()
                .ok_or("the report has neither module_entry nor expect")?;
            (e.listed_path.clone(), e.requested_bytes, e.allocated_bytes)
        }
    };
    let buf = write.arg_text("buf").ok_or("the write has no buf")?;
    Ok(Run {
        write: match free_by {
            Some(ctx) => format!("{buf} free-by {ctx}"),
            None => buf.into(),
        },
        listed,
        requested,
        allocated,
        figures: Figures::of(&events),
        freed_by,
        window: (write.start_ns, end),
    })
}

/// Checks the module's `allocated` against what the allocator itself traced
/// for the entry's `ptr`: `bytes_alloc` of its `kmem:kmalloc` or
/// `kmem:kmem_cache_alloc` events (`ksize`), the `size` of its
/// `vmalloc:alloc_vmap_area` less the guard page, `PAGE_SIZE << order` of its
/// `kmem:mm_page_alloc` (`page=` the entry's `struct page`), `bytes_alloc` of
/// its `percpu:percpu_alloc_percpu`. (On a production kernel: KASAN and slab
/// debugging make `bytes_alloc` larger than what the caller may use.)
pub fn held_to_the_trace(m: &ModuleEntry, events: &[Event]) -> Result<(), String> {
    let ptr = m.addr().ok_or("the module's entry has no ptr")?;
    let how = m.measured_by.as_deref().unwrap_or("");
    let traced: Vec<u64> = match how {
        "ksize" => events
            .iter()
            .filter(|e| e.name == "kmalloc" || e.name == "kmem_cache_alloc")
            .filter(|e| e.get("ptr").is_some_and(|p| m.is_ptr(p)))
            .map(|e| e.num("bytes_alloc"))
            .collect(),
        "vmalloc_to_page" => events
            .iter()
            .filter(|e| e.name == "alloc_vmap_area" && e.va_start() == Some(ptr))
            .map(|e| e.num("size").saturating_sub(PAGE))
            .collect(),
        "order" => events
            .iter()
            .filter(|e| e.name == "mm_page_alloc" && e.get("page").is_some_and(|p| m.is_ptr(p)))
            .map(|e| PAGE << e.num("order"))
            .collect(),
        "percpu" => events
            .iter()
            .filter(|e| {
                e.name == "percpu_alloc_percpu" && e.get("ptr").is_some_and(|p| m.is_ptr(p))
            })
            .map(|e| e.num("bytes_alloc"))
            .collect(),
        other => return Err(format!("the module's entry is measured by '{other}'")),
    };
    if traced.is_empty() {
        return Err(format!(
            "no allocation event of the module's ptr {ptr:#x} ({}) in the write",
            m.path
        ));
    }
    match traced.iter().find(|&&b| b != m.allocated) {
        Some(b) => Err(format!(
            "the module says {} allocated {} B at {ptr:#x} ({how}), the allocator traced {b} B",
            m.path, m.allocated
        )),
        None => Ok(()),
    }
}

/// The runs of the console log, one per run (1 to `runs`): of its `reps`
/// repetitions, the one with the median tracked figure. Every repetition of
/// every run must have reported once, with exit status 0.
pub fn from_console(console: &str, runs: usize, reps: usize) -> Result<Vec<Run>, String> {
    let mut got: Vec<Vec<Run>> = vec![vec![]; runs];
    let mut seen = std::collections::BTreeSet::new();
    // the run being read: (run, rep, json, trace lines)
    let mut cur: Option<(usize, usize, Option<String>, Vec<String>)> = None;
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(rest) = line.strip_prefix("KPATH-RUN ") {
            let w: Vec<usize> = rest.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
            let (n, rep) = match w[..] {
                [n, rep] if (1..=runs).contains(&n) && (1..=reps).contains(&rep) => (n, rep),
                _ => return Err(format!("a run that was not asked for: {line}")),
            };
            if !seen.insert((n, rep)) {
                return Err(format!("run {n} repetition {rep} reported twice"));
            }
            cur = Some((n, rep, None, vec![]));
        } else if let Some(json) = line.strip_prefix("KPATH-JSON ") {
            if let Some(c) = cur.as_mut() {
                c.2 = Some(json.to_string());
            }
        } else if let Some(ev) = line.strip_prefix("KPATH-EV ") {
            if let Some(c) = cur.as_mut() {
                c.3.push(ev.to_string());
            }
        } else if let Some(rc) = line.strip_prefix("KPATH-END ") {
            let (n, rep, json, trace) = cur
                .take()
                .ok_or_else(|| format!("KPATH-END without KPATH-RUN: {line}"))?;
            if rc.trim() != "0" {
                return Err(format!(
                    "run {n} repetition {rep}: kmalloc-test exited {rc}"
                ));
            }
            let json = json.ok_or_else(|| format!("run {n} repetition {rep}: no report"))?;
            let lines: Vec<&str> = trace.iter().map(String::as_str).collect();
            got[n - 1].push(run(&json, &lines).map_err(|e| format!("run {n}: {e}"))?);
        }
    }
    let done: usize = got.iter().map(Vec::len).sum();
    if done != runs * reps {
        return Err(format!("{done} of {} runs reported", runs * reps));
    }
    Ok(got
        .into_iter()
        .map(|mut r| {
            r.sort_by_key(|x| x.figures.tracked());
            r.swap_remove((r.len() - 1) / 2)
        })
        .collect())
}

fn events(n: u64, what: &str) -> String {
    format!("{n} {what}")
}

/// The markdown table of `runs`, under a line that says where it comes from.
pub fn table(runs: &[Run], kernel: &str, reps: usize) -> String {
    let mut t = format!(
        "Linux {kernel}, production config; the median of {reps} runs of each; bytes, and the \
         events of kmalloc-test's write(2) in its pid\n\n"
    );
    t += "| write | listed as | requested | allocated | kmalloc + kmem_cache_alloc | its events | tracked - allocated | mm_page_alloc | alloc_vmap_area | percpu_alloc_percpu | the sum's class |\n";
    t += "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |\n";
    for r in runs {
        let f = &r.figures;
        let mut ev = vec![];
        if f.kmalloc_events > 0 {
            let mut k = events(f.kmalloc_events, "kmalloc");
            if f.failed_kmallocs > 0 {
                k += &format!(" ({} failed)", f.failed_kmallocs);
            }
            ev.push(k);
        }
        if f.cache_events > 0 {
            ev.push(events(f.cache_events, "kmem_cache_alloc"));
        }
        let ev = if ev.is_empty() {
            "none".to_string()
        } else {
            ev.join(", ")
        };
        let diff = i128::from(f.tracked()) - i128::from(r.allocated);
        let other = |bytes: u64, n: u64| {
            if n == 0 {
                "0".to_string()
            } else {
                format!("{bytes} ({n})")
            }
        };
        let (class, why) = classify(r);
        let class = if why.is_empty() {
            class.as_str().to_string()
        } else {
            format!("{} ({why})", class.as_str())
        };
        t += &format!(
            "| `{}` | {} | {} | {} | {} | {} | {:+} | {} | {} | {} | {} |\n",
            r.write,
            r.listed,
            r.requested,
            r.allocated,
            f.tracked(),
            ev,
            diff,
            other(f.page_bytes, f.page_events),
            other(f.vmap_bytes, f.vmap_events),
            other(f.percpu_bytes, f.percpu_events),
            class,
        );
    }
    t
}

/// What a tracker that sums `bytes_alloc` of `kmem:kmalloc` and
/// `kmem:kmem_cache_alloc` (MemTracker's kernel half) makes of a run, classed
/// as the scoreboard classes its cells against the bytes the write asked
/// for, with the reason in a few words.
pub fn classify(r: &Run) -> (Class, String) {
    let f = &r.figures;
    let tracked = f.tracked();
    let d = i128::from(tracked) - i128::from(r.requested);
    let by = |why: String| format!("{d:+} B: {why}");
    if tracked == r.requested {
        return (Class::Exact, String::new());
    }
    if tracked > r.allocated && f.failed_kmallocs > 0 {
        let why = format!(
            "{} failed kmalloc attempts (ptr=0) counted",
            f.failed_kmallocs
        );
        return (Class::Phantom, by(why));
    }
    if tracked > r.allocated && f.kmalloc_events > f.kmalloc_ptrs + f.failed_kmallocs {
        let why = "one kmalloc traced twice (two events, one ptr)".to_string();
        return (Class::Double, by(why));
    }
    if tracked == r.allocated {
        return (Class::Rounded, by("what the allocator gave for it".into()));
    }
    if tracked > r.allocated {
        let n = f.kmalloc_events + f.cache_events;
        let why =
            format!("{n} objects counted where the write keeps 1 (a sum never subtracts a free)");
        return (Class::Noise, by(why));
    }
    let through: Vec<&str> = [
        (f.page_events, "mm_page_alloc"),
        (f.vmap_events, "alloc_vmap_area"),
        (f.percpu_events, "percpu_alloc_percpu"),
    ]
    .into_iter()
    .filter(|&(n, _)| n > 0)
    .map(|(_, name)| name)
    .collect();
    let seen = if tracked == 0 {
        "saw nothing".to_string()
    } else {
        format!("saw only {tracked} B of bookkeeping")
    };
    let why = if through.is_empty() {
        seen
    } else {
        format!("{seen}; the memory came through {}", through.join(", "))
    };
    (Class::Missed, by(why))
}

/// A write's name as a scoreboard path: its words joined by `-`
/// (`krealloc-32-4096`).
pub fn path_name(write: &str) -> String {
    write.split_whitespace().collect::<Vec<_>>().join("-")
}

/// The tracker of the kernel cells, its tool and its kind, in the
/// scoreboard's CSV (`wlreport scoreboard check` reads it as it reads the
/// user-space cells: the expected classes are `linux-VERSION.csv`).
pub const TRACKER: (&str, &str, &str) = ("kmem-sum", "linux", "kernel");

/// A kernel cell as the scoreboard's CSV holds it (kpaths' and kleaks').
pub struct Cell<'a> {
    /// The path's name (`kmalloc-65536`).
    pub path: String,
    /// (tracker, tool, kind)
    pub tracker: (&'a str, &'a str, &'a str),
    /// The kernel's version: the tool's, for these trackers.
    pub version: String,
    pub class: Class,
    pub why: String,
    /// What the tracker reported, if anything.
    pub figure: Option<u64>,
    /// The bytes asked for.
    pub truth: u64,
    pub runs: usize,
    pub note: String,
}

/// `cells` in the scoreboard's CSV schema (`wlreport scoreboard expected` and
/// `check` read it as they read the user-space cells).
pub fn cells_csv(cells: &[Cell<'_>]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(crate::scoreboard::CSV_HEADER.split(','))
        .map_err(|e| e.to_string())?;
    for c in cells {
        let (tracker, tool, kind) = c.tracker;
        let figure = c.figure.map(|f| f.to_string()).unwrap_or_default();
        w.write_record([
            c.path.as_str(),
            tracker,
            tool,
            &c.version,
            kind,
            c.class.as_str(),
            &c.why,
            &figure,
            &c.truth.to_string(),
            "",
            "",
            &c.runs.to_string(),
            "",
            "",
            &c.note,
        ])
        .map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// The runs as scoreboard cells: one cell a run, the figure and truth of its
/// median repetition.
pub fn csv(runs: &[Run], kernel: &str, reps: usize) -> Result<String, String> {
    let cells: Vec<Cell> = runs
        .iter()
        .map(|r| {
            let (class, why) = classify(r);
            Cell {
                path: path_name(&r.write),
                tracker: TRACKER,
                version: kernel.to_string(),
                class,
                why,
                figure: Some(r.figures.tracked()),
                truth: r.requested,
                runs: reps,
                note: format!("listed as {}, {} B allocated", r.listed, r.allocated),
            }
        })
        .collect();
    cells_csv(&cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KMALLOC: &str = " kmalloc-test-57      [001] .....   12.000105: kmalloc: call_site=_RNvMs0_kvec_Kmalloc+0x5a/0x87 [kmalloc_lkm] ptr=ffff888004a1b000 bytes_req=65536 bytes_alloc=65536 gfp_flags=GFP_KERNEL node=-1 accounted=false";

    fn report(start: u64, end: u64, buf: &str, allocated: u64) -> String {
        let entry = |seq, call: &str, args: &str, start: u64, end: u64| {
            format!(
                r#"{{"seq":{seq},"repeat":1,"pid":57,"tid":57,"call":"{call}","kind":"syscall","args":{{{args}}},"ret":3,"errno":null,"start_ns":{start},"end_ns":{end}}}"#
            )
        };
        let ledger = [
            entry(0, "openat", "", 11000000000, 11000050000),
            entry(
                1,
                "write",
                &format!(r#""fd":3,"buf":"{buf}","count":5"#),
                start,
                end,
            ),
            entry(2, "close", r#""fd":3"#, 13000000000, 13000001000),
        ];
        format!(
            r#"{{"workload":"kmalloc-test","path":"kernel allocation via /proc/kmalloc_lkm","pid":57,"requested_bytes":65536,"allocator_bytes":65536,"completed":1,"ledger_version":1,"ledger":[{}],"expect":{{"listed_path":"kmalloc","requested_bytes":65536,"allocated_bytes":{allocated}}}}}"#,
            ledger.join(",")
        )
    }

    #[test]
    fn a_trace_line() {
        let e = Event::parse(KMALLOC).unwrap();
        assert_eq!(e.ts_ns, 12_000_105_000);
        assert_eq!(e.name, "kmalloc");
        assert_eq!(e.get("bytes_alloc"), Some("65536"));
        assert_eq!(e.get("call_site"), Some("_RNvMs0_kvec_Kmalloc+0x5a/0x87"));
        // a comm with spaces and dashes, and a name with a colon in its fields
        let v = Event::parse("  my prog-x-9  [000] ...1.  7.5: alloc_vmap_area: va_start: 1844 size=69632 align=1 failed=0").unwrap();
        assert_eq!(
            (v.ts_ns, v.name.as_str()),
            (7_500_000_000, "alloc_vmap_area")
        );
        assert_eq!(v.num("size"), 69632);
        assert_eq!(Event::parse("KPATH garbage"), None);
        assert_eq!(Event::parse("x 12.0000000001: kmalloc: ptr=0"), None);
    }

    #[test]
    fn sums_every_kind_of_event() {
        let lines = [
            KMALLOC,
            " t-1 [000] .... 1.000001: kmalloc: call_site=x ptr=ffff888004a1b000 bytes_req=65536 bytes_alloc=65536",
            " t-1 [000] .... 1.000002: kmalloc: call_site=x ptr=0000000000000000 bytes_req=8388608 bytes_alloc=8388608",
            " t-1 [000] .... 1.000003: kmem_cache_alloc: call_site=x ptr=ffff1 bytes_req=64 bytes_alloc=64 name=vmap_area",
            " t-1 [000] .... 1.000004: mm_page_alloc: page=0x1 pfn=0x2 order=2 migratetype=0 gfp_flags=GFP_KERNEL",
            " t-1 [000] .... 1.000005: mm_page_alloc: page=0x1 pfn=0x3 order=0 migratetype=0 gfp_flags=GFP_KERNEL",
            " t-1 [000] .... 1.000006: alloc_vmap_area: va_start: 1 size=69632 align=1 vstart=1 vend=2 failed=0",
            " t-1 [000] .... 1.000007: percpu_alloc_percpu: call_site=x reserved=0 is_atomic=0 size=100 align=8 base_addr=0x1 off=2 ptr=0x3 bytes_alloc=208 gfp_flags=GFP_KERNEL",
            " t-1 [000] .... 1.000008: kfree: call_site=x ptr=ffff1",
        ];
        let ev: Vec<Event> = lines.iter().filter_map(|l| Event::parse(l)).collect();
        let f = Figures::of(&ev);
        assert_eq!(
            f,
            Figures {
                kmalloc_events: 3,
                failed_kmallocs: 1,
                kmalloc_ptrs: 1,
                kmalloc_bytes: 2 * 65536 + 8388608,
                cache_events: 1,
                cache_bytes: 64,
                page_events: 2,
                page_bytes: 16384 + 4096,
                vmap_events: 1,
                vmap_bytes: 69632,
                percpu_events: 1,
                percpu_bytes: 208,
            }
        );
        assert_eq!(f.tracked(), 2 * 65536 + 8388608 + 64);
    }

    #[test]
    fn only_the_writes_events_count() {
        let json = report(12_000_100_500, 12_000_200_000, "65536", 65536);
        let before = " kmalloc-test-57 [001] ..... 12.000099: kmalloc: call_site=exec ptr=1 bytes_req=512 bytes_alloc=512";
        // the microsecond 12.000100 ends at 12.000100999, inside the window
        let edge = " kmalloc-test-57 [001] ..... 12.000100: kmalloc: call_site=edge ptr=2 bytes_req=8 bytes_alloc=8";
        let after = " kmalloc-test-57 [001] ..... 12.000201: kmalloc: call_site=exit ptr=3 bytes_req=64 bytes_alloc=64";
        let r = run(&json, &[before, edge, KMALLOC, after]).unwrap();
        assert_eq!(r.write, "65536");
        assert_eq!((r.requested, r.allocated), (65536, 65536));
        assert_eq!(r.figures.kmalloc_events, 2);
        assert_eq!(r.figures.tracked(), 65544);
    }

    /// `report` with the module's entry of a 65536-byte kmalloc at
    /// 0xffff888004a1b000 that says `allocated`.
    fn with_entry(json: &str, allocated: u64) -> String {
        let entry = format!(
            r#","module_entry":{{"pid":57,"tid":57,"path":"kmalloc","call":"krealloc_node_align","ptr":"0xffff888004a1b000","hash":"00000000939a3b2a","requested":65536,"from":0,"allocated":{allocated},"measured_by":"ksize","unit":0,"cpus":0,"free":"close","state":"live","freed_by":"-","freed_pid":0}}}}"#
        );
        format!("{}{entry}", json.strip_suffix('}').unwrap())
    }

    #[test]
    fn the_truth_is_the_modules_entry_held_to_the_trace() {
        // the prediction says 1 B allocated; the module measured 65536
        let json = with_entry(&report(12_000_100_000, 12_000_200_000, "65536", 1), 65536);
        let r = run(&json, &[KMALLOC]).unwrap();
        assert_eq!(
            (r.listed.as_str(), r.requested, r.allocated),
            ("kmalloc", 65536, 65536)
        );
        // a module whose allocated differs from the allocator's bytes_alloc
        let json = with_entry(
            &report(12_000_100_000, 12_000_200_000, "65536", 65536),
            32768,
        );
        assert_eq!(
            run(&json, &[KMALLOC]).unwrap_err(),
            "the module says kmalloc allocated 32768 B at 0xffff888004a1b000 (ksize), the allocator traced 65536 B"
        );
        // no event of its ptr in the write
        let other = KMALLOC.replace("ffff888004a1b000", "ffff888004a1c000");
        let json = with_entry(
            &report(12_000_100_000, 12_000_200_000, "65536", 65536),
            65536,
        );
        assert!(run(&json, &[other.as_str()])
            .unwrap_err()
            .contains("no allocation event of the module's ptr 0xffff888004a1b000"));
        // tracefs hashes pointers as %p does: the entry's hash names it
        let hashed = KMALLOC.replace("ffff888004a1b000", "00000000939a3b2a");
        assert!(run(&json, &[hashed.as_str()]).is_ok());
        // no trace recorded at all (a kernel tracker's run): the entry alone
        assert_eq!(run(&json, &[]).unwrap().allocated, 65536);
        // an old report, without an entry: the prediction
        let r = run(
            &report(12_000_100_000, 12_000_200_000, "65536", 1),
            &[KMALLOC],
        )
        .unwrap();
        assert_eq!(r.allocated, 1);
    }

    #[test]
    fn each_measure_has_its_event() {
        let m = |how: &str, ptr: &str, allocated| ModuleEntry {
            path: "p".into(),
            call: None,
            ptr: Some(ptr.into()),
            hash: Some("00000000939a3b2a".into()),
            requested: 1,
            from: None,
            allocated,
            measured_by: Some(how.into()),
            unit: None,
            cpus: None,
            free: None,
            state: None,
            freed_by: None,
            objects: None,
            objects_freed: None,
        };
        let ev = |l: &str| vec![Event::parse(l).unwrap()];
        let vmap = ev(" t-1 [000] .... 1.0: alloc_vmap_area: va_start: 18446683600570089472 size=12288 align=4096 vstart=1 vend=2 failed=0");
        assert!(
            held_to_the_trace(&m("vmalloc_to_page", "0xffffc90000010000", 8192), &vmap).is_ok()
        );
        assert!(
            held_to_the_trace(&m("vmalloc_to_page", "0xffffc90000010000", 12288), &vmap).is_err()
        );
        let pages = ev(" t-1 [000] .... 1.0: mm_page_alloc: page=ffffea0000123400 pfn=0x48d0 order=2 migratetype=0 gfp_flags=GFP_KERNEL");
        assert!(held_to_the_trace(&m("order", "0xffffea0000123400", 16384), &pages).is_ok());
        assert!(held_to_the_trace(&m("order", "0xffffea0000123400", 4096), &pages).is_err());
        let hashed = ev(" t-1 [000] .... 1.0: mm_page_alloc: page=00000000939a3b2a pfn=0x48d0 order=2 migratetype=0 gfp_flags=GFP_KERNEL");
        assert!(held_to_the_trace(&m("order", "0xffffea0000000040", 16384), &hashed).is_ok());
        assert!(held_to_the_trace(&m("order", "0xffffea0000000040", 4096), &hashed).is_err());
        let pcpu = ev(" t-1 [000] .... 1.0: percpu_alloc_percpu: call_site=x reserved=0 is_atomic=0 size=100 align=8 base_addr=0x1 off=2 ptr=0x3c5e0 bytes_alloc=208 gfp_flags=GFP_KERNEL");
        assert!(held_to_the_trace(&m("percpu", "0x3c5e0", 208), &pcpu).is_ok());
        assert!(held_to_the_trace(&m("percpu", "0x3c5e0", 200), &pcpu).is_err());
        assert!(held_to_the_trace(&m("guess", "0x3c5e0", 208), &pcpu)
            .unwrap_err()
            .contains("measured by 'guess'"));
    }

    #[test]
    fn a_report_without_a_good_write_is_refused() {
        assert!(run("{", &[]).unwrap_err().contains("not a --json report"));
        let no_write = report(1, 2, "1", 1).replace(r#""call":"write""#, r#""call":"read""#);
        assert_eq!(run(&no_write, &[]).unwrap_err(), "the ledger has no write");
        let failed = report(1, 2, "65536", 65536).replace(
            r#""errno":null,"start_ns":1"#,
            r#""errno":"ENOMEM","start_ns":1"#,
        );
        assert!(run(&failed, &[]).unwrap_err().contains("ENOMEM"));
        let v2 = report(1, 2, "1", 1).replace("\"ledger_version\":1", "\"ledger_version\":2");
        assert!(run(&v2, &[]).unwrap_err().contains("ledger_version"));
    }

    fn console(reps: &[(usize, usize, u64)]) -> String {
        let mut c = String::from("GUEST-START: 7.2.13 cpus=2\r\n[    1.0] noise\n");
        for &(n, rep, bytes) in reps {
            c += &format!("KPATH-RUN {n} {rep}\r\n");
            c += &format!(
                "KPATH-JSON {}\r\n",
                report(12_000_100_000, 12_000_200_000, "65536", 65536)
            );
            c += &format!("KPATH-EV  kmalloc-test-57 [001] ..... 12.000150: kmalloc: ptr=1 bytes_req=65536 bytes_alloc={bytes}\r\n");
            c += "KPATH-END 0\r\n";
        }
        c
    }

    #[test]
    fn the_median_repetition_of_each_run() {
        let c = console(&[
            (1, 1, 70000),
            (1, 2, 65536),
            (1, 3, 65600),
            (2, 1, 8),
            (2, 2, 8),
            (2, 3, 8),
        ]);
        let r = from_console(&c, 2, 3).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].figures.tracked(), 65600);
        assert_eq!(r[1].figures.tracked(), 8);
    }

    #[test]
    fn every_repetition_must_report_once_and_succeed() {
        let one = console(&[(1, 1, 8)]);
        assert_eq!(
            from_console(&one, 1, 2).unwrap_err(),
            "1 of 2 runs reported"
        );
        assert!(from_console(&format!("{one}{one}"), 1, 2)
            .unwrap_err()
            .contains("twice"));
        assert!(from_console(&one, 1, 1).is_ok());
        assert!(from_console(&console(&[(2, 1, 8)]), 1, 1)
            .unwrap_err()
            .contains("not asked"));
        let failed = one.replace("KPATH-END 0", "KPATH-END 3");
        assert!(from_console(&failed, 1, 1)
            .unwrap_err()
            .contains("exited 3"));
        let lost = one.replace("KPATH-JSON", "KPATH-XJSON");
        assert!(from_console(&lost, 1, 1).unwrap_err().contains("no report"));
    }

    #[test]
    fn the_table() {
        let run = |write: &str, listed: &str, allocated, figures| Run {
            write: write.into(),
            listed: listed.into(),
            requested: 65536,
            allocated,
            figures,
            freed_by: None,
            window: (0, 0),
        };
        let rows = [
            run(
                "kmalloc 65536",
                "kmalloc",
                65536,
                Figures {
                    kmalloc_events: 2,
                    kmalloc_ptrs: 1,
                    kmalloc_bytes: 131072,
                    page_events: 1,
                    page_bytes: 65536,
                    ..Figures::default()
                },
            ),
            run(
                "pages 65536",
                "pages",
                65536,
                Figures {
                    page_events: 1,
                    page_bytes: 65536,
                    ..Figures::default()
                },
            ),
            run(
                "kvmalloc 8388608",
                "kvmalloc:vmalloc",
                8388608,
                Figures {
                    kmalloc_events: 5,
                    failed_kmallocs: 4,
                    kmalloc_bytes: 4 * 8388608 + 64,
                    cache_events: 1,
                    cache_bytes: 64,
                    vmap_events: 1,
                    vmap_bytes: 8392704,
                    ..Figures::default()
                },
            ),
        ];
        let t = table(&rows, "7.2.13", 3);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("Linux 7.2.13, production config; the median of 3 runs"));
        assert_eq!(lines[1], "");
        assert!(lines[2].starts_with("| write | listed as |"));
        assert_eq!(
            lines[4],
            "| `kmalloc 65536` | kmalloc | 65536 | 65536 | 131072 | 2 kmalloc | +65536 | 65536 (1) | 0 | 0 | \
             double (+65536 B: one kmalloc traced twice (two events, one ptr)) |"
        );
        assert_eq!(
            lines[5],
            "| `pages 65536` | pages | 65536 | 65536 | 0 | none | -65536 | 65536 (1) | 0 | 0 | \
             missed (-65536 B: saw nothing; the memory came through mm_page_alloc) |"
        );
        assert_eq!(
            lines[6],
            "| `kvmalloc 8388608` | kvmalloc:vmalloc | 65536 | 8388608 | 33554560 | 5 kmalloc (4 failed), 1 kmem_cache_alloc | +25165952 | 0 | 8392704 (1) | 0 | \
             phantom (+33489024 B: 4 failed kmalloc attempts (ptr=0) counted) |"
        );
        assert_eq!(lines.len(), 7);
    }

    /// A run of `write` asking `requested` bytes, of which the module
    /// allocated `allocated`.
    fn asked(write: &str, requested: u64, allocated: u64, figures: Figures) -> Run {
        Run {
            write: write.into(),
            listed: write.split(' ').next().unwrap().into(),
            requested,
            allocated,
            figures,
            freed_by: None,
            window: (0, 0),
        }
    }

    fn class_of(r: &Run) -> String {
        match classify(r) {
            (c, why) if why.is_empty() => c.as_str().to_string(),
            (c, why) => format!("{} ({why})", c.as_str()),
        }
    }

    #[test]
    fn classes_of_the_sum() {
        let kmalloc = |n, ptrs, failed, bytes| Figures {
            kmalloc_events: n,
            kmalloc_ptrs: ptrs,
            failed_kmallocs: failed,
            kmalloc_bytes: bytes,
            ..Figures::default()
        };
        let r = asked("kmalloc 32", 32, 32, kmalloc(1, 1, 0, 32));
        assert_eq!(class_of(&r), "exact");
        let r = asked("kmalloc 100", 100, 128, kmalloc(1, 1, 0, 128));
        assert_eq!(
            class_of(&r),
            "rounded (+28 B: what the allocator gave for it)"
        );
        let r = asked("kmalloc 65536", 65536, 65536, kmalloc(2, 1, 0, 131072));
        assert_eq!(
            class_of(&r),
            "double (+65536 B: one kmalloc traced twice (two events, one ptr))"
        );
        // two objects, two pointers: not a double trace
        let r = asked("krealloc 32 4096", 4096, 4096, kmalloc(2, 2, 0, 4128));
        assert_eq!(
            class_of(&r),
            "noise (+32 B: 2 objects counted where the write keeps 1 (a sum never subtracts a free))"
        );
        let mut f = kmalloc(7, 3, 4, 4 * 8388608 + 320);
        f.vmap_events = 2;
        f.page_events = 3;
        let r = asked("kvmalloc 8388608", 8388608, 8388608, f);
        assert_eq!(
            class_of(&r),
            "phantom (+25166144 B: 4 failed kmalloc attempts (ptr=0) counted)"
        );
        let f = Figures {
            page_events: 1,
            page_bytes: 4096,
            vmap_events: 1,
            vmap_bytes: 8192,
            ..kmalloc(2, 2, 0, 248)
        };
        let r = asked("vmalloc 4096", 4096, 4096, f);
        assert_eq!(
            class_of(&r),
            "missed (-3848 B: saw only 248 B of bookkeeping; the memory came through \
             mm_page_alloc, alloc_vmap_area)"
        );
        let f = Figures {
            percpu_events: 1,
            percpu_bytes: 64,
            ..Figures::default()
        };
        let r = asked("percpu 32", 32, 64, f);
        assert_eq!(
            class_of(&r),
            "missed (-32 B: saw nothing; the memory came through percpu_alloc_percpu)"
        );
    }

    #[test]
    fn cells_in_the_scoreboards_schema() {
        let r = asked(
            "kmalloc 65536",
            65536,
            65536,
            Figures {
                kmalloc_events: 2,
                kmalloc_ptrs: 1,
                kmalloc_bytes: 131072,
                ..Figures::default()
            },
        );
        let text = csv(&[r], "7.2.13", 3).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], crate::scoreboard::CSV_HEADER);
        assert_eq!(
            lines[1],
            "kmalloc-65536,kmem-sum,linux,7.2.13,kernel,double,\"+65536 B: one kmalloc traced twice \
             (two events, one ptr)\",131072,65536,,,3,,,\"listed as kmalloc, 65536 B allocated\""
        );
        // what `wlreport scoreboard expected` and `check` make of it
        let files = crate::scoreboard::expected_files(&text, &Default::default()).unwrap();
        assert_eq!(
            files["linux-7.2.13.csv"],
            "tracker,path,class,diff,tolerance,why\nkmem-sum,kmalloc-65536,double,+65536,0,\n"
        );
        let (verdicts, missing) =
            crate::scoreboard::check(&text, &files["linux-7.2.13.csv"], "linux").unwrap();
        assert!(missing.is_empty());
        assert_eq!(verdicts[0].3, crate::scoreboard::Verdict::Same);
    }
}
