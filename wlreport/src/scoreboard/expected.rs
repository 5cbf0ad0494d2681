//! The expected files, and a scoreboard checked against them.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

/// The header of an expected file.
pub const EXPECTED_HEADER: &str = "tracker,path,class,diff,tolerance,why";

/// One expected cell: its class, its figure's difference from the truth
/// (none for a cell without a figure), and how far the figure may move
/// (0: exactly) with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub class: String,
    pub diff: Option<i128>,
    pub tolerance: u64,
    pub why: String,
}

impl Expected {
    /// Whether a cell of `class` whose figure is off by `diff` is this one.
    pub fn holds(&self, class: &str, diff: Option<i128>) -> bool {
        class == self.class
            && match (self.diff, diff) {
                (Some(e), Some(d)) => (e - d).unsigned_abs() <= u128::from(self.tolerance),
                (e, d) => e == d,
            }
    }

    pub fn show(&self) -> String {
        match self.diff {
            Some(d) if self.tolerance > 0 => format!("{} {d:+} ±{}", self.class, self.tolerance),
            Some(d) => format!("{} {d:+}", self.class),
            None => self.class.clone(),
        }
    }
}

/// A cell of a scoreboard CSV as the expected files see it:
/// `(tool-version file, tracker, path, class, diff)`.
type Found = (String, String, String, String, Option<i128>);

fn cells(csv_text: &str) -> Result<Vec<Found>, String> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let h = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .ok_or(format!("scoreboard.csv has no {n} column"))
    };
    let [ip, it, itool, iv, ic, ifig, itruth] = [
        "path",
        "tracker",
        "tool",
        "version",
        "class",
        "figure_bytes",
        "truth_bytes",
    ]
    .map(col);
    let (ip, it, itool, iv, ic, ifig, itruth) = (ip?, it?, itool?, iv?, ic?, ifig?, itruth?);
    let mut out = vec![];
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let num = |i: usize| rec[i].parse::<i128>().ok();
        let diff = num(ifig).zip(num(itruth)).map(|(f, t)| f - t);
        out.push((
            format!("{}-{}.csv", &rec[itool], &rec[iv]),
            rec[it].to_string(),
            rec[ip].to_string(),
            rec[ic].to_string(),
            diff,
        ));
    }
    Ok(out)
}

/// Reads an expected file: `tracker,path` -> the expected cell. A file of
/// the older form (`tracker,path,class`) holds classes only.
pub fn read_expected(text: &str) -> Result<BTreeMap<(String, String), Expected>, String> {
    let mut exp = BTreeMap::new();
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let (Some(t), Some(p), Some(c)) = (rec.get(0), rec.get(1), rec.get(2)) else {
            return Err(format!("expected file: rows of {EXPECTED_HEADER}"));
        };
        let bad = |what: &str| format!("expected file: {t},{p}: {what} is not a number");
        let diff = match rec.get(3).unwrap_or("") {
            "" => None,
            d => Some(d.parse().map_err(|_| bad("diff"))?),
        };
        let tolerance = match rec.get(4).unwrap_or("") {
            "" => 0,
            v => v.parse().map_err(|_| bad("tolerance"))?,
        };
        let e = Expected {
            class: c.into(),
            diff,
            tolerance,
            why: rec.get(5).unwrap_or("").into(),
        };
        exp.insert((t.into(), p.into()), e);
    }
    Ok(exp)
}

