//! Shared memory (`shm-wl`): System V segments, POSIX shared memory objects
//! and memfds, and the shared mappings of them.
//!
//! Each function makes one call through glibc's thin wrapper. Two are not
//! system calls of their own: glibc's `shm_open` is `openat(AT_FDCWD,
//! "/dev/shm/NAME", OFLAG|O_NOFOLLOW|O_CLOEXEC, MODE)` and its `shm_unlink` is
//! `unlink("/dev/shm/NAME")`.
//!
//! Memory is handed out as a [`Mapping`], which owns its range and gives no
//! reference into it: it can only be written by
//! [`touch_pages`](crate::cmem::touch_pages) and given back
//! ([`shmdt`], [`munmap`]), which takes it. A mapping that is dropped instead
//! stays mapped until the process exits. The small `mmap` and `munmap` here
//! serve these shared mappings only.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use nix::errno::Errno;

use crate::cmem::Writable;

/// A System V shared memory segment of at least `size` bytes, by its id.
#[derive(Debug)]
pub struct Segment {
    id: i32,
    size: usize,
}

impl Segment {
    /// The id `shmget` returned.
    pub fn id(&self) -> i32 {
        self.id
    }
}

/// Memory mapped into the process: `len` bytes from `addr`.
#[derive(Debug)]
pub struct Mapping {
    addr: usize,
    len: usize,
}

impl Mapping {
    pub fn addr(&self) -> usize {
        self.addr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

// SAFETY: the mapping is readable and writable (PROT_READ|PROT_WRITE, or
// shmat without SHM_RDONLY), it stays mapped while the value lives, and no
// reference points into it.
unsafe impl Writable for Mapping {
    fn span(&mut self) -> Option<(*mut u8, usize)> {
        Some((self.addr as *mut u8, self.len))
    }
}

/// `shmget(key, size, shmflg)`: the segment of `key` (made when `shmflg` has
/// `IPC_CREAT` and there is none), of at least `size` bytes.
pub fn shmget(key: libc::key_t, size: usize, shmflg: i32) -> Result<Segment, Errno> {
    // SAFETY: shmget takes plain values and touches no memory of ours.
    let id = Errno::result(unsafe { libc::shmget(key, size, shmflg) })?;
    Ok(Segment { id, size })
}

/// `shmat(shmid, NULL, 0)`: the segment attached, read and write, where the
/// kernel chooses. The mapping covers the `size` that `shmget` was given
/// (the segment is at least that long).
pub fn shmat(seg: &Segment) -> Result<Mapping, Errno> {
    // SAFETY: with a null address the kernel picks a free range: no mapping
    // of the process is replaced. The memory is owned by the Mapping below.
    let p = unsafe { libc::shmat(seg.id, std::ptr::null(), 0) };
    if p as isize == -1 {
        return Err(Errno::last());
    }
    Ok(Mapping {
        addr: p as usize,
        len: seg.size,
    })
}

/// `shmdt(shmaddr)`: detaches the mapping (the segment goes away now if it
/// was removed and this was its last attachment).
pub fn shmdt(m: Mapping) -> Result<(), Errno> {
    // SAFETY: m came from shmat and is taken here: nothing of ours uses the
    // range after it is detached.
    Errno::result(unsafe { libc::shmdt(m.addr as *const libc::c_void) }).map(drop)
}

/// `shmctl(shmid, IPC_RMID, NULL)`: marks the segment for removal; it goes
/// away once nothing is attached to it. Its id is not valid after.
pub fn shmctl_rmid(seg: Segment) -> Result<(), Errno> {
    // SAFETY: IPC_RMID reads and writes no buffer (it is null); attachments
    // stay valid until they are detached.
    Errno::result(unsafe { libc::shmctl(seg.id, libc::IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// glibc's `shm_open(name, oflag, mode)`: the POSIX shared memory object
/// `name` (`/NAME`, in `/dev/shm`), opened.
pub fn shm_open(name: &CStr, oflag: i32, mode: libc::mode_t) -> Result<OwnedFd, Errno> {
    // SAFETY: name is a NUL-terminated string that outlives the call.
    let fd = Errno::result(unsafe { libc::shm_open(name.as_ptr(), oflag, mode) })?;
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// glibc's `shm_unlink(name)`: removes the name; the object goes away once
/// nothing has it open or mapped.
pub fn shm_unlink(name: &CStr) -> Result<(), Errno> {
    // SAFETY: name is a NUL-terminated string that outlives the call.
    Errno::result(unsafe { libc::shm_unlink(name.as_ptr()) }).map(drop)
}

/// `memfd_create(name, flags)`: an anonymous file in memory, opened.
pub fn memfd_create(name: &CStr, flags: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: name is a NUL-terminated string that outlives the call.
    let fd = Errno::result(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ftruncate(fd, length)`: sets the file's size.
pub fn ftruncate(fd: BorrowedFd<'_>, length: u64) -> Result<(), Errno> {
    let length = libc::off_t::try_from(length).map_err(|_| Errno::EFBIG)?;
    // SAFETY: ftruncate takes plain values and touches no memory of ours.
    Errno::result(unsafe { libc::ftruncate(fd.as_raw_fd(), length) }).map(drop)
}

/// `mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)`: the file
/// mapped, shared, where the kernel chooses.
pub fn mmap_shared(length: usize, fd: BorrowedFd<'_>) -> Result<Mapping, Errno> {
    // SAFETY: with a null address and no MAP_FIXED the kernel picks a free
    // range: no mapping of the process is replaced. The memory is owned by the
    // Mapping below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            length,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    Ok(Mapping {
        addr: p as usize,
        len: length,
    })
}

/// `munmap(addr, length)` of a mapping from [`mmap_shared`].
pub fn munmap(m: Mapping) -> Result<(), Errno> {
    // SAFETY: m came from mmap_shared with this length and is taken here:
    // nothing of ours uses the range after it is unmapped.
    Errno::result(unsafe { libc::munmap(m.addr as *mut libc::c_void, m.len) }).map(drop)
}

/// `close(fd)`, as a call of its own (dropping an `OwnedFd` closes it too,
/// but ignores the result).
pub fn close(fd: OwnedFd) -> Result<(), Errno> {
    // SAFETY: fd is owned and taken here: nothing closes it again.
    Errno::result(unsafe { libc::close(fd.into_raw_fd()) }).map(drop)
}
