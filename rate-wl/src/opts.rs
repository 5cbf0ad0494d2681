//! rate-wl's command line: its help, its options and their checks, made
//! into [`Opts`] before anything runs.

use std::ffi::OsString;

use lexopt::{Arg, Parser};
use rate_wl::{parse_rate, parse_sizes, Rate, Sizes};
use wlcore::cli;
use wlcore::cmem::AllocFn;
use wlcore::exit::Error;
use wlcore::ring;
use wlcore::size::{parse_hold, Hold};

use crate::NAME;

/// The longest `--duration`.
const MAX_DURATION_NS: u64 = 7 * 24 * 3600 * 1_000_000_000;
/// The most threads.
const MAX_THREADS: usize = 64;
/// `--ledger full`: the most calls, and the longest run, it lists.
const FULL_MAX_CALLS: u64 = 10_000;
const FULL_MAX_NS: u64 = 60_000_000_000;
/// The default alignment of the aligned functions, as malloc-wl's.
const DEFAULT_ALIGN: u64 = 64;

const HELP: &str = "\
Allocates at a rate (calls or bytes a second) for a duration or a number of
calls, sizes from a seeded distribution, keeping the last --live blocks and
freeing the oldest first; at the end everything is freed (unless --leak).

Usage: rate-wl [OPTIONS] <SIZES>

Arguments:
  <SIZES>  The size of each call: a SIZE (4096, 4KiB, 1MiB; 4K, 1M are powers of
           1000), uniform:A-B (every size from A to B alike), loguniform:A-B
           (each octave alike), or mix:S1,S2,... (one of them, each alike)

Options:
      --rate <RATE>   max, calls a second (10k, 500, 2M: powers of 1000), or bytes
                      a second (100MB/s, 1GiB/s); each thread's own [default: 1k]
      --duration <DURATION>
                      Run this long: 500ms, 2s, 1m (at most 7 days) [default: 1s]
      --calls <N>     Make N calls (per thread) instead
      --seed <N>      Seed of the sizes' generator (SplitMix64) [default: 1]
      --live <K>      Blocks kept alive, the oldest freed first [default: 1]
      --threads <N>   N threads (at most 64), each at the rate
      --fn <NAME>     malloc (default), calloc (as calloc(1, SIZE)), realloc (as
                      realloc(NULL, SIZE)), posix_memalign, aligned_alloc, memalign,
                      valloc, pvalloc, or mmap (anonymous, freed by munmap)
      --align <N>     Alignment for posix_memalign, aligned_alloc, memalign: a
                      power of two [default: 64]
      --touch         Write one byte per page of each block
      --leak          Never free: each block is forgotten (as the original's ring)
      --hold <DURATION>
                      Keep the live set this long after the run, before freeing it:
                      500ms, 5s, or inf (until SIGINT/SIGTERM/SIGHUP)
      --wait          Before allocating, print the pid on stderr and block until
                      SIGUSR1 or a line on stdin
      --json          Print one JSON object on stdout: counts per 100 ms, the size
                      histogram, totals
      --ledger <KIND> summary (default) or full: every call listed, as the other
                      workloads' ledger (at most 10000 calls and 60 s)
  -v, --verbose       Print one line saying what was done on stderr
  -h, --help          Print help
  -V, --version       Print version

SIGINT, SIGTERM and SIGHUP end the run early (within 100 ms): the live set is
freed and the report says so (exit 0).

Exit codes: 0 done, 2 usage error, 3 an allocation failed (the run goes on; the
report counts them), 4 a system call failed, 5 the report could not be written.
";

/// How each block is allocated and freed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Alloc(AllocFn),
    Mmap,
}

impl Func {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Func::Alloc(f) => f.name(),
            Func::Mmap => "mmap",
        }
    }
}

/// When the run ends.
#[derive(Clone, Copy)]
pub(crate) enum End {
    Duration(u64),
    Calls(u64),
}

pub(crate) struct Opts {
    pub(crate) sizes: Sizes,
    pub(crate) sizes_text: String,
    pub(crate) rate: Rate,
    pub(crate) end: End,
    pub(crate) seed: u64,
    pub(crate) live: usize,
    /// `--threads N`; none: the main thread.
    pub(crate) threads: Option<usize>,
    pub(crate) func: Func,
    pub(crate) align: u64,
    pub(crate) touch: bool,
    pub(crate) leak: bool,
    pub(crate) wait: bool,
    pub(crate) hold: Option<Hold>,
    pub(crate) json: bool,
    pub(crate) full: bool,
    pub(crate) verbose: bool,
}

