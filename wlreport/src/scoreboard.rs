//! The tracker scoreboard (`scripts/scoreboard.sh`): every workload path of
//! `scripts/scoreboard/paths.tsv` under every tracker, each cell classed against
//! what the workload did.
//!
//! The shell starts trackers and workloads and records what they printed, one
//! normalized file per run (`scripts/trackers/runner-lib.sh` describes it); this
//! module plans the runs, reads those files, works out each tracker's figure and
//! the truth, and classes the cells.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use wlcore::glibc;

/// What a tracker's figure counts, and so which truth it is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every allocating call of the malloc family: the bytes asked by all the
    /// calls (`allocator_bytes` per call, `completed` calls).
    Calls,
    /// The heap in use at one moment (a peak, or what is outstanding while the
    /// workload holds its block): one call's `allocator_bytes`.
    Live,
    /// Memory mapped by the process: `mmap_bytes` per call plus the heap's
    /// `brk_growth_bytes`.
    Mapping,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Calls => "calls",
            Kind::Live => "live",
            Kind::Mapping => "mapping",
        }
    }
}

/// One column of the scoreboard: a tracker run in one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    /// The column's name.
    pub name: &'static str,
    /// The tool whose version is shown, and names the expected-results file.
    pub tool: &'static str,
    /// The runner under `scripts/trackers/` and its mode.
    pub runner: &'static str,
    pub mode: &'static str,
    pub kind: Kind,
    /// How it is run, for the tables.
    pub how: &'static str,
}

/// Every tracker, in the scoreboard's order.
pub const TRACKERS: [Tracker; 12] = [
    Tracker {
        name: "memtrack",
        tool: "bpftrace",
        runner: "run-bpftrace.sh",
        mode: "memtrack",
        kind: Kind::Mapping,
        how: "memtrack (GranuloTrack's rules): memtrack.bt from exec, minus the null run",
    },
    Tracker {
        name: "memtrack-pid",
        tool: "bpftrace",
        runner: "run-bpftrace.sh",
        mode: "memtrack-pid",
        kind: Kind::Mapping,
        how: "memtrack (GranuloTrack's rules): memtrack-pid.bt attached at the --wait line",
    },
    Tracker {
        name: "maps",
        tool: "bpftrace",
        runner: "run-bpftrace.sh",
        mode: "maps",
        kind: Kind::Mapping,
        how: "the correct rule: maps.bt at the --wait line, errors checked, unmaps taken off: peak mapped",
    },
    Tracker {
        name: "strace",
        tool: "strace",
        runner: "run-strace.sh",
        mode: "exec",
        kind: Kind::Mapping,
        how: "strace -f from exec (strace.sh), minus the null run",
    },
    Tracker {
        name: "heap-bt",
        tool: "bpftrace",
        runner: "run-bpftrace.sh",
        mode: "heap",
        kind: Kind::Calls,
        how: "heap.bt: uprobes on glibc's malloc family",
    },
    Tracker {
        name: "memleak-p",
        tool: "memleak",
        runner: "run-memleak.sh",
        mode: "pid",
        kind: Kind::Live,
        how: "memleak -p PID at the --wait line: outstanding while held",
    },
    Tracker {
        name: "memleak-c",
        tool: "memleak",
        runner: "run-memleak.sh",
        mode: "cmd",
        kind: Kind::Live,
        how: "memleak -c CMD: outstanding while held",
    },
    Tracker {
        name: "heaptrack",
        tool: "heaptrack",
        runner: "run-heaptrack.sh",
        mode: "preload",
        kind: Kind::Calls,
        how: "heaptrack CMD (LD_PRELOAD)",
    },
    Tracker {
        name: "heaptrack-p",
        tool: "heaptrack",
        runner: "run-heaptrack.sh",
        mode: "pid",
        kind: Kind::Calls,
        how: "heaptrack -p PID (gdb) at the --wait line",
    },
    Tracker {
        name: "massif",
        tool: "valgrind",
        runner: "run-valgrind.sh",
        mode: "massif",
        kind: Kind::Live,
        how: "massif: the peak snapshot's mem_heap_B",
    },
    Tracker {
        name: "massif-pages",
        tool: "valgrind",
        runner: "run-valgrind.sh",
        mode: "massif-pages",
        kind: Kind::Mapping,
        how: "massif --pages-as-heap=yes: peak pages, minus the null run",
    },
    Tracker {
        name: "memcheck",
        tool: "valgrind",
        runner: "run-valgrind.sh",
        mode: "memcheck",
        kind: Kind::Calls,
        how: "memcheck --leak-check=full: total heap usage",
    },
];

pub fn tracker(name: &str) -> Option<&'static Tracker> {
    TRACKERS.iter().find(|t| t.name == name)
}

/// One line of `paths.tsv`: a named workload path and the trackers it is run
/// under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub name: String,
    pub workload: String,
    pub args: Vec<String>,
    pub trackers: Vec<&'static str>,
}

/// Which trackers a `trackers` field selects: comma-separated items, each a
/// tracker's name, a kind (`calls`, `live`, `mapping`: every tracker of it),
/// `all`, or one of those after `-` to take it out again (`all,-memleak-c`).
pub fn select(spec: &str) -> Result<Vec<&'static str>, String> {
    let mut on = [false; TRACKERS.len()];
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (value, what) = match item.strip_prefix('-') {
            Some(rest) => (false, rest),
            None => (true, item),
        };
        let hits: Vec<usize> = TRACKERS
            .iter()
            .enumerate()
            .filter(|(_, t)| what == "all" || t.name == what || t.kind.as_str() == what)
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            return Err(format!("unknown tracker or kind '{what}'"));
        }
        for i in hits {
            on[i] = value;
        }
    }
    Ok(TRACKERS
        .iter()
        .zip(on)
        .filter(|(_, on)| *on)
        .map(|(t, _)| t.name)
        .collect())
}

/// Reads `paths.tsv`: `NAME<TAB>WORKLOAD<TAB>ARGS<TAB>TRACKERS` a line (ARGS
/// space-separated, ending with the size); `#` starts a comment line.
pub fn read_paths(text: &str) -> Result<Vec<Path>, String> {
    let mut paths: Vec<Path> = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').filter(|s| !s.is_empty()).collect();
        let [name, workload, args, trackers] = f[..] else {
            return Err(format!(
                "line {}: not 4 tab-separated fields: {line}",
                n + 1
            ));
        };
        let ok_name = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        if !ok_name(name) || !ok_name(workload) {
            return Err(format!(
                "line {}: names take letters, digits, '.', '_', '-': {line}",
                n + 1
            ));
        }
        if paths.iter().any(|p| p.name == name) {
            return Err(format!("line {}: path '{name}' given twice", n + 1));
        }
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        if args.is_empty() {
            return Err(format!("line {}: no arguments (the size at least)", n + 1));
        }
        let trackers = select(trackers).map_err(|e| format!("line {}: {e}", n + 1))?;
        paths.push(Path {
            name: name.into(),
            workload: workload.into(),
            args,
            trackers,
        });
    }
    if paths.is_empty() {
        return Err("no paths".into());
    }
    Ok(paths)
}

/// The runs to make: `TRACKER<TAB>RUNNER<TAB>MODE<TAB>ID<TAB>WORKLOAD<TAB>ARGS...`
/// a line, tracker by tracker; ID is `PATH.REP`. `only` keeps those trackers.
pub fn plan(paths: &[Path], reps: u32, only: Option<&[&str]>) -> String {
    let mut s = String::new();
    for t in TRACKERS
        .iter()
        .filter(|t| only.is_none_or(|o| o.contains(&t.name)))
    {
        for p in paths.iter().filter(|p| p.trackers.contains(&t.name)) {
            for r in 1..=reps {
                let _ = writeln!(
                    s,
                    "{}\t{}\t{}\t{}.{r}\t{}\t{}",
                    t.name,
                    t.runner,
                    t.mode,
                    p.name,
                    p.workload,
                    p.args.join("\t")
                );
            }
        }
    }
    s
}

/// One normalized raw file, by section (`@@ NAME` lines start them).
pub fn sections(text: &str) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@@ ") {
            cur = Some(name.trim().to_string());
            m.entry(name.trim().to_string()).or_default();
        } else if let Some(c) = &cur {
            let e = m.entry(c.clone()).or_default();
            e.push_str(line);
            e.push('\n');
        }
    }
    m
}

/// What a tracker reported for a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    pub bytes: u64,
    /// Allocating calls, for the trackers that count them.
    pub calls: Option<u64>,
    /// Bytes the tracker put on other processes or threads of the run.
    pub elsewhere: u64,
    /// Other figures worth showing (memcheck's leak summary, massif's extra).
    pub note: String,
    /// The figure process by process (pid, bytes, calls), for the trackers
    /// that report each process on its own; `bytes` and `calls` are then the
    /// sums over all of them until `attribute` splits them.
    pub by_pid: Vec<(u64, u64, Option<u64>)>,
    /// Block sizes and how many of each, for the trackers that list them
    /// (heaptrack's histogram): what names a missed call or a stranger's block.
    pub sizes: Vec<(u64, u64)>,
    /// What the first brk of each process counted from a break of 0
    /// (MemTracker's rule; 0 where that event was dropped): the break's
    /// address, counted as growth in a non-PIE process.
    pub from_zero_brk: u64,
}

impl Reading {
    /// Keeps in `bytes` and `calls` what the tracker put on `home` (the
    /// processes that made the calls) and moves the rest to `elsewhere`.
    pub fn attribute(&mut self, home: &[u64]) {
        if self.by_pid.is_empty() || home.is_empty() {
            return;
        }
        let (mut bytes, mut calls, mut other) = (0, None::<u64>, 0);
        for &(pid, b, c) in &self.by_pid {
            if home.contains(&pid) {
                bytes += b;
                if let Some(c) = c {
                    calls = Some(calls.unwrap_or(0) + c);
                }
            } else {
                other += b;
            }
        }
        self.bytes = bytes;
        if self.calls.is_some() {
            self.calls = Some(calls.unwrap_or(0));
        }
        self.elsewhere = other;
    }
}

