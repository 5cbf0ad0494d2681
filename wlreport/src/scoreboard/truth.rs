//! The truth of a run: what the workload did, from its ledger (`wlmodel`),
//! held against each kind of tracker, and the differences the ledger accounts for.
//! One concern in one file: its tests, a ledger for every shape of path, are
//! two thirds of it.

use super::*;
use std::collections::BTreeMap;
use wlmodel::{glibc, Entry, Report, Timeline};

/// A difference from the truth that the ledger accounts for: a tracker whose
/// figure is off by exactly `bytes` counted (or left out) what `why` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// The kinds of tracker it is looked for in.
    pub kinds: &'static [Kind],
    /// Figure minus truth.
    pub bytes: i128,
    pub class: Class,
    pub why: String,
}

const MAPPING: &[Kind] = &[Kind::Mapping];
const HEAP: &[Kind] = &[Kind::Calls, Kind::Live];
const ALL_KINDS: &[Kind] = &[Kind::Calls, Kind::Live, Kind::Mapping];

/// What the workload did, from its `--json` ledger (`docs/ledger.md`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    /// What one call asked the allocator for (`allocator_bytes`).
    pub per_call: u64,
    pub completed: u64,
    /// Calls that were made and failed (a failed repeat).
    pub failed: u64,
    /// The successful allocating calls of the malloc family, over every
    /// repeat and process, and the bytes they asked for (calloc: nmemb x size).
    pub calls: u64,
    pub call_bytes: u64,
    /// The same calls one by one: the function and its bytes.
    pub heap_calls: Vec<(String, u64)>,
    /// The malloc-family blocks live while the first repeat holds them.
    pub live_blocks: u64,
    pub live_bytes: u64,
    /// What the first repeat had mapped while it held
    /// ([`wlmodel::Timeline::held_bytes`]).
    pub held_bytes: u64,
    /// The processes whose calls these are (a forked child's, not the
    /// parent's).
    pub pids: Vec<u64>,
    /// The differences the ledger accounts for.
    pub explained: Vec<Explained>,
}

/// glibc's heap of a thread's arena (HEAP_MAX_SIZE, x86-64).
const ARENA: i128 = 64 << 20;

impl Truth {
    pub fn from_json(j: &str) -> Result<Truth, String> {
        Ok(Truth::of(&Report::parse(j)?))
    }

    pub fn of(report: &Report) -> Truth {
        let mut t = Truth {
            per_call: report.allocator_bytes,
            completed: report.completed,
            failed: u64::from(report.failed()),
            pids: report.pids(),
            ..Default::default()
        };
        // Every repeat: the malloc family's calls.
        for e in report.ledger.iter().filter(|e| e.is_allocating()) {
            let bytes = e.asked_bytes();
            if e.ok() {
                t.calls += 1;
                t.call_bytes += bytes;
                t.heap_calls.push((e.call.clone(), bytes));
            } else {
                t.explained.push(Explained {
                    kinds: HEAP,
                    bytes: i128::from(bytes),
                    class: Class::Phantom,
                    why: format!("the failed {} counted", e.call),
                });
            }
        }
        // The first repeat: what was mapped and live while held.
        let line = Timeline::of(report);
        t.held_bytes = line.held_bytes();
        let live = line.live_while_held();
        (t.live_blocks, t.live_bytes) = (live.blocks(), live.bytes());
        t.explain(&line.entries, line.held_end);
        t
    }

