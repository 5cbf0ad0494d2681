// SPDX-License-Identifier: GPL-2.0

//! Minimal procfs support and the raw allocation paths: all of the module's
//! `unsafe` code lives here.
//!
//! C headers: [`include/linux/proc_fs.h`](srctree/include/linux/proc_fs.h).
//!
//! The kernel crate has no procfs abstraction, and `proc_create_data`,
//! `proc_remove` and `struct proc_ops` are not in its generated bindings.
//! This file declares the two functions itself, mirrors `struct proc_ops` with
//! `#[repr(C)]` and wraps them the way `kernel::miscdevice` wraps a misc device:
//!
//! - [`ProcFile`] is the trait a proc file's state implements (open, read,
//!   write, release);
//! - [`Registration`] owns that state, creates `/proc/<name>` with a vtable built
//!   from the trait and removes the entry again on drop.
//!
//! Open files are told apart by a [`FileKey`] (the identity of the `struct file`)
//! instead of per-file private data, so that opening and closing the proc file
//! does not allocate anything with kmalloc: the only kmalloc calls of a
//! workload are the ones the module makes on purpose.
//!
//! The second half wraps the allocation paths the kernel crate has no type for
//! (krealloc to an exact size, kvmalloc's vmalloc fallback, slab caches, pages
//! of any order, per-CPU memory), each as an owner that frees on drop, and [`Deferred`]: frees run
//! by a kworker or an RCU callback.
//! It also measures what the allocator gave, for the owner's entry
//! (`ksize()`, a vmalloc area's mapped pages, the possible CPUs) and prints a
//! pointer as `%p` does.

use core::{
    cell::UnsafeCell,
    ffi::c_void,
    marker::PhantomData,
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering},
};
use kernel::{
    bindings,
    ffi::{c_char, c_int},
    prelude::*,
    sync::Arc,
    uaccess::{UserPtr, UserSlice, UserSliceReader, UserSliceWriter},
};

/// Mirror of `struct proc_ops` from `include/linux/proc_fs.h`.
///
/// `CONFIG_RUST` excludes `CONFIG_RANDSTRUCT`, so `__randomize_layout` does not
/// reorder the C struct, and the kernel passes every enabled option to rustc as a
/// cfg, so `proc_compat_ioctl` is present exactly when the C field is.
#[repr(C)]
struct ProcOps {
    proc_flags: u32,
    proc_open: Option<unsafe extern "C" fn(*mut bindings::inode, *mut bindings::file) -> c_int>,
    proc_read: Option<
        unsafe extern "C" fn(
            *mut bindings::file,
            *mut c_char,
            usize,
            *mut bindings::loff_t,
        ) -> isize,
    >,
    proc_read_iter:
        Option<unsafe extern "C" fn(*mut bindings::kiocb, *mut bindings::iov_iter) -> isize>,
    proc_write: Option<
        unsafe extern "C" fn(
            *mut bindings::file,
            *const c_char,
            usize,
            *mut bindings::loff_t,
        ) -> isize,
    >,
    proc_lseek: Option<
        unsafe extern "C" fn(*mut bindings::file, bindings::loff_t, c_int) -> bindings::loff_t,
    >,
    proc_release: Option<unsafe extern "C" fn(*mut bindings::inode, *mut bindings::file) -> c_int>,
    proc_poll: Option<
        unsafe extern "C" fn(
            *mut bindings::file,
            *mut bindings::poll_table_struct,
        ) -> bindings::__poll_t,
    >,
    proc_ioctl: Option<unsafe extern "C" fn(*mut bindings::file, u32, usize) -> isize>,
    #[cfg(CONFIG_COMPAT)]
    proc_compat_ioctl: Option<unsafe extern "C" fn(*mut bindings::file, u32, usize) -> isize>,
    proc_mmap:
        Option<unsafe extern "C" fn(*mut bindings::file, *mut bindings::vm_area_struct) -> c_int>,
    proc_get_unmapped_area:
        Option<unsafe extern "C" fn(*mut bindings::file, usize, usize, usize, usize) -> usize>,
}

/// Opaque `struct proc_dir_entry`.
#[repr(C)]
struct ProcDirEntry {
    _private: [u8; 0],
}

extern "C" {
    fn proc_create_data(
        name: *const c_char,
        mode: bindings::umode_t,
        parent: *mut ProcDirEntry,
        proc_ops: *const ProcOps,
        data: *mut c_void,
    ) -> *mut ProcDirEntry;
    fn proc_remove(entry: *mut ProcDirEntry);
    // `include/linux/vmalloc.h`; exported, but not in the generated bindings.
    fn vmalloc_huge_node_noprof(
        size: kernel::ffi::c_ulong,
        gfp_mask: bindings::gfp_t,
        node: c_int,
    ) -> *mut c_void;
}

