//! (filled in by the mmap workload)
