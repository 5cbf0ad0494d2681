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

use nix::errno::Errno;

use crate::ledger::{Call, Ledger, Ret, Val};

/// Bytes of the static arena behind [`Arena`]. What a run allocates of its own is
/// bounded (at most [`MAX_ARGS`](crate::cli::MAX_ARGS) arguments of
/// [`MAX_ARG_BYTES`](crate::cli::MAX_ARG_BYTES), the report's 16 KiB buffer, a
/// message), far below this; only the pages it touches become resident.
pub const ARENA_BYTES: usize = 1 << 20;

/// Rust's global allocator in a workload binary (see the module docs).
pub type Arena = talc::TalcLock<spinning_top::RawSpinlock, Pages>;

/// The static arena as talc's source of memory, handed over a page at a time.
///
/// talc tags both ends of the memory it is given, and hands out blocks from the
/// top; given the whole arena at once, the first allocation would fault in the
/// arena's last page besides its first. Handed over as allocations need it, the
/// arena costs a run only the pages it uses: for most runs, part of the page it
/// shares with the binary's data.
#[derive(Debug)]
pub struct Pages {
    base: *mut u8,
    /// Where the handed-over part ends (`base` before the first allocation).
    end: *mut u8,
    limit: *mut u8,
    /// talc's end of its heap, once it has one.
    heap_end: Option<NonNull<u8>>,
}

// SAFETY: Pages is only touched inside talc, behind the allocator's lock.
unsafe impl Send for Pages {}

impl Pages {
    /// # Safety
    /// `arena` must be used by nothing else, for as long as the allocator lives.
    pub const unsafe fn new<const N: usize>(arena: *mut [u8; N]) -> Pages {
        let base = arena.cast::<u8>();
        Pages {
            base,
            end: base,
            // SAFETY: one past the end of the same array.
            limit: unsafe { base.add(N) },
            heap_end: None,
        }
    }
}

// SAFETY: acquire only ever hands talc memory of the arena (from its base up to
// `limit`) that talc has not had, in the order of the arena; nothing else uses it.
unsafe impl talc::source::Source for Pages {
    fn acquire<B: talc::base::binning::Binning>(
        talc: &mut talc::base::Talc<Self, B>,
        layout: std::alloc::Layout,
    ) -> Result<(), ()> {
        const PAGE: usize = 4096;
        let s = &talc.source;
        // Room for the block with talc's overheads (its bins, the first time);
        // too little is no harm: talc asks again, and each ask hands over more.
        let want = layout.size() + layout.align() + talc::min_first_heap_size::<B>();
        let (end, limit) = (s.end as usize, s.limit as usize);
        let new_end = (end.saturating_add(want).saturating_add(PAGE - 1) & !(PAGE - 1)).min(limit);
        if new_end <= end {
            return Err(());
        }
        let new_end_ptr = s.base.wrapping_add(new_end - s.base as usize);
        // SAFETY: base..new_end_ptr lies in the arena (see the impl's comment),
        // and end..new_end_ptr has never been handed over.
        let heap_end = unsafe {
            match s.heap_end {
                None => talc.claim(s.base, new_end - s.base as usize),
                Some(h) => Some(talc.extend(h, new_end_ptr)),
            }
        };
        // A first piece too small for talc's bins claims nothing: a larger one next time.
        talc.source.end = new_end_ptr;
        if heap_end.is_some() {
            talc.source.heap_end = heap_end;
        }
        Ok(())
    }
}

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

/// The calling thread's id, by a raw `gettid` system call: glibc's wrapper would
/// be one more symbol for the dynamic loader to bind at every start.
pub fn tid() -> u64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// One block from `malloc`, freed with `free` on drop.
pub struct CBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// valloc and pvalloc are obsolete but still exported by glibc, and hooked by
// trackers (bcc's memleak); the libc crate does not declare them.
unsafe extern "C" {
    fn valloc(size: libc::size_t) -> *mut libc::c_void;
    fn pvalloc(size: libc::size_t) -> *mut libc::c_void;
}

/// The malloc-family function that makes a [`CBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocFn {
    Malloc,
    /// `calloc(1, size)`.
    Calloc,
    PosixMemalign,
    AlignedAlloc,
    Memalign,
    Valloc,
    Pvalloc,
    /// `realloc(NULL, size)`: realloc as an allocator, a new block (rate-wl).
    Realloc,
}