/// What the slab allocator handed out for the live object at `ptr`: `ksize()`,
/// the object's usable size (the kmalloc bucket, the cache's object, or the
/// pages of a large kmalloc).
///
/// # Safety
///
/// `ptr` is a live kmalloc or kmem_cache object that stays live across the call.
unsafe fn ksize(ptr: *const u8) -> usize {
    // SAFETY: The caller guarantees a live slab object.
    unsafe { bindings::ksize(ptr.cast()) }
}

/// The mapped size of the live vmalloc area starting at `ptr`: its pages are
/// looked up one by one in the kernel's page tables (`vmalloc_to_page`) until
/// the unmapped guard page that ends every area. (`find_vm_area`, which would
/// give the size directly, is not exported to modules.)
///
/// # Safety
///
/// `ptr` is the start of a live vmalloc area with a guard page (any vmalloc,
/// vrealloc or kvmalloc fallback) that stays live across the call.
unsafe fn vmalloc_mapped(ptr: *const u8) -> usize {
    let page = kernel::page::PAGE_SIZE;
    let mut size = 0;
    loop {
        // SAFETY: `ptr + size` is within the area or its guard page (the loop
        // stops at the first unmapped page), all in the vmalloc range;
        // vmalloc_to_page only walks the page tables.
        let p = unsafe { bindings::vmalloc_to_page(ptr.wrapping_add(size).cast()) };
        if p.is_null() {
            return size;
        }
        size += page;
    }
}

/// What the allocator gave for the buffer of a kernel crate vector (`KVec`,
/// `VVec`, `KVVec`), and how it was measured: `ksize()` of a kmalloc object,
/// or the mapped pages of a vmalloc area (`KVVec` may hold either).
pub(crate) fn vec_allocated<A: kernel::alloc::Allocator>(
    v: &kernel::alloc::Vec<u8, A>,
) -> (usize, &'static str) {
    if v.capacity() == 0 {
        return (0, "none");
    }
    let p = v.as_ptr();
    if is_vmalloc(p) {
        // SAFETY: A vector with capacity owns the buffer its allocator
        // returned, here a vmalloc area (by its address), live while `v` is
        // borrowed.
        (unsafe { vmalloc_mapped(p) }, "vmalloc_to_page")
    } else {
        // SAFETY: As above, a kmalloc object.
        (unsafe { ksize(p) }, "ksize")
    }
}

/// `addr` as `%p` prints it (NUL terminated): hashed with the kernel's key of
/// this boot, as tracefs prints the `ptr=` and `page=` of its events (raw
/// with `no_hash_pointers`, like them).
pub(crate) fn hashed(addr: usize) -> [u8; 24] {
    let mut buf = [0u8; 24];
    // SAFETY: `buf` is writable for its length, which snprintf respects and
    // NUL terminates within; "%p" takes one pointer argument, given, which it
    // only hashes (never dereferences).
    unsafe {
        bindings::snprintf(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%p".as_char_ptr(),
            addr as *const c_void,
        )
    };
    buf
}

/// The number of possible CPUs (`num_possible_cpus()`): a per-CPU allocation
/// has one copy on each.
pub(crate) fn possible_cpus() -> usize {
    // SAFETY: `__num_possible_cpus` is set during boot, before modules load,
    // and only read afterwards.
    unsafe { core::ptr::addr_of!(bindings::__num_possible_cpus).read() as usize }
}

/// The command name (`comm`) of the current task, NUL padded.
pub(crate) fn current_comm() -> [u8; 16] {
    let mut out = [0u8; 16];
    let task = kernel::task::Task::current_raw();
    // SAFETY: `current` is a valid task for the duration of this call.
    // `comm` is a fixed-size array that is only ever rewritten in place
    // (`__set_task_comm`); like `__get_task_comm` in C we copy it byte by byte
    // without a lock, with volatile reads, and may see a mix of two names.
    let comm = unsafe { core::ptr::addr_of!((*task).comm) }.cast::<u8>();
    let len = core::mem::size_of::<[c_char; 16]>().min(out.len());
    for (i, byte) in out.iter_mut().enumerate().take(len) {
        // SAFETY: `i < len` stays within the `comm` array (see above).
        *byte = unsafe { core::ptr::read_volatile(comm.add(i)) };
    }
    if let Some(nul) = out.iter().position(|&b| b == 0) {
        out[nul..].fill(0);
    }
    out
}

