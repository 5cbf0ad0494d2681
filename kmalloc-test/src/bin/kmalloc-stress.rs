//! `kmalloc-stress`: many threads on `/proc/kmalloc_lkm` at once, for the module's tests.
//!
//! Not a workload: it checks that the module's per-open-file state holds up under
//! concurrency. Each of `--threads` threads opens the file, writes one to three
//! sizes on it (each replacing the last), now and then reads the listing, and
//! closes it, `--ops` times; meanwhile `--shared` threads write to one file that
//! they all share. With `--paths`, each write takes one of the module's
//! allocation paths at random (kmalloc, kzalloc, krealloc, kmem_cache, vmalloc,
//! kvmalloc, pages, percpu), and threads with files of their own now and then
//! hand their allocation to a kworker or RCU (`free-by`). Every write must succeed. Prints one summary line; exit 0 when
//! all did, 1 when any failed, 2 on bad usage, 4 when the file cannot be opened.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

const PROC_FILE: &str = "/proc/kmalloc_lkm";

const USAGE: &str = "\
Usage: kmalloc-stress [--threads N] [--shared N] [--ops N] [--max BYTES] [--paths]
  --threads N   threads that each open, write, read and close the file [8]
  --shared N    threads that write to one shared open file [4]
  --ops N       iterations per thread [500]
  --max BYTES   largest size written, at least 1 [1048576]
  --paths       every allocation path of the module, and frees by kworker/RCU";

/// Threads writing, reading and closing /proc/kmalloc_lkm at once.
#[derive(Debug)]
struct Cli {
    threads: u32,
    shared: u32,
    ops: u64,
    max: u64,
    paths: bool,
}

impl Cli {
    fn parse() -> Result<Cli, String> {
        use lexopt::prelude::*;
        let mut cli = Cli {
            threads: 8,
            shared: 4,
            ops: 500,
            max: 1 << 20,
            paths: false,
        };
        let mut p = lexopt::Parser::from_env();
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            let bad = |e: lexopt::Error| e.to_string();
            match arg {
                Long("threads") => cli.threads = p.value().and_then(|v| v.parse()).map_err(bad)?,
                Long("shared") => cli.shared = p.value().and_then(|v| v.parse()).map_err(bad)?,
                Long("ops") => cli.ops = p.value().and_then(|v| v.parse()).map_err(bad)?,
                Long("max") => cli.max = p.value().and_then(|v| v.parse()).map_err(bad)?,
                Long("paths") => cli.paths = true,
                Short('h') | Long("help") => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                a => return Err(a.unexpected().to_string()),
            }
        }
        if cli.max == 0 {
            return Err("--max must be at least 1".into());
        }
        Ok(cli)
    }
}

#[derive(Default)]
struct Counts {
    writes: AtomicU64,
    reads: AtomicU64,
    failed: AtomicU64,
}

impl Counts {
    fn fail(&self, what: std::fmt::Arguments) {
        eprintln!("kmalloc-stress: {what}");
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// A small deterministic generator (xorshift64), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One write(2) of `text`; whether it succeeded.
fn write_text(mut f: &File, text: &str, c: &Counts) -> bool {
    match f.write(text.as_bytes()) {
        Ok(n) if n == text.len() => {
            c.writes.fetch_add(1, Ordering::Relaxed);
            true
        }
        r => {
            c.fail(format_args!("writing '{text}' gave {r:?}"));
            false
        }
    }
}

/// One write(2) of a size, as kmalloc-test makes it.
fn write_size(f: &File, size: u64, c: &Counts) -> bool {
    write_text(f, &size.to_string(), c)
}

/// One write(2) of a random path and size (at most `max`, within the path's
/// limit); the module's caches are few, so kmem_cache takes one of 8 sizes.
fn write_path(f: &File, rng: &mut Rng, max: u64, c: &Counts) -> bool {
    let size = |rng: &mut Rng, limit: u64| rng.next() % max.min(limit) + 1;
    let text = match rng.next() % 8 {
        0 => size(rng, 4 << 20).to_string(),
        1 => format!("kzalloc {}", size(rng, 4 << 20)),
        2 => format!("krealloc {} {}", size(rng, 4 << 20), size(rng, 4 << 20)),
        3 => format!("kmem_cache {}", 64 << (rng.next() % 8)),
        4 => format!("vmalloc {}", size(rng, 1 << 30)),
        5 => format!("kvmalloc {}", size(rng, 1 << 30)),
        6 => format!("pages {}", size(rng, 4 << 20)),
        _ => format!("percpu {}", size(rng, 32 << 10)),
    };
    write_text(f, &text, c)
}

fn open() -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).open(PROC_FILE)
}

/// Open, write one to three sizes, sometimes read the file's entry and the
/// listing, close.
fn own_files(seed: u64, cli: &Cli, c: &Counts) {
    let mut rng = Rng::new(seed);
    for op in 0..cli.ops {
        let f = match open() {
            Ok(f) => f,
            Err(e) => {
                c.fail(format_args!("open: {e}"));
                continue;
            }
        };
        for _ in 0..=rng.next() % 3 {
            if !cli.paths {
                write_size(&f, rng.next() % cli.max + 1, c);
            } else if write_path(&f, &mut rng, cli.max, c) && rng.next() % 4 == 0 {
                // The file holds what it just wrote: hand it to another context.
                let by = ["free-by kworker", "free-by rcu"][(rng.next() % 2) as usize];
                write_text(&f, by, c);
            }
        }
        if op % 16 == 0 {
            // The file's own entry (the listing when it holds nothing), and
            // the listing through a file that holds nothing.
            let listing = |t: &str| t.contains("total allocations=");
            read_check(&f, c, |t| {
                listing(t) || (t.starts_with("entry ") && t.contains(" allocated="))
            });
            match open() {
                Ok(g) => read_check(&g, c, listing),
                Err(e) => c.fail(format_args!("open: {e}")),
            }
        }
    }
}

/// Reads `f` to its end and counts the read when `good` holds of the text.
fn read_check(f: &File, c: &Counts, good: impl Fn(&str) -> bool) {
    let mut text = String::new();
    match (&*f).read_to_string(&mut text) {
        Ok(_) if good(&text) => {
            c.reads.fetch_add(1, Ordering::Relaxed);
        }
        r => c.fail(format_args!("read gave {r:?}: {text:?}")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("kmalloc-stress: {e} (see --help)");
            return ExitCode::from(2);
        }
    };
    let shared = match open() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kmalloc-stress: cannot open {PROC_FILE}: {e}");
            return ExitCode::from(4);
        }
    };
    let counts = Counts::default();
    thread::scope(|s| {
        for t in 0..cli.threads {
            let (cli, c) = (&cli, &counts);
            s.spawn(move || own_files(u64::from(t) + 1, cli, c));
        }
        for t in 0..cli.shared {
            let (cli, c, f) = (&cli, &counts, &shared);
            s.spawn(move || {
                let mut rng = Rng::new(u64::from(t) + 1000);
                for _ in 0..cli.ops {
                    if cli.paths {
                        write_path(f, &mut rng, cli.max, c);
                    } else {
                        write_size(f, rng.next() % cli.max + 1, c);
                    }
                }
            });
        }
    });
    drop(shared);
    let (w, r, f) = (
        counts.writes.into_inner(),
        counts.reads.into_inner(),
        counts.failed.into_inner(),
    );
    println!(
        "kmalloc-stress: {} threads + {} on one shared file, {w} writes, {r} reads, {f} failed",
        cli.threads, cli.shared
    );
    if f == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
