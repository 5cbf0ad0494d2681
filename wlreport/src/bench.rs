//! The benchmark table (`scripts/bench.sh`): each workload timed side by side
//! with what it stands in for, with its peak RSS, and at 1 byte its instructions
//! and malloc-family calls; ratios against the group's first command (the
//! dynamic workload); and what the `--json` ledger costs a call.

use crate::num::grouped;
use crate::overhead::{human_size, Timing};

/// bench.csv's header.
pub const CSV_HEADER: &str =
    "group,size,command,median_s,stddev_s,peak_rss_kib,minor_faults,instructions,heap_calls";

/// One command of a group at one size.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `malloc` or `bytearray`: the commands compared with each other.
    pub group: String,
    pub size: u64,
    pub command: String,
    pub timing: Timing,
    pub peak_rss_kib: u64,
    /// Page faults served without I/O, the fewest of a few runs (GNU time's %R).
    pub minor_faults: u64,
    /// callgrind's count, at 1 byte only.
    pub instructions: Option<u64>,
    /// memcheck's malloc-family calls (not for a static binary).
    pub heap_calls: Option<u64>,
}

/// Every run's wall time of each command, pooled over hyperfine `--export-json`
/// files (the rounds of one comparison), as (command, seconds).
pub fn pooled_times(jsons: &[&str]) -> Result<Vec<(String, Vec<f64>)>, String> {
    let mut pooled: Vec<(String, Vec<f64>)> = vec![];
    for text in jsons {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let results = v["results"].as_array().ok_or("no results list")?;
        for r in results {
            let command = r["command"].as_str().ok_or("a result without a command")?;
            let times = r["times"].as_array().ok_or("a result without times")?;
            let times = times
                .iter()
                .map(|t| t.as_f64().filter(|x| x.is_finite() && *x >= 0.0))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| format!("{command}: a time is not a number of seconds"))?;
            match pooled.iter_mut().find(|(c, _)| c == command) {
                Some((_, all)) => all.extend(times),
                None => pooled.push((command.to_owned(), times)),
            }
        }
    }
    Ok(pooled)
}

