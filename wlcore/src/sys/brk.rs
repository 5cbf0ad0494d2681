//! The program break, moved by the raw `brk` system call (`brk-wl`).
//!
//! glibc's `brk()` and `sbrk()` are not thin: they keep their own copy of the
//! break (`__curbrk`) and turn the kernel's answer into 0 or -1. Here the system
//! call is made with `syscall(SYS_brk, addr)`, and its raw return, the break
//! after the call, is what the caller gets: the kernel answers a request it
//! refuses with the break it kept, not with an error.
//!
//! The break is one per process, and glibc's malloc is its other user: it grows
//! its heap with `sbrk`, from where *it* believes the break stands. Mixed with
//! malloc, moving the break is unsafe both ways: a shrink of ours could cut off
//! heap that malloc handed out, and a growth of malloc's from its stale
//! `__curbrk` could move the break back into memory of ours, or give malloc's
//! blocks memory we write. [`Heap`] therefore never moves the break below the
//! point where it found it (so a malloc heap made before stays whole), and is
//! meant for a process in which nothing calls malloc while its memory is grown:
//! the workloads, whose own allocations come from a static arena
//! ([`cmem`](crate::cmem)).

use nix::errno::Errno;

use crate::cmem::Writable;

/// The break now: `brk(0)` (`brk(NULL)` as strace prints it), which moves nothing.
pub fn current() -> usize {
    // SAFETY: brk with address 0 only reports the current break.
    unsafe { libc::syscall(libc::SYS_brk, 0usize) as usize }
}

/// The heap above the break as it stood when the `Heap` was taken: from
/// [`base`](Heap::base) to the break this `Heap` last set. Its memory is this
/// value's: it hands out no reference to it, only
/// [`touch_pages`](crate::cmem::touch_pages) writes it.
#[derive(Debug)]
pub struct Heap {
    base: usize,
    brk: usize,
}

impl Heap {
    /// Learns where the break stands with one `brk(0)`: the new heap is empty there.
    pub fn at_break() -> Heap {
        let b = current();
        Heap { base: b, brk: b }
    }

    /// Where the break stood when this heap was taken.
    pub fn base(&self) -> usize {
        self.base
    }

    /// The break as this heap last set it.
    pub fn end(&self) -> usize {
        self.brk
    }

    /// Bytes between the base and the break.
    pub fn len(&self) -> usize {
        self.brk - self.base
    }

    /// Whether the break stands at the base.
    pub fn is_empty(&self) -> bool {
        self.brk == self.base
    }

    /// One raw `brk(addr)`; gives its return, the break after it, which is
    /// `addr` when the kernel moved it there and the old break when it refused.
    /// An `addr` below the base would free memory that is not this heap's: it
    /// is refused with `EINVAL`, and no call is made.
    pub fn set(&mut self, addr: usize) -> Result<usize, Errno> {
        if addr < self.base {
            return Err(Errno::EINVAL);
        }
        // SAFETY: the break moves only within this heap's own range (addr is at
        // or above base, where the break stood when the heap was taken): a
        // shrink frees memory that only this value owned and that no reference
        // points into; a growth gives the process new memory.
        let got = unsafe { libc::syscall(libc::SYS_brk, addr) as usize };
        // The kernel answers with the break it left: ours stays in our range
        // (a refused shrink or growth keeps the old one).
        self.brk = got.max(self.base);
        Ok(got)
    }
}

// SAFETY: base..brk is the range the kernel gave this process above the break
// as it stood when the heap was taken, readable and writable, used by this
// heap alone (see the module docs); it hands out no reference into it.
unsafe impl Writable for Heap {
    fn span(&mut self) -> Option<(*mut u8, usize)> {
        Some((self.base as *mut u8, self.len()))
    }
}

// No unit test here: a test binary's harness calls malloc from its threads
// while tests run, the very mixing this module cannot allow; brk-wl's tests
// run the real binary.
