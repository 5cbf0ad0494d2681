//! Runs under strace and the one parser of what it prints, for `strace -qq`
//! (one process, no thread column) and `strace -f` (a thread column, calls
//! that another thread interrupted printed in two pieces) alike.

use std::process::{Command, Stdio};

use serde_json::Value;
use wlmodel::{Entry, Kind, Report};

use crate::run::{addr, entries, field, num, scratch_dir, Run};

pub use wlmodel::glibc::{
    mmapped_chunk_len as glibc_mmap_len, DEFAULT_THRESHOLD as GLIBC_MMAP_THRESHOLD, FIRST_HEAP_MAX,
};

/// One system call as strace printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// The thread that made it: `strace -f`'s first column (none without `-f`).
    pub tid: Option<u64>,
    pub name: String,
    /// The arguments as printed, split at the top level.
    pub args: Vec<String>,
    /// The return value as printed (`-1` when it failed).
    pub ret: String,
    /// The errno's name when it failed (`EEXIST`).
    pub errno: Option<String>,
}

impl Syscall {
    /// Parses one line: `mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3, 0) = 0x7f..`,
    /// with `strace -f`'s thread first (`1234  mmap(...) = ...`), and the
    /// return value padded into a column or a failure
    /// (`= -1 EEXIST (File exists)`). `None` for what is not a whole call
    /// (`+++ exited with 0 +++`, a piece of an interrupted one).
    pub fn parse(line: &str) -> Option<Syscall> {
        let line = line.trim_start();
        // A call's name never starts with a digit: a first word of digits is the thread.
        let (tid, rest) = match line.split_once(' ') {
            Some((t, rest)) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                (Some(t.parse().ok()?), rest.trim_start())
            }
            _ => (None, line),
        };
        let (call, ret) = rest.rsplit_once(" = ")?;
        let (name, args) = call.trim_end().strip_suffix(')')?.split_once('(')?;
        let mut words = ret.split_whitespace();
        let ret = words.next()?.to_owned();
        let errno = (ret == "-1")
            .then(|| words.next().map(str::to_owned))
            .flatten();
        Some(Syscall {
            tid,
            name: name.to_owned(),
            args: split_args(args),
            ret,
            errno,
        })
    }

    /// Argument `i` as a number (decimal or `0x` hex), if it is one.
    pub fn arg(&self, i: usize) -> Option<u64> {
        num(self.args.get(i)?)
    }

    /// The return value as a number (decimal or `0x` hex); `None` when the
    /// call failed.
    pub fn ret_num(&self) -> Option<u64> {
        num(&self.ret)
    }
}

/// Every call in a trace strace wrote, in order, with each call that another
/// thread interrupted made whole again (see [`Syscall::parse`]).
pub fn parse_strace(text: &str) -> Vec<Syscall> {
    join_resumed(text)
        .iter()
        .filter_map(|l| Syscall::parse(l))
        .collect()
}