/// `KEY=VALUE` out of a line of words.
fn kv(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn num(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

/// The user figure (mmap + brk + shm) of memtrack.bt's `exit` line, of
/// memtrack-pid.bt's `user=` line, or of strace.sh's summary.
pub fn user_figure(text: &str) -> Result<u64, String> {
    text.lines()
        .filter(|l| l.starts_with("exit pid=") || l.starts_with("user="))
        .find_map(|l| kv(l, "user"))
        .ok_or_else(|| "no user= figure".to_string())
}

/// heap.bt: the `exit` lines' calls and bytes, one a process.
pub fn heap_bt(text: &str) -> Result<Reading, String> {
    let mut r = Reading::default();
    for l in text.lines().filter(|l| l.starts_with("exit pid=")) {
        let (pid, bytes, calls) = (
            kv(l, "pid").ok_or("no pid=")?,
            kv(l, "bytes").ok_or("no bytes=")?,
            kv(l, "calls").ok_or("no calls=")?,
        );
        r.bytes += bytes;
        r.calls = Some(r.calls.unwrap_or(0) + calls);
        r.by_pid.push((pid, bytes, Some(calls)));
    }
    if r.by_pid.is_empty() {
        return Err("no exit line from heap.bt".into());
    }
    if r.by_pid.len() == 1 {
        r.by_pid.clear();
    }
    Ok(r)
}

/// memtrack.bt: the `exit` lines' user figure, one a process, less the null
/// run's figure on the process `main` (the one started). What the null run's
/// first brk counted (`first_brk`: the break's address, when the rules keep it)
/// is not start-up work but the rule's own, and another address in each
/// process: it stays out of what is taken off, and the run's own shows.
pub fn memtrack(text: &str, null: &str, main: u64) -> Result<Reading, String> {
    let lines: Vec<(u64, u64)> = text
        .lines()
        .filter(|l| l.starts_with("exit pid="))
        .filter_map(|l| Some((kv(l, "pid")?, kv(l, "user")?)))
        .collect();
    let null_first_brk = null
        .lines()
        .filter(|l| l.starts_with("exit pid="))
        .find_map(|l| kv(l, "first_brk"))
        .unwrap_or(0);
    let null = user_figure(null)?.saturating_sub(null_first_brk);
    let run = match lines.iter().find(|l| l.0 == main) {
        Some(l) => l.1,
        None => user_figure(text)?,
    };
    let mut r = Reading {
        bytes: 0,
        note: format!("{run} - {null} of the null run"),
        from_zero_brk: text
            .lines()
            .filter(|l| l.starts_with("exit pid="))
            .filter_map(|l| kv(l, "first_brk"))
            .sum(),
        ..Default::default()
    };
    for &(pid, user) in &lines {
        let b = if pid == main || lines.len() == 1 {
            user.saturating_sub(null)
        } else {
            user
        };
        r.bytes += b;
        r.by_pid.push((pid, b, None));
    }
    if r.by_pid.len() <= 1 {
        r.by_pid.clear();
        r.bytes = run.saturating_sub(null);
    }
    Ok(r)
}

/// memleak: the last report's outstanding allocations ("N bytes in M
/// allocations from stack" lines after the last "Top ... stacks" line).
pub fn memleak(text: &str) -> Result<Reading, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains("stacks with outstanding allocations"))
        .ok_or("memleak printed no report")?;
    let (mut bytes, mut calls) = (0, 0);
    for l in &lines[start + 1..] {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let [b, "bytes", "in", n, "allocations", ..] = w[..] {
            bytes += num(b).ok_or_else(|| format!("bad line: {l}"))?;
            calls += num(n).ok_or_else(|| format!("bad line: {l}"))?;
        }
    }
    Ok(Reading {
        bytes,
        calls: Some(calls),
        ..Default::default()
    })
}

/// heaptrack: "calls to allocation functions: N" and the histogram lines
/// ("histogram SIZE COUNT", from heaptrack_print -H): the bytes of every call.
pub fn heaptrack(text: &str) -> Result<Reading, String> {
    let calls = text
        .lines()
        .find_map(|l| l.strip_prefix("calls to allocation functions:"))
        .and_then(|r| num(r.split_whitespace().next()?))
        .ok_or("no 'calls to allocation functions' line")?;
    let (mut bytes, mut sizes) = (0u64, vec![]);
    for l in text.lines().filter(|l| l.starts_with("histogram ")) {
        let w: Vec<&str> = l.split_whitespace().collect();
        let [_, size, count] = w[..] else {
            return Err(format!("bad line: {l}"));
        };
        let (s, c) = (num(size).ok_or("bad size")?, num(count).ok_or("bad count")?);
        bytes += s * c;
        sizes.push((s, c));
    }
    let leaked = text
        .lines()
        .find_map(|l| l.strip_prefix("total memory leaked:"))
        .map(str::trim)
        .unwrap_or("?");
    Ok(Reading {
        bytes,
        calls: Some(calls),
        note: format!("leaked {leaked}"),
        sizes,
        ..Default::default()
    })
}

/// massif.out: the largest `mem_heap_B` of any snapshot (the peak one among
/// them), and its `mem_heap_extra_B`.
pub fn massif(text: &str) -> Result<Reading, String> {
    let (mut best, mut extra, mut cur) = (None::<u64>, 0, None::<u64>);
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("mem_heap_B=") {
            cur = num(v);
            if cur > best {
                best = cur;
                extra = 0;
            }
        } else if let Some(v) = l.strip_prefix("mem_heap_extra_B=") {
            if cur == best {
                extra = num(v).unwrap_or(0);
            }
        }
    }
    let bytes = best.ok_or("no mem_heap_B in massif's output")?;
    Ok(Reading {
        bytes,
        note: format!("extra {extra} B"),
        ..Default::default()
    })
}

/// memcheck's log: "total heap usage: A allocs, F frees, B bytes allocated",
/// with "in use at exit" and "definitely lost" as the note; one summary a
/// process (`==PID==` starts each line) when the run forked.
pub fn memcheck(text: &str) -> Result<Reading, String> {
    let mut pids: Vec<&str> = vec![];
    for l in text.lines() {
        if let Some(p) = l.strip_prefix("==").and_then(|r| r.split_once("==")) {
            if l.contains("total heap usage:") && !pids.contains(&p.0) {
                pids.push(p.0);
            }
        }
    }
    if pids.len() > 1 {
        let mut all = Reading::default();
        for p in pids {
            let tag = format!("=={p}==");
            let mine: String = text
                .lines()
                .filter(|l| l.starts_with(&tag))
                .map(|l| format!("{l}\n"))
                .collect();
            let r = memcheck(&mine)?;
            all.bytes += r.bytes;
            all.calls = Some(all.calls.unwrap_or(0) + r.calls.unwrap_or(0));
            all.by_pid.push((p.parse().unwrap_or(0), r.bytes, r.calls));
            if !all.note.is_empty() {
                all.note.push_str("; ");
            }
            let _ = write!(all.note, "pid {p}: {}", r.note);
        }
        return Ok(all);
    }
    let after = |key: &str| {
        text.lines()
            .find_map(|l| Some(l.split_once(key)?.1.trim().to_string()))
    };
    let usage = after("total heap usage:").ok_or("no 'total heap usage' line")?;
    let w: Vec<&str> = usage.split_whitespace().collect();
    let [a, "allocs,", _, "frees,", b, "bytes", ..] = w[..] else {
        return Err(format!("bad heap usage line: {usage}"));
    };
    let in_use = after("in use at exit:").unwrap_or_default();
    let lost = after("definitely lost:").unwrap_or_else(|| "0 bytes in 0 blocks".into());
    Ok(Reading {
        bytes: num(b).ok_or("bad byte count")?,
        calls: Some(num(a).ok_or("bad alloc count")?),
        note: format!("in use at exit {in_use}; definitely lost {lost}"),
        ..Default::default()
    })
}

/// The tracker's reading of one run, from its raw file's sections.
pub fn reading(t: &Tracker, s: &BTreeMap<String, String>) -> Result<Reading, String> {
    let sec = |n: &str| {
        s.get(n)
            .map(String::as_str)
            .ok_or(format!("no '{n}' section"))
    };
    let text = sec("tracker")?;
    let minus_null = |f: fn(&str) -> Result<u64, String>| -> Result<Reading, String> {
        let (run, null) = (f(text)?, f(sec("null-tracker")?)?);
        Ok(Reading {
            bytes: run.saturating_sub(null),
            note: format!("{run} - {null} of the null run"),
            ..Default::default()
        })
    };
    match t.name {
        "memtrack" => memtrack(
            text,
            sec("null-tracker")?,
            s.get("pid")
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(0),
        ),
        "strace" => minus_null(user_figure),
        "memtrack-pid" => Ok(Reading {
            bytes: user_figure(text)?,
            from_zero_brk: text.lines().find_map(|l| kv(l, "first_brk")).unwrap_or(0),
            ..Default::default()
        }),
        "maps" => Ok(Reading {
            bytes: text
                .lines()
                .find_map(|l| kv(l, "peak"))
                .ok_or("no peak= figure from maps.bt")?,
            ..Default::default()
        }),
        "heap-bt" => heap_bt(text),
        "memleak-p" | "memleak-c" => memleak(text),
        "heaptrack" | "heaptrack-p" => heaptrack(text),
        "massif" => massif(text),
        "massif-pages" => minus_null(|t| massif(t).map(|r| r.bytes)),
        "memcheck" => memcheck(text),
        n => Err(format!("no reader for tracker {n}")),
    }
}

/// A difference from the truth that the ledger accounts for: a tracker whose
/// figure is off by exactly `bytes` counted (or left out) what `why` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// The kinds of tracker it is looked for in.
    pub kinds: &'static [Kind],
    /// Figure minus truth.
    pub bytes: i128,
    pub class: Class,
    pub why: String,
}

const MAPPING: &[Kind] = &[Kind::Mapping];
const HEAP: &[Kind] = &[Kind::Calls, Kind::Live];
const ALL_KINDS: &[Kind] = &[Kind::Calls, Kind::Live, Kind::Mapping];

