//! The sweep's tables: `DATA.csv` (the original suite's), `errors.csv` and
//! `errors.md` (the tracker's error per workload and size).

use crate::num::{median, Halves};
use crate::runs::Run;
use std::collections::{BTreeMap, BTreeSet};

/// DATA.csv's header, exactly as the original suite wrote it.
pub const DATA_HEADER: &str = "Size of Allocation (Bytes),Malloc Workload Userspace (Bytes),Bytearray Workload Userspace (Bytes),Kmalloc Workload Kernelspace (Bytes)";

/// errors.csv's header.
pub const ERRORS_HEADER: &str = "workload,size,tracker,figure,reps_ok,tracked_median,tracked_min,tracked_max,baseline_bytes,delta_bytes,allocator_bytes,error_bytes,glibc_mmap_bytes,error_vs_glibc_mmap_bytes";

const ERRORS_MD_HEADER: &str = "| workload | size | tracker | reps | tracked (median) | spread | baseline (size 1) | delta | allocator bytes | error | glibc mmap | delta - glibc mmap |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";

/// The runs of one workload (or of the kernel CSV) with one tracker.
#[derive(Default)]
struct Group {
    workload: String,
    tracker: Option<String>,
    figure: Option<&'static str>,
    /// tracked bytes of the successful runs, per size
    tracked: BTreeMap<u64, Vec<u64>>,
    /// allocator bytes and glibc mmap length, per size, from its first run that has them
    truth: BTreeMap<u64, (u64, Option<u64>)>,
    /// sizes asked for (the size-1 baseline is run anyway); None: every size it has
    wanted: Option<BTreeSet<u64>>,
}

impl Group {
    fn add(&mut self, r: &Run) {
        if let (Some(a), false) = (r.allocator_bytes, self.truth.contains_key(&r.size)) {
            self.truth.insert(r.size, (a, r.glibc_mmap_bytes));
            self.tracker = Some(r.tracker.clone());
            self.figure = Some(r.figure.as_str());
        }
        if self.tracker.is_none() {
            self.tracker = Some(r.tracker.clone());
            self.figure = Some(r.figure.as_str());
        }
        if r.ok() {
            let t = r.tracked_bytes.unwrap_or_default();
            self.tracked.entry(r.size).or_default().push(t);
        }
    }

    fn wants(&self, size: u64) -> bool {
        self.wanted.as_ref().is_none_or(|w| w.contains(&size))
    }

    fn median(&self, size: u64) -> Option<Halves> {
        median(self.tracked.get(&size).map_or(&[][..], |v| v))
    }
}

