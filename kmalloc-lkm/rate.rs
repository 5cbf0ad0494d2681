// SPDX-License-Identifier: GPL-2.0

//! The rate mode: `rate COUNT SIZE` makes COUNT kmallocs of SIZE bytes in the
//! writer's context, as fast as the kernel makes them, for measuring what a
//! kernel tracker loses and costs under load.
//!
//! The objects are made in batches of [`BATCH`]; each batch is freed, in the
//! order it was made, before the next one is made, so a write fires COUNT
//! `kmem:kmalloc` and COUNT `kmem:kfree` events of the writer (the `kmalloc`
//! path's: `KVec::with_capacity`, `call_site` krealloc_node_align) with at
//! most [`BATCH`] objects live. User space sets the pace, one write per batch
//! of calls due (`kmalloc-test --rate`); the module counts what the writes of
//! a file made, its tally, and the file's entry reads it back: the truth a
//! tracker's count is held to. Nothing here is `unsafe`.

use kernel::prelude::*;

/// The most kmallocs one write makes: a write stays short (tens of
/// milliseconds even under emulation), so the kernel needs no resched point
/// inside it and the pace is set between writes.
pub(crate) const MAX_COUNT: usize = 1 << 16;

/// The largest object: a batch holds at most `BATCH * MAX_SIZE` = 4 MiB.
pub(crate) const MAX_SIZE: usize = 1 << 16;

/// Objects live at once, on the kernel stack (the vectors' headers).
pub(crate) const BATCH: usize = 64;

/// What one `rate` write made.
pub(crate) struct Made {
    /// kmallocs that returned an object; every one was freed before the
    /// write returned.
    pub(crate) objects: usize,
    /// `ksize()` of an object (all come from one kmalloc bucket); 0 when
    /// none was made.
    pub(crate) allocated: usize,
    /// A kmalloc failed: the write stopped there.
    pub(crate) failed: bool,
}

/// Makes `count` kmallocs of `size` bytes here, [`BATCH`] at a time, each
/// batch freed in the order made.
pub(crate) fn run(count: usize, size: usize) -> Made {
    let mut made = Made {
        objects: 0,
        allocated: 0,
        failed: false,
    };
    let mut batch: [Option<KVec<u8>>; BATCH] = [const { None }; BATCH];
    while made.objects < count && !made.failed {
        let n = BATCH.min(count - made.objects);
        for slot in batch.iter_mut().take(n) {
            match KVec::with_capacity(size, GFP_KERNEL) {
                Ok(v) => *slot = Some(v),
                Err(_) => {
                    made.failed = true;
                    break;
                }
            }
        }
        if made.allocated == 0 {
            if let Some(Some(v)) = batch.first() {
                made.allocated = crate::proc::vec_allocated(v).0;
            }
        }
        // Taken out one by one and dropped at once: kfree in the order made.
        for slot in batch.iter_mut() {
            if slot.take().is_some() {
                made.objects += 1;
            }
        }
    }
    made
}
