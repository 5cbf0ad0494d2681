//! What a workload that runs at a rate needs beyond [`stat`](crate::stat):
//! the rate (`--rate`) and its pacing, sleeping until a point of
//! CLOCK_MONOTONIC, and the process's peak resident size at the end, all
//! without allocating (rate-wl, and kmalloc-test's rate mode).

use std::fs::File;
use std::io::Read;

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::time::{clock_nanosleep, ClockId, ClockNanosleepFlags};

use crate::size::parse_size;

/// The most calls a second `--rate` takes (per thread).
pub const MAX_CALLS_PER_S: u64 = 1_000_000_000;
/// The most bytes a second `--rate` takes (per thread).
pub const MAX_BYTES_PER_S: u64 = 1_000_000_000_000;
/// `--rate`: as fast as it can, or so many calls or bytes a second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    Max,
    Calls(u64),
    Bytes(u64),
}

impl Rate {
    /// The unit the rate counts, as the report names it.
    pub fn unit(self) -> &'static str {
        match self {
            Rate::Bytes(_) => "bytes/s",
            _ => "calls/s",
        }
    }

    /// Calls or bytes a second; `None` for max.
    pub fn per_s(self) -> Option<u64> {
        match self {
            Rate::Max => None,
            Rate::Calls(n) | Rate::Bytes(n) => Some(n),
        }
    }

    /// Whether a call may start at `elapsed_ns` from the start when `done`
    /// units (calls or bytes) were made before it: unit k is due at k/rate
    /// seconds, so the first call is made at once.
    pub fn due(self, done: u64, elapsed_ns: u64) -> bool {
        match self.per_s() {
            None => true,
            Some(r) => u128::from(done) * 1_000_000_000 <= u128::from(r) * u128::from(elapsed_ns),
        }
    }

    /// How many calls are due at `elapsed_ns` when `done` were made: those
    /// [`due`](Rate::due) lets start one after another without the clock
    /// moving; `None` for a rate in bytes, whose calls count their sizes.
    pub fn calls_due(self, done: u64, elapsed_ns: u64) -> Option<u64> {
        match self {
            Rate::Max => Some(u64::MAX),
            Rate::Bytes(_) => None,
            // Call k (from 0) is due when k * 10^9 <= r * elapsed.
            Rate::Calls(r) => {
                let upto = u128::from(r) * u128::from(elapsed_ns) / 1_000_000_000 + 1;
                Some(u64::try_from(upto.saturating_sub(u128::from(done))).unwrap_or(u64::MAX))
            }
        }
    }

    /// When (ns from the start) the call after `done` units is due.
    pub fn deadline_ns(self, done: u64) -> u64 {
        match self.per_s() {
            None => 0,
            Some(r) => {
                let ns = (u128::from(done) * 1_000_000_000).div_ceil(u128::from(r));
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
        }
    }

    /// The units (calls or bytes) a run of `duration_ns` makes at this rate.
    pub fn units_in(self, duration_ns: u64) -> Option<u64> {
        let r = self.per_s()?;
        u64::try_from(u128::from(r) * u128::from(duration_ns) / 1_000_000_000).ok()
    }
}

/// Parses `--rate`: `max`; calls a second as a whole number with an optional
/// `k`, `M` or `G` (powers of 1000) and an optional `/s` (`10k`, `500/s`);
/// bytes a second as a size ending in `B` and `/s` (`100MB/s`, `1GiB/s`).
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    if text == "max" {
        return Ok(Rate::Max);
    }
    let body = text.strip_suffix("/s").unwrap_or(text);
    if body.ends_with(['B', 'b']) {
        if !text.ends_with("/s") {
            return Err("a rate in bytes ends in /s: 100MB/s, 1GiB/s".into());
        }
        let n = parse_size(body).map_err(|e| format!("bytes a second: {e}"))?;
        if n > MAX_BYTES_PER_S {
            return Err(format!("at most {MAX_BYTES_PER_S} bytes a second (1TB/s)"));
        }
        return Ok(Rate::Bytes(n));
    }
    let (digits, unit) = match body.char_indices().last() {
        Some((i, 'k' | 'K')) => (&body[..i], 1_000),
        Some((i, 'M')) => (&body[..i], 1_000_000),
        Some((i, 'G')) => (&body[..i], 1_000_000_000),
        _ => (body, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "expected max, calls a second (10k, 500, 2M) or bytes a second (100MB/s)".into(),
        );
    }
    let n = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|n| *n <= MAX_CALLS_PER_S)
        .ok_or_else(|| format!("at most {MAX_CALLS_PER_S} calls a second (1G)"))?;
    if n == 0 {
        return Err("the rate must be at least 1 call a second".into());
    }
    Ok(Rate::Calls(n))
}

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
    fn rates() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("10k"), Ok(Rate::Calls(10_000)));
        assert_eq!(parse_rate("10k/s"), Ok(Rate::Calls(10_000)));
        assert_eq!(parse_rate("500"), Ok(Rate::Calls(500)));
        assert_eq!(parse_rate("2M"), Ok(Rate::Calls(2_000_000)));
        assert_eq!(parse_rate("100MB/s"), Ok(Rate::Bytes(100_000_000)));
        assert_eq!(parse_rate("1GiB/s"), Ok(Rate::Bytes(1 << 30)));
        for bad in [
            "",
            "0",
            "-1",
            "1.5k",
            "10x",
            "k",
            "100MB",
            "0B/s",
            "2G",
            "99999999999999999999",
            "2TB/s",
            "fast",
        ] {
            let e = parse_rate(bad).unwrap_err();
            assert!(!e.is_empty() && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn pacing() {
        let r = Rate::Calls(10_000);
        // Call k is due at k/10000 s: the first at once, the second at 100 µs.
        assert!(r.due(0, 0));
        assert!(!r.due(1, 99_999) && r.due(1, 100_000));
        assert_eq!(r.deadline_ns(1), 100_000);
        assert_eq!(r.deadline_ns(20_000), 2_000_000_000);
        assert_eq!(r.units_in(2_000_000_000), Some(20_000));
        assert_eq!(Rate::Calls(3).deadline_ns(1), 333_333_334);
        assert_eq!(Rate::Bytes(1 << 20).units_in(500_000_000), Some(1 << 19));
        assert!(Rate::Max.due(u64::MAX, 0));
        assert_eq!(Rate::Max.units_in(1), None);
    }

    #[test]
    fn calls_due_is_what_due_lets_start() {
        for r in [1, 3, 10_000, 999_999_937] {
            let r = Rate::Calls(r);
            for el in [0, 1, 99_999, 100_000, 123_456_789, 2_000_000_000] {
                for done in [0, 1, 2, 17, 20_000] {
                    let n = r.calls_due(done, el).unwrap();
                    assert!(n == 0 || r.due(done + n - 1, el), "{r:?} {el} {done}");
                    assert!(!r.due(done + n, el), "{r:?} {el} {done}");
                }
            }
        }
        assert_eq!(Rate::Max.calls_due(5, 0), Some(u64::MAX));
        assert_eq!(Rate::Bytes(10).calls_due(0, 0), None);
    }

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