/// Identity of an open file: stays the same from open to release and is unique
/// among the files open at one time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileKey(usize);

/// The state behind a proc file, shared by all its open files.
pub(crate) trait ProcFile: Sync + Send + Sized {
    /// Called when the file is opened.
    fn open(&self, _file: FileKey) -> Result {
        Ok(())
    }

    /// Reads from the file at `*offset` into `out`, advancing `*offset`.
    fn read(&self, file: FileKey, out: &mut UserSliceWriter, offset: &mut i64) -> Result<usize>;

    /// Handles a write of `input.len()` bytes; returns the number of bytes consumed.
    fn write(&self, file: FileKey, input: UserSliceReader) -> Result<usize>;

    /// Called once when the file is released: on the last close, or for every
    /// file still open when the entry is removed.
    fn release(&self, file: FileKey);
}

/// The `struct proc_ops` of a [`ProcFile`] implementation.
struct ProcOpsVTable<T: ProcFile>(PhantomData<T>);

impl<T: ProcFile> ProcOpsVTable<T> {
    const VTABLE: ProcOps = ProcOps {
        proc_flags: 0,
        proc_open: Some(Self::open),
        proc_read: Some(Self::read),
        proc_read_iter: None,
        proc_write: Some(Self::write),
        proc_lseek: Some(bindings::default_llseek),
        proc_release: Some(Self::release),
        proc_poll: None,
        proc_ioctl: None,
        #[cfg(CONFIG_COMPAT)]
        proc_compat_ioctl: None,
        proc_mmap: None,
        proc_get_unmapped_area: None,
    };

    /// # Safety
    ///
    /// `inode` must be the inode of a proc entry created by [`Registration::new`]
    /// with this vtable, and the entry must not have been removed completely.
    unsafe fn data<'a>(inode: *const bindings::inode) -> &'a T {
        // SAFETY: By the function's requirements `i_private` (what `pde_data()`
        // returns) is the pointer to `T` given to `proc_create_data`. procfs
        // waits for all callbacks to return and releases all open files before
        // `proc_remove` returns, and `Registration` frees `T` only after that.
        unsafe { &*(*inode).i_private.cast::<T>() }
    }

    /// # Safety
    ///
    /// `file` must be an open file of a proc entry created with this vtable.
    unsafe fn file_data<'a>(file: *mut bindings::file) -> &'a T {
        // SAFETY: An open file has a valid inode; the rest is the caller's
        // guarantee as required by `data`.
        unsafe { Self::data((*file).f_inode) }
    }

    /// # Safety
    ///
    /// Called by procfs with the inode and file of an entry of this vtable.
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: procfs passes the inode of our entry while it is alive.
        let data = unsafe { Self::data(inode) };
        match data.open(FileKey(file as usize)) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by procfs with an open file of this vtable, a user buffer of
    /// `count` bytes and a valid position pointer.
    unsafe extern "C" fn read(
        file: *mut bindings::file,
        buf: *mut c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: procfs passes an open file of our entry.
        let data = unsafe { Self::file_data(file) };
        let mut out = UserSlice::new(UserPtr::from_ptr(buf.cast()), count).writer();
        // SAFETY: `pos` is valid for reads and writes for the duration of the call.
        let mut offset = unsafe { *pos };
        let ret = match data.read(FileKey(file as usize), &mut out, &mut offset) {
            Ok(n) => n as isize,
            Err(e) => return e.to_errno() as isize,
        };
        // SAFETY: As above.
        unsafe { *pos = offset };
        ret
    }

    /// # Safety
    ///
    /// Called by procfs with an open file of this vtable and a user buffer of
    /// `count` bytes.
    unsafe extern "C" fn write(
        file: *mut bindings::file,
        buf: *const c_char,
        count: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: procfs passes an open file of our entry.
        let data = unsafe { Self::file_data(file) };
        let input = UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), count).reader();
        match data.write(FileKey(file as usize), input) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by procfs once per open file of this vtable, on close or removal.
    unsafe extern "C" fn release(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: procfs passes the inode of our entry; during removal it calls
        // release before `proc_remove` returns.
        let data = unsafe { Self::data(inode) };
        data.release(FileKey(file as usize));
        0
    }
}

/// A proc file `/proc/<name>` backed by a [`ProcFile`].
///
/// # Invariants
///
/// `entry` was returned by `proc_create_data` with `data` as its private data
/// and is removed exactly once, in [`Drop`], before `data` is freed.
pub(crate) struct Registration<T: ProcFile> {
    entry: NonNull<ProcDirEntry>,
    data: Pin<KBox<T>>,
}