/// strace -f's lines with each call that another thread interrupted made whole
/// again: `7 shmget(IPC_PRIVATE, 8192 <unfinished ...>` and, later, `7 <...
/// shmget resumed>, IPC_CREAT|0600) = 3` become one line where the call began.
fn join_resumed(text: &str) -> Vec<String> {
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

/// Runs `cmd` under `strace OPTS -qq -e trace=TRACE`, stdin closed, and gives
/// the run and the trace strace wrote.
fn strace_log(opts: &[&str], trace: &str, cmd: &[&str]) -> (Run, String) {
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
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run strace (is it installed?): {e}"));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_dir_all(&dir).ok();
    (out.into(), text)
}

/// Runs `cmd` under `strace -f -e trace=TRACE` (every thread and child) and
/// gives the run and the calls, in order, each with its thread.
pub fn strace_calls(trace: &str, cmd: &[&str]) -> (Run, Vec<Syscall>) {
    let (run, text) = strace_log(&["-f"], trace, cmd);
    (run, parse_strace(&text))
}

/// Runs `bin args` under `strace -e trace=mmap,munmap,brk` (the process alone)
/// and gives the run and those calls, in order, the loader's included; see
/// [`anon_mmaps`], [`mmap_lens`], [`unmapped`], [`brk_growth`].
pub fn strace(bin: &str, args: &[&str]) -> (Run, Vec<Syscall>) {
    let mut cmd = vec![bin];
    cmd.extend_from_slice(args);
    let (run, text) = strace_log(&[], "mmap,munmap,brk", &cmd);
    (run, parse_strace(&text))
}

/// The anonymous mmaps that succeeded, in order, as (length, address): file
/// mappings (the loader's) left out.
pub fn anon_mmaps(calls: &[Syscall]) -> Vec<(u64, u64)> {
    calls
        .iter()
        .filter(|c| c.name == "mmap" && c.args.len() == 6 && c.args[3].contains("MAP_ANONYMOUS"))
        .filter_map(|c| Some((c.arg(1)?, c.ret_num()?)))
        .collect()
}

/// Lengths of the anonymous mmaps, in order.
pub fn mmap_lens(calls: &[Syscall]) -> Vec<u64> {
    anon_mmaps(calls).into_iter().map(|(len, _)| len).collect()
}

/// Whether a munmap of `len` bytes at `addr` succeeded.
pub fn unmapped(calls: &[Syscall], addr: u64, len: u64) -> bool {
    calls.iter().any(|c| {
        c.name == "munmap" && c.ret == "0" && c.arg(0) == Some(addr) && c.arg(1) == Some(len)
    })
}

/// How far the program break grew over the run.
pub fn brk_growth(calls: &[Syscall]) -> u64 {
    let brks: Vec<u64> = calls
        .iter()
        .filter(|c| c.name == "brk")
        .filter_map(Syscall::ret_num)
        .collect();
    match (brks.first(), brks.iter().max()) {
        (Some(first), Some(max)) => max - first,
        _ => 0,
    }
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
/// of those names that `strace -f` saw ([`strace_calls`]), which must end with
/// them: the same calls, in the same order, from the same threads, with the
/// same arguments (each ledger argument against strace's argument at the same
/// place; `skip` names ledger arguments strace prints otherwise), results and
/// errnos. What strace saw before them is the loader's.
pub fn assert_syscalls_match(report: &Report, traced: &[Syscall], names: &[&str], skip: &[&str]) {
    let ledger: Vec<&Entry> = report
        .ledger
        .iter()
        .filter(|e| e.kind == Kind::Syscall && names.contains(&e.call.as_str()))
        .collect();
    let seen: Vec<&Syscall> = traced
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
        let what = format!("ledger {e:?}\nstrace {t:?}");
        assert_eq!(e.call, t.name, "{what}");
        assert_eq!(Some(e.tid), t.tid, "{what}");
        match &e.errno {
            Some(errno) => assert_eq!(t.errno.as_ref(), Some(errno), "{what}"),
            None => {
                assert_eq!(t.errno, None, "{what}");
                if !e.ret.is_null() {
                    assert_eq!(num(&as_strace(&e.ret)), t.ret_num(), "{what}");
                }
            }
        }
        for (i, (k, v)) in e.args.iter().enumerate() {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let printed = t.args.get(i).map(|a| a.trim_matches('"'));
            assert_eq!(printed, Some(as_strace(v).as_str()), "argument {k}: {what}");
        }
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
        let maps: Vec<u64> = anon_mmaps(&calls)
            .into_iter()
            .filter_map(|(len, addr)| (len == want).then_some(addr))
            .collect();
        assert_eq!(
            maps.len() as u64,
            repeat,
            "{size}: one mmap of {want} per repeat: {calls:?}"
        );
        for m in &maps {
            assert!(unmapped(&calls, *m, want), "{size}: munmap({m:#x}, {want})");
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
    let (run, text) = strace_log(&[], "mmap,munmap,brk,mremap,madvise", cmd);
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

/// Where the program break of `bin args` starts: what the process's first
/// `brk(NULL)` returns (strace).
pub fn brk_start(bin: &str, args: &[&str]) -> u64 {
    let mut cmd = vec![bin];
    cmd.extend_from_slice(args);
    let (_, text) = strace_log(&[], "brk", &cmd);
    parse_strace(&text)
        .iter()
        .find(|c| c.name == "brk" && c.args == ["NULL"])
        .and_then(Syscall::ret_num)
        .unwrap_or_else(|| panic!("{bin} {args:?} made no brk(NULL): {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_strace_f() {
        let t = Syscall::parse(
            "4242  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
        )
        .unwrap();
        assert_eq!(
            (t.tid, t.name.as_str(), t.args.len()),
            (Some(4242), "mmap", 6)
        );
        assert_eq!(t.args[2], "PROT_READ|PROT_WRITE");
        assert_eq!((t.ret.as_str(), t.errno), ("0x7f0000000000", None));
        let t = Syscall::parse(
            "7 mmap(0x7f00, 4096, PROT_NONE, MAP_PRIVATE|MAP_FIXED_NOREPLACE, -1, 0) = -1 EEXIST (File exists)",
        )
        .unwrap();
        assert_eq!(t.errno.as_deref(), Some("EEXIST"));
        assert_eq!(t.ret_num(), None);
        let t = Syscall::parse(r#"9 write(3, "kmalloc 4096, \"x\"", 12) = 12"#).unwrap();
        assert_eq!(t.args, [r"3", r#""kmalloc 4096, \"x\"""#, "12"]);
        assert!(Syscall::parse("9 +++ exited with 0 +++").is_none());
    }

    #[test]
    fn lines_of_one_process() {
        let text = "brk(NULL)                               = 0x5555558a1000\n\
                    mmap(NULL, 266240, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000\n\
                    mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f0000100000\n\
                    mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)\n\
                    brk(0x5555558c2000)                     = 0x5555558c2000\n\
                    munmap(0x7f0000001000, 266240)          = 0\n\
                    munmap(0x7f0000200000, 4096)            = -1 EINVAL (Invalid argument)\n\
                    +++ exited with 0 +++\n";
        let calls = parse_strace(text);
        assert_eq!(calls.len(), 7);
        assert!(calls.iter().all(|c| c.tid.is_none()), "{calls:?}");
        assert_eq!(
            (calls[0].name.as_str(), calls[0].ret_num()),
            ("brk", Some(0x5555_558a_1000))
        );
        assert_eq!(calls[0].args, ["NULL"]);
        // Anonymous and successful only: not the file mapping, not the ENOMEM.
        assert_eq!(anon_mmaps(&calls), [(266240, 0x7f00_0000_1000)]);
        assert_eq!(mmap_lens(&calls), [266240]);
        assert!(unmapped(&calls, 0x7f00_0000_1000, 266240));
        assert!(!unmapped(&calls, 0x7f00_0020_0000, 4096), "it failed");
        assert!(!unmapped(&calls, 0x7f00_0000_1000, 4096), "another length");
        assert_eq!(brk_growth(&calls), 0x21000);
    }

    #[test]
    fn interrupted_calls_joined() {
        let text = "7 shmget(IPC_PRIVATE, 8192 <unfinished ...>\n\
                    8 close(3)                = 0\n\
                    7 <... shmget resumed>, IPC_CREAT|0600) = 3\n";
        let lines = join_resumed(text);
        assert_eq!(lines.len(), 2);
        let calls = parse_strace(text);
        assert_eq!(calls.len(), 2);
        let t = &calls[0];
        assert_eq!(
            (t.tid, t.name.as_str(), t.ret.as_str()),
            (Some(7), "shmget", "3")
        );
        assert_eq!(t.args, ["IPC_PRIVATE", "8192", "IPC_CREAT|0600"]);
        assert_eq!((calls[1].tid, calls[1].name.as_str()), (Some(8), "close"));
    }
}
