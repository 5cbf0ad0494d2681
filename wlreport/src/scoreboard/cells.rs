//! The cells: each run of a path under a tracker read and classed, over
//! its repetitions.

use super::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use wlmodel::Report;

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
            .and_then(|j| Report::parse(j).ok())
            .and_then(|r| r.error);
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
                .and_then(|j| Report::parse(j).ok())
                .map(|r| r.pids())
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
    pub fn main_run(&self) -> Option<&RunResult> {
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
