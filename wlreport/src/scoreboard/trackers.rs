//! The trackers and the plan: what each column runs and counts, the paths
//! of `paths.tsv`, and the runs to make.

use std::fmt::Write as _;

/// What a tracker's figure counts, and so which truth it is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every allocating call of the malloc family: the bytes asked by all the
    /// calls (`allocator_bytes` per call, `completed` calls).
    Calls,
    /// The heap in use at one moment (a peak, or what is outstanding while the
    /// workload holds its block): one call's `allocator_bytes`.
    Live,
    /// Memory mapped by the process: `mmap_bytes` per call plus the heap's
    /// `brk_growth_bytes`.
    Mapping,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Calls => "calls",
            Kind::Live => "live",
            Kind::Mapping => "mapping",
        }
    }
}

/// One column of the scoreboard: a tracker run in one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    /// The column's name.
    pub name: &'static str,
    /// The tool whose version is shown, and names the expected-results file.
    pub tool: &'static str,
    /// The runner under `scripts/trackers/` and its mode.
    pub runner: &'static str,
    pub mode: &'static str,
    pub kind: Kind,
    /// How it is run, for the tables.
    pub how: &'static str,
}

/// Every tracker, in the scoreboard's order.
pub const TRACKERS: [Tracker; 12] = [
    Tracker {
        name: "memtrack",
        tool: "bpftrace",
        runner: "run-bpftrace.sh",
        mode: "memtrack",
        kind: Kind::Mapping,
        how: "memtrack (GranuloTrack's rules): memtrack.bt from exec, minus the null run",
    },
    Tracker {
        name: "memtrack-pid",
        tool: "bpftrace",
        runner: "run-bpftrace.sh",
        mode: "memtrack-pid",
        kind: Kind::Mapping,
        how: "memtrack (GranuloTrack's rules): memtrack-pid.bt attached at the --wait line",
    },
    Tracker {
        name: "maps",
        tool: "bpftrace",
        runner: "run-bpftrace.sh",
        mode: "maps",
        kind: Kind::Mapping,
        how: "the correct rule: maps.bt at the --wait line, errors checked, unmaps taken off: peak mapped",
    },
    Tracker {
        name: "strace",
        tool: "strace",
        runner: "run-strace.sh",
        mode: "exec",
        kind: Kind::Mapping,
        how: "strace -f from exec (strace.sh), minus the null run",
    },
    Tracker {
        name: "heap-bt",
        tool: "bpftrace",
        runner: "run-bpftrace.sh",
        mode: "heap",
        kind: Kind::Calls,
        how: "heap.bt: uprobes on glibc's malloc family",
    },
    Tracker {
        name: "memleak-p",
        tool: "memleak",
        runner: "run-memleak.sh",
        mode: "pid",
        kind: Kind::Live,
        how: "memleak -p PID at the --wait line: outstanding while held",
    },
    Tracker {
        name: "memleak-c",
        tool: "memleak",
        runner: "run-memleak.sh",
        mode: "cmd",
        kind: Kind::Live,
        how: "memleak -c CMD: outstanding while held",
    },
    Tracker {
        name: "heaptrack",
        tool: "heaptrack",
        runner: "run-heaptrack.sh",
        mode: "preload",
        kind: Kind::Calls,
        how: "heaptrack CMD (LD_PRELOAD)",
    },
    Tracker {
        name: "heaptrack-p",
        tool: "heaptrack",
        runner: "run-heaptrack.sh",
        mode: "pid",
        kind: Kind::Calls,
        how: "heaptrack -p PID (gdb) at the --wait line",
    },
    Tracker {
        name: "massif",
        tool: "valgrind",
        runner: "run-valgrind.sh",
        mode: "massif",
        kind: Kind::Live,
        how: "massif: the peak snapshot's mem_heap_B",
    },
    Tracker {
        name: "massif-pages",
        tool: "valgrind",
        runner: "run-valgrind.sh",
        mode: "massif-pages",
        kind: Kind::Mapping,
        how: "massif --pages-as-heap=yes: peak pages, minus the null run",
    },
    Tracker {
        name: "memcheck",
        tool: "valgrind",
        runner: "run-valgrind.sh",
        mode: "memcheck",
        kind: Kind::Calls,
        how: "memcheck --leak-check=full: total heap usage",
    },
];

pub fn tracker(name: &str) -> Option<&'static Tracker> {
    TRACKERS.iter().find(|t| t.name == name)
}