/// What the workload did, from its `--json` ledger (`docs/ledger.md`); the
/// report's summary fields when it has no ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    /// What one call asked the allocator for (`allocator_bytes`).
    pub per_call: u64,
    pub completed: u64,
    /// Calls that were made and failed (a failed repeat).
    pub failed: u64,
    /// The successful allocating calls of the malloc family, over every
    /// repeat and process, and the bytes they asked for (calloc: nmemb x size).
    pub calls: u64,
    pub call_bytes: u64,
    /// The same calls one by one: the function and its bytes.
    pub heap_calls: Vec<(String, u64)>,
    /// The malloc-family blocks live while the first repeat holds them.
    pub live_blocks: u64,
    pub live_bytes: u64,
    /// What the first repeat had mapped while it held: the mapped growth of
    /// its allocate side, plus the System V segments it made (a segment
    /// counted once: its shmat mapping is not added).
    pub held_bytes: u64,
    /// The processes whose calls these are (a forked child's, not the
    /// parent's).
    pub pids: Vec<u64>,
    /// The differences the ledger accounts for.
    pub explained: Vec<Explained>,
}

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

/// Whether an entry's `mapped_bytes` count toward what was mapped: not a
/// shmat's (the segment is counted once, by `sysv_bytes`), nor a
/// pthread_join's (its window spans the joined thread's own calls, whose
/// mapping it measures again).
fn counted(call: &str) -> bool {
    call != "shmat" && call != "pthread_join"
}

/// glibc's heap of a thread's arena (HEAP_MAX_SIZE, x86-64).
const ARENA: i128 = 64 << 20;

/// A hold shorter than this is not told from the calls around it.
const HOLD_GAP_NS: u64 = 40_000_000;

fn hex_or_num(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => u64::from_str_radix(s.strip_prefix("0x")?, 16).ok(),
        _ => None,
    }
}

impl Truth {
    pub fn from_json(j: &str) -> Result<Truth, String> {
        let v: Value =
            serde_json::from_str(j.trim()).map_err(|e| format!("bad --json report: {e}"))?;
        let u = |k: &str| v.get(k).and_then(Value::as_u64);
        let per_call = u("allocator_bytes").ok_or("no allocator_bytes")?;
        let completed = u("completed").ok_or("no completed")?;
        let failed = u64::from(v.get("failed_repeat").is_some_and(|f| !f.is_null()));
        let Some(ledger) = v.get("ledger").and_then(Value::as_array) else {
            // A report without a ledger: its summary fields.
            let mmap = u("mmap_bytes").unwrap_or(0);
            let n = completed.min(1);
            return Ok(Truth {
                per_call,
                completed,
                failed,
                calls: completed,
                call_bytes: per_call * completed,
                heap_calls: vec![("the workload's call".into(), per_call); completed as usize],
                live_blocks: n,
                live_bytes: per_call * n,
                held_bytes: mmap * completed + u("brk_growth_bytes").unwrap_or(0),
                pids: u("pid").into_iter().collect(),
                explained: vec![],
            });
        };
        let mut t = Truth {
            per_call,
            completed,
            failed,
            ..Default::default()
        };
        t.read_ledger(ledger);
        if t.pids.is_empty() {
            t.pids.extend(u("pid"));
        }
        Ok(t)
    }

    fn read_ledger(&mut self, ledger: &[Value]) {
        let s = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
        let i = |e: &Value, k: &str| e[k].as_i64().unwrap_or(0);
        let arg = |e: &Value, k: &str| hex_or_num(&e["args"][k]).unwrap_or(0);
        // Every repeat: the malloc family's calls, and the processes.
        for e in ledger {
            let call = s(e, "call");
            if e["kind"] == "libc" && ALLOCATING.contains(&call.as_str()) {
                let bytes = arg(e, "size") * e["args"]["nmemb"].as_u64().unwrap_or(1);
                if e["errno"].is_null() {
                    self.calls += 1;
                    self.call_bytes += bytes;
                    self.heap_calls.push((call.clone(), bytes));
                } else {
                    self.explained.push(Explained {
                        kinds: HEAP,
                        bytes: i128::from(bytes),
                        class: Class::Phantom,
                        why: format!("the failed {call} counted"),
                    });
                }
            }
            let pid = e["pid"].as_u64().unwrap_or(0);
            let own = !matches!(call.as_str(), "fork" | "pthread_create" | "pthread_join");
            if own && !self.pids.contains(&pid) {
                self.pids.push(pid);
            }
        }
        // The first repeat, in time order; the hold is the one long gap.
        let mut first: Vec<&Value> = ledger
            .iter()
            .filter(|e| e["repeat"].as_u64() == Some(1))
            .collect();
        first.sort_by_key(|e| e["start_ns"].as_u64().unwrap_or(0));
        let gap = first
            .windows(2)
            .enumerate()
            .map(|(k, w)| {
                let (a, b) = (w[0]["start_ns"].as_u64(), w[1]["start_ns"].as_u64());
                (b.unwrap_or(0).saturating_sub(a.unwrap_or(0)), k + 1)
            })
            .filter(|&(g, _)| g >= HOLD_GAP_NS)
            .max();
        // Without a hold: up to the peak of what is mapped, and of what is live.
        let mut live: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut mapped, mut peak, mut at_peak) = (0i64, i64::MIN, 0usize);
        let (mut live_peak, mut live_at) = (0u64, 0usize);
        for (k, e) in first.iter().enumerate() {
            let call = s(e, "call");
            if e["kind"] == "libc" && e["errno"].is_null() {
                if call == "free" || call == "realloc" {
                    live.remove(&arg(e, "ptr"));
                }
                if ALLOCATING.contains(&call.as_str()) {
                    let bytes = arg(e, "size") * e["args"]["nmemb"].as_u64().unwrap_or(1);
                    live.insert(hex_or_num(&e["ret"]).unwrap_or(k as u64), bytes);
                }
            }
            if counted(&call) {
                mapped += i(e, "mapped_bytes");
            }
            mapped += i(e, "sysv_bytes");
            if mapped > peak {
                (peak, at_peak) = (mapped, k + 1);
            }
            let l: u64 = live.values().sum();
            if l > live_peak {
                (live_peak, live_at) = (l, k + 1);
            }
        }
        let (held_end, live_end) = match gap {
            Some((_, k)) => (k, k),
            None => (at_peak, live_at),
        };
        let side = &first[..held_end];
        self.held_bytes = side
            .iter()
            .map(|e| {
                i(e, "sysv_bytes")
                    + if counted(&s(e, "call")) {
                        i(e, "mapped_bytes")
                    } else {
                        0
                    }
            })
            .sum::<i64>()
            .max(0)
            .unsigned_abs();
        let mut live: BTreeMap<u64, u64> = BTreeMap::new();
        for (k, e) in first[..live_end].iter().enumerate() {
            let call = s(e, "call");
            if e["kind"] != "libc" || !e["errno"].is_null() {
                continue;
            }
            if call == "free" || call == "realloc" {
                live.remove(&arg(e, "ptr"));
            }
            if ALLOCATING.contains(&call.as_str()) {
                let bytes = arg(e, "size") * e["args"]["nmemb"].as_u64().unwrap_or(1);
                live.insert(hex_or_num(&e["ret"]).unwrap_or(k as u64), bytes);
            }
        }
        self.live_blocks = live.len() as u64;
        self.live_bytes = live.values().sum();
        self.explain(&first, held_end);
    }

    /// The differences the first repeat's calls account for.
    fn explain(&mut self, first: &[&Value], held_end: usize) {
        let s = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
        let i = |e: &Value, k: &str| e[k].as_i64().unwrap_or(0);
        let arg = |e: &Value, k: &str| hex_or_num(&e["args"][k]).unwrap_or(0);
        let page = |n: u64| i128::from(round_up(n, 4096));
        let mut add = |kinds, bytes: i128, class, why: String| {
            if bytes != 0 {
                self.explained.push(Explained {
                    kinds,
                    bytes,
                    class,
                    why,
                });
            }
        };
        let mut segments: BTreeMap<u64, u64> = BTreeMap::new();
        // malloc-family blocks that glibc mmapped (the call mapped at least
        // the block), by address
        let mut mmapped: Vec<u64> = vec![];
        let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
        // the workload's own mmaps: their lengths, and what they mapped
        let (mut own_mmaps, mut own_mapped) = (0i128, 0i128);
        for (k, e) in first.iter().enumerate() {
            let (call, held) = (s(e, "call"), k < held_end);
            let (ok, mapped) = (e["errno"].is_null(), i128::from(i(e, "mapped_bytes")));
            let errno = s(e, "errno");
            if e["kind"] == "libc" && ok && ALLOCATING.contains(&call.as_str()) {
                let size = arg(e, "size") * e["args"]["nmemb"].as_u64().unwrap_or(1);
                if call == "realloc" && held && mmapped.contains(&arg(e, "ptr")) {
                    // a tracker that keyed the old block by glibc's mmap
                    // misses the realloc's release of it
                    let old = sizes.get(&arg(e, "ptr")).copied().unwrap_or(0);
                    add(
                        &[Kind::Live],
                        i128::from(glibc::mmapped_chunk_len(old)),
                        Class::Double,
                        "the mmapped block realloc moved away from still counted".into(),
                    );
                }
                sizes.insert(hex_or_num(&e["ret"]).unwrap_or(0), size);
                if call == "realloc" && held && mapped > 0 && mmapped.contains(&arg(e, "ptr")) {
                    add(
                        MAPPING,
                        -mapped,
                        Class::Missed,
                        "glibc's mremap of the mmapped chunk (realloc) not seen".into(),
                    );
                }
                if mapped >= i128::from(size) {
                    mmapped.extend(hex_or_num(&e["ret"]));
                    let own = mapped - i128::from(i(e, "heap_bytes")) - i128::from(size);
                    if held && own > 0 {
                        add(
                            &[Kind::Live],
                            own,
                            Class::Rounded,
                            "glibc's whole mmap for the block (alignment, header, pages)".into(),
                        );
                    }
                }
                if held && e["tid"] != e["pid"] && mapped >= ARENA {
                    add(
                        MAPPING,
                        ARENA,
                        Class::Noise,
                        "glibc's arena for the thread: 128 MiB mmapped to align 64 MiB, half unmapped at once"
                            .into(),
                    );
                }
            }
            match (call.as_str(), ok) {
                ("mmap", false) => add(
                    ALL_KINDS,
                    page(arg(e, "length")),
                    Class::Phantom,
                    format!("the failed mmap ({errno}) counted"),
                ),
                ("shmget", false) => add(
                    MAPPING,
                    page(arg(e, "size")),
                    Class::Phantom,
                    format!("the failed shmget ({errno}) counted"),
                ),
                ("mmap", true) if held => {
                    own_mmaps += page(arg(e, "length"));
                    own_mapped += mapped;
                    let over = page(arg(e, "length")) - mapped;
                    if over > 0 && s(&e["args"], "flags").contains("MAP_FIXED") {
                        add(
                            MAPPING,
                            over,
                            Class::Double,
                            "the MAP_FIXED mmap over its own mapping counted again".into(),
                        );
                    }
                }
                ("mremap", true) if held && mapped < 0 => add(
                    MAPPING,
                    -mapped,
                    Class::Double,
                    "the mapping mremap moved onto (replaced) counted as well".into(),
                ),
                ("mremap", true) if held && mapped > 0 => add(
                    MAPPING,
                    -mapped,
                    Class::Missed,
                    "mremap's growth not seen".into(),
                ),
                ("munmap", true) if held && mapped < 0 => add(
                    MAPPING,
                    -mapped,
                    Class::Noise,
                    "a page unmapped before the hold still counted (munmap not subtracted)".into(),
                ),
                ("brk", true) if held && mapped < 0 => add(
                    MAPPING,
                    -mapped,
                    Class::Double,
                    "the break grown again after a shrink: each growth counted".into(),
                ),
                ("shmget", true) => {
                    let (size, id) = (arg(e, "size"), hex_or_num(&e["ret"]).unwrap_or(0));
                    if i(e, "sysv_bytes") == 0 {
                        add(
                            MAPPING,
                            page(size),
                            Class::Double,
                            "the second shmget of the key (the same segment) counted".into(),
                        );
                    }
                    segments.entry(id).or_insert(size);
                }
                ("shmctl", true) if held => {
                    let size = segments.get(&arg(e, "shmid")).copied().unwrap_or(0);
                    if i(e, "sysv_bytes") == 0 && s(&e["args"], "cmd") == "IPC_RMID" {
                        add(
                            MAPPING,
                            -page(size),
                            Class::Missed,
                            "taken away at IPC_RMID, still attached".into(),
                        );
                    }
                }
                _ => {}
            }
        }
        add(
            HEAP,
            own_mapped,
            Class::Noise,
            "the workload's own mmap, counted as a heap block".into(),
        );
        if own_mmaps != own_mapped {
            add(
                HEAP,
                own_mmaps,
                Class::Noise,
                "the workload's own mmaps, counted as heap blocks".into(),
            );
        }
    }

    /// The bytes and calls a tracker of this kind should report.
    pub fn expect(&self, kind: Kind) -> (u64, Option<u64>) {
        match kind {
            Kind::Calls => (self.call_bytes, Some(self.calls)),
            Kind::Live => (self.live_bytes, Some(self.live_blocks)),
            Kind::Mapping => (self.held_bytes, None),
        }
    }
}

