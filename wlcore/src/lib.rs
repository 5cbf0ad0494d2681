//! What the memory workloads of this suite share.
//!
//! Every workload (`malloc-wl`, `bytearray-wl`, `kmalloc-test`) is a thin binary
//! that names one allocation path and nothing else; this crate holds the rest, the
//! way uutils keeps its tools thin around one core:
//!
//! - [`cli`]: the options every workload takes, and clap errors cut to one line;
//! - [`size`]: sizes with units (`4096`, `4KiB`, `1G`) and hold durations;
//! - [`cmem`]: the C allocator, the one place in user space with `unsafe`;
//! - [`signals`]: `--wait` and `--hold`, done with a signalfd instead of handlers;
//! - [`run`]: the loop of allocate / hold / free, timed, and its `--json` report;
//! - [`exit`]: the documented exit codes and the one-line error type.
//!
//! A workload implements [`run::Workload`] (allocate, say how much it asked the
//! allocator for, free by drop) and calls [`run::main`].

pub mod cli;
pub mod cmem;
pub mod exit;
pub mod run;
pub mod signals;
pub mod size;
pub mod stat;
#[cfg(feature = "testing")]
pub mod testing;