// SAFETY: The entry may be removed from any thread, and `T` is `Send`.
unsafe impl<T: ProcFile> Send for Registration<T> {}
// SAFETY: `&Registration` only gives out `&T`, and `T` is `Sync`.
unsafe impl<T: ProcFile> Sync for Registration<T> {}

impl<T: ProcFile> Registration<T> {
    /// Initializes the state with `init` and creates `/proc/<name>` with `mode`.
    pub(crate) fn new(
        name: &'static CStr,
        mode: u16,
        init: impl PinInit<T, Error>,
    ) -> Result<Self> {
        let data = KBox::try_pin_init(init, GFP_KERNEL)?;
        let ptr: *const T = &*data;
        // SAFETY: `name` is a NUL-terminated string that outlives the entry,
        // the vtable is a promoted constant ('static) and `ptr` stays valid until
        // the entry is removed (type invariant).
        let entry = unsafe {
            proc_create_data(
                name.as_char_ptr(),
                mode,
                core::ptr::null_mut(),
                &ProcOpsVTable::<T>::VTABLE,
                ptr.cast_mut().cast(),
            )
        };
        let entry = NonNull::new(entry).ok_or(ENOMEM)?;
        // INVARIANT: `entry` was just created with `data` as its private data.
        Ok(Self { entry, data })
    }

    /// The state behind the proc file.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }
}

impl<T: ProcFile> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: `entry` is live (type invariant). `proc_remove` waits for
        // running callbacks and calls release for every file still open before it
        // returns, so no callback can see `data` after this; `data` is dropped
        // after this function.
        unsafe { proc_remove(self.entry.as_ptr()) };
    }
}

// ---------------------------------------------------------------------------
// Allocation paths without a kernel crate type, and frees in another context.
//
// The kernel crate of 7.2 covers kmalloc, vmalloc and kvmalloc (`KVec`, `VVec`,
// `KVVec`) and single pages (`Page`, order 0 only). What follows wraps the rest
// the same way: one owner type per path that frees on drop.

/// `gfp_t` of `GFP_KERNEL` (the crate's `Flags` does not give its raw value to
/// modules).
const GFP: bindings::gfp_t = bindings::GFP_KERNEL;

/// Whether `ptr` lies in the vmalloc area (`is_vmalloc_addr()`).
pub(crate) fn is_vmalloc(ptr: *const u8) -> bool {
    // SAFETY: `is_vmalloc_addr` only compares the address with the bounds of the
    // vmalloc area; it never dereferences it.
    unsafe { bindings::is_vmalloc_addr(ptr.cast()) }
}

/// A kmalloc object made by `krealloc(NULL, from)` and then resized by
/// `krealloc(ptr, to)`, both with this function as the call site; freed with
/// `kfree`.
///
/// # Invariants
///
/// `ptr` was returned by `krealloc_node_align_noprof` and is owned by `self`.
pub(crate) struct Krealloced {
    ptr: NonNull<c_void>,
}

// SAFETY: The object is owned; kfree may run on any thread.
unsafe impl Send for Krealloced {}

impl Krealloced {
    /// kmallocs `from` bytes, then kreallocs them to `to` bytes.
    pub(crate) fn new(from: usize, to: usize) -> Result<Self> {
        let raw = |p: *const c_void, size: usize| {
            // SAFETY: `p` is NULL or a live kmalloc object owned by this
            // function; alignment 1 is a power of two.
            unsafe { bindings::krealloc_node_align_noprof(p, size, 1, GFP, bindings::NUMA_NO_NODE) }
        };
        let first = NonNull::new(raw(core::ptr::null(), from)).ok_or(ENOMEM)?;
        match NonNull::new(raw(first.as_ptr(), to)) {
            // INVARIANT: `ptr` came from krealloc and `first` is no longer ours
            // (krealloc freed it or returned it as `ptr`).
            Some(ptr) => Ok(Self { ptr }),
            None => {
                // SAFETY: krealloc failed and left `first` alone; it is ours.
                unsafe { bindings::kfree(first.as_ptr()) };
                Err(ENOMEM)
            }
        }
    }
}

impl Krealloced {
    /// What the allocator gave: `ksize()` of the object.
    pub(crate) fn allocated(&self) -> usize {
        // SAFETY: `ptr` is a live kmalloc object owned by `self` (invariant).
        unsafe { ksize(self.ptr.as_ptr().cast()) }
    }

