//! `rate-wl`: allocates at a rate, in calls or bytes a second, for a duration
//! or a number of calls, with sizes from a seeded distribution, keeping the
//! last `--live K` blocks alive and freeing the oldest first.
//!
//! The rewrite of GranuloTrack's rate generator (Memory_Rate_Generator.c:
//! random 4 KiB to 1 MiB blocks at 1 to 1000 MB/s, at most one a millisecond,
//! a ring of 1000 pointers overwritten without freeing). Here the pacing is by
//! batches against CLOCK_MONOTONIC: the call after `u` units (calls or bytes)
//! is due at u/rate seconds from the start; the loop makes every call due, then
//! sleeps (an absolute `clock_nanosleep`) until the next call is due, and at
//! least until the next millisecond, so a run of 10k calls a second wakes 1000
//! times a second, never once a call, and makes exactly rate x duration calls.
//!
//! What the run did goes out per 100 ms interval (`--json`), streamed as each
//! interval closes, so that the process's memory does not grow with the
//! duration; `--ledger full` lists every call instead, for short runs. See
//! docs/workloads.md#rate-wl.

#![no_main]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use rate_wl::{Histogram, Rate, Sizes, SplitMix64};
use wlcore::cli;
use wlcore::cmem::{self, AllocFn, CArgs, CBuffer};
use wlcore::exit::{Code, Error};
use wlcore::ledger::{Call, Errno, Ledger, Ret, Val};
use wlcore::out::{self, Json};
use wlcore::pace::{peak_rss_bytes, sleep_until};
use wlcore::ring::{self, Ring};
use wlcore::signals::{Signals, Stop};
use wlcore::size::Hold;
use wlcore::stat::{monotonic_ns, page_size};
use wlcore::sys::mmap::{self, MapFlags, Mapping, ProtFlags};

mod opts;

use opts::{parse, End, Func, Opts, Parsed};

const NAME: &str = "rate-wl";

/// The report's intervals.
const INTERVAL_NS: u64 = 100_000_000;
/// Intervals that may be open at once (written to, not yet closed): 102.4 s,
/// the most one thread may run ahead of the slowest.
const SLOTS: usize = 1024;
/// The pacing's tick: a paced loop wakes at most once a millisecond.
const TICK_NS: u64 = 1_000_000;
/// The most calls between two readings of the clock.
const BATCH: u64 = 1024;

fn rate_main(args: CArgs) -> i32 {
    let parsed = cli::check_bounds(args.iter().map(std::ffi::OsStr::as_encoded_bytes))
        .and_then(|()| parse(args.owned()));
    match parsed {
        Ok(Parsed::Run(o)) => run(&o),
        Ok(Parsed::Print(text)) => match out::print(&text) {
            Ok(()) => 0,
            Err(e) => Error::new(
                Code::Report,
                format!("cannot write to stdout: {}", e.desc()),
            )
            .report(NAME),
        },
        Err(e) => e.report(NAME),
    }
}

wlcore::program_main!(rate_main);

/// A thread's live set: blocks of a malloc-family function, or mappings
/// (`--fn mmap`), each kind in a ring of its own type. (A ring of an enum of
/// both moves the enum's padding byte by byte at each call: a third of the
/// loop's time at `--rate max`.)
enum Live {
    C(Ring<CBuffer>, AllocFn),
    M(Ring<Mapping>),
}

/// One interval's counts, added to by every thread.
#[derive(Default)]
struct Slot {
    allocs: AtomicU64,
    frees: AtomicU64,
    bytes: AtomicU64,
    freed: AtomicU64,
    failures: AtomicU64,
}

/// One interval's counts, closed.
#[derive(Clone, Copy, Default)]
struct Counts {
    allocs: u64,
    frees: u64,
    bytes: u64,
    freed: u64,
    failures: u64,
}

impl Counts {
    fn add(&mut self, c: &Counts) {
        self.allocs += c.allocs;
        self.frees += c.frees;
        self.bytes += c.bytes;
        self.freed += c.freed;
        self.failures += c.failures;
    }
}

