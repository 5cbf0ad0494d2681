// SPDX-License-Identifier: GPL-2.0

//! kmalloc_lkm: exact, user-triggered kernel allocations for memory trackers.
//!
//! The module creates `/proc/kmalloc_lkm` (mode `mode`, default `0666`). Each
//! *open file* (not each process) may hold one kernel allocation:
//!
//! - Writing a size in ASCII decimal (`echo 4096 > /proc/kmalloc_lkm`; one
//!   trailing newline is allowed) frees what that open file held and allocates
//!   `size` bytes with kmalloc (a `KVec<u8>` with capacity `size`), in the
//!   writer's context: `kmem:kmalloc` shows `bytes_req == size` for the writing
//!   task. The write returns the number of bytes written.
//! - Writing `PATH SIZE` does the same through another allocation path (one
//!   space between the words; kvmalloc takes a third, `vmalloc`):
//!
//!   | PATH | what | limit | traced (writer's context) |
//!   | --- | --- | --- | --- |
//!   | `kmalloc` | as a plain size | 4 MiB | `kmem:kmalloc` `bytes_req=SIZE` |
//!   | `kzalloc` | kmalloc with `__GFP_ZERO` (`KVec`) | 4 MiB | `kmem:kmalloc` `bytes_req=SIZE`, `gfp_flags` with `__GFP_ZERO` |
//!   | `kmem_cache` | one object of the cache `kmalloc_lkm-SIZE` (`SLAB_NO_MERGE`), made by the first write of that size and kept until rmmod | 1 MiB | `kmem:kmem_cache_alloc` `name=kmalloc_lkm-SIZE bytes_req=SIZE` |
//!   | `vmalloc` | `VVec` | 1 GiB | `vmalloc:alloc_vmap_area` `size=` SIZE in whole pages plus a guard page; order-0 `kmem:mm_page_alloc` per page |
//!   | `kvmalloc` | `KVVec`: kmalloc, or vmalloc when kmalloc cannot serve it (above 4 MiB) | 1 GiB | as kmalloc (`call_site=kvrealloc_node_align_noprof`), or failed kmallocs (`ptr=0`) then as vmalloc |
//!   | `kvmalloc SIZE vmalloc` | kvmalloc's vmalloc fallback at any size above a page (as when kmalloc fails): `vmalloc_huge_node(SIZE, GFP_KERNEL, NUMA_NO_NODE)`, the call kvmalloc makes then, freed with `kvfree` | 4097 B to 1 GiB | as vmalloc, with no kmalloc attempt before it |
//!   | `pages` | `alloc_pages(GFP_KERNEL, order)` of the order covering SIZE | 4 MiB | `kmem:mm_page_alloc` `order=` that order |
//!   | `percpu` | `__alloc_percpu(SIZE, 8)` | 32 KiB | `percpu:percpu_alloc_percpu` `size=SIZE align=8` |
//!
//!   and `krealloc FROM TO` kmallocs FROM bytes and kreallocs them to TO
//!   (both at most 4 MiB): `kmem:kmalloc` `bytes_req=FROM`, then, only when
//!   TO does not fit in the object (its kmalloc bucket), `kmem:kmalloc`
//!   `bytes_req=TO` and `kmem:kfree` of the first object; shrinking, or
//!   growing within the bucket, keeps the object and is not traced at all.
//! - Closing the file frees its allocation in the closer's context (`kmem:kfree`,
//!   `kmem:kmem_cache_free`, `vmalloc:free_vmap_area_noflush`,
//!   `kmem:mm_page_free`, `percpu:percpu_free_percpu` of the same object).
//!   Removing the module while files are open frees them all: procfs releases
//!   every open file while the entry is removed.
//! - Writing `free-by kworker` or `free-by rcu` frees what the file holds in
//!   another context: a work item on `system_unbound_wq` (a `kworker/u*`
//!   thread) or an RCU callback after a grace period (softirq context, so the
//!   trace shows whatever task was interrupted, with `s` in its flags). The
//!   write returns at once; until the free has run, the listing counts it as
//!   `deferred` and it still counts against `max_bytes`. (A vmalloc freed from
//!   the RCU callback is handed on by `vfree` to a kworker, as vfree does in
//!   interrupt context.) rmmod waits for every deferred free.
//! - Writing `rate COUNT SIZE` (COUNT at most 65536, SIZE at most 64 KiB)
//!   frees what the file held and makes COUNT kmallocs of SIZE bytes in the
//!   writer's context, 64 at a time, each 64 freed in the order made before
//!   the next are made: COUNT `kmem:kmalloc` and `kmem:kfree` of the writer,
//!   as fast as the kernel goes (the rate mode, [`rate`]; user space sets the
//!   pace between writes). The file keeps a tally of what its `rate` writes
//!   of one size made, which its entry reads. `rate COUNT SIZE hold` keeps
//!   the objects instead: the file holds them, adding those of each such
//!   write of the same size (at most 262144), until it is closed or written
//!   again otherwise; the total line counts them (`held_objects`).
//! - With `allow_leaks=1`, writing `leak` forgets what the file holds: the module
//!   drops every reference to it, logs `leaked object at 0x...` (the address
//!   kmemleak reports) and never frees it. Paths kmemleak can report: kmalloc,
//!   kzalloc, krealloc, vmalloc, kvmalloc.
//! - Opening, closing and reading the file allocate nothing on the writer's
//!   behalf; a workload's allocations are exactly its writes (and, for
//!   `kmem_cache`, the first write of a size also creates the cache).
//!
//! # Errors of a write
//!
//! - `EINVAL`: the input is empty, `0`, not one of the forms above, longer than
//!   [`MAX_INPUT`] bytes, or a size above the path's limit; `free-by` or `leak`
//!   on a file that holds nothing; `leak` of a pages, percpu or kmem_cache
//!   allocation. The input is validated before anything else: the open file
//!   keeps what it held before.
//! - `EPERM`: `leak` without `allow_leaks=1` (the file keeps its allocation).
//! - `ENOMEM`: the new allocation would take the total of live bytes (requested
//!   sizes over all open files, plus deferred frees not yet done and objects
//!   held by `rate ... hold`) above `max_bytes` (default 64 MiB), or more
//!   than `max_files` open files would hold an allocation, or more than 64
//!   `kmem_cache` sizes are in use, or the allocator failed (a `rate` write
//!   then stops at the failed kmalloc; its tally keeps what it made), or a
//!   `rate ... hold` write would take the file's held objects above 262144.
//!   A valid request always replaces the previous allocation (a `rate ...
//!   hold` write adds to the objects of earlier ones of its size): the old
//!   one is freed first, so after an `ENOMEM` the open file holds nothing.
//!
//! # Reading
//!
//! Reading lists the live allocations, one line each, then one total line:
//!
//! ```text
//! # pid tid comm requested allocated path
//! 123 125 kmalloc-test 4096 4096 kmalloc
//! 130 130 sh 5000 8192 kmalloc
//! 131 131 sh 10000000 10002432 kvmalloc:vmalloc
//! total allocations=3 requested=10009096 allocated=10014720 max_bytes=67108864 deferred=0 deferred_bytes=0 held_objects=0 held_bytes=0
//! ```
//!
//! `pid` is the process (thread group) id and `tid` the thread id of the task
//! that made the allocation, `comm` its command name (bytes other than
//! printable ASCII, such as spaces, shown as `_`),
//! `requested` the size written (TO for krealloc) and `allocated` what the
//! allocator really handed out, measured on the allocation once it is made:
//! for kmalloc, kzalloc, krealloc, kmem_cache and a kvmalloc served by kmalloc
//! `ksize()` of the object (the slab bucket, the cache's object with its
//! padding, or the pages of a kmalloc above 8 KiB); for vmalloc and a
//! kvmalloc served by vmalloc the area's mapped pages, looked up one by one
//! with `vmalloc_to_page()` up to its guard page (`find_vm_area()` is not
//! exported to modules); for pages `PAGE_SIZE << order`; for percpu each
//! CPU's copy (SIZE rounded up to `PCPU_MIN_ALLOC_SIZE`, 4 bytes, as
//! `pcpu_alloc` does) times `num_possible_cpus()` (the `bytes_alloc` of its
//! event). `path` is the path
//! written, with `kvmalloc:kmalloc` or `kvmalloc:vmalloc` saying which
//! allocator served a kvmalloc. On a production kernel `allocated` is the
//! `bytes_alloc` of the allocation's own event; with KASAN or slab debugging
//! that `bytes_alloc` is the slab's object footprint including the metadata
//! (e.g. 8192 for 4096 with generic KASAN), while `ksize()` is what the caller
//! may use, so `bytes_alloc` can be larger.
//!
//! # The owner's entry
//!
//! A file that holds an allocation reads, instead of the listing, one line:
//! its **entry**, formatted on the stack (the read allocates nothing):
//!
//! ```text
//! entry pid=123 tid=125 path=kmalloc call=krealloc_node_align ptr=0xffff888004a1b000 hash=00000000939a3b2a requested=4096 from=0 allocated=4096 measured_by=ksize unit=0 cpus=0 free=close state=live freed_by=- freed_pid=0 objects=1 objects_freed=0
//! ```
//!
//! `KEY=VALUE` words, always these keys in this order: `pid`, `tid` of the
//! writer; `path` as listed; `call` the C function the allocation was made
//! with (`krealloc_node_align`, `vrealloc_node_align` and
//! `kvrealloc_node_align`: the kernel crate's `KVec`, `VVec`, `KVVec`;
//! `krealloc_node_align` for krealloc; `kmem_cache_alloc`,
//! `vmalloc_huge_node`, `alloc_pages`, `pcpu_alloc`); `ptr` the address the
//! allocator returned (the object, the area, the `struct page`, the per-CPU
//! pointer), raw: only the owner sees it; `hash` the same as `%p` prints it,
//! hashed with this boot's key, as tracefs prints the `ptr=` and `page=` of
//! its events (raw with `no_hash_pointers`); `requested`;
//! `from` (krealloc's first size, else 0); `allocated`, measured as above, and
//! `measured_by` how (`ksize`, `vmalloc_to_page`, `order`, `percpu`); `unit`
//! and `cpus` (percpu: the bytes of each CPU's copy and the possible CPUs;
//! else 0); `free`, the context its free is in: `close` (freed by the task
//! that closes the file or writes to it again), `kworker` or `rcu` (after
//! `free-by`); `state`: `live`, `pending` (handed to a kworker or RCU, not yet
//! freed) or `freed`; `freed_by` and `freed_pid`, the command name and pid of
//! the task that ran a deferred free (a `kworker/*`, or for RCU the task its
//! softirq interrupted, `swapper/N` when idle; a vfree from RCU hands the area on to
//! a kworker, not named here), `-` and 0 until known. After `free-by` the file
//! keeps that entry (`pending`, then `freed`) until it writes again or closes;
//! a file that holds nothing and handed nothing reads the listing.
//! `objects` and `objects_freed`: the objects the entry stands for (1) and how
//! many of them are freed (0, or 1 once `freed`).
//!
//! A file whose last writes were `rate` reads the entry of its tally:
//! `path=rate call=krealloc_node_align ptr=0`, `requested` the SIZE,
//! `allocated` an object's `ksize()`, `free=write state=freed` (each freed in
//! the write that made it), `objects` and `objects_freed` the kmallocs its
//! `rate` writes of that SIZE made, all freed; after `hold` writes
//! `free=close state=live` and `objects_freed` those not held.
//! `requested` and `allocated` in the total line are the sums over the
//! listed allocations; `deferred` counts the frees handed to a kworker or RCU
//! that have not run yet, and `deferred_bytes` their requested sizes;
//! `held_objects` the objects `rate ... hold` writes keep, `held_bytes` their
//! requested sizes (they are not listed, and count against `max_bytes`).
//! Fields are separated by one space.
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
//! Every allocation, free, deferred free and leak is logged with `pr_info`,
//! limited to [`LOG_BURST`] lines per [`LOG_INTERVAL_MS`] ms; the number of
//! lines left out is reported when the next interval starts. (The kernel crate
//! has `pr_*_once!` but no rate-limited printing, so the module counts itself,
//! under its mutex, like `printk_ratelimit()` with its default burst and
//! interval.) The address of a leaked object is always logged.
//!
//! # Parameters
//!
//! - `mode`: permissions of `/proc/kmalloc_lkm` (default `0666`; `mode=0600`).
//! - `max_bytes`: cap on the live bytes over all open files (default 64 MiB).
//! - `max_files`: how many open files may hold an allocation at once (default
//!   1024; the list, and as many slots for deferred frees, are allocated once
//!   when the module is loaded).
//! - `allow_leaks`: `1` lets `leak` forget an allocation (default `0`).

