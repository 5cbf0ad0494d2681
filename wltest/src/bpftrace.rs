//! The bpftrace scripts of `scripts/trackers/` run beside a test, what
//! heap.bt prints read back as calls, and the lock that keeps uprobe
//! sessions and valgrind runs from meeting (`uprobes_alone`).

use std::path::Path;
use std::process::{Command, Stdio};

use wlmodel::{Kind, Report};

use crate::run::{num, repo_root, scratch_dir};

/// One call of the malloc family, as `scripts/trackers/heap.bt` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapCall {
    /// `malloc`, `free`, `calloc`, ...
    pub call: String,
    pub pid: u32,
    pub tid: u32,
    /// The size asked (0 for free).
    pub size: u64,
    /// The pointer returned, or freed.
    pub ptr: u64,
}

/// Held by whatever in a test must not meet a uprobe on libc: a uprobe
/// session (two on the same functions can fail to attach) and a run under
/// valgrind (a uprobe's breakpoint, placed in every process that maps libc,
/// traps valgrind's translation of the function: SIGTRAP). A lock within the
/// test binary (its tests run as threads) and a lock file across processes
/// (test binaries run side by side, as cargo-nextest runs them, or a second
/// checkout's tests).
pub(crate) struct UprobesAlone {
    _threads: std::sync::MutexGuard<'static, ()>,
    _processes: Option<nix::fcntl::Flock<std::fs::File>>,
}

pub(crate) fn uprobes_alone() -> UprobesAlone {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let threads = ONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = std::env::temp_dir().join("memory-workloads-uprobes.lock");
    // A lock file that cannot be opened leaves the threads' lock alone.
    let processes = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()
        .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok());
    UprobesAlone {
        _threads: threads,
        _processes: processes,
    }
}

/// A bpftrace script of `scripts/trackers/` running while a test runs, its
/// stdout read line by line. Uprobe sessions run one at a time: two putting
/// uprobes on the same libc functions at once can fail to attach
/// (`perf_event_open`: EINVAL), so each holds `uprobes_alone` while it runs.
pub struct Bpftrace {
    child: std::process::Child,
    out: std::sync::mpsc::Receiver<String>,
    /// Held while a uprobe session runs (see above).
    _one_at_a_time: Option<UprobesAlone>,
}

