//! The mmap that glibc's malloc makes for a request (x86-64, glibc 2.36).

/// glibc's `SIZE_SZ`: the size field of a chunk.
const SIZE_SZ: u64 = 8;
/// `MALLOC_ALIGNMENT`: chunks are multiples of 16 bytes.
const ALIGN_MASK: u64 = 15;
/// `MINSIZE`: the smallest chunk.
const MIN_CHUNK: u64 = 32;
/// The page size mmap rounds to.
const PAGE: u64 = 4096;
/// glibc's default `M_MMAP_THRESHOLD`, which the workloads pin.
pub const DEFAULT_THRESHOLD: u64 = 131072;

/// `request2size`: the chunk that `malloc(bytes)` needs, header included.
pub fn chunk_size(bytes: u64) -> u64 {
    (bytes.saturating_add(SIZE_SZ + ALIGN_MASK) & !ALIGN_MASK).max(MIN_CHUNK)
}

/// The length of the anonymous mmap that `malloc(bytes)` makes with the mmap
/// threshold at `threshold`, or 0 when the chunk (`chunk_size`) is below the
/// threshold and comes from the brk heap: the chunk plus one more size field,
/// rounded up to whole pages (`sysmalloc`'s `ALIGN_UP(nb + SIZE_SZ, pagesize)`).
///
/// glibc reaches that mmap only when the top of the heap cannot hold the chunk;
/// a chunk just over the threshold may still fit in a fresh heap's top and come
/// from it (the workload's report says which: `served_by`). At the sweep's
/// powers of two from 256 KiB up it never fits.
pub fn mmap_len(bytes: u64, threshold: u64) -> u64 {
    let nb = chunk_size(bytes);
    if nb < threshold {
        return 0;
    }
    nb.saturating_add(SIZE_SZ + PAGE - 1) & !(PAGE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readmes_figures() {
        let t = DEFAULT_THRESHOLD;
        assert_eq!(mmap_len(256 << 10, t), 266240);
        assert_eq!(mmap_len(128 << 10, t), 135168);
        assert_eq!(mmap_len(64 << 20, t), 67112960);
        // bytearray-wl asks for SIZE + 1: the same pages, one byte less of error
        assert_eq!(mmap_len((256 << 10) + 1, t), 266240);
        assert_eq!(mmap_len(1 << 20, t), (1 << 20) + 4096);
        assert_eq!(mmap_len(1 << 30, t), (1 << 30) + 4096);
    }

    #[test]
    fn the_threshold_is_on_the_chunk() {
        let t = DEFAULT_THRESHOLD;
        // request2size(131049) = 131072: the first request with a chunk at
        // the threshold
        assert_eq!(chunk_size(131048), 131056);
        assert_eq!(mmap_len(131048, t), 0);
        assert_eq!(chunk_size(131049), 131072);
        assert_eq!(mmap_len(131049, t), 135168);
        assert_eq!(mmap_len(131064, t), 135168);
        // a raised threshold keeps it on the heap
        assert_eq!(mmap_len(256 << 10, 512 << 10), 0);
    }

    #[test]
    fn small_and_huge_requests() {
        assert_eq!(chunk_size(0), 32);
        assert_eq!(chunk_size(1), 32);
        assert_eq!(chunk_size(24), 32);
        assert_eq!(chunk_size(25), 48);
        assert_eq!(mmap_len(1, DEFAULT_THRESHOLD), 0);
        // no overflow near the top of u64
        assert!(mmap_len(u64::MAX - 3, DEFAULT_THRESHOLD) > 0);
    }
}
