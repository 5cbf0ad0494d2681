//! The run loop every workload shares, and its report.
//!
//! ```text
//! parse -> [take signals over] -> [--wait, then brk(0)] -> repeat N times:
//!     [measure] stamp -> allocate (and touch/fill) -> stamp [measure] -> [--hold]
//!     -> stamp -> free -> stamp -> [report entry] -> [stop signal?]
//! -> report (--json on stdout, -v on stderr) -> exit code
//! ```
//! Nothing else happens between the stamps, so a tracker that sees more than the
//! workload's own allocation in that window sees noise of its own making. The
//! first allocation is measured from the inside (`/proc/self/statm` and the
//! `[heap]` line of `/proc/self/maps`, read before and after it); the report is
//! streamed, so a run's memory does not grow with `--repeat`.

use std::sync::Barrier;

use lexopt::Parser;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};

use crate::cli::{self, Common, Parsed, Place, COMMON_HELP, SIZE_HELP, TOUCH_HELP};
use crate::cmem::{self, CArgs};
use crate::exit::{Code, Error};
use crate::ledger::{Call, Ledger, Ret};
use crate::out::{self, Json};
use crate::signals::{Signals, Stop};
use crate::size::Hold;
use crate::stat::{mem, Mem};

/// One allocation path.
pub trait Workload: Sized + Send {
    /// The binary's name, used in messages and reports.
    const NAME: &'static str;
    /// How it allocates, in a few words (`"malloc"`, `"kmalloc via /proc/kmalloc_lkm"`).
    const PATH: &'static str;
    /// What `--help` says first: what the workload does, in a few lines.
    const ABOUT: &'static str;
    /// The `--help` lines of the workload's own options, if it has any.
    const OPTIONS: &'static str = "";
    /// What stays alive while an allocation is held; [`Workload::free`] frees it.
    type Held: Send;
    /// Whether each ledger entry also measures the SysV shared memory segments
    /// the process created (`sysv_bytes`).
    const SYSV: bool = false;

    /// The workload with its own options at their defaults.
    fn new() -> Self;
    /// Takes one of the workload's own long options (`--NAME`, the value from the
    /// parser); `false` when it is not one.
    fn option(&mut self, _long: &str, _p: &mut Parser) -> Result<bool, Error> {
        Ok(false)
    }
    /// Set-up once the command line is good, before anything is allocated.
    fn ready(&mut self) -> Result<(), Error> {
        Ok(())
    }
    /// Whether the workload's own options go with the common ones (the size,
    /// `--cow`), checked after [`Workload::ready`], before anything runs: a
    /// usage error if not. The workload may keep what it needs of them
    /// (kmalloc-test's rate mode holds its objects under `--hold`).
    fn check(&mut self, _opts: &Common) -> Result<(), Error> {
        Ok(())
    }
    /// The path this run takes, when the workload's options choose it
    /// (`malloc-wl --fn calloc`): named in the report.
    fn path(&self) -> &'static str {
        Self::PATH
    }
    /// Bytes asked of the allocator for a request of `size` bytes.
    fn allocator_bytes(&self, size: u64) -> u64;
    /// Whether `allocate` itself writes the memory, so it becomes resident
    /// (`--touch` is told apart, in [`Common::touch`]).
    fn touched(&self) -> bool {
        false
    }
    /// glibc's mmap threshold as pinned by the workload, if it uses glibc's malloc.
    fn mmap_threshold(&self) -> Option<u64> {
        None
    }
    /// Makes one allocation of `size` bytes, each call recorded in the ledger.
    fn allocate(&mut self, size: u64, l: &Ledger) -> Result<Self::Held, Error>;
    /// Frees it, each call recorded in the ledger.
    fn free(&mut self, held: Self::Held, l: &Ledger) -> Result<(), Error>;
    /// The allocation's user-space address, when there is one.
    fn address(held: &Self::Held) -> Option<usize>;
    /// Whether the allocation is memory of the process that it can write
    /// (not a kernel allocation): without it `--cow` is refused as a usage error.
    const WRITABLE: bool = false;
    /// Whether it takes `--touch`: [`Workload::touch`] right after each
    /// allocation, in the thread that made it. Only for a workload that can
    /// always write what it allocates.
    const TOUCH: bool = false;
    /// Writes one byte in every page of the allocation (recorded with
    /// [`Ledger::access`]; [`cmem::touch_pages`]) and says so; `false` when it
    /// cannot (see [`Workload::WRITABLE`]).
    fn touch(&mut self, _held: &mut Self::Held, _l: &Ledger) -> bool {
        false
    }
    /// Members of the workload's own for the end of the `--json` report (what a
    /// tracker should see of a request of `size` bytes, for instance).
    fn report(&self, _size: u64, _j: &mut Json) {}
    /// Text to print on stdout instead of running, when an option asks for it
    /// (kmalloc-test's `--expect`): the run then allocates nothing and exits 0.
    fn print_only(&self, _size: u64) -> Option<String> {
        None
    }
}

