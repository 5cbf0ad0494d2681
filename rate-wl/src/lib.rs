//! What `rate-wl` computes without calling anything: the sizes and their
//! generator, the size histogram (the rate and its pacing are wlcore's
//! [`pace`](wlcore::pace), shared with kmalloc-test). The binary
//! (`src/main.rs`) makes the calls; this is kept apart so that it can be
//! tested alone. Nothing here allocates once parsed: the generator and the
//! histogram are plain numbers.

use wlcore::size::parse_size;

pub use wlcore::pace::{parse_rate, Rate, MAX_BYTES_PER_S, MAX_CALLS_PER_S};

/// The most sizes `mix:` takes.
pub const MAX_MIX: usize = 64;

/// The sizes of the calls: the positional SIZE or a distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum Sizes {
    Fixed(u64),
    /// Every size from A to B alike.
    Uniform(u64, u64),
    /// Log-uniform from A to B: the size is A·e^(u·ln((B+1)/A)) rounded
    /// down, u uniform in [0, 1); each octave is as likely as any other.
    LogUniform(u64, u64),
    /// One of the sizes, each as likely.
    Mix(Vec<u64>),
}

impl Sizes {
    /// The largest size it gives (the report's `requested_bytes`).
    pub fn max(&self) -> u64 {
        match self {
            Sizes::Fixed(n) => *n,
            Sizes::Uniform(_, b) | Sizes::LogUniform(_, b) => *b,
            Sizes::Mix(v) => v.iter().copied().max().unwrap_or(0),
        }
    }

    /// The smallest.
    pub fn min(&self) -> u64 {
        match self {
            Sizes::Fixed(n) => *n,
            Sizes::Uniform(a, _) | Sizes::LogUniform(a, _) => *a,
            Sizes::Mix(v) => v.iter().copied().min().unwrap_or(0),
        }
    }

    /// The next size, drawn with `g`.
    pub fn draw(&self, g: &mut SplitMix64) -> u64 {
        match self {
            Sizes::Fixed(n) => *n,
            Sizes::Uniform(a, b) => a + g.below(b - a + 1),
            Sizes::LogUniform(a, b) => {
                let (lo, span) = (*a as f64, ln((*b as f64 + 1.0) / *a as f64));
                // The top 53 bits as a fraction in [0, 1).
                let u = (g.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                // `as` truncates: the floor of a positive number.
                ((lo * exp(u * span)) as u64).clamp(*a, *b)
            }
            Sizes::Mix(v) => v[g.below(v.len() as u64) as usize],
        }
    }
}

/// Parses the positional argument: a SIZE (4KiB), `uniform:A-B`,
/// `loguniform:A-B` or `mix:S1,S2,...`.
pub fn parse_sizes(text: &str) -> Result<Sizes, String> {
    let Some((kind, rest)) = text.split_once(':') else {
        return parse_size(text).map(Sizes::Fixed);
    };
    let range = |rest: &str| -> Result<(u64, u64), String> {
        let (a, b) = rest
            .split_once('-')
            .ok_or("a range is A-B, e.g. 4KiB-1MiB")?;
        let (a, b) = (parse_size(a)?, parse_size(b)?);
        if a > b {
            return Err(format!("the range's start {a} is above its end {b}"));
        }
        Ok((a, b))
    };
    match kind {
        "uniform" => range(rest).map(|(a, b)| Sizes::Uniform(a, b)),
        "loguniform" => range(rest).map(|(a, b)| Sizes::LogUniform(a, b)),
        "mix" => {
            let v = rest
                .split(',')
                .map(parse_size)
                .collect::<Result<Vec<u64>, String>>()?;
            if v.len() > MAX_MIX {
                return Err(format!("at most {MAX_MIX} sizes in a mix"));
            }
            Ok(Sizes::Mix(v))
        }
        _ => Err("expected a size (4KiB) or uniform:A-B, loguniform:A-B, mix:S1,S2,...".into()),
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit state that moves by a
/// fixed odd step, its output a mix of the state. Tiny, fast, allocation-free,
/// and the same sequence for the same seed on every machine.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The generator of thread `i` of a run seeded `seed`: thread 0 takes the
    /// seed itself (`--threads 1` draws what a run in the main thread draws),
    /// the others a seed drawn from it.
    pub fn for_thread(seed: u64, i: u64) -> Self {
        if i == 0 {
            return SplitMix64(seed);
        }
        SplitMix64(SplitMix64(seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0), by multiplying and keeping the high word
    /// (Lemire's method without its rejection step: a bias below n / 2^64).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

const LN_2: f64 = std::f64::consts::LN_2;

/// ln(x) for a finite x > 0, without libm (std's `ln` would link libm.so, a
/// library more to load at every start): x = m·2^e with m in [√½, √2),
/// ln(m) = 2·atanh((m-1)/(m+1)) by its series.
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let (s2, mut term, mut sum) = (s * s, s, 0.0);
    for k in 0..12 {
        sum += term / f64::from(2 * k + 1);
        term *= s2;
    }
    2.0 * sum + e as f64 * LN_2
}

/// e^y for 0 <= y < 709, without libm: y = k·ln 2 + r, |r| <= ln 2 / 2,
/// e^r by its Taylor series, 2^k put in the exponent.
pub fn exp(y: f64) -> f64 {
    let k = (y / LN_2 + 0.5) as i64;
    let r = y - k as f64 * LN_2;
    let (mut term, mut sum) = (1.0, 1.0);
    for i in 1..20 {
        term *= r / f64::from(i);
        sum += term;
    }
    sum * f64::from_bits(((k + 1023) as u64) << 52)
}

/// The sizes asked, in power-of-two buckets: bucket k holds the sizes from
/// 2^k to 2^(k+1) - 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    pub calls: [u64; 64],
    pub bytes: [u64; 64],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            calls: [0; 64],
            bytes: [0; 64],
        }
    }
}

impl Histogram {
    /// The bucket of `size` (> 0).
    pub fn bucket(size: u64) -> usize {
        63 - size.max(1).leading_zeros() as usize
    }