use core::fmt::Write as _;
use kernel::{
    alloc::flags::__GFP_ZERO,
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, Mutex},
    time::{Instant, Monotonic},
    uaccess::{UserSliceReader, UserSliceWriter},
};

mod proc;
mod rate;

use proc::{
    Cache, CacheObject, Context, Deferred, FileKey, Freed, Krealloced, KvmallocFallback, Pages,
    Percpu, ProcFile, Registration,
};

module! {
    type: KmallocLkm,
    name: "kmalloc_lkm",
    authors: ["memory-workloads contributors"],
    description: "Exact kernel allocation workloads through /proc/kmalloc_lkm",
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
        allow_leaks: u8 {
            default: 0,
            description: "1: a write of 'leak' forgets the file's allocation (default 0, off)",
        },
    },
}

/// Largest kmalloc: `KMALLOC_MAX_SIZE` on x86-64
/// (`1 << (PAGE_SHIFT + MAX_PAGE_ORDER)` = 4 MiB).
const KMALLOC_MAX_SIZE: usize = 1 << 22;

/// Largest object of a cache the module makes (`kmem_cache` path).
const CACHE_MAX_SIZE: usize = 1 << 20;

/// Largest vmalloc or kvmalloc the module takes (the cap on live bytes applies too).
const VMALLOC_MAX_SIZE: usize = 1 << 30;

