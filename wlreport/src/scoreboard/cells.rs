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
            if t.reader == "memcheck-log" && !r.note.contains("in use at exit 0 bytes") {
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
    pub tracker: Tracker,
    pub runs: Vec<RunResult>,
    /// Why the tracker did not run here (the cell is then skipped).
    pub skipped: Option<String>,
}

impl Cell {
    /// The class its runs had; `Unstable` when they did not all have the
    /// same (a majority decides nothing).
    pub fn class(&self) -> Option<Class> {
        let first = self.runs.first()?.class;
        if self.runs.iter().all(|r| r.class == first) {
            Some(first)
        } else {
            Some(Class::Unstable)
        }
    }
    /// The run whose reason the cell shows (the first, when unstable).
    pub fn main_run(&self) -> Option<&RunResult> {
        self.runs.first()
    }
    pub fn stable(&self) -> bool {
        self.runs
            .windows(2)
            .all(|w| w[0].class == w[1].class && w[0].reading == w[1].reading)
    }
    /// What the table shows: the class and the reason (each run's, when they
    /// disagree), or "skipped".
    pub fn label(&self) -> String {
        if self.skipped.is_some() {
            return "skipped".into();
        }
        match (self.class(), self.main_run()) {
            (Some(Class::Unstable), _) => {
                let runs: Vec<String> = self.runs.iter().map(RunResult::label).collect();
                format!("unstable [runs: {}]", runs.join("; "))
            }
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

impl RunResult {
    /// One run as an unstable cell shows it: its class and reason.
    pub fn label(&self) -> String {
        match self.why.as_str() {
            "" => self.class.as_str().to_string(),
            why => format!("{} ({why})", self.class.as_str()),
        }
    }
}

/// The cells of a scoreboard from the runners' files under `raw`:
/// `raw/TRACKER/PATH.REP.raw` a run, `raw/none/` the runs without a tracker
/// (whose `--json` is the truth), `raw/TRACKER/FAILED` why a runner failed,
/// `raw/TRACKER/SKIPPED` why its tracker cannot run here; `cannot_run`: the
/// tools the script found missing, and why. `only` keeps those trackers.
pub fn assemble(
    raw: &std::path::Path,
    paths: &[Path],
    reps: u32,
    trackers: &[Tracker],
    only: Option<&[String]>,
    cannot_run: &BTreeMap<String, String>,
) -> Vec<Cell> {
    let file = |t: &str, name: &str| std::fs::read_to_string(raw.join(t).join(name)).ok();
    let mut cells = vec![];
    for t in trackers
        .iter()
        .filter(|t| only.is_none_or(|o| o.contains(&t.name)))
    {
        let failed = file(&t.name, "FAILED");
        let skipped = cannot_run
            .get(&t.tool)
            .cloned()
            .or_else(|| file(&t.name, "SKIPPED").map(|s| s.trim().to_string()));
        for path in paths.iter().filter(|p| p.trackers.contains(&t.name)) {
            let mut cell = Cell {
                path: path.name.clone(),
                tracker: t.clone(),
                runs: vec![],
                skipped: skipped.clone(),
            };
            if cell.skipped.is_none() {
                for r in 1..=reps {
                    let id = format!("{}.{r}.raw", path.name);
                    let reference = file("none", &id)
                        .and_then(|s| sections(&s).remove("json"))
                        .filter(|j| !j.trim().is_empty());
                    cell.runs.push(match file(&t.name, &id) {
                        Some(text) => run_result(t, &text, reference.as_deref()),
                        None => RunResult {
                            class: Class::Failed,
                            why: failed
                                .as_deref()
                                .map_or("no output".into(), |f| f.trim().to_string()),
                            reading: None,
                            want: 0,
                            want_calls: None,
                        },
                    });
                }
            }
            cells.push(cell);
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn cells_from_a_raw_folder() {
        let raw = std::env::temp_dir().join(format!("wlreport-cells-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&raw);
        for t in ["none", "uprobes", "stacks-p", "syscalls"] {
            std::fs::create_dir_all(raw.join(t)).unwrap();
        }
        let json = report(&[
            ("malloc", r#""size":8192"#, r#""0x10""#, "null", 0, 0, 0),
            ("free", r#""ptr":"0x10""#, "null", "null", 0, 0, 100),
        ]);
        let run = |tracker: &str| format!("@@ status\n0\n@@ json\n{json}\n@@ tracker\n{tracker}");
        let write = |f: &str, text: &str| std::fs::write(raw.join(f), text).unwrap();
        write("none/p.1.raw", &run(""));
        write(
            "uprobes/p.1.raw",
            &run("exit pid=7 calls=1 bytes=8192 frees=1\n"),
        );
        write("stacks-p/SKIPPED", "no kernel headers\n");
        write("syscalls/FAILED", "it cannot attach\n");
        let d = defs();
        let paths = read_paths(
            "p\tmalloc-wl\t8192\tuprobes,stacks-p,syscalls,snapshots\n",
            &d,
        )
        .unwrap();
        let cannot = BTreeMap::from([("tool-e".to_string(), "not installed".to_string())]);
        let cells = assemble(&raw, &paths, 1, &d, None, &cannot);
        std::fs::remove_dir_all(&raw).unwrap();
        let got: Vec<(&str, String)> = cells
            .iter()
            .map(|c| (c.tracker.name.as_str(), c.label()))
            .collect();
        assert_eq!(
            got,
            [
                ("syscalls", "failed (it cannot attach)".to_string()),
                ("uprobes", "exact".to_string()),
                ("stacks-p", "skipped".to_string()),
                ("snapshots", "skipped".to_string()),
            ]
        );
        assert_eq!(cells[2].skipped.as_deref(), Some("no kernel headers"));
        assert_eq!(cells[3].skipped.as_deref(), Some("not installed"));
        // only the trackers asked for
        let only = assemble(&raw, &paths, 1, &d, Some(&["uprobes".to_string()]), &cannot);
        assert_eq!(only.len(), 1);
    }
}
