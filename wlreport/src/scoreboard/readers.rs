//! The runners' raw files and each tracker's output, read into a [`Reading`].

use super::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One normalized raw file, by section (`@@ NAME` lines start them).
pub fn sections(text: &str) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@@ ") {
            cur = Some(name.trim().to_string());
            m.entry(name.trim().to_string()).or_default();
        } else if let Some(c) = &cur {
            let e = m.entry(c.clone()).or_default();
            e.push_str(line);
            e.push('\n');
        }
    }
    m
}

/// What a tracker reported for a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    pub bytes: u64,
    /// Allocating calls, for the trackers that count them.
    pub calls: Option<u64>,
    /// Bytes the tracker put on other processes or threads of the run.
    pub elsewhere: u64,
    /// Other figures worth showing (memcheck's leak summary, massif's extra).
    pub note: String,
    /// The figure process by process (pid, bytes, calls), for the trackers
    /// that report each process on its own; `bytes` and `calls` are then the
    /// sums over all of them until `attribute` splits them.
    pub by_pid: Vec<(u64, u64, Option<u64>)>,
    /// Block sizes and how many of each, for the trackers that list them
    /// (heaptrack's histogram): what names a missed call or a stranger's block.
    pub sizes: Vec<(u64, u64)>,
    /// What the first brk of each process counted from a break of 0
    /// (MemTracker's rule; 0 where that event was dropped): the break's
    /// address, counted as growth in a non-PIE process.
    pub from_zero_brk: u64,
}

impl Reading {
    /// Keeps in `bytes` and `calls` what the tracker put on `home` (the
    /// processes that made the calls) and moves the rest to `elsewhere`.
    pub fn attribute(&mut self, home: &[u64]) {
        if self.by_pid.is_empty() || home.is_empty() {
            return;
        }
        let (mut bytes, mut calls, mut other) = (0, None::<u64>, 0);
        for &(pid, b, c) in &self.by_pid {
            if home.contains(&pid) {
                bytes += b;
                if let Some(c) = c {
                    calls = Some(calls.unwrap_or(0) + c);
                }
            } else {
                other += b;
            }
        }
        self.bytes = bytes;
        if self.calls.is_some() {
            self.calls = Some(calls.unwrap_or(0));
        }
        self.elsewhere = other;
    }
}

