//! `wlreport`: the tables of the tracker sweeps (see the crate docs, `src/lib.rs`).
//! This file handles the arguments only; every table is made in the library.

use lexopt::ValueExt as _;
use std::process::ExitCode;
use wlreport::cli::{put, say, write, Failure, Opts, Res};
use wlreport::{
    bench, files, kernel, kleaks, kload, kpaths, ktrackers, load, overhead, paths, runs,
    scoreboard, sweep, vmbench,
};

const USAGE: &str = include_str!("usage.txt");

fn run(cmd: &str, p: &mut lexopt::Parser) -> Res<()> {
    match cmd {
        "sweep" => {
            let o = Opts::parse(p, &["plan", "raw", "out", "kernel-csv", "requested"])?;
            let mut requested = vec![];
            for v in o.all("requested") {
                let (w, sizes) = v.rsplit_once('=').ok_or_else(|| {
                    Failure::Usage(format!("--requested takes WORKLOAD=SIZE,...: {v}"))
                })?;
                requested.push((w.to_string(), o.sizes("requested", sizes)?));
            }
            let (plan, raw, out) = (o.path("plan")?, o.path("raw")?, o.path("out")?);
            let runs = runs::read_runs(&files::read(&plan)?, |id| {
                let f = raw.join(format!("{id}.raw"));
                if f.exists() {
                    files::read(&f).map(Some)
                } else {
                    Ok(None)
                }
            })
            .map_err(|e| format!("{}: {e}", plan.display()))?;
            let kernel = o.get("kernel-csv").map_or(Ok(vec![]), kernel::read)?;
            let kernel: Vec<runs::Run> = kernel.iter().map(runs::Run::from_kernel).collect();
            let t = sweep::tables(&runs, &requested, &kernel);
            write(&out.join("runs.csv"), &runs::csv(&runs, &kernel)?)?;
            write(&out.join("DATA.csv"), &t.data_csv)?;
            write(&out.join("errors.csv"), &t.errors_csv)?;
            write(&out.join("errors.md"), &t.errors_md)?;
            // for sweep.sh: each failed run, then the counts
            let failed: Vec<String> = runs.iter().filter_map(runs::Run::failure).collect();
            let mut text: String = failed.iter().map(|f| format!("failed: {f}\n")).collect();
            text += &format!("runs={} failed={}\n", runs.len(), failed.len());
            put(&text)
        }
        "overhead" => {
            let o = Opts::parse(p, &["runs", "manifest", "csv", "md", "ratios"])?;
            let cells = files::overhead_cells(&o.path("manifest")?)?;
            let (c, m) = overhead::tables(&cells, o.num("runs")?);
            write(&o.path("csv")?, &c)?;
            write(&o.path("md")?, &m)?;
            match o.get("ratios") {
                Some(r) => write(r.as_ref(), &overhead::ratios_table(&cells)),
                None => Ok(()),
            }
        }
        "kernel-csv" => {
            let o = Opts::parse(p, &["console", "sizes", "reps", "out"])?;
            let sizes = o.sizes("sizes", o.text("sizes")?)?;
            let text = files::read_console(&o.path("console")?)?;
            write(
                &o.path("out")?,
                &kernel::from_console(&text, &sizes, o.num("reps")?)?,
            )
        }
        "bench" => {
            let o = Opts::parse(p, &["manifest", "csv", "md"])?;
            let (c, m) = bench::tables(&files::bench_rows(&o.path("manifest")?)?);
            write(&o.path("csv")?, &c)?;
            write(&o.path("md")?, &m)
        }
        "pacing" => {
            let o = Opts::parse(p, &["report", "md"])?;
            let mut runs = vec![];
            for f in o.all("report") {
                let (cmd, path) = f
                    .split_once('=')
                    .ok_or_else(|| Failure::Usage(format!("--report takes COMMAND=FILE: {f}")))?;
                let text = files::read(path.as_ref())?;
                let r = wlmodel::Report::parse(&text).map_err(|e| format!("{path}: {e}"))?;
                runs.push((cmd.to_string(), r));
            }
            write(&o.path("md")?, &bench::pacing(&runs)?)
        }
        "paths" => {
            let o = Opts::parse(p, &["size", "manifest"])?;
            let size = o.num("size")?;
            put(&paths::table(
                &files::paths_rows(&o.path("manifest")?)?,
                size,
            ))
        }
        "scoreboard" => scoreboard_cmd(p),
        "load" => load_cmd(p),
        "kpaths" => {
            let o = Opts::parse(p, &["console", "runs", "reps", "kernel", "csv"])?;
            let (kernel, reps) = (o.get("kernel").unwrap_or("(unknown)"), o.num("reps")?);
            let text = files::read_console(&o.path("console")?)?;
            let rows = kpaths::from_console(&text, o.num("runs")?, reps)?;
            if let Some(path) = o.get("csv") {
                write(path.as_ref(), &kpaths::csv(&rows, kernel, reps)?)?;
            }
            put(&kpaths::table(&rows, kernel, reps))
        }
        "ktrackers" => {
            let o = Opts::parse(p, &["console", "defs", "runs", "reps", "kernel", "csv"])?;
            let (kernel, reps) = (o.get("kernel").unwrap_or("(unknown)"), o.num("reps")?);
            let defs = ktrackers::read_defs(&files::read(&o.path("defs")?)?)?;
            let text = files::read_console(&o.path("console")?)?;
            let tracked = ktrackers::from_console(&text, &defs, o.num("runs")?, reps)?;
            if let Some(path) = o.get("csv") {
                write(path.as_ref(), &ktrackers::csv(&tracked, kernel, reps)?)?;
            }
            put(&ktrackers::table(&tracked, kernel, reps))
        }
        "kload" => {
            let o = Opts::parse(p, &["console", "out"])?;
            let console = files::read_console(&o.path("console")?)?;
            let rows = kload::from_console(&console)?;
            let out = o.path("out")?;
            for (name, text) in load::files("kload", &rows, &kload::how(&console))? {
                write(&out.join(name), &text)?;
            }
            put(&load::summary(&rows)
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>())
        }
        "kleaks" => {
            let o = Opts::parse(p, &["console", "leaks", "reps", "kernel", "csv"])?;
            let kernel = o.get("kernel").unwrap_or("(unknown)");
            let reps = o.num_or("reps", 1)?;
            let text = files::read_console(&o.path("console")?)?;
            let scan = kleaks::from_console(&text, o.num("leaks")?, reps)?;
            if let Some(path) = o.get("csv") {
                write(path.as_ref(), &kleaks::csv(&scan, kernel)?)?;
            }
            put(&kleaks::table(&scan, kernel))
        }
        "vmbench" => {
            let o = Opts::parse(p, &["console"])?;
            put(&vmbench::table(&vmbench::from_console(
                &files::read_console(&o.path("console")?)?,
            )?))
        }
        "kernel-check" => {
            let f = p.value()?.string()?;
            if let Some(arg) = p.next()? {
                return Err(arg.unexpected().into());
            }
            Ok(kernel::read(&f).map(drop)?)
        }
        c => Err(Failure::Usage(format!(
            "unknown command '{c}' (see --help)"
        ))),
    }
}

