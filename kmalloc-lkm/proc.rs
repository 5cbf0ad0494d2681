// SPDX-License-Identifier: GPL-2.0

//! Minimal procfs support: all of the module's `unsafe` code lives here.
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

use core::{ffi::c_void, marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    ffi::{c_char, c_int},
    prelude::*,
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
}

/// The number of bytes kmalloc really hands out for a request of `size` bytes
/// (the slab bucket, or whole pages above `KMALLOC_MAX_CACHE_SIZE`).
pub(crate) fn kmalloc_usable_size(size: usize) -> usize {
    // SAFETY: `kmalloc_size_roundup` only computes a size; any argument is valid.
    unsafe { bindings::kmalloc_size_roundup(size) }
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
