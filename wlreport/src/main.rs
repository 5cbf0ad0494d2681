//! `wlreport`: the tables of the tracker sweeps (see the crate docs, `src/lib.rs`).

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wlreport::{bench, kernel, kleaks, kpaths, overhead, paths, runs, scoreboard, sweep};

const USAGE: &str = "\
wlreport - the tables of the tracker sweeps, from what the scripts recorded

Usage:
  wlreport sweep --raw FILE --out DIR [--kernel-csv FILE] --requested WORKLOAD=SIZE,SIZE... ...
      runs.csv, DATA.csv, errors.csv and errors.md in DIR, from sweep.sh's
      raw-runs.tsv; --requested (once per workload, in the sweep's order) gives
      the sizes asked of each workload (size 1, its baseline, is run anyway)
  wlreport kernel-check FILE
      whether FILE is a kernel CSV that `sweep` can merge (exit 0)
  wlreport kernel-csv --console LOG --sizes SIZE,SIZE... --reps N --out FILE
      the kernel CSV from the KCSV lines of the VM's console log
      (scripts/kernel/guest-sweep.sh); every size must have run N times
  wlreport overhead --runs N --manifest FILE --csv FILE --md FILE [--ratios FILE]
      the overhead ratios from hyperfine's CSV exports; each line of the
      manifest: WORKLOAD<TAB>SIZE<TAB>BYTES<TAB>TRACKER<TAB>BASELINE.csv<TAB>TRACKED.csv
      (BYTES may be empty); --ratios: the README's table, a column per tracker
  wlreport bench --manifest FILE --csv FILE --md FILE
      the benchmark table from hyperfine's CSV exports; each line of the
      manifest: GROUP<TAB>SIZE<TAB>COMMAND<TAB>PEAK_RSS_KIB<TAB>INSTRUCTIONS<TAB>HEAP_CALLS<TAB>HYPERFINE.csv
      (INSTRUCTIONS and HEAP_CALLS may be empty)
  wlreport paths --size N --manifest FILE
      the table of every path on stdout, from the workloads' --json reports;
      each line of the manifest: LABEL<TAB>REPORT-FILE
  wlreport scoreboard plan --paths FILE --reps N [--trackers LIST]
      the runs of the scoreboard, a line each: TRACKER RUNNER MODE ID WORKLOAD
      ARGS... (tab-separated; ID is PATH.REP); LIST as in paths.tsv
  wlreport scoreboard table --paths FILE --reps N --raw DIR --versions FILE
           --out DIR [--trackers LIST]
      scoreboard.csv, scoreboard.md and heat.dat in DIR from the runners' files
      (DIR/TRACKER/PATH.REP.raw; DIR/none/ the runs without a tracker, whose
      --json is the truth; DIR/TRACKER/FAILED says why a runner failed,
      DIR/TRACKER/SKIPPED why its tracker cannot run here)
  wlreport scoreboard expected --csv FILE --out DIR
      DIR/TOOL-VERSION.csv, each cell's class, from a scoreboard.csv
  wlreport scoreboard check --csv FILE --expected DIR
      a line a cell: same|differs|new|gone|no-file TAB TOOL-VERSION TAB TRACKER
      TAB PATH TAB CLASS TAB EXPECTED (exit 0 when it could compare)
  wlreport kpaths --console LOG --runs N --reps R [--kernel VERSION] [--csv FILE]
      the README's kernel table on stdout, from the KPATH lines of the VM's
      console log (scripts/kernel/guest-kpaths.sh): N runs, R times each;
      --csv: the same runs as scoreboard cells (tracker kmem-sum, tool linux)
  wlreport kleaks --console LOG --leaks N [--reps R] [--kernel VERSION] [--csv FILE]
      what kmemleak reported of the objects leaked on purpose, N kinds, R of
      each (1), from the KLEAK lines of the VM's console log
      (scripts/kernel/guest-kleaks.sh);
      --csv: as scoreboard cells (tracker and tool kmemleak)
  wlreport -h | --help

Errors are one line on stderr, \"wlreport: ...\". Exit status: 0 done; 1 an
input could not be read or an output written; 2 usage.
";

enum Failure {
    Usage(String),
    Input(String),
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Self {
        Failure::Usage(e.to_string())
    }
}

type Res<T> = Result<T, Failure>;

fn input<T>(r: Result<T, String>) -> Res<T> {
    r.map_err(Failure::Input)
}

fn string(v: OsString) -> Res<String> {
    v.into_string()
        .map_err(|v| Failure::Usage(format!("not UTF-8: {}", v.to_string_lossy())))
}

fn read(path: &Path) -> Res<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &Path, text: &str) -> Res<()> {
    std::fs::write(path, text)
        .map_err(|e| Failure::Input(format!("cannot write {}: {e}", path.display())))
}

