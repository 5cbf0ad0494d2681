//! The kernel sweep's CSV (`scripts/kernel/vm-sweep.sh`), one row per run of
//! `kmalloc-test` in the VM:
//!
//! `size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events,kmalloc_ptrs,sheaf_bytes`
//!
//! Only `size` and `bytes_alloc_sum` are needed (`sheaf_bytes` came last, so
//! older files without it still read). The header is optional: without
//! one, the columns are taken in the order above. Rows whose size or sum is not
//! a whole number are skipped, as are empty lines.

use std::collections::HashMap;

/// The header `scripts/kernel/vm-sweep.sh` writes.
pub const HEADER: &str = "size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events,kmalloc_ptrs,sheaf_bytes";

/// One run of `kmalloc-test` in the VM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelRun {
    pub size: u64,
    pub repetition: Option<u64>,
    /// Sum of `bytes_alloc` of `kmem:kmalloc` and `kmem:kmem_cache_alloc` in
    /// the run's process: what a MemTracker-style tracker reports.
    pub bytes_alloc_sum: u64,
    /// What the module's own kmalloc asked for (the truth).
    pub bytes_req: Option<u64>,
    /// The module's own allocations (distinct pointers from its call site).
    pub module_ptrs: Option<u64>,
    /// `kmem:kmalloc` events of those pointers (2 for one large kmalloc on Linux 7.2).
    pub module_events: Option<u64>,
    /// Every `kmem:kmalloc` event in the process.
    pub kmalloc_events: Option<u64>,
    /// Every `kmem:kmem_cache_alloc` event in the process.
    pub cache_events: Option<u64>,
    /// Distinct pointers of the process's `kmem:kmalloc` events.
    pub kmalloc_ptrs: Option<u64>,
    /// The part of `bytes_alloc_sum` SLUB kmalloced for its own per-CPU
    /// sheaves (`__alloc_empty_sheaf`, Linux 7.x): noise of the slab allocator,
    /// charged to whichever task needed a new sheaf.
    pub sheaf_bytes: Option<u64>,
}

fn clean(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\r' || c == '"')
}