/// What a run did, beyond the per-allocation entries already streamed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Allocations made and freed.
    pub completed: u64,
    /// The address of the first.
    pub address: Option<usize>,
    /// The process measured just before and just after the first allocation.
    pub before: Option<Mem>,
    pub after: Option<Mem>,
    /// The signal that ended the run early.
    pub stopped_by: Stop,
    /// The repeat (from 1) that failed, and why.
    pub failed: Option<(u64, Error)>,
}

impl Outcome {
    /// Growth of the mapped size outside the brk heap over the first allocation
    /// (a uprobe tracker's `[uprobes]` page left out).
    pub fn mmap_bytes(&self) -> Option<u64> {
        let (b, a) = (self.before?, self.after?);
        let own = |m: Mem| m.vsz.saturating_sub(m.heap() + m.uprobes);
        Some(own(a).saturating_sub(own(b)))
    }

    /// Growth of the brk heap (the program break, in whole pages) over the first allocation.
    pub fn brk_growth_bytes(&self) -> Option<u64> {
        Some(self.after?.heap().saturating_sub(self.before?.heap()))
    }

    /// Where glibc's malloc took the first block from: `"heap"` when it lies in
    /// the brk heap, `"mmap"` otherwise.
    pub fn served_by(&self) -> Option<&'static str> {
        let at = self.address? as u64;
        let heap = self.after?.heap_range;
        Some(match heap {
            Some((start, end)) if (start..end).contains(&at) => "heap",
            _ => "mmap",
        })
    }
}

/// The whole of a workload's `main`: parses the command line, sets the workload
/// up, runs it, and gives the exit code.
pub fn main<W: Workload>(args: CArgs) -> i32 {
    let mut w = W::new();
    let parsed =
        cli::check_bounds(args.iter().map(std::ffi::OsStr::as_encoded_bytes)).and_then(|()| {
            cli::parse(args.owned(), W::NAME, help::<W>, W::TOUCH, |a, p| {
                w.option(a, p)
            })
        });
    // Set-up (mallopt, checks across options) only for a run, not for --help.
    let parsed = parsed.and_then(|p| match p {
        Parsed::Run(c) if c.place == Place::Cow && !W::WRITABLE => Err(Error::usage(format!(
            "'--cow' needs memory the process can write; {} allocates {} (see --help)",
            W::NAME,
            W::PATH
        ))),
        Parsed::Run(c) => {
            w.ready()
                .and_then(|()| w.check(&c))
                .map(|()| match w.print_only(c.size) {
                    Some(text) => Parsed::Print(text),
                    None => Parsed::Run(c),
                })
        }
        Parsed::Print(_) => Ok(p),
    });
    match parsed {
        Ok(Parsed::Run(opts)) => execute(&opts, w),
        Ok(Parsed::Print(text)) => match out::print(&text) {
            Ok(()) => 0,
            Err(e) => Error::new(
                Code::Report,
                format!("cannot write to stdout: {}", e.desc()),
            )
            .report(W::NAME),
        },
        Err(e) => e.report(W::NAME),
    }
}

/// The workload's `--help`.
pub fn help<W: Workload>() -> String {
    format!(
        "{}\n\nUsage: {} [OPTIONS] <SIZE>\n\n{SIZE_HELP}\nOptions:\n{}{}{COMMON_HELP}\n{}\n",
        W::ABOUT,
        W::NAME,
        W::OPTIONS,
        if W::TOUCH { TOUCH_HELP } else { "" },
        crate::exit::CODES
    )
}