/// The expected-results files a scoreboard CSV makes: `TOOL-VERSION.csv` ->
/// each cell's class and figure's difference from the truth. From `old`, the
/// files as they were, a cell keeps its tolerance (and why), and a cell this
/// run skipped keeps what was expected of it.
pub fn expected_files(
    csv_text: &str,
    old: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut kept: BTreeMap<String, BTreeMap<(String, String), Expected>> = BTreeMap::new();
    for (name, text) in old {
        kept.insert(name.clone(), read_expected(text)?);
    }
    for (file, tracker, path, class, mut diff) in cells(csv_text)? {
        let before = kept
            .get(&file)
            .and_then(|k| k.get(&(tracker.clone(), path.clone())));
        // A cell this run could not make keeps what was expected of it.
        let class = match (class.as_str(), before) {
            ("skipped" | "not run", Some(b)) => {
                diff = b.diff;
                b.class.clone()
            }
            ("skipped" | "not run", None) => continue,
            _ => class,
        };
        let (tolerance, why) = before.map_or((0, String::new()), |e| (e.tolerance, e.why.clone()));
        let e = files
            .entry(file)
            .or_insert_with(|| format!("{EXPECTED_HEADER}\n"));
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(vec![]);
        let diff = diff.map_or(String::new(), |d| format!("{d:+}"));
        w.write_record([tracker, path, class, diff, tolerance.to_string(), why])
            .map_err(|e| e.to_string())?;
        e.push_str(&String::from_utf8_lossy(
            &w.into_inner().map_err(|e| e.to_string())?,
        ));
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

/// A check's verdicts (`tracker`, `path`, what was found, verdict) and the
/// expected cells that the scoreboard does not have (`tracker path`).
pub type Checked = (Vec<(String, String, String, Verdict)>, Vec<String>);

/// Compares the scoreboard CSV's cells of `tool` with an expected file's: a
/// verdict for every cell of `tool` in the CSV (its class, and its figure
/// within the tolerance), and the expected cells that are not in the CSV.
pub fn check(csv_text: &str, expected_text: &str, tool: &str) -> Result<Checked, String> {
    let exp = read_expected(expected_text)?;
    let mut out = vec![];
    let mut seen = vec![];
    for (file, tracker, path, class, diff) in cells(csv_text)? {
        if !file.starts_with(&format!("{tool}-")) || class == "skipped" {
            continue;
        }
        let key = (tracker, path);
        let got = match diff {
            Some(d) => format!("{class} {d:+}"),
            None => class.clone(),
        };
        let v = match exp.get(&key) {
            Some(e) if e.holds(&class, diff) => Verdict::Same,
            Some(e) => Verdict::Differs { expected: e.show() },
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

/// Checks a scoreboard CSV against the expected files in `dir`, a line a
/// cell: `[verdict, TOOL-VERSION, tracker, path, class, expected]`, verdict
/// one of `same`, `differs`, `new`, `gone` (expected, not in the CSV) and
/// `no-file` (no expected file for a tool's version). `trackers`: the
/// user-space ones; the kernel cells' tools are known here, and a tracker of
/// the contract's (its own name) from the CSV's `tool` column.
pub fn check_dir(
    csv_text: &str,
    dir: &std::path::Path,
    trackers: &[Tracker],
) -> Result<Vec<[String; 6]>, String> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let itool = r
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .position(|c| c == "tool")
        .ok_or("scoreboard.csv has no tool column")?;
    let in_csv: BTreeSet<String> = r
        .records()
        .filter_map(|rec| Some(rec.ok()?.get(itool)?.to_string()))
        .collect();
    let tools: Vec<&str> = trackers
        .iter()
        .map(|t| t.tool.as_str())
        .chain([crate::kpaths::TRACKER.1, crate::kleaks::TRACKER.1])
        .chain(in_csv.iter().map(String::as_str))
        .collect();
    let mut out = vec![];
    for name in expected_files(csv_text, &BTreeMap::new())?.keys() {
        let tv = name.trim_end_matches(".csv");
        // the longest that fits: a tool's name may hold a '-'
        let tool = tools
            .iter()
            .filter(|t| tv.strip_prefix(**t).is_some_and(|r| r.starts_with('-')))
            .max_by_key(|t| t.len())
            .ok_or_else(|| format!("{tv}: a tool this does not know"))?;
        let Ok(exp) = std::fs::read_to_string(dir.join(name)) else {
            out.push([
                "no-file".into(),
                tv.into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
            ]);
            continue;
        };
        let (verdicts, gone) = check(csv_text, &exp, tool).map_err(|e| format!("{name}: {e}"))?;
        for (tracker, path, got, v) in verdicts {
            let (what, e) = match v {
                Verdict::Same => ("same", got.clone()),
                Verdict::Differs { expected } => ("differs", expected),
                Verdict::NotExpected => ("new", String::new()),
            };
            out.push([what.into(), tv.into(), tracker, path, got, e]);
        }
        for g in gone {
            let (t, p) = g.split_once(' ').unwrap_or((&g, ""));
            out.push([
                "gone".into(),
                tv.into(),
                t.into(),
                p.into(),
                "".into(),
                "".into(),
            ]);
        }
    }
    Ok(out)
}
