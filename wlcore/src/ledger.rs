//! The ledger: every call a workload makes, in order, and what each did to the process.
//!
//! A workload records each of its calls through [`Ledger::call`]: the name, the
//! arguments, and a closure that makes the call. When nobody will read the ledger
//! (no `--json`) the closure simply runs. Otherwise the ledger reads
//! `/proc/self/statm` and `/proc/self/maps` just before and just after the call,
//! stamps it with CLOCK_MONOTONIC, and streams one entry into the `--json`
//! report's `"ledger"` list. The schema (version [`VERSION`]) is described in
//! `docs/ledger.md`; this module is what writes it.
//!
//! Calls the workload makes itself are exact by construction (arguments and
//! result are the call's own). What glibc does inside a malloc-family call (an
//! mmap, a brk) is not listed as calls of its own: it shows as the measured
//! change of the entry (`mapped_bytes`, `heap_bytes`, `rss_bytes`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub use nix::errno::Errno;

use crate::out::Json;
use crate::stat::{mem, monotonic_ns, sysv_bytes, Mem};

/// The version of the ledger's schema, `"ledger_version"` in the report.
pub const VERSION: u64 = 1;

/// What kind of call an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A function of glibc's allocator (malloc, calloc, free, ...): a uprobe or
    /// `LD_PRELOAD` tracker sees it; the system calls it makes inside are glibc's.
    Libc,
    /// One system call through its thin glibc wrapper (mmap, brk, shmget, ...):
    /// a system-call tracker sees exactly it, a uprobe on the wrapper too.
    Syscall,
    /// Plain memory access by the workload (one byte written per page): no call
    /// at all, listed for what it does to the resident size.
    Access,
    /// The workload holding what it allocated (`--hold`): no call; its
    /// window is the hold, so a reader finds the hold without guessing.
    Hold,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Libc => "libc",
            Kind::Syscall => "syscall",
            Kind::Access => "access",
            Kind::Hold => "hold",
        }
    }
}

/// One argument of a call.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Num(u64),
    Int(i64),
    Addr(usize),
    /// Flags or a symbolic constant, as the C source would spell them
    /// (`"MAP_PRIVATE|MAP_ANONYMOUS"`), or a name (a file, a shm object).
    Text(&'a str),
}

/// What a call returned when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Addr(usize),
    Int(i64),
    /// Returns nothing (`free`) or nothing worth keeping.
    Void,
}

/// One call to record: its name, kind and arguments in the order of its C prototype.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub args: &'a [(&'a str, Val<'a>)],
}

impl<'a> Call<'a> {
    pub fn libc(name: &'a str, args: &'a [(&'a str, Val<'a>)]) -> Self {
        Call {
            name,
            kind: Kind::Libc,
            args,
        }
    }
    pub fn syscall(name: &'a str, args: &'a [(&'a str, Val<'a>)]) -> Self {
        Call {
            name,
            kind: Kind::Syscall,
            args,
        }
    }
}

/// The process as measured around a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe {
    mem: Option<Mem>,
    sysv: Option<u64>,
}

/// Where a run's calls are recorded. Shared by reference between the threads of
/// a run (`--threads`): a call is made without the lock, its entry written under it.
pub struct Ledger<'j> {
    inner: Mutex<Inner<'j>>,
    /// The repeat (from 1) the next calls belong to; 0 before the first.
    repeat: AtomicU64,
    /// Whether entries also measure the SysV segments this process created.
    sysv: bool,
    recording: bool,
}

struct Inner<'j> {
    json: Option<&'j mut Json>,
    /// The entry number of the next call, from 0.
    seq: u64,
}

impl<'j> Ledger<'j> {
    /// A ledger that writes into `json` (none: calls only run).
    pub fn new(json: Option<&'j mut Json>, sysv: bool) -> Self {
        Ledger {
            recording: json.is_some(),
            inner: Mutex::new(Inner { json, seq: 0 }),
            repeat: AtomicU64::new(0),
            sysv,
        }
    }

