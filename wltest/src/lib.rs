//! What the workloads' integration tests share: running a workload binary as a
//! user or a tracker runs it, and reading what strace, bpftrace, callgrind and
//! ptrace saw of it.
//!
//! A dev-dependency of each workload crate and nothing else, the way uutils
//! keeps its test support in `uutests`: `wlcore` holds only what a workload
//! runs. The design:
//!
//! - The tests run the real thing: the binary cargo built for the crate
//!   (`CARGO_BIN_EXE_<name>`), under the real tools. None of it is stubbed.
//! - The binaries `cargo test --release` runs are those `cargo build
//!   --release` makes. Cargo builds a workload for its tests with the features
//!   of its dev-dependencies unified in, so this crate asks for no feature of
//!   a crate the workloads use (nix, libc) beyond the workspace's own: ptrace
//!   goes through libc, not nix's `ptrace` feature.
//!   `scripts/tests/fresh-test.sh` checks it.
//! - One strace parser ([`Syscall::parse`]) for `strace -qq` lines and for
//!   `strace -f` lines with a thread column.
//! - Uprobe sessions and valgrind runs take turns, across test threads and
//!   test processes (see [`bpftrace`]).
//! - The start-up checks hold to the release build and say SKIPPED in a debug
//!   build (see [`layout`]).
//!
//! The modules, each re-exported here so that a test says `use wltest::*`:
//!
//! - [`run`](mod@run): a run and its `--json` report, usage errors, scratch
//!   folders;
//! - [`strace`](mod@strace): runs under strace, the parser, the ledger
//!   checked against it, glibc's path (heap or mmap) checked against it;
//! - [`layout`]: how the executable is laid out and bound, what code a run
//!   executes (callgrind) and what pages it maps (ptrace, `/proc/PID/smaps`);
//!   the C program it is compared with;
//! - [`bpftrace`]: the scripts of `scripts/trackers/` run beside a test, and
//!   heap.bt's calls against the ledger.

pub mod bpftrace;
pub mod layout;
pub mod run;
pub mod strace;

pub use bpftrace::*;
pub use layout::*;
pub use run::*;
pub use strace::*;