/// A cell's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Exact,
    Rounded,
    Noise,
    Double,
    Phantom,
    Missed,
    Misattributed,
    /// The run failed or its output could not be read.
    Failed,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::Exact,
        Class::Rounded,
        Class::Noise,
        Class::Double,
        Class::Phantom,
        Class::Missed,
        Class::Misattributed,
        Class::Failed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Exact => "exact",
            Class::Rounded => "rounded",
            Class::Noise => "noise",
            Class::Double => "double",
            Class::Phantom => "phantom",
            Class::Missed => "missed",
            Class::Misattributed => "misattributed",
            Class::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

fn signed(d: i128) -> String {
    if d >= 0 {
        format!("+{d}")
    } else {
        d.to_string()
    }
}

/// Classes a reading against the truth, with the reason in a few words; for a
/// tracker that lists its blocks' sizes, the reason also names the workload's
/// calls it did not see and the blocks it saw besides them.
pub fn classify(kind: Kind, r: &Reading, t: &Truth) -> (Class, String) {
    let (class, why) = classify_bytes(kind, r, t);
    if class == Class::Exact || r.sizes.is_empty() || kind == Kind::Mapping {
        return (class, why);
    }
    match unmatched(t, &r.sizes) {
        u if u.is_empty() => (class, why),
        u if why.is_empty() => (class, u),
        u => (class, format!("{why}; {u}")),
    }
}

/// The workload's heap calls missing from a tracker's list of block sizes, and
/// the listed blocks left over, matched size for size: "not seen: memalign of
/// 262144 B; besides: 72704 B".
fn unmatched(t: &Truth, sizes: &[(u64, u64)]) -> String {
    let mut left = sizes.to_vec();
    let mut unseen = vec![];
    for (call, bytes) in &t.heap_calls {
        match left.iter_mut().find(|(s, c)| s == bytes && *c > 0) {
            Some((_, c)) => *c -= 1,
            None => unseen.push(format!("{call} of {bytes} B")),
        }
    }
    let besides: Vec<String> = left
        .iter()
        .filter(|(_, c)| *c > 0)
        .map(|&(s, c)| match c {
            1 => format!("{s} B"),
            _ => format!("{c} x {s} B"),
        })
        .collect();
    let mut parts = vec![];
    if !unseen.is_empty() {
        parts.push(format!("not seen: {}", unseen.join(", ")));
    }
    if !besides.is_empty() {
        parts.push(format!("besides: {}", besides.join(", ")));
    }
    parts.join("; ")
}

fn classify_bytes(kind: Kind, r: &Reading, t: &Truth) -> (Class, String) {
    let (want, want_calls) = t.expect(kind);
    let calls = match (r.calls, want_calls) {
        (Some(c), Some(w)) => Some((c, w)),
        _ => None,
    };
    let diff = i128::from(r.bytes) - i128::from(want);
    let d = signed(diff);
    let calls_note = |c: u64, w: u64| {
        if c == w {
            String::new()
        } else {
            format!(", {} calls", signed(i128::from(c) - i128::from(w)))
        }
    };
    if diff == 0 {
        return match calls {
            Some((c, w)) if c > w => (Class::Noise, format!("bytes right{}", calls_note(c, w))),
            Some((c, w)) if c < w => (Class::Missed, format!("bytes right{}", calls_note(c, w))),
            _ => (Class::Exact, String::new()),
        };
    }
    if want > 0 && r.bytes == 0 {
        if r.elsewhere > 0 {
            return (
                Class::Misattributed,
                format!("{d} B here, {} B on another process", r.elsewhere),
            );
        }
        return (Class::Missed, format!("{d} B: saw nothing"));
    }
    // What the ledger accounts for: one of its differences, or all of one
    // class together (a break grown three times).
    let mine: Vec<&Explained> = t
        .explained
        .iter()
        .filter(|e| e.kinds.contains(&kind))
        .collect();
    let c = calls.map(|(c, w)| calls_note(c, w)).unwrap_or_default();
    if let Some(e) = mine.iter().find(|e| e.bytes == diff) {
        return (e.class, format!("{d} B{c}: {}", e.why));
    }
    for class in Class::ALL {
        let same: Vec<&&Explained> = mine.iter().filter(|e| e.class == class).collect();
        if same.len() > 1 && same.iter().map(|e| e.bytes).sum::<i128>() == diff {
            return (
                class,
                format!("{d} B{c}: {} ({} times)", same[0].why, same.len()),
            );
        }
    }
    // two different ones together: the worse class names the cell
    for (k, a) in mine.iter().enumerate() {
        if let Some(b) = mine[k + 1..].iter().find(|b| a.bytes + b.bytes == diff) {
            let (w, o) = if b.class > a.class { (b, a) } else { (a, b) };
            return (w.class, format!("{d} B{c}: {}; {}", w.why, o.why));
        }
    }
    // MemTracker's rule: the first brk counted from a break of 0.
    if kind == Kind::Mapping && r.from_zero_brk > 0 && diff == i128::from(r.from_zero_brk) {
        return (
            Class::Phantom,
            format!("{d} B: the first brk counted from a break of 0 (the heap's address)"),
        );
    }
    // Calls the workload made and that failed, counted as if they had not.
    let failed_bytes = t.per_call * t.failed;
    if failed_bytes > 0 && diff == i128::from(failed_bytes) {
        return (Class::Phantom, format!("{d} B: a failed call counted"));
    }
    let n = want_calls.unwrap_or(1).max(1);
    if want > 0 && kind != Kind::Mapping && t.per_call > 0 {
        // The malloc and the mmap glibc makes for it, both counted.
        if r.bytes == want + n * glibc::mmapped_chunk_len(t.per_call) {
            return (
                Class::Double,
                format!("{d} B: the malloc and glibc's mmap for it"),
            );
        }
    }
    if want > 0 && r.bytes == 2 * want {
        return (Class::Double, format!("{d} B: counted twice"));
    }
    if want > 0 && kind != Kind::Mapping && diff > 0 {
        let per = t.per_call;
        let cases = [
            (
                glibc::mmapped_chunk_len(per),
                "glibc's mmap of the chunk (header, page rounding)",
            ),
            (
                glibc::chunk_size(per),
                "glibc's chunk (8-byte header, 16-byte alignment)",
            ),
            (round_up(per, 4096), "page rounding"),
        ];
        for (each, why) in cases {
            if r.bytes == n * each {
                return (Class::Rounded, format!("{d} B: {why}"));
            }
        }
    }
    if want > 0 && kind == Kind::Mapping && diff > 0 && r.bytes == round_up(want, 4096) {
        return (Class::Rounded, format!("{d} B: page rounding"));
    }
    if diff < 0 {
        if r.elsewhere > 0 && i128::from(r.bytes + r.elsewhere) >= i128::from(want) {
            return (
                Class::Misattributed,
                format!("{d} B here, {} B on another process or thread", r.elsewhere),
            );
        }
        let c = calls.map(|(c, w)| calls_note(c, w)).unwrap_or_default();
        return (Class::Missed, format!("{d} B{c}"));
    }
    let c = calls.map(|(c, w)| calls_note(c, w)).unwrap_or_default();
    (Class::Noise, format!("{d} B{c}"))
}