    /// Whether calls are measured and written.
    pub fn recording(&self) -> bool {
        self.recording
    }

    /// Numbers the calls that follow as belonging to repeat `i`.
    pub fn set_repeat(&self, i: u64) {
        self.repeat.store(i, Ordering::Relaxed);
    }

    /// Makes the call `f` as `call` and records it; returns what `f` returned.
    /// `ret` says what of `f`'s value is the call's return value.
    pub fn call<T>(
        &self,
        call: Call<'_>,
        f: impl FnOnce() -> Result<T, Errno>,
        ret: impl FnOnce(&T) -> Ret,
    ) -> Result<T, Errno> {
        if !self.recording {
            return f();
        }
        let (before, start) = self.begin();
        let r = f();
        let result = r.as_ref().map(ret).map_err(|e| *e);
        self.end(call, result, before, start);
        r
    }

    /// Records plain writes to memory, named `name`: `"touch"` (one byte in
    /// each page: `--touch`, `--cow`) or `"memset"` (every byte): `f` writes
    /// `length` bytes from `addr`. The pages they span are counted only when
    /// the entry is written.
    pub fn access(&self, name: &str, addr: usize, length: u64, f: impl FnOnce()) {
        if !self.recording {
            return f();
        }
        let pages = pages_spanned(addr, length, crate::stat::page_size());
        let args = [
            ("addr", Val::Addr(addr)),
            ("length", Val::Num(length)),
            ("pages", Val::Num(pages)),
        ];
        let call = Call {
            name,
            kind: Kind::Access,
            args: &args,
        };
        let _ = self.call(
            call,
            || {
                f();
                Ok(())
            },
            |_| Ret::Void,
        );
    }

    /// Records the hold (`--hold`): `f` holds; the entry's window is its start
    /// and end.
    pub fn hold<T>(&self, f: impl FnOnce() -> T) -> T {
        if !self.recording {
            return f();
        }
        let call = Call {
            name: "hold",
            kind: Kind::Hold,
            args: &[],
        };
        let mut out = None;
        let _ = self.call(
            call,
            || {
                out = Some(f());
                Ok(())
            },
            |_| Ret::Void,
        );
        out.expect("the hold ran")
    }

    /// The first half of recording a call by hand (one that cannot be wrapped in
    /// a closure, such as `fork`): the process measured, then the clock.
    pub fn begin(&self) -> (Probe, u64) {
        if !self.recording {
            return (Probe::default(), 0);
        }
        let probe = Probe {
            mem: mem(),
            sysv: if self.sysv { sysv_bytes(pid()) } else { None },
        };
        (probe, monotonic_ns())
    }

    /// The second half: the clock, the process measured, the entry written.
    pub fn end(&self, call: Call<'_>, result: Result<Ret, Errno>, before: Probe, start: u64) {
        if !self.recording {
            return;
        }
        let end = monotonic_ns();
        let (after, _) = self.begin();
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = inner.seq;
        inner.seq += 1;
        if let Some(j) = inner.json.as_deref_mut() {
            let repeat = self.repeat.load(Ordering::Relaxed);
            entry(j, seq, repeat, call, result, (start, end), (before, after));
            j.drain();
        }
    }

    /// Writes out everything kept, now: before a fork, so that the child does
    /// not write the parent's entries again.
    pub fn flush(&self) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(j) = inner.json.as_deref_mut() {
            j.flush();
        }
    }

    /// After a forked child has written entries of its own to the same stdout:
    /// the next entry needs a comma before it.
    pub fn continued(&self) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(j) = inner.json.as_deref_mut() {
            j.continued();
        }
    }
}

