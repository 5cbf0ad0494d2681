//! `kmalloc-test`: asks the `kmalloc_lkm` kernel module for SIZE bytes through
//! one kernel allocation path (kmalloc unless `--path` says otherwise).
//!
//! The rewrite of the suite's Test.c. It opens `/proc/kmalloc_lkm`, writes SIZE
//! as ASCII decimal, or `PATH SIZE` (`krealloc FROM SIZE` for krealloc); the
//! module allocates that many bytes for this open file, in this process's
//! context; closing the file frees them. For plain kmalloc a kernel-side
//! tracker should see one `kmem:kmalloc` with `bytes_req` equal to SIZE for this
//! pid, and one `kmem:kfree` of the same pointer; `--expect` prints what it
//! should see for the path chosen. With `--json` it opens the file for
//! reading too, and after the write reads back the module's entry of its
//! allocation (the pointer, what the allocator gave, the call made) into the
//! report's `module_entry`: the module's own account, measured in the kernel.
//! With `--free-by kworker|rcu` it then has the module free the allocation in
//! that other context, and waits until the module's entry says it ran: the
//! free a pid-keyed kernel tracker never matches. With `--rate` it makes
//! kmallocs of SIZE at a rate instead, through the module's rate mode
//! ([`rate`]), for the kernel half of the load table.

#![no_main]

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{read, write};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use wlcore::cli::Common;
use wlcore::exit::Error;
use wlcore::ledger::{Call, Ledger, Ret, Val};
use wlcore::run::Workload;

mod expect;
mod rate;

use expect::Path;

const PROC_FILE: &str = "/proc/kmalloc_lkm";

#[derive(Default)]
struct Kmalloc {
    /// `--path`; `None` writes a plain size (kmalloc, the original protocol).
    path: Option<Path>,
    /// `--from`: krealloc's first size.
    from: Option<u64>,
    /// `--force-vmalloc`: kvmalloc's vmalloc fallback at any size.
    force_vmalloc: bool,
    /// `--expect`: print the expected tracepoints instead of allocating.
    expect: bool,
    /// `--free-by`: `kworker` or `rcu`, where the module frees it.
    free_by: Option<&'static str>,
    /// `--rate` with `--duration` or `--calls`.
    rate: Option<rate::Spec>,
    /// `--duration`, `--calls` as given (checked against `--rate` in `ready`).
    duration: Option<u64>,
    calls: Option<u64>,
    /// `--writers`: threads writing the rate mode's file at once, each at
    /// the rate (1 unless given).
    writers: Option<u64>,
    /// What the rate mode made.
    made: rate::Made,
    /// The rate mode under `--hold`: the module keeps the objects until the
    /// close (`rate COUNT SIZE hold`).
    hold_objects: bool,
    /// The module's entry of the last allocation (`--json` only): the line
    /// read back, kept on the stack as the run allocates nothing of its own.
    entry: Option<([u8; ENTRY_MAX], usize)>,
}

/// The longest entry line read back (the module's are under 320 bytes).
const ENTRY_MAX: usize = 512;

impl Workload for Kmalloc {
    const NAME: &'static str = "kmalloc-test";
    const PATH: &'static str = "kernel allocation via /proc/kmalloc_lkm";
    const ABOUT: &'static str = "\
Asks the kmalloc_lkm kernel module for SIZE bytes of kernel memory: opens
/proc/kmalloc_lkm, writes SIZE (or 'PATH SIZE'), closes it (which frees it).
Load the module first: sudo insmod kmalloc-lkm/kmalloc_lkm.ko. Exit code 3
when the module refuses the size (EINVAL: above the path's limit; ENOMEM: over
its cap on live bytes, or the allocator failed), 4 when it is not loaded or
the file cannot be opened.";
    const OPTIONS: &'static str = "  \
  --path PATH        the kernel allocation path: kmalloc (default), kzalloc,
                     krealloc (with --from), kmem_cache, vmalloc, kvmalloc,
                     pages, percpu
  --from SIZE0       krealloc only: kmalloc SIZE0 bytes, then krealloc to SIZE
  --force-vmalloc    kvmalloc only: take kvmalloc's vmalloc fallback, as when
                     its kmalloc fails (writes 'kvmalloc SIZE vmalloc'; SIZE
                     above a page: kvmalloc never falls back below)
  --expect           print, as one JSON object, the write and the tracepoints
                     (with their fields) a kernel tracker should see for this
                     path and size, and exit without allocating
  --free-by CONTEXT  after the allocation, have the module free it in another
                     context: kworker (a work item) or rcu (an RCU callback);
                     waits (at most 10 s) until its entry says the free ran
  --rate RATE        the rate mode: kmallocs of SIZE (at most 64 KiB) at RATE
                     calls a second (10k, 500, 2M) or max, each freed at
                     once, through the module's 'rate COUNT SIZE' writes;
                     with --hold the module keeps them all (at most 262144)
                     until the close ('rate COUNT SIZE hold')
  --duration D       with --rate: run for D (500ms, 2s): RATE x D calls
  --calls N          with --rate: make N calls (the only end of --rate max)
  --writers N        with --rate: N threads (1 to 16) write the one open
                     file at once, each at RATE for the whole run
";
    type Held = OwnedFd;

