//! The tables of the tracker sweeps, from what the shell scripts record.
//!
//! The scripts under `scripts/` start trackers and workloads and record what
//! happened; `wlreport` makes every table from that record, so that the
//! arithmetic (medians, baselines, glibc's mmap length) is written once, typed
//! and tested:
//!
//! - `wlreport sweep` (called by `scripts/sweep.sh`): from the sweep's plan,
//!   the runners' raw files and the kernel CSV, `runs.csv`, `DATA.csv`, `errors.csv`, `errors.md`;
//! - `wlreport kernel-check` (called by `sweep.sh` before it runs anything):
//!   whether a kernel CSV can be merged;
//! - `wlreport overhead` (called by `scripts/overhead.sh`): from hyperfine's
//!   exports, `overhead.csv` and `overhead.md`;
//! - `wlreport bench` (called by `scripts/bench.sh`): from hyperfine's
//!   exports and the counts the script took, `bench.csv` and `bench.md`;
//! - `wlreport paths` (called by `scripts/paths.sh`): from the workloads'
//!   `--json` ledgers, the table of every path (docs/results/paths.md);
//! - `wlreport scoreboard` (called by `scripts/scoreboard.sh`): the
//!   trackers' cells, classed against the ledgers, and their check against
//!   the expected classes;
//! - `wlreport load` (called by `scripts/load.sh`): the plan of rate-wl
//!   runs under each tracker that counts calls, and from their raw files
//!   what each tracker lost and cost (`load.csv`, `load.md`, the plots' data);
//! - `wlreport kpaths` (called by `scripts/kernel/kpaths.sh`): from the
//!   kernel VM's console, the table of every kernel path (docs/results/kernel-paths.md), and its
//!   cells (tracker kmem-sum);
//! - `wlreport kleaks` (called by `scripts/kernel/kleaks.sh`): from the debug
//!   kernel VM's console, what kmemleak reported of the module's leaks, and
//!   their cells (tracker kmemleak);
//! - `wlreport ktrackers` (called by `scripts/kernel/ktrackers.sh`): from the
//!   production kernel VM's console, what the host's eBPF trackers
//!   (`scripts/trackers/ktrackers.tsv`) made of every kernel path, and their
//!   cells;
//! - `wlreport kload` (called by `scripts/kernel/kload.sh`): from the
//!   production kernel VM's console, the load table's kernel half
//!   (kmalloc-test's rate mode under kernel trackers), in `load`'s rows.
//!
//! # The sweep's record
//!
//! `sweep.sh` runs its workloads through the scoreboard's runners
//! (`scripts/trackers/run-*.sh`), which write a raw file a run (`raw/ID.raw`:
//! sections `@@ status`, `@@ pid`, `@@ json`, `@@ tracker`, `@@ wall_ns`;
//! `scripts/trackers/runner-lib.sh`), and writes `plan.tsv`, a run a line
//! under [`runs::PLAN_HEADER`]: `id`, `workload`, `size`, `repetition`,
//! `tracker`, `figure` (`user`, `kernel` or `heap`) and `reader`, how the
//! tracker's section gives the run's `key=value` figures ([`runs::Reader`]: a
//! session's `exit pid=...` line for the run's process, a tracker's own
//! `key=value` line, the contract's `bytes N` reading, or none).
//!
//! # `runs.csv`
//!
//! One row per run, the sweep's runs first, then the kernel CSV's (tracker
//! `kernel-csv`). An empty cell is a figure this tracker does not measure or
//! this workload does not report. Every count is a whole number.
//!
//! | column | what |
//! | --- | --- |
//! | `workload`, `size`, `repetition` | the run (size in bytes) |
//! | `tracker` | the sweep's tracker (`bpftrace`, `heap`, `strace`, `none`, or a tracker of the contract), or `kernel-csv` |
//! | `figure` | what `tracked_bytes` is: `user` (mmap + brk growth + shmget bytes), `kernel` (kmalloc + kmem_cache_alloc bytes) or `heap` (the bytes the malloc family was asked); a tracker of the contract's `bytes` |
//! | `tracked_bytes` | the tracker's figure for the whole process |
//! | `requested_bytes` | SIZE, from `--json` |
//! | `allocator_bytes` | what the workload asked its allocator for, times its repeats (SIZE + 1 for bytearray-wl; for kernel-csv rows the module's `bytes_req`) |
//! | `glibc_mmap_bytes` | the mmap length glibc makes for `malloc(allocator_bytes)`, times the repeats; 0 when the first heap holds it (up to 134472 bytes, `wlmodel::glibc`); empty for kmalloc-test |
//! | `wall_ns` | wall time of the workload process |
//! | `exit_status` | the workload's exit status (a run without `tracked_bytes` under a tracker failed too) |
//! | `pid` | the workload's pid |
//! | `mmap_bytes`, `brk_bytes`, `shm_bytes` | the parts of the user figure |
//! | `kernel_bytes` | the kernel figure |
//! | `kmalloc_events` | every `kmem:kmalloc` event in the process's context |
//! | `kmalloc_ptrs` | distinct pointers of those events |
//! | `cache_events` | every `kmem:kmem_cache_alloc` event in the process's context |
//! | `module_kmalloc_events` | `kmem:kmalloc` events of kmalloc_lkm's own allocations (kernel-csv only: 2 for one large kmalloc on Linux 7.2) |
//! | `module_kmalloc_ptrs` | kmalloc_lkm's own allocations: distinct pointers from its call site (kernel-csv only) |
//! | `repeat`, `completed` | from `--json`: allocations asked and made |
//! | `served_by` | from `--json`: `heap` or `mmap`, where glibc took the (first) block |
//! | `reported_mmap_bytes`, `reported_brk_growth_bytes` | from `--json`: the workload's own mmap and brk growth over its first allocation |
//! | `failed_repeat`, `error` | from `--json`: the repeat that failed and why |

pub mod bench;
pub mod cli;
pub mod files;
pub mod kernel;
pub mod kleaks;
pub mod kload;
pub mod kpaths;
pub mod ktrackers;
pub mod load;
pub mod num;
pub mod overhead;
pub mod paths;
pub mod runs;
pub mod scoreboard;
pub mod sweep;
pub mod vmbench;
