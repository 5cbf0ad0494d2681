//! The memory system calls the path workloads make (`mmap-wl`, `brk-wl`,
//! `shm-wl`), those behind `--wait` and `--hold` ([`signal`]), and the ledger's
//! readings of `/proc/self` ([`proc`]), each a safe
//! function around one call: with [`cmem`](crate::cmem), every `unsafe` of user
//! space. Each function makes exactly its one call (through glibc's thin
//! wrapper, or `syscall(2)` where glibc's wrapper would do more or bind more),
//! so what a tracker sees is what the workload's ledger lists.

pub mod brk;
pub mod mmap;
pub mod proc;
pub mod shm;
pub mod signal;