    /// The differences the first repeat's calls account for.
    fn explain(&mut self, first: &[&Entry], held_end: usize) {
        let page = |n: u64| i128::from(round_up(n, 4096));
        let mut add = |kinds, bytes: i128, class, why: String| {
            if bytes != 0 {
                self.explained.push(Explained {
                    kinds,
                    bytes,
                    class,
                    why,
                });
            }
        };
        let mut segments: BTreeMap<u64, u64> = BTreeMap::new();
        // malloc-family blocks that glibc mmapped (the call mapped at least
        // the block), by address
        let mut mmapped: Vec<u64> = vec![];
        let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
        // the workload's own mmaps: their lengths, and what they mapped
        let (mut own_mmaps, mut own_mapped) = (0i128, 0i128);
        for (k, e) in first.iter().enumerate() {
            let (call, held) = (e.call.as_str(), k < held_end);
            let (ok, mapped) = (e.ok(), i128::from(e.mapped_bytes.unwrap_or(0)));
            let errno = e.errno.as_deref().unwrap_or_default();
            let arg = |name| e.arg(name).unwrap_or(0);
            let sysv = e.sysv_bytes.unwrap_or(0);
            if ok && e.is_allocating() {
                let size = e.asked_bytes();
                let ptr = arg("ptr");
                if call == "realloc" && held && mmapped.contains(&ptr) {
                    // a tracker that keyed the old block by glibc's mmap
                    // misses the realloc's release of it
                    let old = sizes.get(&ptr).copied().unwrap_or(0);
                    add(
                        &[Kind::Live],
                        i128::from(glibc::mmapped_chunk_len(old)),
                        Class::Double,
                        "the mmapped block realloc moved away from still counted".into(),
                    );
                }
                sizes.insert(e.ret().unwrap_or(0), size);
                if call == "realloc" && held && mapped > 0 && mmapped.contains(&ptr) {
                    add(
                        MAPPING,
                        -mapped,
                        Class::Missed,
                        "glibc's mremap of the mmapped chunk (realloc) not seen".into(),
                    );
                }
                if mapped >= i128::from(size) {
                    mmapped.extend(e.ret());
                    let own = mapped - i128::from(e.heap_bytes.unwrap_or(0)) - i128::from(size);
                    if held && own > 0 {
                        add(
                            &[Kind::Live],
                            own,
                            Class::Rounded,
                            "glibc's whole mmap for the block (alignment, header, pages)".into(),
                        );
                    }
                }
                if held && e.tid != e.pid && mapped >= ARENA {
                    add(
                        MAPPING,
                        ARENA,
                        Class::Noise,
                        "glibc's arena for the thread: 128 MiB mmapped to align 64 MiB, half unmapped at once"
                            .into(),
                    );
                }
            }
            match (call, ok) {
                ("mmap", false) => add(
                    ALL_KINDS,
                    page(arg("length")),
                    Class::Phantom,
                    format!("the failed mmap ({errno}) counted"),
                ),
                ("shmget", false) => add(
                    MAPPING,
                    page(arg("size")),
                    Class::Phantom,
                    format!("the failed shmget ({errno}) counted"),
                ),
                ("mmap", true) if held => {
                    own_mmaps += page(arg("length"));
                    own_mapped += mapped;
                    let over = page(arg("length")) - mapped;
                    if over > 0 && e.arg_text("flags").unwrap_or("").contains("MAP_FIXED") {
                        add(
                            MAPPING,
                            over,
                            Class::Double,
                            "the MAP_FIXED mmap over its own mapping counted again".into(),
                        );
                    }
                }
                ("mremap", true) if held && mapped < 0 => add(
                    MAPPING,
                    -mapped,
                    Class::Double,
                    "the mapping mremap moved onto (replaced) counted as well".into(),
                ),
                ("mremap", true) if held && mapped > 0 => add(
                    MAPPING,
                    -mapped,
                    Class::Missed,
                    "mremap's growth not seen".into(),
                ),
                ("munmap", true) if held && mapped < 0 => add(
                    MAPPING,
                    -mapped,
                    Class::Noise,
                    "a page unmapped before the hold still counted (munmap not subtracted)".into(),
                ),
                ("brk", true) if held && mapped < 0 => add(
                    MAPPING,
                    -mapped,
                    Class::Double,
                    "the break grown again after a shrink: each growth counted".into(),
                ),
                ("shmget", true) => {
                    let (size, id) = (arg("size"), e.ret().unwrap_or(0));
                    if sysv == 0 {
                        add(
                            MAPPING,
                            page(size),
                            Class::Double,
                            "the second shmget of the key (the same segment) counted".into(),
                        );
                    }
                    segments.entry(id).or_insert(size);
                }
                ("shmctl", true) if held => {
                    let size = segments.get(&arg("shmid")).copied().unwrap_or(0);
                    if sysv == 0 && e.arg_text("cmd") == Some("IPC_RMID") {
                        add(
                            MAPPING,
                            -page(size),
                            Class::Missed,
                            "taken away at IPC_RMID, still attached".into(),
                        );
                    }
                }
                _ => {}
            }
        }
        add(
            HEAP,
            own_mapped,
            Class::Noise,
            "the workload's own mmap, counted as a heap block".into(),
        );
        if own_mmaps != own_mapped {
            add(
                HEAP,
                own_mmaps,
                Class::Noise,
                "the workload's own mmaps, counted as heap blocks".into(),
            );
        }
    }

