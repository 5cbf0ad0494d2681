//! (filled in by the shm workload)