/// Runs the workload as the options say, prints what was asked, gives the exit code.
pub fn execute<W: Workload>(opts: &Common, mut w: W) -> i32 {
    // The report's buffer is taken now, before any allocation of the workload's.
    let mut json = opts.json.then(|| header(&w, opts));
    let out = match run(opts, &mut w, json.as_mut()) {
        Ok(out) => out,
        Err(e) => return e.report(W::NAME),
    };
    let written = json.map(|mut j| {
        trailer(&mut j, &w, &out);
        w.report(opts.size, &mut j);
        j.finish()
    });
    match (&out.failed, written) {
        (Some((i, e)), _) => {
            let msg = if opts.repeat > 1 {
                format!("repeat {i} of {}: {}", opts.repeat, e.msg)
            } else {
                e.msg.clone()
            };
            Error {
                said: e.said,
                ..Error::new(e.code, msg)
            }
            .report(W::NAME)
        }
        (None, Some(Err(e))) => Error::new(
            Code::Report,
            format!(
                "the work was done, but the report could not be written to stdout: {}",
                e.desc()
            ),
        )
        .report(W::NAME),
        (None, _) => {
            if opts.verbose {
                out::say(W::NAME, summary(&w, opts, &out));
            }
            match &opts.exec {
                Some(cmd) => exec(cmd).report(W::NAME),
                None => 0,
            }
        }
    }
}

fn run<W: Workload>(opts: &Common, w: &mut W, json: Option<&mut Json>) -> Result<Outcome, Error> {
    // Signals are taken over only where the run waits, holds or loops; a single
    // plain allocation is ended by them as a C program would be, and makes no
    // calls beyond its allocation.
    let signals = if opts.wait || opts.hold.is_some() || opts.repeat > 1 {
        Some(Signals::block()?)
    } else {
        None
    };
    let mut out = Outcome::default();
    if let (true, Some(sig)) = (opts.wait, &signals) {
        out::line(&format!(
            "pid={} waiting for SIGUSR1 or a line on stdin",
            std::process::id()
        ));
        out.stopped_by = sig.wait_release()?;
        if out.stopped_by.is_none() {
            // A tracker attached while we waited learns where the break stands
            // from this brk(0), before any allocation moves it.
            cmem::brk_probe();
        }
    }
    let ledger = Ledger::new(json, W::SYSV);
    let mut i = 0;
    while i < opts.repeat && out.stopped_by.is_none() {
        i += 1;
        ledger.set_repeat(i);
        let step = Step {
            opts,
            signals: signals.as_ref(),
            ledger: &ledger,
            // /proc/self is read around the first allocation only when someone will see it.
            measure: (opts.json || opts.verbose) && i == 1,
        };
        let r = match opts.place {
            Place::Fork => step.in_child(w),
            Place::Main | Place::AfterThread | Place::Threads | Place::Cow => step.here(w),
        };
        let stop = match r {
            Ok(done) => {
                out.completed += 1;
                if i == 1 {
                    (out.address, out.before, out.after) = (done.address, done.before, done.after);
                }
                done.stop
            }
            Err(e) => Err(e),
        };
        // A signal during a hold was seen there; otherwise look once per repeat.
        let stop = match (stop, &signals) {
            (Ok(None), Some(sig)) if opts.hold.is_none() => sig.stop(),
            (r, _) => r,
        };
        match stop {
            Ok(s) => out.stopped_by = s,
            Err(e) => {
                out.failed = Some((i, e));
                break;
            }
        }
    }
    Ok(out)
}

/// What one repeat gives back.
struct Done {
    address: Option<usize>,
    before: Option<Mem>,
    after: Option<Mem>,
    /// The hold's outcome: a stop signal, or an error while holding.
    stop: Result<Stop, Error>,
}

/// One allocation, and `--touch`'s writes to it (a [`Workload::TOUCH`]
/// workload can always write its memory: `touch` answers true).
fn allocate<W: Workload>(w: &mut W, opts: &Common, l: &Ledger) -> Result<W::Held, Error> {
    let mut held = w.allocate(opts.size, l)?;
    if opts.touch {
        w.touch(&mut held, l);
    }
    Ok(held)
}

/// One repeat: allocate, hold, free, wherever `--threads`, `--fork` and the
/// like say.
struct Step<'a, 'j> {
    opts: &'a Common,
    signals: Option<&'a Signals>,
    ledger: &'a Ledger<'j>,
    measure: bool,
}

impl Step<'_, '_> {
    /// In this process (the calls themselves perhaps in new threads).
    fn here<W: Workload>(&self, w: &mut W) -> Result<Done, Error> {
        let (opts, l) = (self.opts, self.ledger);
        if opts.place == Place::AfterThread {
            self.in_thread(|| Ok(()))?;
        }
        let before = if self.measure { mem() } else { None };
        let mut held = if opts.place == Place::Threads {
            self.in_thread(|| allocate(w, opts, l))?
        } else {
            allocate(w, opts, l)?
        };
        let after = if self.measure { mem() } else { None };
        if opts.place == Place::Cow {
            self.cow(w, &mut held)?;
        }
        let stop = self.hold();
        let address = W::address(&held);
        if opts.leak {
            // Never freed: the process exits with it (the kernel takes it back).
            std::mem::forget(held);
        } else if opts.place == Place::Threads {
            self.in_thread(|| w.free(held, l))?;
        } else {
            w.free(held, l)?;
        }
        Ok(Done {
            address,
            before,
            after,
            stop,
        })
    }