/// At most this many caches (distinct `kmem_cache` sizes) at once.
const MAX_CACHES: usize = 64;

/// Longest write accepted, in bytes.
const MAX_INPUT: usize = 32;

/// At most this many log lines per [`LOG_INTERVAL_MS`].
const LOG_BURST: u32 = 10;

/// Length of a log rate-limit interval in milliseconds.
const LOG_INTERVAL_MS: i64 = 5000;

/// An allocation path, as written (`PATH SIZE`) and listed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Kmalloc,
    Kzalloc,
    Krealloc,
    KmemCache,
    Vmalloc,
    Kvmalloc,
    Pages,
    Percpu,
}

impl Path {
    const ALL: [Path; 8] = [
        Path::Kmalloc,
        Path::Kzalloc,
        Path::Krealloc,
        Path::KmemCache,
        Path::Vmalloc,
        Path::Kvmalloc,
        Path::Pages,
        Path::Percpu,
    ];

    fn name(self) -> &'static str {
        match self {
            Path::Kmalloc => "kmalloc",
            Path::Kzalloc => "kzalloc",
            Path::Krealloc => "krealloc",
            Path::KmemCache => "kmem_cache",
            Path::Vmalloc => "vmalloc",
            Path::Kvmalloc => "kvmalloc",
            Path::Pages => "pages",
            Path::Percpu => "percpu",
        }
    }

    /// The largest size the path takes; larger ones get `EINVAL`.
    fn max_size(self) -> usize {
        match self {
            Path::Kmalloc | Path::Kzalloc | Path::Krealloc | Path::Pages => KMALLOC_MAX_SIZE,
            Path::KmemCache => CACHE_MAX_SIZE,
            Path::Vmalloc | Path::Kvmalloc => VMALLOC_MAX_SIZE,
            Path::Percpu => Percpu::MAX_SIZE,
        }
    }

    /// Whether `leak` may forget an allocation of this path: kmemleak tracks
    /// slab and vmalloc objects, but not pages; a leaked cache object would keep
    /// its cache from being destroyed at rmmod, and a per-CPU leak would be
    /// reported at an address no trace event names.
    fn leakable(self) -> bool {
        matches!(
            self,
            Path::Kmalloc | Path::Kzalloc | Path::Krealloc | Path::Vmalloc | Path::Kvmalloc
        )
    }
}

