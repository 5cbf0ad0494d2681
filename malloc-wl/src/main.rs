//! `malloc-wl`: one C `malloc` of SIZE bytes, checked, then freed.
//!
//! The rewrite of the suite's Malloc.c. The call goes to glibc's `malloc` through
//! the `libc` crate, so uprobe and `LD_PRELOAD` trackers see it as it is. Like the
//! original, it leaves the memory untouched unless `--touch` is given: from glibc's
//! mmap threshold (128 KiB) up a tracker should see one `mmap` of SIZE plus glibc's
//! chunk header rounded up to whole pages, and its `munmap`; below it, a piece of
//! the brk heap. See the README for the details a tracker is judged by.

#![no_main]

use wlcore::cmem::{self, CBuffer};
use wlcore::exit::Error;
use wlcore::run::Workload;
use wlcore::stat::page_size;

struct Malloc {
    /// Write one byte per page (`--touch`).
    touch: bool,
    page: usize,
}

impl Workload for Malloc {
    const NAME: &'static str = "malloc-wl";
    const PATH: &'static str = "malloc";
    const ABOUT: &'static str = "\
One C malloc(SIZE), checked and freed. glibc's mmap threshold is pinned at its
default (128 KiB) with mallopt, so every --repeat takes the same path: without
that glibc would raise it after the first free and serve the next from the heap.";
    const OPTIONS: &'static str =
        "      --touch         Write one byte per page, so every page becomes resident\n";
    type Held = CBuffer;

    fn new() -> Self {
        Malloc {
            touch: false,
            page: 4096,
        }
    }
    fn option(&mut self, long: &str, _: &mut lexopt::Parser) -> Result<bool, Error> {
        let touch = long == "touch";
        self.touch |= touch;
        Ok(touch)
    }
    fn ready(&mut self) -> Result<(), Error> {
        cmem::pin_mmap_threshold();
        if self.touch {
            self.page = page_size();
        }
        Ok(())
    }
    fn allocator_bytes(&self, size: u64) -> u64 {
        size
    }
    fn touched(&self) -> bool {
        self.touch
    }
    fn mmap_threshold(&self) -> Option<u64> {
        Some(cmem::MMAP_THRESHOLD as u64)
    }
    fn allocate(&mut self, size: u64) -> Result<CBuffer, Error> {
        let mut buf = CBuffer::malloc(size as usize)
            .ok_or_else(|| Error::alloc(format!("malloc({size}) failed: not enough memory")))?;
        if self.touch {
            buf.touch_pages(self.page);
        }
        Ok(buf)
    }
    fn address(held: &CBuffer) -> Option<usize> {
        Some(held.addr())
    }
}

wlcore::workload_main!(Malloc);
