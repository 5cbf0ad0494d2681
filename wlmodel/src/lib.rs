//! What a workload's run says, as one typed model for every reader.
//!
//! The workloads write their `--json` report with `wlcore` (no serde in a
//! workload: its start-up and its allocations are part of what a tracker
//! measures). Everything that reads a report goes through this crate: the
//! report tool `wlreport` (the scoreboard's truth, the paths table, the kernel
//! paths, the sweeps' runs) and the workloads' tests. So each notion of the
//! ledger has one definition:
//!
//! - [`report`]: the report and its ledger (`docs/ledger.md`), the version
//!   checked once ([`Report::parse`]); an entry's allocating call, the bytes it
//!   asked, what it mapped ([`Entry::mapping_change`]); the first repeat in
//!   time, its hold, and the blocks live while held ([`Timeline`]);
//! - [`glibc`]: what glibc's malloc does with a request (the brk heap or an
//!   mmap, and its length), a model the tests check against strace.

pub mod glibc;
pub mod report;

pub use report::{
    Bucket, Entry, Expect, Interval, Kind, Live, ModuleEntry, ParseError, Rate, Report, Timeline,
    ALLOCATING,
};