/// The memory of one allocation; dropping it frees it (in the dropping context).
enum Buffer {
    /// kmalloc and kzalloc (`__GFP_ZERO`).
    Kmalloc(KVec<u8>),
    Krealloc(Krealloced),
    Cache(CacheObject),
    Vmalloc(VVec<u8>),
    Kvmalloc(KVVec<u8>),
    /// `kvmalloc SIZE vmalloc`.
    KvmallocFallback(KvmallocFallback),
    Pages(Pages),
    Percpu(Percpu),
}

/// What the allocator gave for one allocation, measured on the allocation
/// itself, and how.
#[derive(Clone, Copy)]
struct Measured {
    /// Bytes handed out.
    allocated: usize,
    /// How it was measured: `ksize`, `vmalloc_to_page`, `order`, `percpu`.
    how: &'static str,
    /// percpu: the bytes of each CPU's copy, and the possible CPUs.
    unit: usize,
    cpus: usize,
}

impl Buffer {
    /// The C function the allocation was made with.
    fn call(&self) -> &'static str {
        match self {
            // the kernel crate's `Kmalloc`, `Vmalloc`, `KVmalloc` allocators
            Buffer::Kmalloc(_) => "krealloc_node_align",
            Buffer::Vmalloc(_) => "vrealloc_node_align",
            Buffer::Kvmalloc(_) => "kvrealloc_node_align",
            Buffer::Krealloc(_) => "krealloc_node_align",
            Buffer::KvmallocFallback(_) => "vmalloc_huge_node",
            Buffer::Cache(_) => "kmem_cache_alloc",
            Buffer::Pages(_) => "alloc_pages",
            Buffer::Percpu(_) => "pcpu_alloc",
        }
    }

    /// What the allocator gave for this allocation, asked of the allocator
    /// where it can tell (`ksize()` of a slab object, the mapped pages of a
    /// vmalloc area), else what the call was given (the page order; per-CPU
    /// copies, which the percpu allocator rounds to [`Percpu::UNIT_ALIGN`]).
    fn measure(&self, size: usize) -> Measured {
        let by = |(allocated, how): (usize, &'static str)| Measured {
            allocated,
            how,
            unit: 0,
            cpus: 0,
        };
        match self {
            Buffer::Kmalloc(v) => by(proc::vec_allocated(v)),
            Buffer::Vmalloc(v) => by(proc::vec_allocated(v)),
            Buffer::Kvmalloc(v) => by(proc::vec_allocated(v)),
            Buffer::Krealloc(k) => by((k.allocated(), "ksize")),
            Buffer::Cache(o) => by((o.allocated(), "ksize")),
            Buffer::KvmallocFallback(v) => by((v.allocated(), "vmalloc_to_page")),
            Buffer::Pages(p) => Measured {
                allocated: PAGE_SIZE << p.order(),
                how: "order",
                unit: 0,
                cpus: 0,
            },
            Buffer::Percpu(_) => {
                let (unit, cpus) = (
                    size.next_multiple_of(Percpu::UNIT_ALIGN),
                    proc::possible_cpus(),
                );
                Measured {
                    allocated: unit * cpus,
                    how: "percpu",
                    unit,
                    cpus,
                }
            }
        }
    }

    /// The address the allocator returned: the object (kmalloc, caches,
    /// vmalloc), the `struct page` (pages) or the per-CPU pointer (percpu).
    fn addr(&self) -> usize {
        match self {
            Buffer::Kmalloc(v) => v.as_ptr() as usize,
            Buffer::Vmalloc(v) => v.as_ptr() as usize,
            Buffer::Kvmalloc(v) => v.as_ptr() as usize,
            Buffer::KvmallocFallback(v) => v.addr(),
            Buffer::Krealloc(k) => k.addr(),
            Buffer::Cache(o) => o.addr(),
            Buffer::Pages(p) => p.addr(),
            Buffer::Percpu(p) => p.addr(),
        }
    }
}

/// One live allocation, owned by one open file.
struct Allocation {
    file: FileKey,
    pid: i32,
    tid: i32,
    comm: [u8; 16],
    path: Path,
    /// Whether a kvmalloc was served by vmalloc.
    vmalloced: bool,
    /// The size written (the second size of a krealloc).
    requested: usize,
    /// krealloc's first size (0 for the other paths).
    from: usize,
    /// What the allocator handed out for it (see the listing).
    allocated: usize,
    /// The rest of the owner's entry: the address, the call, how `allocated`
    /// was measured.
    ptr: usize,
    call: &'static str,
    measured: Measured,
    /// The allocation itself, only kept to be freed when the entry goes.
    buf: Buffer,
}

/// The owner's entry of an allocation handed to a deferred free, kept for the
/// file until it writes again or closes.
struct Handed {
    file: FileKey,
    /// The deferred free's slot and generation ([`Deferred::freed`]).
    slot: usize,
    gen: u64,
    ctx: Context,
    /// The allocation's entry as it was, with `buf` gone.
    entry: EntryData,
}

/// What an owner's entry shows of an allocation.
#[derive(Clone, Copy)]
struct EntryData {
    pid: i32,
    tid: i32,
    path: &'static str,
    call: &'static str,
    ptr: usize,
    requested: usize,
    from: usize,
    allocated: usize,
    measured: Measured,
    /// The objects it stands for: 1, or a tally's.
    objects: usize,
    /// Those of them not freed yet, unless its state says `freed`.
    held: usize,
}

