//! The run loop every workload shares, and its report.
//!
//! ```text
//! [block signals] -> [read /proc/self/statm] -> [--wait] -> repeat N times:
//!     stamp -> allocate (and touch/fill) -> stamp -> [statm] -> [--hold] -> stamp -> free -> stamp
//! -> report (--json on stdout, -v on stderr) -> exit 0
//! ```
//! Nothing else happens between the stamps, so a tracker that sees more than the
//! workload's own allocation in that window sees noise of its own making.

use std::io::Write;

use clap::Parser;
use serde_json::{json, Value};

use crate::cli::{self, Common};
use crate::exit::Error;
use crate::signals::{Signals, Stop};
use crate::size::Hold;
use crate::stat::{mem, monotonic_ns, Mem};

/// One allocation path.
pub trait Workload {
    /// The binary's name, used in messages and reports.
    const NAME: &'static str;
    /// How it allocates, in a few words (`"malloc"`, `"kmalloc via /proc/kmalloc_lkm"`).
    const PATH: &'static str;
    /// What stays alive while an allocation is held; dropping it frees.
    type Held;

    /// Bytes asked of the allocator for a request of `size` bytes.
    fn allocator_bytes(&self, size: u64) -> u64;
    /// Whether `allocate` writes the memory, so it becomes resident.
    fn touched(&self) -> bool;
    /// glibc's mmap threshold as pinned by the workload, if it uses glibc.
    fn mmap_threshold(&self) -> Option<u64> {
        None
    }
    /// Makes one allocation of `size` bytes.
    fn allocate(&mut self, size: u64) -> Result<Self::Held, Error>;
    /// The allocation's user-space address, when there is one.
    fn address(held: &Self::Held) -> Option<usize>;
}

/// One allocation's timeline, CLOCK_MONOTONIC nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    pub address: Option<usize>,
    pub alloc_start_ns: u64,
    pub alloc_end_ns: u64,
    pub free_ns: u64,
    pub free_end_ns: u64,
}

/// Everything a run did.
#[derive(Debug)]
pub struct Outcome {
    pub records: Vec<Record>,
    pub before: Option<Mem>,
    pub after: Option<Mem>,
    pub stopped_by: Stop,
}

/// The whole of a workload's `main`: parses its command line `C`, builds the
/// workload from it with `make`, runs it, and gives the exit code (usage errors 2).
pub fn main<C: Parser, W: Workload>(make: impl FnOnce(C) -> (Common, W)) -> i32 {
    match cli::parse::<C>() {
        Ok(c) => {
            let (opts, workload) = make(c);
            execute(&opts, workload)
        }
        Err(e) => e.report(W::NAME),
    }
}

/// Runs the workload as the options say, prints what was asked, gives the exit code.
pub fn execute<W: Workload>(opts: &Common, mut workload: W) -> i32 {
    match run(opts, &mut workload) {
        Ok(out) => {
            if opts.verbose {
                eprintln!("{}", summary(&workload, opts, &out));
            }
            if opts.json {
                let mut stdout = std::io::stdout().lock();
                // A reader that went away is its own business; the work was done.
                let _ = writeln!(stdout, "{}", report(&workload, opts, &out))
                    .and_then(|()| stdout.flush());
            }
            0
        }
        Err(e) => e.report(W::NAME),
    }
}