/// Writes `text` to stdout; a closed pipe or a full disk is an error, not a
/// panic.
fn put(text: &str) -> Res<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::Input(format!("cannot write to stdout: {e}")))
}

/// The one-line error on stderr (nothing more can be done if that fails).
fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "wlreport: {line}");
}

fn need<T>(v: Option<T>, what: &str) -> Res<T> {
    v.ok_or_else(|| Failure::Usage(format!("{what} is missing (see --help)")))
}

fn sweep_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let (mut raw, mut out, mut kcsv) = (None::<PathBuf>, None::<PathBuf>, None::<String>);
    let mut requested: Vec<(String, Vec<u64>)> = vec![];
    while let Some(arg) = p.next()? {
        match arg {
            Long("raw") => raw = Some(p.value()?.into()),
            Long("out") => out = Some(p.value()?.into()),
            Long("kernel-csv") => kcsv = Some(string(p.value()?)?),
            Long("requested") => {
                let v = string(p.value()?)?;
                let (w, sizes) = v.rsplit_once('=').ok_or_else(|| {
                    Failure::Usage(format!("--requested takes WORKLOAD=SIZE,...: {v}"))
                })?;
                let sizes = sizes
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<u64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| Failure::Usage(format!("--requested: sizes in bytes: {v}")))?;
                requested.push((w.to_string(), sizes));
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    let (raw, out) = (need(raw, "--raw")?, need(out, "--out")?);
    let runs = input(runs::read_raw(&read(&raw)?).map_err(|e| format!("{}: {e}", raw.display())))?;
    let kernel: Vec<runs::Run> = match &kcsv {
        Some(k) => input(kernel::read(k))?
            .iter()
            .map(runs::Run::from_kernel)
            .collect(),
        None => vec![],
    };
    let mut w = csv::Writer::from_writer(vec![]);
    let rows = std::iter::once(runs::HEADER.map(String::from).to_vec())
        .chain(runs.iter().chain(&kernel).map(runs::Run::record));
    for r in rows {
        w.write_record(&r)
            .map_err(|e| Failure::Input(e.to_string()))?;
    }
    let text = w.into_inner().map_err(|e| Failure::Input(e.to_string()))?;
    let t = sweep::tables(&runs, &requested, &kernel);
    write(&out.join("runs.csv"), &String::from_utf8_lossy(&text))?;
    write(&out.join("DATA.csv"), &t.data_csv)?;
    write(&out.join("errors.csv"), &t.errors_csv)?;
    write(&out.join("errors.md"), &t.errors_md)
}

fn overhead_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let mut ratios = None::<PathBuf>;
    let (mut runs, mut manifest, mut csv, mut md) = (
        None::<u64>,
        None::<PathBuf>,
        None::<PathBuf>,
        None::<PathBuf>,
    );
    while let Some(arg) = p.next()? {
        match arg {
            Long("runs") => runs = Some(p.value()?.parse()?),
            Long("manifest") => manifest = Some(p.value()?.into()),
            Long("csv") => csv = Some(p.value()?.into()),
            Long("md") => md = Some(p.value()?.into()),
            Long("ratios") => ratios = Some(p.value()?.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let (runs, manifest) = (need(runs, "--runs")?, need(manifest, "--manifest")?);
    let (csv, md) = (need(csv, "--csv")?, need(md, "--md")?);
    let mut cells = vec![];
    for line in read(&manifest)?.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let [w, s, bytes, t, b, x] = f[..] else {
            return Err(Failure::Input(format!(
                "{}: not 6 fields: {line}",
                manifest.display()
            )));
        };
        let timing = |path: &str| -> Res<overhead::Timing> {
            input(
                overhead::parse_hyperfine(&read(Path::new(path))?)
                    .map_err(|e| format!("{path}: {e}")),
            )
        };
        cells.push(overhead::Cell {
            workload: w.into(),
            size: s.into(),
            bytes: bytes.parse().ok(),
            tracker: t.into(),
            baseline: timing(b)?,
            tracked: timing(x)?,
        });
    }
    let (c, m) = overhead::tables(&cells, runs);
    write(&csv, &c)?;
    write(&md, &m)?;
    match ratios {
        Some(r) => write(&r, &overhead::ratios_table(&cells)),
        None => Ok(()),
    }
}

fn kernel_csv_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let (mut console, mut sizes, mut reps, mut out) =
        (None::<PathBuf>, None, None::<u64>, None::<PathBuf>);
    while let Some(arg) = p.next()? {
        match arg {
            Long("console") => console = Some(p.value()?.into()),
            Long("sizes") => {
                let v = string(p.value()?)?;
                let s = v
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::parse::<u64>)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| Failure::Usage(format!("--sizes: sizes in bytes: {v}")))?;
                sizes = Some(s);
            }
            Long("reps") => reps = Some(p.value()?.parse()?),
            Long("out") => out = Some(p.value()?.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let (console, sizes) = (need(console, "--console")?, need(sizes, "--sizes")?);
    let (reps, out) = (need(reps, "--reps")?, need(out, "--out")?);
    let text = String::from_utf8_lossy(
        &std::fs::read(&console)
            .map_err(|e| Failure::Input(format!("cannot read {}: {e}", console.display())))?,
    )
    .into_owned();
    let csv = input(kernel::from_console(&text, &sizes, reps))?;
    write(&out, &csv)
}

fn bench_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let (mut manifest, mut csv, mut md) = (None::<PathBuf>, None::<PathBuf>, None::<PathBuf>);
    while let Some(arg) = p.next()? {
        match arg {
            Long("manifest") => manifest = Some(p.value()?.into()),
            Long("csv") => csv = Some(p.value()?.into()),
            Long("md") => md = Some(p.value()?.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let manifest = need(manifest, "--manifest")?;
    let (csv, md) = (need(csv, "--csv")?, need(md, "--md")?);
    let mut rows = vec![];
    for line in read(&manifest)?.lines().filter(|l| !l.trim().is_empty()) {
        let bad = |why: &str| Failure::Input(format!("{}: {why}: {line}", manifest.display()));
        let f: Vec<&str> = line.split('\t').collect();
        let [group, size, command, rss, faults, ins, calls, hf] = f[..] else {
            return Err(bad("not 8 fields"));
        };
        let n = |v: &str| v.parse::<u64>().map_err(|_| bad("not a number"));
        let opt = |v: &str| {
            if v.is_empty() {
                Ok(None)
            } else {
                n(v).map(Some)
            }
        };
        // The rounds of hyperfine that timed this command beside the others.
        let mut texts = vec![];
        for f in hf.split(',') {
            texts.push(read(Path::new(f))?);
        }
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let measured = input(bench::pooled_times(&texts).map_err(|e| format!("{hf}: {e}")))?;
        let timing = measured
            .iter()
            .find(|(c, _)| c == command)
            .and_then(|(_, t)| bench::timing(t))
            .ok_or_else(|| bad("the command is not in hyperfine's exports"))?;
        rows.push(bench::Row {
            group: group.into(),
            size: n(size)?,
            command: command.into(),
            timing,
            peak_rss_kib: n(rss)?,
            minor_faults: n(faults)?,
            instructions: opt(ins)?,
            heap_calls: opt(calls)?,
        });
    }
    let (c, m) = bench::tables(&rows);
    write(&csv, &c)?;
    write(&md, &m)
}

fn paths_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let (mut size, mut manifest) = (None::<u64>, None::<PathBuf>);
    while let Some(arg) = p.next()? {
        match arg {
            Long("size") => size = Some(p.value()?.parse()?),
            Long("manifest") => manifest = Some(p.value()?.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let (size, manifest) = (need(size, "--size")?, need(manifest, "--manifest")?);
    let mut rows = vec![];
    for line in read(&manifest)?.lines().filter(|l| !l.trim().is_empty()) {
        let (label, file) = line.split_once('\t').ok_or_else(|| {
            Failure::Input(format!(
                "{}: not LABEL<TAB>FILE: {line}",
                manifest.display()
            ))
        })?;
        rows.push(input(paths::row(label, &read(Path::new(file))?))?);
    }
    put(&paths::table(&rows, size))?;
    Ok(())
}

fn trackers_opt(v: OsString) -> Res<Vec<&'static str>> {
    scoreboard::select(&string(v)?).map_err(|e| Failure::Usage(format!("--trackers: {e}")))
}

fn scoreboard_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let sub = string(p.value()?)?;
    let (mut paths, mut reps, mut raw, mut versions, mut out) = (
        None::<PathBuf>,
        None::<u32>,
        None::<PathBuf>,
        None::<PathBuf>,
        None::<PathBuf>,
    );
    let (mut csv_in, mut expected, mut only) = (None::<PathBuf>, None::<PathBuf>, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("paths") => paths = Some(p.value()?.into()),
            Long("reps") => reps = Some(p.value()?.parse()?),
            Long("raw") => raw = Some(p.value()?.into()),
            Long("versions") => versions = Some(p.value()?.into()),
            Long("out") => out = Some(p.value()?.into()),
            Long("csv") => csv_in = Some(p.value()?.into()),
            Long("expected") => expected = Some(p.value()?.into()),
            Long("trackers") => only = Some(trackers_opt(p.value()?)?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let read_paths = |f: &Path| -> Res<Vec<scoreboard::Path>> {
        input(scoreboard::read_paths(&read(f)?).map_err(|e| format!("{}: {e}", f.display())))
    };
    match sub.as_str() {
        "plan" => {
            let (ps, reps) = (read_paths(&need(paths, "--paths")?)?, need(reps, "--reps")?);
            put(&scoreboard::plan(&ps, reps, only.as_deref()))?;
            Ok(())
        }
        "table" => {
            let (ps, reps) = (read_paths(&need(paths, "--paths")?)?, need(reps, "--reps")?);
            let (raw, out) = (need(raw, "--raw")?, need(out, "--out")?);
            let (vers, skipped) = scoreboard::read_versions(&read(&need(versions, "--versions")?)?);
            let mut cells = vec![];
            for t in scoreboard::TRACKERS
                .iter()
                .filter(|t| only.as_ref().is_none_or(|o| o.contains(&t.name)))
            {
                let failed = std::fs::read_to_string(raw.join(t.name).join("FAILED")).ok();
                // A runner that found its tracker cannot run here says why.
                let cannot = std::fs::read_to_string(raw.join(t.name).join("SKIPPED"))
                    .ok()
                    .map(|s| s.trim().to_string());
                for path in ps.iter().filter(|p| p.trackers.contains(&t.name)) {
                    let mut cell = scoreboard::Cell {
                        path: path.name.clone(),
                        tracker: t,
                        runs: vec![],
                        skipped: skipped.get(t.tool).cloned().or_else(|| cannot.clone()),
                    };
                    if cell.skipped.is_none() {
                        for r in 1..=reps {
                            let id = format!("{}.{r}.raw", path.name);
                            let reference = std::fs::read_to_string(raw.join("none").join(&id))
                                .ok()
                                .and_then(|s| scoreboard::sections(&s).remove("json"))
                                .filter(|j| !j.trim().is_empty());
                            let run = match std::fs::read_to_string(raw.join(t.name).join(&id)) {
                                Ok(text) => scoreboard::run_result(t, &text, reference.as_deref()),
                                Err(_) => scoreboard::RunResult {
                                    class: scoreboard::Class::Failed,
                                    why: failed
                                        .as_deref()
                                        .map_or("no output".into(), |f| f.trim().to_string()),
                                    reading: None,
                                    want: 0,
                                    want_calls: None,
                                },
                            };
                            cell.runs.push(run);
                        }
                    }
                    cells.push(cell);
                }
            }
            write(
                &out.join("scoreboard.csv"),
                &input(scoreboard::csv(&cells, &vers))?,
            )?;
            write(
                &out.join("scoreboard.md"),
                &scoreboard::markdown(&ps, &cells, &vers, &skipped),
            )?;
            write(&out.join("heat.dat"), &scoreboard::heat(&ps, &cells))
        }
        "expected" => {
            let (c, out) = (need(csv_in, "--csv")?, need(out, "--out")?);
            for (name, text) in input(scoreboard::expected_files(&read(&c)?))? {
                write(&out.join(name), &text)?;
            }
            Ok(())
        }
        "check" => {
            let (c, dir) = (need(csv_in, "--csv")?, need(expected, "--expected")?);
            let text = read(&c)?;
            let files = input(scoreboard::expected_files(&text))?;
            for name in files.keys() {
                let tv = name.trim_end_matches(".csv");
                // The user-space trackers' tools, and the kernel cells'.
                let tool = scoreboard::TRACKERS
                    .iter()
                    .map(|t| t.tool)
                    .chain([kpaths::TRACKER.1, kleaks::TRACKER.1])
                    .find(|t| tv.strip_prefix(t).is_some_and(|r| r.starts_with('-')))
                    .ok_or_else(|| {
                        Failure::Input(format!("{}: a tool this does not know", c.display()))
                    })?;
                let Ok(exp) = std::fs::read_to_string(dir.join(name)) else {
                    put(&format!("no-file\t{tv}\t\t\t\t\n"))?;
                    continue;
                };
                let (verdicts, gone) = input(
                    scoreboard::check(&text, &exp, tool).map_err(|e| format!("{name}: {e}")),
                )?;
                for (tracker, path, got, v) in verdicts {
                    let (what, e) = match v {
                        scoreboard::Verdict::Same => ("same", got.clone()),
                        scoreboard::Verdict::Differs { expected } => ("differs", expected),
                        scoreboard::Verdict::NotExpected => ("new", String::new()),
                    };
                    put(&format!("{what}\t{tv}\t{tracker}\t{path}\t{got}\t{e}\n"))?;
                }
                for g in gone {
                    let (t, p) = g.split_once(' ').unwrap_or((&g, ""));
                    put(&format!("gone\t{tv}\t{t}\t{p}\t\t\n"))?;
                }
            }
            Ok(())
        }
        s => Err(Failure::Usage(format!(
            "unknown scoreboard command '{s}' (plan, table, expected, check)"
        ))),
    }
}

fn kpaths_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let (mut console, mut runs, mut reps) = (None::<PathBuf>, None::<usize>, None::<usize>);
    let mut kernel = String::from("(unknown)");
    let mut csv = None::<PathBuf>;
    while let Some(arg) = p.next()? {
        match arg {
            Long("console") => console = Some(p.value()?.into()),
            Long("csv") => csv = Some(p.value()?.into()),
            Long("runs") => runs = Some(p.value()?.parse()?),
            Long("reps") => reps = Some(p.value()?.parse()?),
            Long("kernel") => kernel = string(p.value()?)?,
            _ => return Err(arg.unexpected().into()),
        }
    }
    let console = need(console, "--console")?;
    let (runs, reps) = (need(runs, "--runs")?, need(reps, "--reps")?);
    let text = String::from_utf8_lossy(
        &std::fs::read(&console)
            .map_err(|e| Failure::Input(format!("cannot read {}: {e}", console.display())))?,
    )
    .into_owned();
    let rows = input(kpaths::from_console(&text, runs, reps))?;
    if let Some(path) = csv {
        write(&path, &input(kpaths::csv(&rows, &kernel, reps))?)?;
    }
    put(&kpaths::table(&rows, &kernel, reps))?;
    Ok(())
}

fn kleaks_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let (mut console, mut leaks, mut csv) = (None::<PathBuf>, None::<usize>, None::<PathBuf>);
    let (mut reps, mut kernel) = (1, String::from("(unknown)"));
    while let Some(arg) = p.next()? {
        match arg {
            Long("console") => console = Some(p.value()?.into()),
            Long("leaks") => leaks = Some(p.value()?.parse()?),
            Long("reps") => reps = p.value()?.parse()?,
            Long("kernel") => kernel = string(p.value()?)?,
            Long("csv") => csv = Some(p.value()?.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let console = need(console, "--console")?;
    let leaks = need(leaks, "--leaks")?;
    let text = String::from_utf8_lossy(
        &std::fs::read(&console)
            .map_err(|e| Failure::Input(format!("cannot read {}: {e}", console.display())))?,
    )
    .into_owned();
    let scan = input(kleaks::from_console(&text, leaks, reps))?;
    if let Some(path) = csv {
        write(&path, &input(kleaks::csv(&scan, &kernel))?)?;
    }
    put(&kleaks::table(&scan, &kernel))
}

fn main_cmd() -> Res<()> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    match p.next()? {
        Some(Value(cmd)) => match string(cmd)?.as_str() {
            "sweep" => sweep_cmd(&mut p),
            "overhead" => overhead_cmd(&mut p),
            "kernel-csv" => kernel_csv_cmd(&mut p),
            "paths" => paths_cmd(&mut p),
            "bench" => bench_cmd(&mut p),
            "scoreboard" => scoreboard_cmd(&mut p),
            "kpaths" => kpaths_cmd(&mut p),
            "kleaks" => kleaks_cmd(&mut p),
            "kernel-check" => {
                let f = string(p.value()?)?;
                if let Some(arg) = p.next()? {
                    return Err(arg.unexpected().into());
                }
                input(kernel::read(&f)).map(drop)
            }
            c => Err(Failure::Usage(format!(
                "unknown command '{c}' (see --help)"
            ))),
        },
        Some(Short('h') | Long("help")) => put(USAGE),
        Some(arg) => Err(arg.unexpected().into()),
        None => Err(Failure::Usage("a command is missing (see --help)".into())),
    }
}

fn main() -> ExitCode {
    match main_cmd() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(e)) => {
            say(format_args!("{e}"));
            ExitCode::from(1)
        }
        Err(Failure::Usage(e)) => {
            say(format_args!("error: {e}"));
            ExitCode::from(2)
        }
    }
}
