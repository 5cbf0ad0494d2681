//! What the ledger reads of `/proc/self` ([`stat`](crate::stat)): `pread` on a
//! descriptor kept open, and the `PROCMAP_QUERY` ioctl of `/proc/self/maps`
//! (Linux 6.11), which answers for one mapping without formatting them all.
//!
//! Each is made with `syscall(2)`, as [`signal`](super::signal) says why: no
//! glibc symbol more for the loader to bind at every start.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// `pread64(fd, buf, len, offset)`: bytes read from `offset`, 0 at the end.
pub fn pread(fd: BorrowedFd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: buf is writable for its whole length, and the kernel writes no more.
    let n = unsafe {
        libc::syscall(
            libc::SYS_pread64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
            offset as libc::off_t,
        )
    };
    Errno::result(n).map(|n| n as usize)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`: the same file on the lowest free
/// descriptor from `min`; `fd` itself is closed. Gives `fd` back if that fails.
pub fn dup_from(fd: OwnedFd, min: RawFd) -> OwnedFd {
    // SAFETY: F_DUPFD_CLOEXEC takes an int and only makes a new descriptor.
    let new = unsafe { libc::syscall(libc::SYS_fcntl, fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    match Errno::result(new) {
        // SAFETY: the kernel just returned this descriptor, owned by no one else.
        Ok(new) => unsafe { OwnedFd::from_raw_fd(new as RawFd) },
        Err(_) => fd,
    }
}

/// The kernel's `struct procmap_query` (`linux/fs.h`, 104 bytes).
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: libc::c_ulong = (3 << 30)
    | ((size_of::<ProcmapQuery>() as libc::c_ulong) << 16)
    | ((b'f' as libc::c_ulong) << 8)
    | 17;

/// Query: the mapping that holds the address, or else the first above it.
pub const COVERING_OR_NEXT: u64 = 0x10;
/// Query: executable mappings only. Also the answer's flag of one.
pub const EXECUTABLE: u64 = 0x04;
/// The answer's flag of a readable mapping.
pub const READABLE: u64 = 0x01;

/// One mapping, as `PROCMAP_QUERY` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    /// Readable 1, writable 2, executable 4, shared 8.
    pub flags: u64,
    /// Whether a file backs it (its name in maps is then the file's path).
    pub file: bool,
    /// The length of its name in `name` (0: none), when a buffer was given.
    pub name_len: usize,
}

/// Asks the kernel, through `maps` (an open `/proc/PID/maps`), for the mapping
/// at `addr` (with [`COVERING_OR_NEXT`], the next one if none is there) that
/// matches `flags`; its name (as maps prints it) into `name` when given one.
/// ENOENT: no such mapping; ENAMETOOLONG: the name does not fit; ENOTTY or
/// EINVAL: a kernel without the query.
pub fn query(maps: BorrowedFd, addr: u64, flags: u64, name: &mut [u8]) -> Result<Vma, Errno> {
    let mut q = ProcmapQuery {
        size: size_of::<ProcmapQuery>() as u64,
        query_flags: flags,
        query_addr: addr,
        vma_name_size: u32::try_from(name.len()).unwrap_or(u32::MAX),
        vma_name_addr: if name.is_empty() {
            0
        } else {
            name.as_mut_ptr() as u64
        },
        ..ProcmapQuery::default()
    };
    // SAFETY: q is a procmap_query of the size it says; the kernel writes at
    // most vma_name_size bytes to name, which is that long.
    let r = unsafe { libc::syscall(libc::SYS_ioctl, maps.as_raw_fd(), PROCMAP_QUERY, &raw mut q) };
    Errno::result(r)?;
    Ok(Vma {
        start: q.vma_start,
        end: q.vma_end,
        flags: q.vma_flags,
        file: q.inode != 0 || q.dev_major != 0 || q.dev_minor != 0,
        // The kernel counts the terminating NUL.
        name_len: (q.vma_name_size as usize).saturating_sub(1),
    })
}