impl Allocation {
    fn entry(&self) -> EntryData {
        EntryData {
            pid: self.pid,
            tid: self.tid,
            path: self.path_name(),
            call: self.call,
            ptr: self.ptr,
            requested: self.requested,
            from: self.from,
            allocated: self.allocated,
            measured: self.measured,
            objects: 1,
            held: 1,
        }
    }
}

/// One line on the stack: an owner's entry is formatted without allocating.
struct Line {
    buf: [u8; 384],
    len: usize,
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(core::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl EntryData {
    /// The entry's line: `entry KEY=VALUE ...` (the keys are documented at
    /// the top of this file); `state` and `freed_by` say where its free is.
    fn line(&self, free: &str, state: &str, freer: Option<(&[u8; 16], i32)>) -> Result<Line> {
        let mut l = Line {
            buf: [0; 384],
            len: 0,
        };
        let m = &self.measured;
        writeln!(
            l,
            "entry pid={} tid={} path={} call={} ptr={:#x} hash={} requested={} from={} allocated={} \
             measured_by={} unit={} cpus={} free={} state={} freed_by={} freed_pid={} \
             objects={} objects_freed={}",
            self.pid,
            self.tid,
            self.path,
            self.call,
            self.ptr,
            Hashed(&proc::hashed(self.ptr)),
            self.requested,
            self.from,
            self.allocated,
            m.how,
            m.unit,
            m.cpus,
            free,
            state,
            Freer(freer.map(|f| f.0)),
            freer.map_or(0, |f| f.1),
            self.objects,
            if state == "freed" {
                self.objects
            } else {
                self.objects - self.held
            }
        )
        .map_err(|_| ENOMEM)?;
        Ok(l)
    }
}

impl Allocation {
    /// The path as listed: kvmalloc says which allocator served it.
    fn path_name(&self) -> &'static str {
        match (self.path, self.vmalloced) {
            (Path::Kvmalloc, true) => "kvmalloc:vmalloc",
            (Path::Kvmalloc, false) => "kvmalloc:kmalloc",
            (p, _) => p.name(),
        }
    }
}

/// Smallest `kvmalloc SIZE vmalloc`: kvmalloc falls back to vmalloc only
/// above a page ("it doesn't really make sense to fallback to vmalloc for sub
/// page requests", mm/slub.c).
const KVMALLOC_FALLBACK_MIN: usize = PAGE_SIZE + 1;

/// What a write asks for.
enum Command {
    /// `SIZE` (kmalloc) or `PATH SIZE`.
    Alloc(Path, usize),
    /// `kvmalloc SIZE vmalloc`.
    KvmallocVmalloc(usize),
    /// `krealloc FROM TO`.
    Krealloc(usize, usize),
    /// `free-by kworker` / `free-by rcu`.
    FreeBy(Context),
    /// `leak`.
    Leak,
    /// `rate COUNT SIZE`, and whether `hold` follows.
    Rate(usize, usize, bool),
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
    /// Entries of allocations handed to a deferred free, one per file at
    /// most; capacity `max_files`, never grown after load.
    handed: KVec<Handed>,
    /// Listings being read, one per reading open file.
    snapshots: KVec<Snapshot>,
    /// What the `rate` writes of a file made, one per file at most;
    /// capacity `max_files`, never grown after load.
    tallies: KVec<rate::Tally>,
    /// Bytes a `rate` write may hold at once (a batch), while it runs.
    in_rate: usize,
    /// The caches of the `kmem_cache` path, one per size, kept until rmmod;
    /// capacity [`MAX_CACHES`], never grown after load.
    caches: KVec<Arc<Cache>>,
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

    /// Takes the allocation held by `file` out of the list and the totals.
    fn take(&mut self, file: FileKey) -> Option<Allocation> {
        let i = self.live.iter().position(|a| a.file == file)?;
        let last = self.live.len() - 1;
        self.live.as_mut_slice().swap(i, last);
        let a = self.live.pop()?;
        // The vacated slot still holds the moved-out bytes, pointer included;
        // clear them so that kmemleak finds no stale reference to a leaked
        // object in the list.
        if let Some(slot) = self.live.spare_capacity_mut().first_mut() {
            *slot = core::mem::MaybeUninit::zeroed();
        }
        self.requested -= a.requested;
        self.allocated -= a.allocated;
        Some(a)
    }

    /// Logs what happens to `a` (`what`: free, leak, free-by ...).
    fn log(&mut self, what: &str, a: &Allocation) {
        if self.log_allowed() {
            pr_info!(
                "{} pid={} comm={} path={} requested={} allocated={}\n",
                what,
                a.pid,
                Comm(&a.comm),
                a.path_name(),
                a.requested,
                a.allocated
            );
        }
    }

    /// Forgets the entry of a deferred free of `file`, if any.
    fn drop_handed(&mut self, file: FileKey) {
        if let Some(i) = self.handed.iter().position(|h| h.file == file) {
            let last = self.handed.len() - 1;
            self.handed.as_mut_slice().swap(i, last);
            self.handed.pop();
            // As in `take`: no stale copy of the pointer left for kmemleak.
            if let Some(slot) = self.handed.spare_capacity_mut().first_mut() {
                *slot = core::mem::MaybeUninit::zeroed();
            }
        }
    }

    /// Frees the allocation held by `file`, if any, here.
    fn free(&mut self, file: FileKey) {
        if let Some(a) = self.take(file) {
            self.log("free", &a);
            // `a.buf` is freed here.
        }
    }