fn scoreboard_cmd(p: &mut lexopt::Parser) -> Res<()> {
    let sub = p.value()?.string()?;
    let known = [
        "paths", "reps", "raw", "versions", "out", "csv", "expected", "trackers", "defs",
    ];
    let o = Opts::parse(p, &known)?;
    // The trackers' definitions (scripts/trackers/trackers.tsv and those added).
    let defs = || -> Res<Vec<scoreboard::Tracker>> { Ok(files::trackers(&o.path("defs")?)?) };
    let only = |defs: &[scoreboard::Tracker]| -> Res<Option<Vec<String>>> {
        o.get("trackers")
            .map(|t| {
                scoreboard::select(t, defs).map_err(|e| Failure::Usage(format!("--trackers: {e}")))
            })
            .transpose()
    };
    let read_paths = |defs: &[scoreboard::Tracker]| -> Res<Vec<scoreboard::Path>> {
        Ok(files::scoreboard_paths(&o.path("paths")?, defs)?)
    };
    match sub.as_str() {
        "plan" => {
            let defs = defs()?;
            let (ps, only) = (read_paths(&defs)?, only(&defs)?);
            put(&scoreboard::plan(
                &ps,
                o.num("reps")?,
                &defs,
                only.as_deref(),
            ))
        }
        "table" => {
            let defs = defs()?;
            let (ps, only, out) = (read_paths(&defs)?, only(&defs)?, o.path("out")?);
            let (vers, skipped) = scoreboard::read_versions(&files::read(&o.path("versions")?)?);
            let (raw, reps) = (o.path("raw")?, o.num("reps")?);
            let cells = scoreboard::assemble(&raw, &ps, reps, &defs, only.as_deref(), &skipped);
            for (name, text) in scoreboard::files(&ps, &cells, &vers, &skipped)? {
                write(&out.join(name), &text)?;
            }
            Ok(())
        }
        "expected" => {
            let out = o.path("out")?;
            let old = files::csv_files(&out)?;
            for (name, text) in scoreboard::expected_files(&files::read(&o.path("csv")?)?, &old)? {
                write(&out.join(name), &text)?;
            }
            Ok(())
        }
        "check" => {
            let csv = o.path("csv")?;
            let lines = scoreboard::check_dir(&files::read(&csv)?, &o.path("expected")?, &defs()?)
                .map_err(|e| format!("{}: {e}", csv.display()))?;
            put(&lines
                .iter()
                .map(|l| l.join("\t") + "\n")
                .collect::<String>())
        }
        s => Err(Failure::Usage(format!(
            "unknown scoreboard command '{s}' (plan, table, expected, check)"
        ))),
    }
}

