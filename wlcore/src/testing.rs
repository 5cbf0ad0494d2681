//! Test helpers: run a workload binary as a user would, and under strace.
//!
//! Used by the integration tests of each workload crate (feature `testing`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// A finished run: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` report on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {:?}", self.stdout))
    }
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
        .stdin(std::process::Stdio::null())
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
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    // A workload that exits before reading it closes the pipe: not an error here.
    let _ = child.stdin.take().unwrap().write_all(b"\n");
    (child.id(), child.wait_with_output().unwrap().into())
}

/// One memory system call as strace printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Syscall {
    /// An anonymous mmap: its length and the address it returned.
    AnonMmap {
        len: u64,
        addr: u64,
    },
    Munmap {
        addr: u64,
        len: u64,
    },
    /// brk: the break it returned.
    Brk {
        ret: u64,
    },
}

/// Runs `cmd` under `strace -qq -e trace=TRACE`, stdin closed, and gives the
/// run and the trace strace wrote.
fn strace_log(trace: &str, cmd: &[&str]) -> (Run, String) {
    strace_log_with(&[], trace, cmd)
}

/// [`strace_log`] with more of strace's options (`-f`).
fn strace_log_with(opts: &[&str], trace: &str, cmd: &[&str]) -> (Run, String) {
    let dir = scratch_dir("strace");
    let log = dir.join("trace");
    let out = Command::new("strace")
        .args(opts)
        .args([
            "-qq",
            "-e",
            &format!("trace={trace}"),
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(&log)
        .args(cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run strace (is it installed?): {e}"));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_dir_all(&dir).ok();
    (out.into(), text)
}

/// One system call as `strace -f` printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traced {
    /// The thread that made it (strace -f's first column).
    pub tid: u64,
    pub name: String,
    /// The arguments as printed, split at the top level.
    pub args: Vec<String>,
    /// The return value as printed (`-1` when it failed).
    pub ret: String,
    /// The errno's name when it failed (`EEXIST`).
    pub errno: Option<String>,
}

/// Runs `cmd` under `strace -f -e trace=TRACE` (every thread and child) and
/// gives the run and the calls, in order.
pub fn strace_calls(trace: &str, cmd: &[&str]) -> (Run, Vec<Traced>) {
    let (run, text) = strace_log_with(&["-f"], trace, cmd);
    (
        run,
        join_resumed(&text)
            .iter()
            .filter_map(|l| parse_traced(l))
            .collect(),
    )
}

/// strace -f's lines with each call that another thread interrupted made whole
/// again: `7 shmget(IPC_PRIVATE, 8192 <unfinished ...>` and, later, `7 <...
/// shmget resumed>, IPC_CREAT|0600) = 3` become one line where the call began.
pub fn join_resumed(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    // The thread of each call still unfinished, and where its line is.
    let mut open: Vec<(String, usize)> = Vec::new();
    for line in text.lines() {
        let tid = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        if let Some(head) = line.strip_suffix(" <unfinished ...>") {
            open.push((tid, lines.len()));
            lines.push(head.to_owned());
        } else if let Some((_, rest)) = line.split_once("<... ") {
            let tail = rest.split_once(" resumed>").map_or("", |(_, t)| t);
            match open.iter().position(|(t, _)| *t == tid) {
                Some(i) => {
                    let (_, at) = open.remove(i);
                    lines[at].push_str(tail);
                }
                None => lines.push(line.to_owned()),
            }
        } else {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// `1234  mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3, 0) = 0x7f..` (or `= -1 EEXIST (File exists)`).
pub fn parse_traced(line: &str) -> Option<Traced> {
    let (tid, rest) = line.trim_start().split_once(' ')?;
    let tid = tid.parse().ok()?;
    let (call, ret) = rest.trim_start().rsplit_once(" = ")?;
    let (name, args) = call.trim_end().strip_suffix(')')?.split_once('(')?;
    let mut words = ret.split_whitespace();
    let ret = words.next()?.to_owned();
    let errno = (ret == "-1")
        .then(|| words.next().map(str::to_owned))
        .flatten();
    Some(Traced {
        tid,
        name: name.to_owned(),
        args: split_args(args),
        ret,
        errno,
    })
}

/// Splits strace's argument list at the commas outside brackets and quotes.
fn split_args(args: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                cur.push(c);
                cur.extend(chars.next());
                continue;
            }
            '"' => quoted = !quoted,
            '[' | '{' | '(' if !quoted => depth += 1,
            ']' | '}' | ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// A ledger value as strace prints it: numbers in decimal, addresses in hex
/// (0 as `NULL`), text as it is.
fn as_strace(v: &Value) -> String {
    match v {
        Value::String(s) if s == "0x0" => "NULL".into(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Checks the ledger's system-call entries named in `names` against the calls
/// of those names that strace saw, which must end with them: the same calls, in
/// the same order, from the same threads, with the same arguments (each ledger
/// argument against strace's argument at the same place; `skip` names ledger
/// arguments strace prints otherwise), results and errnos. What strace saw
/// before them is the loader's.
pub fn assert_syscalls_match(report: &Value, traced: &[Traced], names: &[&str], skip: &[&str]) {
    let ledger: Vec<&Value> = report["ledger"]
        .as_array()
        .expect("a ledger list")
        .iter()
        .filter(|e| e["kind"] == "syscall" && names.iter().any(|n| e["call"] == *n))
        .collect();
    let seen: Vec<&Traced> = traced
        .iter()
        .filter(|t| names.contains(&t.name.as_str()))
        .collect();
    assert!(
        seen.len() >= ledger.len(),
        "strace saw {} calls of {names:?}, the ledger lists {}: {seen:#?}",
        seen.len(),
        ledger.len()
    );
    let seen = &seen[seen.len() - ledger.len()..];
    for (e, t) in ledger.iter().zip(seen) {
        let what = format!("ledger {e}\nstrace {t:?}");
        assert_eq!(e["call"], t.name.as_str(), "{what}");
        assert_eq!(field(e, "tid"), t.tid, "{what}");
        match e["errno"].as_str() {
            Some(errno) => assert_eq!(t.errno.as_deref(), Some(errno), "{what}"),
            None => {
                assert_eq!(t.errno, None, "{what}");
                if !e["ret"].is_null() {
                    assert_eq!(num(&as_strace(&e["ret"])), num(&t.ret), "{what}");
                }
            }
        }
        let args = e["args"].as_object().expect("args");
        for (i, (k, v)) in args.iter().enumerate() {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let printed = t.args.get(i).map(|a| a.trim_matches('"'));
            assert_eq!(printed, Some(as_strace(v).as_str()), "argument {k}: {what}");
        }
    }
}

/// Runs `bin` under `strace -e trace=mmap,munmap,brk` and returns the run and the
/// successful anonymous mmaps, munmaps and brks, in order. File mappings (the
/// loader's) are left out.
pub fn strace(bin: &str, args: &[&str]) -> (Run, Vec<Syscall>) {
    let mut cmd = vec![bin];
    cmd.extend_from_slice(args);
    let (run, text) = strace_log("mmap,munmap,brk", &cmd);
    (run, parse_strace(&text))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses strace's lines such as
/// `mmap(NULL, 266240, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f..`.
pub fn parse_strace(text: &str) -> Vec<Syscall> {
    let mut calls = Vec::new();
    for line in text.lines() {
        // strace pads the return value into a column: `munmap(0x7f.., 4096)    = 0`.
        let Some((call, ret)) = line.rsplit_once(" = ") else {
            continue;
        };
        let ret = ret.split_whitespace().next().unwrap_or("");
        let Some(call) = call.trim_end().strip_suffix(')') else {
            continue;
        };
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        let args: Vec<&str> = args.split(", ").collect();
        match name {
            "mmap" if args.len() == 6 && args[3].contains("MAP_ANONYMOUS") => {
                if let (Some(len), Some(addr)) = (num(args[1]), num(ret)) {
                    calls.push(Syscall::AnonMmap { len, addr });
                }
            }
            "munmap" if ret == "0" => {
                if let (Some(addr), Some(len)) = (num(args[0]), num(args[1])) {
                    calls.push(Syscall::Munmap { addr, len });
                }
            }
            "brk" => {
                if let Some(ret) = num(ret) {
                    calls.push(Syscall::Brk { ret });
                }
            }
            _ => {}
        }
    }
    calls
}

pub use wlmodel::glibc::{mmapped_chunk_len as glibc_mmap_len, FIRST_HEAP_MAX};

/// Lengths of the anonymous mmaps, in order.
pub fn mmap_lens(calls: &[Syscall]) -> Vec<u64> {
    calls
        .iter()
        .filter_map(|c| match c {
            Syscall::AnonMmap { len, .. } => Some(*len),
            _ => None,
        })
        .collect()
}

/// How far the program break grew over the run.
pub fn brk_growth(calls: &[Syscall]) -> u64 {
    let brks: Vec<u64> = calls
        .iter()
        .filter_map(|c| match c {
            Syscall::Brk { ret } => Some(*ret),
            _ => None,
        })
        .collect();
    match (brks.first(), brks.iter().max()) {
        (Some(first), Some(max)) => max - first,
        _ => 0,
    }
}

/// A JSON field as u64, or a panic naming it.
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

pub fn field(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number '{key}' in {v}"))
}

/// A JSON address field (`"0x7f.."`) as u64.
pub fn addr(v: &Value) -> u64 {
    num(v.as_str().unwrap_or_else(|| panic!("not an address: {v}"))).unwrap()
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

/// The path of a glibc workload, checked against strace: for each size, the
/// report says `served_by` "heap" up to [`FIRST_HEAP_MAX`] allocator bytes, with
/// no mmap beyond those of a 1-byte run, and "mmap" above it, with exactly one
/// mmap of `glibc_mmap_len(allocator bytes)` per repeat (the report's
/// `mmap_bytes`), each unmapped again, at the address the report gives less
/// glibc's 16-byte chunk header.
pub fn assert_mmap_path(bin: &str, extra: &[&str]) {
    let with = |size: &str, more: &[&str]| {
        let mut a: Vec<&str> = extra.to_vec();
        a.extend_from_slice(more);
        a.extend_from_slice(&["--json", size]);
        strace(bin, &a)
    };
    let (base_run, base) = with("1", &[]);
    assert_eq!(base_run.code, 0, "{}", base_run.stderr);
    let base_lens = mmap_lens(&base);

    for (size, repeat) in [
        ("100KiB", 1),
        ("128KiB", 1),
        ("134471", 1),
        ("134472", 2),
        ("134473", 2),
        ("256KiB", 1),
        ("1MiB", 1),
        ("64MiB", 1),
        ("256KiB", 3),
    ] {
        let r = repeat.to_string();
        let (run, calls) = with(size, &["--repeat", &r]);
        assert_eq!(run.code, 0, "{size}: {}", run.stderr);
        let report = run.json();
        let asked = field(&report, "allocator_bytes");
        assert_eq!(field(&report, "completed"), repeat);
        let mut lens = mmap_lens(&calls);
        if asked <= FIRST_HEAP_MAX {
            assert_eq!(report["served_by"], "heap", "{size}");
            assert_eq!(field(&report, "mmap_bytes"), 0, "{size}");
            assert_eq!(lens, base_lens, "{size}: no mmap for a heap block");
            assert_eq!(
                brk_growth(&calls),
                brk_growth(&base),
                "{size}: the first heap only"
            );
            continue;
        }
        let want = glibc_mmap_len(asked);
        assert_eq!(report["served_by"], "mmap", "{size}");
        assert_eq!(field(&report, "mmap_bytes"), want, "{size}: measured mmap");
        let maps: Vec<u64> = calls
            .iter()
            .filter_map(|c| match c {
                Syscall::AnonMmap { len, addr } if *len == want => Some(*addr),
                _ => None,
            })
            .collect();
        assert_eq!(
            maps.len() as u64,
            repeat,
            "{size}: one mmap of {want} per repeat: {calls:?}"
        );
        for m in &maps {
            let unmapped = calls.contains(&Syscall::Munmap {
                addr: *m,
                len: want,
            });
            assert!(unmapped, "{size}: munmap({m:#x}, {want})");
        }
        let addrs: Vec<u64> = entries(&report, "malloc")
            .iter()
            .map(|a| addr(&a["ret"]))
            .collect();
        assert_eq!(
            addrs,
            maps.iter().map(|m| m + 16).collect::<Vec<_>>(),
            "{size}: reported addresses"
        );
        for _ in 0..repeat {
            let i = lens.iter().position(|l| *l == want).unwrap();
            lens.remove(i);
        }
        assert_eq!(lens, base_lens, "{size}: nothing else mapped");
    }
}

/// The program break and mapping calls of `cmd` after the dynamic loader is
/// done, as strace prints them, with every address masked as `A` (return
/// values included). The loader's last memory call is the munmap of the
/// ld.so cache; what follows is the program's.
pub fn memory_calls_after_loader(cmd: &[&str]) -> Vec<String> {
    let (run, text) = strace_log("mmap,munmap,brk,mremap,madvise", cmd);
    assert_eq!(run.code, 0, "{cmd:?}: {}", run.stderr);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("munmap("))
        .map_or(0, |i| i + 1);
    // With uretprobes attached anywhere on the machine, kernels from 6.11 return
    // through a uretprobe system call that strace 6.1 cannot name (and prints
    // as `syscall_0x14f`, whatever the filter): not the program's.
    lines[start..]
        .iter()
        .filter(|l| !l.starts_with("syscall_"))
        .map(|l| mask_addresses(l))
        .collect()
}

/// `brk(0x55d0c000)  = 0x55d0c000` becomes `brk(A) = A`: hex numbers masked,
/// strace's padding folded.
pub fn mask_addresses(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        out.push('A');
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A fresh folder under the system's temporary folder.
pub fn scratch_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wl-{what}-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The repository's top folder (the parent of the crate that runs the test).
pub fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The C functions a workload binary may have bound at every start besides
/// those the C program binds (its start-up's own): a weak reference std tests
/// for null, which a thunk cannot stand for (see `wlcore/build-bin.rs`).
pub const BOUND_AT_START: &[&str] = &["__pthread_key_create"];

/// Asserts that `bin` binds no C function at start but those the C program
/// binds and [`BOUND_AT_START`], and binds `lazy` (functions it calls) on
/// first call, through the PLT.
pub fn assert_bound_lazily(bin: &str, lazy: &[&str]) {
    if skipped_without_lto("binding on first call") {
        return;
    }
    let bound_in = |bin: &str, kind: &str| -> Vec<String> {
        readelf(bin, "--relocs")
            .lines()
            .filter(|l| l.contains(kind))
            .filter_map(|l| l.split_whitespace().nth(4))
            .map(|s| s.split('@').next().unwrap_or(s).to_owned())
            .collect()
    };
    // "offset info R_X86_64_GLOB_DAT value name@VERSION + 0"
    let c = bound_in(&cmalloc(), "R_X86_64_GLOB_DAT");
    let at_start = bound_in(bin, "R_X86_64_GLOB_DAT");
    let extra: Vec<&String> = at_start
        .iter()
        .filter(|s| !BOUND_AT_START.contains(&s.as_str()) && !c.contains(s))
        .collect();
    assert!(extra.is_empty(), "{bin} binds at every start: {extra:?}");
    let plt = bound_in(bin, "R_X86_64_JUMP_SLOT");
    for f in lazy {
        assert!(
            plt.iter().any(|s| s == f),
            "{bin}: {f} is not called through the PLT: {plt:?}"
        );
    }
}

/// Whether a start-up check is skipped (and says so): in a debug build, without
/// LTO and inlining, std's own declarations and a host of small functions stay
/// in the binary. What the checks hold to is the release build, the one
/// `scripts/test.sh` tests and `scripts/bench.sh` times.
fn skipped_without_lto(what: &str) -> bool {
    use std::io::Write;
    if cfg!(debug_assertions) {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {what} is checked in the release build (cargo test --release)"
        );
    }
    cfg!(debug_assertions)
}

/// The ELF type of `bin` as `readelf` names it: "DYN (Position-Independent
/// Executable file)" for a PIE, "EXEC (Executable file)" for one that is not.
pub fn elf_type(bin: &str) -> String {
    readelf(bin, "--file-header")
        .lines()
        .find_map(|l| l.trim().strip_prefix("Type:").map(|t| t.trim().to_owned()))
        .expect("readelf prints the type")
}

/// Where the program break of `bin args` starts: what the process's first
/// `brk(NULL)` returns (strace).
pub fn brk_start(bin: &str, args: &[&str]) -> u64 {
    let out = Command::new("strace")
        .args(["-e", "trace=brk", "-o", "/dev/stdout", "--"])
        .arg(bin)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .expect("strace runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // "brk(NULL)                               = 0x5555558a1000"
    text.lines()
        .find_map(|l| l.strip_prefix("brk(NULL)")?.split("= 0x").nth(1).map(hex))
        .unwrap_or_else(|| panic!("{bin} {args:?} made no brk(NULL): {text}"))
}

/// Asserts that `bin` is laid out as gcc lays out the C program: an
/// executable of the same ELF type (a PIE), whose heap starts, like the C
/// program's, above 2^40. A tracker that follows the break from 0 and drops
/// what is above 10^12 bytes, as GranuloTrack's MemTracker does, drops the
/// first brk of both; a non-PIE's heap lies within 1 GiB above the
/// executable, and its first brk is counted as hundreds of MB.
pub fn assert_laid_out_like_c(bin: &str, args: &[&str]) {
    let c = cmalloc();
    assert_eq!(
        elf_type(bin),
        elf_type(&c),
        "{bin}: not the C program's ELF type"
    );
    for (what, start) in [
        (bin, brk_start(bin, args)),
        (c.as_str(), brk_start(&c, &["1"])),
    ] {
        assert!(
            start > 1 << 40,
            "{what}: the break starts at {start:#x}, below 2^40"
        );
    }
}

/// The `[start, end)` addresses of section `name` of `bin`.
pub fn section(bin: &str, name: &str) -> Option<(u64, u64)> {
    // "[Nr] Name Type Address Off Size ..."
    readelf(bin, "--section-headers").lines().find_map(|l| {
        let f: Vec<&str> = l.split(']').nth(1)?.split_whitespace().collect();
        (f.first() == Some(&name)).then(|| {
            let start = hex(f[2]);
            (start, start + hex(f[4]))
        })
    })
}

/// What `readelf --wide FLAG bin` prints.
fn readelf(bin: &str, flag: &str) -> String {
    let out = Command::new("readelf")
        .args([flag, "--wide", bin])
        .output()
        .expect("readelf runs");
    assert!(out.status.success(), "readelf {flag} {bin}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A hexadecimal number as readelf and nm print it, with or without `0x`.
fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// The pages of the code area a run's first fault on it maps (fault-around;
/// see `wlcore/build-bin.rs`): `[start, end)` addresses.
fn code_head(bin: &str) -> std::ops::Range<u64> {
    let start = readelf(bin, "--program-headers")
        .lines()
        // "LOAD offset vaddr paddr filesz memsz flags align": the one with E.
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&"LOAD") && f[6..f.len() - 1].concat().contains('E'))
                .then(|| hex(f[2]) & !0xfff)
        })
        .expect("a code segment");
    start..start + 16 * 0x1000
}

/// Asserts that the code of `bin` that `bin args` executes lies in the first
/// 16 pages of its code area, or outside `.text` (`.init`, the PLT), where
/// `wlcore/build-bin.rs` places it. What ran comes from callgrind, function by
/// function, and each function must end in those pages too.
pub fn assert_start_up_code_together(bin: &str, args: &[&str]) {
    if skipped_without_lto("the start-up layout") {
        return;
    }
    let text = section(bin, ".text").expect(".text");
    let head = code_head(bin);
    let dir = scratch_dir("callgrind");
    let profile = dir.join("callgrind.out");
    let alone = uprobes_alone();
    let st = Command::new("valgrind")
        .args(["--tool=callgrind", "--demangle=no"])
        .arg(format!("--callgrind-out-file={}", profile.display()))
        .arg(bin)
        .args(args)
        .output()
        .expect("valgrind runs");
    drop(alone);
    assert!(st.status.success(), "valgrind {bin}: {st:?}");
    let out = Command::new("callgrind_annotate")
        .args(["--threshold=100", "--inclusive=no"])
        .arg(&profile)
        .output()
        .expect("callgrind_annotate runs");
    assert!(out.status.success(), "callgrind_annotate: {out:?}");
    let nm = Command::new("nm")
        .args(["--print-size", "--defined-only"])
        .arg(bin)
        .output()
        .expect("nm runs");
    let nm = String::from_utf8_lossy(&nm.stdout);
    // "address size type name": the extent [address, address + size).
    let extent_of = |name: &str| -> Option<(u64, u64)> {
        if let Some(hex) = name.strip_prefix("0x") {
            let a = u64::from_str_radix(hex, 16).ok()?;
            return Some((a, a + 1));
        }
        nm.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && f[3] == name).then(|| (hex(f[0]), hex(f[0]) + hex(f[1])))
        })
    };
    // "  528 ( 0.39%)  ???:NAME [/path/to/bin]"
    let suffix = format!(" [{bin}]");
    let annotated = String::from_utf8_lossy(&out.stdout);
    let ran: Vec<&str> = annotated
        .lines()
        .filter_map(|l| l.strip_suffix(&suffix))
        .filter_map(|l| l.rsplit_once(':').map(|(_, name)| name.trim()))
        .collect();
    assert!(
        ran.contains(&"main"),
        "callgrind saw no main in {bin}: {ran:?}"
    );
    // Beyond the head: in .text past it, or not found at all. Callgrind's own
    // names ("(below main)") are the C start-up's.
    let beyond: Vec<&str> = ran
        .into_iter()
        .filter(|name| match extent_of(name) {
            Some((a, end)) => (text.0..text.1).contains(&a) && end > head.end,
            None => !name.starts_with('('),
        })
        .collect();
    assert!(
        beyond.is_empty(),
        "{bin} {args:?} ran code beyond the first 16 pages of its code ({head:x?}): {beyond:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The pages of `bin`'s own file that the process `bin args` has mapped when
/// it exits, area by area as `/proc/PID/smaps` lists them: (permissions,
/// pages). The process is traced and stopped at its exit, before the kernel
/// takes its memory down; its output goes nowhere.
pub fn pages_mapped_at_exit(bin: &str, args: &[&str]) -> Vec<(String, u64)> {
    use nix::sys::ptrace::{self, Event, Options};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::Pid;
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: between fork and exec the closure makes one system call
    // (ptrace), which allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| ptrace::traceme().map_err(std::io::Error::from));
    }
    // A uprobe's breakpoint in the binary would be a page of its own.
    let alone = uprobes_alone();
    // Reaped by the waitpid below, which std's Child does not know of.
    #[allow(clippy::zombie_processes)]
    let pid = Pid::from_raw(cmd.spawn().expect("the binary starts").id() as i32);
    // Stopped at exec, then at the exit.
    let st = waitpid(pid, None);
    assert!(
        matches!(st, Ok(WaitStatus::Stopped(..))),
        "{bin} at exec: {st:?}"
    );
    ptrace::setoptions(
        pid,
        Options::PTRACE_O_TRACEEXIT | Options::PTRACE_O_EXITKILL,
    )
    .expect("ptrace options");
    ptrace::cont(pid, None).expect("ptrace cont");
    let st = waitpid(pid, None);
    assert!(
        matches!(st, Ok(WaitStatus::PtraceEvent(_, _, e)) if e == Event::PTRACE_EVENT_EXIT as i32),
        "{bin} {args:?} did not stop at its exit: {st:?}"
    );
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    ptrace::cont(pid, None).expect("ptrace cont");
    let st = waitpid(pid, None);
    drop(alone);
    assert!(
        matches!(st, Ok(WaitStatus::Exited(_, 0))),
        "{bin} {args:?}: {st:?}"
    );
    let file = std::fs::canonicalize(bin).expect("the binary's path");
    let file = file.to_string_lossy();
    let mut areas = Vec::new();
    let mut ours = None;
    for line in smaps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "start-end perms offset dev inode path", then "Key: value kB" lines.
        if f.first()
            .is_some_and(|a| a.contains('-') && !a.ends_with(':'))
        {
            ours = (f.get(5) == Some(&&*file)).then(|| f[1].to_owned());
        } else if let (Some(perms), ["Rss:", kib, "kB"]) = (&ours, f.as_slice()) {
            areas.push((perms.clone(), kib.parse::<u64>().expect("Rss in kB") / 4));
        }
    }
    areas
}

/// Asserts that a plain run of `bin` maps no more of its own code than
/// `wlcore/build-bin.rs` lays it out for: one fault-around (16 pages). (Its
/// read-only data is mapped as it lies: a position-independent executable is
/// loaded where the kernel picks, so no page boundary is ours to place it by.)
///
/// Fault-around leaves out a page that is locked at that moment (the freshly
/// linked file's writeback, say); a later fault on it then maps a window of
/// its own. So the file is synced first, and the fewest pages of 3 runs count.
pub fn assert_maps_few_pages(bin: &str, args: &[&str]) {
    if skipped_without_lto("the pages a run maps") {
        return;
    }
    std::fs::File::open(bin)
        .and_then(|f| f.sync_all())
        .expect("the binary syncs");
    let pages = |areas: &[(String, u64)], perms: &str| -> u64 {
        areas
            .iter()
            .filter(|(p, _)| p == perms)
            .map(|(_, n)| n)
            .sum()
    };
    let runs: Vec<Vec<(String, u64)>> = (0..3).map(|_| pages_mapped_at_exit(bin, args)).collect();
    assert!(
        runs.iter().any(|a| pages(a, "r-xp") <= 16),
        "{bin} {args:?} has more than 16 pages of its code mapped at exit, \
         in each of 3 runs: {runs:?}"
    );
}

/// Builds `scripts/bench/cmalloc.c` (what Malloc.c does) with `gcc -O0`, once per test binary.
pub fn cmalloc() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = scratch_dir("cmalloc").join("cmalloc");
            let src = repo_root().join("scripts/bench/cmalloc.c");
            let st = Command::new("gcc")
                .arg("-O0")
                .arg("-o")
                .arg(&exe)
                .arg(&src)
                .status()
                .expect("gcc runs");
            assert!(st.success(), "gcc -O0 {}", src.display());
            exe.to_string_lossy().into_owned()
        })
        .clone()
}

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
struct UprobesAlone {
    _threads: std::sync::MutexGuard<'static, ()>,
    _processes: Option<nix::fcntl::Flock<std::fs::File>>,
}

fn uprobes_alone() -> UprobesAlone {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let threads = ONE.lock().unwrap_or_else(|p| p.into_inner());
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
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
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

    /// heap.bt: every call it prints, of any process, until `pid` exits.
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
                calls.push(c);
            } else if l.starts_with(&exit) {
                let lines = l.split(' ').find_map(|kv| kv.strip_prefix("lines="));
                want = Some(lines.and_then(|n| n.parse().ok()).unwrap_or(0));
            }
            want.is_some_and(|w| seen >= w)
        });
        if let Err(e) = end {
            panic!("no exit line for pid {pid} from heap.bt, or not its {want:?} call lines ({e}); {seen} seen");
        }
        calls
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
        .map(|l| l.to_string())
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

