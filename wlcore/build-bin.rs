//! The build script of every workload binary (`build = "../wlcore/build-bin.rs"`
//! in its Cargo.toml): it lays the executable out so that a run has the kernel
//! map few of its pages.
//!
//! Why: the kernel maps a program's file pages up to 16 at a time around each
//! page fault (fault-around): from the fault's 16-page-aligned window, or from
//! the start of the area if that comes later, to the end of the area or of the
//! 2 MiB a page table covers if either comes sooner. Each page mapped is
//! unmapped again at exit. When the page cache holds the file page by page (as
//! the linker writes it, or as it is read back from disk), every page costs:
//! a plain malloc-wl run mapped 40 pages of its own file where the C program
//! it is timed against maps 4, and started 1% slower (see the README).
//!
//! - Read-only data. The dynamic loader reads the program headers and the
//!   dynamic-linking tables at the start of the file; a run reads little else
//!   there (the jump tables of the functions below). The file's first page is
//!   placed two pages before a 2 MiB boundary (the image base), so the fault
//!   on it maps those two pages and no more. This applies to the non-PIE
//!   build of `.cargo/config.toml`, where the address is the link's.
//! - Code. The C start-up (`_start`, whose page the process faults on first,
//!   `.init`, `.fini`, the PLT) comes first, then the functions a plain run
//!   executes, named below: the first fault maps 16 pages from the start of
//!   the code area, and they hold all of it. The rest (300 KB, std's backtrace
//!   printer mostly) follows, in pages a plain run never touches.
//!
//! A pattern that matches nothing leaves the layout as it was; with `INSERT`
//! the rest of the linker's default layout stays. The tests of malloc-wl and
//! bytearray-wl hold the result: what a run executes lies in the first 16 pages
//! of the code (callgrind), and at exit the process has 2 pages of read-only
//! data and at most 16 of code mapped (read from `/proc/PID/smaps`).

use std::env;
use std::fs;
use std::path::PathBuf;

/// Two pages before the first 2 MiB boundary above lld's default base (2 MiB).
const IMAGE_BASE: u64 = 0x40_0000 - 2 * 0x1000;

fn main() {
    let krate = env::var("CARGO_PKG_NAME")
        .expect("cargo sets CARGO_PKG_NAME")
        .replace('-', "_");
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
    // A position-independent executable is loaded wherever the kernel picks:
    // there the base is not ours to choose.
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.split('\x1f').any(|f| f == "relocation-model=static") {
        println!("cargo:rustc-link-arg-bins=-Wl,--image-base={IMAGE_BASE:#x}");
    }
    println!("cargo:rerun-if-changed=../wlcore/build-bin.rs");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}
