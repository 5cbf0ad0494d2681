//! The overhead table (`scripts/overhead.sh`): each workload timed by hyperfine
//! without a tracker and with one; the ratio of the two, by mean and by median.

/// overhead.csv's header.
pub const CSV_HEADER: &str = "workload,size,tracker,runs,baseline_mean_ms,tracked_mean_ms,ratio_mean,baseline_median_ms,tracked_median_ms,ratio_median,baseline_stddev_ms,tracked_stddev_ms";

const MD_HEADER: &str = "| workload | size | tracker | without (mean ms) | with (mean ms) | ratio (mean) | without (median ms) | with (median ms) | ratio (median) |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n";

/// What hyperfine measured for one command, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub mean: f64,
    pub median: f64,
    pub stddev: f64,
}

/// Reads hyperfine's `--export-csv` text: a header with `mean`, `median` and
/// `stddev` (seconds), then one row (the first is taken). The command in the
/// first column is quoted when it holds commas.
pub fn parse_hyperfine(text: &str) -> Result<Timing, String> {
    parse_hyperfine_rows(text)?
        .into_iter()
        .next()
        .map(|(_, t)| t)
        .ok_or_else(|| "no measurement".into())
}

/// Every row of hyperfine's `--export-csv` text: the command and its timing.
pub fn parse_hyperfine_rows(text: &str) -> Result<Vec<(String, Timing)>, String> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let h = r.headers().map_err(|e| e.to_string())?.clone();
    let idx = |name: &str| {
        h.iter()
            .position(|c| c == name)
            .ok_or_else(|| format!("no {name} column"))
    };
    let (ic, im, imed, isd) = (
        idx("command")?,
        idx("mean")?,
        idx("median")?,
        idx("stddev")?,
    );
    let mut rows = vec![];
    for row in r.records() {
        let row = row.map_err(|e| e.to_string())?;
        let get = |i: usize, name: &str| -> Result<f64, String> {
            let v = row.get(i).unwrap_or("").trim();
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{name} is not a number of seconds: '{v}'"))
        };
        let t = Timing {
            mean: get(im, "mean")?,
            median: get(imed, "median")?,
            // hyperfine leaves the deviation empty for a single run
            stddev: get(isd, "stddev").unwrap_or(0.0),
        };
        rows.push((row.get(ic).unwrap_or("").to_owned(), t));
    }
    Ok(rows)
}

/// One measurement: a workload at a size with a tracker, against no tracker.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub workload: String,
    /// As it was given to the workload (`1MiB`).
    pub size: String,
    /// The same in bytes, when known.
    pub bytes: Option<u64>,
    pub tracker: String,
    pub baseline: Timing,
    pub tracked: Timing,
}

/// with / without; 0 when the time without is 0 (which hyperfine never gives).
pub fn ratio(with: f64, without: f64) -> f64 {
    if without > 0.0 {
        with / without
    } else {
        0.0
    }
}

/// overhead.csv and overhead.md for `runs` hyperfine runs per command.
pub fn tables(cells: &[Cell], runs: u64) -> (String, String) {
    let mut csv = format!("{CSV_HEADER}\n");
    let mut md = MD_HEADER.to_string();
    for c in cells {
        let (b, x) = (&c.baseline, &c.tracked);
        let (rm, rmed) = (ratio(x.mean, b.mean), ratio(x.median, b.median));
        csv += &format!(
            "{},{},{},{runs},{:.3},{:.3},{rm:.3},{:.3},{:.3},{rmed:.3},{:.3},{:.3}\n",
            c.workload,
            c.size,
            c.tracker,
            b.mean * 1e3,
            x.mean * 1e3,
            b.median * 1e3,
            x.median * 1e3,
            b.stddev * 1e3,
            x.stddev * 1e3,
        );
        md += &format!(
            "| {} | {} | {} | {:.3} | {:.3} | {rm:.2} | {:.3} | {:.3} | {rmed:.2} |\n",
            c.workload,
            c.size,
            c.tracker,
            b.mean * 1e3,
            x.mean * 1e3,
            b.median * 1e3,
            x.median * 1e3,
        );
    }
    (csv, md)
}

/// A size as the tables write it: `1 B`, `4 KiB`, `64 MiB`, `1536 B`.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut u) = (bytes, 0);
    while v >= 1024 && v % 1024 == 0 && u + 1 < units.len() {
        v /= 1024;
        u += 1;
    }
    format!("{v} {}", units[u])
}

