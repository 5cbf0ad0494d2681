//! The system calls behind [`signals`](crate::signals): blocking signals, a
//! signalfd for them, and `poll`.
//!
//! These make the same system calls as glibc's `pthread_sigmask`, `signalfd`
//! and `poll`, but bind no symbol of a newer glibc version: every version a
//! binary needs (`GLIBC_2.7` for `signalfd`, `GLIBC_2.32` for `pthread_sigmask`)
//! is checked by the dynamic loader at every start, and every start is part of
//! what a tracker measures. `sigprocmask` is glibc 2.2.5's name for the calling
//! thread's mask (the same `rt_sigprocmask` system call), and the others are
//! made with `syscall(2)`, which the Rust standard library binds anyway.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};

/// Bytes of the kernel's signal set (`_NSIG / 8`), not glibc's 128-byte `sigset_t`.
const KERNEL_SIGSET_BYTES: usize = 8;

/// Blocks `set` for the calling thread; threads started later inherit it.
pub fn block(set: &SigSet) -> Result<(), Errno> {
    // SAFETY: set is a valid sigset_t; a null old-set pointer asks for nothing back.
    let r = unsafe { libc::sigprocmask(libc::SIG_BLOCK, set.as_ref(), std::ptr::null_mut()) };
    Errno::result(r).map(drop)
}

/// `signalfd4(-1, set, 8, SFD_CLOEXEC | SFD_NONBLOCK)`: a new descriptor that
/// reads the signals of `set` (blocked by the caller) as they arrive.
pub fn signalfd(set: &SigSet) -> Result<OwnedFd, Errno> {
    let flags = libc::SFD_CLOEXEC | libc::SFD_NONBLOCK;
    // SAFETY: set points to a sigset_t, whose first KERNEL_SIGSET_BYTES bytes are
    // the kernel's set; with fd -1 the call only creates a descriptor.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            -1,
            set.as_ref() as *const libc::sigset_t,
            KERNEL_SIGSET_BYTES,
            flags,
        )
    };
    let fd = Errno::result(fd)? as RawFd;
    // SAFETY: the kernel just returned this descriptor, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The next signal waiting on a non-blocking signalfd: `None` when none is.
pub fn read_signal(fd: BorrowedFd) -> Result<Option<Signal>, Errno> {
    // One struct signalfd_siginfo: 128 bytes, its first field the signal number.
    let mut info = [0u8; 128];
    match nix::unistd::read(fd, &mut info) {
        Ok(n) if n == info.len() => {
            let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
            Ok(Signal::try_from(signo as i32).ok())
        }
        Ok(_) | Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `poll(fds, nfds, timeout_ms)` over descriptors waited on for input; a
/// negative timeout waits for ever. Returns how many are ready; each one's
/// `revents` is set.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize, Errno> {
    // SAFETY: fds is a valid, writable array of fds.len() pollfd structures.
    let r = unsafe {
        libc::syscall(
            libc::SYS_poll,
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    Errno::result(r).map(|n| n as usize)
}

/// A `pollfd` that waits for input on `fd`.
pub fn pollin(fd: BorrowedFd) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }
}
