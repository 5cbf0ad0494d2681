//! The calls of `mmap-wl`: `mmap`, `munmap`, `mremap`, `mprotect`, and the
//! `openat`, `ftruncate`, `close` of a file to map, each a safe function around
//! exactly one system call (nix's wrappers over glibc's thin ones), returning
//! the call's result or its errno.
//!
//! The memory is held as [`Mapping`]s: a range of address space that one of
//! these calls mapped and that no Rust reference points into, owned by the
//! value. A call that changes a range takes the `Mapping` that owns it (by
//! value to end it, by `&mut` to change it), so no call here can reach memory
//! the process uses for anything else. A `Mapping` that is dropped stays mapped
//! until the process exits (there is no `Drop`: every `munmap` is one the
//! workload makes and records). Lengths are passed to the kernel as given: it
//! rounds them up to whole pages.
//!
//! The flags are spelled the way strace prints them ([`prot_text`],
//! [`map_text`], [`mremap_text`]), so that a workload's record of a call can be
//! compared with strace's, argument by argument.

use std::ffi::{c_void, CStr};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::{OFlag, AT_FDCWD};
use nix::sys::mman;
use nix::sys::stat::Mode;

pub use nix::sys::mman::{MRemapFlags, MapFlags, ProtFlags};

/// A range of address space mapped by a call of this module and owned by this
/// value (see the module docs). `len` is the length the call was given; the
/// kernel's mapping spans it rounded up to whole pages.
#[derive(Debug)]
pub struct Mapping {
    addr: NonNull<c_void>,
    len: NonZeroUsize,
    /// Whether every page of it may be written (PROT_WRITE on all of it).
    writable: bool,
}

// SAFETY: a Mapping is a range of address space owned by this one value, not
// tied to the thread that mapped it: any thread may write or unmap it.
unsafe impl Send for Mapping {}

/// A range a [`munmap`] unmapped, which may be unmapped again ([`munmap_hole`]):
/// a munmap of memory that is not mapped, which succeeds and frees nothing.
#[derive(Debug)]
pub struct Hole {
    addr: NonNull<c_void>,
    len: NonZeroUsize,
}

impl Hole {
    /// Where it starts.
    pub fn addr(&self) -> usize {
        self.addr.as_ptr() as usize
    }

    /// Its length, as given to the call that unmapped it.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Never true: a hole has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Mapping {
    /// Where it starts.
    pub fn addr(&self) -> usize {
        self.addr.as_ptr() as usize
    }

    /// Its length, as given to the call that made it.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Never true: a mapping has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Splits it in two at `at` bytes from its start, a whole number of pages
    /// (`page`) strictly inside it: two mappings, no call. The mapping back,
    /// whole, when `at` is not such a place.
    pub fn split_at(self, at: usize, page: usize) -> Result<(Mapping, Mapping), Mapping> {
        if at == 0 || at % page != 0 || at >= self.len() {
            return Err(self);
        }
        let (Some(head), Some(tail)) = (NonZeroUsize::new(at), NonZeroUsize::new(self.len() - at))
        else {
            return Err(self);
        };
        // at < len, so the address stays inside the range this value owns.
        let Some(addr) = NonNull::new(self.addr.as_ptr().wrapping_byte_add(at)) else {
            return Err(self);
        };
        Ok((
            Mapping {
                addr: self.addr,
                len: head,
                writable: self.writable,
            },
            Mapping {
                addr,
                len: tail,
                writable: self.writable,
            },
        ))
    }
}

// SAFETY: a writable mapping is mapped readable and writable on all of it and,
// for a file, backed by the file (mmap-wl sizes it first); the value owns the
// range and no Rust reference points into it.
unsafe impl crate::cmem::Writable for Mapping {
    fn span(&mut self) -> Option<(*mut u8, usize)> {
        self.writable
            .then(|| (self.addr.as_ptr().cast::<u8>(), self.len()))
    }
}

