//! `malloc-wl`: one C `malloc` of SIZE bytes, checked, then freed; or any other
//! function of glibc's malloc family (`--fn`).
//!
//! The rewrite of the suite's Malloc.c. The call goes to glibc through the `libc`
//! crate, so uprobe and `LD_PRELOAD` trackers see it as it is. Like the original,
//! it leaves the memory untouched unless `--touch` is given: from glibc's mmap
//! threshold (128 KiB) up a tracker should see one `mmap` of SIZE plus glibc's
//! chunk header rounded up to whole pages, and its `munmap`; below it, a piece of
//! the brk heap. See docs/workloads.md for the details a tracker is judged by.

#![no_main]

use lexopt::Parser;
use wlcore::cli;
use wlcore::cmem::{self, AllocFn, CBuffer};
use wlcore::exit::Error;
use wlcore::ledger::{Call, Errno, Ledger, Ret, Val};
use wlcore::run::Workload;
use wlcore::size::parse_size;
use wlcore::stat::page_size;

/// The function `--fn` names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Func {
    Alloc(AllocFn),
    /// `malloc(FROM)`, then `realloc` to SIZE.
    Realloc,
}

const FUNCS: [(&str, Func); 8] = [
    ("malloc", Func::Alloc(AllocFn::Malloc)),
    ("calloc", Func::Alloc(AllocFn::Calloc)),
    ("realloc", Func::Realloc),
    ("posix_memalign", Func::Alloc(AllocFn::PosixMemalign)),
    ("aligned_alloc", Func::Alloc(AllocFn::AlignedAlloc)),
    ("memalign", Func::Alloc(AllocFn::Memalign)),
    ("valloc", Func::Alloc(AllocFn::Valloc)),
    ("pvalloc", Func::Alloc(AllocFn::Pvalloc)),
];

struct Malloc {
    func: Func,
    name: &'static str,
    /// `--align`, for posix_memalign, aligned_alloc and memalign.
    align: Option<u64>,
    /// `--from`, the first size of a realloc.
    from: Option<u64>,
}

/// The default alignment of the aligned functions: a cache line.
const DEFAULT_ALIGN: u64 = 64;

impl Malloc {
    fn align(&self) -> usize {
        self.align.unwrap_or(DEFAULT_ALIGN) as usize
    }
}

impl Workload for Malloc {
    const NAME: &'static str = "malloc-wl";
    const PATH: &'static str = "malloc";
    const ABOUT: &'static str = "\
One C malloc(SIZE), checked and freed; or another function of glibc's malloc
family (--fn). glibc's mmap threshold is pinned at its default (128 KiB) with
mallopt, so every --repeat takes the same path: without that glibc would raise
it after the first free and serve the next from the heap.";
    const OPTIONS: &'static str =
        "      --fn <NAME>     The function that allocates: malloc (default), calloc (as
                      calloc(1, SIZE)), realloc (malloc(FROM), then realloc to
                      SIZE), posix_memalign, aligned_alloc, memalign, valloc, pvalloc
      --align <N>     Alignment for posix_memalign, aligned_alloc, memalign: a
                      power of two [default: 64]
      --from <SIZE>   The first size of --fn realloc: larger than SIZE shrinks,
                      smaller grows [default: SIZE / 2]