impl Bpftrace {
    /// Starts `script` (a file of `scripts/trackers/`) with `args` and returns
    /// once it has attached every probe and catches SIGINT; `None` (with a
    /// SKIPPED line) without root. Panics with bpftrace's own error line when
    /// it cannot attach.
    pub fn start(script: &str, args: &[&str]) -> Option<Bpftrace> {
        use std::io::Write;
        if !nix::unistd::Uid::effective().is_root() {
            let _ = writeln!(std::io::stderr(), "SKIPPED: bpftrace ({script}) needs root");
            return None;
        }
        let path = repo_root().join("scripts/trackers").join(script);
        Some(Self::start_file(&path, args).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Starts the bpftrace program `path`, as [`Bpftrace::start`] does; the
    /// error is one line: the script's name and what bpftrace said last. An
    /// attach that fails (another uprobe tracer on the machine, such as bcc's
    /// memleak, can hold the same functions) is tried again, 5 times in all.
    pub fn start_file(path: &Path, args: &[&str]) -> Result<Bpftrace, String> {
        use std::io::Write;
        let script = path.file_name().unwrap_or_default().to_string_lossy();
        ensure_tracefs()?;
        // Only uprobe sessions take turns (heap.bt): a test may run two
        // tracepoint sessions side by side (memtrack.bt and memtrack-pid.bt).
        let uprobes = std::fs::read_to_string(path).is_ok_and(|t| t.contains("uprobe:"));
        let mut guard = uprobes.then(uprobes_alone);
        let mut why = String::new();
        for attempt in 1..=5 {
            if attempt > 1 {
                let _ = writeln!(
                    std::io::stderr(),
                    "{script}: attempt {} did not attach ({why}); trying again",
                    attempt - 1
                );
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
            let err = scratch_dir("bpftrace").join("stderr");
            let (child, out) = Self::spawn(path, args, &err);
            let t = Bpftrace {
                child,
                out,
                _one_at_a_time: guard,
            };
            match t.next_line_where(|l| l == "ready") {
                Ok(_) => return Ok(t.catching_sigint(&script)),
                Err(e) => {
                    // The lock is kept for the next attempt; dropping t stops bpftrace.
                    let mut t = t;
                    guard = t._one_at_a_time.take();
                    drop(t);
                    let said = std::fs::read_to_string(&err).unwrap_or_default();
                    let _ = std::fs::remove_dir_all(err.parent().unwrap());
                    why = bpftrace_error(&said).unwrap_or(e);
                    // Only a failed attach may go away; a script bpftrace
                    // rejects never does.
                    if !why.contains("Error attaching probe") {
                        break;
                    }
                }
            }
        }
        Err(format!("bpftrace {script} did not start: {why}"))
    }

    fn spawn(
        path: &Path,
        args: &[&str],
        err: &Path,
    ) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
        use std::io::BufRead;
        let mut child = Command::new("bpftrace")
            .args(["-B", "line"])
            .arg(path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(err).expect("a scratch file"))
            .spawn()
            .expect("bpftrace runs (scripts/test.sh installs it)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// Waits until bpftrace catches SIGINT, so that stopping it prints its END.
    fn catching_sigint(self, script: &str) -> Bpftrace {
        let status = format!("/proc/{}/status", self.child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !catches_sigint(&std::fs::read_to_string(&status).unwrap_or_default()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{script}: SIGINT never caught"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self
    }

    /// Reads lines (a minute at most) until one satisfies `want`, and gives it;
    /// the lines passed over go to `seen`.
    fn next_line_where(&self, mut want: impl FnMut(&str) -> bool) -> Result<String, String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            // Checked before each line too: a flood of other lines cannot hold it.
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err("timed out".into());
            }
            match self.out.recv_timeout(left) {
                Ok(l) if want(&l) => return Ok(l),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// heap.bt: waits until the process `pid` has exited and returns its calls,
    /// in order.
    pub fn calls_of(&self, pid: u32) -> Vec<HeapCall> {
        let mut calls = self.calls_until_exit(pid);
        calls.retain(|c| c.pid == pid);
        calls
    }

    /// heap.bt: every call it prints, of any process, until `pid` exits, in
    /// the order of their times (the lines of two CPUs come interleaved).
    pub fn calls_until_exit(&self, pid: u32) -> Vec<HeapCall> {
        // Read on past pid's exit line until its call lines number what that
        // line counts (`lines=L`): a thread's events on another CPU are printed
        // from that CPU's buffer, and may come after it.
        let exit = format!("exit pid={pid} ");
        let mut calls = Vec::new();
        let (mut seen, mut want) = (0u64, None::<u64>);
        let end = self.next_line_where(|l| {
            if let Some(c) = parse_heap_call(l) {
                seen += u64::from(c.pid == pid);
                calls.push((heap_call_ns(l), c));
            } else if l.starts_with(&exit) {
                let lines = l.split(' ').find_map(|kv| kv.strip_prefix("lines="));
                want = Some(lines.and_then(|n| n.parse().ok()).unwrap_or(0));
            }
            want.is_some_and(|w| seen >= w)
        });
        if let Err(e) = end {
            panic!("no exit line for pid {pid} from heap.bt, or not its {want:?} call lines ({e}); {seen} seen");
        }
        calls.sort_by_key(|(ns, _)| *ns);
        calls.into_iter().map(|(_, c)| c).collect()
    }

    /// memtrack.bt: the `key=value` figures of the exit line of process `pid`.
    pub fn exit_of(&self, pid: u32) -> std::collections::HashMap<String, u64> {
        let exit = format!("exit pid={pid} ");
        let line = self
            .next_line_where(|l| l.starts_with(&exit))
            .unwrap_or_else(|e| panic!("no exit line for pid {pid} from memtrack.bt: {e}"));
        line.split(' ')
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect()
    }

    /// Stops it with SIGINT and gives the lines it printed from then on.
    pub fn stop(mut self) -> Vec<String> {
        self.interrupt();
        self.out.iter().collect()
    }

    /// SIGINT, once a second, and SIGKILL if it has not exited 20 s later.
    /// bpftrace 0.17 can lose a SIGINT that comes just after it started (seen
    /// on a loaded machine: the signal caught, the process sleeping on): the
    /// next one ends it.
    fn interrupt(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        for i in 0..200 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            if i % 10 == 0 {
                let _ = kill(pid, Signal::SIGINT);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = kill(pid, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        self.interrupt();
    }
}

/// What bpftrace said went wrong: its last `ERROR:` line but the one about
/// RLIMIT_MEMLOCK, which it prints at every start and goes on; else its last line.
fn bpftrace_error(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| l.contains("ERROR") && !l.contains("RLIMIT_MEMLOCK"))
        .or(lines.last())
        .map(std::string::ToString::to_string)
}

/// Mounts tracefs on `/sys/kernel/tracing` when it is not: bpftrace finds a
/// tracepoint there (`tracepoint not found` without it), and a machine just
/// started may not have it mounted (`scripts/lib.sh`'s `ensure_tracefs`).
fn ensure_tracefs() -> Result<(), String> {
    let t = Path::new("/sys/kernel/tracing");
    if t.join("events").exists() || Path::new("/sys/kernel/debug/tracing/events").exists() {
        return Ok(());
    }
    let out = Command::new("mount")
        .args(["-t", "tracefs", "nodev"])
        .arg(t)
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if out.status.success() && t.join("events").exists() {
        return Ok(());
    }
    Err(format!(
        "tracefs is not mounted and could not be mounted on {}: {}",
        t.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Whether a `/proc/PID/status` text says the process catches SIGINT.
fn catches_sigint(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (libc::SIGINT - 1)) != 0)
}

/// Parses one `call=... pid=... tid=...` line of heap.bt.
pub fn parse_heap_call(line: &str) -> Option<HeapCall> {
    let mut c = HeapCall {
        call: String::new(),
        pid: 0,
        tid: 0,
        size: 0,
        ptr: 0,
    };
    for kv in line.split(' ') {
        let (k, v) = kv.split_once('=')?;
        match k {
            "call" => c.call = v.to_owned(),
            "pid" => c.pid = v.parse().ok()?,
            "tid" => c.tid = v.parse().ok()?,
            "size" => c.size = v.parse().ok()?,
            "ret" | "ptr" if v.starts_with("0x") || v == "0" => c.ptr = num(v).unwrap_or(0),
            _ => {}
        }
    }
    (!c.call.is_empty()).then_some(c)
}

/// The time of a heap.bt call line (`ns=N`), 0 when it has none.
fn heap_call_ns(line: &str) -> u64 {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix("ns="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The ledger's malloc-family entries as heap.bt prints them: threads and
/// processes (`pthread_create`, `fork`) left out, a failed call as a NULL result.
pub fn ledger_heap_calls(report: &Report) -> Vec<HeapCall> {
    const SKIP: [&str; 3] = ["pthread_create", "pthread_join", "fork"];
    report
        .ledger
        .iter()
        .filter(|e| e.kind == Kind::Libc && !SKIP.contains(&e.call.as_str()))
        .map(|e| {
            let free = e.is_free();
            // glibc's aligned_alloc is memalign under another name: a uprobe
            // sees the one function (scripts/trackers/heap.bt).
            let call = match e.call.as_str() {
                "aligned_alloc" => "memalign",
                c => c,
            };
            HeapCall {
                call: call.to_owned(),
                pid: u32::try_from(e.pid).expect("a pid"),
                tid: u32::try_from(e.tid).expect("a tid"),
                size: if free { 0 } else { e.arg("size").unwrap_or(0) },
                ptr: if free {
                    e.arg("ptr").unwrap_or(0)
                } else {
                    e.ret().unwrap_or(0)
                },
            }
        })
        .collect()
}

/// Checks that `calls` are exactly `n` pairs of `malloc(size)` and the `free`
/// of the pointer it returned, and nothing else.
pub fn assert_only_mallocs(calls: &[HeapCall], n: usize, size: u64, what: &str) {
    assert_eq!(calls.len(), 2 * n, "{what}: {calls:#?}");
    for pair in calls.chunks(2) {
        assert_eq!(
            (pair[0].call.as_str(), pair[0].size),
            ("malloc", size),
            "{what}: {pair:?}"
        );
        assert_ne!(pair[0].ptr, 0, "{what}");
        assert_eq!(
            (pair[1].call.as_str(), pair[1].ptr),
            ("free", pair[0].ptr),
            "{what}: {pair:?}"
        );
    }
}
