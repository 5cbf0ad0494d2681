//! The kernel sweep's CSV (`scripts/kernel/vm-sweep.sh`), one row per run of
//! `kmalloc-test` in the VM:
//!
//! `size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events`
//!
//! Only `size` and `bytes_alloc_sum` are needed. The header is optional: without
//! one, the columns are taken in the order above. Rows whose size or sum is not
//! a whole number are skipped, as are empty lines.

use std::collections::HashMap;

/// The header `scripts/kernel/vm-sweep.sh` writes.
pub const HEADER: &str =
    "size,repetition,bytes_alloc_sum,bytes_req,distinct_ptrs,raw_events,kmalloc_events,cache_events";

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
        });
    }
    Ok(runs)
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
        let t =
            format!("{HEADER}\n4096,1,9000,4096,1,1,40,12\n4194304,2,8400000,4194304,1,2,50,13\n");
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
            }
        );
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
    fn a_header_without_the_sum_is_refused() {
        let e = parse("size,bytes\n1,2\n").unwrap_err();
        assert!(e.contains("bytes_alloc_sum"), "{e}");
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
