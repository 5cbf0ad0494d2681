//! `bytearray-wl`: what CPython's `bytearray(SIZE)` does, without the interpreter.
//!
//! The rewrite of the suite's ByteArray.py. CPython takes the buffer of a bytearray
//! of n bytes from the C allocator as n + 1 bytes (a trailing NUL it always keeps)
//! and then writes zeros over it, so every page becomes resident. This does the
//! same: `malloc(SIZE + 1)`, then a zero fill of all of it. The fill is a real
//! memset, never calloc's lazily zeroed fresh pages.

#![no_main]

use wlcore::cmem::{self, AllocFn, CBuffer};
use wlcore::exit::Error;
use wlcore::ledger::{Call, Ledger, Ret, Val};
use wlcore::run::Workload;

struct ByteArray;

impl Workload for ByteArray {
    const NAME: &'static str = "bytearray-wl";
    const PATH: &'static str = "malloc + memset, as bytearray";
    const ABOUT: &'static str = "\
Does what CPython's bytearray(SIZE) does: malloc(SIZE + 1), one byte more for the
trailing NUL CPython keeps, then zeros written over all of it, so every page
becomes resident. glibc's mmap threshold is pinned at its default (128 KiB) with
mallopt, so every --repeat takes the same path.";
    type Held = CBuffer;
    const WRITABLE: bool = true;

    fn new() -> Self {
        ByteArray
    }
    fn ready(&mut self) -> Result<(), Error> {
        cmem::pin_mmap_threshold();
        Ok(())
    }
    fn allocator_bytes(&self, size: u64) -> u64 {
        size + 1
    }
    fn touched(&self) -> bool {
        true
    }
    fn mmap_threshold(&self) -> Option<u64> {
        Some(cmem::MMAP_THRESHOLD as u64)
    }
    fn allocate(&mut self, size: u64, l: &Ledger) -> Result<CBuffer, Error> {
        let len = self.allocator_bytes(size);
        let mut buf = l
            .call(
                Call::libc("malloc", &[("size", Val::Num(len))]),
                || CBuffer::alloc(AllocFn::Malloc, len as usize, 0),
                |b| Ret::Addr(b.addr()),
            )
            .map_err(|_| {
                Error::alloc(format!(
                    "bytearray({size}) failed: malloc({len}) returned NULL"
                ))
            })?;
        let addr = buf.addr();
        l.access("memset", addr, len, || buf.fill_zero());
        Ok(buf)
    }
    fn free(&mut self, buf: CBuffer, l: &Ledger) -> Result<(), Error> {
        buf.free_recorded(l);
        Ok(())
    }
    fn touch(&mut self, buf: &mut CBuffer, l: &Ledger) -> bool {
        let (addr, len) = (buf.addr(), buf.len() as u64);
        l.access("memset", addr, len, || buf.fill_zero());
        true
    }
    fn address(held: &CBuffer) -> Option<usize> {
        Some(held.addr())
    }
}

wlcore::workload_main!(ByteArray);