    /// The bytes and calls a tracker of this kind should report.
    pub fn expect(&self, kind: Kind) -> (u64, Option<u64>) {
        match kind {
            Kind::Calls => (self.call_bytes, Some(self.calls)),
            Kind::Live => (self.live_bytes, Some(self.live_blocks)),
            Kind::Mapping => (self.held_bytes, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn truth_from_the_ledger_mmap_wl() {
        let map = r#""addr":"0x0","length":8192,"flags":"MAP_PRIVATE|MAP_ANONYMOUS""#;
        // fixed: the overlay maps nothing new; held: 8192
        let fixed = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            (
                "mmap",
                r#""addr":"0x2000","length":4096,"flags":"MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS""#,
                r#""0x2000""#,
                "null",
                0,
                0,
                1,
            ),
            (
                "munmap",
                r#""addr":"0x1000","length":8192"#,
                "0",
                "null",
                -8192,
                0,
                101,
            ),
        ]);
        let t = Truth::from_json(&fixed).unwrap();
        assert_eq!(
            (t.held_bytes, t.calls, t.call_bytes, t.live_bytes),
            (8192, 0, 0, 0)
        );
        assert_eq!(class_of(Kind::Mapping, 8192, &fixed).0, Class::Exact);
        let (c, why) = class_of(Kind::Mapping, 12288, &fixed);
        assert_eq!(c, Class::Double, "{why}");
        assert!(why.starts_with("+4096 B: the MAP_FIXED mmap"), "{why}");
        // a heap tracker that hooks mmap (memleak) sees the mapping as a block
        let (c, why) = classify(Kind::Live, &r(8192, Some(1)), &t);
        assert_eq!(c, Class::Noise, "{why}");
        assert!(why.contains("own mmap"), "{why}");
        // mremap-move: the reservation replaced
        let mv = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            ("mmap", map, r#""0x4000""#, "null", 8192, 0, 1),
            (
                "mremap",
                r#""old_address":"0x1000","old_size":8192,"new_size":8192"#,
                r#""0x4000""#,
                "null",
                -8192,
                0,
                2,
            ),
            (
                "munmap",
                r#""addr":"0x4000","length":8192"#,
                "0",
                "null",
                -8192,
                0,
                102,
            ),
        ]);
        assert_eq!(Truth::from_json(&mv).unwrap().held_bytes, 8192);
        assert_eq!(class_of(Kind::Mapping, 16384, &mv).0, Class::Double);
        // mremap-grow: held 2 x SIZE; a tracker of mmap lengths misses the growth
        let grow = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            (
                "mremap",
                r#""old_address":"0x1000","old_size":8192,"new_size":16384"#,
                r#""0x4000""#,
                "null",
                8192,
                0,
                1,
            ),
            (
                "munmap",
                r#""addr":"0x4000","length":16384"#,
                "0",
                "null",
                -16384,
                0,
                101,
            ),
        ]);
        let (c, why) = class_of(Kind::Mapping, 8192, &grow);
        assert_eq!(
            (c, why.as_str()),
            (Class::Missed, "-8192 B: mremap's growth not seen")
        );
        // unmap-middle: one page given back before the hold
        let mid = report(&[
            (
                "mmap",
                r#""addr":"0x0","length":12288"#,
                r#""0x1000""#,
                "null",
                12288,
                0,
                0,
            ),
            (
                "munmap",
                r#""addr":"0x2000","length":4096"#,
                "0",
                "null",
                -4096,
                0,
                1,
            ),
            (
                "munmap",
                r#""addr":"0x1000","length":4096"#,
                "0",
                "null",
                -4096,
                0,
                101,
            ),
            (
                "munmap",
                r#""addr":"0x3000","length":4096"#,
                "0",
                "null",
                -4096,
                0,
                102,
            ),
        ]);
        assert_eq!(Truth::from_json(&mid).unwrap().held_bytes, 8192);
        assert_eq!(class_of(Kind::Mapping, 12288, &mid).0, Class::Noise);
        // fail-eexist: the failed mmap counted is a phantom
        let fail = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            (
                "mmap",
                r#""addr":"0x1000","length":8192,"flags":"MAP_FIXED_NOREPLACE""#,
                "null",
                r#""EEXIST""#,
                0,
                0,
                1,
            ),
            (
                "munmap",
                r#""addr":"0x1000","length":8192"#,
                "0",
                "null",
                -8192,
                0,
                101,
            ),
        ]);
        assert_eq!(class_of(Kind::Mapping, 8192, &fail).0, Class::Exact);
        let (c, why) = class_of(Kind::Mapping, 16384, &fail);
        assert_eq!(
            (c, why.as_str()),
            (Class::Phantom, "+8192 B: the failed mmap (EEXIST) counted")
        );
        let (c, why) = classify(
            Kind::Live,
            &r(16384, Some(2)),
            &Truth::from_json(&fail).unwrap(),
        );
        assert_eq!(c, Class::Phantom, "{why}");
        // no hold in the ledger: up to the peak
        let nohold = report(&[
            ("mmap", map, r#""0x1000""#, "null", 8192, 0, 0),
            (
                "munmap",
                r#""addr":"0x1000","length":8192"#,
                "0",
                "null",
                -8192,
                0,
                1,
            ),
        ]);
        assert_eq!(Truth::from_json(&nohold).unwrap().held_bytes, 8192);
    }

    #[test]
    fn truth_from_the_ledger_brk_and_shm() {
        let cycles = report(&[
            ("brk", r#""addr":"0x0""#, r#""0x10000""#, "null", 0, 0, 0),
            (
                "brk",
                r#""addr":"0x12000""#,
                r#""0x12000""#,
                "null",
                8192,
                0,
                1,
            ),
            (
                "brk",
                r#""addr":"0x10000""#,
                r#""0x10000""#,
                "null",
                -8192,
                0,
                2,
            ),
            (
                "brk",
                r#""addr":"0x12000""#,
                r#""0x12000""#,
                "null",
                8192,
                0,
                3,
            ),
            (
                "brk",
                r#""addr":"0x10000""#,
                r#""0x10000""#,
                "null",
                -8192,
                0,
                4,
            ),
            (
                "brk",
                r#""addr":"0x12000""#,
                r#""0x12000""#,
                "null",
                8192,
                0,
                5,
            ),
            (
                "brk",
                r#""addr":"0x10000""#,
                r#""0x10000""#,
                "null",
                -8192,
                0,
                105,
            ),
        ]);
        assert_eq!(Truth::from_json(&cycles).unwrap().held_bytes, 8192);
        let (c, why) = class_of(Kind::Mapping, 24576, &cycles);
        assert_eq!(c, Class::Double);
        assert!(why.ends_with("(2 times)"), "{why}");
        // sysv-same-key: one segment (its shmat mapping not counted again)
        let same = report(&[
            (
                "shmget",
                r#""key":"0x40","size":8192"#,
                "5",
                "null",
                0,
                8192,
                0,
            ),
            (
                "shmget",
                r#""key":"0x40","size":8192"#,
                "5",
                "null",
                0,
                0,
                1,
            ),
            ("shmat", r#""shmid":5"#, r#""0x1000""#, "null", 8192, 0, 2),
            ("shmdt", r#""shmaddr":"0x1000""#, "0", "null", -8192, 0, 102),
            (
                "shmctl",
                r#""shmid":5,"cmd":"IPC_RMID""#,
                "0",
                "null",
                0,
                -8192,
                103,
            ),
        ]);
        assert_eq!(Truth::from_json(&same).unwrap().held_bytes, 8192);
        assert_eq!(class_of(Kind::Mapping, 8192, &same).0, Class::Exact);
        let (c, why) = class_of(Kind::Mapping, 16384, &same);
        assert_eq!(c, Class::Double);
        assert!(why.contains("second shmget"), "{why}");
    }

    #[test]
    fn truth_from_the_ledger_malloc_family_and_forks() {
        // realloc from 1 MiB to 4 MiB: 2 calls, 5 MiB asked, 4 MiB live
        let re = report(&[
            (
                "malloc",
                r#""size":1048576"#,
                r#""0x1010""#,
                "null",
                1187840,
                0,
                0,
            ),
            (
                "realloc",
                r#""ptr":"0x1010","size":4194304"#,
                r#""0x9010""#,
                "null",
                3145728,
                0,
                1,
            ),
            (
                "free",
                r#""ptr":"0x9010""#,
                "null",
                "null",
                -4198400,
                0,
                101,
            ),
        ]);
        let t = Truth::from_json(&re).unwrap();
        assert_eq!((t.calls, t.call_bytes), (2, 5 << 20));
        assert_eq!(
            (t.live_blocks, t.live_bytes, t.held_bytes),
            (1, 4 << 20, 4333568)
        );
        let (c, why) = classify(Kind::Live, &r(5246976, Some(2)), &t);
        assert_eq!(c, Class::Double, "{why}");
        let (c, why) = class_of(Kind::Mapping, 1187840, &re);
        assert_eq!(c, Class::Missed);
        assert!(why.contains("mremap"), "{why}");
        // calloc: nmemb x size; aligned_alloc seen twice (memalign and
        // aligned_alloc at one address)
        let al = report(&[
            (
                "calloc",
                r#""nmemb":4,"size":16"#,
                r#""0x1010""#,
                "null",
                135168,
                0,
                0,
            ),
            (
                "aligned_alloc",
                r#""alignment":64,"size":262144"#,
                r#""0x9040""#,
                "null",
                266240,
                0,
                1,
            ),
            ("free", r#""ptr":"0x9040""#, "null", "null", -266240, 0, 101),
        ]);
        let t = Truth::from_json(&al).unwrap();
        assert_eq!((t.calls, t.call_bytes, t.live_bytes), (2, 262208, 262208));
        let twice = classify(Kind::Calls, &r(2 * 262208, Some(4)), &t);
        assert_eq!(twice.0, Class::Double);
        assert_eq!(
            t.heap_calls,
            [
                ("calloc".to_owned(), 64),
                ("aligned_alloc".to_owned(), 262144)
            ]
        );
        // A tracker that lists block sizes (heaptrack's histogram) names what
        // it missed and what it saw besides: here an unhooked aligned_alloc
        // and a stranger's 72704-byte block.
        let ht = "calls to allocation functions: 2 (1000/s)\nhistogram 64 1\nhistogram 72704 1\n";
        let (c, why) = classify(Kind::Calls, &heaptrack(ht).unwrap(), &t);
        assert_eq!(
            (c, why.as_str()),
            (
                Class::Missed,
                "-189440 B; not seen: aligned_alloc of 262144 B; besides: 72704 B"
            )
        );
        let ht = "calls to allocation functions: 3 (1000/s)\nhistogram 64 1\nhistogram 72704 1\nhistogram 262144 1\n";
        let (c, why) = classify(Kind::Calls, &heaptrack(ht).unwrap(), &t);
        assert_eq!(
            (c, why.as_str()),
            (Class::Noise, "+72704 B, +1 calls; besides: 72704 B")
        );
        let ht = "calls to allocation functions: 2 (1000/s)\nhistogram 64 1\nhistogram 262144 1\n";
        assert_eq!(
            classify(Kind::Calls, &heaptrack(ht).unwrap(), &t),
            (Class::Exact, String::new())
        );
        // --fork: the child's calls; the bytes on the parent are misattributed
        let fork = ledger_of(&[
            (7, 7, "fork", "", "8", "null", 0, 0, 0),
            (8, 8, "fork", "", "0", "null", 0, 0, 1),
            (
                8,
                8,
                "malloc",
                r#""size":262144"#,
                r#""0x1010""#,
                "null",
                401408,
                0,
                2,
            ),
            (
                8,
                8,
                "free",
                r#""ptr":"0x1010""#,
                "null",
                "null",
                -266240,
                0,
                102,
            ),
        ]);
        let t = Truth::from_json(&fork).unwrap();
        assert_eq!(
            (t.pids.clone(), t.held_bytes, t.calls),
            (vec![8], 401408, 1)
        );
        let mut seen = Reading {
            by_pid: vec![(7, 0, Some(0)), (8, 262144, Some(1))],
            calls: Some(1),
            ..Default::default()
        };
        seen.attribute(&t.pids);
        assert_eq!(classify(Kind::Calls, &seen, &t).0, Class::Exact);
        let mut wrong = Reading {
            by_pid: vec![(7, 262144, Some(1)), (8, 0, Some(0))],
            calls: Some(1),
            ..Default::default()
        };
        wrong.attribute(&t.pids);
        let (c, why) = classify(Kind::Calls, &wrong, &t);
        assert_eq!(c, Class::Misattributed, "{why}");
        // memtrack: the null run comes off the parent, the child as it is
        let m = memtrack(
            "exit pid=8 comm=malloc-wl user=401408\nexit pid=7 comm=malloc-wl user=3000000\n",
            "exit pid=6 comm=malloc-wl user=3000000\n",
            7,
        )
        .unwrap();
        assert_eq!(m.by_pid, [(8, 401408, None), (7, 0, None)]);
        // memcheck with a child: a summary each
        let mc = "==8== total heap usage: 1 allocs, 1 frees, 262,144 bytes allocated\n==7== total heap usage: 0 allocs, 0 frees, 0 bytes allocated\n";
        let c = memcheck(mc).unwrap();
        assert_eq!(c.by_pid, [(8, 262144, Some(1)), (7, 0, Some(0))]);
    }
    #[test]
    fn truth_from_json() {
        // a 256 KiB malloc: the first heap (135168) and glibc's mmap (266240)
        let j = report(&[
            (
                "malloc",
                r#""size":262144"#,
                r#""0x7f0000000010""#,
                "null",
                401408,
                0,
                0,
            ),
            (
                "free",
                r#""ptr":"0x7f0000000010""#,
                "null",
                "null",
                -266240,
                0,
                100,
            ),
        ]);
        let t = Truth::from_json(&j).unwrap();
        assert_eq!(t.expect(Kind::Calls), (262144, Some(1)));
        assert_eq!(t.expect(Kind::Live), (262144, Some(1)));
        assert_eq!(t.expect(Kind::Mapping), (401408, None));
        assert_eq!((t.failed, t.pids.as_slice()), (0, &[7][..]));
        // a failed repeat: the call made and failed, nothing mapped
        let f = report(&[("malloc", r#""size":8192"#, "null", r#""ENOMEM""#, 0, 0, 0)])
            .replace(r#""failed_repeat":null"#, r#""failed_repeat":1"#);
        let f = Truth::from_json(&f).unwrap();
        assert_eq!((f.failed, f.calls, f.held_bytes), (1, 0, 0));
        assert!(Truth::from_json("{}").is_err());
    }
}
