//! How a workload binary is laid out and bound, what code a run executes and
//! which pages of its file it maps, each against the C program it stands for
//! (`scripts/bench/cmalloc.c`, built with gcc). The checks hold to the release
//! build; in a debug build they say SKIPPED.

use std::process::{Command, Stdio};

use crate::bpftrace::uprobes_alone;
use crate::run::{repo_root, scratch_dir};
use crate::strace::brk_start;

/// The C functions a workload binary may have bound at every start besides
/// those the C program binds (its start-up's own): a weak reference std tests
/// for null, which a thunk cannot stand for (see `wlcore/build-bin.rs`).
pub const BOUND_AT_START: &[&str] = &["__pthread_key_create"];

/// Asserts that `bin` binds no C function at start but those the C program
/// binds and [`BOUND_AT_START`], and binds `lazy` (functions it calls) on
/// first call, through the PLT.
pub fn assert_bound_lazily(bin: &str, lazy: &[&str]) {
    if skipped_without_lto("binding on first call") {
        return;
    }
    let bound_in = |bin: &str, kind: &str| -> Vec<String> {
        readelf(bin, "--relocs")
            .lines()
            .filter(|l| l.contains(kind))
            .filter_map(|l| l.split_whitespace().nth(4))
            .map(|s| s.split('@').next().unwrap_or(s).to_owned())
            .collect()
    };
    // "offset info R_X86_64_GLOB_DAT value name@VERSION + 0"
    let c = bound_in(&cmalloc(), "R_X86_64_GLOB_DAT");
    let at_start = bound_in(bin, "R_X86_64_GLOB_DAT");
    let extra: Vec<&String> = at_start
        .iter()
        .filter(|s| !BOUND_AT_START.contains(&s.as_str()) && !c.contains(s))
        .collect();
    assert!(extra.is_empty(), "{bin} binds at every start: {extra:?}");
    let plt = bound_in(bin, "R_X86_64_JUMP_SLOT");
    for f in lazy {
        assert!(
            plt.iter().any(|s| s == f),
            "{bin}: {f} is not called through the PLT: {plt:?}"
        );
    }
}

/// Whether a start-up check is skipped (and says so): in a debug build, without
/// LTO and inlining, std's own declarations and a host of small functions stay
/// in the binary. What the checks hold to is the release build, the one
/// `scripts/test.sh` tests and `scripts/bench.sh` times.
fn skipped_without_lto(what: &str) -> bool {
    use std::io::Write;
    if cfg!(debug_assertions) {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {what} is checked in the release build (cargo test --release)"
        );
    }
    cfg!(debug_assertions)
}

/// The ELF type of `bin` as `readelf` names it: "DYN (Position-Independent
/// Executable file)" for a PIE, "EXEC (Executable file)" for one that is not.
pub fn elf_type(bin: &str) -> String {
    readelf(bin, "--file-header")
        .lines()
        .find_map(|l| l.trim().strip_prefix("Type:").map(|t| t.trim().to_owned()))
        .expect("readelf prints the type")
}

/// Asserts that `bin` is laid out as gcc lays out the C program: an
/// executable of the same ELF type (a PIE), whose heap starts, like the C
/// program's, above 2^40. A tracker that follows the break from 0 and drops
/// what is above 10^12 bytes, as GranuloTrack's MemTracker does, drops the
/// first brk of both; a non-PIE's heap lies within 1 GiB above the
/// executable, and its first brk is counted as hundreds of MB.
pub fn assert_laid_out_like_c(bin: &str, args: &[&str]) {
    let c = cmalloc();
    assert_eq!(
        elf_type(bin),
        elf_type(&c),
        "{bin}: not the C program's ELF type"
    );
    for (what, start) in [
        (bin, brk_start(bin, args)),
        (c.as_str(), brk_start(&c, &["1"])),
    ] {
        assert!(
            start > 1 << 40,
            "{what}: the break starts at {start:#x}, below 2^40"
        );
    }
}

/// The `[start, end)` addresses of section `name` of `bin`.
pub fn section(bin: &str, name: &str) -> Option<(u64, u64)> {
    // "[Nr] Name Type Address Off Size ..."
    readelf(bin, "--section-headers").lines().find_map(|l| {
        let f: Vec<&str> = l.split(']').nth(1)?.split_whitespace().collect();
        (f.first() == Some(&name)).then(|| {
            let start = hex(f[2]);
            (start, start + hex(f[4]))
        })
    })
}

