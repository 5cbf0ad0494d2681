//! The kmemleak cells (`scripts/kernel/kleaks.sh`): for each object the module
//! leaked on purpose, what kmemleak reported of it, next to the truth.
//!
//! The guest (`scripts/kernel/guest-kleaks.sh`) prints, for leak `n` (1 up),
//! `KLEAK-SPEC <n> <spec>` and, for each of the objects leaked for it (one a
//! repetition), the module's own record of it, `KLEAK-LEAKED <n> <addr> <path>
//! <requested> <allocated>`; after kmemleak's scans, `KLEAK-REPORTED <addr>
//! <size>` for each object it reports unreferenced, and `KLEAK-END <status>`.
//! A leak and a report are the same object when their addresses are.
//! kmemleak holds an object referenced while any word of the memory it scans
//! equals its address, so a stale copy can hide a leak now and then: a cell
//! takes the class most of its objects had, as the scoreboard's cells do.

use std::collections::BTreeMap;

use crate::kpaths::{cells_csv, path_name, Cell};
use crate::scoreboard::Class;

/// The tracker of these cells, its tool and its kind.
pub const TRACKER: (&str, &str, &str) = ("kmemleak", "kmemleak", "kernel");

/// The objects leaked for one spec and what kmemleak reported of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    /// What was written to the module (`kzalloc 1500`).
    pub spec: String,
    /// The path as the module lists it (`kvmalloc:vmalloc`, ...).
    pub listed: String,
    pub requested: u64,
    pub allocated: u64,
    /// For each object, the size kmemleak reported for its address, if it did.
    pub reported: Vec<Option<u64>>,
}

/// What the console says: the leaks, in order, and the reports that are none
/// of them.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan {
    pub leaks: Vec<Leak>,
    pub other_reports: usize,
}

fn num(w: &str, what: &str) -> Result<u64, String> {
    w.parse()
        .map_err(|_| format!("{what} is not a number: {w}"))
}

/// Reads the KLEAK lines of the console: `leaks` specs, each leaked `reps`
/// times on one path and size, and a status of 0.
pub fn from_console(console: &str, leaks: usize, reps: usize) -> Result<Scan, String> {
    let mut specs: BTreeMap<usize, String> = BTreeMap::new();
    // n -> [(addr, listed, requested, allocated)]
    let mut leaked: BTreeMap<usize, Vec<(String, String, u64, u64)>> = BTreeMap::new();
    let mut reported: BTreeMap<String, u64> = BTreeMap::new();
    let mut end = None;
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        let Some((tag, rest)) = line.split_once(' ') else {
            continue;
        };
        let w: Vec<&str> = rest.split_whitespace().collect();
        let n = || -> Result<usize, String> {
            w.first()
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=leaks).contains(n))
                .ok_or_else(|| format!("a leak that was not asked for: {line}"))
        };
        match tag {
            "KLEAK-SPEC" => {
                specs.insert(n()?, w[1..].join(" "));
            }
            "KLEAK-LEAKED" => {
                let [_, addr, listed, req, alloc] = w[..] else {
                    return Err(format!("not a leak: {line}"));
                };
                let v = (
                    addr.into(),
                    listed.into(),
                    num(req, "requested")?,
                    num(alloc, "allocated")?,
                );
                leaked.entry(n()?).or_default().push(v);
            }
            "KLEAK-REPORTED" => {
                let [addr, size] = w[..] else {
                    return Err(format!("not a report: {line}"));
                };
                reported.insert(addr.into(), num(size, "the size")?);
            }
            "KLEAK-END" => end = Some(rest.trim().to_string()),
            _ => {}
        }
    }
    match end.as_deref() {
        Some("0") => {}
        Some(s) => return Err(format!("the guest's leaks ended with status {s}")),
        None => return Err("the guest never finished (no KLEAK-END)".into()),
    }
    let mut out = Vec::with_capacity(leaks);
    for i in 1..=leaks {
        let spec = specs
            .remove(&i)
            .ok_or_else(|| format!("leak {i} was not made"))?;
        let objects = leaked.remove(&i).unwrap_or_default();
        if objects.len() != reps {
            return Err(format!(
                "leak {i} ({spec}): the module logged {} leaked objects, not {reps}",
                objects.len()
            ));
        }
        let (_, listed, requested, allocated) = objects[0].clone();
        if objects
            .iter()
            .any(|o| (&o.1, o.2, o.3) != (&listed, requested, allocated))
        {
            return Err(format!(
                "leak {i} ({spec}): its objects differ in path or size"
            ));
        }
        out.push(Leak {
            spec,
            listed,
            requested,
            allocated,
            reported: objects.iter().map(|o| reported.remove(&o.0)).collect(),
        });
    }
    Ok(Scan {
        leaks: out,
        other_reports: reported.len(),
    })
}