impl AllocFn {
    /// Every function, by the name `--fn` gives it.
    pub const ALL: [(&'static str, AllocFn); 8] = [
        ("malloc", AllocFn::Malloc),
        ("calloc", AllocFn::Calloc),
        ("realloc", AllocFn::Realloc),
        ("posix_memalign", AllocFn::PosixMemalign),
        ("aligned_alloc", AllocFn::AlignedAlloc),
        ("memalign", AllocFn::Memalign),
        ("valloc", AllocFn::Valloc),
        ("pvalloc", AllocFn::Pvalloc),
    ];

    /// Its C name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("malloc", |(n, _)| n)
    }

    /// Whether it takes an alignment.
    pub fn aligned(self) -> bool {
        matches!(
            self,
            AllocFn::PosixMemalign | AllocFn::AlignedAlloc | AllocFn::Memalign
        )
    }
}

/// Why an allocating call gave NULL: errno, or ENOMEM when nothing set it
/// (POSIX has malloc set ENOMEM; a replacement allocator may not). errno is
/// cleared just before each call, or an earlier call's (the signalfd's EAGAIN)
/// would be taken for the allocator's.
fn null_errno() -> Errno {
    match Errno::last() {
        Errno::UnknownErrno => Errno::ENOMEM,
        e => e,
    }
}

impl CBuffer {
    /// `malloc(len)`; `None` when it returns NULL.
    pub fn malloc(len: usize) -> Option<CBuffer> {
        Self::alloc(AllocFn::Malloc, len, 0).ok()
    }

    /// One block from `f` (`align` for the aligned ones); the error is glibc's
    /// errno (or posix_memalign's result) when it gives no block.
    pub fn alloc(f: AllocFn, len: usize, align: usize) -> Result<CBuffer, Errno> {
        Errno::clear();
        Self::alloc_errno_kept(f, len, align)
    }

    /// [`alloc`](CBuffer::alloc) without clearing errno first, for a loop of
    /// calls that clears it once for many (rate-wl at its top speed, where the
    /// clear, a call into libc, costs a tenth of a malloc and free). glibc
    /// sets errno on every failure; only an allocator that sets none could
    /// then show an errno left by an earlier call of the loop.
    #[inline]
    pub fn alloc_errno_kept(f: AllocFn, len: usize, align: usize) -> Result<CBuffer, Errno> {
        let mut out: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: each function may be called with any size and alignment: bad
        // ones give NULL (or an error code) and set errno, handled below; out
        // is a valid place for posix_memalign to write the pointer.
        let raw = unsafe {
            match f {
                AllocFn::Malloc => libc::malloc(len),
                AllocFn::Calloc => libc::calloc(1, len),
                AllocFn::PosixMemalign => match libc::posix_memalign(&mut out, align, len) {
                    0 => out,
                    e => return Err(Errno::from_raw(e)),
                },
                AllocFn::AlignedAlloc => libc::aligned_alloc(align, len),
                AllocFn::Memalign => libc::memalign(align, len),
                AllocFn::Valloc => valloc(len),
                AllocFn::Pvalloc => pvalloc(len),
                // black_box: LLVM knows realloc(NULL, n) as malloc(n) and would
                // call malloc instead (a tracker would see no realloc).
                AllocFn::Realloc => libc::realloc(black_box(std::ptr::null_mut()), len),
            }
        };
        // Hide where the pointer came from, so the optimizer cannot fuse a later
        // zero fill with this call into calloc (which skips the writes on fresh
        // mmapped pages, and then no page would become resident).
        match NonNull::new(black_box(raw).cast::<u8>()) {
            Some(ptr) => Ok(CBuffer { ptr, len }),
            None => Err(null_errno()),
        }
    }

    /// `realloc(ptr, len)`: on success the block is the new one (perhaps
    /// elsewhere); on failure it is left as it was, and the error is errno.
    pub fn realloc(&mut self, len: usize) -> Result<(), Errno> {
        Errno::clear();
        // SAFETY: ptr came from the malloc family and is live; on failure
        // realloc leaves it untouched, on success the old pointer is replaced.
        let raw = unsafe { libc::realloc(self.ptr.as_ptr().cast(), len) };
        match NonNull::new(raw.cast::<u8>()) {
            Some(ptr) => {
                (self.ptr, self.len) = (ptr, len);
                Ok(())
            }
            None => Err(null_errno()),
        }
    }

    /// Frees the block now (what dropping it does), as an explicit step.
    pub fn free(self) {
        drop(self);
    }