fn entry(
    j: &mut Json,
    seq: u64,
    repeat: u64,
    call: Call<'_>,
    result: Result<Ret, Errno>,
    (start, end): (u64, u64),
    (before, after): (Probe, Probe),
) {
    j.open("", '{')
        .num("seq", seq)
        .num("repeat", repeat)
        .num("pid", pid())
        .num("tid", tid())
        .str("call", call.name)
        .str("kind", call.kind.as_str());
    j.open("args", '{');
    for (k, v) in call.args {
        match *v {
            Val::Num(n) => j.num(k, n),
            Val::Int(n) => j.int(k, n),
            Val::Addr(a) => j.addr(k, Some(a)),
            Val::Text(t) => j.str(k, t),
        };
    }
    j.close('}');
    match result {
        Ok(Ret::Addr(a)) => j.addr("ret", Some(a)).null("errno"),
        Ok(Ret::Int(n)) => j.int("ret", n).null("errno"),
        Ok(Ret::Void) => j.null("ret").null("errno"),
        Err(e) => j.null("ret").str("errno", &format!("{e:?}")),
    };
    j.num("start_ns", start).num("end_ns", end);
    let delta = |f: fn(&Mem) -> u64| match (before.mem, after.mem) {
        (Some(b), Some(a)) => Some(f(&a) as i64 - f(&b) as i64),
        _ => None,
    };
    j.opt_int("mapped_bytes", delta(Mem::mapped))
        .opt_int("heap_bytes", delta(Mem::heap))
        .opt_int("rss_bytes", delta(|m| m.rss));
    if let (Some(b), Some(a)) = (before.sysv, after.sysv) {
        j.int("sysv_bytes", a as i64 - b as i64);
    }
    j.close('}');
}

/// This process's id, asked of the kernel once (and again in a forked child).
static PID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The calling thread's id, asked once per thread; 0 before.
    static TID: Cell<u64> = const { Cell::new(0) };
}

fn pid() -> u64 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id().into();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

fn tid() -> u64 {
    TID.with(|t| match t.get() {
        0 => {
            let tid = crate::cmem::tid();
            t.set(tid);
            tid
        }
        tid => tid,
    })
}

/// In a forked child, before anything is recorded: its pid and its thread's
/// id are not the parent's, nor are its `/proc/self` files.
pub(crate) fn forked() {
    PID.store(0, Ordering::Relaxed);
    TID.with(|t| t.set(0));
    crate::stat::forked();
}

/// The pages that `length` bytes from `addr` span.
fn pages_spanned(addr: usize, length: u64, page: usize) -> u64 {
    if length == 0 {
        return 0;
    }
    let last = addr as u64 + length - 1;
    last / page as u64 - addr as u64 / page as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(pages_spanned(0, 0, 4096), 0);
        assert_eq!(pages_spanned(4095, 1, 4096), 1);
        assert_eq!(pages_spanned(4095, 2, 4096), 2);
        assert_eq!(pages_spanned(4096, 4096, 4096), 1);
        assert_eq!(pages_spanned(16, 10000, 4096), 3);
    }

    #[test]
    fn entries() {
        let mut j = Json::new();
        j.open("ledger", '[');
        {
            let l = Ledger::new(Some(&mut j), false);
            l.set_repeat(1);
            let args = [("size", Val::Num(7)), ("flags", Val::Text("A|B"))];
            let r: Result<usize, Errno> =
                l.call(Call::libc("malloc", &args), || Ok(0x10), |a| Ret::Addr(*a));
            assert_eq!(r, Ok(0x10));
            let r: Result<(), Errno> = l.call(
                Call::syscall("mmap", &[]),
                || Err(Errno::EEXIST),
                |_| Ret::Void,
            );
            assert_eq!(r, Err(Errno::EEXIST));
        }
        j.close(']');
        let text = j.text();
        assert!(text.contains(r#""seq":0,"repeat":1,"#), "{text}");
        assert!(
            text.contains(r#""call":"malloc","kind":"libc","args":{"size":7,"flags":"A|B"},"ret":"0x10","errno":null"#),
            "{text}"
        );
        assert!(
            text.contains(r#""seq":1,"#)
                && text.contains(
                    r#""call":"mmap","kind":"syscall","args":{},"ret":null,"errno":"EEXIST""#
                ),
            "{text}"
        );
        assert!(
            text.contains(r#""mapped_bytes":"#) && !text.contains("sysv_bytes"),
            "{text}"
        );
    }
}
