//! The module's allocation paths, and the tracepoints a kernel tracker should
//! see for each (`kmalloc-test --expect`), as the module documents them
//! (kmalloc-lkm/kmalloc_lkm.rs) and the VM test checks them on Linux 7.2.

/// One allocation path of the module.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Path {
    Kmalloc,
    Kzalloc,
    Krealloc,
    KmemCache,
    Vmalloc,
    Kvmalloc,
    Pages,
    Percpu,
}

const PAGE: u64 = 4096;
/// KMALLOC_MAX_SIZE on x86-64: the most one kmalloc can give.
const KMALLOC_MAX_SIZE: u64 = 4 << 20;
/// KMALLOC_MAX_CACHE_SIZE: above it kmalloc takes whole pages.
const KMALLOC_MAX_CACHE_SIZE: u64 = 8192;
/// The smallest kvmalloc that can fall back to vmalloc (above a page).
pub const KVMALLOC_FALLBACK_MIN: u64 = PAGE + 1;

impl Path {
    pub const NAMES: &'static str =
        "kmalloc, kzalloc, krealloc, kmem_cache, vmalloc, kvmalloc, pages, percpu";
    const ALL: [Path; 8] = [
        Path::Kmalloc,
        Path::Kzalloc,
        Path::Krealloc,
        Path::KmemCache,
        Path::Vmalloc,
        Path::Kvmalloc,
        Path::Pages,
        Path::Percpu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Path::Kmalloc => "kmalloc",
            Path::Kzalloc => "kzalloc",
            Path::Krealloc => "krealloc",
            Path::KmemCache => "kmem_cache",
            Path::Vmalloc => "vmalloc",
            Path::Kvmalloc => "kvmalloc",
            Path::Pages => "pages",
            Path::Percpu => "percpu",
        }
    }

    pub fn parse(text: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == text)
    }

    /// The module's largest size for the path.
    pub fn max_size(self) -> u64 {
        match self {
            Path::Kmalloc | Path::Kzalloc | Path::Krealloc | Path::Pages => KMALLOC_MAX_SIZE,
            Path::KmemCache => 1 << 20,
            Path::Vmalloc | Path::Kvmalloc => 1 << 30,
            Path::Percpu => 32 << 10,
        }
    }

    /// Where that limit comes from.
    pub fn limit_name(self) -> &'static str {
        match self {
            Path::Kmalloc | Path::Kzalloc | Path::Krealloc => "KMALLOC_MAX_SIZE",
            Path::Pages => "MAX_PAGE_ORDER",
            Path::KmemCache => "the module's cache limit",
            Path::Vmalloc | Path::Kvmalloc => "the module's vmalloc limit",
            Path::Percpu => "PCPU_MIN_UNIT_SIZE",
        }
    }
}

/// What kmalloc hands out for `size` bytes (x86-64 buckets, whole pages above
/// 8 KiB): `kmalloc_size_roundup()`.
pub fn kmalloc_bucket(size: u64) -> u64 {
    match size {
        0..=8 => 8,
        9..=16 => 16,
        17..=32 => 32,
        33..=64 => 64,
        65..=96 => 96,
        97..=128 => 128,
        129..=192 => 192,
        _ if size <= KMALLOC_MAX_CACHE_SIZE => size.next_power_of_two(),
        _ => PAGE << order(size),
    }
}

/// The page order covering `size` bytes (`get_order()`).
pub fn order(size: u64) -> u32 {
    size.div_ceil(PAGE).next_power_of_two().trailing_zeros()
}

fn page_align(size: u64) -> u64 {
    size.div_ceil(PAGE) * PAGE
}