/// What kmemleak made of one object, reported with `size` or not at all,
/// classed as the scoreboard classes its cells against the bytes asked for,
/// with the reason in a few words.
pub fn classify_object(l: &Leak, size: Option<u64>) -> (Class, String) {
    match size {
        None => (Class::Missed, format!("-{} B: not reported", l.requested)),
        Some(s) if s == l.requested => (Class::Exact, String::new()),
        Some(s) => {
            let d = i128::from(s) - i128::from(l.requested);
            if s == l.allocated {
                (
                    Class::Rounded,
                    format!("{d:+} B: the size of the object it came in"),
                )
            } else {
                (Class::Noise, format!("{d:+} B: reported {s} B"))
            }
        }
    }
}

/// The cell's class: the one most of its objects had (on a tie, the worse,
/// later in [`Class`]), with the reason of the first object that had it.
pub fn classify(l: &Leak) -> (Class, String) {
    let each: Vec<(Class, String)> = l.reported.iter().map(|&s| classify_object(l, s)).collect();
    let mut count: BTreeMap<Class, usize> = BTreeMap::new();
    for (c, _) in &each {
        *count.entry(*c).or_default() += 1;
    }
    let class = count
        .into_iter()
        .max_by_key(|&(c, n)| (n, c))
        .map_or(Class::Failed, |(c, _)| c);
    each.into_iter()
        .find(|(c, _)| *c == class)
        .unwrap_or((Class::Failed, "no objects".into()))
}