impl Opts {
    pub(crate) fn workers(&self) -> usize {
        self.threads.unwrap_or(1)
    }
}

pub(crate) enum Parsed {
    Run(Opts),
    Print(String),
}

pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, Error> {
    let mut p = Parser::from_args(args);
    let mut sizes = None;
    let (mut duration, mut calls, mut live, mut align) = (None, None, None, None);
    let mut o = Opts {
        sizes: Sizes::Fixed(1),
        sizes_text: String::new(),
        rate: Rate::Calls(1000),
        end: End::Duration(1_000_000_000),
        seed: 1,
        live: 1,
        threads: None,
        func: Func::Alloc(AllocFn::Malloc),
        align: DEFAULT_ALIGN,
        touch: false,
        leak: false,
        wait: false,
        hold: None,
        json: false,
        full: false,
        verbose: false,
    };
    let number = |p: &mut Parser, what: &str, min: u64, max: u64| -> Result<u64, Error> {
        let v = cli::value(p, what)?;
        match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(_) => Err(cli::bad_value(what, &v, format!("from {min} to {max}"))),
            Err(e) => Err(cli::bad_value(what, &v, e)),
        }
    };
    while let Some(arg) = p.next().map_err(cli::lexopt_error)? {
        match arg {
            Arg::Long(l) => match l {
                "rate" => {
                    let v = cli::value(&mut p, "--rate <RATE>")?;
                    o.rate = parse_rate(&v).map_err(|e| cli::bad_value("--rate <RATE>", &v, e))?;
                }
                "duration" => {
                    let what = "--duration <DURATION>";
                    let v = cli::value(&mut p, what)?;
                    let d = humantime::parse_duration(&v)
                        .map_err(|e| cli::bad_value(what, &v, format!("{e} (try 500ms, 2s)")))?;
                    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                    if ns == 0 || ns > MAX_DURATION_NS {
                        return Err(cli::bad_value(what, &v, "above 0 and at most 7 days"));
                    }
                    duration = Some(ns);
                }
                "calls" => calls = Some(number(&mut p, "--calls <N>", 1, u64::MAX)?),
                "seed" => o.seed = number(&mut p, "--seed <N>", 0, u64::MAX)?,
                "live" => live = Some(number(&mut p, "--live <K>", 1, ring::SLOTS as u64)?),
                "threads" => {
                    let n = number(&mut p, "--threads <N>", 1, MAX_THREADS as u64)?;
                    o.threads = Some(n as usize);
                }
                "fn" => {
                    const FUNCS: [(&str, Func); 9] = {
                        let a = AllocFn::ALL;
                        [
                            (a[0].0, Func::Alloc(a[0].1)),
                            (a[1].0, Func::Alloc(a[1].1)),
                            (a[2].0, Func::Alloc(a[2].1)),
                            (a[3].0, Func::Alloc(a[3].1)),
                            (a[4].0, Func::Alloc(a[4].1)),
                            (a[5].0, Func::Alloc(a[5].1)),
                            (a[6].0, Func::Alloc(a[6].1)),
                            (a[7].0, Func::Alloc(a[7].1)),
                            ("mmap", Func::Mmap),
                        ]
                    };
                    o.func = cli::choice(&mut p, "--fn <NAME>", &FUNCS)?.1;
                }
                "align" => {
                    let v = cli::value(&mut p, "--align <N>")?;
                    let n = wlcore::size::parse_size(&v)
                        .map_err(|e| cli::bad_value("--align <N>", &v, &e))?;
                    if !n.is_power_of_two() {
                        return Err(cli::bad_value("--align <N>", &v, "a power of two"));
                    }
                    align = Some(n);
                }
                "ledger" => {
                    o.full = cli::choice(
                        &mut p,
                        "--ledger <KIND>",
                        &[("summary", false), ("full", true)],
                    )?
                    .1;
                }
                "hold" => {
                    let what = "--hold <DURATION>";
                    let v = cli::value(&mut p, what)?;
                    o.hold = Some(parse_hold(&v).map_err(|e| cli::bad_value(what, &v, e))?);
                }
                "touch" => o.touch = true,
                "leak" => o.leak = true,
                "wait" => o.wait = true,
                "json" => o.json = true,
                "verbose" => o.verbose = true,
                "help" => return Ok(Parsed::Print(HELP.into())),
                "version" => return Ok(Parsed::Print(version())),
                _ => return Err(cli::unexpected(format!("--{l}").as_ref())),
            },
            Arg::Short('v') => o.verbose = true,
            Arg::Short('h') => return Ok(Parsed::Print(HELP.into())),
            Arg::Short('V') => return Ok(Parsed::Print(version())),
            // A negative number is a bad size, not an option.
            Arg::Short(d) if d.is_ascii_digit() && sizes.is_none() => {
                return Err(Error::usage(format!(
                    "invalid value '-{d}...' for '<SIZES>': sizes are positive (see --help)"
                )));
            }
            Arg::Short(c) => return Err(cli::unexpected(format!("-{c}").as_ref())),
            Arg::Value(v) if sizes.is_none() => {
                let what = "<SIZES>";
                let t = v
                    .to_str()
                    .ok_or_else(|| cli::bad_value(what, &v.to_string_lossy(), "not valid UTF-8"))?;
                sizes = Some(parse_sizes(t).map_err(|e| cli::bad_value(what, t, e))?);
                o.sizes_text = t.to_owned();
            }
            Arg::Value(v) => return Err(cli::unexpected(&v)),
        }
    }
    o.sizes = sizes.ok_or_else(|| {
        Error::usage("the following required arguments were not provided: <SIZES> (see --help)")
    })?;
    o.end = match (duration, calls) {
        (Some(_), Some(_)) => {
            return Err(Error::usage(
                "'--duration' cannot be used with '--calls' (see --help)",
            ))
        }
        (_, Some(n)) => End::Calls(n),
        (Some(d), None) => End::Duration(d),
        (None, None) => End::Duration(1_000_000_000),
    };
    if let Some(a) = align {
        match o.func {
            Func::Alloc(f) if f.aligned() => o.align = a,
            f => {
                return Err(Error::usage(format!(
                    "'--align' does not apply to --fn {} (see --help)",
                    f.name()
                )))
            }
        }
    }
    if let Some(k) = live {
        o.live = k as usize;
    }
    if o.live * o.workers() > ring::SLOTS {
        return Err(Error::usage(format!(
            "--live {} for each of {} threads: at most {} blocks live in all (see --help)",
            o.live,
            o.workers(),
            ring::SLOTS
        )));
    }
    if o.full {
        check_full(&o)?;
    }
    Ok(Parsed::Run(o))
}

