//! Clocks and the process's own memory, read without allocating: what a run
//! measures of itself around its first allocation.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;

use nix::time::{clock_gettime, ClockId};
use nix::unistd::{sysconf, SysconfVar};

use crate::sys::proc;

/// CLOCK_MONOTONIC in nanoseconds, the clock tracers such as bpftrace's `nsecs` use.
pub fn monotonic_ns() -> u64 {
    // It cannot fail on Linux; 0 would be an obviously wrong stamp, not a crash.
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// The page size, 4096 where nothing says otherwise.
pub fn page_size() -> usize {
    match sysconf(SysconfVar::PAGE_SIZE) {
        Ok(Some(n)) if n > 0 => n as usize,
        _ => 4096,
    }
}

/// Resident and virtual size of this process and the size of its brk heap, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub rss: u64,
    pub vsz: u64,
    /// The `[heap]` mapping of `/proc/self/maps` (from the start of the program
    /// break to the break rounded up to a page), if the heap exists.
    pub heap_range: Option<(u64, u64)>,
    /// The `[uprobes]` page(s) the kernel maps into a process when a uprobe
    /// tracker's probe first fires in it: the tracker's, not the workload's.
    pub uprobes: u64,
}

/// The process measured: `/proc/self/statm`, and the `[heap]` and `[uprobes]`
/// mappings (see [`Proc`]), read into stack buffers, so that measuring adds no
/// heap allocation to what a tracker sees; `None` when /proc is not there.
///
/// errno is left as it was: the queries end on an error (ENOENT), and a
/// workload reads errno after its call (a NULL from malloc that set none).
pub fn mem() -> Option<Mem> {
    let errno = Errno::last_raw();
    let mut proc = PROC.lock().unwrap_or_else(PoisonError::into_inner);
    if proc.is_none() {
        *proc = Proc::open();
    }
    let mem = proc.as_mut().and_then(Proc::mem);
    Errno::set_raw(errno);
    mem
}

/// A forked child forgets its parent's `/proc` files: `/proc/self` was the
/// parent when they were opened. The next reading opens the child's own.
/// The parent's stay open, unused, until the child exits: closing them would
/// put `close` calls among the child's own that a tracker sees.
pub(crate) fn forked() {
    let mut proc = PROC.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::forget(proc.take());
}

/// The process's own files in `/proc`, opened at the first reading and kept
/// (opening and closing them cost more than reading them), on descriptors from
/// [`HIGH_FD`] up.
static PROC: Mutex<Option<Proc>> = Mutex::new(None);

/// Where the kept descriptors go: above those a workload opens itself, whose
/// numbers stay what they are without `--json` (a tracker sees the same `fd`
/// arguments either way).
const HIGH_FD: RawFd = 100;

/// What [`mem`] reads.
///
/// statm gives the sizes. The `[heap]` and `[uprobes]` mappings come, where
/// the kernel has it (Linux 6.11), from the `PROCMAP_QUERY` ioctl of the maps
/// file, a few questions about single mappings; elsewhere from the whole maps
/// file, whose every line the kernel formats at each reading (about 5 µs here).
struct Proc {
    statm: OwnedFd,
    maps: OwnedFd,
    page: u64,
    /// Where the program break started (`/proc/self/stat`): the heap is the
    /// mapping there. `None`: maps is read whole.
    start_brk: Option<u64>,
}

impl Proc {
    fn open() -> Option<Proc> {
        let open = |path: &str| {
            File::open(path)
                .ok()
                .map(|f| proc::dup_from(f.into(), HIGH_FD))
        };
        let statm = open("/proc/self/statm")?;
        let maps = open("/proc/self/maps")?;
        // Asked once: a kernel without the query answers ENOTTY.
        let start_brk = start_brk().filter(|&b| {
            let asked = proc::query(maps.as_fd(), b, proc::COVERING_OR_NEXT, &mut []);
            matches!(asked, Ok(_) | Err(Errno::ENOENT))
        });
        Some(Proc {
            statm,
            maps,
            page: page_size() as u64,
            start_brk,
        })
    }