/// The three tables, as text.
#[derive(Debug, PartialEq, Eq)]
pub struct Tables {
    pub data_csv: String,
    pub errors_csv: String,
    pub errors_md: String,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// Makes the tables from the runs of the sweep (`runs`), the sizes asked of
/// each workload in the order of the sweep (`requested`), and the kernel CSV's
/// runs (`kernel`, tracker `kernel-csv`), which, when there are any, make
/// DATA.csv's kmalloc column and a `kmalloc-test` group of errors of their own.
///
/// - DATA.csv: one row per size asked of any workload or in the kernel CSV;
///   each cell is the median tracked bytes of the successful runs.
/// - errors: per workload and size asked, `delta` = median - median at size 1
///   (the workload's own baseline), `error` = delta - allocator bytes, and
///   delta - glibc's mmap length where glibc mmaps.
pub fn tables(runs: &[Run], requested: &[(String, Vec<u64>)], kernel: &[Run]) -> Tables {
    let mut groups: Vec<Group> = requested
        .iter()
        .map(|(w, sizes)| Group {
            workload: w.clone(),
            wanted: Some(sizes.iter().copied().collect()),
            ..Group::default()
        })
        .collect();
    for r in runs {
        if let Some(g) = groups.iter_mut().find(|g| g.workload == r.workload) {
            g.add(r);
        }
    }
    let mut sizes: BTreeSet<u64> = requested
        .iter()
        .flat_map(|(_, s)| s.iter().copied())
        .collect();
    let kern = (!kernel.is_empty()).then(|| {
        let mut g = Group {
            workload: "kmalloc-test".into(),
            tracker: Some("kernel-csv".into()),
            figure: Some("kernel"),
            ..Group::default()
        };
        for r in kernel {
            sizes.insert(r.size);
            // the truth of the kernel rows is the size asked
            g.truth.insert(r.size, (r.size, None));
            if r.ok() {
                g.tracked
                    .entry(r.size)
                    .or_default()
                    .push(r.tracked_bytes.unwrap_or_default());
            }
        }
        g
    });

    let col = |w: &str, s: u64| {
        groups
            .iter()
            .find(|g| g.workload == w)
            .filter(|g| g.wants(s))
            .and_then(|g| g.median(s))
    };
    let mut data_csv = format!("{DATA_HEADER}\n");
    for &s in &sizes {
        let k = match &kern {
            Some(g) => g.median(s),
            None => col("kmalloc-test", s),
        };
        data_csv += &format!(
            "{s},{},{},{}\n",
            opt(col("malloc-wl", s)),
            opt(col("bytearray-wl", s)),
            opt(k)
        );
    }

    let mut errors_csv = format!("{ERRORS_HEADER}\n");
    let mut errors_md = ERRORS_MD_HEADER.to_string();
    for g in groups.iter().chain(kern.iter()) {
        // A heap tracker's size-1 figure is the workload's own 1-byte call (2
        // for bytearray-wl): only what it saw beyond that is a baseline.
        let base = match (g.figure, g.truth.get(&1)) {
            (Some("heap"), Some(&(a1, _))) => g.median(1).map(|b| b - Halves::whole(a1)),
            _ => g.median(1),
        };
        for &s in &sizes {
            if !g.wants(s) || (g.wanted.is_none() && !g.tracked.contains_key(&s)) {
                continue;
            }
            let vals = g.tracked.get(&s).map_or(&[][..], |v| v);
            let med = g.median(s).filter(|_| g.tracker.as_deref() != Some("none"));
            let (a, gm) = match g.truth.get(&s) {
                Some(&(a, gm)) => (Some(a), gm),
                None => (None, None),
            };
            let (mut mn, mut mx, mut spread, mut d, mut e, mut ev) = Default::default();
            if let Some(med) = med {
                let (lo, hi) = (vals.iter().min().copied(), vals.iter().max().copied());
                mn = opt(lo);
                mx = opt(hi);
                spread = opt(lo.zip(hi).map(|(lo, hi)| hi - lo));
                let delta = base.map_or(med, |b| med - b);
                d = delta.to_string();
                e = opt(a.map(|a| delta - Halves::whole(a)));
                ev = opt(gm.filter(|&g| g > 0).map(|g| delta - Halves::whole(g)));
            }
            let (tracker, figure) = (opt(g.tracker.as_ref()), opt(g.figure));
            let (med, base, a, gm) = (opt(med), opt(base), opt(a), opt(gm));
            let n = vals.len();
            let w = &g.workload;
            errors_csv += &format!(
                "{w},{s},{tracker},{figure},{n},{med},{mn},{mx},{base},{d},{a},{e},{gm},{ev}\n"
            );
            errors_md += &format!(
                "| {w} | {s} | {tracker} | {n} | {med} | {spread} | {base} | {d} | {a} | {e} | {gm} | {ev} |\n"
            );
        }
    }
    Tables {
        data_csv,
        errors_csv,
        errors_md,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::KernelRun;
    use crate::runs::Figure;

    fn run(w: &str, size: u64, tracker: &str, tracked: Option<u64>, status: i32) -> Run {
        let glibc = w != "kmalloc-test";
        let alloc = if w == "bytearray-wl" { size + 1 } else { size };
        let mut k = Run::from_kernel(&KernelRun::default());
        k.workload = w.into();
        k.size = size;
        k.tracker = tracker.into();
        k.figure = if glibc { Figure::User } else { Figure::Kernel };
        k.tracked_bytes = tracked;
        k.exit_status = status;
        k.requested_bytes = size;
        k.allocator_bytes = Some(alloc);
        k.glibc_mmap_bytes =
            glibc.then(|| wlmodel::glibc::mmap_len(alloc, wlmodel::glibc::DEFAULT_THRESHOLD));
        k
    }

    fn req(w: &str, s: &[u64]) -> (String, Vec<u64>) {
        (w.into(), s.to_vec())
    }

    const BASE: u64 = 3986779;

    #[test]
    fn data_csv_and_errors_of_a_sweep() {
        let mut runs = vec![];
        for t in [BASE, BASE, BASE + 4096] {
            runs.push(run("malloc-wl", 1, "bpftrace", Some(t), 0));
        }
        for t in [BASE + 266240, BASE + 266240] {
            runs.push(run("malloc-wl", 262144, "bpftrace", Some(t), 0));
            runs.push(run("bytearray-wl", 262144, "bpftrace", Some(t), 0));
        }
        // a failed run and one without a figure are left out of the medians
        runs.push(run("malloc-wl", 262144, "bpftrace", Some(1), 3));
        runs.push(run("malloc-wl", 262144, "bpftrace", None, 0));
        runs.push(run("bytearray-wl", 1, "bpftrace", Some(BASE + 1), 0));
        let t = tables(
            &runs,
            &[
                req("malloc-wl", &[262144]),
                req("bytearray-wl", &[1, 262144]),
            ],
            &[],
        );
        assert_eq!(
            t.data_csv,
            format!(
                "{DATA_HEADER}\n1,,{},\n262144,{},{},\n",
                BASE + 1,
                BASE + 266240,
                BASE + 266240
            )
        );
        let lines: Vec<&str> = t.errors_csv.lines().collect();
        assert_eq!(lines[0], ERRORS_HEADER);
        // malloc-wl: delta = 266240 = glibc's mmap; error 4096 against 262144 asked
        assert_eq!(
            lines[1],
            format!(
                "malloc-wl,262144,bpftrace,user,2,{0},{0},{0},{BASE},266240,262144,4096,266240,0",
                BASE + 266240
            )
        );
        // bytearray-wl asks for SIZE + 1: the error is 4095 (its baseline is BASE + 1)
        assert_eq!(
            lines[3],
            format!(
                "bytearray-wl,262144,bpftrace,user,2,{0},{0},{0},{1},266239,262145,4094,266240,-1",
                BASE + 266240,
                BASE + 1
            )
        );
        assert_eq!(lines.len(), 4);
        assert!(t.errors_md.contains(&format!(
            "| malloc-wl | 262144 | bpftrace | 2 | {} | 0 | {BASE} | 266240 | 262144 | 4096 | 266240 | 0 |",
            BASE + 266240
        )));
    }

    #[test]
    fn half_medians_and_the_spread() {
        let runs = vec![
            run("malloc-wl", 1, "strace", Some(10), 0),
            run("malloc-wl", 1, "strace", Some(11), 0),
            run("malloc-wl", 64, "strace", Some(10), 0),
            run("malloc-wl", 64, "strace", Some(20), 0),
        ];
        let t = tables(&runs, &[req("malloc-wl", &[64])], &[]);
        assert_eq!(t.data_csv.lines().nth(1), Some("64,15,,"));
        assert_eq!(
            t.errors_csv.lines().nth(1),
            Some("malloc-wl,64,strace,user,2,15,10,20,10.5,4.5,64,-59.5,0,")
        );
        assert!(t.errors_md.contains(
            "| malloc-wl | 64 | strace | 2 | 15 | 10 | 10.5 | 4.5 | 64 | -59.5 | 0 |  |"
        ));
    }

    #[test]
    fn a_heap_tracker_is_judged_against_the_workloads_own_call() {
        let heap = |w: &str, size: u64, tracked: u64| {
            let mut r = run(w, size, "heap", Some(tracked), 0);
            r.figure = Figure::Heap;
            r
        };
        let runs = vec![
            heap("malloc-wl", 1, 1),
            heap("malloc-wl", 131072, 131072),
            heap("bytearray-wl", 1, 2),
            heap("bytearray-wl", 131072, 131073),
        ];
        let asked = [req("malloc-wl", &[131072]), req("bytearray-wl", &[131072])];
        let t = tables(&runs, &asked, &[]);
        assert_eq!(t.data_csv.lines().nth(1), Some("131072,131072,131073,"));
        let lines: Vec<&str> = t.errors_csv.lines().collect();
        // baseline 0, delta = the call's size, error 0; 131072 comes from the heap
        assert_eq!(
            lines[1],
            "malloc-wl,131072,heap,heap,1,131072,131072,131072,0,131072,131072,0,0,"
        );
        assert_eq!(
            lines[2],
            "bytearray-wl,131072,heap,heap,1,131073,131073,131073,0,131073,131073,0,0,"
        );
    }

    #[test]
    fn no_tracker_gives_no_figures() {
        let runs = vec![
            run("malloc-wl", 1, "none", None, 0),
            run("malloc-wl", 262144, "none", None, 0),
        ];
        let t = tables(&runs, &[req("malloc-wl", &[262144])], &[]);
        assert_eq!(t.data_csv.lines().nth(1), Some("262144,,,"));
        assert_eq!(
            t.errors_csv.lines().nth(1),
            Some("malloc-wl,262144,none,user,0,,,,,,262144,,266240,")
        );
    }

    #[test]
    fn the_kernel_csv_makes_the_kmalloc_column() {
        let k = |size, rep, sum| {
            Run::from_kernel(&KernelRun {
                size,
                repetition: Some(rep),
                bytes_alloc_sum: sum,
                bytes_req: Some(size),
                ..KernelRun::default()
            })
        };
        let kernel = vec![
            k(1, 1, 1000),
            k(32, 1, 1032),
            k(32, 2, 1064),
            k(32, 3, 1032),
            k(4194304, 1, 9389608),
        ];
        let runs = vec![
            run("malloc-wl", 1, "none", None, 0),
            run("malloc-wl", 32, "none", None, 0),
        ];
        let t = tables(&runs, &[req("malloc-wl", &[32])], &kernel);
        assert_eq!(
            t.data_csv,
            format!("{DATA_HEADER}\n1,,,1000\n32,,,1032\n4194304,,,9389608\n")
        );
        let lines: Vec<&str> = t.errors_csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[2],
            "kmalloc-test,1,kernel-csv,kernel,1,1000,1000,1000,1000,0,1,-1,,"
        );
        assert_eq!(
            lines[3],
            "kmalloc-test,32,kernel-csv,kernel,3,1032,1032,1064,1000,32,32,0,,"
        );
        // twice the size above the baseline: the double trace of a large kmalloc
        assert_eq!(lines[4], "kmalloc-test,4194304,kernel-csv,kernel,1,9389608,9389608,9389608,1000,9388608,4194304,5194304,,");
    }

    #[test]
    fn kmalloc_test_runs_without_a_kernel_csv() {
        let runs = vec![
            run("kmalloc-test", 1, "bpftrace", Some(500), 0),
            run("kmalloc-test", 4096, "bpftrace", Some(4596), 0),
        ];
        let t = tables(&runs, &[req("kmalloc-test", &[4096])], &[]);
        assert_eq!(t.data_csv.lines().nth(1), Some("4096,,,4596"));
        assert_eq!(
            t.errors_csv.lines().nth(1),
            Some("kmalloc-test,4096,bpftrace,kernel,1,4596,4596,4596,500,4096,4096,0,,")
        );
    }
}
