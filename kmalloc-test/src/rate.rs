//! The rate mode (`--rate`): kmallocs at a rate through the module's `rate
//! COUNT SIZE` writes, for the kernel half of the load table.
//!
//! The module makes the kmallocs of a write back to back, each freed in the
//! same write (kmalloc-lkm/rate.rs); this sets the pace between writes, as
//! rate-wl does between calls ([`wlcore::pace::Rate`]): at each wake-up one
//! write of every call due (at most [`MAX_PER_WRITE`]), then a sleep until the
//! next is due, against CLOCK_MONOTONIC. At `max` every write is as large as
//! the module takes. The writes are not ledger entries: they go in the
//! report's `kernel_rate` counts, as rate-wl's calls go in its `rate`.
//! Under `--hold` the module keeps every object until the close (`rate COUNT
//! SIZE hold`); with `--writers N`, N threads pace their own writes to the
//! one open file at once ([`run_writers`]).

use nix::errno::Errno;
use wlcore::exit::Error;
use wlcore::out::Json;
use wlcore::pace::{sleep_until, Rate};
use wlcore::stat::monotonic_ns;

/// The module's most kmallocs a write (`rate::MAX_COUNT` of kmalloc-lkm).
pub const MAX_PER_WRITE: u64 = 1 << 16;
/// The module's largest object in the rate mode (`rate::MAX_SIZE`).
pub const MAX_SIZE: u64 = 1 << 16;
/// The most objects the module keeps for a file (`rate::MAX_HELD`).
pub const MAX_HELD: u64 = 1 << 18;
/// The most `--writers`.
pub const MAX_WRITERS: u64 = 16;
/// The longest `--duration`, and the most calls of a run.
pub const MAX_DURATION_NS: u64 = 3600 * 1_000_000_000;
pub const MAX_CALLS: u64 = 1 << 40;

/// How a run at a rate ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// After this long: the calls the rate makes in it.
    Duration(u64),
    /// After this many calls.
    Calls(u64),
}

/// What `--rate`, `--duration` and `--calls` ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub rate: Rate,
    pub end: End,
}

impl Spec {
    /// The calls the run makes.
    pub fn calls(&self) -> u64 {
        match self.end {
            End::Calls(n) => n,
            // Checked when parsed: a duration comes with a rate in calls.
            End::Duration(ns) => self.rate.units_in(ns).unwrap_or(0),
        }
    }
}

/// What a run made, as the report says it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Made {
    /// Writes the module took, and the kmallocs they made (all freed, in
    /// the writes or at the close).
    pub writes: u64,
    pub allocs: u64,
    pub elapsed_ns: u64,
}

/// Runs `spec` on the open file `fd`: `rate N SIZE` writes (`rate N SIZE
/// hold` when the module is to keep the objects), paced. `write` makes one
/// write; a refusal of the module stops the run and is returned with what
/// was made before it.
pub fn run(
    spec: Spec,
    size: u64,
    hold: bool,
    mut write: impl FnMut(&str) -> Result<(), Errno>,
) -> (Made, Result<(), Errno>) {
    let total = spec.calls();
    let mut made = Made::default();
    let start = monotonic_ns();
    let mut text = String::with_capacity(32);
    let mut result = Ok(());
    while made.allocs < total {
        let elapsed = monotonic_ns().saturating_sub(start);
        // A rate in calls (or max) always says how many are due.
        let due = spec.rate.calls_due(made.allocs, elapsed).unwrap_or(1);
        let n = due.min(total - made.allocs).min(MAX_PER_WRITE);
        if n == 0 {
            sleep_until(start + spec.rate.deadline_ns(made.allocs));
            continue;
        }
        text.clear();
        use std::fmt::Write as _;
        let _ = write!(text, "rate {n} {size}");
        if hold {
            text.push_str(" hold");
        }
        if let Err(e) = write(&text) {
            result = Err(e);
            break;
        }
        made.writes += 1;
        made.allocs += n;
    }
    made.elapsed_ns = monotonic_ns().saturating_sub(start);
    (made, result)
}

/// Runs `spec` in `writers` threads at once, each at the rate for the
/// whole run ([`run`], all through `write`): this one and `writers - 1`
/// threads of glibc's (`cmem::in_thread`: no malloc of the workload's own).
/// What they made, summed, `elapsed_ns` the longest's; the first refusal of
/// the module. `Err` when a thread could not be started.
pub fn run_writers(
    spec: Spec,
    size: u64,
    hold: bool,
    writers: u64,
    write: &(impl Fn(&str) -> Result<(), Errno> + Sync),
) -> Result<(Made, Result<(), Errno>), Errno> {
    if writers <= 1 {
        return Ok(run(spec, size, hold, write));
    }
    let mut here = None;
    let there = wlcore::cmem::in_thread(
        || run(spec, size, hold, write),
        |started| {
            if started.is_ok() {
                here = Some(run_writers(spec, size, hold, writers - 1, write));
            }
        },
    )?;
    let (mine, result) = here.ok_or(Errno::ESRCH)??;
    let made = Made {
        writes: mine.writes + there.0.writes,
        allocs: mine.allocs + there.0.allocs,
        elapsed_ns: mine.elapsed_ns.max(there.0.elapsed_ns),
    };
    Ok((made, there.1.and(result)))
}

/// The report's `kernel_rate` object (docs/ledger.md); `achieved` is a
/// writer's, as rate-wl's is a thread's.
pub fn report(j: &mut Json, spec: Spec, size: u64, writers: u64, hold: bool, made: &Made) {
    let achieved = (u128::from(made.allocs) * 1_000_000_000)
        .checked_div(u128::from(made.elapsed_ns) * u128::from(writers.max(1)))
        .map_or(0, |a| u64::try_from(a).unwrap_or(u64::MAX));
    j.open("kernel_rate", '{')
        .num("size", size)
        .str("unit", "calls/s")
        .opt_num("target", spec.rate.per_s())
        .opt_num(
            "duration_ns",
            match spec.end {
                End::Duration(ns) => Some(ns),
                End::Calls(_) => None,
            },
        )
        .opt_num(
            "calls",
            match spec.end {
                End::Calls(n) => Some(n),
                End::Duration(_) => None,
            },
        )
        .num("threads", writers)
        .num("writes", made.writes)
        .num("allocs", made.allocs)
        .num("frees", made.allocs)
        .bool("held", hold)
        .num("elapsed_ns", made.elapsed_ns)
        .num("achieved", achieved)
        .close('}');
}

/// The error of a refused `rate` write, after `made` kmallocs of `total`.
pub fn refused(e: Errno, size: u64, hold: bool, made: &Made, total: u64) -> Error {
    let why = match e {
        Errno::EINVAL => format!(
            "EINVAL: the module takes 'rate COUNT SIZE' of at most {MAX_PER_WRITE} objects of \
             1 to {MAX_SIZE} bytes (a module without the rate mode refuses it)"
        ),
        Errno::ENOMEM if hold => format!(
            "ENOMEM: what it keeps would be over its cap on live bytes (max_bytes) or \
             {MAX_HELD} objects, or a kmalloc failed"
        ),
        Errno::ENOMEM => {
            "ENOMEM: over its cap on live bytes (max_bytes), or a kmalloc failed".into()
        }
        e => e.desc().into(),
    };
    Error::alloc(format!(
        "the module refused a rate write of {size}-byte kmallocs after {} of {total}: {why}",
        made.allocs
    ))
}
