//! What a workload that runs at a rate needs beyond [`stat`](crate::stat):
//! sleeping until a point of CLOCK_MONOTONIC, and the process's peak resident
//! size at the end, both without allocating.

use std::fs::File;
use std::io::Read;

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::time::{clock_nanosleep, ClockId, ClockNanosleepFlags};

/// Sleeps until CLOCK_MONOTONIC reads `deadline_ns` (the clock of
/// [`monotonic_ns`](crate::stat::monotonic_ns)): one absolute
/// `clock_nanosleep`, so that a late wake-up does not push the next deadline
/// back. Returns at once when the deadline has passed.
pub fn sleep_until(deadline_ns: u64) {
    let t = TimeSpec::new(
        (deadline_ns / 1_000_000_000) as libc::time_t,
        (deadline_ns % 1_000_000_000) as libc::c_long,
    );
    loop {
        match clock_nanosleep(
            ClockId::CLOCK_MONOTONIC,
            ClockNanosleepFlags::TIMER_ABSTIME,
            &t,
        ) {
            Err(Errno::EINTR) => continue,
            // Nothing else can fail with a valid clock and time.
            _ => return,
        }
    }
}

/// The process's peak resident size so far, in bytes: `VmHWM` of
/// `/proc/self/status`, read through a stack buffer; `None` when it cannot be read.
pub fn peak_rss_bytes() -> Option<u64> {
    let mut file = File::open("/proc/self/status").ok()?;
    let mut buf = [0u8; 4096];
    let mut n = 0;
    // The status file is about 1.5 KiB; VmHWM lies in its first half.
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stat::monotonic_ns;

    #[test]
    fn sleeps_until_the_deadline() {
        let start = monotonic_ns();
        sleep_until(start + 2_000_000);
        assert!(monotonic_ns() >= start + 2_000_000);
        // A deadline passed returns at once.
        sleep_until(start);
    }

    #[test]
    fn reads_the_peak() {
        let peak = peak_rss_bytes().expect("/proc/self/status is readable");
        assert!(peak > 0 && peak % 1024 == 0);
    }
}
