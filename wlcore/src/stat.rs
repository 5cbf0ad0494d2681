//! Clocks and the process's own memory, read without allocating.

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

/// Resident and virtual size of this process, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub rss: u64,
    pub vsz: u64,
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
    Some(Mem { rss, vsz })
}
