//! A reading classed against the truth: the class and the reason.

use super::*;
use wlmodel::glibc;

/// A cell's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Exact,
    Rounded,
    Noise,
    Double,
    Phantom,
    Missed,
    Misattributed,
    /// The run failed or its output could not be read.
    Failed,
    /// A cell whose runs did not agree on a class (each run is shown): never
    /// decided by a majority.
    Unstable,
}

impl Class {
    pub const ALL: [Class; 9] = [
        Class::Exact,
        Class::Rounded,
        Class::Noise,
        Class::Double,
        Class::Phantom,
        Class::Missed,
        Class::Misattributed,
        Class::Failed,
        Class::Unstable,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Exact => "exact",
            Class::Rounded => "rounded",
            Class::Noise => "noise",
            Class::Double => "double",
            Class::Phantom => "phantom",
            Class::Missed => "missed",
            Class::Misattributed => "misattributed",
            Class::Failed => "failed",
            Class::Unstable => "unstable",
        }
    }
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

pub(super) fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

fn signed(d: i128) -> String {
    if d >= 0 {
        format!("+{d}")
    } else {
        d.to_string()
    }
}

/// Classes a reading against the truth, with the reason in a few words; for a
/// tracker that lists its blocks' sizes, the reason also names the workload's
/// calls it did not see and the blocks it saw besides them.
pub fn classify(kind: Kind, r: &Reading, t: &Truth) -> (Class, String) {
    let (class, why) = classify_bytes(kind, r, t);
    if class == Class::Exact || r.sizes.is_empty() || kind == Kind::Mapping {
        return (class, why);
    }
    match unmatched(t, &r.sizes) {
        u if u.is_empty() => (class, why),
        u if why.is_empty() => (class, u),
        u => (class, format!("{why}; {u}")),
    }
}

/// The workload's heap calls missing from a tracker's list of block sizes, and
/// the listed blocks left over, matched size for size: "not seen: memalign of
/// 262144 B; besides: 72704 B".
fn unmatched(t: &Truth, sizes: &[(u64, u64)]) -> String {
    let mut left = sizes.to_vec();
    let mut unseen = vec![];
    for (call, bytes) in &t.heap_calls {
        match left.iter_mut().find(|(s, c)| s == bytes && *c > 0) {
            Some((_, c)) => *c -= 1,
            None => unseen.push(format!("{call} of {bytes} B")),
        }
    }
    let besides: Vec<String> = left
        .iter()
        .filter(|(_, c)| *c > 0)
        .map(|&(s, c)| match c {
            1 => format!("{s} B"),
            _ => format!("{c} x {s} B"),
        })
        .collect();
    let mut parts = vec![];
    if !unseen.is_empty() {
        parts.push(format!("not seen: {}", unseen.join(", ")));
    }
    if !besides.is_empty() {
        parts.push(format!("besides: {}", besides.join(", ")));
    }
    parts.join("; ")
}

