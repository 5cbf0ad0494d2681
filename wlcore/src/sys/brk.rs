//! (filled in by the brk workload)