/// `KEY=VALUE` out of a line of words.
fn kv(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn num(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

/// The user figure (mmap + brk + shm) of memtrack.bt's `exit` line, of
/// memtrack-pid.bt's `user=` line, or of strace.sh's summary.
pub fn user_figure(text: &str) -> Result<u64, String> {
    text.lines()
        .filter(|l| l.starts_with("exit pid=") || l.starts_with("user="))
        .find_map(|l| kv(l, "user"))
        .ok_or_else(|| "no user= figure".to_string())
}

/// heap.bt: the `exit` lines' calls and bytes, one a process.
pub fn heap_bt(text: &str) -> Result<Reading, String> {
    let mut r = Reading::default();
    for l in text.lines().filter(|l| l.starts_with("exit pid=")) {
        let (pid, bytes, calls) = (
            kv(l, "pid").ok_or("no pid=")?,
            kv(l, "bytes").ok_or("no bytes=")?,
            kv(l, "calls").ok_or("no calls=")?,
        );
        r.bytes += bytes;
        r.calls = Some(r.calls.unwrap_or(0) + calls);
        r.by_pid.push((pid, bytes, Some(calls)));
    }
    if r.by_pid.is_empty() {
        return Err("no exit line from heap.bt".into());
    }
    if r.by_pid.len() == 1 {
        r.by_pid.clear();
    }
    Ok(r)
}

/// memtrack.bt: the `exit` lines' user figure, one a process, less the null
/// run's figure on the process `main` (the one started). What the null run's
/// first brk counted (`first_brk`: the break's address, when the rules keep it)
/// is not start-up work but the rule's own, and another address in each
/// process: it stays out of what is taken off, and the run's own shows.
pub fn memtrack(text: &str, null: &str, main: u64) -> Result<Reading, String> {
    let lines: Vec<(u64, u64)> = text
        .lines()
        .filter(|l| l.starts_with("exit pid="))
        .filter_map(|l| Some((kv(l, "pid")?, kv(l, "user")?)))
        .collect();
    let null_first_brk = null
        .lines()
        .filter(|l| l.starts_with("exit pid="))
        .find_map(|l| kv(l, "first_brk"))
        .unwrap_or(0);
    let null = user_figure(null)?.saturating_sub(null_first_brk);
    let run = match lines.iter().find(|l| l.0 == main) {
        Some(l) => l.1,
        None => user_figure(text)?,
    };
    let mut r = Reading {
        bytes: 0,
        note: format!("{run} - {null} of the null run"),
        from_zero_brk: text
            .lines()
            .filter(|l| l.starts_with("exit pid="))
            .filter_map(|l| kv(l, "first_brk"))
            .sum(),
        ..Default::default()
    };
    for &(pid, user) in &lines {
        let b = if pid == main || lines.len() == 1 {
            user.saturating_sub(null)
        } else {
            user
        };
        r.bytes += b;
        r.by_pid.push((pid, b, None));
    }
    if r.by_pid.len() <= 1 {
        r.by_pid.clear();
        r.bytes = run.saturating_sub(null);
    }
    Ok(r)
}

/// memleak: the last report's outstanding allocations ("N bytes in M
/// allocations from stack" lines after the last "Top ... stacks" line).
pub fn memleak(text: &str) -> Result<Reading, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains("stacks with outstanding allocations"))
        .ok_or("memleak printed no report")?;
    let (mut bytes, mut calls) = (0, 0);
    for l in &lines[start + 1..] {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let [b, "bytes", "in", n, "allocations", ..] = w[..] {
            bytes += num(b).ok_or_else(|| format!("bad line: {l}"))?;
            calls += num(n).ok_or_else(|| format!("bad line: {l}"))?;
        }
    }
    Ok(Reading {
        bytes,
        calls: Some(calls),
        ..Default::default()
    })
}

/// heaptrack: "calls to allocation functions: N" and the histogram lines
/// ("histogram SIZE COUNT", from heaptrack_print -H): the bytes of every call.
pub fn heaptrack(text: &str) -> Result<Reading, String> {
    let calls = text
        .lines()
        .find_map(|l| l.strip_prefix("calls to allocation functions:"))
        .and_then(|r| num(r.split_whitespace().next()?))
        .ok_or("no 'calls to allocation functions' line")?;
    let (mut bytes, mut sizes) = (0u64, vec![]);
    for l in text.lines().filter(|l| l.starts_with("histogram ")) {
        let w: Vec<&str> = l.split_whitespace().collect();
        let [_, size, count] = w[..] else {
            return Err(format!("bad line: {l}"));
        };
        let (s, c) = (num(size).ok_or("bad size")?, num(count).ok_or("bad count")?);
        bytes += s * c;
        sizes.push((s, c));
    }
    let leaked = text
        .lines()
        .find_map(|l| l.strip_prefix("total memory leaked:"))
        .map(str::trim)
        .unwrap_or("?");
    Ok(Reading {
        bytes,
        calls: Some(calls),
        note: format!("leaked {leaked}"),
        sizes,
        ..Default::default()
    })
}

/// massif.out: the largest `mem_heap_B` of any snapshot (the peak one among
/// them), and its `mem_heap_extra_B`.
pub fn massif(text: &str) -> Result<Reading, String> {
    let (mut best, mut extra, mut cur) = (None::<u64>, 0, None::<u64>);
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("mem_heap_B=") {
            cur = num(v);
            if cur > best {
                best = cur;
                extra = 0;
            }
        } else if let Some(v) = l.strip_prefix("mem_heap_extra_B=") {
            if cur == best {
                extra = num(v).unwrap_or(0);
            }
        }
    }
    let bytes = best.ok_or("no mem_heap_B in massif's output")?;
    Ok(Reading {
        bytes,
        note: format!("extra {extra} B"),
        ..Default::default()
    })
}