/// The markdown table, under a line that says where it comes from, and a line
/// on the reports that are none of the leaks.
pub fn table(scan: &Scan, kernel: &str) -> String {
    let mut t = format!(
        "Linux {kernel}, debug config (kmemleak); {} objects leaked on each path, \
         kmemleak's report after two scans\n\n",
        scan.leaks.first().map_or(0, |l| l.reported.len())
    );
    t += "| leak | listed as | requested | allocated | kmemleak's sizes | class |\n";
    t += "| --- | --- | ---: | ---: | ---: | --- |\n";
    for l in &scan.leaks {
        let (class, why) = classify(l);
        let class = if why.is_empty() {
            class.as_str().to_string()
        } else {
            format!("{} ({why})", class.as_str())
        };
        let size = l
            .reported
            .iter()
            .map(|s| s.map_or("none".to_string(), |s| s.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        t += &format!(
            "| `{}` | {} | {} | {} | {size} | {class} |\n",
            l.spec, l.listed, l.requested, l.allocated
        );
    }
    t += &format!(
        "\nOther objects kmemleak reported: {}\n",
        scan.other_reports
    );
    t
}

/// The leaks as scoreboard cells (tracker and tool kmemleak).
pub fn csv(scan: &Scan, kernel: &str) -> Result<String, String> {
    let cells: Vec<Cell> = scan
        .leaks
        .iter()
        .map(|l| {
            let (class, why) = classify(l);
            let figure = l
                .reported
                .iter()
                .find(|&&s| classify_object(l, s).0 == class)
                .copied()
                .flatten();
            Cell {
                path: path_name(&l.spec),
                tracker: TRACKER,
                version: kernel.to_string(),
                class,
                why,
                figure,
                truth: l.requested,
                runs: l.reported.len(),
                note: format!("listed as {}, {} B allocated", l.listed, l.allocated),
            }
        })
        .collect();
    cells_csv(&cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three specs, two objects each: kmalloc 3000 reported both times (the
    /// bucket), vmalloc 20000 once, krealloc never; and a report of
    /// something else.
    const CONSOLE: &str = "GUEST-START: 7.2.13 cpus=2\r
KLEAK-SPEC 1 kmalloc 3000\r
KLEAK-SPEC 2 vmalloc 20000\r
KLEAK-SPEC 3 krealloc 50 10000\r
KLEAK-LEAKED 1 ffff888004a1b000 kmalloc 3000 4096\r
[    5.1] kmalloc_lkm: leaked object at 0xffff888004a1b000\r
KLEAK-LEAKED 2 ffffc90000123000 vmalloc 20000 20480\r
KLEAK-LEAKED 3 ffff888005000000 krealloc 10000 16384\r
KLEAK-LEAKED 1 ffff888004a1c000 kmalloc 3000 4096\r
KLEAK-LEAKED 2 ffffc90000200000 vmalloc 20000 20480\r
KLEAK-LEAKED 3 ffff888005100000 krealloc 10000 16384\r
KLEAK-REPORTED ffff888004a1b000 4096\r
KLEAK-REPORTED ffff888004a1c000 4096\r
KLEAK-REPORTED ffff888006000000 128\r
KLEAK-REPORTED ffffc90000200000 20000\r
KLEAK-END 0\r
";

    #[test]
    fn pairs_leaks_and_reports_by_address() {
        let s = from_console(CONSOLE, 3, 2).unwrap();
        assert_eq!(s.other_reports, 1);
        assert_eq!(
            s.leaks[0],
            Leak {
                spec: "kmalloc 3000".into(),
                listed: "kmalloc".into(),
                requested: 3000,
                allocated: 4096,
                reported: vec![Some(4096), Some(4096)],
            }
        );
        assert_eq!(s.leaks[1].reported, [None, Some(20000)]);
        assert_eq!(s.leaks[2].spec, "krealloc 50 10000");
        assert_eq!(s.leaks[2].reported, [None, None]);
    }

    #[test]
    fn classes() {
        let s = from_console(CONSOLE, 3, 2).unwrap();
        let c: Vec<(Class, String)> = s.leaks.iter().map(classify).collect();
        assert_eq!(
            c,
            [
                (
                    Class::Rounded,
                    "+1096 B: the size of the object it came in".into()
                ),
                // a tie: the worse class
                (Class::Missed, "-20000 B: not reported".into()),
                (Class::Missed, "-10000 B: not reported".into()),
            ]
        );
        let odd = Leak {
            reported: vec![Some(3500), None, Some(3500)],
            ..s.leaks[0].clone()
        };
        assert_eq!(
            classify(&odd),
            (Class::Noise, "+500 B: reported 3500 B".into())
        );
    }

    #[test]
    fn a_console_that_is_not_whole_is_refused() {
        let err = |c: &str, leaks, reps| from_console(c, leaks, reps).unwrap_err();
        assert!(err(CONSOLE, 4, 2).contains("leak 4 was not made"));
        assert!(err(CONSOLE, 2, 2).contains("not asked for"));
        assert!(err(CONSOLE, 3, 3).contains("2 leaked objects, not 3"));
        let no_end = CONSOLE.replace("KLEAK-END 0", "");
        assert!(err(&no_end, 3, 2).contains("never finished"));
        let failed = CONSOLE.replace("KLEAK-END 0", "KLEAK-END 1");
        assert!(err(&failed, 3, 2).contains("status 1"));
        let other = CONSOLE.replace(
            "KLEAK-LEAKED 2 ffffc90000200000 vmalloc 20000 20480",
            "KLEAK-LEAKED 2 ffffc90000200000 vmalloc 20000 24576",
        );
        assert!(err(&other, 3, 2).contains("differ"));
    }

    #[test]
    fn the_table_and_the_cells() {
        let s = from_console(CONSOLE, 3, 2).unwrap();
        let t = table(&s, "7.2.13");
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("Linux 7.2.13, debug config (kmemleak); 2 objects"));
        assert_eq!(
            lines[4],
            "| `kmalloc 3000` | kmalloc | 3000 | 4096 | 4096, 4096 | rounded (+1096 B: the size of the object it came in) |"
        );
        assert_eq!(
            lines[5],
            "| `vmalloc 20000` | vmalloc | 20000 | 20480 | none, 20000 | missed (-20000 B: not reported) |"
        );
        assert_eq!(lines[8], "Other objects kmemleak reported: 1");
        let c = csv(&s, "7.2.13").unwrap();
        let files = crate::scoreboard::expected_files(&c, &Default::default()).unwrap();
        assert_eq!(
            files["kmemleak-7.2.13.csv"],
            "tracker,path,class,diff,tolerance,why\nkmemleak,kmalloc-3000,rounded,+1096,0,\n\
             kmemleak,vmalloc-20000,missed,,0,\nkmemleak,krealloc-50-10000,missed,,0,\n"
        );
        assert!(c.lines().nth(1).unwrap().contains(",4096,3000,,,2,"), "{c}");
    }
}
