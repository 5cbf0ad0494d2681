//! The C allocator, called directly: every `unsafe` of the user-space workloads.
//!
//! The workloads call glibc's `malloc` and `free` through the `libc` crate rather
//! than Rust's global allocator, so that uprobe and `LD_PRELOAD` trackers see the
//! very call the workload names, with the very size.

use std::hint::black_box;
use std::ptr::NonNull;

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

    #[test]
    fn touch_covers_every_page_once_per_page() {
        let mut b = CBuffer::malloc(3 * 4096 + 5).unwrap();
        b.touch_pages(4096);
        b.fill_zero();
        assert_ne!(b.addr(), 0);
    }

    #[test]
    fn null_is_none() {
        assert!(CBuffer::malloc(1 << 50).is_none());
    }
}