/// Checks that `calls` are exactly `n` pairs of `malloc(size)` and the `free`
/// of the pointer it returned, and nothing else.
/// The ledger's malloc-family entries as heap.bt prints them: threads and
/// processes (`pthread_create`, `fork`) left out, a failed call as a NULL result.
pub fn ledger_heap_calls(report: &Value) -> Vec<HeapCall> {
    const SKIP: [&str; 3] = ["pthread_create", "pthread_join", "fork"];
    report["ledger"]
        .as_array()
        .expect("a ledger list")
        .iter()
        .filter(|e| e["kind"] == "libc" && !SKIP.iter().any(|s| e["call"] == *s))
        .map(|e| {
            let args = &e["args"];
            let free = e["call"] == "free";
            // glibc's aligned_alloc is memalign under another name: a uprobe
            // sees the one function (scripts/trackers/heap.bt).
            let call = match e["call"].as_str().unwrap() {
                "aligned_alloc" => "memalign",
                c => c,
            };
            HeapCall {
                call: call.to_owned(),
                pid: field(e, "pid") as u32,
                tid: field(e, "tid") as u32,
                size: if free { 0 } else { field(args, "size") },
                ptr: if free {
                    addr(&args["ptr"])
                } else if e["ret"].is_null() {
                    0
                } else {
                    addr(&e["ret"])
                },
            }
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traced_lines() {
        let t = parse_traced(
            "4242  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
        )
        .unwrap();
        assert_eq!((t.tid, t.name.as_str(), t.args.len()), (4242, "mmap", 6));
        assert_eq!(t.args[2], "PROT_READ|PROT_WRITE");
        assert_eq!((t.ret.as_str(), t.errno), ("0x7f0000000000", None));
        let t = parse_traced(
            "7 mmap(0x7f00, 4096, PROT_NONE, MAP_PRIVATE|MAP_FIXED_NOREPLACE, -1, 0) = -1 EEXIST (File exists)",
        )
        .unwrap();
        assert_eq!(t.errno.as_deref(), Some("EEXIST"));
        let t = parse_traced(r#"9 write(3, "kmalloc 4096, \"x\"", 12) = 12"#).unwrap();
        assert_eq!(t.args, [r"3", r#""kmalloc 4096, \"x\"""#, "12"]);
        assert!(parse_traced("9 +++ exited with 0 +++").is_none());
    }

    #[test]
    fn interrupted_calls_joined() {
        let text = "7 shmget(IPC_PRIVATE, 8192 <unfinished ...>\n\
                    8 close(3)                = 0\n\
                    7 <... shmget resumed>, IPC_CREAT|0600) = 3\n";
        let lines = join_resumed(text);
        assert_eq!(lines.len(), 2);
        let t = parse_traced(&lines[0]).unwrap();
        assert_eq!((t.tid, t.name.as_str(), t.ret.as_str()), (7, "shmget", "3"));
        assert_eq!(t.args, ["IPC_PRIVATE", "8192", "IPC_CREAT|0600"]);
    }
}