    /// `free(3)` of the block as a workload makes it: an entry of `l` when it
    /// records, the call straight otherwise (no closure or arguments built:
    /// at rate-wl's top speed they cost as much as the free).
    pub fn free_recorded(self, l: &Ledger) {
        if !l.recording() {
            return self.free();
        }
        let args = [("ptr", Val::Addr(self.addr()))];
        let _ = l.call(
            Call::libc("free", &args),
            || {
                self.free();
                Ok(())
            },
            |()| Ret::Void,
        );
    }

    /// Its length, as asked.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (a malloc(0) block).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the block starts.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Writes zeros over the whole block, as CPython does for `bytearray(n)`.
    pub fn fill_zero(&mut self) {
        // SAFETY: the block is len bytes long and owned by self.
        unsafe { self.ptr.as_ptr().write_bytes(0, self.len) };
        black_box(self.ptr);
    }
}

// SAFETY: the block is plain memory from malloc, owned by this one value; glibc's
// malloc and free may be called from any thread (`--threads` frees it in another).
unsafe impl Send for CBuffer {}

// SAFETY: the block is len bytes of malloc's, readable and writable, owned by
// this value until it is freed; no Rust reference points into it.
unsafe impl Writable for CBuffer {
    fn span(&mut self) -> Option<(*mut u8, usize)> {
        Some((self.ptr.as_ptr(), self.len))
    }
}

/// Memory of the process's own that a workload may write: what `--touch` and
/// `--cow` write to ([`touch_pages`]).
///
/// # Safety
/// When [`span`](Writable::span) gives `(start, len)`, the `len` bytes from
/// `start` are mapped readable and writable and are the value's own for as
/// long as it lives: no Rust reference points into them.
pub unsafe trait Writable {
    /// Where the memory starts and how many bytes it has; `None` when the
    /// process may not write it (a range mapped `PROT_NONE`).
    fn span(&mut self) -> Option<(*mut u8, usize)>;
}

/// `--touch`, `--cow`: writes one byte in every page `mem` spans (`page` bytes
/// a page), in address order, so that each becomes resident (copied, after a
/// fork), recorded as the ledger's `touch` access; `false`, writing nothing
/// and recording nothing, when `mem` may not be written.
pub fn touch_pages(mem: &mut impl Writable, page: usize, l: &Ledger) -> bool {
    let Some((start, len)) = mem.span() else {
        return false;
    };
    let addr = start as usize;
    l.access("touch", addr, len as u64, || {
        let mut off = 0;
        while off < len {
            // SAFETY: off < len: the byte lies in the memory span() gave, which
            // Writable promises writable and unreferenced; the write is
            // volatile so that it is made even though nothing reads it.
            unsafe { start.add(off).write_volatile(1) };
            // The next page boundary by address (the block need not start on one).
            off = ((addr + off) / page + 1) * page - addr;
        }
    });
    true
}

/// Runs `f` in a new thread made with `pthread_create` (default attributes),
/// and `meanwhile` here, told whether the thread was made; then joins the thread
/// with `pthread_join` and gives what `f` returned.
///
/// glibc's threads rather than std's: a std thread registers a thread-local
/// destructor (a `calloc` of glibc's) and sets stack attributes (two `malloc`s),
/// which a heap tracker would count as the workload's. What remains is glibc's
/// own: the new thread's TLS vector (`calloc`) and what its exit frees.
pub fn in_thread<F: FnOnce() -> T + Send, T: Send>(
    f: F,
    meanwhile: impl FnOnce(Result<(), Errno>),
) -> Result<T, Errno> {
    struct Job<F, T> {
        f: Option<F>,
        out: Option<T>,
    }
    extern "C" fn start<F: FnOnce() -> T, T>(job: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: job points to the Job of in_thread below, which outlives this
        // thread (joined before it returns) and is not touched there meanwhile.
        let job = unsafe { &mut *job.cast::<Job<F, T>>() };
        if let Some(f) = job.f.take() {
            job.out = Some(f());
        }
        std::ptr::null_mut()
    }
    let mut job = Job {
        f: Some(f),
        out: None,
    };
    let mut id: libc::pthread_t = 0;
    // SAFETY: start::<F, T> matches job's type; job lives on this stack frame
    // until the thread is joined below (this function does not return before,
    // and panics abort), so the borrows that f holds stay valid while it runs.
    let made = unsafe {
        libc::pthread_create(
            &mut id,
            std::ptr::null(),
            start::<F, T>,
            (&raw mut job).cast(),
        )
    };
    if made != 0 {
        meanwhile(Err(Errno::from_raw(made)));
        return Err(Errno::from_raw(made));
    }
    meanwhile(Ok(()));
    // SAFETY: id is the thread made above, joined once.
    let joined = unsafe { libc::pthread_join(id, std::ptr::null_mut()) };
    if joined != 0 {
        // The thread cannot be waited for, so job must outlive this frame.
        std::process::abort();
    }
    job.out.ok_or(Errno::ESRCH)
}