    /// `--fork`: the whole repeat in a child; the parent waits for it.
    fn in_child<W: Workload>(&self, w: &mut W) -> Result<Done, Error> {
        let child = self.fork(|| {
            let r = self.here(w).and_then(|d| d.stop.map(|_| ()));
            match r {
                Ok(()) => 0,
                Err(e) => e.report(W::NAME),
            }
        })?;
        match child {
            0 => Ok(Done {
                address: None,
                before: None,
                after: None,
                stop: Ok(None),
            }),
            // The child said why on stderr; one line is all a failure gets.
            code => Err(Error {
                said: true,
                ..Error::new(
                    Code::from_child(code),
                    format!("the forked child failed (exit code {code})"),
                )
            }),
        }
    }

    /// `--cow`: write every page here, then again in a forked child.
    fn cow<W: Workload>(&self, w: &mut W, held: &mut W::Held) -> Result<(), Error> {
        if !w.touch(held, self.ledger) {
            return Err(Error::usage(format!(
                "--cow: {} memory is not this process's to write",
                w.path()
            )));
        }
        let code = self.fork(|| if w.touch(held, self.ledger) { 0 } else { 4 })?;
        match code {
            0 => Ok(()),
            c => Err(Error::env(format!(
                "the forked child failed (exit code {c})"
            ))),
        }
    }

    /// Forks; the child runs `child` (its code is its exit code); gives that code.
    /// Both sides record the `fork`: the child its return of 0, the parent the pid.
    fn fork(&self, child: impl FnOnce() -> i32) -> Result<i32, Error> {
        let l = self.ledger;
        // What is kept goes out now, or the child would write it again.
        l.flush();
        let (before, start) = l.begin();
        let fork = Call::libc("fork", &[]);
        let pid = cmem::fork_child(|| {
            l.end(fork, Ok(Ret::Int(0)), before, start);
            let code = child();
            l.flush();
            code
        });
        let pid = match pid {
            Ok(pid) => pid,
            Err(e) => {
                l.end(fork, Err(e), before, start);
                return Err(Error::env(format!("fork failed: {e}")));
            }
        };
        let status = loop {
            match waitpid(pid, None) {
                Err(Errno::EINTR) => continue,
                r => break r,
            }
        };
        // The child wrote at least its own fork entry after the parent's.
        l.continued();
        l.end(fork, Ok(Ret::Int(pid.as_raw().into())), before, start);
        match status {
            Ok(WaitStatus::Exited(_, code)) => Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                Err(Error::env(format!("the forked child was killed by {sig}")))
            }
            Ok(s) => Err(Error::env(format!("the forked child ended oddly: {s:?}"))),
            Err(e) => Err(Error::env(format!("waitpid failed: {e}"))),
        }
    }

    /// Runs `f` in a new thread and waits for it to end; the thread's start and
    /// end are recorded (`pthread_create`, `pthread_join`) with what they did
    /// to the process (the thread's stack), before and after the thread's calls.
    fn in_thread<T: Send>(&self, f: impl FnOnce() -> Result<T, Error> + Send) -> Result<T, Error> {
        let l = self.ledger;
        // The thread starts its calls once its creation is recorded, and the
        // join is measured from when they are done: no window holds another's.
        let (go, done) = (Barrier::new(2), Barrier::new(2));
        let (before, start) = l.begin();
        let mut join = None;
        let r = cmem::in_thread(
            || {
                go.wait();
                let r = f();
                done.wait();
                r
            },
            |made| {
                let create = Call::libc("pthread_create", &[]);
                l.end(create, made.map(|()| Ret::Int(0)), before, start);
                if made.is_ok() {
                    go.wait();
                    done.wait();
                    join = Some(l.begin());
                }
            },
        );
        match r {
            Ok(r) => {
                if let Some((before, start)) = join {
                    l.end(
                        Call::libc("pthread_join", &[]),
                        Ok(Ret::Int(0)),
                        before,
                        start,
                    );
                }
                r
            }
            Err(e) => Err(Error::env(format!("cannot start a thread: {}", e.desc()))),
        }
    }

    /// `--hold`: sleeps, or sees a stop signal; nothing to do without one.
    /// The ledger lists the hold as an entry of its own.
    fn hold(&self) -> Result<Stop, Error> {
        match (self.signals, self.opts.hold) {
            (Some(sig), Some(h)) => self.ledger.hold(|| sig.hold(h)),
            _ => Ok(None),
        }
    }
}