fn classify_bytes(kind: Kind, r: &Reading, t: &Truth) -> (Class, String) {
    let (want, want_calls) = t.expect(kind);
    let calls = match (r.calls, want_calls) {
        (Some(c), Some(w)) => Some((c, w)),
        _ => None,
    };
    let diff = i128::from(r.bytes) - i128::from(want);
    let d = signed(diff);
    let calls_note = |c: u64, w: u64| {
        if c == w {
            String::new()
        } else {
            format!(", {} calls", signed(i128::from(c) - i128::from(w)))
        }
    };
    if diff == 0 {
        return match calls {
            Some((c, w)) if c > w => (Class::Noise, format!("bytes right{}", calls_note(c, w))),
            Some((c, w)) if c < w => (Class::Missed, format!("bytes right{}", calls_note(c, w))),
            _ => (Class::Exact, String::new()),
        };
    }
    if want > 0 && r.bytes == 0 {
        if r.elsewhere > 0 {
            return (
                Class::Misattributed,
                format!("{d} B here, {} B on another process", r.elsewhere),
            );
        }
        return (Class::Missed, format!("{d} B: saw nothing"));
    }
    // What the ledger accounts for: one of its differences, or all of one
    // class together (a break grown three times).
    let mine: Vec<&Explained> = t
        .explained
        .iter()
        .filter(|e| e.kinds.contains(&kind))
        .collect();
    let c = calls.map(|(c, w)| calls_note(c, w)).unwrap_or_default();
    if let Some(e) = mine.iter().find(|e| e.bytes == diff) {
        return (e.class, format!("{d} B{c}: {}", e.why));
    }
    for class in Class::ALL {
        let same: Vec<&&Explained> = mine.iter().filter(|e| e.class == class).collect();
        if same.len() > 1 && same.iter().map(|e| e.bytes).sum::<i128>() == diff {
            return (
                class,
                format!("{d} B{c}: {} ({} times)", same[0].why, same.len()),
            );
        }
    }
    // two different ones together: the worse class names the cell
    for (k, a) in mine.iter().enumerate() {
        if let Some(b) = mine[k + 1..].iter().find(|b| a.bytes + b.bytes == diff) {
            let (w, o) = if b.class > a.class { (b, a) } else { (a, b) };
            return (w.class, format!("{d} B{c}: {}; {}", w.why, o.why));
        }
    }
    // MemTracker's rule: the first brk counted from a break of 0.
    if kind == Kind::Mapping && r.from_zero_brk > 0 && diff == i128::from(r.from_zero_brk) {
        return (
            Class::Phantom,
            format!("{d} B: the first brk counted from a break of 0 (the heap's address)"),
        );
    }
    // Calls the workload made and that failed, counted as if they had not.
    let failed_bytes = t.per_call * t.failed;
    if failed_bytes > 0 && diff == i128::from(failed_bytes) {
        return (Class::Phantom, format!("{d} B: a failed call counted"));
    }
    let n = want_calls.unwrap_or(1).max(1);
    if want > 0 && kind != Kind::Mapping && t.per_call > 0 {
        // The malloc and the mmap glibc makes for it, both counted.
        if r.bytes == want + n * glibc::mmapped_chunk_len(t.per_call) {
            return (
                Class::Double,
                format!("{d} B: the malloc and glibc's mmap for it"),
            );
        }
    }
    if want > 0 && r.bytes == 2 * want {
        return (Class::Double, format!("{d} B: counted twice"));
    }
    if want > 0 && kind != Kind::Mapping && diff > 0 {
        let per = t.per_call;
        let cases = [
            (
                glibc::mmapped_chunk_len(per),
                "glibc's mmap of the chunk (header, page rounding)",
            ),
            (
                glibc::chunk_size(per),
                "glibc's chunk (8-byte header, 16-byte alignment)",
            ),
            (round_up(per, 4096), "page rounding"),
        ];
        for (each, why) in cases {
            if r.bytes == n * each {
                return (Class::Rounded, format!("{d} B: {why}"));
            }
        }
    }
    if want > 0 && kind == Kind::Mapping && diff > 0 && r.bytes == round_up(want, 4096) {
        return (Class::Rounded, format!("{d} B: page rounding"));
    }
    if diff < 0 {
        if r.elsewhere > 0 && i128::from(r.bytes + r.elsewhere) >= i128::from(want) {
            return (
                Class::Misattributed,
                format!("{d} B here, {} B on another process or thread", r.elsewhere),
            );
        }
        let c = calls.map(|(c, w)| calls_note(c, w)).unwrap_or_default();
        return (Class::Missed, format!("{d} B{c}"));
    }
    let c = calls.map(|(c, w)| calls_note(c, w)).unwrap_or_default();
    (Class::Noise, format!("{d} B{c}"))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn classes() {
        let t = truth(262144, 266240, 135168);
        assert_eq!(
            classify(Kind::Calls, &r(262144, Some(1)), &t).0,
            Class::Exact
        );
        assert_eq!(
            classify(Kind::Mapping, &r(401408, None), &t).0,
            Class::Exact
        );
        // memleak reports glibc's mmap length for the block
        let (c, why) = classify(Kind::Live, &r(266240, Some(1)), &t);
        assert_eq!(
            (c, why.as_str()),
            (
                Class::Rounded,
                "+4096 B: glibc's mmap of the chunk (header, page rounding)"
            )
        );
        // heaptrack's preload pulls in libstdc++'s 72704-byte pool
        let (c, why) = classify(Kind::Calls, &r(334848, Some(2)), &t);
        assert_eq!((c, why.as_str()), (Class::Noise, "+72704 B, +1 calls"));
        // an attached mapping tracker that misses the heap's growth
        let (c, why) = classify(Kind::Mapping, &r(266240, None), &t);
        assert_eq!((c, why.as_str()), (Class::Missed, "-135168 B"));
        assert_eq!(classify(Kind::Calls, &r(0, Some(0)), &t).0, Class::Missed);
        assert_eq!(
            classify(Kind::Calls, &r(524288, Some(2)), &t).0,
            Class::Double
        );
        assert_eq!(
            classify(Kind::Calls, &r(262144 + 266240, Some(2)), &t).0,
            Class::Double
        );
        assert_eq!(
            classify(Kind::Calls, &r(262144, Some(3)), &t).0,
            Class::Noise
        );
        // a heap block of 1 byte is a 32-byte chunk
        let small = truth(1, 0, 135168);
        assert_eq!(
            classify(Kind::Live, &r(32, Some(1)), &small).0,
            Class::Rounded
        );
        // a failed call counted as an allocation
        let f = Truth {
            per_call: 100,
            completed: 2,
            failed: 1,
            calls: 2,
            call_bytes: 200,
            ..Default::default()
        };
        assert_eq!(
            classify(Kind::Calls, &r(300, Some(3)), &f).0,
            Class::Phantom
        );
        // the bytes on another pid
        let mut m = r(0, None);
        m.elsewhere = 401408;
        assert_eq!(classify(Kind::Mapping, &m, &t).0, Class::Misattributed);
        m.bytes = 1;
        assert_eq!(classify(Kind::Mapping, &m, &t).0, Class::Misattributed);
    }
}