/// memcheck's log: "total heap usage: A allocs, F frees, B bytes allocated",
/// with "in use at exit" and "definitely lost" as the note; one summary a
/// process (`==PID==` starts each line) when the run forked.
pub fn memcheck(text: &str) -> Result<Reading, String> {
    let mut pids: Vec<&str> = vec![];
    for l in text.lines() {
        if let Some(p) = l.strip_prefix("==").and_then(|r| r.split_once("==")) {
            if l.contains("total heap usage:") && !pids.contains(&p.0) {
                pids.push(p.0);
            }
        }
    }
    if pids.len() > 1 {
        let mut all = Reading::default();
        for p in pids {
            let tag = format!("=={p}==");
            let mine: String = text
                .lines()
                .filter(|l| l.starts_with(&tag))
                .map(|l| format!("{l}\n"))
                .collect();
            let r = memcheck(&mine)?;
            all.bytes += r.bytes;
            all.calls = Some(all.calls.unwrap_or(0) + r.calls.unwrap_or(0));
            all.by_pid.push((p.parse().unwrap_or(0), r.bytes, r.calls));
            if !all.note.is_empty() {
                all.note.push_str("; ");
            }
            let _ = write!(all.note, "pid {p}: {}", r.note);
        }
        return Ok(all);
    }
    let after = |key: &str| {
        text.lines()
            .find_map(|l| Some(l.split_once(key)?.1.trim().to_string()))
    };
    let usage = after("total heap usage:").ok_or("no 'total heap usage' line")?;
    let w: Vec<&str> = usage.split_whitespace().collect();
    let [a, "allocs,", _, "frees,", b, "bytes", ..] = w[..] else {
        return Err(format!("bad heap usage line: {usage}"));
    };
    let in_use = after("in use at exit:").unwrap_or_default();
    let lost = after("definitely lost:").unwrap_or_else(|| "0 bytes in 0 blocks".into());
    Ok(Reading {
        bytes: num(b).ok_or("bad byte count")?,
        calls: Some(num(a).ok_or("bad alloc count")?),
        note: format!("in use at exit {in_use}; definitely lost {lost}"),
        ..Default::default()
    })
}

/// The version of the tracker contract (`docs/tracker-contract.md`) this reads.
pub const CONTRACT_VERSION: u32 = 1;

/// A tracker of the contract: its reading is lines `KEY N` (KEY one of
/// `bytes`, `calls`, `live_bytes`, `live_blocks`), each maybe after `pid=P `
/// for one process's figure; other lines are not the reading. The figure a
/// tracker of `kind` is held to: `bytes` and `calls` for calls and mapping,
/// `live_bytes` (or `bytes`) and `live_blocks` for live.
pub fn contract(text: &str, kind: Kind) -> Result<Reading, String> {
    // (pid or 0, key) -> value; a line given twice is the last one
    let mut got: BTreeMap<(u64, &str), u64> = BTreeMap::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let (mut first, mut pid) = (w.next(), 0);
        if let Some(p) = first.and_then(|f| f.strip_prefix("pid=")) {
            let Ok(p) = p.parse() else { continue };
            (pid, first) = (p, w.next());
        }
        let (Some(key), Some(value), None) = (first, w.next(), w.next()) else {
            continue;
        };
        if !["bytes", "calls", "live_bytes", "live_blocks"].contains(&key) {
            continue;
        }
        let value = value
            .parse()
            .map_err(|_| format!("not a whole number: {line}"))?;
        got.insert((pid, key), value);
    }
    let (bytes_key, calls_key) = match kind {
        Kind::Live => ("live_bytes", "live_blocks"),
        Kind::Calls | Kind::Mapping => ("bytes", "calls"),
    };
    let of = |pid: u64| {
        let b = got.get(&(pid, bytes_key)).or_else(|| {
            (kind == Kind::Live)
                .then(|| got.get(&(pid, "bytes")))
                .flatten()
        });
        (b.copied(), got.get(&(pid, calls_key)).copied())
    };
    let mut pids: Vec<u64> = got.keys().map(|k| k.0).filter(|&p| p != 0).collect();
    pids.dedup();
    if pids.is_empty() {
        let (Some(bytes), calls) = of(0) else {
            return Err(format!("no '{bytes_key} N' line in the tracker's reading"));
        };
        return Ok(Reading {
            bytes,
            calls,
            ..Default::default()
        });
    }
    let mut r = Reading::default();
    for pid in pids {
        let (b, c) = of(pid);
        let b = b.ok_or_else(|| format!("no 'pid={pid} {bytes_key} N' line"))?;
        r.bytes += b;
        if let Some(c) = c {
            r.calls = Some(r.calls.unwrap_or(0) + c);
        }
        r.by_pid.push((pid, b, c));
    }
    Ok(r)
}

