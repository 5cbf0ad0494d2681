//! `wlreport load` (called by `scripts/load.sh`): what each tracker loses
//! and costs under load, from rate-wl runs made through the trackers'
//! runners, each beside the same run without a tracker (docs/load.md).
//!
//! The plan is a line a tracked run: `TRACKER RUNNER MODE ID BIN ARG...
//! SIZES`; the run's raw file is `raw/TRACKER/ID.raw`, the untracked one's
//! `raw/TRACKER/ID.none.raw`.

use crate::scoreboard::{reading, sections, Kind, Tracker};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use wlmodel::Report;

/// A rate of the plan: calls a second (each thread's), or as fast as it can.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rate {
    PerSec(u64),
    Max,
}

impl Rate {
    /// `1k`, `10k`, `100k`, `1M`, `500`, `2G` (powers of 1000, an optional
    /// `/s`) or `max`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let t = s.trim();
        if t == "max" {
            return Ok(Rate::Max);
        }
        let t = t.strip_suffix("/s").unwrap_or(t);
        let (digits, mult) = match t.char_indices().last() {
            Some((i, 'k')) => (&t[..i], 1_000),
            Some((i, 'M')) => (&t[..i], 1_000_000),
            Some((i, 'G')) => (&t[..i], 1_000_000_000),
            _ => (t, 1),
        };
        let bad = || format!("a rate is calls a second (1k, 10k, 1M, 500) or max, not '{s}'");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)) {
            Some(n) if n > 0 => Ok(Rate::PerSec(n)),
            _ => Err(bad()),
        }
    }
    /// The run's label: `1k`, `1M`, `1500`, `max`.
    pub fn label(&self) -> String {
        match *self {
            Rate::Max => "max".into(),
            Rate::PerSec(n) => {
                for (m, u) in [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")] {
                    if n % m == 0 {
                        return format!("{}{u}", n / m);
                    }
                }
                n.to_string()
            }
        }
    }
}

/// What the plan runs.
#[derive(Clone, Debug)]
pub struct Spec {
    pub rates: Vec<Rate>,
    pub threads: Vec<u64>,
    /// rate-wl's `--duration` of a run at a rate.
    pub duration: String,
    /// rate-wl's `--calls` (each thread's) of a run at `max`.
    pub max_calls: u64,
    /// rate-wl's SIZES.
    pub size: String,
    /// The rate-wl binary.
    pub bin: String,
}

/// Whether the tracker's reading counts the workload's calls: a tracker of
/// kind calls, or a live one that counts blocks (memleak's outstanding
/// allocations, a contract's `live_blocks`), run with `--leak` so that every
/// allocation is outstanding.
pub fn counts_calls(t: &Tracker) -> bool {
    match t.kind {
        Kind::Calls => true,
        Kind::Live => ["bcc-outstanding-stacks", "contract"].contains(&t.reader.as_str()),
        Kind::Mapping => false,
    }
}

/// The trackers of the plan: `only` (names, from `scoreboard::select`), or
/// every tracker that counts calls.
pub fn chosen<'a>(
    defs: &'a [Tracker],
    only: Option<&[String]>,
) -> Result<Vec<&'a Tracker>, String> {
    let mut out = vec![];
    for t in defs {
        match only {
            Some(o) if !o.contains(&t.name) => continue,
            Some(_) if !counts_calls(t) => {
                return Err(format!(
                    "{} counts no calls (kind {}, reader {}): it cannot be held to the calls made",
                    t.name,
                    t.kind.as_str(),
                    t.reader
                ))
            }
            None if !counts_calls(t) => continue,
            _ => out.push(t),
        }
    }
    if out.is_empty() {
        return Err("no tracker to run".into());
    }
    Ok(out)
}

/// The plan: a tracked run a line, `TRACKER RUNNER MODE ID BIN ARG... SIZES`
/// (tab-separated), tracker by tracker, threads, then rates in order.
pub fn plan(trackers: &[&Tracker], s: &Spec) -> String {
    let mut out = String::new();
    for t in trackers {
        for &n in &s.threads {
            for r in &s.rates {
                let mut args = vec!["--rate".to_string(), r.label()];
                match r {
                    Rate::Max => args.extend(["--calls".into(), s.max_calls.to_string()]),
                    Rate::PerSec(_) => args.extend(["--duration".into(), s.duration.clone()]),
                }
                if n > 1 {
                    args.extend(["--threads".into(), n.to_string()]);
                }
                if t.kind == Kind::Live {
                    args.push("--leak".into());
                }
                args.push(s.size.clone());
                let id = format!("{}-t{n}", r.label());
                let _ = writeln!(
                    out,
                    "{}\t{}\t{}\t{id}\t{}\t{}",
                    t.name,
                    t.runner,
                    t.mode,
                    s.bin,
                    args.join("\t")
                );
            }
        }
    }
    out
}