/// Forks. The child runs `child` and leaves with `_exit` and its result as the
/// exit code, never returning here; the parent gets the child's pid.
///
/// Called only while the process has one thread (the run loop's threads are
/// all joined by then), so the child's copy of every lock is unlocked.
pub fn fork_child(child: impl FnOnce() -> i32) -> Result<nix::unistd::Pid, Errno> {
    use nix::unistd::{fork, ForkResult};
    // SAFETY: the process has a single thread (above), so the child may do
    // anything the parent could; it ends with _exit, so it runs no exit handlers
    // or destructors of the parent's.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            crate::ledger::forked();
            let code = child();
            // SAFETY: _exit ends the process at once; nothing runs after it.
            unsafe { libc::_exit(code) }
        }
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
    fn the_arena_is_handed_over_a_page_at_a_time_and_never_overrun() {
        use std::alloc::Layout;
        type Heap = talc::base::Talc<Pages, talc::DefaultBinning>;
        #[repr(align(4096))]
        struct Arena([u8; 64 << 10]);
        let mut arena = Box::new(Arena([0; 64 << 10]));
        let range = arena.0.as_mut_ptr_range();
        let (lo, hi) = (range.start as usize, range.end as usize);
        // SAFETY: the arena is the heap's alone until the test ends.
        let mut heap = Heap::new(unsafe { Pages::new(&raw mut arena.0) });
        let handed = |h: &Heap| h.source.end as usize - lo;
        assert_eq!(handed(&heap), 0, "nothing before the first allocation");
        let one = Layout::from_size_align(24, 8).unwrap();
        // SAFETY: the layouts are valid and not zero-sized.
        let p = unsafe { heap.allocate(one) }.expect("the first block");
        assert_eq!(handed(&heap), 4096, "a small first block takes one page");
        assert!((lo..lo + 4096).contains(&(p.as_ptr() as usize)));
        // Larger blocks make it hand over more, always whole pages, never past the end.
        let mut blocks = vec![];
        // SAFETY: as above.
        while let Some(b) = unsafe { heap.allocate(Layout::from_size_align(5000, 16).unwrap()) } {
            let b = b.as_ptr() as usize;
            assert!(b >= lo && b + 5000 <= hi, "a block outside the arena");
            assert_eq!(handed(&heap) % 4096, 0);
            blocks.push(b);
        }
        assert_eq!(handed(&heap), hi - lo, "all of it, then no more");
        assert!(
            blocks.len() >= 10,
            "{} blocks of 5000 in 64 KiB",
            blocks.len()
        );
    }

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
        assert!(touch_pages(&mut b, page, &Ledger::new(None, false)));
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
        touch_pages(&mut b, 4096, &Ledger::new(None, false));
        b.fill_zero();
        assert!(bytes(&b).iter().all(|&x| x == 0));
    }

    #[test]
    fn null_is_none() {
        assert!(CBuffer::malloc(1 << 50).is_none());
        assert_eq!(
            CBuffer::alloc(AllocFn::Calloc, 1 << 50, 0).err(),
            Some(Errno::ENOMEM)
        );
    }

    #[test]
    fn aligned_blocks_are_aligned() {
        for f in [
            AllocFn::PosixMemalign,
            AllocFn::AlignedAlloc,
            AllocFn::Memalign,
        ] {
            let b = CBuffer::alloc(f, 100, 4096).unwrap();
            assert_eq!(b.addr() % 4096, 0, "{f:?}");
        }
        assert_eq!(
            CBuffer::alloc(AllocFn::Valloc, 10, 0).unwrap().addr() % 4096,
            0
        );
        // posix_memalign refuses an alignment that is not a power of two.
        assert_eq!(
            CBuffer::alloc(AllocFn::PosixMemalign, 10, 24).err(),
            Some(Errno::EINVAL)
        );
    }

    #[test]
    fn realloc_keeps_the_contents() {
        let mut b = CBuffer::alloc(AllocFn::Calloc, 100, 0).unwrap();
        touch_pages(&mut b, 4096, &Ledger::new(None, false));
        b.realloc(300_000).unwrap();
        assert_eq!(bytes(&b)[0], 1);
        assert_eq!(b.len, 300_000);
        assert!(b.realloc(1 << 50).is_err());
        assert_eq!(b.len, 300_000);
    }
}
