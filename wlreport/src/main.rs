//! `wlreport`: the tables of the tracker sweeps (see the crate docs, `src/lib.rs`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wlreport::{kernel, kpaths, overhead, paths, runs, sweep};

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
  wlreport paths --size N --manifest FILE
      the table of every path on stdout, from the workloads' --json reports;
      each line of the manifest: LABEL<TAB>REPORT-FILE
  wlreport kpaths --console LOG --runs N --reps R [--kernel VERSION]
      the README's kernel table on stdout, from the KPATH lines of the VM's
      console log (scripts/kernel/guest-kpaths.sh): N runs, R times each
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
                let (w, sizes) = v.split_once('=').ok_or_else(|| {
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
    print!("{}", paths::table(&rows, size));
    Ok(())
}

fn kpaths_cmd(p: &mut lexopt::Parser) -> Res<()> {
    use lexopt::prelude::*;
    let (mut console, mut runs, mut reps) = (None::<PathBuf>, None::<usize>, None::<usize>);
    let mut kernel = String::from("(unknown)");
    while let Some(arg) = p.next()? {
        match arg {
            Long("console") => console = Some(p.value()?.into()),
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
    print!("{}", kpaths::table(&rows, &kernel, reps));
    Ok(())
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
            "kpaths" => kpaths_cmd(&mut p),
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
        Some(Short('h') | Long("help")) => {
            print!("{USAGE}");
            Ok(())
        }
        Some(arg) => Err(arg.unexpected().into()),
        None => Err(Failure::Usage("a command is missing (see --help)".into())),
    }
}

fn main() -> ExitCode {
    match main_cmd() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(e)) => {
            eprintln!("wlreport: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("wlreport: error: {e}");
            ExitCode::from(2)
        }
    }
}