/// `--ledger full` lists every call, measured: only for runs known to be short.
fn check_full(o: &Opts) -> Result<(), Error> {
    let n = o.workers() as u64;
    let ns = |units: u64, r: u64| u128::from(units) * 1_000_000_000 / u128::from(r);
    // (calls, run time in ns), at most.
    let (calls, time): (Option<u64>, Option<u128>) = match (o.end, o.rate) {
        (End::Calls(c), Rate::Max) => (Some(c), Some(0)),
        (End::Calls(c), Rate::Calls(r)) => (Some(c), Some(ns(c, r))),
        (End::Calls(c), Rate::Bytes(r)) => (Some(c), Some(ns(c.saturating_mul(o.sizes.max()), r))),
        (End::Duration(_), Rate::Max) => (None, None),
        (End::Duration(d), r) => {
            let units = r.units_in(d).unwrap_or(u64::MAX);
            let calls = match r {
                Rate::Bytes(_) => units / o.sizes.min() + 1,
                _ => units,
            };
            (Some(calls), Some(u128::from(d)))
        }
    };
    let calls = calls.map(|c| c.saturating_mul(n));
    match (calls, time) {
        (Some(c), Some(t)) if c <= FULL_MAX_CALLS && t <= u128::from(FULL_MAX_NS) => Ok(()),
        _ => Err(Error::usage(format!(
            "--ledger full lists every call: at most {FULL_MAX_CALLS} calls in at most 60 s; this run could make {} (see --help)",
            calls.map_or("any number of".into(), |c| c.to_string())
        ))),
    }
}

fn version() -> String {
    format!("{NAME} {}\n", env!("CARGO_PKG_VERSION"))
}