/// One line of `paths.tsv`: a named workload path and the trackers it is run
/// under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub name: String,
    pub workload: String,
    pub args: Vec<String>,
    pub trackers: Vec<&'static str>,
}

/// Which trackers a `trackers` field selects: comma-separated items, each a
/// tracker's name, a kind (`calls`, `live`, `mapping`: every tracker of it),
/// `all`, or one of those after `-` to take it out again (`all,-memleak-c`).
pub fn select(spec: &str) -> Result<Vec<&'static str>, String> {
    let mut on = [false; TRACKERS.len()];
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (value, what) = match item.strip_prefix('-') {
            Some(rest) => (false, rest),
            None => (true, item),
        };
        let hits: Vec<usize> = TRACKERS
            .iter()
            .enumerate()
            .filter(|(_, t)| what == "all" || t.name == what || t.kind.as_str() == what)
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            return Err(format!("unknown tracker or kind '{what}'"));
        }
        for i in hits {
            on[i] = value;
        }
    }
    Ok(TRACKERS
        .iter()
        .zip(on)
        .filter(|(_, on)| *on)
        .map(|(t, _)| t.name)
        .collect())
}

/// Reads `paths.tsv`: `NAME<TAB>WORKLOAD<TAB>ARGS<TAB>TRACKERS` a line (ARGS
/// space-separated, ending with the size); `#` starts a comment line.
pub fn read_paths(text: &str) -> Result<Vec<Path>, String> {
    let mut paths: Vec<Path> = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').filter(|s| !s.is_empty()).collect();
        let [name, workload, args, trackers] = f[..] else {
            return Err(format!(
                "line {}: not 4 tab-separated fields: {line}",
                n + 1
            ));
        };
        let ok_name = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        if !ok_name(name) || !ok_name(workload) {
            return Err(format!(
                "line {}: names take letters, digits, '.', '_', '-': {line}",
                n + 1
            ));
        }
        if paths.iter().any(|p| p.name == name) {
            return Err(format!("line {}: path '{name}' given twice", n + 1));
        }
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        if args.is_empty() {
            return Err(format!("line {}: no arguments (the size at least)", n + 1));
        }
        let trackers = select(trackers).map_err(|e| format!("line {}: {e}", n + 1))?;
        paths.push(Path {
            name: name.into(),
            workload: workload.into(),
            args,
            trackers,
        });
    }
    if paths.is_empty() {
        return Err("no paths".into());
    }
    Ok(paths)
}

/// The runs to make: `TRACKER<TAB>RUNNER<TAB>MODE<TAB>ID<TAB>WORKLOAD<TAB>ARGS...`
/// a line, tracker by tracker; ID is `PATH.REP`. `only` keeps those trackers.
pub fn plan(paths: &[Path], reps: u32, only: Option<&[&str]>) -> String {
    let mut s = String::new();
    for t in TRACKERS
        .iter()
        .filter(|t| only.is_none_or(|o| o.contains(&t.name)))
    {
        for p in paths.iter().filter(|p| p.trackers.contains(&t.name)) {
            for r in 1..=reps {
                let _ = writeln!(
                    s,
                    "{}\t{}\t{}\t{}.{r}\t{}\t{}",
                    t.name,
                    t.runner,
                    t.mode,
                    p.name,
                    p.workload,
                    p.args.join("\t")
                );
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_selection() {
        let p = read_paths("# name\tworkload\targs\ttrackers\nm-1\tmalloc-wl\t1\tall\nb-4\tbytearray-wl\t--touch 4096\tmapping,-strace\n").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].trackers.len(), TRACKERS.len());
        assert_eq!(p[1].args, ["--touch", "4096"]);
        assert_eq!(
            p[1].trackers,
            ["memtrack", "memtrack-pid", "maps", "massif-pages"]
        );
        assert_eq!(
            select("heap-bt,live").unwrap(),
            ["heap-bt", "memleak-p", "memleak-c", "massif"]
        );
        assert!(select("nosuch").is_err());
        assert!(read_paths("a\tmalloc-wl\t1\n").is_err());
        assert!(read_paths("a\tm\t1\tall\na\tm\t2\tall\n").is_err());
        let plan = plan(&p, 2, Some(&["strace"]));
        assert_eq!(plan, "strace\trun-strace.sh\texec\tm-1.1\tmalloc-wl\t1\nstrace\trun-strace.sh\texec\tm-1.2\tmalloc-wl\t1\n");
    }
}