fn whole(s: &str) -> Option<u64> {
    let s = clean(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses the kernel CSV's text.
pub fn parse(text: &str) -> Result<Vec<KernelRun>, String> {
    let mut lines = text.lines().filter(|l| !clean(l).is_empty()).peekable();
    let default: Vec<&str> = HEADER.split(',').collect();
    let mut col: HashMap<String, usize> = HashMap::new();
    let first_is_header = lines
        .peek()
        .is_some_and(|l| whole(l.split(',').next().unwrap_or("")).is_none());
    if first_is_header {
        let h = lines.next().unwrap_or_default();
        for (i, name) in h.split(',').enumerate() {
            col.entry(clean(name).to_string()).or_insert(i);
        }
        if !col.contains_key("size") || !col.contains_key("bytes_alloc_sum") {
            return Err("the kernel CSV has no size or bytes_alloc_sum column".into());
        }
    } else {
        for (i, name) in default.iter().enumerate() {
            col.insert((*name).to_string(), i);
        }
    }
    let mut runs = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let get = |name: &str| col.get(name).and_then(|&i| f.get(i)).and_then(|v| whole(v));
        let (Some(size), Some(sum)) = (get("size"), get("bytes_alloc_sum")) else {
            continue;
        };
        runs.push(KernelRun {
            size,
            repetition: get("repetition"),
            bytes_alloc_sum: sum,
            bytes_req: get("bytes_req"),
            module_ptrs: get("distinct_ptrs"),
            module_events: get("raw_events"),
            kmalloc_events: get("kmalloc_events"),
            cache_events: get("cache_events"),
            kmalloc_ptrs: get("kmalloc_ptrs"),
            sheaf_bytes: get("sheaf_bytes"),
        });
    }
    Ok(runs)
}

/// The kernel CSV from the VM's console log: the lines `KCSV <row>` that
/// `scripts/kernel/guest-sweep.sh` prints, one per run, under `HEADER`. Every
/// size of `sizes` must have run `reps` times, once per repetition, and every
/// row must have `HEADER`'s columns, numbers (`bytes_req` may be empty: the
/// module's allocation was not seen).
pub fn from_console(console: &str, sizes: &[u64], reps: u64) -> Result<String, String> {
    let ncol = HEADER.split(',').count();
    let mut out = format!("{HEADER}\n");
    let mut seen = std::collections::BTreeSet::new();
    for line in console.lines() {
        let Some(row) = line.trim_end_matches('\r').strip_prefix("KCSV ") else {
            continue;
        };
        // what follows the numbers is the console's (a kernel message run into the line)
        let end = row
            .find(|c: char| !(c.is_ascii_digit() || c == ','))
            .unwrap_or(row.len());
        let row = &row[..end];
        let f: Vec<&str> = row.split(',').collect();
        let numbers = f
            .iter()
            .enumerate()
            .all(|(i, v)| whole(v).is_some() || (i == 3 && v.is_empty()));
        if f.len() != ncol || !numbers {
            return Err(format!("not a run of {ncol} numbers: KCSV {row}"));
        }
        let (size, rep) = (whole(f[0]).unwrap_or(0), whole(f[1]).unwrap_or(0));
        if !sizes.contains(&size) || rep == 0 || rep > reps {
            return Err(format!("a run that was not asked for: KCSV {row}"));
        }
        if !seen.insert((size, rep)) {
            return Err(format!("size {size} repetition {rep} reported twice"));
        }
        out += row;
        out.push('\n');
    }
    let want = sizes
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64
        * reps;
    if seen.len() as u64 != want {
        return Err(format!("{} of {want} runs reported", seen.len()));
    }
    Ok(out)
}

/// Reads and parses the kernel CSV at `path`.
pub fn read(path: &str) -> Result<Vec<KernelRun>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    parse(&text).map_err(|e| format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_the_sweeps_header() {
        let t = format!(
            "{HEADER}\n4096,1,9000,4096,1,1,40,12,38,0\n4194304,2,8400000,4194304,1,2,50,13,44,512\n"
        );
        let r = parse(&t).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[1],
            KernelRun {
                size: 4194304,
                repetition: Some(2),
                bytes_alloc_sum: 8400000,
                bytes_req: Some(4194304),
                module_ptrs: Some(1),
                module_events: Some(2),
                kmalloc_events: Some(50),
                cache_events: Some(13),
                kmalloc_ptrs: Some(44),
                sheaf_bytes: Some(512),
            }
        );
    }

    #[test]
    fn a_file_from_before_sheaf_bytes() {
        let old = "size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events,kmalloc_ptrs\n32,1,900,32,1,1,40,12,38\n";
        let r = parse(old).unwrap();
        assert_eq!(r[0].kmalloc_ptrs, Some(38));
        assert_eq!(r[0].sheaf_bytes, None);
    }

    #[test]
    fn without_a_header_and_with_fewer_columns() {
        let r = parse("32,1,32,32,1,1\r\n32,2,64,32,1,2\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].bytes_alloc_sum, 64);
        assert_eq!(r[1].module_events, Some(2));
        assert_eq!(r[1].kmalloc_events, None);
    }

    #[test]
    fn columns_in_another_order_quoted_and_spaced() {
        let r = parse("\"bytes_alloc_sum\", size\n 100 ,\"8\"\n").unwrap();
        assert_eq!(r[0].size, 8);
        assert_eq!(r[0].bytes_alloc_sum, 100);
        assert_eq!(r[0].repetition, None);
    }

    #[test]
    fn rows_without_numbers_are_skipped() {
        let r = parse("size,bytes_alloc_sum\n\n8,x\n-1,5\n16,7\n").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].size, 16);
    }

    #[test]
    fn from_the_console() {
        let log = "boot\r\nKCSV 32,1,900,32,1,1,40,12,38,0\r\n[ 1.0] noise\nKCSV 32,2,964,32,1,1,41,12,39,64\nKCSV 1,1,868,,0,0,39,12,37,0\nKCSV 1,2,868,,0,0,39,12,37,0\n";
        let csv = from_console(log, &[1, 32], 2).unwrap();
        assert!(csv.starts_with(&format!("{HEADER}\n32,1,900,")));
        assert_eq!(csv.lines().count(), 5);
        let runs = parse(&csv).unwrap();
        assert_eq!(runs[2].bytes_req, None);
        assert_eq!(runs[1].kmalloc_ptrs, Some(39));
        assert_eq!(runs[1].sheaf_bytes, Some(64));
    }

    #[test]
    fn the_console_must_have_every_run_once() {
        let one = "KCSV 32,1,900,32,1,1,40,12,38,0\n";
        assert_eq!(
            from_console(one, &[32], 2).unwrap_err(),
            "1 of 2 runs reported"
        );
        let twice = format!("{one}{one}");
        assert!(from_console(&twice, &[32], 2)
            .unwrap_err()
            .contains("twice"));
        assert!(from_console(one, &[64], 1)
            .unwrap_err()
            .contains("not asked"));
        assert!(from_console("KCSV 32,1,900\n", &[32], 1)
            .unwrap_err()
            .contains("10 numbers"));
        assert!(from_console("KCSV 32,1,x,32,1,1,40,12,38,0\n", &[32], 1).is_err());
        let noisy = "KCSV 32,1,900,32,1,1,40,12,38,0[  3.1] kmalloc_lkm: freed\n";
        assert!(from_console(noisy, &[32], 1)
            .unwrap()
            .ends_with("\n32,1,900,32,1,1,40,12,38,0\n"));
        assert_eq!(
            from_console("", &[32], 1).unwrap_err(),
            "0 of 1 runs reported"
        );
    }

    #[test]
    fn a_header_without_the_sum_is_refused() {
        let e = parse("size,bytes\n1,2\n").unwrap_err();
        assert!(e.contains("bytes_alloc_sum"), "{e}");
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
