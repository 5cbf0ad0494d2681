// SPDX-License-Identifier: GPL-2.0

//! The rate mode: `rate COUNT SIZE` makes COUNT kmallocs of SIZE bytes in the
//! writer's context, as fast as the kernel makes them, for measuring what a
//! kernel tracker loses and costs under load.
//!
//! The objects are made in batches of [`BATCH`]; each batch is freed, in the
//! order it was made, before the next one is made, so a write fires COUNT
//! `kmem:kmalloc` and COUNT `kmem:kfree` events of the writer (the `kmalloc`
//! path's: `KVec::with_capacity`, `call_site` krealloc_node_align) with at
//! most [`BATCH`] objects live. `rate COUNT SIZE hold` keeps them instead:
//! the file holds them (at most [`MAX_HELD`], and their bytes count against
//! `max_bytes`) until it is closed or written again, for a tracker whose
//! figure is what is outstanding (bcc's memleak). User space sets the pace,
//! one write per batch of calls due (`kmalloc-test --rate`); the module
//! counts what the writes of a file made, its tally, and the file's entry
//! reads it back: the truth a tracker's count is held to. The write
//! ([`Allocations::rate`]) and the tally ([`Tally`]) are here with the loop.
//! Nothing here is `unsafe`.

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

/// The most objects a file's `hold` writes keep: their vector (24 bytes an
/// object) stays within a few MiB.
pub(crate) const MAX_HELD: usize = 1 << 18;

/// The objects a file's `hold` writes keep, in the order made.
pub(crate) type Held = KVVec<KVec<u8>>;

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
/// batch freed in the order made, or kept in `keep` (which has room for
/// `count` more: an object it had no room for would be freed).
pub(crate) fn run(count: usize, size: usize, mut keep: Option<&mut Held>) -> Made {
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
        // Taken out one by one and dropped at once (kfree in the order
        // made), or kept.
        for slot in batch.iter_mut() {
            if let Some(v) = slot.take() {
                made.objects += 1;
                if let Some(k) = keep.as_deref_mut() {
                    let _ = k.push_within_capacity(v);
                }
            }
        }
    }
    made
}

/// What the `rate` writes of one open file made: `objects` kmallocs of
/// `size` bytes (those of its writes since the size last changed), each
/// freed in the same write or, after `hold` writes, `held` until the file is
/// closed or written again.
pub(crate) struct Tally {
    file: FileKey,
    /// The last writer.
    pid: i32,
    tid: i32,
    size: usize,
    /// `ksize()` of an object.
    allocated: usize,
    objects: usize,
    held: Held,
}

impl Tally {
    /// The bytes (requested) of the objects it holds.
    pub(crate) fn held_bytes(&self) -> usize {
        self.held.len() * self.size
    }

    /// The objects it holds.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }

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
            held: self.held.len(),
        }
    }
}

impl Inner {
    /// The objects all `rate ... hold` writes keep, and their bytes
    /// (requested).
    pub(crate) fn held(&self) -> (usize, usize) {
        self.tallies
            .iter()
            .fold((0, 0), |(n, b), t| (n + t.held(), b + t.held_bytes()))
    }

    /// The entry of `file`'s tally, if its last writes were `rate`.
    pub(crate) fn tally_entry(&self, file: FileKey) -> Option<EntryData> {
        self.tallies
            .iter()
            .find(|t| t.file == file)
            .map(Tally::entry)
    }

    /// Forgets the tally of `file`'s `rate` writes, if any, freeing what
    /// it holds here.
    pub(crate) fn drop_tally(&mut self, file: FileKey) {
        if let Some(i) = self.tallies.iter().position(|t| t.file == file) {
            let last = self.tallies.len() - 1;
            self.tallies.as_mut_slice().swap(i, last);
            self.tallies.pop();
            // No stale copy of the held vector's pointer left for kmemleak.
            if let Some(slot) = self.tallies.spare_capacity_mut().first_mut() {
                *slot = core::mem::MaybeUninit::zeroed();
            }
        }
    }
}

impl Allocations {
    /// `rate COUNT SIZE [hold]`: frees what `file` holds (but the objects of
    /// its earlier `hold` writes of `size`, when this one holds too), makes
    /// `count` kmallocs of `size` bytes ([`run`]) and adds them to the
    /// file's tally (a new one when the size changed). Without `hold` the
    /// objects are freed in the write, which runs without the mutex; with
    /// it they are kept in the tally, under the mutex.
    pub(crate) fn rate(&self, file: FileKey, count: usize, size: usize, hold: bool) -> Result {
        let live_bytes = size * if hold { count } else { BATCH.min(count) };
        let mut inner = self.inner.lock();
        inner.free(file);
        inner.drop_handed(file);
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
            held: Held::new(),
        };
        let i = match inner.tallies.iter().position(|t| t.file == file) {
            Some(i) => {
                let t = &mut inner.tallies[i];
                if t.size == size {
                    (t.pid, t.tid) = (fresh.pid, fresh.tid);
                    if !hold {
                        // Freed here, in the order made.
                        t.held.clear();
                    }
                } else {
                    *t = fresh;
                }
                i
            }
            None => {
                inner
                    .tallies
                    .push_within_capacity(fresh)
                    .map_err(|_| ENOMEM)?;
                inner.tallies.len() - 1
            }
        };
        let room = !self.over_cap(&inner, live_bytes)
            && (!hold || {
                let held = &mut inner.tallies[i].held;
                held.len() + count <= MAX_HELD && held.reserve(count, GFP_KERNEL).is_ok()
            });
        if !room {
            // Refused: the file holds nothing, as after any ENOMEM.
            inner.tallies[i].held.clear();
            if inner.tallies[i].objects == 0 {
                inner.drop_tally(file);
            }
            return Err(ENOMEM);
        }
        let made = if hold {
            run(count, size, Some(&mut inner.tallies[i].held))
        } else {
            inner.in_rate += live_bytes;
            drop(inner);
            let made = run(count, size, None);
            inner = self.inner.lock();
            inner.in_rate -= live_bytes;
            made
        };
        // Gone only if another write to the same file replaced it meanwhile.
        if let Some(t) = inner.tallies.iter_mut().find(|t| t.file == file) {
            t.objects += made.objects;
            t.allocated = t.allocated.max(made.allocated);
            if made.failed {
                // As after any ENOMEM, the file holds nothing.
                t.held.clear();
            }
        }
        if inner.log_allowed() {
            pr_info!(
                "rate pid={} comm={} size={} objects={} hold={}\n",
                current!().group_leader().pid(),
                Comm(&proc::current_comm()),
                size,
                made.objects,
                u8::from(hold)
            );
        }
        if made.failed {
            return Err(ENOMEM);
        }
        Ok(())
    }
}