/// What the threads share: the start, the open intervals, where each thread is.
struct Shared {
    t0: u64,
    slots: Vec<Slot>,
    /// Intervals closed so far: the next to close.
    closed: AtomicU64,
    /// Each thread's current interval; `u64::MAX` once its loop is over.
    pos: Vec<AtomicU64>,
    /// Set on a stop signal: the loops end.
    stop: AtomicBool,
    /// Set once the hold is over: the threads free their live sets.
    released: AtomicBool,
    /// Threads still in their loop.
    looping: AtomicUsize,
    /// The last interval any thread added to, plus 1: where the list ends.
    end: AtomicU64,
}

/// Where closed intervals go: streamed into the report, or kept (`--ledger
/// full`, whose entries stream meanwhile; a bounded run) to be written after.
enum Sink<'j> {
    None,
    Stream(&'j mut Json),
    Keep(Vec<(u64, Counts)>),
}

/// Closes intervals once every thread is past them, in order.
struct Closer<'j, 's> {
    sink: Sink<'j>,
    signals: &'s Signals,
    rate: Rate,
    stopped_by: Stop,
    error: Option<Error>,
}

impl Closer<'_, '_> {
    /// Closes every interval that no thread can add to any more, before
    /// `upto` (the interval of now) at most, and never past the last one
    /// added to; looks for a stop signal when one closed.
    fn close(&mut self, s: &Shared, upto: u64) {
        let least = s
            .pos
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX);
        let limit = least.min(upto).min(s.end.load(Ordering::Acquire));
        let mut i = s.closed.load(Ordering::Relaxed);
        let any = i < limit;
        while i < limit {
            let slot = &s.slots[(i % SLOTS as u64) as usize];
            let take = |a: &AtomicU64| a.swap(0, Ordering::AcqRel);
            let c = Counts {
                allocs: take(&slot.allocs),
                frees: take(&slot.frees),
                bytes: take(&slot.bytes),
                freed: take(&slot.freed),
                failures: take(&slot.failures),
            };
            self.emit(i, &c);
            i += 1;
            s.closed.store(i, Ordering::Release);
        }
        if any && self.stopped_by.is_none() {
            match self.signals.stop() {
                Ok(Some(sig)) => {
                    self.stopped_by = Some(sig);
                    s.stop.store(true, Ordering::Relaxed);
                }
                Ok(None) => {}
                Err(e) => {
                    self.error.get_or_insert(e);
                    s.stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    fn emit(&mut self, i: u64, c: &Counts) {
        match &mut self.sink {
            Sink::None => {}
            Sink::Stream(j) => {
                interval(j, self.rate, i, c);
                j.drain();
            }
            Sink::Keep(v) => v.push((i, *c)),
        }
    }
}

/// One interval as the report lists it.
fn interval(j: &mut Json, rate: Rate, i: u64, c: &Counts) {
    let units = match rate {
        Rate::Bytes(_) => c.bytes,
        _ => c.allocs,
    };
    j.open("", '{')
        .num("start_ns", i * INTERVAL_NS)
        .num("allocs", c.allocs)
        .num("frees", c.frees)
        .num("bytes", c.bytes)
        .num("freed_bytes", c.freed)
        .num("failures", c.failures)
        .num("rate", units * (1_000_000_000 / INTERVAL_NS))
        .close('}');
}

/// One thread's loop and what it did.
struct Worker<'a, 'j> {
    o: &'a Opts,
    s: &'a Shared,
    l: &'a Ledger<'j>,
    id: usize,
    live: Live,
    rng: SplitMix64,
    hist: Histogram,
    page: usize,
    /// What its loop did, and the frees of the live set after it.
    total: Counts,
    final_frees: u64,
    final_freed: u64,
    /// Units (calls or bytes) made, for the pacing.
    units: u64,
    /// Nanoseconds from the start to the end of its loop.
    loop_ns: u64,
    /// The first failure, as a message.
    first_error: Option<String>,
    /// A system call that failed (munmap): the run ends with it.
    fatal: Option<Error>,
}

impl Worker<'_, '_> {
    /// The loop: every call due, then a sleep until the next is due.
    fn run(&mut self, mut closer: Option<&mut Closer<'_, '_>>) {
        let (o, s) = (self.o, self.s);
        let mut calls = 0u64;
        let total_units = match o.end {
            End::Duration(d) => o.rate.units_in(d),
            End::Calls(_) => None,
        };
        let over = |calls: u64, units: u64, el: u64| match o.end {
            End::Calls(n) => calls >= n,
            End::Duration(d) => match total_units {
                Some(t) => units >= t,
                None => el >= d,
            },
        };
        loop {
            if s.stop.load(Ordering::Relaxed) || self.fatal.is_some() {
                break;
            }
            let el = monotonic_ns().saturating_sub(s.t0);
            if over(calls, self.units, el) {
                break;
            }
            if !o.rate.due(self.units, el) {
                let tick = (el / TICK_NS + 1) * TICK_NS;
                // At most to the next interval: a stop signal is seen there.
                let next = (el / INTERVAL_NS + 1) * INTERVAL_NS;
                let wake = o.rate.deadline_ns(self.units).max(tick).min(next);
                // Nothing is added before the wake-up: the intervals before
                // it may close meanwhile.
                s.pos[self.id].store(wake / INTERVAL_NS, Ordering::Release);
                if let Some(c) = closer.as_deref_mut() {
                    c.close(s, el / INTERVAL_NS);
                }
                sleep_until(s.t0 + wake);
                continue;
            }
            let j = el / INTERVAL_NS;
            s.pos[self.id].store(j, Ordering::Release);
            // A thread may not run a whole ring of intervals ahead of the slowest.
            while j >= s.closed.load(Ordering::Acquire) + SLOTS as u64 - 1 {
                if let Some(c) = closer.as_deref_mut() {
                    c.close(s, j);
                } else {
                    sleep_until(monotonic_ns() + TICK_NS);
                }
            }
            s.end.fetch_max(j + 1, Ordering::Relaxed);
            let mut c = Counts::default();
            // The clock is read once a batch: the calls due now and left to
            // make are known before it, and made without a check between
            // them (a rate in bytes checks each, as sizes vary).
            if let Some(due) = o.rate.calls_due(self.units, el) {
                let left = match (o.end, total_units) {
                    (End::Calls(n), _) => n - calls,
                    (End::Duration(_), Some(t)) => t - self.units,
                    (End::Duration(_), None) => u64::MAX,
                };
                let n = BATCH.min(due).min(left);
                match self.plain_size() {
                    Some(size) => self.plain_batch(n, size, &mut c),
                    None => {
                        for _ in 0..n {
                            self.one(&mut c);
                        }
                    }
                }
                calls += n;
            } else {
                let mut n = 0;
                while n < BATCH && o.rate.due(self.units, el) && !over(calls, self.units, el) {
                    self.one(&mut c);
                    calls += 1;
                    n += 1;
                }
            }
            let slot = &s.slots[(j % SLOTS as u64) as usize];
            slot.allocs.fetch_add(c.allocs, Ordering::Relaxed);
            slot.frees.fetch_add(c.frees, Ordering::Relaxed);
            slot.bytes.fetch_add(c.bytes, Ordering::Relaxed);
            slot.freed.fetch_add(c.freed, Ordering::Relaxed);
            slot.failures.fetch_add(c.failures, Ordering::Release);
            self.total.add(&c);
            if let Some(cl) = closer.as_deref_mut() {
                cl.close(s, j);
            }
        }
        // A paced run lasts until the next call would have been due: rate x
        // duration calls over the whole duration.
        if o.rate != Rate::Max && !s.stop.load(Ordering::Relaxed) {
            sleep_until(s.t0 + o.rate.deadline_ns(self.units));
        }
        self.loop_ns = monotonic_ns().saturating_sub(s.t0);
        s.pos[self.id].store(u64::MAX, Ordering::Release);
        s.looping.fetch_sub(1, Ordering::AcqRel);
    }

    /// One call: the oldest block freed first when the live set is full,
    /// then the new one allocated (and written, with --touch).
    fn one(&mut self, c: &mut Counts) {
        let size = self.o.sizes.draw(&mut self.rng);
        self.hist.add(size);
        self.units += match self.o.rate {
            Rate::Bytes(_) => size,
            _ => 1,
        };
        if !self.o.leak {
            if let Some(len) = self.free_oldest(true) {
                c.frees += 1;
                c.freed += len;
            }
        }
        c.allocs += 1;
        c.bytes += size;
        if let Err(e) = self.alloc(size) {
            c.failures += 1;
            if self.first_error.is_none() {
                let name = match self.live {
                    Live::C(_, f) => f.name(),
                    Live::M(_) => "mmap",
                };
                self.first_error = Some(format!("{name} of {size} bytes failed: {}", why(e)));
            }
        }
    }

    /// The size of every call when the run's calls are the plainest (one
    /// size, a malloc-family function, no --touch or --leak, nothing
    /// recorded): [`plain_batch`](Worker::plain_batch) may make them.
    fn plain_size(&self) -> Option<u64> {
        match (&self.o.sizes, &self.live) {
            (Sizes::Fixed(n), Live::C(..))
                if !self.o.touch && !self.o.leak && !self.l.recording() =>
            {
                Some(*n)
            }
            _ => None,
        }
    }

    /// `n` calls of [`one`](Worker::one) when [`plain_size`](Worker::plain_size)
    /// says they are the plainest: the same frees and allocations in the same
    /// order, with the counts and the histogram added once for the batch (a
    /// fixed size draws nothing from the generator). At top speed they cost
    /// as much as the calls themselves.
    fn plain_batch(&mut self, n: u64, size: u64, c: &mut Counts) {
        let Live::C(r, f) = &mut self.live else {
            return;
        };
        let (f, len) = (*f, usize::try_from(size).unwrap_or(usize::MAX));
        let align = usize::try_from(self.o.align).unwrap_or(usize::MAX);
        // malloc apart: the function known where the call is made, the
        // call's own match goes (the rest of the family shares one loop).
        // errno cleared once a batch (CBuffer::alloc_errno_kept)
        Errno::clear();
        let made = match f {
            AllocFn::Malloc => plain_calls(r, n, || {
                CBuffer::alloc_errno_kept(AllocFn::Malloc, len, align)
            }),
            f => plain_calls(r, n, || CBuffer::alloc_errno_kept(f, len, align)),
        };
        c.allocs += n;
        c.bytes += n * size;
        c.frees += made.frees;
        c.freed += made.frees * size;
        c.failures += made.failed;
        self.hist.add_n(size, n);
        self.units += n;
        if let (Some(e), None) = (made.first, &self.first_error) {
            self.first_error = Some(format!("{} of {size} bytes failed: {}", f.name(), why(e)));
        }
    }

    /// Frees the oldest block (only when the live set is full, if `if_full`);
    /// its length.
    fn free_oldest(&mut self, if_full: bool) -> Option<u64> {
        let l = self.l;
        match &mut self.live {
            Live::C(r, _) if !if_full || r.is_full() => {
                let b = r.pop()?;
                let len = b.len() as u64;
                b.free_recorded(l);
                Some(len)
            }
            Live::M(r) if !if_full || r.is_full() => {
                let m = r.pop()?;
                let len = m.len() as u64;
                if let Err(e) = unmap(l, m) {
                    self.fatal
                        .get_or_insert_with(|| Error::env(format!("munmap failed: {}", e.desc())));
                }
                Some(len)
            }
            _ => None,
        }
    }

    /// Allocates `size` bytes, writes them with --touch, and keeps the block
    /// in the live set (forgets it with --leak).
    fn alloc(&mut self, size: u64) -> Result<(), Errno> {
        let n = usize::try_from(size).unwrap_or(usize::MAX);
        let (o, l, page) = (self.o, self.l, self.page);
        match &mut self.live {
            Live::C(r, f) => {
                let mut b = alloc_c(l, *f, n, o.align, size)?;
                if o.touch {
                    cmem::touch_pages(&mut b, page, l);
                }
                if o.leak {
                    // Forgotten, as the original overwrote its ring's pointers.
                    std::mem::forget(b);
                } else if let Err(b) = r.push(b) {
                    // The ring had room (freed before): cannot happen; never leak silently.
                    b.free_recorded(l);
                }
            }
            Live::M(r) => {
                let mut m = map(l, n, size)?;
                if o.touch {
                    cmem::touch_pages(&mut m, page, l);
                }
                // With --leak it goes out of scope still mapped (a Mapping
                // is unmapped only by munmap).
                if !o.leak {
                    if let Err(m) = r.push(m) {
                        let _ = unmap(l, m);
                    }
                }
            }
        }
        Ok(())
    }

    /// After the loop (and the hold): the live set freed, oldest first,
    /// unless --leak.
    fn release(&mut self) {
        if self.o.leak {
            return;
        }
        while let Some(len) = self.free_oldest(false) {
            self.final_frees += 1;
            self.final_freed += len;
        }
    }
}

/// A block of `f`, recorded when the ledger records (the call made straight
/// otherwise: a closure and its arguments cost as much as a malloc).
/// What [`plain_calls`] made: the frees, the failed calls and the first
/// failure's error.
struct Plain {
    frees: u64,
    failed: u64,
    first: Option<Errno>,
}

/// `n` calls of [`Worker::plain_batch`]: the oldest block freed when the
/// live set is full, then a new one from `make` kept as the newest.
#[inline(always)]
fn plain_calls(r: &mut Ring<CBuffer>, n: u64, make: impl Fn() -> Result<CBuffer, Errno>) -> Plain {
    let mut p = Plain {
        frees: 0,
        failed: 0,
        first: None,
    };
    for _ in 0..n {
        let mut failed = None;
        // Full (as at every call once K were made): one slot turns over.
        let turned = r.turn(|old| {
            old.free();
            make().map_err(|e| failed = Some(e)).ok()
        });
        if turned {
            p.frees += 1;
        } else {
            match make() {
                // The ring has room: it is not full.
                Ok(b) => {
                    if let Err(b) = r.push(b) {
                        b.free();
                    }
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            p.failed += 1;
            p.first.get_or_insert(e);
        }
    }
    p
}

fn alloc_c(l: &Ledger, f: AllocFn, n: usize, align: u64, size: u64) -> Result<CBuffer, Errno> {
    if !l.recording() {
        return CBuffer::alloc(f, n, align as usize);
    }
    let args: &[_] = match f {
        AllocFn::Malloc | AllocFn::Valloc | AllocFn::Pvalloc => &[("size", Val::Num(size))],
        AllocFn::Calloc => &[("nmemb", Val::Num(1)), ("size", Val::Num(size))],
        AllocFn::Realloc => &[("ptr", Val::Addr(0)), ("size", Val::Num(size))],
        _ => &[("align", Val::Num(align)), ("size", Val::Num(size))],
    };
    l.call(
        Call::libc(f.name(), args),
        || CBuffer::alloc(f, n, align as usize),
        |b| Ret::Addr(b.addr()),
    )
}

fn map(l: &Ledger, n: usize, size: u64) -> Result<Mapping, Errno> {
    let (prot, flags) = (
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        MapFlags::MAP_PRIVATE | MapFlags::MAP_ANONYMOUS,
    );
    let args = [
        ("addr", Val::Addr(0)),
        ("length", Val::Num(size)),
        ("prot", Val::Text("PROT_READ|PROT_WRITE")),
        ("flags", Val::Text("MAP_PRIVATE|MAP_ANONYMOUS")),
        ("fd", Val::Int(-1)),
        ("offset", Val::Num(0)),
    ];
    l.call(
        Call::syscall("mmap", &args),
        || mmap::mmap_anon(n, prot, flags),
        |m| Ret::Addr(m.addr()),
    )
}

fn unmap(l: &Ledger, m: Mapping) -> Result<(), Errno> {
    let args = [
        ("addr", Val::Addr(m.addr())),
        ("length", Val::Num(m.len() as u64)),
    ];
    l.call(
        Call::syscall("munmap", &args),
        || mmap::munmap(m),
        |_| Ret::Int(0),
    )
    .map(drop)
}

fn why(e: Errno) -> &'static str {
    match e {
        Errno::ENOMEM => "not enough memory",
        e => e.desc(),
    }
}

/// Starts a thread for each worker, one inside the other's start (glibc's
/// threads, `cmem::in_thread`), and runs `main` here meanwhile; every thread
/// is joined before this returns. A thread that cannot start stops the run.
fn in_threads(ws: &mut [Worker<'_, '_>], s: &Shared, main: &mut dyn FnMut()) -> Result<(), Error> {
    let Some((w, rest)) = ws.split_first_mut() else {
        main();
        return Ok(());
    };
    let id = w.id;
    let mut inner = Ok(());
    let r = cmem::in_thread(
        || {
            w.run(None);
            // The live set stays until the hold is over.
            while !s.released.load(Ordering::Acquire) {
                sleep_until(monotonic_ns() + TICK_NS);
            }
            w.release();
        },
        |made| {
            if made.is_err() {
                // This one and the rest never start: nobody waits for them.
                s.stop.store(true, Ordering::Relaxed);
                for k in id..s.pos.len() {
                    if s.pos[k].swap(u64::MAX, Ordering::AcqRel) != u64::MAX {
                        s.looping.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                main();
            } else {
                inner = in_threads(rest, s, main);
            }
        },
    );
    match r {
        Ok(()) => inner,
        Err(e) => Err(Error::env(format!("cannot start a thread: {}", e.desc()))),
    }
}

fn run(o: &Opts) -> i32 {
    let mut json = o.json.then(|| header(o));
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => return e.report(NAME),
    };
    let mut stopped_by = None;
    if o.wait {
        out::line(&format!(
            "pid={} waiting for SIGUSR1 or a line on stdin",
            std::process::id()
        ));
        match signals.wait_release() {
            Ok(s) => stopped_by = s,
            Err(e) => return e.report(NAME),
        }
        if stopped_by.is_none() {
            cmem::brk_probe();
        }
    }
    if matches!(o.func, Func::Alloc(_)) {
        cmem::pin_mmap_threshold();
    }
    let n = o.workers();
    let lives: Option<Vec<Live>> = match o.func {
        Func::Alloc(f) => ring::take::<CBuffer>(n, o.live)
            .map(|rs| rs.into_iter().map(|r| Live::C(r, f)).collect()),
        Func::Mmap => {
            ring::take::<Mapping>(n, o.live).map(|rs| rs.into_iter().map(Live::M).collect())
        }
    };
    let Some(lives) = lives else {
        return Error::usage("the live set does not fit (see --help)").report(NAME);
    };
    let s = Shared {
        t0: 0,
        slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        closed: AtomicU64::new(0),
        pos: (0..n).map(|_| AtomicU64::new(0)).collect(),
        stop: AtomicBool::new(stopped_by.is_some()),
        released: AtomicBool::new(false),
        looping: AtomicUsize::new(n),
        end: AtomicU64::new(0),
    };
    let s = Shared {
        t0: monotonic_ns(),
        ..s
    };
    let (intervals, workers, closer_stop, error) = {
        // The ledger streams into the report (--ledger full) or only runs the calls.
        let (ledger, sink) = match json.as_mut() {
            Some(j) if o.full => (
                Ledger::new(Some(j), false),
                Sink::Keep(Vec::with_capacity(SLOTS)),
            ),
            Some(j) => (Ledger::new(None, false), Sink::Stream(j)),
            None => (Ledger::new(None, false), Sink::None),
        };
        ledger.set_repeat(1);
        let mut closer = Closer {
            sink,
            signals: &signals,
            rate: o.rate,
            stopped_by,
            error: None,
        };
        let mut workers: Vec<Worker> = lives
            .into_iter()
            .enumerate()
            .map(|(id, live)| Worker {
                o,
                s: &s,
                l: &ledger,
                id,
                live,
                rng: SplitMix64::for_thread(o.seed, id as u64),
                hist: Histogram::default(),
                page: page_size(),
                total: Counts::default(),
                final_frees: 0,
                final_freed: 0,
                units: 0,
                loop_ns: 0,
                first_error: None,
                fatal: None,
            })
            .collect();
        let hold = |closer: &mut Closer| {
            if let (Some(h), None) = (o.hold, closer.stopped_by) {
                match ledger.hold(|| signals.hold(h)) {
                    Ok(sig) => closer.stopped_by = sig,
                    Err(e) => {
                        closer.error.get_or_insert(e);
                    }
                }
            }
        };
        let mut started = Ok(());
        if o.threads.is_none() {
            let w = &mut workers[0];
            w.run(Some(&mut closer));
            closer.close(&s, u64::MAX);
            hold(&mut closer);
            w.release();
        } else {
            started = in_threads(&mut workers, &s, &mut || {
                // Here: close the intervals as the threads pass them.
                while s.looping.load(Ordering::Acquire) > 0 {
                    let el = monotonic_ns().saturating_sub(s.t0);
                    sleep_until(s.t0 + (el / INTERVAL_NS + 1) * INTERVAL_NS);
                    closer.close(&s, el / INTERVAL_NS + 1);
                }
                closer.close(&s, u64::MAX);
                hold(&mut closer);
                s.released.store(true, Ordering::Release);
            });
        }
        let intervals = match std::mem::replace(&mut closer.sink, Sink::None) {
            Sink::Keep(v) => Some(v),
            _ => None,
        };
        let error = started.err().or(closer.error.take());
        (intervals, Summary::of(&workers), closer.stopped_by, error)
    };
    finish(o, json, intervals, workers, closer_stop, error)
}

/// The report's members known before the run, up to the opening of the
/// intervals (the ledger's entries stream in between with --ledger full).
fn header(o: &Opts) -> Json {
    let mut j = Json::new();
    let glibc = matches!(o.func, Func::Alloc(_));
    j.str("workload", NAME)
        .str("path", o.func.name())
        .num("pid", std::process::id().into())
        .num("requested_bytes", o.sizes.max())
        .num("allocator_bytes", o.sizes.max())
        .opt_num(
            "mmap_threshold",
            glibc.then_some(cmem::MMAP_THRESHOLD as u64),
        )
        .bool("touched", o.touch)
        .num("repeat", 1);
    match o.hold {
        None => j.num("hold_ns", 0),
        Some(Hold::For(d)) => j.num("hold_ns", u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        Some(Hold::UntilSignal) => j.str("hold_ns", "inf"),
    };
    j.num("ledger_version", wlcore::ledger::VERSION)
        .str(
            "place",
            if o.threads.is_some() {
                "threads"
            } else {
                "main"
            },
        )
        .bool("leak", o.leak)
        .null("exec")
        .open("ledger", '[');
    if !o.full {
        j.close(']');
        rate_head(&mut j, o);
    }
    j
}

/// The `rate` object's opening: the options, and the intervals' list opened.
fn rate_head(j: &mut Json, o: &Opts) {
    j.open("rate", '{')
        .str("sizes", &o.sizes_text)
        .num("seed", o.seed)
        .str("unit", o.rate.unit())
        .opt_num("target", o.rate.per_s())
        .opt_num(
            "duration_ns",
            match o.end {
                End::Duration(d) => Some(d),
                End::Calls(_) => None,
            },
        )
        .opt_num(
            "calls",
            match o.end {
                End::Calls(n) => Some(n),
                End::Duration(_) => None,
            },
        )
        .num("threads", o.workers() as u64)
        .num("live", o.live as u64)
        .str("ledger", if o.full { "full" } else { "summary" })
        .num("interval_ns", INTERVAL_NS)
        .open("intervals", '[');
}

/// What the threads did, together.
struct Summary {
    total: Counts,
    hist: Histogram,
    final_frees: u64,
    final_freed: u64,
    /// Per thread, as the target is.
    achieved: u64,
    loop_ns: u64,
    first_error: Option<String>,
    fatal: Option<Error>,
}

impl Summary {
    fn of(ws: &[Worker]) -> Summary {
        let mut m = Summary {
            total: Counts::default(),
            hist: Histogram::default(),
            final_frees: 0,
            final_freed: 0,
            achieved: 0,
            loop_ns: 0,
            first_error: ws.iter().find_map(|w| w.first_error.clone()),
            fatal: ws
                .iter()
                .find_map(|w| w.fatal.as_ref().map(|e| Error::env(e.msg.clone()))),
        };
        let mut units = 0u64;
        for w in ws {
            m.total.add(&w.total);
            m.hist.merge(&w.hist);
            m.final_frees += w.final_frees;
            m.final_freed += w.final_freed;
            units += w.units;
            m.loop_ns = m.loop_ns.max(w.loop_ns);
        }
        m.achieved = (u128::from(units) * 1_000_000_000)
            .checked_div(u128::from(m.loop_ns) * ws.len() as u128)
            .map_or(0, |a| u64::try_from(a).unwrap_or(u64::MAX));
        m
    }
}

fn finish(
    o: &Opts,
    json: Option<Json>,
    kept: Option<Vec<(u64, Counts)>>,
    m: Summary,
    stopped_by: Stop,
    error: Option<Error>,
) -> i32 {
    let Summary {
        total,
        hist,
        final_frees,
        final_freed,
        achieved,
        loop_ns,
        first_error,
        fatal,
    } = m;
    let fatal = error.or(fatal);
    let failed = match (&fatal, total.failures, &first_error) {
        (Some(e), _, _) => Some(Error::new(e.code, e.msg.clone())),
        (None, 0, _) => None,
        (None, f, first) => Some(Error::alloc(format!(
            "{f} of {} calls failed; the first: {}",
            total.allocs,
            first.as_deref().unwrap_or("?")
        ))),
    };
    let written = json.map(|mut j| {
        if let Some(v) = kept {
            j.close(']');
            rate_head(&mut j, o);
            for (i, c) in &v {
                interval(&mut j, o.rate, *i, c);
            }
        }
        j.close(']').open("histogram", '[');
        for b in 0..64 {
            if hist.calls[b] > 0 {
                j.open("", '{')
                    .num("from", 1 << b)
                    .num("to", ((1u128 << (b + 1)) - 1) as u64)
                    .num("calls", hist.calls[b])
                    .num("bytes", hist.bytes[b])
                    .close('}');
            }
        }
        j.close(']')
            .num("allocs", total.allocs)
            .num("frees", total.frees + final_frees)
            .num("bytes", total.bytes)
            .num("freed_bytes", total.freed + final_freed)
            .num("failures", total.failures)
            .num("final_frees", final_frees)
            .num("elapsed_ns", loop_ns)
            .num("achieved", achieved)
            .opt_num("peak_rss_bytes", peak_rss_bytes())
            .close('}');
        j.num("completed", total.allocs - total.failures)
            .opt_str(
                "stopped_by",
                stopped_by.map(nix::sys::signal::Signal::as_str),
            )
            .null("address")
            .null("failed_repeat")
            .opt_str("error", failed.as_ref().map(|e| e.msg.as_str()));
        j.finish()
    });
    if let Some(e) = failed {
        return e.report(NAME);
    }
    if let Some(Err(e)) = written {
        return Error::new(
            Code::Report,
            format!(
                "the work was done, but the report could not be written to stdout: {}",
                e.desc()
            ),
        )
        .report(NAME);
    }
    if o.verbose {
        out::say(
            NAME,
            format!(
                "{} {} calls ({} bytes) and {} frees in {} ms, {} {} per thread (target {}){}",
                total.allocs,
                o.func.name(),
                total.bytes,
                total.frees + final_frees,
                loop_ns / 1_000_000,
                achieved,
                o.rate.unit(),
                o.rate.per_s().map_or("max".into(), |r| r.to_string()),
                stopped_by.map_or(String::new(), |s| format!(", stopped by {s}"))
            ),
        );
    }
    0
}