    /// The object's address.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

impl Drop for Krealloced {
    fn drop(&mut self) {
        // SAFETY: `ptr` is a live kmalloc object owned by `self` (invariant).
        unsafe { bindings::kfree(self.ptr.as_ptr()) };
    }
}

/// A kvmalloc served by its vmalloc fallback without the kmalloc attempt
/// first: what `kvmalloc(size, GFP_KERNEL)` does above a page once kmalloc has
/// failed, i.e. `__vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END,
/// GFP_KERNEL, PAGE_KERNEL, VM_ALLOW_HUGE_VMAP, NUMA_NO_NODE, caller)`, which
/// is `vmalloc_huge_node(size, GFP_KERNEL, NUMA_NO_NODE)`; freed with `kvfree`
/// like any kvmalloc.
///
/// # Invariants
///
/// `ptr` was returned by `vmalloc_huge_node_noprof` and is owned by `self`.
pub(crate) struct KvmallocFallback {
    ptr: NonNull<c_void>,
}

// SAFETY: The area is owned; kvfree (vfree) may run on any thread, and hands
// itself to a kworker in interrupt context.
unsafe impl Send for KvmallocFallback {}

impl KvmallocFallback {
    /// vmallocs `size` bytes as kvmalloc's fallback does.
    pub(crate) fn new(size: usize) -> Result<Self> {
        let size = kernel::ffi::c_ulong::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: GFP_KERNEL may sleep, which the caller (a write handler) may;
        // vmalloc checks the size itself and returns NULL on failure.
        let p = unsafe { vmalloc_huge_node_noprof(size, GFP, bindings::NUMA_NO_NODE) };
        // INVARIANT: a non-NULL `p` is a fresh vmalloc area, now ours.
        NonNull::new(p).map(|ptr| Self { ptr }).ok_or(ENOMEM)
    }

    /// What the allocator gave: the area's mapped pages.
    pub(crate) fn allocated(&self) -> usize {
        // SAFETY: `ptr` starts a live vmalloc area owned by `self` (invariant).
        unsafe { vmalloc_mapped(self.ptr.as_ptr().cast()) }
    }

    /// The area's address.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

impl Drop for KvmallocFallback {
    fn drop(&mut self) {
        // SAFETY: `ptr` is a live vmalloc area owned by `self` (invariant).
        unsafe { bindings::kvfree(self.ptr.as_ptr()) };
    }
}

/// A slab cache of objects of one size, made by the module
/// (`kmem_cache_create("kmalloc_lkm-SIZE", SIZE, ..., SLAB_NO_MERGE)`: not merged
/// with the kmalloc caches, so its objects are traced under its own name).
///
/// # Invariants
///
/// `ptr` was returned by `kmem_cache_create` and is destroyed only in `drop`.
pub(crate) struct Cache {
    ptr: NonNull<bindings::kmem_cache>,
    size: usize,
}

// SAFETY: A kmem_cache may be used from any thread.
unsafe impl Send for Cache {}
// SAFETY: Allocating from and freeing to a kmem_cache are thread safe.
unsafe impl Sync for Cache {}

impl Cache {
    /// Creates the cache for objects of `size` bytes (may sleep).
    pub(crate) fn new(size: usize) -> Result<Self> {
        let object_size = u32::try_from(size).map_err(|_| EINVAL)?;
        // "kmalloc_lkm-" and up to 10 digits, NUL terminated; kmem_cache_create
        // copies the name.
        let mut name = [0u8; 32];
        let prefix = b"kmalloc_lkm-";
        name[..prefix.len()].copy_from_slice(prefix);
        let mut digits = [0u8; 10];
        let (mut n, mut len) = (size, 0);
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            name[prefix.len() + i] = digits[len - 1 - i];
        }
        let mut args = bindings::kmem_cache_args::default();
        let flags = 1 << bindings::_slab_flag_bits__SLAB_NO_MERGE;
        // SAFETY: `name` is NUL terminated (zero filled past the digits) and
        // lives across the call, which copies it; `args` is a valid, zeroed
        // argument block.
        let ptr = unsafe {
            bindings::__kmem_cache_create_args(name.as_ptr().cast(), object_size, &mut args, flags)
        };
        // INVARIANT: `ptr` was just created.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
            size,
        })
    }

    /// The object size the cache was made for.
    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // SAFETY: `ptr` is live (invariant) and every object of it holds an `Arc`
        // of this cache, so none is left when the last one is dropped.
        unsafe { bindings::kmem_cache_destroy(self.ptr.as_ptr()) };
    }
}