    /// The cache for objects of `size` bytes, made on first use.
    fn cache(&mut self, size: usize) -> Result<Arc<Cache>> {
        if let Some(c) = self.caches.iter().find(|c| c.size() == size) {
            return Ok(c.clone());
        }
        if self.caches.len() == self.caches.capacity() {
            return Err(ENOMEM);
        }
        let c = Arc::new(Cache::new(size)?, GFP_KERNEL)?;
        self.caches
            .push_within_capacity(c.clone())
            .map_err(|_| ENOMEM)?;
        Ok(c)
    }
}

/// A NUL-terminated ASCII buffer (what `%p` printed).
struct Hashed<'a>(&'a [u8; 24]);

impl core::fmt::Display for Hashed<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0.iter().take_while(|&&b| b != 0) {
            f.write_char(if b.is_ascii_graphic() { b as char } else { '_' })?;
        }
        Ok(())
    }
}

/// A freeing task's command name, or `-` while none is known.
struct Freer<'a>(Option<&'a [u8; 16]>);

impl core::fmt::Display for Freer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(c) => core::fmt::Display::fmt(&Comm(c), f),
            None => f.write_str("-"),
        }
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

/// Parses a decimal size: digits only, 1 to `max`.
fn parse_size(digits: &[u8], max: usize) -> Result<usize> {
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
    if size == 0 || size > max {
        return Err(EINVAL);
    }
    Ok(size)
}

/// Parses a write: words separated by single spaces, at most one trailing newline.
fn parse_command(input: &[u8]) -> Result<Command> {
    let text = input.strip_suffix(b"\n").unwrap_or(input);
    let mut words = text.split(|&b| b == b' ');
    let first = words.next().ok_or(EINVAL)?;
    let (second, third, fourth) = (words.next(), words.next(), words.next());
    if words.next().is_some() || (fourth.is_some() && first != b"rate") {
        return Err(EINVAL);
    }
    let cmd = match (first, second, third) {
        (b"leak", None, None) => Command::Leak,
        (b"rate", Some(count), Some(size)) => Command::Rate(
            parse_size(count, rate::MAX_COUNT)?,
            parse_size(size, rate::MAX_SIZE)?,
            match fourth {
                None => false,
                Some(b"hold") => true,
                Some(_) => return Err(EINVAL),
            },
        ),
        (b"free-by", Some(b"kworker"), None) => Command::FreeBy(Context::Kworker),
        (b"free-by", Some(b"rcu"), None) => Command::FreeBy(Context::Rcu),
        (b"krealloc", Some(from), Some(to)) => Command::Krealloc(
            parse_size(from, KMALLOC_MAX_SIZE)?,
            parse_size(to, KMALLOC_MAX_SIZE)?,
        ),
        (size, None, None) => Command::Alloc(Path::Kmalloc, parse_size(size, KMALLOC_MAX_SIZE)?),
        (b"kvmalloc", Some(size), Some(b"vmalloc")) => {
            match parse_size(size, Path::Kvmalloc.max_size())? {
                s if s < KVMALLOC_FALLBACK_MIN => return Err(EINVAL),
                s => Command::KvmallocVmalloc(s),
            }
        }
        (name, Some(size), None) => {
            let path = Path::ALL
                .into_iter()
                .find(|p| p.name().as_bytes() == name && *p != Path::Krealloc)
                .ok_or(EINVAL)?;
            Command::Alloc(path, parse_size(size, path.max_size())?)
        }
        _ => return Err(EINVAL),
    };
    Ok(cmd)
}

/// The page order that covers `size` bytes (`get_order()`).
fn order_of(size: usize) -> u32 {
    size.div_ceil(PAGE_SIZE)
        .next_power_of_two()
        .trailing_zeros()
}

/// The state behind `/proc/kmalloc_lkm`.
#[pin_data]
struct Allocations {
    /// Frees in a kworker or an RCU callback. Declared first, so that it is
    /// dropped first: its drop waits for every deferred free, and only then do
    /// the caches in `inner` go.
    deferred: Deferred<Buffer>,
    #[pin]
    inner: Mutex<Inner>,
    max_bytes: usize,
    allow_leaks: bool,
}

impl Allocations {
    fn new(
        max_bytes: usize,
        max_files: usize,
        allow_leaks: bool,
    ) -> Result<impl PinInit<Self, Error>> {
        let live = KVec::with_capacity(max_files, GFP_KERNEL)?;
        let handed = KVec::with_capacity(max_files, GFP_KERNEL)?;
        let tallies = KVec::with_capacity(max_files, GFP_KERNEL)?;
        let caches = KVec::with_capacity(MAX_CACHES, GFP_KERNEL)?;
        let deferred = Deferred::new(max_files)?;
        Ok(try_pin_init!(Self {
            deferred,
            inner <- new_mutex!(Inner {
                live,
                handed,
                snapshots: KVec::new(),
                tallies,
                in_rate: 0,
                caches,
                requested: 0,
                allocated: 0,
                log_window: Instant::now(),
                log_count: 0,
                log_suppressed: 0,
            }),
            max_bytes,
            allow_leaks,
        }))
    }