/// One run of a cell, read and classed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunResult {
    pub class: Class,
    pub why: String,
    pub reading: Option<Reading>,
    pub want: u64,
    pub want_calls: Option<u64>,
}

/// Reads and classes one run: `raw` is its normalized file, `reference` the
/// json of the same repetition run with no tracker (the truth; the run's own
/// json when there is none).
pub fn run_result(t: &Tracker, raw: &str, reference: Option<&str>) -> RunResult {
    let s = sections(raw);
    let failed = |why: String| RunResult {
        class: Class::Failed,
        why,
        reading: None,
        want: 0,
        want_calls: None,
    };
    let json = reference
        .map(str::to_string)
        .or_else(|| s.get("json").cloned())
        .unwrap_or_default();
    let truth = match Truth::from_json(&json) {
        Ok(tr) => tr,
        Err(e) => return failed(e),
    };
    let (want, want_calls) = truth.expect(t.kind);
    let status = s
        .get("status")
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    if status != "0" {
        // why: the workload's own error, or the tracker's refusal
        let own = s
            .get("json")
            .and_then(|j| serde_json::from_str::<Value>(j.trim()).ok())
            .and_then(|v| v["error"].as_str().map(String::from));
        let tool = s.get("tracker").and_then(|t| {
            t.lines()
                .find(|l| l.contains("aborting"))
                // "**1234** Program aborting ...": the pid left out
                .map(|l| {
                    l.trim_start_matches(|c: char| c.is_ascii_digit() || c == '*' || c == ' ')
                        .to_string()
                })
        });
        let why = match own.or(tool) {
            Some(w) => format!("exit {status}: {}", w.replace('|', "/")),
            None => format!("the workload exited with status {status}"),
        };
        return RunResult {
            want,
            want_calls,
            ..failed(why)
        };
    }
    match reading(t, &s) {
        Ok(mut r) => {
            // Whose calls these were, in this run (its own pids).
            let home = s
                .get("json")
                .and_then(|j| Truth::from_json(j).ok())
                .map(|h| h.pids)
                .unwrap_or_default();
            r.attribute(&home);
            let (class, mut why) = classify(t.kind, &r, &truth);
            // memcheck's leak check, where the workload leaves blocks live
            if t.name == "memcheck" && !r.note.contains("in use at exit 0 bytes") {
                why = if why.is_empty() {
                    r.note.clone()
                } else {
                    format!("{why}; {}", r.note)
                };
            }
            RunResult {
                class,
                why,
                reading: Some(r),
                want,
                want_calls,
            }
        }
        Err(e) => RunResult {
            want,
            want_calls,
            ..failed(e)
        },
    }
}

/// A cell: a path under a tracker, over its repetitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub path: String,
    pub tracker: &'static Tracker,
    pub runs: Vec<RunResult>,
    /// Why the tracker did not run here (the cell is then skipped).
    pub skipped: Option<String>,
}

impl Cell {
    /// The class most runs had; on a tie, the worse one (later in `Class`).
    pub fn class(&self) -> Option<Class> {
        let mut count: BTreeMap<Class, usize> = BTreeMap::new();
        for r in &self.runs {
            *count.entry(r.class).or_default() += 1;
        }
        count
            .into_iter()
            .max_by_key(|&(c, n)| (n, c))
            .map(|(c, _)| c)
    }
    fn main_run(&self) -> Option<&RunResult> {
        let c = self.class()?;
        self.runs.iter().find(|r| r.class == c)
    }
    pub fn stable(&self) -> bool {
        self.runs
            .windows(2)
            .all(|w| w[0].class == w[1].class && w[0].reading == w[1].reading)
    }
    /// What the table shows: the class and the reason, or "skipped".
    pub fn label(&self) -> String {
        if self.skipped.is_some() {
            return "skipped".into();
        }
        match (self.class(), self.main_run()) {
            (Some(c), Some(r)) => {
                let mut s = c.as_str().to_string();
                if !r.why.is_empty() {
                    let _ = write!(s, " ({})", r.why);
                }
                if !self.stable() {
                    let all: Vec<&str> = self.runs.iter().map(|r| r.class.as_str()).collect();
                    let _ = write!(s, " [runs: {}]", all.join("/"));
                }
                s
            }
            _ => "not run".into(),
        }
    }
}

/// The versions recorded by the script: `TOOL<TAB>TEXT` a line, TEXT what
/// the tool said of its version; `TOOL<TAB>-<TAB>WHY` for a tool that cannot run.
pub fn read_versions(text: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (mut v, mut skipped) = (BTreeMap::new(), BTreeMap::new());
    for line in text.lines() {
        let f: Vec<&str> = line.splitn(3, '\t').collect();
        match f[..] {
            [tool, "-", why] => {
                skipped.insert(tool.to_string(), why.to_string());
            }
            [tool, text, ..] => {
                v.insert(
                    tool.to_string(),
                    version_number(text).unwrap_or_else(|| text.trim().to_string()),
                );
            }
            _ => {}
        }
    }
    (v, skipped)
}

/// The first dotted number of a `--version` text: "bpftrace v0.17.0" ->
/// "0.17.0", "valgrind-3.19.0" -> "3.19.0", "0.26.0+ds-1" -> "0.26.0".
pub fn version_number(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let v = text[start..i].trim_end_matches('.');
            if v.contains('.') {
                return Some(v.to_string());
            }
        }
        i += 1;
    }
    None
}

/// `scoreboard.csv`'s header.
pub const CSV_HEADER: &str = "path,tracker,tool,version,kind,class,why,figure_bytes,truth_bytes,figure_calls,truth_calls,runs,run_classes,run_figures,note";

fn med(v: &mut [u64]) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len().checked_sub(1)? / 2).copied()
}

/// The CSV, one row a cell.
pub fn csv(cells: &[Cell], versions: &BTreeMap<String, String>) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(CSV_HEADER.split(','))
        .map_err(|e| e.to_string())?;
    for c in cells {
        let t = c.tracker;
        let ver = versions.get(t.tool).cloned().unwrap_or_default();
        let mut bytes: Vec<u64> = c
            .runs
            .iter()
            .filter_map(|r| r.reading.as_ref().map(|x| x.bytes))
            .collect();
        let mut calls: Vec<u64> = c
            .runs
            .iter()
            .filter_map(|r| r.reading.as_ref()?.calls)
            .collect();
        let main = c.main_run();
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let (class, why) = match (&c.skipped, c.class(), main) {
            (Some(why), _, _) => ("skipped".to_string(), why.clone()),
            (None, Some(cl), Some(m)) => (cl.as_str().to_string(), m.why.clone()),
            _ => ("not run".to_string(), String::new()),
        };
        w.write_record([
            c.path.clone(),
            t.name.into(),
            t.tool.into(),
            ver,
            t.kind.as_str().into(),
            class,
            why,
            opt(med(&mut bytes)),
            opt(main.map(|m| m.want)),
            opt(med(&mut calls)),
            opt(main.and_then(|m| m.want_calls)),
            c.runs.len().to_string(),
            c.runs
                .iter()
                .map(|r| r.class.as_str())
                .collect::<Vec<_>>()
                .join("/"),
            c.runs
                .iter()
                .map(|r| {
                    r.reading
                        .as_ref()
                        .map_or("-".into(), |x| x.bytes.to_string())
                })
                .collect::<Vec<_>>()
                .join("/"),
            main.and_then(|m| m.reading.as_ref())
                .map(|r| r.note.clone())
                .unwrap_or_default(),
        ])
        .map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// The markdown: a row a tracker, a column a path, then the trackers' versions.
pub fn markdown(
    paths: &[Path],
    cells: &[Cell],
    versions: &BTreeMap<String, String>,
    skipped: &BTreeMap<String, String>,
) -> String {
    let trackers: Vec<&Tracker> = TRACKERS
        .iter()
        .filter(|t| cells.iter().any(|c| c.tracker.name == t.name))
        .collect();
    let mut s = String::from("| tracker |");
    for p in paths {
        let _ = write!(s, " {} |", p.name);
    }
    s.push_str("\n| --- |");
    s.push_str(&" --- |".repeat(paths.len()));
    s.push('\n');
    for t in &trackers {
        let _ = write!(s, "| {} |", t.name);
        for p in paths {
            let l = cells
                .iter()
                .find(|c| c.tracker.name == t.name && c.path == p.name)
                .map_or("n/a".into(), Cell::label);
            let _ = write!(s, " {l} |");
        }
        s.push('\n');
    }
    s.push_str(
        "\n| tracker | tool | version | how it runs | truth |\n| --- | --- | --- | --- | --- |\n",
    );
    for t in &trackers {
        let ver = match (versions.get(t.tool), skipped.get(t.tool)) {
            (_, Some(why)) => format!("cannot run: {why}"),
            (Some(v), None) => v.clone(),
            _ => "?".into(),
        };
        let truth = match t.kind {
            Kind::Calls => "the ledger's malloc-family calls: their count and bytes asked",
            Kind::Live => "the ledger's malloc-family blocks live while held",
            Kind::Mapping => "the ledger's mapped growth while held (+ SysV segments)",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {ver} | {} | {truth} |",
            t.name, t.tool, t.how
        );
    }
    s
}

/// The heat map's data for gnuplot: `X<TAB>Y<TAB>CODE<TAB>PATH<TAB>TRACKER<TAB>LABEL`
/// a cell, CODE the class's place in `Class::ALL` (skipped: -1; n/a, a
/// tracker that paths.tsv does not run on the path: -2).
pub fn heat(paths: &[Path], cells: &[Cell]) -> String {
    let trackers: Vec<&Tracker> = TRACKERS
        .iter()
        .filter(|t| cells.iter().any(|c| c.tracker.name == t.name))
        .collect();
    let mut s = String::new();
    for (y, t) in trackers.iter().enumerate() {
        for (x, p) in paths.iter().enumerate() {
            let Some(c) = cells
                .iter()
                .find(|c| c.tracker.name == t.name && c.path == p.name)
            else {
                // not run on this path by choice (paths.tsv's TRACKERS)
                let _ = writeln!(s, "{x}\t{y}\t-2\t{}\t{}\tn/a", p.name, t.name);
                continue;
            };
            let (code, label) = match (&c.skipped, c.class()) {
                (Some(_), _) | (None, None) => (-1, "skipped".to_string()),
                (None, Some(cl)) => (
                    Class::ALL
                        .iter()
                        .position(|&k| k == cl)
                        .map_or(-1, |i| i as i64),
                    short(c),
                ),
            };
            let _ = writeln!(s, "{x}\t{y}\t{code}\t{}\t{}\t{label}", p.name, t.name);
        }
    }
    s
}

/// A cell's label in the heat map: the class, and the byte difference.
fn short(c: &Cell) -> String {
    let cl = c.class().map_or("", Class::as_str);
    let d = c.main_run().and_then(|m| {
        m.why
            .split_whitespace()
            .next()
            .filter(|w| w.starts_with(['+', '-']))
            .map(str::to_string)
    });
    match d {
        Some(d) => format!("{cl}\\n{d}"),
        None => cl.to_string(),
    }
}

/// The expected-results files a scoreboard CSV makes: `TOOL-VERSION.csv` ->
/// its `tracker,path,class` rows (skipped cells left out).
pub fn expected_files(csv_text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let f: Vec<&str> = rec.iter().collect();
        let [path, tracker, tool, version, _, class, ..] = f[..] else {
            return Err("scoreboard.csv: too few columns".into());
        };
        if class == "skipped" || class == "not run" {
            continue;
        }
        let e = files
            .entry(format!("{tool}-{version}.csv"))
            .or_insert_with(|| "tracker,path,class\n".into());
        let _ = writeln!(e, "{tracker},{path},{class}");
    }
    Ok(files)
}