/// One object of a [`Cache`], freed with `kmem_cache_free`.
///
/// # Invariants
///
/// `obj` was allocated from `cache` and is owned by `self`.
pub(crate) struct CacheObject {
    cache: Arc<Cache>,
    obj: NonNull<c_void>,
}

// SAFETY: The object is owned; kmem_cache_free may run on any thread.
unsafe impl Send for CacheObject {}

impl CacheObject {
    /// `kmem_cache_alloc(cache, GFP_KERNEL)`.
    pub(crate) fn new(cache: Arc<Cache>) -> Result<Self> {
        // SAFETY: `cache.ptr` is a live cache (invariant of `Cache`).
        let obj = unsafe { bindings::kmem_cache_alloc_noprof(cache.ptr.as_ptr(), GFP) };
        // INVARIANT: `obj` was just allocated from `cache`.
        Ok(Self {
            obj: NonNull::new(obj).ok_or(ENOMEM)?,
            cache,
        })
    }
}

impl CacheObject {
    /// What the allocator gave: `ksize()` of the object.
    pub(crate) fn allocated(&self) -> usize {
        // SAFETY: `obj` is a live object of the cache, owned by `self` (invariant).
        unsafe { ksize(self.obj.as_ptr().cast()) }
    }

    /// The address the allocator returned.
    pub(crate) fn addr(&self) -> usize {
        self.obj.as_ptr() as usize
    }
}

impl Drop for CacheObject {
    fn drop(&mut self) {
        // SAFETY: `obj` is a live object of `cache` (invariant), and `cache` is
        // alive while `self` holds its `Arc`.
        unsafe { bindings::kmem_cache_free(self.cache.ptr.as_ptr(), self.obj.as_ptr()) };
    }
}

/// `alloc_pages(GFP_KERNEL, order)`, freed with `__free_pages(page, order)`.
///
/// # Invariants
///
/// `page` heads a block of `1 << order` pages owned by `self`.
pub(crate) struct Pages {
    page: NonNull<bindings::page>,
    order: u32,
}

// SAFETY: Pages are not tied to a thread.
unsafe impl Send for Pages {}

impl Pages {
    /// Allocates `1 << order` pages (`order <= MAX_PAGE_ORDER`).
    pub(crate) fn new(order: u32) -> Result<Self> {
        if order > bindings::MAX_PAGE_ORDER {
            return Err(EINVAL);
        }
        // SAFETY: GFP_KERNEL may sleep, which the caller (a write handler) may;
        // the order is within MAX_PAGE_ORDER.
        let page = unsafe { bindings::alloc_pages(GFP, order) };
        // INVARIANT: a successful alloc_pages gives us the block.
        Ok(Self {
            page: NonNull::new(page).ok_or(ENOMEM)?,
            order,
        })
    }
}

impl Pages {
    /// The order the block was allocated with.
    pub(crate) fn order(&self) -> u32 {
        self.order
    }

    /// The address the allocator returned.
    pub(crate) fn addr(&self) -> usize {
        self.page.as_ptr() as usize
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: `page` heads a block of this order owned by `self` (invariant).
        unsafe { bindings::__free_pages(self.page.as_ptr(), self.order) };
    }
}

/// Per-CPU memory, `__alloc_percpu(size, 8)`, freed with `free_percpu`.
///
/// # Invariants
///
/// `ptr` was returned by `pcpu_alloc_noprof` and is owned by `self`.
pub(crate) struct Percpu {
    ptr: NonNull<c_void>,
}

// SAFETY: Per-CPU memory may be freed from any thread (and atomic context).
unsafe impl Send for Percpu {}

impl Percpu {
    /// The alignment asked for.
    pub(crate) const ALIGN: usize = 8;
    /// What the percpu allocator rounds each CPU's copy up to
    /// (`PCPU_MIN_ALLOC_SIZE`, as `pcpu_alloc` does first).
    pub(crate) const UNIT_ALIGN: usize = bindings::PCPU_MIN_ALLOC_SIZE as usize;
    /// The largest size the percpu allocator takes (`PCPU_MIN_UNIT_SIZE`); larger
    /// requests are refused with a kernel warning, so the module refuses them first.
    pub(crate) const MAX_SIZE: usize = 32 << 10;

