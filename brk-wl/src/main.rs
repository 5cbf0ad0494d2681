//! `brk-wl`: the program break moved by raw `brk` system calls, SIZE bytes at a time.
//!
//! Each call is `syscall(SYS_brk, addr)`, recorded with its raw return (the
//! break after it), not glibc's `brk()` or `sbrk()`, which keep their own idea
//! of the break. `--mode` chooses the moves:
//!
//! - `grow` (default): `brk(NULL)` to learn the break B, `brk(B + SIZE)`; free:
//!   `brk(B)`;
//! - `shrink`: `brk(NULL)`, `brk(B + SIZE)`, `brk(B + SIZE - SIZE/2)`; free: `brk(B)`;
//! - `cycles`: `brk(NULL)`, then `brk(B + SIZE)` and `brk(B)` `--cycles N`
//!   times within one allocation, the last `brk(B)` being its free.
//!
//! The break is the process's alone: glibc's malloc, its other user, is never
//! called (Rust's allocations come from a static arena, see `wlcore::cmem`).
//! Mixed with malloc this would be unsafe: malloc grows its heap by `sbrk` from
//! its own cached break, so it could hand out our memory, and our shrink could
//! cut off its heap. A system-call tracker should see each growth rounded up to
//! pages (the ledger's `heap_bytes`); a heap tracker should see no call at all.

#![no_main]

use lexopt::Parser;
use wlcore::cli;
use wlcore::cmem;
use wlcore::exit::Error;
use wlcore::ledger::{Call, Ledger, Ret, Val};
use wlcore::run::Workload;
use wlcore::stat::page_size;
use wlcore::sys::brk::Heap;

/// How the break moves, `--mode`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Grow,
    Shrink,
    Cycles,
}

const MODES: [(&str, Mode); 3] = [
    ("grow", Mode::Grow),
    ("shrink", Mode::Shrink),
    ("cycles", Mode::Cycles),
];

/// `--cycles` when not given.
const DEFAULT_CYCLES: u64 = 3;

struct Brk {
    mode: Mode,
    name: &'static str,
    /// `--cycles`: growths and shrinks per allocation in mode cycles.
    cycles: Option<u64>,
    page: usize,
}

/// One raw `brk(addr)`, recorded; an error when the break did not go to `addr`.
fn brk_to(heap: &mut Heap, addr: usize, l: &Ledger) -> Result<(), Error> {
    let args = [("addr", Val::Addr(addr))];
    let got = l
        .call(
            Call::syscall("brk", &args),
            || heap.set(addr),
            |b| Ret::Addr(*b),
        )
        .map_err(|e| Error::env(format!("brk({addr:#x}) refused: {}", e.desc())))?;
    if got != addr {
        return Err(Error::alloc(format!(
            "brk({addr:#x}) failed: the break stayed at {got:#x}"
        )));
    }
    Ok(())
}

impl Brk {
    fn cycles(&self) -> u64 {
        self.cycles.unwrap_or(DEFAULT_CYCLES)
    }

    /// The moves after `brk(NULL)`, up to the break that is held.
    fn moves(&self, heap: &mut Heap, size: usize, l: &Ledger) -> Result<(), Error> {
        let base = heap.base();
        let top = base
            .checked_add(size)
            .ok_or_else(|| Error::alloc(format!("brk: {base:#x} + {size} overflows")))?;
        match self.mode {
            Mode::Grow => brk_to(heap, top, l),
            Mode::Shrink => {
                brk_to(heap, top, l)?;
                brk_to(heap, top - size / 2, l)
            }
            Mode::Cycles => {
                for _ in 1..self.cycles() {
                    brk_to(heap, top, l)?;
                    brk_to(heap, base, l)?;
                }
                brk_to(heap, top, l)
            }
        }
    }
}

impl Workload for Brk {
    const NAME: &'static str = "brk-wl";
    const PATH: &'static str = "brk";
    const ABOUT: &'static str = "\
The program break moved by raw brk system calls (syscall(SYS_brk, addr)), each
recorded with its raw return, the new break: brk(NULL) to learn the break B,
then brk(B + SIZE); free: brk(B). Nothing calls glibc's malloc, so the break is
this workload's alone.";
    const OPTIONS: &'static str =
        "      --mode <NAME>   How the break moves: grow (default: B + SIZE, back to B),
                      shrink (B + SIZE, then down by SIZE/2, back to B), cycles (up
                      to B + SIZE and back to B --cycles times in one allocation)
      --cycles <N>    Growths and shrinks of --mode cycles [default: 3]
";
    type Held = Heap;
    const WRITABLE: bool = true;
    const TOUCH: bool = true;

    fn new() -> Self {
        Brk {
            mode: Mode::Grow,
            name: "grow",
            cycles: None,
            page: 4096,
        }
    }
    fn option(&mut self, long: &str, p: &mut Parser) -> Result<bool, Error> {
        match long {
            "mode" => {
                (self.name, self.mode) = cli::choice(p, "--mode <NAME>", &MODES)?;
            }
            "cycles" => {
                let v = cli::value(p, "--cycles <N>")?;
                self.cycles = match v.parse::<u64>() {
                    Ok(0) => return Err(cli::bad_value("--cycles <N>", &v, "at least 1")),
                    Ok(n) => Some(n),
                    Err(e) => return Err(cli::bad_value("--cycles <N>", &v, e)),
                };
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn ready(&mut self) -> Result<(), Error> {
        if self.cycles.is_some() && self.mode != Mode::Cycles {
            return Err(Error::usage(format!(
                "'--cycles' applies to --mode cycles only, not {} (see --help)",
                self.name
            )));
        }
        self.page = page_size();
        Ok(())
    }
    fn path(&self) -> &'static str {
        match self.mode {
            Mode::Grow => "brk",
            Mode::Shrink => "brk-shrink",
            Mode::Cycles => "brk-cycles",
        }
    }
    fn allocator_bytes(&self, size: u64) -> u64 {
        size
    }
    fn allocate(&mut self, size: u64, l: &Ledger) -> Result<Heap, Error> {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let mut heap = l
            .call(
                Call::syscall("brk", &[("addr", Val::Addr(0))]),
                || Ok(Heap::at_break()),
                |h| Ret::Addr(h.base()),
            )
            .map_err(|e| Error::env(format!("brk(NULL) failed: {}", e.desc())))?;
        if let Err(e) = self.moves(&mut heap, size, l) {
            // Whatever was grown goes back before the error is told.
            if !heap.is_empty() {
                let base = heap.base();
                brk_to(&mut heap, base, l)?;
            }
            return Err(e);
        }
        Ok(heap)
    }
    fn free(&mut self, mut heap: Heap, l: &Ledger) -> Result<(), Error> {
        let base = heap.base();
        brk_to(&mut heap, base, l)
    }
    fn address(held: &Heap) -> Option<usize> {
        Some(held.base())
    }
    fn touch(&mut self, held: &mut Heap, l: &Ledger) -> bool {
        cmem::touch_pages(held, self.page, l)
    }
    fn report(&self, _size: u64, j: &mut wlcore::out::Json) {
        j.str("mode", self.name);
        if self.mode == Mode::Cycles {
            j.num("cycles", self.cycles());
        }
    }
}

wlcore::workload_main!(Brk);