fn run<W: Workload>(opts: &Common, w: &mut W) -> Result<Outcome, Error> {
    // Signals are taken over only where the workload waits for them; otherwise
    // SIGINT ends it as it would a C program, and the loop makes no extra calls.
    let signals = if opts.wait || opts.hold.is_some() {
        Some(Signals::block()?)
    } else {
        None
    };
    let size = opts.size;
    // /proc/self/statm is read, and the records kept, only when someone will see
    // them; the records' room is taken before the first allocation, so that the
    // loop itself allocates nothing but the workload's own memory.
    let measure = opts.json || opts.verbose;
    let mut records = Vec::new();
    if measure {
        records
            .try_reserve_exact(opts.repeat as usize)
            .map_err(|_| {
                Error::alloc(format!(
                    "no memory to record {} repeats for the report",
                    opts.repeat
                ))
            })?;
    }
    let mut out = Outcome {
        records,
        before: if measure { mem() } else { None },
        after: None,
        stopped_by: None,
    };
    if let (true, Some(sig)) = (opts.wait, &signals) {
        eprintln!(
            "pid={} waiting for SIGUSR1 or a line on stdin",
            std::process::id()
        );
        out.stopped_by = sig.wait_release()?;
    }
    let mut left = if out.stopped_by.is_some() {
        0
    } else {
        opts.repeat
    };
    while left > 0 {
        left -= 1;
        let alloc_start_ns = monotonic_ns();
        let held = w.allocate(size)?;
        let alloc_end_ns = monotonic_ns();
        if measure && (left == 0 || opts.hold.is_some()) {
            out.after = mem();
        }
        out.stopped_by = match (&signals, opts.hold) {
            (Some(sig), Some(h)) => sig.hold(h)?,
            (Some(sig), None) => sig.stop()?,
            (None, _) => None,
        };
        let address = W::address(&held);
        let free_ns = monotonic_ns();
        drop(held);
        let free_end_ns = monotonic_ns();
        if measure {
            out.records.push(Record {
                address,
                alloc_start_ns,
                alloc_end_ns,
                free_ns,
                free_end_ns,
            });
        }
        if out.stopped_by.is_some() {
            break;
        }
    }
    Ok(out)
}

fn hex(a: Option<usize>) -> Value {
    a.map_or(Value::Null, |a| Value::String(format!("{a:#x}")))
}

/// The `--json` object: the ground truth a tracker's reading is judged against.
pub fn report<W: Workload>(w: &W, opts: &Common, out: &Outcome) -> Value {
    let allocations: Vec<Value> = out
        .records
        .iter()
        .map(|r| {
            json!({
                "address": hex(r.address),
                "alloc_start_ns": r.alloc_start_ns,
                "alloc_end_ns": r.alloc_end_ns,
                "free_ns": r.free_ns,
                "free_end_ns": r.free_end_ns,
            })
        })
        .collect();
    let hold_ns = match opts.hold {
        None => json!(0),
        Some(Hold::For(d)) => json!(d.as_nanos() as u64),
        Some(Hold::UntilSignal) => json!("inf"),
    };
    json!({
        "workload": W::NAME,
        "path": W::PATH,
        "pid": std::process::id(),
        "requested_bytes": opts.size,
        "allocator_bytes": w.allocator_bytes(opts.size),
        "mmap_threshold": w.mmap_threshold(),
        "touched": w.touched(),
        "repeat": opts.repeat,
        "completed": out.records.len(),
        "hold_ns": hold_ns,
        "stopped_by": out.stopped_by.map(|s| s.as_str()),
        "address": hex(out.records.first().and_then(|r| r.address)),
        "allocations": allocations,
        "rss_before_bytes": out.before.map(|m| m.rss),
        "rss_after_bytes": out.after.map(|m| m.rss),
        "vsz_before_bytes": out.before.map(|m| m.vsz),
        "vsz_after_bytes": out.after.map(|m| m.vsz),
    })
}

fn summary<W: Workload>(w: &W, opts: &Common, out: &Outcome) -> String {
    let kib =
        |m: Option<Mem>, f: fn(Mem) -> u64| m.map_or("?".into(), |m| (f(m) / 1024).to_string());
    let addr = out
        .records
        .first()
        .and_then(|r| r.address)
        .map_or(String::new(), |a| format!(" at {a:#x}"));
    format!(
        "{}: {} of {} bytes ({} asked of the allocator){addr}, {} of {} time(s){}, rss {} -> {} KiB, vsz {} -> {} KiB",
        W::NAME,
        W::PATH,
        opts.size,
        w.allocator_bytes(opts.size),
        out.records.len(),
        opts.repeat,
        out.stopped_by.map_or(String::new(), |s| format!(", stopped by {s}")),
        kib(out.before, |m| m.rss),
        kib(out.after, |m| m.rss),
        kib(out.before, |m| m.vsz),
        kib(out.after, |m| m.vsz),
    )
}