    /// The listing: a header, one line per live allocation, the totals.
    fn listing(&self, inner: &Inner) -> Result<KVec<u8>> {
        let (deferred, deferred_bytes) = self.deferred.pending();
        let (held, held_bytes) = inner.held();
        let mut t = Text(KVec::new());
        let mut fill = || -> core::fmt::Result {
            t.write_str("# pid tid comm requested allocated path\n")?;
            for a in inner.live.iter() {
                writeln!(
                    t,
                    "{} {} {} {} {} {}",
                    a.pid,
                    a.tid,
                    Comm(&a.comm),
                    a.requested,
                    a.allocated,
                    a.path_name()
                )?;
            }
            writeln!(
                t,
                "total allocations={} requested={} allocated={} max_bytes={} deferred={} deferred_bytes={} \
                 held_objects={} held_bytes={}",
                inner.live.len(),
                inner.requested,
                inner.allocated,
                self.max_bytes,
                deferred,
                deferred_bytes,
                held,
                held_bytes
            )
        };
        fill().map_err(|_| ENOMEM)?;
        Ok(t.0)
    }

    /// Makes the allocation of `path` (`from` is krealloc's first size;
    /// `vmalloc`: kvmalloc's vmalloc fallback, without the kmalloc attempt);
    /// returns it and whether vmalloc served a kvmalloc. What it got is
    /// measured afterwards ([`Buffer::measure`]).
    fn allocate(
        &self,
        inner: &mut Inner,
        path: Path,
        from: usize,
        size: usize,
        vmalloc: bool,
    ) -> Result<(Buffer, bool)> {
        Ok(match path {
            Path::Kmalloc => (
                Buffer::Kmalloc(KVec::with_capacity(size, GFP_KERNEL)?),
                false,
            ),
            Path::Kzalloc => (
                Buffer::Kmalloc(KVec::with_capacity(size, GFP_KERNEL | __GFP_ZERO)?),
                false,
            ),
            // krealloc keeps the object when the new size fits in it
            // (shrinking, or growing within the bucket), else moves it.
            Path::Krealloc => (Buffer::Krealloc(Krealloced::new(from, size)?), false),
            Path::KmemCache => {
                let cache = inner.cache(size)?;
                (Buffer::Cache(CacheObject::new(cache)?), false)
            }
            Path::Vmalloc => (
                Buffer::Vmalloc(VVec::with_capacity(size, GFP_KERNEL)?),
                false,
            ),
            Path::Kvmalloc if vmalloc => {
                (Buffer::KvmallocFallback(KvmallocFallback::new(size)?), true)
            }
            Path::Kvmalloc => {
                let v = KVVec::<u8>::with_capacity(size, GFP_KERNEL)?;
                let vmalloced = proc::is_vmalloc(v.as_ptr());
                (Buffer::Kvmalloc(v), vmalloced)
            }
            Path::Pages => (Buffer::Pages(Pages::new(order_of(size))?), false),
            Path::Percpu => (Buffer::Percpu(Percpu::new(size)?), false),
        })
    }

    /// Frees what `file` holds and makes a new allocation for it (see
    /// [`Allocations::allocate`]).
    fn replace(
        &self,
        file: FileKey,
        path: Path,
        from: usize,
        size: usize,
        vmalloc: bool,
    ) -> Result {
        let mut inner = self.inner.lock();
        inner.free(file);
        inner.drop_tally(file);
        if self.over_cap(&inner, size) || inner.live.len() == inner.live.capacity() {
            return Err(ENOMEM);
        }
        inner.drop_handed(file);
        let (buf, vmalloced) = self.allocate(&mut inner, path, from, size, vmalloc)?;
        let measured = buf.measure(size);
        let allocated = measured.allocated;
        let task = current!();
        let a = Allocation {
            file,
            pid: task.group_leader().pid(),
            tid: task.pid(),
            comm: proc::current_comm(),
            path,
            vmalloced,
            requested: size,
            from: if path == Path::Krealloc { from } else { 0 },
            allocated,
            ptr: buf.addr(),
            call: buf.call(),
            measured,
            buf,
        };
        // Cannot fail: `live` has room (checked above, under the same lock). If it
        // did, the allocation would be freed here and the totals left alone: they
        // count an allocation only once it is in the list.
        inner.live.push_within_capacity(a).map_err(|_| ENOMEM)?;
        inner.requested += size;
        inner.allocated += allocated;
        if let Some(a) = inner.live.last() {
            // Copied out, as `log` takes the whole of `inner`.
            let (pid, comm, name, allocated) = (a.pid, a.comm, a.path_name(), a.allocated);
            if inner.log_allowed() {
                pr_info!(
                    "alloc pid={} comm={} path={} requested={} allocated={}\n",
                    pid,
                    Comm(&comm),
                    name,
                    size,
                    allocated
                );
            }
        }
        Ok(())
    }

    /// Whether `more` bytes would take the live bytes (held, handed to a
    /// deferred free not yet run, a running `rate` write's batch and what
    /// `rate ... hold` writes keep) above `max_bytes`.
    fn over_cap(&self, inner: &Inner, more: usize) -> bool {
        let (_, deferred_bytes) = self.deferred.pending();
        inner
            .requested
            .checked_add(more)
            .and_then(|t| t.checked_add(deferred_bytes))
            .and_then(|t| t.checked_add(inner.in_rate))
            .and_then(|t| t.checked_add(inner.held().1))
            .is_none_or(|total| total > self.max_bytes)
    }