    /// Allocates `size` bytes on every possible CPU.
    pub(crate) fn new(size: usize) -> Result<Self> {
        if size == 0 || size > Self::MAX_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: `size` is within the allocator's limits and the alignment is a
        // power of two; GFP_KERNEL may sleep here.
        let ptr = unsafe { bindings::pcpu_alloc_noprof(size, Self::ALIGN, false, GFP) };
        // INVARIANT: a successful allocation is ours.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }
}

impl Percpu {
    /// The address the allocator returned.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

impl Drop for Percpu {
    fn drop(&mut self) {
        // SAFETY: `ptr` is a live per-CPU allocation owned by `self` (invariant).
        unsafe { bindings::free_percpu(self.ptr.as_ptr()) };
    }
}

/// Where a deferred free runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    /// A work item on `system_unbound_wq`: a `kworker/u*` thread.
    Kworker,
    /// An RCU callback (`call_rcu`), after a grace period: softirq context.
    Rcu,
}

/// One deferred free: an item dropped by a work item or an RCU callback.
#[repr(C)]
struct Slot<T> {
    rcu: UnsafeCell<bindings::callback_head>,
    work: UnsafeCell<bindings::work_struct>,
    /// Set while the slot holds an item on its way to being dropped.
    busy: AtomicBool,
    /// The item's size in bytes, for the totals.
    bytes: AtomicUsize,
    item: UnsafeCell<Option<T>>,
    /// Bumped by every `defer` of this slot: which hand-off a record is of.
    gen: AtomicU64,
    /// The `gen` of the last item dropped, written after `freer_*`.
    freed_gen: AtomicU64,
    /// The task that ran the drop: its pid and command name.
    freer_pid: AtomicI32,
    freer_comm: [AtomicU8; 16],
}

/// Who dropped a deferred item, as [`Deferred::freed`] tells.
#[derive(Clone, Copy)]
pub(crate) enum Freed {
    /// Not yet: the work item or RCU callback has not run.
    Pending,
    /// By the task `pid` named `comm` (the kworker, or the task an RCU
    /// callback's softirq interrupted).
    By { pid: i32, comm: [u8; 16] },
    /// Done, but the slot has been used again since: who did it is gone.
    Unknown,
}

/// A fixed set of slots for frees in another context (a kworker or an RCU
/// callback), taken in the writer's context without allocating anything.
///
/// # Invariants
///
/// `slots` is never resized after `new`, so every slot keeps its address; each
/// slot's `work` was initialised with [`Deferred::work_fn`]. A slot's `item` is
/// only touched by whoever set `busy` from `false` to `true`, until the callback
/// that drops the item clears `busy` again.
pub(crate) struct Deferred<T: Send> {
    slots: KVec<Slot<T>>,
}

// SAFETY: Items are `Send` and each is touched by one thread at a time (invariant).
unsafe impl<T: Send> Send for Deferred<T> {}
// SAFETY: As above; the shared state is atomics and the C work/RCU machinery.
unsafe impl<T: Send> Sync for Deferred<T> {}

impl<T: Send> Deferred<T> {
    /// Makes `n` slots (allocated once, now).
    pub(crate) fn new(n: usize) -> Result<Self> {
        let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            slots.push(
                Slot {
                    rcu: UnsafeCell::new(bindings::callback_head::default()),
                    // SAFETY: An all-zero work_struct is what INIT_WORK starts from.
                    work: UnsafeCell::new(unsafe { core::mem::zeroed() }),
                    busy: AtomicBool::new(false),
                    bytes: AtomicUsize::new(0),
                    item: UnsafeCell::new(None),
                    gen: AtomicU64::new(0),
                    freed_gen: AtomicU64::new(0),
                    freer_pid: AtomicI32::new(0),
                    freer_comm: Default::default(),
                },
                GFP_KERNEL,
            )?;
        }
        let key = kernel::static_lock_class!();
        for slot in slots.iter() {
            // SAFETY: `work` is in its final place (the vector is never resized)
            // and not queued; the name and lock class key are static.
            unsafe {
                bindings::init_work_with_key(
                    slot.work.get(),
                    Some(Self::work_fn),
                    false,
                    c"kmalloc_lkm_free".as_char_ptr(),
                    key.as_ptr(),
                )
            };
        }
        // INVARIANT: all slots are in place and their works initialised.
        Ok(Self { slots })
    }

