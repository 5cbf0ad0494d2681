//! What the memory workloads of this suite share.
//!
//! Every workload (`malloc-wl`, `bytearray-wl`, `kmalloc-test`, `mmap-wl`,
//! `brk-wl`, `shm-wl`) is a thin binary
//! that names one allocation path and nothing else; this crate holds the rest, the
//! way uutils keeps its tools thin around one core:
//!
//! - [`cli`]: the options every workload takes (lexopt), usage errors as one line;
//! - [`size`]: sizes with units (`4096`, `4KiB`, `1G`) and hold durations;
//! - [`cmem`]: the C allocator, the arena for Rust's own allocations, `argv`,
//!   threads and fork, and the page writer of `--touch` and `--cow`; with
//!   [`sys`] and [`workload_main!`], the only `unsafe` the workloads run;
//! - [`sys`]: the system calls made without glibc's wrappers (the path workloads'
//!   memory calls, the signals), one call a function;
//! - [`ledger`]: every call a workload makes and what it did to the process,
//!   the `--json` report's list (schema: `docs/ledger.md`);
//! - [`signals`]: `--wait`, `--hold` and stopping a loop, with a signalfd instead of handlers;
//! - [`run`]: the loop of allocate / hold / free (in threads or forked children
//!   when asked), and its `--json` report;
//! - [`out`]: stdout and stderr written whole, never a panic, SIGPIPE as EPIPE;
//! - [`exit`]: the documented exit codes and the one-line error type;
//! - [`stat`]: CLOCK_MONOTONIC and the process's own RSS, VSZ and brk heap;
//! - [`pace`] and [`ring`]: what `rate-wl` runs by: sleeping until a deadline,
//!   the peak RSS, and its live set in a static array.
//!
//! What the workloads' tests share (running the binaries under strace,
//! bpftrace, callgrind or ptrace) is the dev-only crate `wltest`: nothing
//! here is only for a test.
//!
//! A workload implements [`run::Workload`] (allocate and free, each call
//! recorded in the [`ledger::Ledger`]; say how much it asked the allocator for),
//! names its `main` with [`workload_main!`], and takes `wlcore/build-bin.rs` as
//! its build script, which lays the executable out so that a run has few of its
//! pages mapped.
//!
//! The process is quiet: glibc's malloc family is called only by the workload's
//! own allocation (Rust's allocations come from a static arena, see [`cmem`]),
//! so a heap tracker sees exactly the calls the workload names, and the memory
//! system calls after the loader are those of the same allocation in C.

/// Defines a workload binary's C `main` and its global allocator; the argument
/// is the type that implements [`run::Workload`].
///
/// The binary says `#![no_main]` (and `test = false`: no test harness `main`
/// either). glibc calls this `main` directly, without Rust's runtime start-up, which on
/// every start reads `/proc/self/maps` (to place a stack guard) and mmaps a signal
/// stack; a tracker would count both as the workload's. The arguments are read
/// from `argv` as they are needed. What goes missing: std's stack-overflow message
/// (a workload does not recurse) and its SIGPIPE-ignoring (see [`out`]).
///
/// Rust's allocations go to [`cmem::Arena`], a static region of the binary, so
/// that glibc's malloc sees only the workload's own calls. And the C functions
/// std calls are bound on first call, not at every start (see
/// `wlcore/build-bin.rs`).
#[macro_export]
macro_rules! workload_main {
    ($workload:ty) => {
        $crate::program_main!($crate::run::main::<$workload>);
    };
}

/// What [`workload_main!`] defines, for a workload binary that runs its own
/// loop instead of [`run::Workload`]'s (`rate-wl`): the argument is its
/// `fn(cmem::CArgs) -> i32`, called as the C `main`.
#[macro_export]
macro_rules! program_main {
    ($main:expr) => {
        #[global_allocator]
        static ALLOCATOR: $crate::cmem::Arena = {
            static mut ARENA: [u8; $crate::cmem::ARENA_BYTES] = [0; $crate::cmem::ARENA_BYTES];
            // SAFETY: ARENA is named nowhere else, so the allocator, which takes
            // it a page at a time as it allocates, is its only user.
            $crate::cmem::Arena::new(unsafe { $crate::cmem::Pages::new(&raw mut ARENA) })
        };

        // The thunks through which the C functions std and the workload call
        // are bound on first call, as in a C program (`wlcore/build-bin.rs`
        // writes them and links the calls to them).
        ::std::arch::global_asm!(include_str!(concat!(env!("OUT_DIR"), "/lazy-bind.s")));

        // SAFETY: this is the program's one C `main`, defined once per binary
        // (the binary is `no_main`), with the signature glibc calls.
        #[unsafe(no_mangle)]
        extern "C" fn main(
            argc: ::std::ffi::c_int,
            argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            // SAFETY: argc and argv are C main's own, untouched.
            let args = unsafe { $crate::cmem::CArgs::new(argc, argv) };
            $main(args)
        }
    };
}

pub mod cli;
pub mod cmem;
pub mod exit;
pub mod ledger;
pub mod out;
pub mod pace;
pub mod ring;
pub mod run;
pub mod signals;
pub mod size;
pub mod stat;
pub mod sys;