/// What a check of a scoreboard against an expected file found for a cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Same,
    Differs { expected: String },
    NotExpected,
}

/// A check's verdicts (`tracker`, `path`, class found, verdict) and the
/// expected cells that the scoreboard does not have (`tracker path`).
pub type Checked = (Vec<(String, String, String, Verdict)>, Vec<String>);

/// Compares the scoreboard CSV's classes with an expected file's: a verdict
/// for every cell of `tool` in the CSV, and the expected cells that are not in
/// the CSV.
pub fn check(csv_text: &str, expected_text: &str, tool: &str) -> Result<Checked, String> {
    let mut exp: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut r = csv::Reader::from_reader(expected_text.as_bytes());
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let (Some(t), Some(p), Some(c)) = (rec.get(0), rec.get(1), rec.get(2)) else {
            return Err("expected file: rows of tracker,path,class".into());
        };
        exp.insert((t.into(), p.into()), c.into());
    }
    let mut out = vec![];
    let mut seen = vec![];
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let h = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .ok_or(format!("scoreboard.csv has no {n} column"))
    };
    let (ip, it, itool, ic) = (col("path")?, col("tracker")?, col("tool")?, col("class")?);
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        if &rec[itool] != tool || &rec[ic] == "skipped" {
            continue;
        }
        let key = (rec[it].to_string(), rec[ip].to_string());
        let got = rec[ic].to_string();
        let v = match exp.get(&key) {
            Some(e) if *e == got => Verdict::Same,
            Some(e) => Verdict::Differs {
                expected: e.clone(),
            },
            None => Verdict::NotExpected,
        };
        seen.push(key.clone());
        out.push((key.0, key.1, got, v));
    }
    let missing = exp
        .keys()
        .filter(|k| !seen.contains(k))
        .map(|(t, p)| format!("{t} {p}"))
        .collect();
    Ok((out, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(per_call: u64, mmap: u64, brk: u64) -> Truth {
        Truth {
            per_call,
            completed: 1,
            calls: 1,
            call_bytes: per_call,
            live_blocks: 1,
            live_bytes: per_call,
            held_bytes: mmap + brk,
            ..Default::default()
        }
    }

    /// A report of `entries`: `(call, args, ret, errno, mapped_bytes,
    /// sysv_bytes, start in ms)`, one process, the first repeat.
    fn report(entries: &[(&str, &str, &str, &str, i64, i64, u64)]) -> String {
        ledger_of(
            &entries
                .iter()
                .map(|&(c, a, r, e, m, v, t)| (7, 7, c, a, r, e, m, v, t))
                .collect::<Vec<_>>(),
        )
    }
    #[allow(clippy::type_complexity)]
    fn ledger_of(entries: &[(u64, u64, &str, &str, &str, &str, i64, i64, u64)]) -> String {
        let es: Vec<String> = entries
            .iter()
            .map(|&(pid, tid, call, args, ret, errno, mapped, sysv, ms)| {
                let kind = if ["malloc", "calloc", "realloc", "free", "memalign", "aligned_alloc", "fork"].contains(&call) {
                    "libc"
                } else {
                    "syscall"
                };
                format!(
                    r#"{{"repeat":1,"pid":{pid},"tid":{tid},"call":"{call}","kind":"{kind}","args":{{{args}}},"ret":{ret},"errno":{errno},"start_ns":{},"mapped_bytes":{mapped},"sysv_bytes":{sysv}}}"#,
                    ms * 1_000_000
                )
            })
            .collect();
        format!(
            r#"{{"pid":7,"allocator_bytes":8192,"completed":1,"failed_repeat":null,"ledger":[{}]}}"#,
            es.join(",")
        )
    }
    fn class_of(kind: Kind, bytes: u64, json: &str) -> (Class, String) {
        classify(kind, &r(bytes, None), &Truth::from_json(json).unwrap())
    }

    #[test]
    fn truth_from_the_ledger_mmap_wl() {
        let map = r#""addr":"0x0","length":8192,"flags":"MAP_PRIVATE|MAP_ANONYMOUS""#;
        // fixed: the overlay maps nothing new; held: 8192
        let fixed = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            (
                "mmap",
                r#""addr":"0x2000","length":4096,"flags":"MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS""#,
                r#""0x2000""#,
                "null",
                0,
                0,
                1,
            ),
            (
                "munmap",
                r#""addr":"0x1000","length":8192"#,
                "0",
                "null",
                -8192,
                0,
                101,
            ),
        ]);
        let t = Truth::from_json(&fixed).unwrap();
        assert_eq!(
            (t.held_bytes, t.calls, t.call_bytes, t.live_bytes),
            (8192, 0, 0, 0)
        );
        assert_eq!(class_of(Kind::Mapping, 8192, &fixed).0, Class::Exact);
        let (c, why) = class_of(Kind::Mapping, 12288, &fixed);
        assert_eq!(c, Class::Double, "{why}");
        assert!(why.starts_with("+4096 B: the MAP_FIXED mmap"), "{why}");
        // a heap tracker that hooks mmap (memleak) sees the mapping as a block
        let (c, why) = classify(Kind::Live, &r(8192, Some(1)), &t);
        assert_eq!(c, Class::Noise, "{why}");
        assert!(why.contains("own mmap"), "{why}");
        // mremap-move: the reservation replaced
        let mv = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            ("mmap", map, r#""0x4000""#, "null", 8192, 0, 1),
            (
                "mremap",
                r#""old_address":"0x1000","old_size":8192,"new_size":8192"#,
                r#""0x4000""#,
                "null",
                -8192,
                0,
                2,
            ),
            (
                "munmap",
                r#""addr":"0x4000","length":8192"#,
                "0",
                "null",
                -8192,
                0,
                102,
            ),
        ]);
        assert_eq!(Truth::from_json(&mv).unwrap().held_bytes, 8192);
        assert_eq!(class_of(Kind::Mapping, 16384, &mv).0, Class::Double);
        // mremap-grow: held 2 x SIZE; a tracker of mmap lengths misses the growth
        let grow = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            (
                "mremap",
                r#""old_address":"0x1000","old_size":8192,"new_size":16384"#,
                r#""0x4000""#,
                "null",
                8192,
                0,
                1,
            ),
            (
                "munmap",
                r#""addr":"0x4000","length":16384"#,
                "0",
                "null",
                -16384,
                0,
                101,
            ),
        ]);
        let (c, why) = class_of(Kind::Mapping, 8192, &grow);
        assert_eq!(
            (c, why.as_str()),
            (Class::Missed, "-8192 B: mremap's growth not seen")
        );
        // unmap-middle: one page given back before the hold
        let mid = report(&[
            (
                "mmap",
                r#""addr":"0x0","length":12288"#,
                r#""0x1000""#,
                "null",
                12288,
                0,
                0,
            ),
            (
                "munmap",
                r#""addr":"0x2000","length":4096"#,
                "0",
                "null",
                -4096,
                0,
                1,
            ),
            (
                "munmap",
                r#""addr":"0x1000","length":4096"#,
                "0",
                "null",
                -4096,
                0,
                101,
            ),
            (
                "munmap",
                r#""addr":"0x3000","length":4096"#,
                "0",
                "null",
                -4096,
                0,
                102,
            ),
        ]);
        assert_eq!(Truth::from_json(&mid).unwrap().held_bytes, 8192);
        assert_eq!(class_of(Kind::Mapping, 12288, &mid).0, Class::Noise);
        // fail-eexist: the failed mmap counted is a phantom
        let fail = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            (
                "mmap",
                r#""addr":"0x1000","length":8192,"flags":"MAP_FIXED_NOREPLACE""#,
                "null",
                r#""EEXIST""#,
                0,
                0,
                1,
            ),
            (
                "munmap",
                r#""addr":"0x1000","length":8192"#,
                "0",
                "null",
                -8192,
                0,
                101,
            ),
        ]);
        assert_eq!(class_of(Kind::Mapping, 8192, &fail).0, Class::Exact);
        let (c, why) = class_of(Kind::Mapping, 16384, &fail);
        assert_eq!(
            (c, why.as_str()),
            (Class::Phantom, "+8192 B: the failed mmap (EEXIST) counted")
        );
        let (c, why) = classify(
            Kind::Live,
            &r(16384, Some(2)),
            &Truth::from_json(&fail).unwrap(),
        );
        assert_eq!(c, Class::Phantom, "{why}");
        // no hold in the ledger: up to the peak
        let nohold = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            (
                "munmap",
                r#""addr":"0x1000","length":8192"#,
                "0",
                "null",
                -8192,
                0,
                1,
            ),
        ]);
        assert_eq!(Truth::from_json(&nohold).unwrap().held_bytes, 8192);
    }

    #[test]
    fn truth_from_the_ledger_brk_and_shm() {
        let cycles = report(&[
            ("brk", r#""addr":"0x0""#, r#""0x10000""#, "null", 0, 0, 0),
            (
                "brk",
                r#""addr":"0x12000""#,
                r#""0x12000""#,
                "null",
                8192,
                0,
                1,
            ),
            (
                "brk",
                r#""addr":"0x10000""#,
                r#""0x10000""#,
                "null",
                -8192,
                0,
                2,
            ),
            (
                "brk",
                r#""addr":"0x12000""#,
                r#""0x12000""#,
                "null",
                8192,
                0,
                3,
            ),
            (
                "brk",
                r#""addr":"0x10000""#,
                r#""0x10000""#,
                "null",
                -8192,
                0,
                4,
            ),
            (
                "brk",
                r#""addr":"0x12000""#,
                r#""0x12000""#,
                "null",
                8192,
                0,
                5,
            ),
            (
                "brk",
                r#""addr":"0x10000""#,
                r#""0x10000""#,
                "null",
                -8192,
                0,
                105,
            ),
        ]);
        assert_eq!(Truth::from_json(&cycles).unwrap().held_bytes, 8192);
        let (c, why) = class_of(Kind::Mapping, 24576, &cycles);
        assert_eq!(c, Class::Double);
        assert!(why.ends_with("(2 times)"), "{why}");
        // sysv-same-key: one segment (its shmat mapping not counted again)
        let same = report(&[
            (
                "shmget",
                r#""key":"0x40","size":8192"#,
                "5",
                "null",
                0,
                8192,
                0,
            ),
            (
                "shmget",
                r#""key":"0x40","size":8192"#,
                "5",
                "null",
                0,
                0,
                1,
            ),
            ("shmat", r#""shmid":5"#, r#""0x1000""#, "null", 8192, 0, 2),
            ("shmdt", r#""shmaddr":"0x1000""#, "0", "null", -8192, 0, 102),
            (
                "shmctl",
                r#""shmid":5,"cmd":"IPC_RMID""#,
                "0",
                "null",
                0,
                -8192,
                103,
            ),
        ]);
        assert_eq!(Truth::from_json(&same).unwrap().held_bytes, 8192);
        assert_eq!(class_of(Kind::Mapping, 8192, &same).0, Class::Exact);
        let (c, why) = class_of(Kind::Mapping, 16384, &same);
        assert_eq!(c, Class::Double);
        assert!(why.contains("second shmget"), "{why}");
    }

    #[test]
    fn truth_from_the_ledger_malloc_family_and_forks() {
        // realloc from 1 MiB to 4 MiB: 2 calls, 5 MiB asked, 4 MiB live
        let re = report(&[
            (
                "malloc",
                r#""size":1048576"#,
                r#""0x1010""#,
                "null",
                1187840,
                0,
                0,
            ),
            (
                "realloc",
                r#""ptr":"0x1010","size":4194304"#,
                r#""0x9010""#,
                "null",
                3145728,
                0,
                1,
            ),
            (
                "free",
                r#""ptr":"0x9010""#,
                "null",
                "null",
                -4198400,
                0,
                101,
            ),
        ]);
        let t = Truth::from_json(&re).unwrap();
        assert_eq!((t.calls, t.call_bytes), (2, 5 << 20));
        assert_eq!(
            (t.live_blocks, t.live_bytes, t.held_bytes),
            (1, 4 << 20, 4333568)
        );
        let (c, why) = classify(Kind::Live, &r(5246976, Some(2)), &t);
        assert_eq!(c, Class::Double, "{why}");
        let (c, why) = class_of(Kind::Mapping, 1187840, &re);
        assert_eq!(c, Class::Missed);
        assert!(why.contains("mremap"), "{why}");
        // calloc: nmemb x size; aligned_alloc seen twice (memalign and
        // aligned_alloc at one address)
        let al = report(&[
            (
                "calloc",
                r#""nmemb":4,"size":16"#,
                r#""0x1010""#,
                "null",
                135168,
                0,
                0,
            ),
            (
                "aligned_alloc",
                r#""alignment":64,"size":262144"#,
                r#""0x9040""#,
                "null",
                266240,
                0,
                1,
            ),
            ("free", r#""ptr":"0x9040""#, "null", "null", -266240, 0, 101),
        ]);
        let t = Truth::from_json(&al).unwrap();
        assert_eq!((t.calls, t.call_bytes, t.live_bytes), (2, 262208, 262208));
        let twice = classify(Kind::Calls, &r(2 * 262208, Some(4)), &t);
        assert_eq!(twice.0, Class::Double);
        assert_eq!(
            t.heap_calls,
            [
                ("calloc".to_owned(), 64),
                ("aligned_alloc".to_owned(), 262144)
            ]
        );
        // A tracker that lists block sizes (heaptrack's histogram) names what
        // it missed and what it saw besides: here an unhooked aligned_alloc
        // and a stranger's 72704-byte block.
        let ht = "calls to allocation functions: 2 (1000/s)\nhistogram 64 1\nhistogram 72704 1\n";
        let (c, why) = classify(Kind::Calls, &heaptrack(ht).unwrap(), &t);
        assert_eq!(
            (c, why.as_str()),
            (
                Class::Missed,
                "-189440 B; not seen: aligned_alloc of 262144 B; besides: 72704 B"
            )
        );
        let ht = "calls to allocation functions: 3 (1000/s)\nhistogram 64 1\nhistogram 72704 1\nhistogram 262144 1\n";
        let (c, why) = classify(Kind::Calls, &heaptrack(ht).unwrap(), &t);
        assert_eq!(
            (c, why.as_str()),
            (Class::Noise, "+72704 B, +1 calls; besides: 72704 B")
        );
        let ht = "calls to allocation functions: 2 (1000/s)\nhistogram 64 1\nhistogram 262144 1\n";
        assert_eq!(
            classify(Kind::Calls, &heaptrack(ht).unwrap(), &t),
            (Class::Exact, String::new())
        );
        // --fork: the child's calls; the bytes on the parent are misattributed
        let fork = ledger_of(&[
            (7, 7, "fork", "", "8", "null", 0, 0, 0),
            (8, 8, "fork", "", "0", "null", 0, 0, 1),
            (
                8,
                8,
                "malloc",
                r#""size":262144"#,
                r#""0x1010""#,
                "null",
                401408,
                0,
                2,
            ),
            (
                8,
                8,
                "free",
                r#""ptr":"0x1010""#,
                "null",
                "null",
                -266240,
                0,
                102,
            ),
        ]);
        let t = Truth::from_json(&fork).unwrap();
        assert_eq!(
            (t.pids.clone(), t.held_bytes, t.calls),
            (vec![8], 401408, 1)
        );
        let mut seen = Reading {
            by_pid: vec![(7, 0, Some(0)), (8, 262144, Some(1))],
            calls: Some(1),
            ..Default::default()
        };
        seen.attribute(&t.pids);
        assert_eq!(classify(Kind::Calls, &seen, &t).0, Class::Exact);
        let mut wrong = Reading {
            by_pid: vec![(7, 262144, Some(1)), (8, 0, Some(0))],
            calls: Some(1),
            ..Default::default()
        };
        wrong.attribute(&t.pids);
        let (c, why) = classify(Kind::Calls, &wrong, &t);
        assert_eq!(c, Class::Misattributed, "{why}");
        // memtrack: the null run comes off the parent, the child as it is
        let m = memtrack(
            "exit pid=8 comm=malloc-wl user=401408\nexit pid=7 comm=malloc-wl user=3000000\n",
            "exit pid=6 comm=malloc-wl user=3000000\n",
            7,
        )
        .unwrap();
        assert_eq!(m.by_pid, [(8, 401408, None), (7, 0, None)]);
        // memcheck with a child: a summary each
        let mc = "==8== total heap usage: 1 allocs, 1 frees, 262,144 bytes allocated\n==7== total heap usage: 0 allocs, 0 frees, 0 bytes allocated\n";
        let c = memcheck(mc).unwrap();
        assert_eq!(c.by_pid, [(8, 262144, Some(1)), (7, 0, Some(0))]);
    }
    fn r(bytes: u64, calls: Option<u64>) -> Reading {
        Reading {
            bytes,
            calls,
            ..Default::default()
        }
    }

    #[test]
    fn memtracks_first_brk_from_zero_is_a_phantom() {
        // A non-PIE process: its first brk counted the break's address; the
        // null run's own (another address) stays out of what comes off.
        let m = memtrack(
            "exit pid=7 comm=malloc-wl user=963276443 mmap=3849883 brk=959426560 first_brk=959291392\n",
            "exit pid=6 comm=malloc-wl user=856059419 mmap=3849883 brk=852209536 first_brk=852209536\n",
            7,
        )
        .unwrap();
        assert_eq!(m.from_zero_brk, 959291392);
        assert_eq!(m.bytes, 959426560);
        let heap = report(&[("malloc", r#""size":1"#, r#""0x1000""#, "null", 135168, 0, 0)]);
        let t = Truth::from_json(&heap).unwrap();
        let (c, why) = classify(Kind::Mapping, &m, &t);
        assert_eq!(
            (c, why.as_str()),
            (
                Class::Phantom,
                "+959291392 B: the first brk counted from a break of 0 (the heap's address)"
            )
        );
        // A PIE's first brk is dropped (over 10^12): nothing from zero, exact.
        let pie = memtrack(
            "exit pid=9 comm=malloc-wl user=3985051 mmap=3849883 brk=135168 first_brk=0\n",
            "exit pid=8 comm=malloc-wl user=3849883 mmap=3849883 brk=0 first_brk=0\n",
            9,
        )
        .unwrap();
        assert_eq!(classify(Kind::Mapping, &pie, &t).0, Class::Exact);
        // memtrack-pid's summary line says the same
        let raw = "@@ tracker\nuser=135168 mmap=0 brk=135168 first_brk=0 shm=0\n135168\n";
        let by_pid = reading(tracker("memtrack-pid").unwrap(), &sections(raw)).unwrap();
        assert_eq!((by_pid.bytes, by_pid.from_zero_brk), (135168, 0));
    }

    #[test]
    fn paths_and_selection() {
        let p = read_paths("# name\tworkload\targs\ttrackers\nm-1\tmalloc-wl\t1\tall\nb-4\tbytearray-wl\t--touch 4096\tmapping,-strace\n").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].trackers.len(), TRACKERS.len());
        assert_eq!(p[1].args, ["--touch", "4096"]);
        assert_eq!(
            p[1].trackers,
            ["memtrack", "memtrack-pid", "maps", "massif-pages"]
        );
        assert_eq!(
            select("heap-bt,live").unwrap(),
            ["heap-bt", "memleak-p", "memleak-c", "massif"]
        );
        assert!(select("nosuch").is_err());
        assert!(read_paths("a\tmalloc-wl\t1\n").is_err());
        assert!(read_paths("a\tm\t1\tall\na\tm\t2\tall\n").is_err());
        let plan = plan(&p, 2, Some(&["strace"]));
        assert_eq!(plan, "strace\trun-strace.sh\texec\tm-1.1\tmalloc-wl\t1\nstrace\trun-strace.sh\texec\tm-1.2\tmalloc-wl\t1\n");
    }

    #[test]
    fn raw_files_and_readers() {
        let raw = "@@ status\n0\n@@ json\n{\"a\":1}\n@@ tracker\nexit pid=7 comm=malloc-wl user=4251291 mmap=1\n@@ null-tracker\nexit pid=6 comm=malloc-wl user=3849883 mmap=1\n";
        let s = sections(raw);
        assert_eq!(s["status"], "0\n");
        let t = tracker("memtrack").unwrap();
        assert_eq!(reading(t, &s).unwrap().bytes, 401408);
        assert_eq!(
            user_figure(
                "Attaching 9 probes...\nready\nuser=401408 mmap=266240 brk=135168\n401408\n"
            )
            .unwrap(),
            401408
        );
        let ml = "Attaching to pid 5, Ctrl+C to quit.\n[10:00:00] Top 10 stacks with outstanding allocations:\n\t7 bytes in 1 allocations from stack\n[10:00:01] Top 10 stacks with outstanding allocations:\n\t266240 bytes in 1 allocations from stack\n\t\t0x1 sysmalloc\n\t1,024 bytes in 2 allocations from stack\n";
        assert_eq!(memleak(ml).unwrap(), r(267264, Some(3)));
        assert!(memleak("Attaching to pid 5").is_err());
        let ht = "total runtime: 0.00s.\ncalls to allocation functions: 2 (1000/s)\ntotal memory leaked: 0B\nhistogram 72704 1\nhistogram 262144 1\n";
        let h = heaptrack(ht).unwrap();
        assert_eq!((h.bytes, h.calls), (334848, Some(2)));
        let ms = "snapshot=0\nmem_heap_B=0\nmem_heap_extra_B=0\nsnapshot=1\nmem_heap_B=262144\nmem_heap_extra_B=8\nheap_tree=peak\nsnapshot=2\nmem_heap_B=0\nmem_heap_extra_B=0\n";
        let m = massif(ms).unwrap();
        assert_eq!((m.bytes, m.note.as_str()), (262144, "extra 8 B"));
        let mc = "==1== HEAP SUMMARY:\n==1==     in use at exit: 0 bytes in 0 blocks\n==1==   total heap usage: 1 allocs, 1 frees, 1,048,576 bytes allocated\n";
        let c = memcheck(mc).unwrap();
        assert_eq!((c.bytes, c.calls), (1048576, Some(1)));
        assert!(c.note.contains("in use at exit 0 bytes in 0 blocks"));
        assert_eq!(
            heap_bt("call=malloc pid=1 tid=1 size=5 ret=0x1\nexit pid=1 calls=1 bytes=5 frees=1\n")
                .unwrap(),
            r(5, Some(1))
        );
    }

    #[test]
    fn truth_from_json() {
        let j = r#"{"allocator_bytes":262144,"completed":1,"failed_repeat":null,"served_by":"mmap","mmap_bytes":266240,"brk_growth_bytes":135168}"#;
        let t = Truth::from_json(j).unwrap();
        assert_eq!(t.expect(Kind::Calls), (262144, Some(1)));
        assert_eq!(t.expect(Kind::Live), (262144, Some(1)));
        assert_eq!(t.expect(Kind::Mapping), (401408, None));
        let f = Truth::from_json(
            r#"{"allocator_bytes":9,"completed":2,"failed_repeat":3,"mmap_bytes":null}"#,
        )
        .unwrap();
        assert_eq!((f.failed, f.held_bytes), (1, 0));
        assert!(Truth::from_json("{}").is_err());
    }

    #[test]
    fn classes() {
        let t = truth(262144, 266240, 135168);
        assert_eq!(
            classify(Kind::Calls, &r(262144, Some(1)), &t).0,
            Class::Exact
        );
        assert_eq!(
            classify(Kind::Mapping, &r(401408, None), &t).0,
            Class::Exact
        );
        // memleak reports glibc's mmap length for the block
        let (c, why) = classify(Kind::Live, &r(266240, Some(1)), &t);
        assert_eq!(
            (c, why.as_str()),
            (
                Class::Rounded,
                "+4096 B: glibc's mmap of the chunk (header, page rounding)"
            )
        );
        // heaptrack's preload pulls in libstdc++'s 72704-byte pool
        let (c, why) = classify(Kind::Calls, &r(334848, Some(2)), &t);
        assert_eq!((c, why.as_str()), (Class::Noise, "+72704 B, +1 calls"));
        // an attached mapping tracker that misses the heap's growth
        let (c, why) = classify(Kind::Mapping, &r(266240, None), &t);
        assert_eq!((c, why.as_str()), (Class::Missed, "-135168 B"));
        assert_eq!(classify(Kind::Calls, &r(0, Some(0)), &t).0, Class::Missed);
        assert_eq!(
            classify(Kind::Calls, &r(524288, Some(2)), &t).0,
            Class::Double
        );
        assert_eq!(
            classify(Kind::Calls, &r(262144 + 266240, Some(2)), &t).0,
            Class::Double
        );
        assert_eq!(
            classify(Kind::Calls, &r(262144, Some(3)), &t).0,
            Class::Noise
        );
        // a heap block of 1 byte is a 32-byte chunk
        let small = truth(1, 0, 135168);
        assert_eq!(
            classify(Kind::Live, &r(32, Some(1)), &small).0,
            Class::Rounded
        );
        // a failed call counted as an allocation
        let f = Truth {
            per_call: 100,
            completed: 2,
            failed: 1,
            calls: 2,
            call_bytes: 200,
            ..Default::default()
        };
        assert_eq!(
            classify(Kind::Calls, &r(300, Some(3)), &f).0,
            Class::Phantom
        );
        // the bytes on another pid
        let mut m = r(0, None);
        m.elsewhere = 401408;
        assert_eq!(classify(Kind::Mapping, &m, &t).0, Class::Misattributed);
        m.bytes = 1;
        assert_eq!(classify(Kind::Mapping, &m, &t).0, Class::Misattributed);
    }

    #[test]
    fn cells_versions_and_checks() {
        let t = tracker("heaptrack").unwrap();
        let run = |c| RunResult {
            class: c,
            why: String::new(),
            reading: Some(r(1, None)),
            want: 1,
            want_calls: None,
        };
        let cell = Cell {
            path: "m-1".into(),
            tracker: t,
            runs: vec![run(Class::Exact), run(Class::Noise), run(Class::Noise)],
            skipped: None,
        };
        assert_eq!(cell.class(), Some(Class::Noise));
        assert!(!cell.stable());
        let tie = Cell {
            runs: vec![run(Class::Exact), run(Class::Missed)],
            ..cell.clone()
        };
        assert_eq!(tie.class(), Some(Class::Missed));
        assert_eq!(version_number("bpftrace v0.17.0"), Some("0.17.0".into()));
        assert_eq!(version_number("valgrind-3.19.0"), Some("3.19.0".into()));
        assert_eq!(version_number("strace -- version 6.1"), Some("6.1".into()));
        assert_eq!(version_number("0.26.0+ds-1"), Some("0.26.0".into()));
        let (v, s) = read_versions("heaptrack\theaptrack 1.4.0\nmemleak\t-\tno headers\n");
        assert_eq!(
            (v["heaptrack"].as_str(), s["memleak"].as_str()),
            ("1.4.0", "no headers")
        );
        let csv_text = csv(&[cell], &v).unwrap();
        assert!(csv_text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("m-1,heaptrack,heaptrack,1.4.0,calls,noise,"));
        let (verdicts, missing) = check(
            &csv_text,
            "tracker,path,class\nheaptrack,m-1,exact\nheaptrack,m-2,exact\n",
            "heaptrack",
        )
        .unwrap();
        assert_eq!(
            verdicts[0].3,
            Verdict::Differs {
                expected: "exact".into()
            }
        );
        assert_eq!(missing, ["heaptrack m-2"]);
        let files = expected_files(&csv_text).unwrap();
        assert_eq!(
            files["heaptrack-1.4.0.csv"],
            "tracker,path,class\nheaptrack,m-1,noise\n"
        );
    }
}