    /// Hands what `file` holds to a kworker or an RCU callback to be freed.
    fn free_by(&self, file: FileKey, ctx: Context) -> Result {
        let mut inner = self.inner.lock();
        let a = inner.take(file).ok_or(EINVAL)?;
        let what = match ctx {
            Context::Kworker => "free-by kworker",
            Context::Rcu => "free-by rcu",
        };
        inner.log(what, &a);
        let entry = a.entry();
        let Allocation { requested, buf, .. } = a;
        let handed = match self.deferred.defer(buf, requested, ctx) {
            Ok(at) => Some(at),
            Err(buf) => {
                // Every slot is in flight: wait for them (the callbacks never
                // take the mutex) and try once more; failing that, free it here.
                self.deferred.wait();
                self.deferred.defer(buf, requested, ctx).ok()
            }
        };
        if let Some((slot, gen)) = handed {
            let h = Handed {
                file,
                slot,
                gen,
                ctx,
                entry,
            };
            // Cannot fail: one record per file, and as many slots as files.
            let _ = inner.handed.push_within_capacity(h);
        }
        Ok(())
    }

    /// The entry of the allocation `file` holds, or last handed to a
    /// deferred free; `None` when it has neither.
    fn own_entry(&self, inner: &Inner, file: FileKey) -> Result<Option<Line>> {
        if let Some(a) = inner.live.iter().find(|a| a.file == file) {
            return a.entry().line("close", "live", None).map(Some);
        }
        if let Some(e) = inner.tally_entry(file) {
            return match e.held {
                0 => e.line("write", "freed", None),
                _ => e.line("close", "live", None),
            }
            .map(Some);
        }
        let Some(h) = inner.handed.iter().find(|h| h.file == file) else {
            return Ok(None);
        };
        let ctx = match h.ctx {
            Context::Kworker => "kworker",
            Context::Rcu => "rcu",
        };
        let line = match self.deferred.freed(h.slot, h.gen) {
            Freed::Pending => h.entry.line(ctx, "pending", None)?,
            Freed::By { pid, comm } => h.entry.line(ctx, "freed", Some((&comm, pid)))?,
            Freed::Unknown => h.entry.line(ctx, "freed", None)?,
        };
        Ok(Some(line))
    }

    /// Forgets what `file` holds, on purpose, for kmemleak to find.
    fn leak(&self, file: FileKey) -> Result {
        if !self.allow_leaks {
            return Err(EPERM);
        }
        let mut inner = self.inner.lock();
        match inner.live.iter().find(|a| a.file == file) {
            Some(a) if a.path.leakable() => {}
            _ => return Err(EINVAL),
        }
        let a = inner.take(file).ok_or(EINVAL)?;
        inner.log("leak", &a);
        let (name, requested, allocated) = (a.path_name(), a.requested, a.allocated);
        let Allocation { buf, .. } = a;
        // Printed only with allow_leaks=1, and never rate limited: the address
        // kmemleak will report.
        pr_info!(
            "leaked object at {:#x} path={} requested={} allocated={}\n",
            buf.addr(),
            name,
            requested,
            allocated
        );
        core::mem::forget(buf);
        Ok(())
    }
}

impl ProcFile for Allocations {
    fn read(&self, file: FileKey, out: &mut UserSliceWriter, offset: &mut i64) -> Result<usize> {
        let text = {
            let mut inner = self.inner.lock();
            if let Some(line) = self.own_entry(&inner, file)? {
                drop(inner);
                return out.write_slice_file(&line.buf[..line.len], offset);
            }
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
        match parse_command(&raw[..count])? {
            Command::Alloc(path, size) => self.replace(file, path, 0, size, false)?,
            Command::KvmallocVmalloc(size) => self.replace(file, Path::Kvmalloc, 0, size, true)?,
            Command::Krealloc(from, to) => self.replace(file, Path::Krealloc, from, to, false)?,
            Command::FreeBy(ctx) => self.free_by(file, ctx)?,
            Command::Leak => self.leak(file)?,
            Command::Rate(count, size, hold) => self.rate(file, count, size, hold)?,
        }
        Ok(count)
    }

    fn release(&self, file: FileKey) {
        let mut inner = self.inner.lock();
        inner.free(file);
        inner.drop_handed(file);
        inner.drop_tally(file);
        inner.drop_snapshot(file);
    }
}

/// A module parameter's value: the kernel crate's `value()` returns a reference
/// on Linux 7.2 and a copy on 7.3; this takes either.
fn param<T: Copy, V: core::borrow::Borrow<T>>(v: V) -> T {
    *v.borrow()
}

struct KmallocLkm {
    proc_file: Registration<Allocations>,
}

impl kernel::Module for KmallocLkm {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mode: u16 = param(module_parameters::mode.value());
        let max_bytes: usize = param(module_parameters::max_bytes.value());
        let max_files: usize = param(module_parameters::max_files.value());
        let allow_leaks = param::<u8, _>(module_parameters::allow_leaks.value()) != 0;
        let proc_file = Registration::new(
            c"kmalloc_lkm",
            mode & 0o777,
            Allocations::new(max_bytes, max_files, allow_leaks)?,
        )?;
        pr_info!(
            "loaded: /proc/kmalloc_lkm mode={:o} max_bytes={} max_files={} allow_leaks={}\n",
            mode & 0o777,
            max_bytes,
            max_files,
            allow_leaks
        );
        Ok(Self { proc_file })
    }
}

impl Drop for KmallocLkm {
    fn drop(&mut self) {
        // Removing the entry first releases every open file; then the deferred
        // frees are waited for, and the caches destroyed: nothing is left.
        let live = self.proc_file.data().inner.lock().live.len();
        pr_info!(
            "unloading ({} allocations still held by open files)\n",
            live
        );
    }
}
