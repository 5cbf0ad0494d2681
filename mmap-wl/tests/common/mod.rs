//! What the test files of mmap-wl share.

/// Every mode of mmap-wl, as `--mode` names it.
pub const MODES: [&str; 14] = [
    "anon",
    "shared",
    "file",
    "populate",
    "protnone",
    "fixed",
    "unmap-head",
    "unmap-middle",
    "unmap-tail",
    "mremap-grow",
    "mremap-shrink",
    "mremap-move",
    "fail-eexist",
    "unmap-unmapped",
];