/// One expected event: `{"event": E, "count": N, "fields": {...}, "note": ...}`.
fn event(name: &str, count: &str, fields: &[(&str, String)], note: &str) -> String {
    let fields = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect::<Vec<_>>()
        .join(",");
    let note = if note.is_empty() {
        String::new()
    } else {
        format!(",\"note\":\"{note}\"")
    };
    format!("{{\"event\":\"{name}\",\"count\":{count},\"fields\":{{{fields}}}{note}}}")
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// The kmalloc events of one kmalloc of `size` bytes from the module.
fn kmalloc_events(size: u64, gfp: &str, site: &str) -> Vec<String> {
    let mut f = vec![("bytes_req", size.to_string()), ("gfp_flags", q(gfp))];
    if !site.is_empty() {
        f.push(("call_site", q(site)));
    }
    let (count, note) = if size > KMALLOC_MAX_CACHE_SIZE {
        (
            "2",
            "Linux 7.2 and 7.3 trace a kmalloc above 8 KiB twice, with one ptr; count allocations by ptr",
        )
    } else {
        ("1", "")
    };
    vec![event("kmem:kmalloc", count, &f, note)]
}

/// The pages a vmalloc of `size` bytes allocates: `size` in pages, plus the
/// pages of its array of page pointers when that is larger than a page.
pub fn vmalloc_pages(size: u64) -> u64 {
    let n = size.div_ceil(PAGE);
    let array = n * 8;
    n + if array > PAGE {
        array.div_ceil(PAGE)
    } else {
        0
    }
}

/// The events of one vmalloc of `size` bytes.
fn vmalloc_events(size: u64) -> Vec<String> {
    vec![
        event(
            "vmalloc:alloc_vmap_area",
            "1",
            &[("size", (page_align(size) + PAGE).to_string()), ("failed", "0".into())],
            "size is SIZE in whole pages plus one guard page",
        ),
        event(
            "kmem:mm_page_alloc",
            "\"pages\"",
            &[
                ("pages", vmalloc_pages(size).to_string()),
                ("gfp_flags", q("with __GFP_HIGHMEM")),
            ],
            "the pages behind it, in blocks whose 2^order add up to this, including the pages of its array of page pointers when that is larger than a page (vmalloced too, with an alloc_vmap_area of its own); vmalloc's own kmallocs (vm_struct) come with it",
        ),
    ]
}

/// `--expect`: one JSON object with the write, the allocation events and the
/// free events of `path` (`None`: a plain size) for `size` bytes; `vmalloc`:
/// kvmalloc's vmalloc fallback (`--force-vmalloc`).
pub fn expectations(path: Option<Path>, from: u64, size: u64, vmalloc: bool) -> String {
    let p = path.unwrap_or(Path::Kmalloc);
    let write = match (path, p) {
        (None, _) => size.to_string(),
        (_, Path::Krealloc) => format!("krealloc {from} {size}"),
        (_, Path::Kvmalloc) if vmalloc => format!("kvmalloc {size} vmalloc"),
        (_, p) => format!("{} {size}", p.name()),
    };
    let kvec = "_RN*kvec*Kmalloc* (the kernel crate's KVec)";
    let module = "a function of kmalloc_lkm";
    let mut listed = p.name().to_string();
    let mut allocated = kmalloc_bucket(size);
    let (allocs, frees): (Vec<String>, Vec<String>) = match p {
        Path::Kmalloc => (
            kmalloc_events(size, "GFP_KERNEL", kvec),
            vec![event(
                "kmem:kfree",
                "1",
                &[("ptr", q("the kmalloc's ptr"))],
                "",
            )],
        ),
        Path::Kzalloc => (
            kmalloc_events(size, "GFP_KERNEL|__GFP_ZERO", kvec),
            vec![event(
                "kmem:kfree",
                "1",
                &[("ptr", q("the kmalloc's ptr"))],
                "",
            )],
        ),
        Path::Krealloc => {
            let kept = kmalloc_bucket(from);
            let mut a = kmalloc_events(from, "GFP_KERNEL", module);
            if size > kept {
                a.extend(kmalloc_events(size, "GFP_KERNEL", module));
                a.push(event(
                    "kmem:kfree",
                    "1",
                    &[("ptr", q("the first kmalloc's ptr"))],
                    "krealloc moved the object: TO does not fit in FROM's bucket",
                ));
            } else {
                allocated = kept;
                a.push(event(
                    "kmem:kmalloc",
                    "0",
                    &[("bytes_req", size.to_string())],
                    "krealloc kept the object (TO fits in FROM's bucket): the resize is not traced",
                ));
            }
            (
                a,
                vec![event(
                    "kmem:kfree",
                    "1",
                    &[("ptr", q("the last kmalloc's ptr"))],
                    "",
                )],
            )
        }
        Path::KmemCache => {
            allocated = size;
            (
                vec![event(
                    "kmem:kmem_cache_alloc",
                    "1",
                    &[
                        ("name", q(&format!("kmalloc_lkm-{size}"))),
                        ("bytes_req", size.to_string()),
                        ("call_site", q(module)),
                    ],
                    "the first write of a size since the module was loaded also creates the cache (kmem_cache_create's own allocations)",
                )],
                vec![event(
                    "kmem:kmem_cache_free",
                    "1",
                    &[("name", q(&format!("kmalloc_lkm-{size}")))],
                    "",
                )],
            )
        }
        Path::Vmalloc => {
            allocated = page_align(size);
            (
                vmalloc_events(size),
                vec![event(
                    "vmalloc:free_vmap_area_noflush",
                    "1",
                    &[("va_start", q("alloc_vmap_area's va_start"))],
                    "then kmem:mm_page_free of its pages",
                )],
            )
        }
        Path::Kvmalloc if vmalloc => {
            listed = "kvmalloc:vmalloc".into();
            allocated = page_align(size);
            let mut a = vmalloc_events(size);
            a.push(event(
                "kmem:kmalloc",
                "0",
                &[("bytes_req", size.to_string())],
                "the kmalloc attempt is skipped, as if it had failed; a kvmalloc whose kmalloc really fails shows it first with ptr=0",
            ));
            (
                a,
                vec![event(
                    "vmalloc:free_vmap_area_noflush",
                    "1",
                    &[("va_start", q("alloc_vmap_area's va_start"))],
                    "",
                )],
            )
        }
        Path::Kvmalloc if size <= KMALLOC_MAX_SIZE => {
            listed = "kvmalloc:kmalloc".into();
            let gfp = if size > PAGE {
                "GFP_NOWAIT|__GFP_IO|__GFP_FS (above a page: kvmalloc drops direct reclaim and warnings)"
            } else {
                "GFP_KERNEL"
            };
            (
                vec![event(
                    "kmem:kmalloc",
                    "\"1 per trace site\"",
                    &[("bytes_req", size.to_string()), ("gfp_flags", q(gfp))],
                    "served by kmalloc; traced at kvrealloc_node_align_noprof, and above 8 KiB once more inside slub (same ptr)",
                )],
                vec![event("kmem:kfree", "1", &[("ptr", q("the kmalloc's ptr"))], "")],
            )
        }
        Path::Kvmalloc => {
            listed = "kvmalloc:vmalloc".into();
            allocated = page_align(size);
            let mut a = vec![event(
                "kmem:kmalloc",
                "4",
                &[("bytes_req", size.to_string()), ("ptr", "0".into())],
                "failed kmalloc attempts (above KMALLOC_MAX_SIZE) before the vmalloc fallback",
            )];
            a.extend(vmalloc_events(size));
            (
                a,
                vec![event(
                    "vmalloc:free_vmap_area_noflush",
                    "1",
                    &[("va_start", q("alloc_vmap_area's va_start"))],
                    "",
                )],
            )
        }
        Path::Pages => {
            allocated = PAGE << order(size);
            (
                vec![event(
                    "kmem:mm_page_alloc",
                    "1",
                    &[
                        ("order", order(size).to_string()),
                        ("gfp_flags", q("GFP_KERNEL")),
                    ],
                    "",
                )],
                vec![event(
                    "kmem:mm_page_free",
                    "1",
                    &[
                        ("pfn", q("the allocation's pfn")),
                        ("order", order(size).to_string()),
                    ],
                    "",
                )],
            )
        }
        Path::Percpu => {
            let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
            let per_cpu = size.next_multiple_of(4);
            // as the module lists it: a copy per possible CPU (here: per CPU
            // this process may run on, the same when all are online)
            allocated = per_cpu * ncpu;
            (
                vec![event(
                    "percpu:percpu_alloc_percpu",
                    "1",
                    &[
                        ("size", size.to_string()),
                        ("align", "8".into()),
                        (
                            "bytes_alloc",
                            q(&format!(
                                "{per_cpu} x possible CPUs ({allocated} here if all are online)"
                            )),
                        ),
                        ("call_site", q(module)),
                    ],
                    "",
                )],
                vec![event(
                    "percpu:percpu_free_percpu",
                    "1",
                    &[("ptr", q("the allocation's ptr"))],
                    "",
                )],
            )
        }
    };
    format!(
        "{{\"workload\":\"kmalloc-test\",\"path\":\"{}\",\"write\":\"{write}\",\"requested_bytes\":{size},\
         \"from_bytes\":{},\"listed_path\":\"{listed}\",\"allocated_bytes\":{allocated},\
         \"context\":\"the writer's pid (frees: the closer's)\",\"alloc_events\":[{}],\"free_events\":[{}]}}",
        p.name(),
        if p == Path::Krealloc { from.to_string() } else { "null".into() },
        allocs.join(","),
        frees.join(",")
    )
}
