//! Clocks and the process's own memory, read without allocating: what a run
//! measures of itself around its first allocation.

use std::fs::File;
use std::io::Read;

use nix::time::{clock_gettime, ClockId};
use nix::unistd::{sysconf, SysconfVar};

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

/// Reads `/proc/self/statm` into a stack buffer, so that measuring does not add
/// heap allocations to what a tracker sees; `None` when /proc is not there.
pub fn mem() -> Option<Mem> {
    let mut buf = [0u8; 128];
    let n = File::open("/proc/self/statm").ok()?.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let mut pages = text.split_ascii_whitespace().map(|f| f.parse::<u64>().ok());
    let page = page_size() as u64;
    let vsz = pages.next()?? * page;
    let rss = pages.next()?? * page;
    let (heap_range, uprobes) = special_mappings()?;
    Some(Mem {
        rss,
        vsz,
        heap_range,
        uprobes,
    })
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

/// Bytes of the System V shared memory segments this process created that
/// still exist (attached or not, removed but still attached), from
/// `/proc/sysvipc/shm`; `None` when it cannot be read.
pub fn sysv_bytes() -> Option<u64> {
    let me = u64::from(std::process::id());
    let mut total = 0;
    let mut file = File::open("/proc/sysvipc/shm").ok()?;
    let mut buf = [0u8; 4096];
    let mut kept = 0;
    loop {
        let n = file.read(&mut buf[kept..]).ok()?;
        let end = kept + n;
        let mut start = 0;
        while let Some(nl) = buf[start..end].iter().position(|&b| b == b'\n') {
            total += sysv_line(&buf[start..start + nl], me).unwrap_or(0);
            start += nl + 1;
        }
        if n == 0 {
            return Some(total);
        }
        buf.copy_within(start..end, 0);
        kept = if end - start == buf.len() {
            0
        } else {
            end - start
        };
    }
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

/// The `[heap]` range and the bytes of `[uprobes]` mappings in `/proc/self/maps`,
/// read in pieces through a stack buffer; `None` when the file cannot be read.
fn special_mappings() -> Option<(Option<(u64, u64)>, u64)> {
    let mut file = File::open("/proc/self/maps").ok()?;
    let mut buf = [0u8; 4096];
    let mut kept = 0;
    let (mut heap, mut uprobes) = (None, 0);
    loop {
        let n = file.read(&mut buf[kept..]).ok()?;
        let end = kept + n;
        let mut start = 0;
        while let Some(nl) = buf[start..end].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            if line.ends_with(b"[heap]") {
                heap = parse_range(line);
            } else if line.ends_with(b"[uprobes]") {
                uprobes += parse_range(line).map_or(0, |(a, b)| b - a);
            }
            start += nl + 1;
        }
        if n == 0 {
            return Some((heap, uprobes));
        }
        // Keep the unfinished line; a line longer than the buffer is not [heap].
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
