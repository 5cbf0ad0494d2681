//! The scoreboard's outputs: the CSV of cells, the markdown table, the heat
//! map's data, and the tools' versions they name.

use super::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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
        let t = &c.tracker;
        let ver = versions.get(&t.tool).cloned().unwrap_or_default();
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
            t.name.clone(),
            t.tool.clone(),
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

/// The trackers of the cells, in the order their cells come.
fn trackers_of(cells: &[Cell]) -> Vec<&Tracker> {
    let mut ts: Vec<&Tracker> = vec![];
    for c in cells {
        if !ts.iter().any(|t| t.name == c.tracker.name) {
            ts.push(&c.tracker);
        }
    }
    ts
}

/// The markdown: a row a tracker, a column a path, then the trackers' versions.
pub fn markdown(
    paths: &[Path],
    cells: &[Cell],
    versions: &BTreeMap<String, String>,
    skipped: &BTreeMap<String, String>,
) -> String {
    let trackers = trackers_of(cells);
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
        "\n| tracker | tool | version | how it runs | truth | per process |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for t in &trackers {
        let ver = match (versions.get(&t.tool), skipped.get(&t.tool)) {
            (_, Some(why)) => format!("cannot run: {why}"),
            (Some(v), None) => v.clone(),
            _ => "?".into(),
        };
        let truth = match t.kind {
            Kind::Calls => "the ledger's malloc-family calls: their count and bytes asked",
            Kind::Live => "the ledger's malloc-family blocks live while held",
            Kind::Mapping => "the ledger's mapped growth while held (+ SysV segments)",
        };
        // Only a tracker that reports each process apart can put a figure on
        // the wrong one where it can be seen (misattributed).
        let apart = if t.per_process {
            "yes"
        } else {
            "no: one figure for the run"
        };
        let _ = writeln!(
            s,
            "| {} | {} | {ver} | {} | {truth} | {apart} |",
            t.name, t.tool, t.how
        );
    }
    s
}

/// The heat map's data for gnuplot: `X<TAB>Y<TAB>CODE<TAB>PATH<TAB>TRACKER<TAB>LABEL`
/// a cell, CODE the class's place in `Class::ALL` (skipped: -1; n/a, a
/// tracker that paths.tsv does not run on the path: -2).
pub fn heat(paths: &[Path], cells: &[Cell]) -> String {
    let trackers = trackers_of(cells);
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

/// The files of a scoreboard's table: `scoreboard.csv`, `scoreboard.md` and
/// the heat map's `heat.dat`, with their text.
pub fn files(
    paths: &[Path],
    cells: &[Cell],
    versions: &BTreeMap<String, String>,
    skipped: &BTreeMap<String, String>,
) -> Result<[(&'static str, String); 3], String> {
    Ok([
        ("scoreboard.csv", csv(cells, versions)?),
        ("scoreboard.md", markdown(paths, cells, versions, skipped)),
        ("heat.dat", heat(paths, cells)),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn cells_versions_and_checks() {
        let t = tracker("preload");
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
        // runs that disagree make their own class, whatever the majority
        assert_eq!(cell.class(), Some(Class::Unstable));
        assert!(!cell.stable());
        assert_eq!(cell.label(), "unstable [runs: exact; noise; noise]");
        let cell = Cell {
            runs: vec![run(Class::Noise), run(Class::Noise), run(Class::Noise)],
            ..cell
        };
        assert_eq!(cell.class(), Some(Class::Noise));
        assert_eq!(version_number("bpftrace v0.17.0"), Some("0.17.0".into()));
        assert_eq!(version_number("valgrind-3.19.0"), Some("3.19.0".into()));
        assert_eq!(version_number("strace -- version 6.1"), Some("6.1".into()));
        assert_eq!(version_number("0.26.0+ds-1"), Some("0.26.0".into()));
        let (v, s) = read_versions("tool-d\ttool-d 1.4.0\ntool-c\t-\tno headers\n");
        assert_eq!(
            (v["tool-d"].as_str(), s["tool-c"].as_str()),
            ("1.4.0", "no headers")
        );
        let csv_text = csv(&[cell], &v).unwrap();
        assert!(csv_text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("m-1,preload,tool-d,1.4.0,calls,noise,"));
        let (verdicts, missing) = check(
            &csv_text,
            "tracker,path,class\npreload,m-1,exact\npreload,m-2,exact\n",
            "tool-d",
        )
        .unwrap();
        assert_eq!(
            verdicts[0].3,
            Verdict::Differs {
                expected: "exact".into()
            }
        );
        assert_eq!(missing, ["preload m-2"]);
        let files = expected_files(&csv_text, &BTreeMap::new()).unwrap();
        assert_eq!(
            files["tool-d-1.4.0.csv"],
            "tracker,path,class,diff,tolerance,why\npreload,m-1,noise,+0,0,\n"
        );
        // the figure counts: a difference the file does not allow fails, one
        // within its tolerance passes; a tolerance is kept when made again
        let figure = |f: u64| csv_text.replace(",noise,,1,1,", &format!(",noise,,{f},1,"));
        let exp = "tracker,path,class,diff,tolerance,why\npreload,m-1,noise,+4096,0,\n";
        let v = |csv: &str, exp: &str| check(csv, exp, "tool-d").unwrap().0[0].3.clone();
        assert_eq!(v(&figure(4097), exp), Verdict::Same);
        assert_eq!(
            v(&figure(4098), exp),
            Verdict::Differs {
                expected: "noise +4096".into()
            }
        );
        let loose = "tracker,path,class,diff,tolerance,why\npreload,m-1,noise,+4096,10,it varies\n";
        assert_eq!(v(&figure(4107), loose), Verdict::Same);
        assert!(matches!(v(&figure(4108), loose), Verdict::Differs { .. }));
        let old = BTreeMap::from([("tool-d-1.4.0.csv".to_string(), loose.to_string())]);
        let again = expected_files(&figure(4097), &old).unwrap();
        assert_eq!(
            again["tool-d-1.4.0.csv"],
            "tracker,path,class,diff,tolerance,why\npreload,m-1,noise,+4096,10,it varies\n"
        );
        // A tool no definition names (a tracker of the contract in the
        // guest) is known by the CSV's tool column, its name the longest
        // that fits the file's ("tool-d-x", not "tool-d").
        let dir = std::env::temp_dir().join(format!("check-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let theirs = csv_text.replace(",preload,tool-d,", ",preload,tool-d-x,");
        std::fs::write(
            dir.join("tool-d-x-1.4.0.csv"),
            "tracker,path,class,diff,tolerance,why\npreload,m-1,noise,+0,0,\n",
        )
        .unwrap();
        let lines = check_dir(&theirs, &dir, &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0][..4], ["same", "tool-d-x-1.4.0", "preload", "m-1"]);
    }
}