    fn mem(&mut self) -> Option<Mem> {
        let mut buf = [0u8; 128];
        let n = proc::pread(self.statm.as_fd(), &mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let mut pages = text.split_ascii_whitespace().map(|f| f.parse::<u64>().ok());
        let vsz = pages.next()?? * self.page;
        let rss = pages.next()?? * self.page;
        let (heap_range, uprobes) = match self.start_brk {
            Some(b) => match queried(self.maps.as_fd(), b) {
                Ok(found) => found,
                Err(_) => {
                    // Not answered after all: the whole file from now on.
                    self.start_brk = None;
                    scanned(self.maps.as_fd())?
                }
            },
            None => scanned(self.maps.as_fd())?,
        };
        Some(Mem {
            rss,
            vsz,
            heap_range,
            uprobes,
        })
    }
}

/// The 47th field of `/proc/self/stat`, where the program break started.
fn start_brk() -> Option<u64> {
    let mut buf = [0u8; 1024];
    let n = File::open("/proc/self/stat").ok()?.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields from
    // the 3rd follow its last ')'.
    let (_, rest) = text.rsplit_once(')')?;
    rest.split_ascii_whitespace().nth(47 - 3)?.parse().ok()
}

/// The `[heap]` range and the bytes of `[uprobes]` mappings, as [`scanned`]
/// finds them in maps, from `PROCMAP_QUERY`.
///
/// maps calls a mapping `[heap]` when it starts at or below the break and ends
/// at or above its start (`start_brk`), and no file, special mapping or the
/// like names it first; [`scanned`] keeps the last. Those are the mappings
/// from the one holding `start_brk - 1` (or the next) on, up to the first that
/// maps could have called `[heap]` but did not, which starts above the break,
/// as all after it do. `[uprobes]` is the one page (per process, made when a
/// tracker's uprobe first fires in it) of a special mapping that may be
/// executed but not read: the executable mappings without a file or read
/// permission are asked their name.
fn queried(maps: BorrowedFd, start_brk: u64) -> Result<(Option<(u64, u64)>, u64), Errno> {
    // Longer than "[uprobes]" and "[heap]" with their NUL; longer names are
    // not theirs (ENAMETOOLONG).
    let mut name = [0u8; 32];
    let mut heap = None;
    let mut at = start_brk.saturating_sub(1);
    loop {
        let vma = match proc::query(maps, at, proc::COVERING_OR_NEXT, &mut name) {
            Ok(v) => v,
            Err(Errno::ENOENT) => break,
            Err(Errno::ENAMETOOLONG) => {
                let v = proc::query(maps, at, proc::COVERING_OR_NEXT, &mut [])?;
                // A long name: a file's path goes on, an anonymous mapping's
                // own name (`[anon:...]`) means maps judged it not the heap.
                if v.file {
                    at = v.end;
                    continue;
                }
                break;
            }
            Err(e) => return Err(e),
        };
        let n = &name[..vma.name_len];
        if n == b"[heap]" {
            heap = Some((vma.start, vma.end));
        } else if !vma.file && (n.is_empty() || n.starts_with(b"[anon") || n == b"[stack]") {
            break;
        }
        at = vma.end;
    }
    let mut uprobes = 0;
    let mut at = 0;
    let exec = proc::COVERING_OR_NEXT | proc::EXECUTABLE;
    loop {
        let vma = match proc::query(maps, at, exec, &mut []) {
            Ok(v) => v,
            Err(Errno::ENOENT) => break,
            Err(e) => return Err(e),
        };
        // The uprobes page is executable only (`--xp`); the vDSO, readable too.
        if !vma.file && vma.flags & proc::READABLE == 0 {
            match proc::query(maps, vma.start, 0, &mut name) {
                Ok(v) if &name[..v.name_len] == b"[uprobes]" => uprobes += v.end - v.start,
                Ok(_) | Err(Errno::ENAMETOOLONG) => {}
                Err(e) => return Err(e),
            }
        }
        at = vma.end;
    }
    Ok((heap, uprobes))
}

impl Mem {
    /// Bytes mapped by the process itself: the virtual size without the
    /// `[uprobes]` page(s) a tracker adds.
    pub fn mapped(&self) -> u64 {
        self.vsz.saturating_sub(self.uprobes)
    }

