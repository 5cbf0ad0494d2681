//! The expected files, and a scoreboard checked against them.

use super::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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

/// Checks a scoreboard CSV against the expected files in `dir`, a line a
/// cell: `[verdict, TOOL-VERSION, tracker, path, class, expected]`, verdict
/// one of `same`, `differs`, `new`, `gone` (expected, not in the CSV) and
/// `no-file` (no expected file for a tool's version). `trackers`: the
/// user-space ones; the kernel cells' tools are known here.
pub fn check_dir(
    csv_text: &str,
    dir: &std::path::Path,
    trackers: &[Tracker],
) -> Result<Vec<[String; 6]>, String> {
    let tools: Vec<&str> = trackers
        .iter()
        .map(|t| t.tool.as_str())
        .chain([crate::kpaths::TRACKER.1, crate::kleaks::TRACKER.1])
        .collect();
    let mut out = vec![];
    for name in expected_files(csv_text)?.keys() {
        let tv = name.trim_end_matches(".csv");
        let tool = tools
            .iter()
            .find(|t| tv.strip_prefix(**t).is_some_and(|r| r.starts_with('-')))
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
