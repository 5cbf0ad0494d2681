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
//! tracker's count is held to. The write ([`Allocations::rate`]) and the
//! tally ([`Tally`]) are here with the loop. Nothing here is `unsafe`.

use kernel::prelude::*;

use crate::{proc, Allocations, Comm, EntryData, Inner, Measured};
use proc::FileKey;

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
                made.allocated = proc::vec_allocated(v).0;
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

/// What the `rate` writes of one open file made: `objects` kmallocs of
/// `size` bytes (those of its writes since the size last changed), each
/// freed in the same write.
pub(crate) struct Tally {
    file: FileKey,
    /// The last writer.
    pid: i32,
    tid: i32,
    size: usize,
    /// `ksize()` of an object.
    allocated: usize,
    objects: usize,
}

impl Tally {
    fn entry(&self) -> EntryData {
        EntryData {
            pid: self.pid,
            tid: self.tid,
            path: "rate",
            call: "krealloc_node_align",
            ptr: 0,
            requested: self.size,
            from: 0,
            allocated: self.allocated,
            measured: Measured {
                allocated: self.allocated,
                how: "ksize",
                unit: 0,
                cpus: 0,
            },
            objects: self.objects,
        }
    }
}

impl Inner {
    /// The entry of `file`'s tally, if its last writes were `rate`.
    pub(crate) fn tally_entry(&self, file: FileKey) -> Option<EntryData> {
        self.tallies.iter().find(|t| t.file == file).map(Tally::entry)
    }

    /// Forgets the tally of `file`'s `rate` writes, if any.
    pub(crate) fn drop_tally(&mut self, file: FileKey) {
        if let Some(i) = self.tallies.iter().position(|t| t.file == file) {
            let last = self.tallies.len() - 1;
            self.tallies.as_mut_slice().swap(i, last);
            self.tallies.pop();
        }
    }
}

impl Allocations {
    /// `rate COUNT SIZE`: frees what `file` holds, makes `count` kmallocs of
    /// `size` bytes and frees them ([`run`]), without the mutex, and
    /// adds them to the file's tally (a new one when the size changed).
    pub(crate) fn rate(&self, file: FileKey, count: usize, size: usize) -> Result {
        let batch_bytes = size * BATCH.min(count);
        {
            let mut inner = self.inner.lock();
            inner.free(file);
            inner.drop_handed(file);
            if self.over_cap(&inner, batch_bytes) {
                return Err(ENOMEM);
            }
            // The tally's slot is taken before the run, so that what it made
            // always has one to go to.
            let task = current!();
            let fresh = Tally {
                file,
                pid: task.group_leader().pid(),
                tid: task.pid(),
                size,
                allocated: 0,
                objects: 0,
            };
            match inner.tallies.iter_mut().find(|t| t.file == file) {
                Some(t) if t.size == size => (t.pid, t.tid) = (fresh.pid, fresh.tid),
                Some(t) => *t = fresh,
                None => inner
                    .tallies
                    .push_within_capacity(fresh)
                    .map_err(|_| ENOMEM)?,
            }
            inner.in_rate += batch_bytes;
        }
        let made = run(count, size);
        let mut inner = self.inner.lock();
        inner.in_rate -= batch_bytes;
        // Gone only if another write to the same file replaced it meanwhile.
        if let Some(t) = inner.tallies.iter_mut().find(|t| t.file == file) {
            t.objects += made.objects;
            t.allocated = t.allocated.max(made.allocated);
        }
        if inner.log_allowed() {
            pr_info!(
                "rate pid={} comm={} size={} objects={}\n",
                current!().group_leader().pid(),
                Comm(&proc::current_comm()),
                size,
                made.objects
            );
        }
        if made.failed {
            return Err(ENOMEM);
        }
        Ok(())
    }
}