/// What `readelf --wide FLAG bin` prints.
fn readelf(bin: &str, flag: &str) -> String {
    let out = Command::new("readelf")
        .args([flag, "--wide", bin])
        .output()
        .expect("readelf runs");
    assert!(out.status.success(), "readelf {flag} {bin}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A hexadecimal number as readelf and nm print it, with or without `0x`.
fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// The pages of the code area a run's first fault on it maps (fault-around;
/// see `wlcore/build-bin.rs`): `[start, end)` addresses.
fn code_head(bin: &str) -> std::ops::Range<u64> {
    let start = readelf(bin, "--program-headers")
        .lines()
        // "LOAD offset vaddr paddr filesz memsz flags align": the one with E.
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&"LOAD") && f[6..f.len() - 1].concat().contains('E'))
                .then(|| hex(f[2]) & !0xfff)
        })
        .expect("a code segment");
    start..start + 16 * 0x1000
}

/// Asserts that the code of `bin` that `bin args` executes lies in the first
/// 16 pages of its code area, or outside `.text` (`.init`, the PLT), where
/// `wlcore/build-bin.rs` places it. What ran comes from callgrind, function by
/// function, and each function must end in those pages too.
pub fn assert_start_up_code_together(bin: &str, args: &[&str]) {
    if skipped_without_lto("the start-up layout") {
        return;
    }
    let text = section(bin, ".text").expect(".text");
    let head = code_head(bin);
    let dir = scratch_dir("callgrind");
    let profile = dir.join("callgrind.out");
    let alone = uprobes_alone();
    let st = Command::new("valgrind")
        .args(["--tool=callgrind", "--demangle=no"])
        .arg(format!("--callgrind-out-file={}", profile.display()))
        .arg(bin)
        .args(args)
        .output()
        .expect("valgrind runs");
    drop(alone);
    assert!(st.status.success(), "valgrind {bin}: {st:?}");
    let out = Command::new("callgrind_annotate")
        .args(["--threshold=100", "--inclusive=no"])
        .arg(&profile)
        .output()
        .expect("callgrind_annotate runs");
    assert!(out.status.success(), "callgrind_annotate: {out:?}");
    let nm = Command::new("nm")
        .args(["--print-size", "--defined-only"])
        .arg(bin)
        .output()
        .expect("nm runs");
    let nm = String::from_utf8_lossy(&nm.stdout);
    // "address size type name": the extent [address, address + size).
    let extent_of = |name: &str| -> Option<(u64, u64)> {
        if let Some(hex) = name.strip_prefix("0x") {
            let a = u64::from_str_radix(hex, 16).ok()?;
            return Some((a, a + 1));
        }
        nm.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && f[3] == name).then(|| (hex(f[0]), hex(f[0]) + hex(f[1])))
        })
    };
    // "  528 ( 0.39%)  ???:NAME [/path/to/bin]"
    let suffix = format!(" [{bin}]");
    let annotated = String::from_utf8_lossy(&out.stdout);
    let ran: Vec<&str> = annotated
        .lines()
        .filter_map(|l| l.strip_suffix(&suffix))
        .filter_map(|l| l.rsplit_once(':').map(|(_, name)| name.trim()))
        .collect();
    assert!(
        ran.contains(&"main"),
        "callgrind saw no main in {bin}: {ran:?}"
    );
    // Beyond the head: in .text past it, or not found at all. Callgrind's own
    // names ("(below main)") are the C start-up's.
    let beyond: Vec<&str> = ran
        .into_iter()
        .filter(|name| match extent_of(name) {
            Some((a, end)) => (text.0..text.1).contains(&a) && end > head.end,
            None => !name.starts_with('('),
        })
        .collect();
    assert!(
        beyond.is_empty(),
        "{bin} {args:?} ran code beyond the first 16 pages of its code ({head:x?}): {beyond:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The pages of `bin`'s own file that the process `bin args` has mapped when
/// it exits, area by area as `/proc/PID/smaps` lists them: (permissions,
/// pages). The process is traced and stopped at its exit, before the kernel
/// takes its memory down; its output goes nowhere.
pub fn pages_mapped_at_exit(bin: &str, args: &[&str]) -> Vec<(String, u64)> {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::Pid;
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec the closure makes one system call
    // (ptrace), which allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(ptrace::traceme);
    }
    // A uprobe's breakpoint in the binary would be a page of its own.
    let alone = uprobes_alone();
    // Reaped by the waitpid below, which std's Child does not know of.
    #[allow(clippy::zombie_processes)]
    let pid = Pid::from_raw(cmd.spawn().expect("the binary starts").id() as i32);
    // Stopped at exec, then at the exit.
    let st = waitpid(pid, None);
    assert!(
        matches!(st, Ok(WaitStatus::Stopped(..))),
        "{bin} at exec: {st:?}"
    );
    ptrace::stop_at_exit(pid).expect("ptrace options");
    ptrace::cont(pid).expect("ptrace cont");
    let st = waitpid(pid, None);
    assert!(
        matches!(st, Ok(WaitStatus::PtraceEvent(_, _, e)) if e == libc::PTRACE_EVENT_EXIT),
        "{bin} {args:?} did not stop at its exit: {st:?}"
    );
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    ptrace::cont(pid).expect("ptrace cont");
    let st = waitpid(pid, None);
    drop(alone);
    assert!(
        matches!(st, Ok(WaitStatus::Exited(_, 0))),
        "{bin} {args:?}: {st:?}"
    );
    let file = std::fs::canonicalize(bin).expect("the binary's path");
    let file = file.to_string_lossy();
    let mut areas = Vec::new();
    let mut ours = None;
    for line in smaps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "start-end perms offset dev inode path", then "Key: value kB" lines.
        if f.first()
            .is_some_and(|a| a.contains('-') && !a.ends_with(':'))
        {
            ours = (f.get(5) == Some(&&*file)).then(|| f[1].to_owned());
        } else if let (Some(perms), ["Rss:", kib, "kB"]) = (&ours, f.as_slice()) {
            areas.push((perms.clone(), kib.parse::<u64>().expect("Rss in kB") / 4));
        }
    }
    areas
}