/// One line of the plan, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub tracker: String,
    pub id: String,
    pub rate: Rate,
    pub threads: u64,
}

pub fn read_plan(text: &str) -> Result<Vec<Planned>, String> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let at = |e: &str| format!("plan line {}: {e}", n + 1);
        if f.len() < 6 {
            return Err(at("not TRACKER RUNNER MODE ID BIN ARGS..."));
        }
        let arg = |name: &str| f.iter().position(|a| *a == name).and_then(|i| f.get(i + 1));
        let rate =
            Rate::parse(arg("--rate").ok_or_else(|| at("no --rate"))?).map_err(|e| at(&e))?;
        let threads = match arg("--threads") {
            Some(t) => t.parse().map_err(|_| at("bad --threads"))?,
            None => 1,
        };
        out.push(Planned {
            tracker: f[0].into(),
            id: f[3].into(),
            rate,
            threads,
        });
    }
    Ok(out)
}

/// What one run of rate-wl did, from its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Made {
    pub allocs: u64,
    pub elapsed_ns: u64,
    /// Calls a second, each thread's.
    pub achieved: u64,
    pub threads: u64,
}

impl Made {
    /// From rate-wl's report (`rate`), or kmalloc-test's in its rate mode
    /// (`kernel_rate`).
    pub fn of(json: &str) -> Result<Made, String> {
        let r = Report::parse(json).map_err(|e| format!("the workload's report: {e}"))?;
        match (r.rate, r.kernel_rate) {
            (Some(rate), _) => Ok(Made {
                allocs: rate.allocs,
                elapsed_ns: rate.elapsed_ns,
                achieved: rate.achieved,
                threads: rate.threads,
            }),
            (None, Some(k)) => Ok(Made {
                allocs: k.allocs,
                elapsed_ns: k.elapsed_ns,
                achieved: k.achieved,
                threads: k.threads,
            }),
            (None, None) => Err(
                "the report has no rate object (neither rate-wl's nor kmalloc-test --rate's)"
                    .into(),
            ),
        }
    }
    /// A thread's wall time a call: its loop's time over its calls.
    pub fn ns_per_call(&self) -> Option<f64> {
        (self.allocs > 0).then(|| self.elapsed_ns as f64 * self.threads as f64 / self.allocs as f64)
    }
}

/// The events a tracker says it lost: bpftrace's "Lost N events", bcc's
/// "Possibly lost N samples", summed; `None` when it said nothing of it.
pub fn reported_lost(text: &str) -> Option<u64> {
    let mut sum = None;
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        let n = w.windows(3).find_map(|w| match w {
            ["Lost", n, "events"] | ["lost", n, "samples"] => n.parse::<u64>().ok(),
            _ => None,
        });
        if let Some(n) = n {
            sum = Some(sum.unwrap_or(0) + n);
        }
    }
    sum
}

/// heap.bt's call lines printed for the run, and its `lines=` counts (the
/// lines the probes made, counted in the kernel) when its exit line came:
/// (printed, made). `before` is the call lines `compact` took out.
pub fn lines_printed(text: &str, before: u64) -> Option<(u64, Option<u64>)> {
    let made: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("exit pid="))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("lines=")?.parse::<u64>().ok())
        })
        .collect();
    let printed = before + text.lines().filter(|l| l.starts_with("call=")).count() as u64;
    let made = (!made.is_empty()).then(|| made.iter().sum());
    (made.is_some() || printed > 0).then_some((printed, made))
}

/// A raw file without heap.bt's call lines (two a call: millions at a high
/// rate), their count kept instead in a section `@@ call-lines`, which is
/// all the table reads of them; `None` when there are none to take out.
pub fn compact(text: &str) -> Option<String> {
    let (mut out, mut dropped, mut before, mut section) = (String::new(), 0u64, 0u64, "");
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@@ ") {
            section = name.trim();
            if section == "call-lines" {
                continue;
            }
        } else if section == "call-lines" {
            before += line.trim().parse::<u64>().unwrap_or(0);
            continue;
        } else if section == "tracker" && line.starts_with("call=") {
            dropped += 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if dropped == 0 {
        return None;
    }
    let _ = writeln!(out, "@@ call-lines\n{}", before + dropped);
    Some(out)
}