/// Mean, median and sample standard deviation of run times; `None` for no runs.
pub fn timing(times: &[f64]) -> Option<Timing> {
    if times.is_empty() {
        return None;
    }
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let stddev = if n > 1 {
        (sorted.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some(Timing {
        mean,
        median,
        stddev,
    })
}

/// How the table names a command: the program's file name and its arguments,
/// quotes dropped, `(static)` for the static build, `(installed)` for the copy
/// bench.sh installs.
pub fn name(command: &str) -> String {
    let static_build = command.contains("x86_64-unknown-linux-gnu/");
    let installed = command.contains("/installed/");
    let mut words = command.split(' ');
    let prog = words.next().unwrap_or_default();
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    let mut n = std::iter::once(prog)
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\'', "");
    if static_build {
        n.push_str(" (static)");
    }
    if installed {
        n.push_str(" (installed)");
    }
    n
}

fn opt(v: Option<u64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// bench.csv and the table of docs/results/bench.md.
pub fn tables(rows: &[Row]) -> (String, String) {
    let mut csv = format!("{CSV_HEADER}\n");
    let mut md = String::from(
        "| size | command | median time | peak RSS | page faults | instructions | malloc calls | time / workload | instructions / workload |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut base: Vec<((&str, u64), &Row)> = vec![];
    for r in rows {
        csv += &format!(
            "{},{},\"{}\",{:.6},{:.6},{},{},{},{}\n",
            r.group,
            r.size,
            r.command,
            r.timing.median,
            r.timing.stddev,
            r.peak_rss_kib,
            r.minor_faults,
            opt(r.instructions),
            opt(r.heap_calls)
        );
        let key = (r.group.as_str(), r.size);
        // The first command of a group is the dynamic workload, the baseline.
        let b = match base.iter().find(|(k, _)| *k == key) {
            Some((_, b)) => *b,
            None => {
                base.push((key, r));
                r
            }
        };
        let ins_ratio = match (r.instructions, b.instructions) {
            (Some(i), Some(bi)) if bi > 0 => format!("{:.2}x", i as f64 / bi as f64),
            _ => String::new(),
        };
        md += &format!(
            "| {} | `{}` | {:.2} ms ± {:.2} | {} KiB | {} | {} | {} | {:.2}x | {} |\n",
            human_size(r.size),
            name(&r.command),
            r.timing.median * 1e3,
            r.timing.stddev * 1e3,
            r.peak_rss_kib,
            r.minor_faults,
            r.instructions.map_or(String::new(), grouped),
            opt(r.heap_calls),
            r.timing.median / b.timing.median,
            ins_ratio
        );
    }
    if let Some(line) = ledger_cost(rows) {
        md += &format!("\n{line}\n");
    }
    (csv, md)
}

/// The `ledger` group's sentence: `malloc-wl --repeat N SIZE` timed without
/// and with `--json`, the difference over its 2N calls (a malloc and a free
/// each repeat) is what one ledger entry costs.
pub fn ledger_cost(rows: &[Row]) -> Option<String> {
    let ledger = |json: bool| {
        rows.iter()
            .find(|r| r.group == "ledger" && r.command.contains(" --json") == json)
    };
    let (plain, json) = (ledger(false)?, ledger(true)?);
    let mut words = plain.command.split(' ');
    words.find(|w| *w == "--repeat")?;
    let calls = 2 * words.next()?.parse::<u64>().ok()?;
    let (p, j) = (plain.timing.median, json.timing.median);
    Some(format!(
        "The ledger: `{}` makes {} calls (a malloc and a free each repeat) in {:.1} ms, \
         {:.1} ms with `--json`: **{:.1} µs a call** for its entry.",
        name(&plain.command),
        grouped(calls),
        p * 1e3,
        j * 1e3,
        (j - p) / calls as f64 * 1e6
    ))
}

/// The pacing table: for each `rate-wl --json` report (its command, its
/// report), the target, the calls made, the time they took and the rate
/// achieved, and how far off the target it was.
pub fn pacing(runs: &[(String, wlmodel::Report)]) -> Result<String, String> {
    let mut md = String::from(
        "| command | target | calls | elapsed | achieved | off by |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for (cmd, r) in runs {
        let rate = r.rate.as_ref().ok_or("a report without its rate object")?;
        let target = rate.target.ok_or("a run at --rate max has no target")?;
        if rate.elapsed_ns == 0 {
            return Err("a report with no elapsed time".into());
        }
        let achieved = rate.allocs as f64 * 1e9 / rate.elapsed_ns as f64;
        md += &format!(
            "| `{cmd}` | {}/s | {} | {:.4} s | {achieved:.1}/s | {:+.2}% |\n",
            grouped(target),
            grouped(rate.allocs),
            rate.elapsed_ns as f64 / 1e9,
            (achieved / target as f64 - 1.0) * 100.0
        );
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(group: &str, command: &str, median: f64, ins: Option<u64>) -> Row {
        Row {
            group: group.into(),
            size: 1,
            command: command.into(),
            timing: Timing {
                mean: median,
                median,
                stddev: 0.00008,
            },
            peak_rss_kib: 1384,
            minor_faults: 76,
            instructions: ins,
            heap_calls: Some(1),
        }
    }

    #[test]
    fn times_pooled_over_rounds() {
        let round = |a: &str, b: &str| {
            format!(
                r#"{{"results": [{{"command": "c 1", "times": [{a}]}}, {{"command": "w 1", "times": [{b}]}}]}}"#
            )
        };
        let (r1, r2) = (round("0.5, 0.7", "0.4"), round("0.6", "0.9, 0.2, 0.3"));
        let pooled = pooled_times(&[&r1, &r2]).unwrap();
        assert_eq!(pooled[0], ("c 1".to_owned(), vec![0.5, 0.7, 0.6]));
        assert_eq!(pooled[1], ("w 1".to_owned(), vec![0.4, 0.9, 0.2, 0.3]));
        let t = timing(&pooled[0].1).unwrap();
        assert!((t.median - 0.6).abs() < 1e-12 && (t.mean - 0.6).abs() < 1e-12);
        assert!((t.stddev - 0.1).abs() < 1e-12, "{t:?}");
        // An even count takes the middle two's mean.
        assert!((timing(&pooled[1].1).unwrap().median - 0.35).abs() < 1e-12);
        assert_eq!(timing(&[]), None);
        assert!(pooled_times(&["{}"]).is_err());
        assert!(pooled_times(&[r#"{"results": [{"command": "x", "times": ["a"]}]}"#]).is_err());
    }

    #[test]
    fn the_ledger_costs_the_difference_over_the_calls() {
        let mut rows = vec![
            row("malloc", "target/release/malloc-wl 1", 0.00059, None),
            row(
                "ledger",
                "target/release/malloc-wl --repeat 1000 1",
                0.0005,
                None,
            ),
        ];
        assert_eq!(ledger_cost(&rows), None, "no --json run");
        rows.push(row(
            "ledger",
            "target/release/malloc-wl --repeat 1000 --json 1",
            0.0125,
            None,
        ));
        assert_eq!(
            ledger_cost(&rows).unwrap(),
            "The ledger: `malloc-wl --repeat 1000 1` makes 2,000 calls (a malloc and a free each repeat) in 0.5 ms, \
             12.5 ms with `--json`: **6.0 µs a call** for its entry."
        );
        let (_, md) = tables(&rows);
        assert!(md.ends_with("**6.0 µs a call** for its entry.\n"), "{md}");
        assert!(
            md.contains("| `malloc-wl --repeat 1000 --json 1` | 12.50 ms"),
            "{md}"
        );
    }

    #[test]
    fn names() {
        assert_eq!(name("target/release/malloc-wl 1"), "malloc-wl 1");
        assert_eq!(
            name("target/x86_64-unknown-linux-gnu/release/malloc-wl 1"),
            "malloc-wl 1 (static)"
        );
        assert_eq!(
            name("results/bench/installed/malloc-wl 1"),
            "malloc-wl 1 (installed)"
        );
        assert_eq!(
            name("/usr/bin/python3.11 -c 'bytearray(1)'"),
            "python3.11 -c bytearray(1)"
        );
    }

    #[test]
    fn ratios_against_the_first_of_a_group() {
        let rows = [
            row(
                "malloc",
                "target/release/malloc-wl 1",
                0.00059,
                Some(147_325),
            ),
            row("malloc", "results/bench/cmalloc 1", 0.00053, Some(129_503)),
        ];
        let (csv, md) = tables(&rows);
        assert!(csv.starts_with(CSV_HEADER));
        assert!(
            csv.contains(
                "malloc,1,\"results/bench/cmalloc 1\",0.000530,0.000080,1384,76,129503,1\n"
            ),
            "{csv}"
        );
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[2],
            "| 1 B | `malloc-wl 1` | 0.59 ms ± 0.08 | 1384 KiB | 76 | 147,325 | 1 | 1.00x | 1.00x |"
        );
        assert_eq!(
            lines[3],
            "| 1 B | `cmalloc 1` | 0.53 ms ± 0.08 | 1384 KiB | 76 | 129,503 | 1 | 0.90x | 0.88x |"
        );
        assert_eq!(grouped(139_326_842), "139,326,842");
        assert_eq!(grouped(999), "999");
    }

    #[test]
    fn pacing_from_reports() {
        let json = |allocs: u64, ns: u64| {
            format!(
                r#"{{"workload":"rate-wl","path":"malloc","pid":1,"requested_bytes":4096,"allocator_bytes":4096,"mmap_threshold":131072,"repeat":1,"ledger_version":1,"ledger":[],"completed":1,"rate":{{"sizes":"4KiB","seed":1,"unit":"calls/s","target":10000,"threads":1,"live":1,"ledger":"summary","interval_ns":100000000,"intervals":[],"histogram":[],"allocs":{allocs},"frees":{allocs},"bytes":0,"freed_bytes":0,"failures":0,"final_frees":1,"elapsed_ns":{ns},"achieved":0}}}}"#
            )
        };
        let r = wlmodel::Report::parse(&json(20000, 2_000_100_000)).unwrap();
        let md = pacing(&[("rate-wl --rate 10k --duration 2s 4KiB".into(), r)]).unwrap();
        assert!(md.ends_with(
            "| `rate-wl --rate 10k --duration 2s 4KiB` | 10,000/s | 20,000 | 2.0001 s | 9999.5/s | -0.00% |\n"
        ), "{md}");
        let bad = wlmodel::Report::parse(&json(1, 0)).unwrap();
        assert!(pacing(&[("x".into(), bad)]).is_err());
    }
}
