// SPDX-License-Identifier: GPL-2.0

//! kmalloc_lkm: exact, user-triggered kmalloc workloads for memory trackers.
//!
//! The module creates `/proc/kmalloc_lkm` (mode `mode`, default `0666`). Each
//! *open file* (not each process) may hold one kernel allocation:
//!
//! - Writing a size in ASCII decimal (`echo 4096 > /proc/kmalloc_lkm`; one
//!   trailing newline is allowed) frees what that open file held and allocates
//!   `size` bytes with kmalloc (a `KVec<u8>` with capacity `size`), in the
//!   writer's context: `kmem:kmalloc` shows `bytes_req == size` for the writing
//!   task. The write returns the number of bytes written.
//! - Closing the file frees its allocation (`kmem:kfree` of the same pointer).
//!   Removing the module while files are open frees them all: procfs releases
//!   every open file while the entry is removed.
//! - Opening, closing and reading the file allocate nothing with kmalloc on the
//!   writer's behalf; a workload's kmalloc calls are exactly its writes.
//!
//! # Errors of a write
//!
//! - `EINVAL`: the input is empty, `0`, not decimal digits, longer than
//!   [`MAX_INPUT`] bytes, or larger than `KMALLOC_MAX_SIZE` (4 MiB on x86-64).
//!   The input is validated before anything else: the open file keeps what it
//!   held before.
//! - `ENOMEM`: the new allocation would take the total of live bytes over all
//!   open files above `max_bytes` (default 64 MiB), or more than `max_files`
//!   open files would hold an allocation, or kmalloc failed. A valid size always
//!   replaces the previous allocation: the old one is freed first, so after an
//!   `ENOMEM` the open file holds nothing.
//!
//! # Reading
//!
//! Reading lists the live allocations, one line each, then one total line:
//!
//! ```text
//! # pid tid comm requested allocated
//! 123 125 kmalloc-test 4096 4096
//! 130 130 sh 5000 8192
//! total allocations=2 requested=9096 allocated=12288 max_bytes=67108864
//! ```
//!
//! `pid` is the process (thread group) id and `tid` the thread id of the task
//! that made the allocation, `comm` its command name (bytes other than
//! printable ASCII, such as spaces, shown as `_`),
//! `requested` the size written and `allocated` what kmalloc really handed out
//! (`kmalloc_size_roundup(requested)`: the slab bucket, or whole pages above
//! 8 KiB), the same as `ksize()` of the allocation. On kernels with KASAN or
//! slab debugging the `bytes_alloc` of the `kmem:kmalloc` event is the slab's
//! object footprint including that metadata (e.g. 8192 for 4096 with generic
//! KASAN), so it can be larger than `allocated`.
//! `requested` and `allocated` in the total line are the sums over the
//! listed allocations. Fields are separated by one space.
//!
//! A read at offset 0 takes a snapshot of the listing for that open file; reads
//! further on continue in the same snapshot, so a reader with a small buffer still
//! gets one consistent text while other files change (as `seq_file` would give).
//! The snapshot is the reader's own kmalloc, freed at close; writers never have
//! one. A read at a later offset without an earlier read at 0 returns nothing.
//! The snapshot is built under the module's mutex, but copied to user space
//! after the mutex is dropped: a reader whose buffer faults slowly (the file is
//! world-writable and readable by default) delays only itself, never the
//! writers or other readers.
//!
//! # Log
//!
//! Every allocation and free is logged with `pr_info`, limited to
//! [`LOG_BURST`] lines per [`LOG_INTERVAL_MS`] ms; the number of lines left out
//! is reported when the next interval starts. (The kernel crate has
//! `pr_*_once!` but no rate-limited printing, so the module counts itself,
//! under its mutex, like `printk_ratelimit()` with its default burst and
//! interval.)
//!
//! # Parameters
//!
//! - `mode`: permissions of `/proc/kmalloc_lkm` (default `0666`; `mode=0600`).
//! - `max_bytes`: cap on the live bytes over all open files (default 64 MiB).
//! - `max_files`: how many open files may hold an allocation at once (default
//!   1024; the list is allocated once when the module is loaded).

use core::fmt::Write as _;
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::{Instant, Monotonic},
    uaccess::{UserSliceReader, UserSliceWriter},
};

mod proc;

use proc::{FileKey, ProcFile, Registration};

module! {
    type: KmallocLkm,
    name: "kmalloc_lkm",
    authors: ["memory-workloads contributors"],
    description: "Exact kmalloc workloads through /proc/kmalloc_lkm",
    license: "GPL",
    params: {
        mode: u16 {
            default: 0o666,
            description: "Permissions of /proc/kmalloc_lkm (default 0666)",
        },
        max_bytes: usize {
            default: 64 << 20,
            description: "Cap on the live bytes over all open files (default 64 MiB)",
        },
        max_files: usize {
            default: 1024,
            description: "Open files that may hold an allocation at once (default 1024)",
        },
    },
}

