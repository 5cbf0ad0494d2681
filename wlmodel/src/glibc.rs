//! What glibc's malloc (x86-64, glibc 2.36) does with a workload's request: the
//! brk heap or an mmap, and how long a mapping. A model, checked against strace
//! by the workloads' tests and used by the report tool as a cross-check of what
//! the workloads measure (`served_by`, `mmap_bytes`).

/// glibc's `SIZE_SZ`: the size field of a chunk.
const SIZE_SZ: u64 = 8;
/// `MALLOC_ALIGNMENT`: chunks are multiples of 16 bytes.
const ALIGN_MASK: u64 = 15;
/// `MINSIZE`: the smallest chunk.
const MIN_CHUNK: u64 = 32;
/// The page size mmap rounds to.
const PAGE: u64 = 4096;
/// glibc's default `M_MMAP_THRESHOLD`, which the workloads pin
/// (`wlcore::cmem::MMAP_THRESHOLD`; their reports say it as `mmap_threshold`,
/// the figure readers use; malloc-wl's tests hold the two to each other).
pub const DEFAULT_THRESHOLD: u64 = 131072;
/// The heap the first malloc of a process makes: its tcache (656 bytes) plus
/// `top_pad` (128 KiB) plus `MINSIZE`, rounded up to pages.
pub const FIRST_HEAP: u64 = 135_168;
/// What is left on top of that heap once the tcache has its 656 bytes.
pub const FIRST_TOP: u64 = FIRST_HEAP - 656;
/// The largest request a fresh process's first malloc cuts from that top (a
/// chunk plus `MINSIZE` must fit); anything larger goes to `sysmalloc`, which
/// mmaps from the threshold up. 134472.
pub const FIRST_HEAP_MAX: u64 = FIRST_TOP - MIN_CHUNK - SIZE_SZ;

/// `request2size`: the chunk that `malloc(bytes)` needs, header included.
pub fn chunk_size(bytes: u64) -> u64 {
    (bytes.saturating_add(SIZE_SZ + ALIGN_MASK) & !ALIGN_MASK).max(MIN_CHUNK)
}

/// The length of the anonymous mmap that the first `malloc(bytes)` of a fresh
/// process makes with the mmap threshold at `threshold` (and every later one,
/// the threshold being pinned), or 0 when it comes from the brk heap.
///
/// glibc reaches for an mmap only when the top of the heap cannot hold the
/// chunk: up to [`FIRST_HEAP_MAX`] the request is cut from the heap the first
/// malloc makes, whatever the threshold. Above it, a chunk (`chunk_size`) at or
/// over the threshold is mmapped: the chunk plus one more size field, rounded
/// up to whole pages (`sysmalloc`'s `ALIGN_UP(nb + SIZE_SZ, pagesize)`).
pub fn mmap_len(bytes: u64, threshold: u64) -> u64 {
    let nb = chunk_size(bytes);
    if bytes <= FIRST_HEAP_MAX || nb < threshold {
        return 0;
    }
    nb.saturating_add(SIZE_SZ + PAGE - 1) & !(PAGE - 1)
}

/// The length glibc mmaps for a chunk of `bytes` that it does mmap, wherever
/// the heap stands: the chunk plus one size field, rounded up to pages.
pub fn mmapped_chunk_len(bytes: u64) -> u64 {
    chunk_size(bytes).saturating_add(SIZE_SZ + PAGE - 1) & !(PAGE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readmes_figures() {
        let t = DEFAULT_THRESHOLD;
        assert_eq!(mmap_len(256 << 10, t), 266240);
        // 128 KiB comes from the first heap, as in C
        assert_eq!(mmap_len(128 << 10, t), 0);
        assert_eq!(mmapped_chunk_len(128 << 10), 135168);
        assert_eq!(mmap_len(64 << 20, t), 67112960);
        // bytearray-wl asks for SIZE + 1: the same pages, one byte less of error
        assert_eq!(mmap_len((256 << 10) + 1, t), 266240);
        assert_eq!(mmap_len(1 << 20, t), (1 << 20) + 4096);
        assert_eq!(mmap_len(1 << 30, t), (1 << 30) + 4096);
    }

    #[test]
    fn the_first_heap_ends_at_134472() {
        let t = DEFAULT_THRESHOLD;
        assert_eq!(FIRST_HEAP_MAX, 134_472);
        assert_eq!(
            mmap_len(131_049, t),
            0,
            "chunk at the threshold, still on the heap"
        );
        assert_eq!(mmap_len(FIRST_HEAP_MAX, t), 0);
        assert_eq!(mmap_len(FIRST_HEAP_MAX + 1, t), 135_168);
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