fn load_cmd(p: &mut lexopt::Parser) -> Res<()> {
    let sub = p.value()?.string()?;
    let known = [
        "defs",
        "trackers",
        "rates",
        "threads",
        "duration",
        "max-calls",
        "size",
        "bin",
        "plan",
        "raw",
        "out",
    ];
    let o = Opts::parse(p, &known)?;
    let defs = || -> Res<Vec<scoreboard::Tracker>> { Ok(files::trackers(&o.path("defs")?)?) };
    match sub.as_str() {
        "plan" => {
            let defs = defs()?;
            let only = o
                .get("trackers")
                .map(|t| scoreboard::select(t, &defs))
                .transpose()
                .map_err(|e| Failure::Usage(format!("--trackers: {e}")))?;
            let chosen = load::chosen(&defs, only.as_deref()).map_err(Failure::Usage)?;
            let rates = o
                .text("rates")?
                .split(',')
                .map(load::Rate::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Failure::Usage(format!("--rates: {e}")))?;
            let threads = o
                .text("threads")?
                .split(',')
                .map(|t| {
                    t.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Failure::Usage("--threads: whole numbers from 1 to 64".into()))?;
            let spec = load::Spec {
                rates,
                threads,
                duration: o.text("duration")?.into(),
                max_calls: o.num("max-calls")?,
                size: o.text("size")?.into(),
                bin: o.text("bin")?.into(),
            };
            put(&load::plan(&chosen, &spec))
        }
        "table" => {
            let defs = defs()?;
            let plan = load::read_plan(&files::read(&o.path("plan")?)?)?;
            let rows = load::rows(&defs, &plan, &o.path("raw")?)?;
            let out = o.path("out")?;
            for (name, text) in load::files("load", &rows, &load::how(&defs))? {
                write(&out.join(name), &text)?;
            }
            put(&load::summary(&rows)
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>())
        }
        "compact" => {
            // every raw file of every tracker, rewritten without heap.bt's call lines
            let raw = o.path("raw")?;
            let dirs = std::fs::read_dir(&raw).map_err(|e| format!("{}: {e}", raw.display()))?;
            for d in dirs.flatten().filter(|d| d.path().is_dir()) {
                let files = std::fs::read_dir(d.path())
                    .map_err(|e| format!("{}: {e}", d.path().display()))?;
                for f in files.flatten().map(|f| f.path()) {
                    if f.extension().is_some_and(|e| e == "raw") {
                        if let Some(text) = load::compact(&files::read(&f)?) {
                            write(&f, &text)?;
                        }
                    }
                }
            }
            Ok(())
        }
        s => Err(Failure::Usage(format!(
            "unknown load command '{s}' (plan, table, compact)"
        ))),
    }
}

fn main_cmd() -> Res<()> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    match p.next()? {
        Some(Value(cmd)) => run(&cmd.string()?, &mut p),
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