/// Largest size accepted: `KMALLOC_MAX_SIZE` on x86-64
/// (`1 << (PAGE_SHIFT + MAX_PAGE_ORDER)` = 4 MiB).
const KMALLOC_MAX_SIZE: usize = 1 << 22;

/// Longest write accepted, in bytes (digits plus an optional newline).
const MAX_INPUT: usize = 32;

/// At most this many log lines per [`LOG_INTERVAL_MS`].
const LOG_BURST: u32 = 10;

/// Length of a log rate-limit interval in milliseconds.
const LOG_INTERVAL_MS: i64 = 5000;

/// One live allocation, owned by one open file.
struct Allocation {
    file: FileKey,
    pid: i32,
    tid: i32,
    comm: [u8; 16],
    /// The size written.
    requested: usize,
    /// What kmalloc handed out for it (`kmalloc_size_roundup(requested)`).
    allocated: usize,
    /// The allocation itself (`requested` bytes of capacity), only kept to be
    /// freed when the entry goes.
    _buf: KVec<u8>,
}

/// The listing as one open file read it at offset 0. Shared, so that a read
/// copies it to user space without the mutex while a concurrent read of the
/// same file at offset 0 (`pread`) may already put a newer one in its place.
struct Snapshot {
    file: FileKey,
    text: Arc<KVec<u8>>,
}

/// State protected by the mutex.
struct Inner {
    /// Live allocations; capacity `max_files`, never grown after load.
    live: KVec<Allocation>,
    /// Listings being read, one per reading open file.
    snapshots: KVec<Snapshot>,
    /// Sum of the requested sizes in `live`.
    requested: usize,
    /// Sum of the allocated sizes in `live`.
    allocated: usize,
    log_window: Instant<Monotonic>,
    log_count: u32,
    log_suppressed: u32,
}

impl Inner {
    /// Keeps `text` as the listing `file` reads, in place of an older one.
    fn keep_snapshot(&mut self, file: FileKey, text: Arc<KVec<u8>>) -> Result {
        match self.snapshots.iter_mut().find(|s| s.file == file) {
            Some(s) => s.text = text,
            None => self.snapshots.push(Snapshot { file, text }, GFP_KERNEL)?,
        }
        Ok(())
    }

    /// Drops the listing `file` was reading, if any.
    fn drop_snapshot(&mut self, file: FileKey) {
        if let Some(i) = self.snapshots.iter().position(|s| s.file == file) {
            let last = self.snapshots.len() - 1;
            self.snapshots.as_mut_slice().swap(i, last);
            self.snapshots.pop();
        }
    }

    /// Returns whether a log line may be printed now.
    fn log_allowed(&mut self) -> bool {
        if self.log_window.elapsed().as_millis() >= LOG_INTERVAL_MS {
            if self.log_suppressed > 0 {
                pr_info!("{} log lines suppressed\n", self.log_suppressed);
            }
            self.log_window = Instant::now();
            self.log_count = 0;
            self.log_suppressed = 0;
        }
        if self.log_count < LOG_BURST {
            self.log_count += 1;
            true
        } else {
            self.log_suppressed += 1;
            false
        }
    }

    /// Frees the allocation held by `file`, if any.
    fn free(&mut self, file: FileKey) {
        let Some(i) = self.live.iter().position(|a| a.file == file) else {
            return;
        };
        let last = self.live.len() - 1;
        self.live.as_mut_slice().swap(i, last);
        let Some(a) = self.live.pop() else {
            return;
        };
        self.requested -= a.requested;
        self.allocated -= a.allocated;
        if self.log_allowed() {
            pr_info!(
                "free pid={} comm={} requested={} allocated={}\n",
                a.pid,
                Comm(&a.comm),
                a.requested,
                a.allocated
            );
        }
        // `a._buf` is freed (kfree) here.
    }
}

/// Displays a NUL-padded command name, with spaces as `_`.
struct Comm<'a>(&'a [u8; 16]);

impl core::fmt::Display for Comm<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0.iter().take_while(|&&b| b != 0) {
            let c = if b.is_ascii_graphic() { b as char } else { '_' };
            f.write_char(c)?;
        }
        Ok(())
    }
}

// `pr_info!` formats through `kernel::fmt::Display`.
impl kernel::fmt::Display for Comm<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

/// Text buffer for the listing.
struct Text(KVec<u8>);

impl core::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| core::fmt::Error)
    }
}

/// Parses a written size: decimal digits and at most one trailing newline.
fn parse_size(input: &[u8]) -> Result<usize> {
    let digits = input.strip_suffix(b"\n").unwrap_or(input);
    if digits.is_empty() {
        return Err(EINVAL);
    }
    let mut size: usize = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(EINVAL);
        }
        size = size
            .checked_mul(10)
            .and_then(|s| s.checked_add(usize::from(b - b'0')))
            .ok_or(EINVAL)?;
    }
    if size == 0 || size > KMALLOC_MAX_SIZE {
        return Err(EINVAL);
    }
    Ok(size)
}