";
    type Held = CBuffer;
    const WRITABLE: bool = true;
    const TOUCH: bool = true;

    fn new() -> Self {
        Malloc {
            func: Func::Alloc(AllocFn::Malloc),
            name: "malloc",
            align: None,
            from: None,
        }
    }
    fn option(&mut self, long: &str, p: &mut Parser) -> Result<bool, Error> {
        match long {
            "fn" => {
                (self.name, self.func) = cli::choice(p, "--fn <NAME>", &FUNCS)?;
            }
            "align" => {
                let v = cli::value(p, "--align <N>")?;
                let n = parse_size(&v).map_err(|e| cli::bad_value("--align <N>", &v, &e))?;
                if !n.is_power_of_two() {
                    return Err(cli::bad_value("--align <N>", &v, "a power of two"));
                }
                self.align = Some(n);
            }
            "from" => {
                let v = cli::value(p, "--from <SIZE>")?;
                self.from =
                    Some(parse_size(&v).map_err(|e| cli::bad_value("--from <SIZE>", &v, &e))?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn ready(&mut self) -> Result<(), Error> {
        let aligned = matches!(
            self.func,
            Func::Alloc(AllocFn::PosixMemalign | AllocFn::AlignedAlloc | AllocFn::Memalign)
        );
        if self.align.is_some() && !aligned {
            return Err(Error::usage(format!(
                "'--align' does not apply to --fn {} (see --help)",
                self.name
            )));
        }
        if self.from.is_some() && self.func != Func::Realloc {
            return Err(Error::usage(format!(
                "'--from' applies to --fn realloc only, not {} (see --help)",
                self.name
            )));
        }
        cmem::pin_mmap_threshold();
        Ok(())
    }
    fn path(&self) -> &'static str {
        self.name
    }
    fn allocator_bytes(&self, size: u64) -> u64 {
        size
    }
    fn mmap_threshold(&self) -> Option<u64> {
        Some(cmem::MMAP_THRESHOLD as u64)
    }
    fn allocate(&mut self, size: u64, l: &Ledger) -> Result<CBuffer, Error> {
        let n = usize::try_from(size).unwrap_or(usize::MAX);
        let addr = |b: &CBuffer| Ret::Addr(b.addr());
        let failed = |call: String, e: Errno| {
            let why = match e {
                Errno::ENOMEM => "not enough memory",
                e => e.desc(),
            };
            Error::alloc(format!("{call} failed: {why}"))
        };
        let buf = match self.func {
            Func::Alloc(f) => {
                let align = self.align();
                let args: &[_] = match f {
                    AllocFn::Malloc | AllocFn::Valloc | AllocFn::Pvalloc => {
                        &[("size", Val::Num(size))]
                    }
                    AllocFn::Calloc => &[("nmemb", Val::Num(1)), ("size", Val::Num(size))],
                    _ => &[("align", Val::Num(align as u64)), ("size", Val::Num(size))],
                };
                l.call(
                    Call::libc(self.name, args),
                    || CBuffer::alloc(f, n, align),
                    addr,
                )
                .map_err(|e| {
                    // The call as C would write it, for the message only.
                    let shown = match f {
                        AllocFn::Malloc | AllocFn::Valloc | AllocFn::Pvalloc => {
                            format!("{}({size})", self.name)
                        }
                        AllocFn::Calloc => format!("calloc(1, {size})"),
                        _ => format!("{}({align}, {size})", self.name),
                    };
                    failed(shown, e)
                })?
            }
            Func::Realloc => {
                let from = self.from.unwrap_or(size / 2);
                let mut buf = l
                    .call(
                        Call::libc("malloc", &[("size", Val::Num(from))]),
                        || CBuffer::alloc(AllocFn::Malloc, from as usize, 0),
                        addr,
                    )
                    .map_err(|e| failed(format!("malloc({from})"), e))?;
                let old = buf.addr();
                let args = [("ptr", Val::Addr(old)), ("size", Val::Num(size))];
                let r = l.call(
                    Call::libc("realloc", &args),
                    || buf.realloc(n).map(|()| buf.addr()),
                    |a| Ret::Addr(*a),
                );
                if let Err(e) = r {
                    self.free(buf, l)?;
                    return Err(failed(format!("realloc({old:#x}, {size})"), e));
                }
                buf
            }
        };
        Ok(buf)
    }
    fn free(&mut self, buf: CBuffer, l: &Ledger) -> Result<(), Error> {
        buf.free_recorded(l);
        Ok(())
    }
    fn address(held: &CBuffer) -> Option<usize> {
        Some(held.addr())
    }
    fn touch(&mut self, held: &mut CBuffer, l: &Ledger) -> bool {
        // The page size is asked only here: a plain run makes no sysconf call.
        cmem::touch_pages(held, page_size(), l)
    }
}

wlcore::workload_main!(Malloc);
