//! Running a workload binary as a user would, its `--json` report, and the
//! usage errors every workload answers alike.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use wlmodel::Report;

/// A finished run: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` report on stdout, as JSON: for the tests of what the
    /// workloads write (the schema, member by member).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {:?}", self.stdout))
    }

    /// The `--json` report read by the model every reader uses (`wlmodel`):
    /// for what the ledger says happened.
    pub fn report(&self) -> Report {
        Report::parse(&self.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", self.stdout))
    }
}

/// A report's JSON read by `wlmodel`, its version checked.
pub fn model(j: &Value) -> Report {
    Report::parse(&j.to_string()).unwrap_or_else(|e| panic!("{e}: {j}"))
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `bin` with `args`, stdin closed.
pub fn run(bin: &str, args: &[&str]) -> Run {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
        .into()
}

/// Runs `bin args` to the end with stdin a pipe that holds one line (which
/// releases `--wait`), and gives its pid and the run.
pub fn run_released(bin: &str, args: &[&str]) -> (u32, Run) {
    use std::io::Write;
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    // A workload that exits before reading it closes the pipe: not an error here.
    let _ = child.stdin.take().unwrap().write_all(b"\n");
    (child.id(), child.wait_with_output().unwrap().into())
}

/// The ledger entries of a `--json` report for calls named `call`, in order.
pub fn entries(report: &Value, call: &str) -> Vec<Value> {
    report["ledger"]
        .as_array()
        .expect("a ledger list")
        .iter()
        .filter(|e| e["call"] == call)
        .cloned()
        .collect()
}

/// A JSON field as u64, or a panic naming it.
pub fn field(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number '{key}' in {v}"))
}

/// A JSON address field (`"0x7f.."`) as u64.
pub fn addr(v: &Value) -> u64 {
    num(v.as_str().unwrap_or_else(|| panic!("not an address: {v}"))).unwrap()
}

/// A number as strace and the reports print it: decimal, or hex after `0x`.
pub(crate) fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Usage errors every workload must answer with exit 2 and one line on stderr
/// that names the problem: (arguments, words the message must hold).
pub const BAD_USAGE: &[(&[&str], &str)] = &[
    (&[], "required arguments were not provided: <SIZE>"),
    (&["0"], "'0' for '<SIZE>': the size must be at least 1 byte"),
    (&["-1"], "'-1' for '<SIZE>': sizes are positive"),
    (
        &["abc"],
        "'abc' for '<SIZE>': expected bytes with an optional unit",
    ),
    (&["1.5"], "'1.5' for '<SIZE>': give a whole number of bytes"),
    (
        &["99999999999999999999"],
        "'99999999999999999999' for '<SIZE>': larger than any object",
    ),
    (
        &["10XB"],
        "'10XB' for '<SIZE>': expected bytes with an optional unit",
    ),
    (&["4096", "--repeat", "0"], "'0' for '--repeat <N>'"),
    (
        &["4096", "--hold", "soon"],
        "'soon' for '--hold <DURATION>'",
    ),
    (&["4096", "--bogus"], "unexpected argument '--bogus'"),
    (&["4096", "5"], "unexpected argument '5'"),
];

/// Checks that a run failed with `code` and exactly one stderr line, from `name`,
/// holding `words`, and printed nothing on stdout.
pub fn assert_fails(r: &Run, name: &str, code: i32, words: &str) {
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(r.code, code, "exit code; stderr: {}", r.stderr);
    assert_eq!(lines.len(), 1, "one line on stderr: {:?}", r.stderr);
    assert!(
        lines[0].starts_with(&format!("{name}: ")),
        "named: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(words),
        "{:?} should hold {words:?}",
        lines[0]
    );
    assert!(r.stdout.is_empty(), "nothing on stdout: {:?}", r.stdout);
}

/// Every [`BAD_USAGE`] case against one binary.
pub fn assert_bad_usage(bin: &str, name: &str) {
    for (args, words) in BAD_USAGE {
        assert_fails(&run(bin, args), name, 2, words);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A fresh folder under the system's temporary folder.
pub fn scratch_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wl-{what}-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The repository's top folder (the parent of this crate's folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}