/// The state behind `/proc/kmalloc_lkm`.
#[pin_data]
struct Allocations {
    #[pin]
    inner: Mutex<Inner>,
    max_bytes: usize,
}

impl Allocations {
    fn new(max_bytes: usize, max_files: usize) -> Result<impl PinInit<Self, Error>> {
        let live = KVec::with_capacity(max_files, GFP_KERNEL)?;
        Ok(try_pin_init!(Self {
            inner <- new_mutex!(Inner {
                live,
                snapshots: KVec::new(),
                requested: 0,
                allocated: 0,
                log_window: Instant::now(),
                log_count: 0,
                log_suppressed: 0,
            }),
            max_bytes,
        }))
    }

    /// The listing: a header, one line per live allocation, the totals.
    fn listing(&self, inner: &Inner) -> Result<KVec<u8>> {
        let mut t = Text(KVec::new());
        let mut fill = || -> core::fmt::Result {
            t.write_str("# pid tid comm requested allocated\n")?;
            for a in inner.live.iter() {
                writeln!(
                    t,
                    "{} {} {} {} {}",
                    a.pid,
                    a.tid,
                    Comm(&a.comm),
                    a.requested,
                    a.allocated
                )?;
            }
            writeln!(
                t,
                "total allocations={} requested={} allocated={} max_bytes={}",
                inner.live.len(),
                inner.requested,
                inner.allocated,
                self.max_bytes
            )
        };
        fill().map_err(|_| ENOMEM)?;
        Ok(t.0)
    }
}

impl ProcFile for Allocations {
    fn read(&self, file: FileKey, out: &mut UserSliceWriter, offset: &mut i64) -> Result<usize> {
        let text = {
            let mut inner = self.inner.lock();
            if *offset == 0 {
                let text = Arc::new(self.listing(&inner)?, GFP_KERNEL)?;
                inner.keep_snapshot(file, text)?;
            }
            match inner.snapshots.iter().find(|s| s.file == file) {
                Some(s) => s.text.clone(),
                None => return Ok(0),
            }
        };
        // The mutex is dropped before the copy to user space: a reader whose
        // buffer faults slowly (a slow file mapping, a userfaultfd page waiting
        // on user space) stalls only itself. `text` keeps the snapshot alive
        // even if a concurrent read at offset 0 of this file replaces it.
        out.write_slice_file(&text, offset)
    }

    fn write(&self, file: FileKey, mut input: UserSliceReader) -> Result<usize> {
        let count = input.len();
        if count > MAX_INPUT {
            return Err(EINVAL);
        }
        let mut raw = [0u8; MAX_INPUT];
        input.read_slice(&mut raw[..count])?;
        let size = parse_size(&raw[..count])?;

        let mut inner = self.inner.lock();
        inner.free(file);
        let allocated = proc::kmalloc_usable_size(size);
        let over_cap = inner
            .requested
            .checked_add(size)
            .is_none_or(|total| total > self.max_bytes);
        if over_cap || inner.live.len() == inner.live.capacity() {
            return Err(ENOMEM);
        }
        let buf = KVec::<u8>::with_capacity(size, GFP_KERNEL)?;
        let task = current!();
        let (pid, comm) = (task.group_leader().pid(), proc::current_comm());
        let a = Allocation {
            file,
            pid,
            tid: task.pid(),
            comm,
            requested: size,
            allocated,
            _buf: buf,
        };
        // Cannot fail: `live` has room (checked above, under the same lock). If it
        // did, the allocation would be freed here and the totals left alone: they
        // count an allocation only once it is in the list.
        inner.live.push_within_capacity(a).map_err(|_| ENOMEM)?;
        inner.requested += size;
        inner.allocated += allocated;
        if inner.log_allowed() {
            pr_info!(
                "alloc pid={} comm={} requested={} allocated={}\n",
                pid,
                Comm(&comm),
                size,
                allocated
            );
        }
        Ok(count)
    }

    fn release(&self, file: FileKey) {
        let mut inner = self.inner.lock();
        inner.free(file);
        inner.drop_snapshot(file);
    }
}

struct KmallocLkm {
    proc_file: Registration<Allocations>,
}

impl kernel::Module for KmallocLkm {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mode = *module_parameters::mode.value();
        let max_bytes = *module_parameters::max_bytes.value();
        let max_files = *module_parameters::max_files.value();
        let proc_file = Registration::new(
            c"kmalloc_lkm",
            mode & 0o777,
            Allocations::new(max_bytes, max_files)?,
        )?;
        pr_info!(
            "loaded: /proc/kmalloc_lkm mode={:o} max_bytes={} max_files={}\n",
            mode & 0o777,
            max_bytes,
            max_files
        );
        Ok(Self { proc_file })
    }
}

impl Drop for KmallocLkm {
    fn drop(&mut self) {
        // Removing the entry first releases every open file; nothing is left.
        let live = self.proc_file.data().inner.lock().live.len();
        pr_info!(
            "unloading ({} allocations still held by open files)\n",
            live
        );
    }
}