/// The tracker's own usage (runner-lib.sh's `tracker-usage` section).
pub fn usage(text: &str) -> Option<(u64, u64)> {
    let get = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse::<u64>().ok())
    };
    Some((get("cpu_ns")?, get("peak_rss_bytes")?))
}

/// A row of the table: one tracker at one rate and thread count.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub tracker: String,
    pub rate: Rate,
    pub threads: u64,
    /// The run and the run alone, or why there is no row to show.
    pub result: Result<Measured, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The calls the workload made (rate-wl's `allocs`): the truth.
    pub made: u64,
    /// The calls the tracker counted.
    pub counted: u64,
    /// Why the tracker gave no figure for the run (it then counted 0): its
    /// output lost the line that carries it, say.
    pub no_figure: Option<String>,
    pub reported_lost: Option<u64>,
    pub lines: Option<(u64, Option<u64>)>,
    pub tracked: Made,
    pub alone: Made,
    pub tracker_usage: Option<(u64, u64)>,
}

impl Measured {
    /// The share of the calls made that the tracker did not count (0 when it
    /// counted them all, or more: glibc's or the tracker's own calls).
    pub fn loss(&self) -> f64 {
        if self.made == 0 {
            return 0.0;
        }
        self.made.saturating_sub(self.counted) as f64 / self.made as f64
    }
    /// Whether it lost calls and said nothing of it.
    pub fn silent(&self) -> bool {
        self.counted < self.made && self.reported_lost.unwrap_or(0) == 0
    }
    /// What the tracker adds to a call, in ns of a thread's wall time.
    pub fn cost_ns(&self) -> Option<f64> {
        Some(self.tracked.ns_per_call()? - self.alone.ns_per_call()?)
    }
    pub fn ratio(&self) -> Option<f64> {
        let a = self.alone.ns_per_call()?;
        (a > 0.0).then(|| self.tracked.ns_per_call().unwrap_or(0.0) / a)
    }
    /// The tracker's CPU time over the calls made.
    pub fn tracker_cpu_per_call(&self) -> Option<f64> {
        let (cpu, _) = self.tracker_usage?;
        (self.made > 0).then(|| cpu as f64 / self.made as f64)
    }
}

/// The row of one planned run from its raw files (`None` when missing).
pub fn row(t: &Tracker, p: &Planned, tracked: Option<&str>, alone: Option<&str>) -> Row {
    let result = (|| {
        let tracked = tracked.ok_or("no raw file: the run was not made")?;
        let alone = alone.ok_or("no raw file of the run alone")?;
        let (s, a) = (sections(tracked), sections(alone));
        let status = |s: &BTreeMap<String, String>| {
            s.get("status").map_or("?".into(), |v| v.trim().to_string())
        };
        if status(&a) != "0" {
            return Err(format!("the run alone exited with status {}", status(&a)));
        }
        let alone = Made::of(a.get("json").map_or("", String::as_str))?;
        let made = Made::of(s.get("json").map_or("", String::as_str))?;
        if status(&s) != "0" {
            return Err(format!("the tracked run exited with status {}", status(&s)));
        }
        let (counted, no_figure) = match reading(t, &s) {
            Ok(r) => (
                r.calls
                    .ok_or("the tracker's reading has no count of calls")?,
                None,
            ),
            Err(e) => (0, Some(e)),
        };
        let text = |n: &str| s.get(n).map_or("", String::as_str);
        let lost = [text("tracker"), text("tracker-stderr")]
            .iter()
            .filter_map(|t| reported_lost(t))
            .reduce(|a, b| a + b);
        Ok(Measured {
            made: made.allocs,
            counted,
            no_figure,
            reported_lost: lost,
            lines: lines_printed(
                text("tracker"),
                text("call-lines").trim().parse().unwrap_or(0),
            ),
            tracked: made,
            alone,
            tracker_usage: usage(text("tracker-usage")),
        })
    })();
    Row {
        tracker: t.name.clone(),
        rate: p.rate.clone(),
        threads: p.threads,
        result,
    }
}