/// `prot` as strace prints it: `PROT_READ|PROT_WRITE`, `PROT_NONE`.
pub fn prot_text(prot: ProtFlags) -> String {
    const NAMES: &[(ProtFlags, &str)] = &[
        (ProtFlags::PROT_READ, "PROT_READ"),
        (ProtFlags::PROT_WRITE, "PROT_WRITE"),
        (ProtFlags::PROT_EXEC, "PROT_EXEC"),
    ];
    spell(
        prot.bits() as u64,
        NAMES.iter().map(|(f, n)| (f.bits() as u64, *n)),
    )
    .unwrap_or_else(|| "PROT_NONE".into())
}

/// mmap's `flags` as strace prints them: the type (`MAP_SHARED`, `MAP_PRIVATE`)
/// first, then the others from the lowest bit up:
/// `MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS`.
pub fn map_text(flags: MapFlags) -> String {
    const NAMES: &[(MapFlags, &str)] = &[
        (MapFlags::MAP_SHARED, "MAP_SHARED"),
        (MapFlags::MAP_PRIVATE, "MAP_PRIVATE"),
        (MapFlags::MAP_FIXED, "MAP_FIXED"),
        (MapFlags::MAP_ANONYMOUS, "MAP_ANONYMOUS"),
        (MapFlags::MAP_NORESERVE, "MAP_NORESERVE"),
        (MapFlags::MAP_POPULATE, "MAP_POPULATE"),
        (MapFlags::MAP_NONBLOCK, "MAP_NONBLOCK"),
        (MapFlags::MAP_STACK, "MAP_STACK"),
        (MapFlags::MAP_HUGETLB, "MAP_HUGETLB"),
        (MapFlags::MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"),
    ];
    spell(
        flags.bits() as u64,
        NAMES.iter().map(|(f, n)| (f.bits() as u64, *n)),
    )
    .unwrap_or_else(|| "0".into())
}

/// mremap's `flags` as strace prints them: `MREMAP_MAYMOVE|MREMAP_FIXED`, `0`.
pub fn mremap_text(flags: MRemapFlags) -> String {
    const NAMES: &[(MRemapFlags, &str)] = &[
        (MRemapFlags::MREMAP_MAYMOVE, "MREMAP_MAYMOVE"),
        (MRemapFlags::MREMAP_FIXED, "MREMAP_FIXED"),
        (MRemapFlags::MREMAP_DONTUNMAP, "MREMAP_DONTUNMAP"),
    ];
    spell(
        flags.bits() as u64,
        NAMES.iter().map(|(f, n)| (f.bits() as u64, *n)),
    )
    .unwrap_or_else(|| "0".into())
}

/// The names of the bits set in `bits`, in the table's order, joined by `|`;
/// bits the table does not name in hex at the end (as strace does); `None` for 0.
fn spell(bits: u64, names: impl Iterator<Item = (u64, &'static str)>) -> Option<String> {
    if bits == 0 {
        return None;
    }
    let (mut out, mut left) = (String::new(), bits);
    for (bit, name) in names {
        if bit != 0 && left & bit == bit {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            left &= !bit;
        }
    }
    if left != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(&format!("{left:#x}"));
    }
    Some(out)
}

/// Flags that make mmap place a mapping where it is told, over what is there.
fn places(flags: MapFlags) -> bool {
    flags.contains(MapFlags::MAP_FIXED)
}

/// `mmap(NULL, len, prot, flags, -1, 0)`: a new anonymous mapping where the
/// kernel chooses. `flags` must hold `MAP_ANONYMOUS` and not `MAP_FIXED`
/// (EINVAL, no call: that would map over whatever lies at 0).
pub fn mmap_anon(len: usize, prot: ProtFlags, flags: MapFlags) -> Result<Mapping, Errno> {
    let len = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
    if places(flags) || !flags.contains(MapFlags::MAP_ANONYMOUS) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: without MAP_FIXED the kernel places the mapping in a free range:
    // nothing of the process is replaced. The new range is owned by the Mapping.
    let addr = unsafe { mman::mmap_anonymous(None, len, prot, flags) }?;
    Ok(Mapping {
        addr,
        len,
        writable: prot.contains(ProtFlags::PROT_WRITE),
    })
}

/// `mmap(addr, len, prot, flags, -1, 0)` with `MAP_FIXED_NOREPLACE` in `flags`:
/// a new anonymous mapping exactly at `addr`, or EEXIST when anything is mapped
/// in the range. Without `MAP_FIXED_NOREPLACE` (or with `MAP_FIXED`): EINVAL, no call.
///
/// A kernel older than 4.17 takes the flag for a mere hint and may map
/// elsewhere: the mapping is then where it says, not at `addr`.
pub fn mmap_noreplace(
    addr: usize,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
) -> Result<Mapping, Errno> {
    let len = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
    let at = NonZeroUsize::new(addr).ok_or(Errno::EINVAL)?;
    if places(flags)
        || !flags.contains(MapFlags::MAP_FIXED_NOREPLACE)
        || !flags.contains(MapFlags::MAP_ANONYMOUS)
    {
        return Err(Errno::EINVAL);
    }
    // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping (EEXIST instead), and
    // an old kernel that ignores it treats addr as a hint: either way the new
    // range was free, and the Mapping owns it.
    let addr = unsafe { mman::mmap_anonymous(Some(at), len, prot, flags) }?;
    Ok(Mapping {
        addr,
        len,
        writable: prot.contains(ProtFlags::PROT_WRITE),
    })
}

/// `mmap(m + offset, len, prot, flags, -1, 0)` with `MAP_FIXED` in `flags`: a new
/// anonymous mapping laid over part of `m` (from `offset`, a whole number of
/// pages, to at most its end), which then owns the range as before. Gives the
/// address. EINVAL, no call, for a range outside `m` or flags without
/// `MAP_FIXED` and `MAP_ANONYMOUS`.
pub fn mmap_over(
    m: &mut Mapping,
    offset: usize,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    page: usize,
) -> Result<usize, Errno> {
    let inside = offset % page == 0
        && offset < m.len()
        && len > 0
        && offset.checked_add(len).is_some_and(|end| end <= m.len());
    if !inside || !places(flags) || !flags.contains(MapFlags::MAP_ANONYMOUS) {
        return Err(Errno::EINVAL);
    }
    let at = NonZeroUsize::new(m.addr() + offset).ok_or(Errno::EINVAL)?;
    let n = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
    // SAFETY: the range (len rounded up to pages, from a page boundary inside m,
    // ending at most at m's end rounded up) lies within m's own pages, which no
    // Rust reference points into: replacing them with fresh ones harms nothing.
    let addr = unsafe { mman::mmap_anonymous(Some(at), n, prot, flags) }?;
    if !prot.contains(ProtFlags::PROT_WRITE) {
        m.writable = false;
    }
    Ok(addr.as_ptr() as usize)
}

/// `mmap(NULL, len, prot, flags, fd, offset)`: a new mapping of a file, where
/// the kernel chooses. `flags` must not hold `MAP_FIXED` (EINVAL, no call).
/// Writing it ([`touch_pages`](crate::cmem::touch_pages)) needs the file at
/// least `offset + len` bytes long.
pub fn mmap_file(
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    fd: BorrowedFd<'_>,
    offset: i64,
) -> Result<Mapping, Errno> {
    let len = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
    if places(flags) || flags.contains(MapFlags::MAP_ANONYMOUS) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: without MAP_FIXED the kernel places the mapping in a free range;
    // the Mapping owns it.
    let addr = unsafe { mman::mmap(None, len, prot, flags, fd, offset) }?;
    Ok(Mapping {
        addr,
        len,
        writable: prot.contains(ProtFlags::PROT_WRITE),
    })
}

/// `munmap(m, len)`: unmaps all of `m`. Gives the range, now a [`Hole`]. On
/// failure `m` stays mapped until the process exits.
pub fn munmap(m: Mapping) -> Result<Hole, Errno> {
    // SAFETY: m owns the range and is consumed: nothing can reach it afterwards.
    unsafe { mman::munmap(m.addr, m.len.get()) }?;
    Ok(Hole {
        addr: m.addr,
        len: m.len,
    })
}

/// `munmap(hole, len)` again, on a range a [`munmap`] already unmapped: the
/// kernel succeeds and frees nothing.
///
/// Nothing must have been mapped in the range since (mmap-wl makes this call
/// right after the one that made the hole, in the same thread, with no call in
/// between that maps memory: its own allocations come from a static arena).
pub fn munmap_hole(hole: Hole) -> Result<(), Errno> {
    // SAFETY: the range was unmapped by munmap and, as above, nothing has been
    // mapped there since: unmapping it again touches no memory in use.
    unsafe { mman::munmap(hole.addr, hole.len.get()) }
}

/// `mprotect(m, len, prot)`: sets the protection of all of `m`.
pub fn mprotect(m: &mut Mapping, prot: ProtFlags) -> Result<(), Errno> {
    // SAFETY: m owns the range and no Rust reference points into it, so no
    // access of safe code can fault on the new protection.
    unsafe { mman::mprotect(m.addr, m.len.get(), prot) }?;
    m.writable = prot.contains(ProtFlags::PROT_WRITE);
    Ok(())
}

/// `mremap(m, len, new_len, flags)`: grows or shrinks `m` (`MREMAP_MAYMOVE`: it
/// may move); `m` is then the new range. `MREMAP_FIXED` or `MREMAP_DONTUNMAP`
/// in `flags`: EINVAL, no call (see [`mremap_to`]).
pub fn mremap(m: &mut Mapping, new_len: usize, flags: MRemapFlags) -> Result<usize, Errno> {
    let n = NonZeroUsize::new(new_len).ok_or(Errno::EINVAL)?;
    if flags.intersects(MRemapFlags::MREMAP_FIXED | MRemapFlags::MREMAP_DONTUNMAP) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: m owns the old range; the kernel puts the new one in a free range
    // (or grows in place into free space), so nothing else is replaced; on
    // success m is updated to own exactly the new range.
    let addr = unsafe { mman::mremap(m.addr, m.len.get(), new_len, flags, None) }?;
    (m.addr, m.len) = (addr, n);
    Ok(addr.as_ptr() as usize)
}

/// `mremap(m, len, target's len, MREMAP_MAYMOVE|MREMAP_FIXED, target)`: moves
/// `m` onto the range `target` owns, which the kernel unmaps first (a
/// reservation made for this); `m` is then the new range. On failure both stay
/// mapped, `target` until the process exits.
pub fn mremap_to(m: &mut Mapping, target: Mapping) -> Result<usize, Errno> {
    let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
    // SAFETY: the kernel replaces exactly [target, target + target's len rounded
    // up), which target owns and gives up here; m's old range is m's own.
    let addr = unsafe {
        mman::mremap(
            m.addr,
            m.len.get(),
            target.len.get(),
            flags,
            Some(target.addr),
        )
    }?;
    (m.addr, m.len) = (addr, target.len);
    Ok(addr.as_ptr() as usize)
}

/// `openat(AT_FDCWD, dir, flags, mode)`: gives the new file descriptor.
pub fn openat(path: &CStr, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
    nix::fcntl::openat(AT_FDCWD, path, flags, mode)
}

/// `unlinkat(AT_FDCWD, path, 0)`.
pub fn unlinkat(path: &CStr) -> Result<(), Errno> {
    nix::unistd::unlinkat(AT_FDCWD, path, nix::unistd::UnlinkatFlags::NoRemoveDir)
}

/// `ftruncate(fd, len)`.
pub fn ftruncate(fd: BorrowedFd<'_>, len: i64) -> Result<(), Errno> {
    nix::unistd::ftruncate(fd, len)
}

/// `close(fd)`.
pub fn close(fd: OwnedFd) -> Result<(), Errno> {
    nix::unistd::close(fd)
}

/// The number of a file descriptor, as a call's argument.
pub fn fd_number(fd: &impl AsFd) -> i64 {
    fd.as_fd().as_raw_fd().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: ProtFlags = ProtFlags::PROT_READ.union(ProtFlags::PROT_WRITE);
    const ANON: MapFlags = MapFlags::MAP_PRIVATE.union(MapFlags::MAP_ANONYMOUS);

    #[test]
    fn spelled_as_strace_prints() {
        assert_eq!(prot_text(RW), "PROT_READ|PROT_WRITE");
        assert_eq!(prot_text(ProtFlags::PROT_NONE), "PROT_NONE");
        assert_eq!(map_text(ANON), "MAP_PRIVATE|MAP_ANONYMOUS");
        assert_eq!(
            map_text(ANON | MapFlags::MAP_FIXED),
            "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS"
        );
        assert_eq!(
            map_text(ANON | MapFlags::MAP_POPULATE),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE"
        );
        assert_eq!(
            map_text(ANON | MapFlags::MAP_FIXED_NOREPLACE),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE"
        );
        assert_eq!(map_text(MapFlags::MAP_SHARED), "MAP_SHARED");
        assert_eq!(mremap_text(MRemapFlags::empty()), "0");
        assert_eq!(
            mremap_text(MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED),
            "MREMAP_MAYMOVE|MREMAP_FIXED"
        );
    }

    /// One byte written in each page of `m`, unrecorded.
    fn touch(m: &mut Mapping, page: usize) -> bool {
        crate::cmem::touch_pages(m, page, &crate::ledger::Ledger::new(None, false))
    }

    #[test]
    fn map_split_touch_unmap() {
        let page = crate::stat::page_size();
        let mut m = mmap_anon(3 * page, RW, ANON).unwrap();
        assert!(touch(&mut m, page));
        let m = m.split_at(page + 1, page).unwrap_err();
        let (a, b) = m.split_at(page, page).unwrap();
        assert_eq!(
            (a.len(), b.len(), b.addr() - a.addr()),
            (page, 2 * page, page)
        );
        munmap(a).unwrap();
        let hole = munmap(b).unwrap();
        munmap_hole(hole).unwrap();
    }

    #[test]
    fn noreplace_over_a_mapping_is_eexist() {
        let page = crate::stat::page_size();
        let m = mmap_anon(page, RW, ANON).unwrap();
        let flags = ANON | MapFlags::MAP_FIXED_NOREPLACE;
        assert_eq!(
            mmap_noreplace(m.addr(), page, RW, flags).err(),
            Some(Errno::EEXIST)
        );
        // MAP_FIXED is refused without a call.
        assert_eq!(
            mmap_anon(page, RW, ANON | MapFlags::MAP_FIXED).err(),
            Some(Errno::EINVAL)
        );
        munmap(m).unwrap();
    }

    #[test]
    fn protect_remap_and_move() {
        let page = crate::stat::page_size();
        let mut m = mmap_anon(2 * page, ProtFlags::PROT_NONE, ANON).unwrap();
        assert!(!touch(&mut m, page));
        mprotect(&mut m, RW).unwrap();
        assert!(touch(&mut m, page));
        mremap(&mut m, 4 * page, MRemapFlags::MREMAP_MAYMOVE).unwrap();
        assert_eq!(m.len(), 4 * page);
        assert!(touch(&mut m, page));
        let target = mmap_anon(4 * page, ProtFlags::PROT_NONE, ANON).unwrap();
        let at = target.addr();
        assert_eq!(mremap_to(&mut m, target), Ok(at));
        assert_eq!(m.addr(), at);
        assert!(touch(&mut m, page));
        let over = mmap_over(&mut m, page, 3 * page, RW, ANON | MapFlags::MAP_FIXED, page);
        assert_eq!(over, Ok(at + page));
        assert_eq!(
            mmap_over(&mut m, page, 4 * page, RW, ANON | MapFlags::MAP_FIXED, page),
            Err(Errno::EINVAL)
        );
        munmap(m).unwrap();
    }
}