/// `--exec`: replaces the process with `cmd` (a program and its arguments,
/// separated by spaces); a bare program name is looked for beside this
/// binary. Returns only when that fails.
fn exec(cmd: &str) -> Error {
    let mut words = cmd.split_ascii_whitespace();
    let prog = words.next().unwrap_or_default();
    let path = if prog.contains('/') {
        std::path::PathBuf::from(prog)
    } else {
        match std::env::current_exe() {
            Ok(me) => me.with_file_name(prog),
            Err(e) => {
                return Error::env(format!("cannot exec {prog}: cannot find this binary: {e}"))
            }
        }
    };
    let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
    let argv: Vec<_> = std::iter::once(prog).chain(words).map(c).collect();
    let path_c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap_or_default();
    let e = nix::unistd::execv(&path_c, &argv).unwrap_err();
    Error::env(format!("cannot exec {}: {}", path.display(), e.desc()))
}

/// The report's members known before the run, and the opening of its list.
fn header<W: Workload>(w: &W, opts: &Common) -> Json {
    let mut j = Json::new();
    j.str("workload", W::NAME)
        .str("path", w.path())
        .num("pid", std::process::id().into())
        .num("requested_bytes", opts.size)
        .num("allocator_bytes", w.allocator_bytes(opts.size))
        .opt_num("mmap_threshold", w.mmap_threshold())
        .bool("touched", w.touched() || opts.touch)
        .num("repeat", opts.repeat);
    match opts.hold {
        None => j.num("hold_ns", 0),
        // parse_hold keeps a hold within u64 nanoseconds.
        Some(Hold::For(d)) => j.num("hold_ns", u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        Some(Hold::UntilSignal) => j.str("hold_ns", "inf"),
    };
    j.num("ledger_version", crate::ledger::VERSION)
        .str("place", opts.place.name())
        .bool("leak", opts.leak)
        .opt_str("exec", opts.exec.as_deref());
    j.open("ledger", '[');
    j
}

/// The members that only the end of the run knows.
fn trailer<W: Workload>(j: &mut Json, w: &W, out: &Outcome) {
    let glibc = w.mmap_threshold().is_some();
    j.close(']')
        .num("completed", out.completed)
        .opt_str(
            "stopped_by",
            out.stopped_by.map(nix::sys::signal::Signal::as_str),
        )
        .addr("address", out.address)
        .opt_str("served_by", out.served_by().filter(|_| glibc))
        .opt_num("mmap_bytes", out.mmap_bytes())
        .opt_num("brk_growth_bytes", out.brk_growth_bytes())
        .opt_num("rss_before_bytes", out.before.map(|m| m.rss))
        .opt_num("rss_after_bytes", out.after.map(|m| m.rss))
        .opt_num("vsz_before_bytes", out.before.map(|m| m.vsz))
        .opt_num("vsz_after_bytes", out.after.map(|m| m.vsz))
        .opt_num("failed_repeat", out.failed.as_ref().map(|f| f.0))
        .opt_str("error", out.failed.as_ref().map(|f| f.1.msg.as_str()));
}

fn summary<W: Workload>(w: &W, opts: &Common, out: &Outcome) -> String {
    let kib =
        |m: Option<Mem>, f: fn(Mem) -> u64| m.map_or("?".into(), |m| (f(m) / 1024).to_string());
    let addr = out.address.map_or(String::new(), |a| format!(" at {a:#x}"));
    let from = match out.served_by().filter(|_| w.mmap_threshold().is_some()) {
        Some("heap") => format!(
            ", from the brk heap (+{} bytes)",
            out.brk_growth_bytes().unwrap_or(0)
        ),
        Some(_) => format!(", mmapped ({} bytes)", out.mmap_bytes().unwrap_or(0)),
        None => String::new(),
    };
    format!(
        "{} of {} bytes ({} asked of the allocator){addr}{from}, {} of {} time(s){}, rss {} -> {} KiB, vsz {} -> {} KiB",
        w.path(),
        opts.size,
        w.allocator_bytes(opts.size),
        out.completed,
        opts.repeat,
        out.stopped_by.map_or(String::new(), |s| format!(", stopped by {s}")),
        kib(out.before, |m| m.rss),
        kib(out.after, |m| m.rss),
        kib(out.before, |m| m.vsz),
        kib(out.after, |m| m.vsz),
    )
}