/// The tracker's reading of one run, from its raw file's sections.
pub fn reading(t: &Tracker, s: &BTreeMap<String, String>) -> Result<Reading, String> {
    let sec = |n: &str| {
        s.get(n)
            .map(String::as_str)
            .ok_or(format!("no '{n}' section"))
    };
    let text = sec("tracker")?;
    let minus_null = |f: fn(&str) -> Result<u64, String>| -> Result<Reading, String> {
        let (run, null) = (f(text)?, f(sec("null-tracker")?)?);
        Ok(Reading {
            bytes: run.saturating_sub(null),
            note: format!("{run} - {null} of the null run"),
            ..Default::default()
        })
    };
    match t.reader.as_str() {
        "bpftrace-user-from-exec" => memtrack(
            text,
            sec("null-tracker")?,
            s.get("pid")
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(0),
        ),
        "user-line-minus-null" => minus_null(user_figure),
        "bpftrace-user-line" => Ok(Reading {
            bytes: user_figure(text)?,
            from_zero_brk: text.lines().find_map(|l| kv(l, "first_brk")).unwrap_or(0),
            ..Default::default()
        }),
        "bpftrace-peak-line" => Ok(Reading {
            bytes: text
                .lines()
                .find_map(|l| kv(l, "peak"))
                .ok_or("no peak= line")?,
            ..Default::default()
        }),
        "bpftrace-exit-lines" => heap_bt(text),
        "bcc-outstanding-stacks" => memleak(text),
        "heaptrack-print" => heaptrack(text),
        "massif-out" => massif(text),
        "massif-out-minus-null" => minus_null(|t| massif(t).map(|r| r.bytes)),
        "memcheck-log" => memcheck(text),
        "contract" => contract(text, t.kind),
        n => Err(format!("no reader for the format '{n}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn raw_files_and_readers() {
        let raw = "@@ status\n0\n@@ json\n{\"a\":1}\n@@ tracker\nexit pid=7 comm=malloc-wl user=4251291 mmap=1\n@@ null-tracker\nexit pid=6 comm=malloc-wl user=3849883 mmap=1\n";
        let s = sections(raw);
        assert_eq!(s["status"], "0\n");
        let t = tracker("exec-user");
        assert_eq!(reading(&t, &s).unwrap().bytes, 401408);
        assert_eq!(
            user_figure(
                "Attaching 9 probes...\nready\nuser=401408 mmap=266240 brk=135168\n401408\n"
            )
            .unwrap(),
            401408
        );
        let ml = "Attaching to pid 5, Ctrl+C to quit.\n[10:00:00] Top 10 stacks with outstanding allocations:\n\t7 bytes in 1 allocations from stack\n[10:00:01] Top 10 stacks with outstanding allocations:\n\t266240 bytes in 1 allocations from stack\n\t\t0x1 sysmalloc\n\t1,024 bytes in 2 allocations from stack\n";
        assert_eq!(memleak(ml).unwrap(), r(267264, Some(3)));
        assert!(memleak("Attaching to pid 5").is_err());
        let ht = "total runtime: 0.00s.\ncalls to allocation functions: 2 (1000/s)\ntotal memory leaked: 0B\nhistogram 72704 1\nhistogram 262144 1\n";
        let h = heaptrack(ht).unwrap();
        assert_eq!((h.bytes, h.calls), (334848, Some(2)));
        let ms = "snapshot=0\nmem_heap_B=0\nmem_heap_extra_B=0\nsnapshot=1\nmem_heap_B=262144\nmem_heap_extra_B=8\nheap_tree=peak\nsnapshot=2\nmem_heap_B=0\nmem_heap_extra_B=0\n";
        let m = massif(ms).unwrap();
        assert_eq!((m.bytes, m.note.as_str()), (262144, "extra 8 B"));
        let mc = "==1== HEAP SUMMARY:\n==1==     in use at exit: 0 bytes in 0 blocks\n==1==   total heap usage: 1 allocs, 1 frees, 1,048,576 bytes allocated\n";
        let c = memcheck(mc).unwrap();
        assert_eq!((c.bytes, c.calls), (1048576, Some(1)));
        assert!(c.note.contains("in use at exit 0 bytes in 0 blocks"));
        assert_eq!(
            heap_bt("call=malloc pid=1 tid=1 size=5 ret=0x1\nexit pid=1 calls=1 bytes=5 frees=1\n")
                .unwrap(),
            r(5, Some(1))
        );
    }

    #[test]
    fn memtracks_first_brk_from_zero_is_a_phantom() {
        // A non-PIE process: its first brk counted the break's address; the
        // null run's own (another address) stays out of what comes off.
        let m = memtrack(
            "exit pid=7 comm=malloc-wl user=963276443 mmap=3849883 brk=959426560 first_brk=959291392\n",
            "exit pid=6 comm=malloc-wl user=856059419 mmap=3849883 brk=852209536 first_brk=852209536\n",
            7,
        )
        .unwrap();
        assert_eq!(m.from_zero_brk, 959291392);
        assert_eq!(m.bytes, 959426560);
        let heap = report(&[("malloc", r#""size":1"#, r#""0x1000""#, "null", 135168, 0, 0)]);
        let t = Truth::from_json(&heap).unwrap();
        let (c, why) = classify(Kind::Mapping, &m, &t);
        assert_eq!(
            (c, why.as_str()),
            (
                Class::Phantom,
                "+959291392 B: the first brk counted from a break of 0 (the heap's address)"
            )
        );
        // A PIE's first brk is dropped (over 10^12): nothing from zero, exact.
        let pie = memtrack(
            "exit pid=9 comm=malloc-wl user=3985051 mmap=3849883 brk=135168 first_brk=0\n",
            "exit pid=8 comm=malloc-wl user=3849883 mmap=3849883 brk=0 first_brk=0\n",
            9,
        )
        .unwrap();
        assert_eq!(classify(Kind::Mapping, &pie, &t).0, Class::Exact);
        // memtrack-pid's summary line says the same
        let raw = "@@ tracker\nuser=135168 mmap=0 brk=135168 first_brk=0 shm=0\n135168\n";
        let by_pid = reading(&tracker("pid-user"), &sections(raw)).unwrap();
        assert_eq!((by_pid.bytes, by_pid.from_zero_brk), (135168, 0));
    }

    #[test]
    fn the_contracts_reading() {
        let text = "Attaching 8 probes...\nready\nbytes 8192\ncalls 1\nsomething else 3\n";
        assert_eq!(contract(text, Kind::Calls).unwrap(), r(8192, Some(1)));
        // a live tracker: live_bytes and live_blocks, or bytes alone
        let live = "live_bytes 4096\nlive_blocks 2\nbytes 9999\n";
        assert_eq!(contract(live, Kind::Live).unwrap(), r(4096, Some(2)));
        assert_eq!(contract("bytes 10\n", Kind::Live).unwrap(), r(10, None));
        // per process: the sum, and each process for the attribution
        let per = "pid=7 bytes 100\npid=7 calls 1\npid=9 bytes 50\npid=9 calls 2\n";
        let p = contract(per, Kind::Calls).unwrap();
        assert_eq!((p.bytes, p.calls), (150, Some(3)));
        assert_eq!(p.by_pid, [(7, 100, Some(1)), (9, 50, Some(2))]);
        assert!(contract("ready\n", Kind::Calls)
            .unwrap_err()
            .contains("no 'bytes N' line"));
        assert!(contract("bytes lots\n", Kind::Calls).is_err());
        let raw = "@@ status\n0\n@@ tracker\nready\nbytes 5\ncalls 1\n";
        let t = tracker("contract-calls");
        assert_eq!(reading(&t, &sections(raw)).unwrap(), r(5, Some(1)));
    }
}
