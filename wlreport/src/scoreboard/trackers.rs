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
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Calls, Kind::Live, Kind::Mapping]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One row of the scoreboard: a tracker run in one way, as
/// `scripts/trackers/trackers.tsv` defines it (or `scoreboard.sh --tracker`
/// adds it). This crate knows no tracker by name: only the formats of their
/// outputs (`reader`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracker {
    /// The row's name.
    pub name: String,
    /// The tool whose version is shown, and names the expected-results file.
    pub tool: String,
    /// The runner under `scripts/trackers/` and its mode.
    pub runner: String,
    pub mode: String,
    pub kind: Kind,
    /// Whether it reports each process on its own, so that a figure put on
    /// another process can be seen ([`Class::Misattributed`](super::Class)).
    pub per_process: bool,
    /// The format of its output (`reading` reads it).
    pub reader: String,
    /// How it is run, for the tables.
    pub how: String,
}

fn good_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Reads the trackers' table: `NAME TOOL RUNNER MODE KIND SCOPE READER HOW`
/// a line, tab-separated (`scripts/trackers/trackers.tsv` says what each
/// means); `#` starts a comment line.
pub fn read_trackers(text: &str) -> Result<Vec<Tracker>, String> {
    let mut all: Vec<Tracker> = vec![];
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", n + 1);
        let f: Vec<&str> = line.split('\t').collect();
        let [name, tool, runner, mode, kind, scope, reader, how] = f[..] else {
            return Err(at(format!("not 8 tab-separated fields: {line}")));
        };
        if ![name, tool, runner, mode, reader]
            .into_iter()
            .all(good_name)
        {
            return Err(at(format!(
                "names take letters, digits, '.', '_', '-': {line}"
            )));
        }
        let kind = Kind::parse(kind).ok_or_else(|| at(format!("no kind '{kind}'")))?;
        let per_process = match scope {
            "process" => true,
            "whole" => false,
            s => return Err(at(format!("SCOPE is process or whole, not '{s}'"))),
        };
        if all.iter().any(|t| t.name == name) {
            return Err(at(format!("tracker '{name}' given twice")));
        }
        all.push(Tracker {
            name: name.into(),
            tool: tool.into(),
            runner: runner.into(),
            mode: mode.into(),
            kind,
            per_process,
            reader: reader.into(),
            how: how.into(),
        });
    }
    if all.is_empty() {
        return Err("no trackers".into());
    }
    Ok(all)
}

/// One line of `paths.tsv`: a named workload path and the trackers it is run
/// under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub name: String,
    pub workload: String,
    pub args: Vec<String>,
    pub trackers: Vec<String>,
}

/// Which trackers a `trackers` field selects: comma-separated items, each a
/// tracker's name, a kind (`calls`, `live`, `mapping`: every tracker of it),
/// `all`, or one of those after `-` to take it out again (`all,-memleak-c`).
pub fn select(spec: &str, trackers: &[Tracker]) -> Result<Vec<String>, String> {
    let mut on = vec![false; trackers.len()];
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (value, what) = match item.strip_prefix('-') {
            Some(rest) => (false, rest),
            None => (true, item),
        };
        let hits: Vec<usize> = trackers
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
    Ok(trackers
        .iter()
        .zip(on)
        .filter(|(_, on)| *on)
        .map(|(t, _)| t.name.clone())
        .collect())
}

/// Reads `paths.tsv`: `NAME<TAB>WORKLOAD<TAB>ARGS<TAB>TRACKERS` a line (ARGS
/// space-separated, ending with the size); `#` starts a comment line.
pub fn read_paths(text: &str, trackers: &[Tracker]) -> Result<Vec<Path>, String> {
    let mut paths: Vec<Path> = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').filter(|s| !s.is_empty()).collect();
        let [name, workload, args, spec] = f[..] else {
            return Err(format!(
                "line {}: not 4 tab-separated fields: {line}",
                n + 1
            ));
        };
        if !good_name(name) || !good_name(workload) {
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
        paths.push(Path {
            name: name.into(),
            workload: workload.into(),
            args,
            trackers: select(spec, trackers).map_err(|e| format!("line {}: {e}", n + 1))?,
        });
    }
    if paths.is_empty() {
        return Err("no paths".into());
    }
    Ok(paths)
}

/// The runs to make: `TRACKER<TAB>RUNNER<TAB>MODE<TAB>ID<TAB>WORKLOAD<TAB>ARGS...`
/// a line, tracker by tracker; ID is `PATH.REP`. `only` keeps those trackers.
pub fn plan(paths: &[Path], reps: u32, trackers: &[Tracker], only: Option<&[String]>) -> String {
    let mut s = String::new();
    for t in trackers
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
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn trackers_paths_and_selection() {
        let d = defs();
        let p = read_paths("# name\tworkload\targs\ttrackers\nm-1\tmalloc-wl\t1\tall\nb-4\tbytearray-wl\t--touch 4096\tmapping,-syscalls\n", &d).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].trackers.len(), d.len());
        assert_eq!(p[1].args, ["--touch", "4096"]);
        assert_eq!(p[1].trackers, ["exec-user", "pid-user", "peak", "pages"]);
        assert_eq!(
            select("uprobes,live", &d).unwrap(),
            ["uprobes", "stacks-p", "stacks-c", "snapshots"]
        );
        assert!(select("nosuch", &d).is_err());
        assert!(read_paths("a\tmalloc-wl\t1\n", &d).is_err());
        assert!(read_paths("a\tm\t1\tall\na\tm\t2\tall\n", &d).is_err());
        let plan = plan(&p, 2, &d, Some(&["syscalls".to_string()]));
        assert_eq!(plan, "syscalls\trun-b.sh\texec\tm-1.1\tmalloc-wl\t1\nsyscalls\trun-b.sh\texec\tm-1.2\tmalloc-wl\t1\n");
        let uprobes = &d[4];
        assert_eq!(
            (uprobes.kind, uprobes.per_process, uprobes.reader.as_str()),
            (Kind::Calls, true, "bpftrace-exit-lines")
        );
        // what a definition must be
        let line = "t\ttool\trun.sh\tm\tcalls\tprocess\tformat\thow";
        assert!(read_trackers(line).is_ok());
        for (bad, why) in [
            (line.replace("calls", "bytes"), "no kind 'bytes'"),
            (
                line.replace("process", "thread"),
                "SCOPE is process or whole",
            ),
            (line.replace("\thow", ""), "not 8 tab-separated fields"),
            (line.replace("t\ttool", "t t\ttool"), "names take letters"),
            (format!("{line}\n{line}"), "given twice"),
            ("# only a comment".into(), "no trackers"),
        ] {
            let e = read_trackers(&bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