/// Every row of the plan, from `raw/TRACKER/ID.raw` and `ID.none.raw`; a
/// run without a result takes its reason from `ID.failed` (the runner's last
/// line) or the tracker's `SKIPPED` or `FAILED`.
pub fn rows(defs: &[Tracker], plan: &[Planned], raw: &Path) -> Result<Vec<Row>, String> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let mut out = vec![];
    for p in plan {
        let t = defs.iter().find(|t| t.name == p.tracker).ok_or_else(|| {
            format!(
                "the plan names '{}', which the definitions do not",
                p.tracker
            )
        })?;
        let dir = raw.join(&p.tracker);
        let mut r = row(
            t,
            p,
            read(&dir.join(format!("{}.raw", p.id))).as_deref(),
            read(&dir.join(format!("{}.none.raw", p.id))).as_deref(),
        );
        if r.result.is_err() {
            let own = format!("{}.failed", p.id);
            for (f, what) in [
                ("SKIPPED", "skipped"),
                ("FAILED", "failed"),
                (own.as_str(), "failed"),
            ] {
                if let Some(why) = read(&dir.join(f)) {
                    r.result = Err(format!("{what}: {}", why.trim()));
                }
            }
        }
        out.push(r);
    }
    Ok(out)
}

fn f1(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.1}"))
}
fn f2(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.2}"))
}
fn opt(v: Option<u64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

pub const CSV_HEADER: &str = "tracker,threads,rate,made,counted,loss,reported_lost,silent,no_figure,lines_printed,lines_made,achieved_alone,achieved_tracked,ns_per_call_alone,ns_per_call_tracked,cost_ns_per_call,ratio,tracker_cpu_ns,tracker_cpu_ns_per_call,tracker_peak_rss_bytes,error";

pub fn csv(rows: &[Row]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(CSV_HEADER.split(','))
        .map_err(|e| e.to_string())?;
    for r in rows {
        let mut f = vec![r.tracker.clone(), r.threads.to_string(), r.rate.label()];
        match &r.result {
            Ok(m) => f.extend([
                m.made.to_string(),
                m.counted.to_string(),
                format!("{:.6}", m.loss()),
                opt(m.reported_lost),
                (if m.silent() { "yes" } else { "no" }).into(),
                m.no_figure.clone().unwrap_or_default(),
                opt(m.lines.map(|l| l.0)),
                opt(m.lines.and_then(|l| l.1)),
                m.alone.achieved.to_string(),
                m.tracked.achieved.to_string(),
                f1(m.alone.ns_per_call()),
                f1(m.tracked.ns_per_call()),
                f1(m.cost_ns()),
                f2(m.ratio()),
                opt(m.tracker_usage.map(|u| u.0)),
                f1(m.tracker_cpu_per_call()),
                opt(m.tracker_usage.map(|u| u.1)),
                String::new(),
            ]),
            Err(e) => {
                f.extend(std::iter::repeat_n(String::new(), 17));
                f.push(e.clone());
            }
        }
        w.write_record(&f).map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// `0`, `0.12%`, `37.5%`.
fn pct(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v < 0.0001 {
        format!("{:.4}%", v * 100.0)
    } else {
        format!("{:.2}%", v * 100.0)
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

/// Per tracker and thread count: the first rate at which it lost calls
/// (silent or reported), or none up to the last rate run; the first at which
/// it counted over 1% more than was made (a few more are the process's own
/// calls, glibc's or a thread's; more is the tracker's); and its cost a call
/// at the last rate (the highest: max, where it runs unpaced).
pub fn summary(rows: &[Row]) -> Vec<String> {
    let mut keys: Vec<(&str, u64)> = vec![];
    for r in rows {
        if !keys.contains(&(r.tracker.as_str(), r.threads)) {
            keys.push((&r.tracker, r.threads));
        }
    }
    let mut out = vec![];
    for (t, n) in keys {
        let mine: Vec<&Row> = rows
            .iter()
            .filter(|r| r.tracker == t && r.threads == n)
            .collect();
        let ok: Vec<(&Row, &Measured)> = mine
            .iter()
            .filter_map(|r| Some((*r, r.result.as_ref().ok()?)))
            .collect();
        let threads = if n == 1 {
            "1 thread".to_string()
        } else {
            format!("{n} threads")
        };
        let Some(&(last, lm)) = ok.last() else {
            let why = mine
                .first()
                .and_then(|r| r.result.as_ref().err())
                .cloned()
                .unwrap_or_default();
            out.push(format!("{t}, {threads}: no run ({why})"));
            continue;
        };
        let loses = match ok.iter().find(|(_, m)| m.counted < m.made) {
            Some((r, m)) => format!(
                "loses from {} calls/s ({} of the calls, {})",
                r.rate.label(),
                pct(m.loss()),
                if m.silent() {
                    "silently".to_string()
                } else {
                    format!("reported: {} lost", m.reported_lost.unwrap_or(0))
                }
            ),
            None => format!("loses none up to {}", last.rate.label()),
        };
        let over = match ok.iter().find(|(_, m)| m.counted > m.made + m.made / 100) {
            Some((r, m)) => format!(
                "; counts more than made from {} calls/s ({} for {})",
                r.rate.label(),
                m.counted,
                m.made
            ),
            None => String::new(),
        };
        let cost = match lm.cost_ns() {
            Some(c) => format!(
                "{c:.0} ns a call at {} ({}x)",
                last.rate.label(),
                f2(lm.ratio())
            ),
            None => "no cost measured".into(),
        };
        let failed = mine.len() - ok.len();
        let failed = if failed > 0 {
            format!("; {failed} runs failed")
        } else {
            String::new()
        };
        out.push(format!(
            "{t}, {threads}: {loses}{over}; costs {cost}{failed}"
        ));
    }
    out
}

/// How each tracker of `defs` ran, for the table: its name, and a line.
pub fn how(defs: &[Tracker]) -> Vec<(String, String)> {
    defs.iter()
        .map(|t| {
            (
                t.name.clone(),
                format!("{} (kind {})", t.how, t.kind.as_str()),
            )
        })
        .collect()
}

/// The table (load.md); `how` says how each tracker ran ([`how`]).
pub fn markdown(rows: &[Row], how: &[(String, String)]) -> String {
    let mut s = String::from(
        "| tracker | threads | rate | calls made | counted | loss | lost, as reported | lines printed | calls/s alone → tracked | ns a call alone → tracked | cost ns a call | ratio | tracker CPU ns a call | tracker peak RSS |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let head = format!("| {} | {} | {} ", r.tracker, r.threads, r.rate.label());
        match &r.result {
            Ok(m) => {
                let lost = match (m.reported_lost, m.silent()) {
                    (Some(n), _) => format!("{n} events"),
                    (None, true) => "silent".into(),
                    (None, false) => String::new(),
                };
                let lines = match m.lines {
                    Some((p, Some(l))) => format!("{p} of {l}"),
                    Some((p, None)) => format!("{p} of ?"),
                    None => String::new(),
                };
                let counted = match &m.no_figure {
                    Some(why) => format!("0 (no figure: {})", why.replace('|', "/")),
                    None => m.counted.to_string(),
                };
                let _ = writeln!(
                    s,
                    "{head}| {} | {counted} | {} | {lost} | {lines} | {} → {} | {} → {} | {} | {} | {} | {} |",
                    m.made,
                    pct(m.loss()),
                    m.alone.achieved,
                    m.tracked.achieved,
                    f1(m.alone.ns_per_call()),
                    f1(m.tracked.ns_per_call()),
                    f1(m.cost_ns()),
                    f2(m.ratio()),
                    f1(m.tracker_cpu_per_call()),
                    m.tracker_usage.map_or(String::new(), |u| mib(u.1)),
                );
            }
            Err(e) => {
                let _ = writeln!(s, "{head}| {} |{}", e.replace('|', "/"), " |".repeat(10));
            }
        }
    }
    s.push('\n');
    for l in summary(rows) {
        let _ = writeln!(s, "- {l}");
    }
    s.push_str("\nHow each tracker ran:\n\n");
    let mut seen = vec![];
    for r in rows {
        if seen.contains(&&r.tracker) {
            continue;
        }
        seen.push(&r.tracker);
        if let Some((name, line)) = how.iter().find(|(n, _)| *n == r.tracker) {
            let _ = writeln!(s, "- {name}: {line}");
        }
    }
    s
}

/// gnuplot's data: a block a (tracker, threads), its title first, then
/// `RATE VALUE` lines; a run at max is placed at the calls a second it made
/// alone. `value` picks loss or cost.
pub fn plot_data(rows: &[Row], value: fn(&Measured) -> Option<f64>) -> String {
    let mut out = String::new();
    let mut blocks = vec![];
    let mut keys: Vec<(&str, u64)> = vec![];
    for r in rows {
        if !keys.contains(&(r.tracker.as_str(), r.threads)) {
            keys.push((&r.tracker, r.threads));
        }
    }
    for (t, n) in keys {
        let mut pts: Vec<(u64, f64)> = rows
            .iter()
            .filter(|r| r.tracker == t && r.threads == n)
            .filter_map(|r| {
                let m = r.result.as_ref().ok()?;
                let x = match r.rate {
                    Rate::PerSec(x) => x,
                    Rate::Max => m.alone.achieved,
                };
                Some((x, value(m)?))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by_key(|p| p.0);
        let _ = writeln!(out, "\"{t}, {n} thread{}\"", if n == 1 { "" } else { "s" });
        for (x, y) in pts {
            let _ = writeln!(out, "{x} {y:.6}");
        }
        blocks.push(std::mem::take(&mut out));
    }
    // two blank lines between blocks (gnuplot's index), none after the last
    blocks.join("\n\n")
}

/// Every file the table command writes in OUT, by name: `NAME.csv`,
/// `NAME.md` (NAME `load`, or `kload` for the kernel's), and the plots' data.
pub fn files(
    name: &str,
    rows: &[Row],
    how: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    Ok(vec![
        (format!("{name}.csv"), csv(rows)?),
        (format!("{name}.md"), markdown(rows, how)),
        ("loss.dat".into(), plot_data(rows, |m| Some(m.loss()))),
        ("cost.dat".into(), plot_data(rows, Measured::cost_ns)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(name: &str, kind: Kind, reader: &str) -> Tracker {
        Tracker {
            name: name.into(),
            tool: "t".into(),
            runner: "run-x.sh".into(),
            mode: "m".into(),
            kind,
            per_process: false,
            reader: reader.into(),
            how: "how".into(),
        }
    }

    fn json(allocs: u64, elapsed_ns: u64, achieved: u64, threads: u64) -> String {
        format!(
            r#"{{"workload":"rate-wl","path":"malloc","pid":7,"requested_bytes":64,"allocator_bytes":64,"repeat":1,"ledger_version":1,"ledger":[],"completed":{allocs},"rate":{{"sizes":"64","seed":1,"unit":"calls/s","target":1000,"threads":{threads},"live":1,"ledger":"summary","interval_ns":100000000,"intervals":[],"histogram":[],"allocs":{allocs},"frees":{allocs},"bytes":0,"freed_bytes":0,"failures":0,"final_frees":1,"elapsed_ns":{elapsed_ns},"achieved":{achieved}}},"error":null}}"#
        )
    }

    #[test]
    fn rates_parse_and_label() {
        assert_eq!(Rate::parse("1k").unwrap(), Rate::PerSec(1000));
        assert_eq!(Rate::parse("1M/s").unwrap(), Rate::PerSec(1_000_000));
        assert_eq!(Rate::parse("500").unwrap(), Rate::PerSec(500));
        assert_eq!(Rate::parse("max").unwrap(), Rate::Max);
        for bad in ["", "0", "k", "1.5k", "-1", "10MB/s", "99999999999G"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Rate::PerSec(100_000).label(), "100k");
        assert_eq!(Rate::PerSec(1500).label(), "1500");
        assert_eq!(Rate::PerSec(2_000_000).label(), "2M");
    }

    #[test]
    fn the_plan_runs_live_trackers_leaking_and_max_by_calls() {
        let defs = [
            tracker("heap-bt", Kind::Calls, "bpftrace-exit-lines"),
            tracker("memleak-p", Kind::Live, "bcc-outstanding-stacks"),
            tracker("massif", Kind::Live, "massif-out"),
            tracker("maps", Kind::Mapping, "bpftrace-peak-line"),
        ];
        let all = chosen(&defs, None).unwrap();
        assert_eq!(
            all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["heap-bt", "memleak-p"]
        );
        assert!(chosen(&defs, Some(&["massif".into()]))
            .unwrap_err()
            .contains("counts no calls"));
        let s = Spec {
            rates: vec![Rate::PerSec(1000), Rate::Max],
            threads: vec![1, 2],
            duration: "1s".into(),
            max_calls: 5000,
            size: "64".into(),
            bin: "/b/rate-wl".into(),
        };
        let p = plan(&all, &s);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines.len(), 8);
        assert_eq!(
            lines[0],
            "heap-bt\trun-x.sh\tm\t1k-t1\t/b/rate-wl\t--rate\t1k\t--duration\t1s\t64"
        );
        assert_eq!(lines[3], "heap-bt\trun-x.sh\tm\tmax-t2\t/b/rate-wl\t--rate\tmax\t--calls\t5000\t--threads\t2\t64");
        assert!(lines[4].ends_with("--duration\t1s\t--leak\t64"));
        let back = read_plan(&p).unwrap();
        assert_eq!(
            back[3],
            Planned {
                tracker: "heap-bt".into(),
                id: "max-t2".into(),
                rate: Rate::Max,
                threads: 2
            }
        );
    }

    #[test]
    fn lost_events_lines_and_usage() {
        assert_eq!(
            reported_lost("ready\nLost 12 events\nx\nLost 3 events\n"),
            Some(15)
        );
        assert_eq!(reported_lost("Possibly lost 7 samples\n"), Some(7));
        assert_eq!(reported_lost("ready\nexit pid=1 calls=2\n"), None);
        let t = "call=malloc pid=1 tid=1 size=64 ret=0x1\ncall=free pid=1 tid=1 ptr=0x1\nexit pid=1 calls=3 bytes=192 frees=3 lines=6\n";
        assert_eq!(lines_printed(t, 0), Some((2, Some(6))));
        assert_eq!(
            lines_printed("call=free pid=1 tid=1 ptr=0x1\n", 0),
            Some((1, None))
        );
        // compacted: the count kept, the lines gone, the figure the same
        let raw = format!("@@ status\n0\n@@ tracker\n{t}@@ tracker-stderr\nLost 2 events\n");
        let c = compact(&raw).unwrap();
        assert!(!c.contains("call=") && c.ends_with("@@ call-lines\n2\n"));
        assert!(c.contains("exit pid=1 calls=3") && c.contains("Lost 2 events"));
        let sec = sections(&c);
        assert_eq!(
            lines_printed(&sec["tracker"], sec["call-lines"].trim().parse().unwrap()),
            Some((2, Some(6)))
        );
        assert_eq!(compact(&c), None);
        // a call line left over is added to the count kept
        let more = c.replace(
            "@@ tracker\n",
            "@@ tracker\ncall=free pid=1 tid=1 ptr=0x2\n",
        );
        assert!(compact(&more).unwrap().ends_with("@@ call-lines\n3\n"));
        assert_eq!(lines_printed("bytes 5\n", 0), None);
        assert_eq!(
            usage("cpu_ns=2500000 peak_rss_bytes=4096\n"),
            Some((2_500_000, 4096))
        );
        assert_eq!(usage(""), None);
    }

    #[test]
    fn a_row_holds_the_count_to_the_calls_made() {
        let t = tracker("heap-bt", Kind::Calls, "bpftrace-exit-lines");
        let p = Planned {
            tracker: "heap-bt".into(),
            id: "1k-t1".into(),
            rate: Rate::PerSec(1000),
            threads: 1,
        };
        // 1000 calls made; the tracker counted 900 and said nothing of it
        let tracked = format!(
            "@@ status\n0\n@@ json\n{}\n@@ tracker\nexit pid=7 calls=900 bytes=1 frees=900 lines=1800\n@@ tracker-usage\ncpu_ns=3000000 peak_rss_bytes=1048576\n",
            json(1000, 1_200_000_000, 833, 1)
        );
        let alone = format!(
            "@@ status\n0\n@@ json\n{}\n@@ tracker\n",
            json(1000, 1_000_000_000, 1000, 1)
        );
        let r = row(&t, &p, Some(&tracked), Some(&alone));
        let m = r.result.as_ref().unwrap();
        assert_eq!((m.made, m.counted), (1000, 900));
        assert!((m.loss() - 0.1).abs() < 1e-12);
        assert!(m.silent());
        // a thread's wall time a call: 1.2 ms against 1 ms
        assert_eq!(m.tracked.ns_per_call(), Some(1_200_000.0));
        assert_eq!(m.cost_ns(), Some(200_000.0));
        assert_eq!(m.ratio(), Some(1.2));
        assert_eq!(m.tracker_cpu_per_call(), Some(3000.0));
        // reported: not silent; more counted than made (glibc's own): no loss
        let said = tracked.replace(
            "@@ tracker-usage",
            "@@ tracker-stderr\nLost 100 events\n@@ tracker-usage",
        );
        let m2 = row(&t, &p, Some(&said), Some(&alone)).result.unwrap();
        assert_eq!(m2.reported_lost, Some(100));
        assert!(!m2.silent());
        let more = tracked.replace("calls=900", "calls=1003");
        let m3 = row(&t, &p, Some(&more), Some(&alone)).result.unwrap();
        assert_eq!((m3.loss(), m3.silent()), (0.0, false));
        // two threads: each thread's time a call
        let two = Made::of(&json(2000, 1_000_000_000, 1000, 2)).unwrap();
        assert_eq!(two.ns_per_call(), Some(1_000_000.0));
        // no reading, no alone run, a failed run: a row with the reason
        assert!(row(&t, &p, None, Some(&alone))
            .result
            .unwrap_err()
            .contains("not made"));
        let bad = tracked.replace("@@ status\n0", "@@ status\n3");
        assert!(row(&t, &p, Some(&bad), Some(&alone))
            .result
            .unwrap_err()
            .contains("status 3"));
        // no figure (heap.bt's exit line lost): it counted nothing, said so
        let none = tracked.replace("exit pid=7", "nothing").replace(
            "@@ tracker-usage",
            "@@ tracker-stderr\nLost 9 events\n@@ tracker-usage",
        );
        let m4 = row(&t, &p, Some(&none), Some(&alone)).result.unwrap();
        assert_eq!((m4.counted, m4.loss(), m4.silent()), (0, 1.0, false));
        assert!(m4.no_figure.unwrap().contains("no exit line"));
    }

    #[test]
    fn tables_summary_and_plot_data() {
        let t = tracker("heap-bt", Kind::Calls, "bpftrace-exit-lines");
        let mk = |rate: Rate, counted: u64, tracked_ns: u64| Row {
            tracker: "heap-bt".into(),
            rate,
            threads: 1,
            result: Ok(Measured {
                made: 1000,
                counted,
                no_figure: None,
                reported_lost: None,
                lines: None,
                tracked: Made {
                    allocs: 1000,
                    elapsed_ns: tracked_ns,
                    achieved: 900,
                    threads: 1,
                },
                alone: Made {
                    allocs: 1000,
                    elapsed_ns: 1_000_000,
                    achieved: 1_000_000,
                    threads: 1,
                },
                tracker_usage: None,
            }),
        };
        let rows = vec![
            mk(Rate::PerSec(1000), 1000, 1_000_000),
            mk(Rate::PerSec(10_000), 990, 1_000_000),
            mk(Rate::Max, 1000, 3_000_000),
        ];
        let s = summary(&rows);
        assert_eq!(s, ["heap-bt, 1 thread: loses from 10k calls/s (1.00% of the calls, silently); costs 2000 ns a call at max (3.00x)"]);
        let clean = vec![mk(Rate::PerSec(1000), 1000, 1_000_000)];
        assert!(summary(&clean)[0].contains("loses none up to 1k"));
        // a few more than made are the process's own calls; over 1% more is
        // the tracker's count
        let few = vec![mk(Rate::PerSec(1000), 1010, 1_000_000)];
        assert!(
            !summary(&few)[0].contains("counts more"),
            "{:?}",
            summary(&few)
        );
        let over = vec![
            mk(Rate::PerSec(1000), 1000, 1_000_000),
            mk(Rate::Max, 1750, 3_000_000),
        ];
        assert_eq!(summary(&over), ["heap-bt, 1 thread: loses none up to max; counts more than made from max calls/s (1750 for 1000); costs 2000 ns a call at max (3.00x)"]);
        let md = markdown(&rows, &how(std::slice::from_ref(&t)));
        assert!(md.contains("| heap-bt | 1 | 10k | 1000 | 990 | 1.00% | silent |"));
        assert!(md.contains("- heap-bt: how (kind calls)"));
        let csv = csv(&rows).unwrap();
        assert_eq!(csv.lines().count(), 4);
        assert!(csv
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("heap-bt,1,10k,1000,990,0.010000,,yes,,"));
        // max is placed at the rate it made alone
        let d = plot_data(&rows, |m| Some(m.loss()));
        assert_eq!(
            d,
            "\"heap-bt, 1 thread\"\n1000 0.000000\n10000 0.010000\n1000000 0.000000\n"
        );
    }
}
