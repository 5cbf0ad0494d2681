//! Memory, and the C side of a workload: with [`workload_main!`](crate::workload_main),
//! every `unsafe` of the user-space workloads.
//!
//! Two allocators, kept apart on purpose:
//! - the workload's own allocation calls glibc's `malloc` and `free` through the
//!   `libc` crate ([`CBuffer`]), so that uprobe and `LD_PRELOAD` trackers see the
//!   very call the workload names, with the very size;
//! - everything else the process allocates (arguments, messages, the report's
//!   buffer) comes from [`Arena`], Rust's global allocator in a workload binary:
//!   the `talc` allocator over a static region of the binary's `.bss`. The kernel
//!   maps that region at exec, so it costs no system call, no page until touched,
//!   and no call a heap tracker could see: the only malloc-family calls of the
//!   process are the workload's.

use std::ffi::{c_char, c_int, CStr, OsStr, OsString};
use std::hint::black_box;
use std::os::unix::ffi::OsStrExt;
use std::ptr::NonNull;

/// Bytes of the static arena behind [`Arena`]. What a run allocates of its own is
/// bounded (at most [`MAX_ARGS`](crate::cli::MAX_ARGS) arguments of
/// [`MAX_ARG_BYTES`](crate::cli::MAX_ARG_BYTES), the report's 16 KiB buffer, a
/// message), far below this; only the pages it touches become resident.
pub const ARENA_BYTES: usize = 1 << 20;

/// Rust's global allocator in a workload binary (see the module docs).
pub type Arena = talc::TalcLock<spinning_top::RawSpinlock, talc::source::Claim>;
pub use talc::source::Claim;

/// The arguments of C `main` after argv\[0\], as byte strings that live as long
/// as the process: nothing is copied until the parser asks.
#[derive(Clone, Copy)]
pub struct CArgs {
    argc: usize,
    argv: *const *const c_char,
}

impl CArgs {
    /// # Safety
    /// `argc` and `argv` must be what C `main` received, unchanged.
    pub unsafe fn new(argc: c_int, argv: *const *const c_char) -> CArgs {
        CArgs {
            argc: usize::try_from(argc).unwrap_or(0),
            argv,
        }
    }

    /// Each argument after argv\[0\], without copying.
    pub fn iter(self) -> impl ExactSizeIterator<Item = &'static OsStr> {
        (1..self.argc.max(1)).map(move |i| {
            // SAFETY: C main's argv holds argc valid NUL-terminated strings, which
            // live (unchanged: nothing here writes them) until the process ends.
            let s = unsafe { CStr::from_ptr(*self.argv.add(i)) };
            OsStr::from_bytes(s.to_bytes())
        })
    }

    /// The arguments as owned strings, for the parser.
    pub fn owned(self) -> impl Iterator<Item = OsString> {
        self.iter().map(OsStr::to_os_string)
    }
}

// Rust's std needs an unwinder, found by default in libgcc_s.so: one more shared
// library to open and map at every start (about a third of malloc-wl's start-up
// here). Taking it from the static libgcc_eh.a instead leaves libc the only
// library a workload loads, as for a C program; malloc and free stay in libc.
#[link(name = "gcc_eh", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}

/// glibc's default `M_MMAP_THRESHOLD`: requests whose chunk reaches it are mmapped.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// Pins glibc's mmap threshold at its default.
///
/// glibc raises the threshold to the size of the first mmapped chunk that is freed,
/// so a second identical request would come from the brk heap instead. Setting the
/// threshold explicitly turns that adjustment off: every repeat takes the same path.
pub fn pin_mmap_threshold() {
    // SAFETY: mallopt only changes allocator parameters; no memory is touched.
    // glibc refuses only thresholds above HEAP_MAX/2, far above this one.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) };
}

/// Asks the kernel where the program break is with a raw `brk(0)`, which moves
/// nothing (glibc's own idea of the break is left alone). A tracker that follows
/// the break by its brk calls, attached while the workload waited, learns here
/// where it stands.
pub fn brk_probe() -> usize {
    // SAFETY: brk with address 0 only reports the current break.
    unsafe { libc::syscall(libc::SYS_brk, 0usize) as usize }
}

/// One block from `malloc`, freed with `free` on drop.
pub struct CBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

impl CBuffer {
    /// `malloc(len)`; `None` when it returns NULL.
    pub fn malloc(len: usize) -> Option<CBuffer> {
        // SAFETY: malloc may be called with any size; NULL is handled below.
        let raw = unsafe { libc::malloc(len) };
        // Hide where the pointer came from, so the optimizer cannot fuse a later
        // zero fill with this call into calloc (which skips the writes on fresh
        // mmapped pages, and then no page would become resident).
        NonNull::new(black_box(raw).cast::<u8>()).map(|ptr| CBuffer { ptr, len })
    }

    /// Where the block starts.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Writes one byte in every page the block spans, so each becomes resident.
    pub fn touch_pages(&mut self, page: usize) {
        let start = self.addr();
        let end = start + self.len;
        let mut at = start;
        while at < end {
            // SAFETY: start <= at < start + len, inside the block this owns.
            unsafe { self.ptr.as_ptr().add(at - start).write_volatile(1) };
            at = (at / page + 1) * page;
        }
    }

    /// Writes zeros over the whole block, as CPython does for `bytearray(n)`.
    pub fn fill_zero(&mut self) {
        // SAFETY: the block is len bytes long and owned by self.
        unsafe { self.ptr.as_ptr().write_bytes(0, self.len) };
        black_box(self.ptr);
    }
}

impl Drop for CBuffer {
    fn drop(&mut self) {
        // SAFETY: ptr came from malloc, is freed once, and is not used after.
        unsafe { libc::free(self.ptr.as_ptr().cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(b: &CBuffer) -> &[u8] {
        // SAFETY: the test reads the block it owns, len bytes, after writing it.
        unsafe { std::slice::from_raw_parts(b.ptr.as_ptr(), b.len) }
    }

    #[test]
    fn touch_writes_one_byte_in_every_page() {
        let page = 4096;
        let mut b = CBuffer::malloc(3 * page + 5).unwrap();
        // malloc's block is not zeroed: start from a known state.
        b.fill_zero();
        b.touch_pages(page);
        let mut touched = Vec::new();
        for (i, &byte) in bytes(&b).iter().enumerate() {
            if byte != 0 {
                touched.push((b.addr() + i) / page);
            }
        }
        let first = b.addr() / page;
        let last = (b.addr() + b.len - 1) / page;
        assert_eq!(touched, (first..=last).collect::<Vec<_>>());
    }

    #[test]
    fn fill_zero_clears_every_byte() {
        let mut b = CBuffer::malloc(10_000).unwrap();
        b.touch_pages(4096);
        b.fill_zero();
        assert!(bytes(&b).iter().all(|&x| x == 0));
    }

    #[test]
    fn null_is_none() {
        assert!(CBuffer::malloc(1 << 50).is_none());
    }
}
