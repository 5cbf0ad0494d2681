//! The test VM's benchmark (`scripts/kernel/vm-bench.sh`): allocate-and-free
//! cycles per second at a few sizes, for kmalloc-test, a busybox shell loop
//! writing to the module's file, and malloc-wl.
//!
//! The guest (`scripts/kernel/guest-bench.sh`) prints a line a measurement,
//! `KBENCH <size> <column> <cycles> <ns>`: for the two workloads, the cycles
//! of their `--json` report and the time from the first allocation to the
//! last free (process start-up left out); for the shell loop, its cycles and
//! the time of the whole loop (`/proc/uptime`, in centiseconds). This module
//! makes the table of them.

use crate::num::grouped;
use std::collections::BTreeMap;

/// The columns, in the table's order, and their headings.
const COLUMNS: [(&str, &str); 3] = [
    ("kmalloc-test", "kmalloc-test (open, write, close)"),
    ("shell", "shell `echo SIZE >` loop"),
    ("malloc-wl", "malloc-wl (malloc, free)"),
];

/// Cycles a second, by size and column.
pub type Rates = BTreeMap<u64, BTreeMap<String, Option<u64>>>;

/// The measurements of the console log's `KBENCH` lines; a column the guest
/// could not measure is `n/a`.
pub fn from_console(console: &str) -> Result<Rates, String> {
    let mut rates = Rates::new();
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        let Some(rest) = line.strip_prefix("KBENCH ") else {
            continue;
        };
        let w: Vec<&str> = rest.split_whitespace().collect();
        let [size, column, cycles, ns] = w[..] else {
            return Err(format!("not KBENCH SIZE COLUMN CYCLES NS: {line}"));
        };
        if !COLUMNS.iter().any(|(c, _)| *c == column) {
            return Err(format!("a column this does not know: {line}"));
        }
        let size: u64 = size.parse().map_err(|_| format!("bad size: {line}"))?;
        let rate = match (cycles.parse::<u64>(), ns.parse::<u64>()) {
            (Ok(n), Ok(t)) if t > 0 => Some((n as f64 * 1e9 / t as f64).round() as u64),
            _ if cycles == "n/a" || ns == "n/a" => None,
            _ => return Err(format!("bad cycles or time: {line}")),
        };
        let prev = rates
            .entry(size)
            .or_default()
            .insert(column.to_string(), rate);
        if prev.is_some() {
            return Err(format!("measured twice: {line}"));
        }
    }
    if rates.is_empty() {
        return Err("no KBENCH lines".into());
    }
    Ok(rates)
}

fn size_name(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// The markdown table: a row a size, cycles a second in each column.
pub fn table(rates: &Rates) -> String {
    let mut t = String::from("| size |");
    for (_, heading) in COLUMNS {
        t += &format!(" {heading} |");
    }
    t += "\n| ---: |";
    t += &" ---: |".repeat(COLUMNS.len());
    t.push('\n');
    for (size, row) in rates {
        t += &format!("| {} |", size_name(*size));
        for (c, _) in COLUMNS {
            let cell = match row.get(c) {
                Some(Some(r)) => grouped(*r),
                _ => "n/a".into(),
            };
            t += &format!(" {cell} |");
        }
        t.push('\n');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_of_the_guests_lines() {
        let log = "GUEST-START: 7.2.13\nKBENCH 32 kmalloc-test 2000 3623188405\r\nKBENCH 32 shell 2000 4180000000\nKBENCH 32 malloc-wl 2000 14650000\nKBENCH 4194304 kmalloc-test n/a n/a\n";
        let r = from_console(log).unwrap();
        assert_eq!(r[&32]["kmalloc-test"], Some(552));
        assert_eq!(r[&32]["malloc-wl"], Some(136_519));
        assert_eq!(r[&4194304]["kmalloc-test"], None);
        let t = table(&r);
        assert!(t.contains("| 32 B | 552 | 478 | 136,519 |"), "{t}");
        assert!(t.contains("| 4 MiB | n/a | n/a | n/a |"), "{t}");
        assert!(from_console("nothing").is_err());
        assert!(from_console("KBENCH 32 other 1 1").is_err());
        assert!(from_console("KBENCH 32 shell 1 1\nKBENCH 32 shell 1 1").is_err());
    }
}
