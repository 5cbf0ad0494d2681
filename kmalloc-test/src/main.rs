//! `kmalloc-test`: asks the `kmalloc_lkm` kernel module for SIZE bytes of kmalloc.
//!
//! The rewrite of the suite's Test.c. It opens `/proc/kmalloc_lkm`, writes SIZE as
//! ASCII decimal (the module kmallocs that many bytes for this open file, in this
//! process's context) and closes the file, which frees them. A kernel-side tracker
//! should see one `kmem:kmalloc` with `bytes_req` equal to SIZE for this pid, and
//! one `kmem:kfree` of the same pointer.

#![no_main]

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::write;
use std::os::fd::OwnedFd;
use wlcore::exit::Error;
use wlcore::run::Workload;

const PROC_FILE: &str = "/proc/kmalloc_lkm";
/// KMALLOC_MAX_SIZE on x86-64: the most one kmalloc can give, and the module's limit.
const KMALLOC_MAX_SIZE: u64 = 4 << 20;

struct Kmalloc;

impl Workload for Kmalloc {
    const NAME: &'static str = "kmalloc-test";
    const PATH: &'static str = "kmalloc via /proc/kmalloc_lkm";
    const ABOUT: &'static str = "\
Asks the kmalloc_lkm kernel module for a kmalloc of SIZE bytes: opens
/proc/kmalloc_lkm, writes SIZE, closes it (which frees it). Load the module
first: sudo insmod kmalloc-lkm/kmalloc_lkm.ko. Exit code 3 when the module
refuses the size (EINVAL: not 1..=4194304 bytes; ENOMEM: over its cap on live
bytes, or kmalloc failed), 4 when it is not loaded or the file cannot be opened.";
    type Held = OwnedFd;

    fn new() -> Self {
        Kmalloc
    }

    fn allocator_bytes(&self, size: u64) -> u64 {
        size
    }
    fn touched(&self) -> bool {
        false
    }
    fn allocate(&mut self, size: u64) -> Result<OwnedFd, Error> {
        let fd = open(PROC_FILE, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| match e {
            Errno::ENOENT => Error::env(format!(
                "{PROC_FILE} does not exist: the kmalloc_lkm module is not loaded \
                 (build it with 'make -C kmalloc-lkm', load it with 'sudo insmod kmalloc-lkm/kmalloc_lkm.ko')"
            )),
            Errno::EACCES => Error::env(format!(
                "cannot open {PROC_FILE}: permission denied (the module's 'mode' parameter sets who may)"
            )),
            e => Error::env(format!("cannot open {PROC_FILE}: {}", e.desc())),
        })?;
        let text = size.to_string();
        match write(&fd, text.as_bytes()) {
            Ok(n) if n == text.len() => Ok(fd),
            Ok(n) => Err(Error::env(format!("{PROC_FILE} took {n} of {} bytes of '{text}'", text.len()))),
            Err(Errno::EINVAL) => Err(Error::alloc(format!(
                "the module refused {size} bytes (EINVAL): one allocation is 1 to {KMALLOC_MAX_SIZE} bytes (KMALLOC_MAX_SIZE)"
            ))),
            Err(Errno::ENOMEM) => Err(Error::alloc(format!(
                "the module refused {size} bytes (ENOMEM): {}",
                cap_state()
            ))),
            Err(e) => Err(Error::alloc(format!("writing {size} to {PROC_FILE} failed: {}", e.desc()))),
        }
    }
    fn address(_: &OwnedFd) -> Option<usize> {
        None
    }
}

/// What the module's listing says of its cap, for an ENOMEM message.
fn cap_state() -> String {
    let listing = std::fs::read_to_string(PROC_FILE).unwrap_or_default();
    let total = listing.lines().find_map(|l| l.strip_prefix("total "));
    let field = |k: &str| {
        total?
            .split(' ')
            .find_map(|f| f.strip_prefix(k)?.strip_prefix('='))
    };
    match (field("requested"), field("max_bytes")) {
        (Some(live), Some(cap)) => format!(
            "{live} bytes live of its cap of {cap} (module parameter max_bytes), \
             or too many open files hold one (max_files), or kmalloc failed"
        ),
        _ => "over its cap on live bytes or files (module parameters), or kmalloc failed".into(),
    }
}

wlcore::workload_main!(Kmalloc);
