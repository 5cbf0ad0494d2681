//! The build script of every workload binary (`build = "../wlcore/build-bin.rs"`
//! in its Cargo.toml): it lays the executable out so that a run has the kernel
//! map few of its pages, and has its C functions bound on first call, as a C
//! program's are.
//!
//! Why: the kernel maps a program's file pages up to 16 at a time around each
//! page fault (fault-around): from the fault's 16-page-aligned window, or from
//! the start of the area if that comes later, to the end of the area or of the
//! 2 MiB a page table covers if either comes sooner. Each page mapped is
//! unmapped again at exit. When the page cache holds the file page by page (as
//! the linker writes it, or as it is read back from disk), every page costs:
//! a plain malloc-wl run mapped 40 pages of its own file where the C program
//! it is timed against maps 4, and started 1% slower (CHANGELOG.md).
//!
//! - Read-only data. The dynamic loader reads the program headers and the
//!   dynamic-linking tables at the start of the file; a run reads little else
//!   there (the jump tables of the functions below). The file's first page is
//!   placed two pages before a 2 MiB boundary (the image base), so the fault
//!   on it maps those two pages and no more. This applies to the static
//!   build, which is not position-independent (its address is the link's); a
//!   PIE, the default build, is loaded where the kernel picks.
//! - Code. The C start-up (`_start`, whose page the process faults on first,
//!   `.init`, `.fini`, the PLT) comes first, then the functions a plain run
//!   executes, named below: the first fault maps 16 pages from the start of
//!   the code area, and they hold all of it. The rest (300 KB, std's backtrace
//!   printer mostly) follows, in pages a plain run never touches.
//!
//! - Binding. A C program calls libc through its PLT, and the dynamic loader
//!   binds each function on its first call (lazy binding). Rust marks every C
//!   function it declares `nonlazybind` (precompiled std too, and under LTO its
//!   declaration wins), so in a position-independent executable each one is
//!   called through the GOT and the loader looks every one up at every start,
//!   26 more lookups than the C program's (12k instructions, 8% of malloc-wl's
//!   start-up). So every reference to a function of [`LAZY`] is sent
//!   (`--wrap`) to a thunk of the binary's own, one jump to the function
//!   through the PLT: bound on first call, as in C. The thunks
//!   are written here and assembled into the binary by `workload_main!`;
//!   each has a section of its own, so the ones a binary never calls are
//!   dropped with their PLT entry.
//!
//! A pattern that matches nothing leaves the layout as it was; with `INSERT`
//! the rest of the linker's default layout stays. The tests of malloc-wl and
//! bytearray-wl hold the result: what a run executes lies in the first 16 pages
//! of the code (callgrind), and at exit the process has at most 16 pages of
//! code mapped (read from `/proc/PID/smaps`); every workload's test reads its
//! relocations: nothing bound at start but what the C program binds.

use std::env;
use std::fs;
use std::path::PathBuf;

/// The C functions bound on first call through a thunk (see above): what the
/// workloads and std call through the GOT. Not here: the C start-up's own
/// references, and `__pthread_key_create`, a weak reference std tests for null.
const LAZY: &[&str] = &[
    // the malloc family, and what the workloads call themselves
    "malloc",
    "calloc",
    "realloc",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "fork",
    "execv",
    "read",
    "write",
    "open",
    "syscall",
    "sched_getaffinity",
    "unlinkat",
    // what LLVM calls for copies and compares
    "memcpy",
    "memset",
    "memmove",
    "bcmp",
    "strlen",
    // what std calls only to report a panic (its backtrace)
    "abort",
    "getenv",
    "realpath",
    "readlink",
    "open64",
    "stat64",
    "fstat64",
    "statx",
    "lseek64",
    "mmap64",
    "getcwd",
    "gettid",
    "dl_iterate_phdr",
    "__xpg_strerror_r",
];

/// Two pages before the first 2 MiB boundary above lld's default base (2 MiB).
const IMAGE_BASE: u64 = 0x40_0000 - 2 * 0x1000;

fn main() {
    let krate_bin = env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    let krate = krate_bin.replace('-', "_");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out.join("layout.ld");
    // Sections are named after their (mangled) symbols, which hold the names
    // of the crate and of the function; the hash after "17h" varies by build.
    let text = format!(
        "SECTIONS {{
  .rodata : {{
    *(.rodata.*{krate}*)
    *(.rodata.*wlcore*)
    *(.rodata.*lexopt*)
    *(.rodata.*talc*)
    *(.rodata .rodata.*)
  }}
}} INSERT AFTER .rela.plt;
SECTIONS {{
  .init : {{ KEEP(*(SORT_NONE(.init))) }}
  .fini : {{ KEEP(*(SORT_NONE(.fini))) }}
  .plt : {{ *(.plt) *(.iplt) }}
  .text : {{
    *crt1.o(.text)
    *crti.o(.text)
    *crtbegin*.o(.text)
    *(.text.main)
    *(.text.*{krate}*)
    *(.text._ZN6wlcore3run4main17h*)
    *(.text._ZN6wlcore3run4Step4here17h*)
    *(.text._ZN6wlcore3cli4text17h*)
    *(.text._ZN6wlcore4size10parse_size17h*)
    *(.text._ZN6wlcore4cmem*)
    *(.text._ZN6wlcore3sys*)
    *(.text._ZN6wlcore4stat9page_size17h*)
    *(.text._ZN6lexopt6Parser4next17h*)
    *(.text.*talc*)
    *(.text.*__rust_alloc*)
    *(.text.*__rust_dealloc*)
    *(.text.*__rust_realloc*)
    *(.text.*ARGV_INIT_ARRAY*)
    *(.text.*from_utf8*)
    *(.text .text.*)
  }}
}} INSERT AFTER .eh_frame;
"
    );
    fs::write(&script, text).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());

    // The thunks, for workload_main! to assemble: `jmp __real_F@PLT` is a jump
    // to F through the PLT once the linker has applied --wrap=F. A static
    // executable binds nothing at start, and has none.
    let mut thunks = String::new();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let crt_static = features.split(',').any(|f| f == "crt-static");
    for f in LAZY.iter().filter(|_| !crt_static) {
        thunks.push_str(&format!(
            ".section .text.__wrap_{f},\"ax\",@progbits\n\
             .globl __wrap_{f}\n.hidden __wrap_{f}\n.type __wrap_{f},@function\n\
             __wrap_{f}:\n  jmp __real_{f}@PLT\n.size __wrap_{f}, . - __wrap_{f}\n"
        ));
        // Only the binary named after the crate is a workload (kmalloc-test
        // also builds kmalloc-stress, a plain Rust program).
        println!("cargo:rustc-link-arg-bin={krate_bin}=-Wl,--wrap={f}");
    }
    thunks.push_str(".text\n");
    fs::write(out.join("lazy-bind.s"), thunks).expect("OUT_DIR is writable");
    // A position-independent executable is loaded wherever the kernel picks:
    // there the base is not ours to choose.
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.split('\x1f').any(|f| f == "relocation-model=static") {
        println!("cargo:rustc-link-arg-bins=-Wl,--image-base={IMAGE_BASE:#x}");
    }
    println!("cargo:rerun-if-changed=../wlcore/build-bin.rs");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}
