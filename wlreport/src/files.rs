//! The inputs as the scripts write them: each manifest (a line a run,
//! tab-separated) read into the typed rows of its table, the files it names
//! read with it. `main.rs` only handles the arguments.

use crate::{bench, overhead, paths, scoreboard};
use std::path::Path;

/// A file's text; an error names the file.
pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A console log's text: a guest's console may hold bytes that are not UTF-8.
pub fn read_console(path: &Path) -> Result<String, String> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The manifest's lines, split at tabs into `n` fields.
fn lines(manifest: &Path, n: usize) -> Result<Vec<Vec<String>>, String> {
    read(manifest)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<String> = line.split('\t').map(String::from).collect();
            if f.len() == n {
                Ok(f)
            } else {
                Err(format!("{}: not {n} fields: {line}", manifest.display()))
            }
        })
        .collect()
}

/// `paths`: `LABEL<TAB>REPORT-FILE` a line.
pub fn paths_rows(manifest: &Path) -> Result<Vec<paths::Row>, String> {
    lines(manifest, 2)?
        .iter()
        .map(|f| paths::row(&f[0], &read(Path::new(&f[1]))?))
        .collect()
}

/// `overhead`: `WORKLOAD<TAB>SIZE<TAB>BYTES<TAB>TRACKER<TAB>BASELINE.csv<TAB>TRACKED.csv`.
pub fn overhead_cells(manifest: &Path) -> Result<Vec<overhead::Cell>, String> {
    let timing = |path: &str| {
        overhead::parse_hyperfine(&read(Path::new(path))?).map_err(|e| format!("{path}: {e}"))
    };
    lines(manifest, 6)?
        .iter()
        .map(|f| {
            Ok(overhead::Cell {
                workload: f[0].clone(),
                size: f[1].clone(),
                bytes: f[2].parse().ok(),
                tracker: f[3].clone(),
                baseline: timing(&f[4])?,
                tracked: timing(&f[5])?,
            })
        })
        .collect()
}

/// `bench`: `GROUP<TAB>SIZE<TAB>COMMAND<TAB>PEAK_RSS_KIB<TAB>MINOR_FAULTS<TAB>
/// INSTRUCTIONS<TAB>HEAP_CALLS<TAB>HYPERFINE.json,...` (the last two numbers
/// may be empty; the exports are the rounds that timed the command).
pub fn bench_rows(manifest: &Path) -> Result<Vec<bench::Row>, String> {
    let mut rows = vec![];
    for f in lines(manifest, 8)? {
        let line = f.join("\t");
        let bad = |why: &str| format!("{}: {why}: {line}", manifest.display());
        let n = |v: &str| v.parse::<u64>().map_err(|_| bad("not a number"));
        let opt = |v: &str| match v {
            "" => Ok(None),
            v => n(v).map(Some),
        };
        let texts = f[7]
            .split(',')
            .map(|p| read(Path::new(p)))
            .collect::<Result<Vec<_>, _>>()?;
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let measured = bench::pooled_times(&texts).map_err(|e| format!("{}: {e}", f[7]))?;
        let timing = measured
            .iter()
            .find(|(c, _)| *c == f[2])
            .and_then(|(_, t)| bench::timing(t))
            .ok_or_else(|| bad("the command is not in hyperfine's exports"))?;
        rows.push(bench::Row {
            group: f[0].clone(),
            size: n(&f[1])?,
            command: f[2].clone(),
            timing,
            peak_rss_kib: n(&f[3])?,
            minor_faults: n(&f[4])?,
            instructions: opt(&f[5])?,
            heap_calls: opt(&f[6])?,
        });
    }
    Ok(rows)
}

/// The trackers' definitions (`scripts/trackers/trackers.tsv`, and those
/// `scoreboard.sh --tracker` adds).
pub fn trackers(file: &Path) -> Result<Vec<scoreboard::Tracker>, String> {
    scoreboard::read_trackers(&read(file)?).map_err(|e| format!("{}: {e}", file.display()))
}

/// The scoreboard's paths (`scripts/scoreboard/paths.tsv`).
pub fn scoreboard_paths(
    file: &Path,
    defs: &[scoreboard::Tracker],
) -> Result<Vec<scoreboard::Path>, String> {
    scoreboard::read_paths(&read(file)?, defs).map_err(|e| format!("{}: {e}", file.display()))
}

/// The `.csv` files of a folder by name, with their text (none when the
/// folder is missing): the expected files as they were.
pub fn csv_files(dir: &Path) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") {
            out.insert(name, read(&e.path())?);
        }
    }
    Ok(out)
}