/// The overhead table of docs/results/overhead.md: one row per workload and size, one column per
/// tracker (in the order they come), each cell the ratio of the medians,
/// with / without the tracker (`1.22x`).
pub fn ratios_table(cells: &[Cell]) -> String {
    let mut trackers: Vec<&str> = vec![];
    let mut rows: Vec<(&str, &str, Option<u64>)> = vec![];
    for c in cells {
        if !trackers.contains(&c.tracker.as_str()) {
            trackers.push(&c.tracker);
        }
        let key = (c.workload.as_str(), c.size.as_str(), c.bytes);
        if !rows.contains(&key) {
            rows.push(key);
        }
    }
    let mut md = format!("| workload | size | {} |\n", trackers.join(" | "));
    md += &format!("| --- | --- |{}\n", " --- |".repeat(trackers.len()));
    for (w, s, bytes) in rows {
        let size = bytes.map_or_else(|| s.to_string(), human_size);
        let cells: Vec<String> = trackers
            .iter()
            .map(|t| {
                cells
                    .iter()
                    .find(|c| c.workload == w && c.size == s && c.tracker == *t)
                    .map_or_else(String::new, |c| {
                        format!("{:.2}x", ratio(c.tracked.median, c.baseline.median))
                    })
            })
            .collect();
        md += &format!("| {w} | {size} | {} |\n", cells.join(" | "));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    const HF: &str = "command,mean,stddev,median,user,system,min,max\n\"strace -f -e trace=mmap,brk,shmget target/release/malloc-wl 1\",0.008,0.0005,0.0079,0.001,0.002,0.007,0.01\n";

    #[test]
    fn reads_hyperfines_csv_with_a_quoted_command() {
        let t = parse_hyperfine(HF).unwrap();
        assert_eq!(
            t,
            Timing {
                mean: 0.008,
                median: 0.0079,
                stddev: 0.0005
            }
        );
        let one =
            "command,mean,stddev,median,user,system,min,max\nx,0.001,,0.001,0,0,0.001,0.001\n";
        assert_eq!(parse_hyperfine(one).unwrap().stddev, 0.0);
        assert!(parse_hyperfine("command,mean\nx,1\n").is_err());
        assert!(parse_hyperfine("command,mean,stddev,median\n").is_err());
        assert!(parse_hyperfine("command,mean,stddev,median\nx,abc,0,1\n").is_err());
    }

    #[test]
    fn ratios_and_the_tables() {
        let cell = Cell {
            workload: "malloc-wl".into(),
            size: "1MiB".into(),
            bytes: Some(1 << 20),
            tracker: "strace".into(),
            baseline: Timing {
                mean: 0.001,
                median: 0.00098,
                stddev: 0.0001,
            },
            tracked: parse_hyperfine(HF).unwrap(),
        };
        let (csv, md) = tables(&[cell], 50);
        assert_eq!(
            csv.lines().nth(1),
            Some("malloc-wl,1MiB,strace,50,1.000,8.000,8.000,0.980,7.900,8.061,0.100,0.500")
        );
        assert_eq!(
            md.lines().nth(2),
            Some("| malloc-wl | 1MiB | strace | 1.000 | 8.000 | 8.00 | 0.980 | 7.900 | 8.06 |")
        );
        assert_eq!(ratio(1.0, 0.0), 0.0);
    }

    #[test]
    fn sizes_as_the_readme_writes_them() {
        assert_eq!(human_size(1), "1 B");
        assert_eq!(human_size(1536), "1536 B");
        assert_eq!(human_size(4096), "4 KiB");
        assert_eq!(human_size(1 << 20), "1 MiB");
        assert_eq!(human_size(64 << 20), "64 MiB");
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(0), "0 B");
    }

    #[test]
    fn the_readmes_table() {
        let t = |median| Timing {
            mean: median,
            median,
            stddev: 0.0,
        };
        let cell = |w: &str, s: &str, bytes, tr: &str, with| Cell {
            workload: w.into(),
            size: s.into(),
            bytes,
            tracker: tr.into(),
            baseline: t(0.001),
            tracked: t(with),
        };
        let cells = [
            cell("malloc-wl", "1", Some(1), "bpftrace", 0.00122),
            cell("malloc-wl", "1", Some(1), "strace", 0.00798),
            cell("malloc-wl", "64MiB", Some(64 << 20), "bpftrace", 0.00117),
            cell("bytearray-wl", "1", None, "strace", 0.00627),
        ];
        assert_eq!(
            ratios_table(&cells),
            "| workload | size | bpftrace | strace |\n\
             | --- | --- | --- | --- |\n\
             | malloc-wl | 1 B | 1.22x | 7.98x |\n\
             | malloc-wl | 64 MiB | 1.17x |  |\n\
             | bytearray-wl | 1 |  | 6.27x |\n"
        );
    }
}
