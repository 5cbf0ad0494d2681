//! The build script of every workload binary (`build = "../wlcore/build-bin.rs"`
//! in its Cargo.toml): it has the linker put the code a run executes together,
//! at the start of the executable's code.
//!
//! Why: the kernel maps a program's file pages 16 at a time around each page
//! fault (fault-around), and each page mapped is unmapped again at exit. Left
//! to the linker, the few functions a plain run executes (the workload's, the
//! shared core's, the argument parser's, the arena allocator's) lay scattered
//! among 300 KB of code that never runs (std's backtrace printer, mostly), with
//! the C start-up's `.init`, `.fini` and PLT at the far end: a malloc-wl run
//! touched four 64 KiB windows of code, 51 pages. In front, in the order
//! below, they take two, 23 pages: about 9 us, 1.6% of a start-up when the
//! page cache holds the file page by page (see the README).
//!
//! The linker script only says what comes first in the code: `.init`, `.fini`,
//! the PLT, then `.text` with these functions at its head and the C start-up's
//! `_start` right after them. With `INSERT` the rest of the default layout
//! stays, and a pattern that matches nothing leaves it as it was. The tests of
//! malloc-wl and bytearray-wl run the binary under callgrind and check that
//! what it executed lies in front of `_start`'s page end.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let krate = env::var("CARGO_PKG_NAME")
        .expect("cargo sets CARGO_PKG_NAME")
        .replace('-', "_");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out.join("hot-text.ld");
    // Function sections are named after their (mangled) symbols, which hold the
    // names of the crate and of the function.
    let text = format!(
        "SECTIONS {{
  .init : {{ KEEP(*(SORT_NONE(.init))) }}
  .fini : {{ KEEP(*(SORT_NONE(.fini))) }}
  .plt : {{ *(.plt) *(.iplt) }}
  .text : {{
    *(.text.main)
    *(.text.*{krate}*)
    *(.text.*wlcore*)
    *(.text.*lexopt*)
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
    println!("cargo:rerun-if-changed=../wlcore/build-bin.rs");
}
