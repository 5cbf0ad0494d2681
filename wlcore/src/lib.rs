//! What the memory workloads of this suite share.
//!
//! Every workload (`malloc-wl`, `bytearray-wl`, `kmalloc-test`) is a thin binary
//! that names one allocation path and nothing else; this crate holds the rest, the
//! way uutils keeps its tools thin around one core:
//!
//! - [`cli`]: the options every workload takes, and clap errors cut to one line;
//! - [`size`]: sizes with units (`4096`, `4KiB`, `1G`) and hold durations;
//! - [`cmem`]: the C allocator: with [`workload_main!`], the only `unsafe` of user space;
//! - [`signals`]: `--wait` and `--hold`, done with a signalfd instead of handlers;
//! - [`run`]: the loop of allocate / hold / free, timed, and its `--json` report;
//! - [`exit`]: the documented exit codes and the one-line error type;
//! - [`stat`]: CLOCK_MONOTONIC and the process's own RSS and VSZ;
//! - `testing` (feature `testing`): running the binaries in their tests, under strace.
//!
//! A workload implements [`run::Workload`] (allocate, say how much it asked the
//! allocator for, free by drop) and names its `main` with [`workload_main!`].

/// Defines a workload binary's C `main`, which runs [`run::main`] with the given
/// closure (from the binary's parsed options to its options and workload).
///
/// The binary says `#![no_main]` (and `test = false`: no test harness `main`
/// either). glibc calls this `main` directly, without Rust's runtime start-up, which on every start reads `/proc/self/maps` (to place a
/// stack guard) and mmaps a signal stack; a tracker would count both as the
/// workload's. Arguments still reach `std::env::args` (glibc hands them to std
/// through `.init_array`). What goes missing: std's stack-overflow message (a
/// workload does not recurse) and its SIGPIPE-ignoring (a closed stdout ends the
/// workload by SIGPIPE, as it would a C program).
#[macro_export]
macro_rules! workload_main {
    ($make:expr) => {
        // SAFETY: this is the program's one C `main`, defined once per binary
        // (the binary is `no_main`), with the signature glibc calls.
        #[unsafe(no_mangle)]
        extern "C" fn main(
            _argc: ::std::ffi::c_int,
            _argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            $crate::run::main($make)
        }
    };
}

pub mod cli;
pub mod cmem;
pub mod exit;
pub mod run;
pub mod signals;
pub mod size;
pub mod stat;
#[cfg(feature = "testing")]
pub mod testing;