    /// Bytes of the brk heap, 0 before it exists.
    pub fn heap(&self) -> u64 {
        self.heap_range.map_or(0, |(start, end)| end - start)
    }
}

/// Bytes of the System V shared memory segments process `me` created that
/// still exist (attached or not, removed but still attached), from
/// `/proc/sysvipc/shm` (kept open, as [`PROC`]); `None` when it cannot be read.
pub fn sysv_bytes(me: u64) -> Option<u64> {
    // errno left as it was, as mem() leaves it.
    let errno = Errno::last_raw();
    let bytes = sysv_read(me);
    Errno::set_raw(errno);
    bytes
}

fn sysv_read(me: u64) -> Option<u64> {
    static SHM: Mutex<Option<OwnedFd>> = Mutex::new(None);
    let mut shm = SHM.lock().unwrap_or_else(PoisonError::into_inner);
    if shm.is_none() {
        let f = File::open("/proc/sysvipc/shm").ok()?;
        *shm = Some(proc::dup_from(f.into(), HIGH_FD));
    }
    let mut total = 0;
    lines(shm.as_ref()?.as_fd(), |line| {
        total += sysv_line(line, me).unwrap_or(0);
    })?;
    Some(total)
}

/// `key shmid perms size cpid lpid nattch ...`: the size when cpid is `me`
/// (the header line and anything else give `None`).
fn sysv_line(line: &[u8], me: u64) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let mut f = text.split_ascii_whitespace();
    let size = f.nth(3)?.parse::<u64>().ok()?;
    let cpid = f.next()?.parse::<u64>().ok()?;
    (cpid == me).then_some(size)
}

/// The `[heap]` range and the bytes of `[uprobes]` mappings in maps, read
/// whole; `None` when it cannot be read.
fn scanned(maps: BorrowedFd) -> Option<(Option<(u64, u64)>, u64)> {
    let (mut heap, mut uprobes) = (None, 0);
    lines(maps, |line| {
        if line.ends_with(b"[heap]") {
            heap = parse_range(line);
        } else if line.ends_with(b"[uprobes]") {
            uprobes += parse_range(line).map_or(0, |(a, b)| b - a);
        }
    })?;
    Some((heap, uprobes))
}

/// Each line of the file `fd` from its start, read in pieces through a stack
/// buffer (a line longer than it is dropped); `None` when it cannot be read.
fn lines(fd: BorrowedFd, mut each: impl FnMut(&[u8])) -> Option<()> {
    let mut buf = [0u8; 4096];
    let (mut kept, mut offset) = (0, 0);
    loop {
        let n = proc::pread(fd, &mut buf[kept..], offset).ok()?;
        offset += n as u64;
        let end = kept + n;
        let mut start = 0;
        while let Some(nl) = buf[start..end].iter().position(|&b| b == b'\n') {
            each(&buf[start..start + nl]);
            start += nl + 1;
        }
        if n == 0 {
            return Some(());
        }
        // Keep the unfinished line, unless it fills the buffer.
        buf.copy_within(start..end, 0);
        kept = if end - start == buf.len() {
            0
        } else {
            end - start
        };
    }
}

/// `5581f000-55840000 rw-p ...`: the start and end addresses.
fn parse_range(line: &[u8]) -> Option<(u64, u64)> {
    let range = line.split(|&b| b == b' ').next()?;
    let range = std::str::from_utf8(range).ok()?;
    let (a, b) = range.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory() {
        let m = mem().expect("/proc/self is readable");
        assert!(m.rss > 0 && m.vsz >= m.rss);
        if let Some((a, b)) = m.heap_range {
            assert!(a < b && m.heap() == b - a);
        }
    }

    #[test]
    fn the_query_finds_what_the_whole_maps_file_says() {
        let maps = File::open("/proc/self/maps").unwrap();
        let whole = scanned(maps.as_fd()).unwrap();
        let start_brk = start_brk().expect("the 47th field of /proc/self/stat");
        let (heap, _) = whole;
        assert_eq!(heap.map(|h| h.0), Some(start_brk), "{whole:?}");
        match queried(maps.as_fd(), start_brk) {
            Ok(found) => assert_eq!(found, whole),
            Err(e) => eprintln!("SKIPPED: this kernel has no PROCMAP_QUERY ({e})"),
        }
    }

    #[test]
    fn sysv_lines() {
        let head = b"       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap";
        assert_eq!(sysv_line(head, 7), None);
        let row = b"         0          3  1600                 40960  4242  4242      1     0     0     0     0 1764150000          0 1764150000                     0                     0";
        assert_eq!(sysv_line(row, 4242), Some(40960));
        assert_eq!(sysv_line(row, 4243), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range(b"5581f000-55840000 rw-p 00000000 00:00 0   [heap]"),
            Some((0x5581f000, 0x55840000))
        );
        assert_eq!(parse_range(b"garbage"), None);
    }
}