    pub fn add(&mut self, size: u64) {
        self.add_n(size, 1);
    }

    /// `n` calls of `size`.
    pub fn add_n(&mut self, size: u64, n: u64) {
        let b = Self::bucket(size);
        self.calls[b] += n;
        self.bytes[b] += n * size;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for b in 0..64 {
            self.calls[b] += other.calls[b];
            self.bytes[b] += other.bytes[b];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_specs() {
        assert_eq!(parse_sizes("4KiB"), Ok(Sizes::Fixed(4096)));
        assert_eq!(
            parse_sizes("uniform:4KiB-1MiB"),
            Ok(Sizes::Uniform(4096, 1 << 20))
        );
        assert_eq!(parse_sizes("loguniform:1-64"), Ok(Sizes::LogUniform(1, 64)));
        assert_eq!(
            parse_sizes("mix:4KiB,64KiB,1MiB"),
            Ok(Sizes::Mix(vec![4096, 65536, 1 << 20]))
        );
        for bad in [
            "0",
            "uniform:",
            "uniform:4KiB",
            "uniform:1MiB-4KiB",
            "uniform:0-4",
            "loguniform:a-b",
            "mix:",
            "mix:4KiB,,8KiB",
            "normal:1-2",
        ] {
            assert!(parse_sizes(bad).is_err(), "{bad}");
        }
        let many = vec!["1"; MAX_MIX + 1].join(",");
        assert!(parse_sizes(&format!("mix:{many}")).is_err());
    }

    #[test]
    fn draws_stay_in_range_and_repeat() {
        for s in [
            Sizes::Uniform(4096, 1 << 20),
            Sizes::LogUniform(4096, 1 << 20),
            Sizes::LogUniform(1, 1),
            Sizes::Mix(vec![1, 7, 9]),
        ] {
            let (mut g, mut h) = (SplitMix64::new(7), SplitMix64::new(7));
            for _ in 0..10_000 {
                let x = s.draw(&mut g);
                assert!((s.min()..=s.max()).contains(&x), "{s:?}: {x}");
                assert_eq!(x, s.draw(&mut h));
            }
        }
        // Log-uniform: each octave from 4 KiB to 1 MiB about as often (8 of them).
        let s = Sizes::LogUniform(4096, (1 << 20) - 1);
        let mut g = SplitMix64::new(1);
        let mut h = Histogram::default();
        for _ in 0..80_000 {
            h.add(s.draw(&mut g));
        }
        for b in 12..20 {
            assert!((9_000..11_000).contains(&h.calls[b]), "{b}: {:?}", h.calls);
        }
        // Uniform: the octave 512 KiB-1 MiB holds about half.
        let s = Sizes::Uniform(4096, 1 << 20);
        let mut h = Histogram::default();
        for _ in 0..10_000 {
            h.add(s.draw(&mut g));
        }
        assert!((4_800..5_200).contains(&h.calls[19]), "{:?}", h.calls);
    }

    #[test]
    fn splitmix_is_the_published_sequence() {
        // The reference outputs for seed 1234567 (Vigna's splitmix64.c).
        let mut g = SplitMix64::new(1_234_567);
        assert_eq!(g.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(g.next_u64(), 3_203_168_211_198_807_973);
        assert_ne!(
            SplitMix64::for_thread(1, 1).next_u64(),
            SplitMix64::for_thread(1, 2).next_u64()
        );
    }

    #[test]
    fn ln_and_exp_agree_with_libm() {
        for x in [1e-9, 0.3, 1.0, 1.5, 2.0, 4096.0, 1e6, 1e15] {
            assert!(
                (ln(x) - x.ln()).abs() < 1e-12 * x.ln().abs().max(1.0),
                "{x}"
            );
        }
        for y in [0.0, 0.1, 0.69, 1.0, 5.5, 20.0, 43.0] {
            assert!((exp(y) - y.exp()).abs() < 1e-13 * y.exp(), "{y}");
        }
    }

    #[test]
    fn buckets() {
        assert_eq!(Histogram::bucket(1), 0);
        assert_eq!(Histogram::bucket(4095), 11);
        assert_eq!(Histogram::bucket(4096), 12);
        assert_eq!(Histogram::bucket(u64::MAX), 63);
    }
}
