//! Exact arithmetic on byte counts: medians of whole numbers are whole or half.

use std::fmt;
use std::ops::Sub;

/// A number of bytes kept in half units, so that a median of an even count of
/// runs (the mean of the middle two) and every difference of medians stay exact.
/// Displayed as a whole number, or with `.5` (`-0.5`, `2048.5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Halves(i128);

impl Halves {
    /// A whole number of bytes.
    pub fn whole(v: u64) -> Self {
        Halves(2 * i128::from(v))
    }
}

impl From<u64> for Halves {
    fn from(v: u64) -> Self {
        Halves::whole(v)
    }
}

impl Sub for Halves {
    type Output = Halves;
    fn sub(self, o: Halves) -> Halves {
        Halves(self.0 - o.0)
    }
}

impl fmt::Display for Halves {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        if a % 2 == 0 {
            write!(f, "{sign}{}", a / 2)
        } else {
            write!(f, "{sign}{}.5", a / 2)
        }
    }
}

/// The median: the middle value, or the mean of the middle two. `None` when
/// there are no values.
pub fn median(values: &[u64]) -> Option<Halves> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(Halves::whole(v[n / 2])),
        _ => Some(Halves(i128::from(v[n / 2 - 1]) + i128::from(v[n / 2]))),
    }
}

/// `1234567` as `1,234,567`.
pub fn grouped(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7]).unwrap().to_string(), "7");
        assert_eq!(median(&[9, 1, 5]).unwrap().to_string(), "5");
        assert_eq!(median(&[4, 1]).unwrap().to_string(), "2.5");
        assert_eq!(median(&[1, 3, 2, 10]).unwrap().to_string(), "2.5");
        assert_eq!(median(&[6, 2, 4, 8]).unwrap().to_string(), "5");
    }

    #[test]
    fn median_of_large_counts_is_exact() {
        // Beyond what a double holds exactly (2^53), the halves stay exact.
        let a = u64::MAX;
        let b = u64::MAX - 1;
        assert_eq!(
            median(&[a, b]).unwrap().to_string(),
            "18446744073709551614.5"
        );
    }

    #[test]
    fn differences_and_signs() {
        let m = median(&[1, 2]).unwrap(); // 1.5
        assert_eq!((m - Halves::whole(2)).to_string(), "-0.5");
        assert_eq!((Halves::whole(3) - Halves::whole(5)).to_string(), "-2");
        assert_eq!((Halves::whole(5) - Halves::whole(5)).to_string(), "0");
        assert_eq!((m - m).to_string(), "0");
    }
}