/// The three ptrace requests [`pages_mapped_at_exit`] makes, through libc:
/// nix's `ptrace` feature would be turned on in the workloads' own nix too
/// when cargo builds them for their tests (see the crate's docs).
mod ptrace {
    use nix::unistd::Pid;
    use std::io;
    use std::ptr::null_mut;

    fn result(r: libc::c_long) -> io::Result<()> {
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// PTRACE_TRACEME: the calling process is traced by its parent and stops
    /// at its exec.
    pub fn traceme() -> io::Result<()> {
        // SAFETY: PTRACE_TRACEME reads neither the address nor the data argument.
        result(unsafe {
            libc::ptrace(
                libc::PTRACE_TRACEME,
                0,
                null_mut::<libc::c_void>(),
                null_mut::<libc::c_void>(),
            )
        })
    }

    /// PTRACE_SETOPTIONS: the stopped tracee `pid` stops again at its exit,
    /// and is killed if the tracer goes first.
    pub fn stop_at_exit(pid: Pid) -> io::Result<()> {
        let options = libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL;
        // SAFETY: PTRACE_SETOPTIONS takes the options as the data argument's
        // value, not as memory to read; the address is unused.
        result(unsafe {
            libc::ptrace(
                libc::PTRACE_SETOPTIONS,
                pid.as_raw(),
                null_mut::<libc::c_void>(),
                options as usize as *mut libc::c_void,
            )
        })
    }

    /// PTRACE_CONT: the stopped tracee `pid` goes on, no signal delivered.
    pub fn cont(pid: Pid) -> io::Result<()> {
        // SAFETY: PTRACE_CONT takes the signal to deliver as the data
        // argument's value (0: none), not as memory; the address is unused.
        result(unsafe {
            libc::ptrace(
                libc::PTRACE_CONT,
                pid.as_raw(),
                null_mut::<libc::c_void>(),
                null_mut::<libc::c_void>(),
            )
        })
    }
}

/// Asserts that a plain run of `bin` maps no more of its own code than
/// `wlcore/build-bin.rs` lays it out for: one fault-around (16 pages). (Its
/// read-only data is mapped as it lies: a position-independent executable is
/// loaded where the kernel picks, so no page boundary is ours to place it by.)
///
/// Fault-around leaves out a page that is locked at that moment (the freshly
/// linked file's writeback, say); a later fault on it then maps a window of
/// its own. So the file is synced first, and the fewest pages of 3 runs count.
pub fn assert_maps_few_pages(bin: &str, args: &[&str]) {
    if skipped_without_lto("the pages a run maps") {
        return;
    }
    std::fs::File::open(bin)
        .and_then(|f| f.sync_all())
        .expect("the binary syncs");
    let pages = |areas: &[(String, u64)], perms: &str| -> u64 {
        areas
            .iter()
            .filter(|(p, _)| p == perms)
            .map(|(_, n)| n)
            .sum()
    };
    let runs: Vec<Vec<(String, u64)>> = (0..3).map(|_| pages_mapped_at_exit(bin, args)).collect();
    assert!(
        runs.iter().any(|a| pages(a, "r-xp") <= 16),
        "{bin} {args:?} has more than 16 pages of its code mapped at exit, \
         in each of 3 runs: {runs:?}"
    );
}

/// Builds `scripts/bench/cmalloc.c` (what Malloc.c does) with `gcc -O0`, once per test binary.
pub fn cmalloc() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = scratch_dir("cmalloc").join("cmalloc");
            let src = repo_root().join("scripts/bench/cmalloc.c");
            let st = Command::new("gcc")
                .arg("-O0")
                .arg("-o")
                .arg(&exe)
                .arg(&src)
                .status()
                .expect("gcc runs");
            assert!(st.success(), "gcc -O0 {}", src.display());
            exe.to_string_lossy().into_owned()
        })
        .clone()
}