    fn new() -> Self {
        Kmalloc::default()
    }

    fn option(&mut self, long: &str, p: &mut lexopt::Parser) -> Result<bool, Error> {
        match long {
            "path" => {
                let v = p.value().map_err(|e| Error::usage(e.to_string()))?;
                let text = v.to_string_lossy();
                self.path = Some(Path::parse(&text).ok_or_else(|| {
                    Error::usage(format!(
                        "invalid value '{text}' for '--path <PATH>': one of {} (see --help)",
                        Path::NAMES
                    ))
                })?);
            }
            "from" => {
                let v = p.value().map_err(|e| Error::usage(e.to_string()))?;
                let text = v.to_string_lossy();
                let size = wlcore::size::parse_size(&text).map_err(|e| {
                    Error::usage(format!("invalid value '{text}' for '--from <SIZE0>': {e}"))
                })?;
                self.from = Some(size);
            }
            "expect" => self.expect = true,
            "free-by" => {
                let v = p.value().map_err(|e| Error::usage(e.to_string()))?;
                self.free_by = Some(match v.to_string_lossy().as_ref() {
                    "kworker" => "kworker",
                    "rcu" => "rcu",
                    t => {
                        return Err(Error::usage(format!(
                            "invalid value '{t}' for '--free-by <CONTEXT>': kworker or rcu"
                        )))
                    }
                });
            }
            "force-vmalloc" => self.force_vmalloc = true,
            "rate" => {
                let v = wlcore::cli::value(p, "--rate <RATE>")?;
                let r = wlcore::pace::parse_rate(&v)
                    .map_err(|e| wlcore::cli::bad_value("--rate <RATE>", &v, e))?;
                if matches!(r, wlcore::pace::Rate::Bytes(_)) {
                    return Err(wlcore::cli::bad_value(
                        "--rate <RATE>",
                        &v,
                        "calls a second or max: the rate mode's calls are all of one size",
                    ));
                }
                self.rate = Some(rate::Spec {
                    rate: r,
                    end: rate::End::Calls(0),
                });
            }
            "duration" => {
                let what = "--duration <D>";
                let v = wlcore::cli::value(p, what)?;
                let ns = humantime::parse_duration(&v)
                    .ok()
                    .and_then(|d| u64::try_from(d.as_nanos()).ok())
                    .filter(|ns| (1..=rate::MAX_DURATION_NS).contains(ns))
                    .ok_or_else(|| {
                        wlcore::cli::bad_value(
                            what,
                            &v,
                            "a time above 0 and at most 1 hour (500ms, 2s)",
                        )
                    })?;
                self.duration = Some(ns);
            }
            "calls" => self.calls = Some(whole_number(p, "--calls <N>", rate::MAX_CALLS)?),
            "writers" => self.writers = Some(whole_number(p, "--writers <N>", rate::MAX_WRITERS)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn ready(&mut self) -> Result<(), Error> {
        self.ready_rate()?;
        match (self.path, self.from) {
            (Some(Path::Krealloc), None) => Err(Error::usage(
                "--path krealloc needs --from SIZE0, the size to kmalloc first",
            )),
            (p, Some(_)) if p != Some(Path::Krealloc) => {
                Err(Error::usage("--from is for --path krealloc only"))
            }
            (p, _) if self.force_vmalloc && p != Some(Path::Kvmalloc) => {
                Err(Error::usage("--force-vmalloc is for --path kvmalloc only"))
            }
            _ if self.expect && self.free_by.is_some() => Err(Error::usage(
                "--expect predicts the allocation only: not with --free-by",
            )),
            _ => Ok(()),
        }
    }

    fn check(&mut self, opts: &Common) -> Result<(), Error> {
        let Some(spec) = self.rate.filter(|_| opts.hold.is_some()) else {
            return Ok(());
        };
        let calls = spec.calls().saturating_mul(self.writers.unwrap_or(1));
        if calls > rate::MAX_HELD {
            return Err(Error::usage(format!(
                "--rate with --hold keeps every object: at most {} calls, not {calls}",
                rate::MAX_HELD,
            )));
        }
        self.hold_objects = true;
        Ok(())
    }
    fn allocator_bytes(&self, size: u64) -> u64 {
        size
    }
    fn touched(&self) -> bool {
        false
    }
    fn allocate(&mut self, size: u64, l: &Ledger) -> Result<OwnedFd, Error> {
        if let Some(spec) = self.rate {
            return self.allocate_at_rate(spec, size, l);
        }
        // With --json the entry is read back (with --free-by, always: until
        // the free ran), so the file is opened for both.
        let fd = open_file(l, l.recording() || self.free_by.is_some())?;
        let text = match (self.path, self.from) {
            (None, _) => size.to_string(),
            (Some(Path::Krealloc), Some(from)) => format!("krealloc {from} {size}"),
            (Some(Path::Kvmalloc), _) if self.force_vmalloc => format!("kvmalloc {size} vmalloc"),
            (Some(p), _) => format!("{} {size}", p.name()),
        };
        let path = self.path.unwrap_or(Path::Kmalloc);
        let args = [
            ("fd", Val::Int(fd.as_raw_fd().into())),
            ("buf", Val::Text(&text)),
            ("count", Val::Num(text.len() as u64)),
        ];
        let written = l.call(
            Call::syscall("write", &args),
            || write(&fd, text.as_bytes()),
            |n| Ret::Int(*n as i64),
        );
        match written {
            Ok(n) if n == text.len() => {
                if let Some(ctx) = self.free_by {
                    self.entry = Some(free_by(&fd, ctx, l)?);
                } else if l.recording() {
                    self.entry = read_entry(&fd, l);
                }
                Ok(fd)
            }
            Ok(n) => Err(Error::env(format!(
                "{PROC_FILE} took {n} of {} bytes of '{text}'",
                text.len()
            ))),
            Err(Errno::EINVAL) if self.force_vmalloc => Err(Error::alloc(format!(
                "the module refused {size} bytes (EINVAL): kvmalloc falls back to vmalloc \
                 only above a page, {} to {} bytes ({})",
                expect::KVMALLOC_FALLBACK_MIN,
                path.max_size(),
                path.limit_name()
            ))),
            Err(Errno::EINVAL) => Err(Error::alloc(format!(
                "the module refused {size} bytes (EINVAL): one {} allocation is 1 to {} bytes ({})",
                path.name(),
                path.max_size(),
                path.limit_name()
            ))),
            Err(Errno::ENOMEM) => Err(Error::alloc(format!(
                "the module refused {size} bytes (ENOMEM): {}",
                cap_state()
            ))),
            Err(e) => Err(Error::alloc(format!(
                "writing '{text}' to {PROC_FILE} failed: {}",
                e.desc()
            ))),
        }
    }
    fn print_only(&self, size: u64) -> Option<String> {
        self.expect.then(|| self.expectations(size) + "\n")
    }
    fn report(&self, size: u64, j: &mut wlcore::out::Json) {
        match self.rate {
            Some(spec) => {
                rate::report(
                    j,
                    spec,
                    size,
                    self.writers.unwrap_or(1),
                    self.hold_objects,
                    &self.made,
                );
            }
            None => {
                j.raw("expect", &self.expectations(size));
            }
        }
        let entry = self
            .entry
            .as_ref()
            .and_then(|(b, n)| entry_fields(&b[..*n]));
        match entry {
            Some(fields) => {
                j.open("module_entry", '{');
                for (k, v) in fields {
                    // a hashed pointer may be all digits: still text
                    match v.parse::<u64>() {
                        Ok(n) if !["ptr", "hash", "freed_by"].contains(&k) => j.num(k, n),
                        _ => j.str(k, v),
                    };
                }
                j.close('}');
            }
            None => {
                j.null("module_entry");
            }
        }
    }
    fn free(&mut self, fd: OwnedFd, l: &Ledger) -> Result<(), Error> {
        let args = [("fd", Val::Int(fd.as_raw_fd().into()))];
        // The module frees on the file's release; a close(2) error cannot undo that.
        let closed = || nix::unistd::close(fd.into_raw_fd());
        let _ = l.call(Call::syscall("close", &args), closed, |_| Ret::Int(0));
        Ok(())
    }
    fn address(_: &OwnedFd) -> Option<usize> {
        None
    }
}

impl Kmalloc {
    /// Checks `--rate`, `--duration` and `--calls` together, and sets how the
    /// rate mode ends.
    fn ready_rate(&mut self) -> Result<(), Error> {
        let Some(spec) = self.rate.as_mut() else {
            return match (self.duration, self.calls, self.writers) {
                (None, None, None) => Ok(()),
                _ => Err(Error::usage(
                    "--duration, --calls and --writers are for --rate only",
                )),
            };
        };
        spec.end = match (self.duration, self.calls, spec.rate) {
            (Some(_), Some(_), _) => {
                return Err(Error::usage(
                    "'--duration' cannot be used with '--calls' (see --help)",
                ))
            }
            (Some(_), None, wlcore::pace::Rate::Max) => {
                return Err(Error::usage(
                    "--rate max runs as fast as it can: give --calls N, not --duration",
                ))
            }
            (Some(ns), None, r) => match r.units_in(ns) {
                Some(n) if (1..=rate::MAX_CALLS).contains(&n) => rate::End::Duration(ns),
                _ => {
                    return Err(Error::usage(format!(
                        "--rate with --duration makes 1 to {} calls: this one makes {}",
                        rate::MAX_CALLS,
                        r.units_in(ns).unwrap_or(u64::MAX)
                    )))
                }
            },
            (None, Some(n), _) => rate::End::Calls(n),
            (None, None, _) => return Err(Error::usage("--rate needs --duration D or --calls N")),
        };
        if self.path.is_some_and(|p| p != Path::Kmalloc)
            || self.free_by.is_some()
            || self.expect
            || self.force_vmalloc
        {
            return Err(Error::usage(
                "--rate makes plain kmallocs: not with --path (but kmalloc), --from, --free-by, --expect or --force-vmalloc",
            ));
        }
        Ok(())
    }

    /// The rate mode's run: opens the file, makes the paced writes, reads the
    /// module's tally back (with --json) before the close.
    fn allocate_at_rate(
        &mut self,
        spec: rate::Spec,
        size: u64,
        l: &Ledger,
    ) -> Result<OwnedFd, Error> {
        if size > rate::MAX_SIZE {
            return Err(Error::usage(format!(
                "--rate takes a SIZE of at most {} bytes (64 KiB): {size}",
                rate::MAX_SIZE
            )));
        }
        let fd = open_file(l, l.recording())?;
        let writers = self.writers.unwrap_or(1);
        let one_write = |text: &str| {
            write(&fd, text.as_bytes()).and_then(|n| {
                if n == text.len() {
                    Ok(())
                } else {
                    Err(Errno::EIO)
                }
            })
        };
        let (made, result) = rate::run_writers(spec, size, self.hold_objects, writers, &one_write)
            .map_err(|e| Error::env(format!("cannot start a writer thread: {}", e.desc())))?;
        self.made = made;
        if let Err(e) = result {
            return Err(rate::refused(
                e,
                size,
                self.hold_objects,
                &made,
                spec.calls() * writers,
            ));
        }
        if l.recording() {
            self.entry = read_entry(&fd, l);
        }
        Ok(fd)
    }

    fn expectations(&self, size: u64) -> String {
        expect::expectations(self.path, self.from.unwrap_or(0), size, self.force_vmalloc)
    }
}

/// The value of the option `what`: a whole number from 1 to `max`.
fn whole_number(p: &mut lexopt::Parser, what: &str, max: u64) -> Result<u64, Error> {
    let v = wlcore::cli::value(p, what)?;
    v.parse::<u64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| wlcore::cli::bad_value(what, &v, format!("a whole number from 1 to {max}")))
}

/// Opens the module's file for writing, and for reading too when `read`
/// (the entry is read back).
fn open_file(l: &Ledger, read: bool) -> Result<OwnedFd, Error> {
    let (access, flags) = if read {
        (OFlag::O_RDWR, "O_RDWR|O_CLOEXEC")
    } else {
        (OFlag::O_WRONLY, "O_WRONLY|O_CLOEXEC")
    };
    let args = [
        ("pathname", Val::Text(PROC_FILE)),
        ("flags", Val::Text(flags)),
    ];
    let opened = l.call(
        Call::syscall("openat", &args),
        || open(PROC_FILE, access | OFlag::O_CLOEXEC, Mode::empty()),
        |fd| Ret::Int(fd.as_raw_fd().into()),
    );
    opened.map_err(|e| match e {
        Errno::ENOENT => Error::env(format!(
            "{PROC_FILE} does not exist: the kmalloc_lkm module is not loaded \
             (build it with 'make -C kmalloc-lkm', load it with 'sudo insmod kmalloc-lkm/kmalloc_lkm.ko')"
        )),
        Errno::EACCES => Error::env(format!(
            "cannot open {PROC_FILE}: permission denied (the module's 'mode' parameter sets who may)"
        )),
        e => Error::env(format!("cannot open {PROC_FILE}: {}", e.desc())),
    })
}

/// Has the module free what `fd` holds in `ctx` (`free-by kworker|rcu`), then
/// reads its entry until it says the free ran (`state=freed`); that entry.
fn free_by(fd: &OwnedFd, ctx: &str, l: &Ledger) -> Result<([u8; ENTRY_MAX], usize), Error> {
    let text = format!("free-by {ctx}");
    let args = [
        ("fd", Val::Int(fd.as_raw_fd().into())),
        ("buf", Val::Text(&text)),
        ("count", Val::Num(text.len() as u64)),
    ];
    l.call(
        Call::syscall("write", &args),
        || write(fd, text.as_bytes()),
        |n| Ret::Int(*n as i64),
    )
    .map_err(|e| {
        Error::env(format!(
            "writing '{text}' to {PROC_FILE} failed: {}",
            e.desc()
        ))
    })?;
    // A kworker runs it within milliseconds, RCU after a grace period (tens
    // of them); read again every 2 ms, at offset 0 (pread: each read there
    // is a fresh snapshot of the entry).
    for _ in 0..5000 {
        let e = pread_entry(fd, l)
            .ok_or_else(|| Error::env(format!("cannot read {PROC_FILE} back")))?;
        if entry_fields(&e.0[..e.1]).is_some_and(|f| f.contains(&("state", "freed"))) {
            return Ok(e);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Err(Error::env(format!(
        "the module did not say it ran the free ({text}) within 10 s"
    )))
}

/// Reads the module's entry of what `fd` holds (one `entry KEY=VALUE ...`
/// line, kmalloc-lkm/README.md); `None` when the read fails.
fn read_entry(fd: &OwnedFd, l: &Ledger) -> Option<([u8; ENTRY_MAX], usize)> {
    let mut buf = [0u8; ENTRY_MAX];
    let args = [
        ("fd", Val::Int(fd.as_raw_fd().into())),
        ("count", Val::Num(ENTRY_MAX as u64)),
    ];
    let got = l.call(
        Call::syscall("read", &args),
        || read(fd, &mut buf),
        |n| Ret::Int(*n as i64),
    );
    got.ok().map(|n| (buf, n))
}

/// [`read_entry`] at offset 0, again.
fn pread_entry(fd: &OwnedFd, l: &Ledger) -> Option<([u8; ENTRY_MAX], usize)> {
    let mut buf = [0u8; ENTRY_MAX];
    let args = [
        ("fd", Val::Int(fd.as_raw_fd().into())),
        ("count", Val::Num(ENTRY_MAX as u64)),
        ("offset", Val::Num(0)),
    ];
    let got = l.call(
        Call::syscall("pread64", &args),
        || wlcore::sys::proc::pread(fd.as_fd(), &mut buf, 0),
        |n| Ret::Int(*n as i64),
    );
    got.ok().map(|n| (buf, n))
}

/// The `KEY=VALUE` words of an entry line; `None` unless it is one (a module
/// without entries reads back its listing instead).
fn entry_fields(line: &[u8]) -> Option<Vec<(&str, &str)>> {
    let text = std::str::from_utf8(line).ok()?.trim_end_matches('\n');
    let rest = text.strip_prefix("entry ")?;
    rest.split(' ').map(|w| w.split_once('=')).collect()
}

/// What the module's listing says of its cap, for an ENOMEM message.
fn cap_state() -> String {
    let listing = std::fs::read_to_string(PROC_FILE).unwrap_or_default();
    let total = listing.lines().find_map(|l| l.strip_prefix("total "));
    let field = |k: &str| {
        total?
            .split(' ')
            .find_map(|f| f.strip_prefix(k)?.strip_prefix('='))
    };
    // What counts against the cap: the listed allocations, the frees
    // handed on and not yet run, and the objects rate writes hold.
    let live = field("requested").and_then(|r| {
        ["deferred_bytes", "held_bytes"]
            .iter()
            .try_fold(r.parse::<u64>().ok()?, |sum, k| {
                Some(sum + field(k).map_or(Some(0), |v| v.parse().ok())?)
            })
    });
    match (live, field("max_bytes")) {
        (Some(live), Some(cap)) => format!(
            "{live} bytes live of its cap of {cap} (module parameter max_bytes), \
             or too many open files hold one (max_files), or the allocator failed"
        ),
        _ => "over its cap on live bytes or files (module parameters), or the allocator failed"
            .into(),
    }
}

wlcore::workload_main!(Kmalloc);