    /// Hands `item` (`bytes` long) to `ctx` to be dropped there; returns the
    /// slot and generation that [`Deferred::freed`] takes. Gives the item
    /// back when every slot is busy.
    pub(crate) fn defer(&self, item: T, bytes: usize, ctx: Context) -> Result<(usize, u64), T> {
        let Some((index, slot)) = self.slots.iter().enumerate().find(|(_, s)| {
            s.busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        }) else {
            return Err(item);
        };
        slot.bytes.store(bytes, Ordering::Relaxed);
        let gen = slot.gen.fetch_add(1, Ordering::Relaxed) + 1;
        // SAFETY: We set `busy`, so the item is ours until the callback (invariant).
        unsafe { *slot.item.get() = Some(item) };
        match ctx {
            Context::Kworker => {
                // SAFETY: The work is initialised and not queued (its slot was
                // free); the queue is a system workqueue that lives forever.
                unsafe {
                    bindings::queue_work_on(
                        bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                        bindings::system_unbound_wq,
                        slot.work.get(),
                    )
                };
            }
            // SAFETY: The head is not queued (its slot was free) and stays valid
            // until the callback ran: `wait` (called before the slots go) waits
            // for it with rcu_barrier().
            Context::Rcu => unsafe { bindings::call_rcu(slot.rcu.get(), Some(Self::rcu_fn)) },
        }
        Ok((index, gen))
    }

    /// Who dropped the item that `defer` handed to `slot` as `gen`.
    pub(crate) fn freed(&self, slot: usize, gen: u64) -> Freed {
        let Some(s) = self.slots.get(slot) else {
            return Freed::Unknown;
        };
        let done = s.freed_gen.load(Ordering::Acquire);
        if done < gen {
            return Freed::Pending;
        }
        let pid = s.freer_pid.load(Ordering::Relaxed);
        let mut comm = [0u8; 16];
        for (b, c) in comm.iter_mut().zip(s.freer_comm.iter()) {
            *b = c.load(Ordering::Relaxed);
        }
        // Read like a seqcount: a later hand-off of the slot may have
        // rewritten the record meanwhile.
        if done != gen || s.freed_gen.load(Ordering::Acquire) != gen {
            return Freed::Unknown;
        }
        Freed::By { pid, comm }
    }

    /// The number of items waiting to be dropped, and their bytes.
    pub(crate) fn pending(&self) -> (usize, usize) {
        self.slots
            .iter()
            .filter(|s| s.busy.load(Ordering::Acquire))
            .fold((0, 0), |(n, b), s| {
                (n + 1, b + s.bytes.load(Ordering::Relaxed))
            })
    }

    /// Waits until every deferred item has been dropped (may sleep).
    pub(crate) fn wait(&self) {
        // SAFETY: rcu_barrier() only waits for queued RCU callbacks.
        unsafe { bindings::rcu_barrier() };
        for slot in self.slots.iter() {
            // SAFETY: The work is initialised (invariant); flush_work waits for it
            // if queued or running.
            unsafe { bindings::flush_work(slot.work.get()) };
        }
    }

    /// Drops the item of `slot` and frees the slot.
    ///
    /// # Safety
    ///
    /// `slot` is a busy slot of a live `Deferred<T>` whose callback is running.
    unsafe fn finish(slot: *const Slot<T>) {
        // SAFETY: By the caller's guarantee the slot is live and busy, so its
        // item is ours (invariant); it is dropped here, in this context.
        drop(unsafe { (*(*slot).item.get()).take() });
        // SAFETY: As above; the record is atomics, read by `freed`.
        let s = unsafe { &*slot };
        s.freer_pid.store(current!().pid(), Ordering::Relaxed);
        for (c, b) in s.freer_comm.iter().zip(current_comm()) {
            c.store(b, Ordering::Relaxed);
        }
        s.freed_gen
            .store(s.gen.load(Ordering::Relaxed), Ordering::Release);
        s.busy.store(false, Ordering::Release);
    }

    /// The work function: drops the slot's item in a kworker.
    unsafe extern "C" fn work_fn(work: *mut bindings::work_struct) {
        let offset = core::mem::offset_of!(Slot<T>, work);
        // SAFETY: `work` is the `work` field of a slot queued by `defer`, which
        // stays alive until `wait` flushed it.
        unsafe { Self::finish(work.cast::<u8>().sub(offset).cast()) };
    }

    /// The RCU callback: drops the slot's item after a grace period.
    unsafe extern "C" fn rcu_fn(head: *mut bindings::callback_head) {
        let offset = core::mem::offset_of!(Slot<T>, rcu);
        // SAFETY: `head` is the `rcu` field of a slot passed to call_rcu by
        // `defer`, which stays alive until `wait` ran rcu_barrier().
        unsafe { Self::finish(head.cast::<u8>().sub(offset).cast()) };
    }
}

impl<T: Send> Drop for Deferred<T> {
    fn drop(&mut self) {
        // No callback may run on the slots once they are freed.
        self.wait();
    }
}
