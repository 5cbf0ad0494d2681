//! Sizes and durations as users write them.
//!
//! Sizes go through the `parse-size` crate: `K`, `M`, `G` are powers of 1000 and
//! `KiB`, `MiB`, `GiB` powers of 1024, case-insensitive, with an optional `B`.
//! That crate rounds fractions (`1.5` becomes 2); a workload that rounds is not
//! exact, so a size with a decimal point or an exponent is refused instead.

use std::time::Duration;

/// The largest size any workload accepts: what a Rust or C object may span.
pub const MAX_SIZE: u64 = isize::MAX as u64;

/// Parses a size of at least one byte; the error says why, in a few words.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = |why: &str| why.to_owned();
    let t = text.trim();
    if t.starts_with('-') {
        return Err(bad("sizes are positive"));
    }
    if t.contains(['.', ',']) || has_exponent(t) {
        return Err(bad(
            "give a whole number of bytes, e.g. 1536 rather than 1.5KiB",
        ));
    }
    match parse_size::parse_size(t) {
        Ok(0) => Err(bad("the size must be at least 1 byte")),
        Ok(n) if n > MAX_SIZE => Err(bad("larger than any object can be")),
        Ok(n) => Ok(n),
        Err(parse_size::Error::PosOverflow) => Err(bad("larger than any object can be")),
        Err(parse_size::Error::InvalidDigit) => Err(bad(
            "expected bytes with an optional unit: 4096, 4KiB, 1MiB, 1GiB, 1G",
        )),
        Err(e) => Err(bad(&e.to_string())),
    }
}

/// `1e3` and `2E+6` are exponents; `1E` and `1EiB` are exabytes.
fn has_exponent(t: &str) -> bool {
    let b = t.as_bytes();
    b.windows(2).enumerate().any(|(i, w)| {
        matches!(w[0], b'e' | b'E')
            && i > 0
            && b[i - 1].is_ascii_digit()
            && (w[1].is_ascii_digit() || w[1] == b'+' || w[1] == b'-')
    })
}

/// How long to keep an allocation: a duration, or until a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    For(Duration),
    UntilSignal,
}

/// The longest hold: what the report's `hold_ns` can say, 2^64 - 1 ns (584 years).
pub const MAX_HOLD: Duration = Duration::from_nanos(u64::MAX);

/// Parses `500ms`, `5s`, `2m` (humantime) or `inf`; a duration past [`MAX_HOLD`]
/// is refused rather than wrapped or overflowed.
pub fn parse_hold(text: &str) -> Result<Hold, String> {
    if text == "inf" {
        return Ok(Hold::UntilSignal);
    }
    match humantime::parse_duration(text) {
        Ok(d) if d > MAX_HOLD => {
            Err("longer than 584 years; use inf to hold until a signal".into())
        }
        Ok(d) => Ok(Hold::For(d)),
        Err(e) => Err(format!("{e} (try 500ms, 5s or inf)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("1gib").unwrap(), 1 << 30);
        assert_eq!(parse_size("1EiB").unwrap(), 1 << 60);
        assert_eq!(parse_size("1PiB").unwrap(), 1 << 50);
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "0",
            "-1",
            "abc",
            "1.5",
            "1.5KiB",
            "1e3",
            "2E+6",
            "10XB",
            "8EiB",
            "99999999999999999999",
        ] {
            let why = parse_size(bad).unwrap_err();
            assert!(!why.is_empty() && !why.contains('\n'), "{bad}: {why}");
        }
    }

    #[test]
    fn holds() {
        assert_eq!(parse_hold("inf").unwrap(), Hold::UntilSignal);
        assert_eq!(
            parse_hold("500ms").unwrap(),
            Hold::For(Duration::from_millis(500))
        );
        assert_eq!(parse_hold("5s").unwrap(), Hold::For(Duration::from_secs(5)));
        assert!(parse_hold("soon").is_err());
        assert!(parse_hold("-1s").is_err());
        assert_eq!(parse_hold("584y").map(|_| ()), Ok(()));
        for huge in ["585y", "600y", "9223372036854775807s", "292277024626y"] {
            assert!(
                parse_hold(huge).unwrap_err().contains("584 years"),
                "{huge}"
            );
        }
    }
}
