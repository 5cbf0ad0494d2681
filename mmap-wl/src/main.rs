//! `mmap-wl`: one mapping of SIZE bytes made with the memory system calls
//! themselves, in the way `--mode` names; then unmapped.
//!
//! No allocator stands between the workload and the kernel: each mode makes
//! exactly the system calls it names (`mmap`, `munmap`, `mremap`, `mprotect`, and
//! for a file `openat`, `ftruncate`, `close`), through glibc's thin wrappers
//! ([`wlcore::sys::mmap`]), and records each in the ledger with its arguments in
//! the order of the C prototype, spelled as strace prints them. The lengths are
//! passed as SIZE gives them; the kernel rounds them up to whole pages, which the
//! ledger shows only as the measured change of each entry (`mapped_bytes`).
//!
//! Some modes are traps for a tracker that sums mmap lengths and subtracts
//! munmap lengths: a `MAP_FIXED` mapping laid over a live one (`fixed`), a
//! `mremap` (`mremap-*`), a failed call (`fail-eexist`), a munmap of nothing
//! (`unmap-unmapped`); others for one that pairs a munmap with the mapping at
//! its address (`unmap-*`). A heap tracker should see nothing at all: the
//! process makes no call of glibc's malloc family. See docs/workloads.md for what
//! each tracker should see.

#![no_main]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use lexopt::Parser;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode as FileMode;
use wlcore::cli::{self, Common, Place};
use wlcore::cmem;
use wlcore::exit::Error;
use wlcore::ledger::{Call, Errno, Ledger, Ret, Val};
use wlcore::run::Workload;
use wlcore::stat::page_size;
use wlcore::sys::mmap::{self as sys, Hole, MRemapFlags, MapFlags, Mapping, ProtFlags};

/// What `--mode` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Anon,
    Shared,
    File,
    Populate,
    ProtNone,
    Fixed,
    UnmapHead,
    UnmapMiddle,
    UnmapTail,
    MremapGrow,
    MremapShrink,
    MremapMove,
    FailEexist,
    UnmapUnmapped,
}

const MODES: [(&str, Mode); 14] = [
    ("anon", Mode::Anon),
    ("shared", Mode::Shared),
    ("file", Mode::File),
    ("populate", Mode::Populate),
    ("protnone", Mode::ProtNone),
    ("fixed", Mode::Fixed),
    ("unmap-head", Mode::UnmapHead),
    ("unmap-middle", Mode::UnmapMiddle),
    ("unmap-tail", Mode::UnmapTail),
    ("mremap-grow", Mode::MremapGrow),
    ("mremap-shrink", Mode::MremapShrink),
    ("mremap-move", Mode::MremapMove),
    ("fail-eexist", Mode::FailEexist),
    ("unmap-unmapped", Mode::UnmapUnmapped),
];

const RW: ProtFlags = ProtFlags::PROT_READ.union(ProtFlags::PROT_WRITE);
const NONE: ProtFlags = ProtFlags::PROT_NONE;
const PRIVATE: MapFlags = MapFlags::MAP_PRIVATE.union(MapFlags::MAP_ANONYMOUS);
const SHARED: MapFlags = MapFlags::MAP_SHARED.union(MapFlags::MAP_ANONYMOUS);

/// The file of `--mode file`: made unnamed in the temporary folder, or, where
/// the file system cannot (no `O_TMPFILE`), named and unlinked at once.
const TMPFILE: (OFlag, &str) = (OFlag::O_RDWR.union(OFlag::O_TMPFILE), "O_RDWR|O_TMPFILE");
const NAMED: (OFlag, &str) = (
    OFlag::O_RDWR.union(OFlag::O_CREAT).union(OFlag::O_EXCL),
    "O_RDWR|O_CREAT|O_EXCL",
);
const FILE_MODE: (u32, &str) = (0o600, "0600");

struct Mmap {
    mode: Mode,
    name: &'static str,
    page: usize,
}

/// What stays mapped between allocate and free: one range, or two when a page
/// was unmapped from the middle.
struct Held {
    pieces: [Option<Mapping>; 2],
}

impl Held {
    fn one(m: Mapping) -> Held {
        Held {
            pieces: [Some(m), None],
        }
    }
}

/// A call as strace would print it, for messages: `munmap(0x7f.., 8192)`.
fn shown(name: &str, args: &[(&str, Val)]) -> String {
    let vals: Vec<String> = args
        .iter()
        .map(|(_, v)| match *v {
            Val::Num(n) => n.to_string(),
            Val::Int(n) => n.to_string(),
            Val::Addr(0) => "NULL".into(),
            Val::Addr(a) => format!("{a:#x}"),
            Val::Text(t) => t.to_owned(),
        })
        .collect();
    format!("{name}({})", vals.join(", "))
}

/// Makes one recorded system call; its failure as an error of the run (exit 4,
/// or 3 with `alloc` for the call that makes the memory).
fn record<T>(
    l: &Ledger,
    name: &str,
    args: &[(&str, Val)],
    f: impl FnOnce() -> Result<T, Errno>,
    ret: impl FnOnce(&T) -> Ret,
) -> Result<T, (Errno, String)> {
    l.call(Call::syscall(name, args), f, ret)
        .map_err(|e| (e, shown(name, args)))
}

fn failed((e, call): (Errno, String)) -> Error {
    Error::env(format!("{call} failed: {}", e.desc()))
}

fn alloc_failed((e, call): (Errno, String)) -> Error {
    let why = match e {
        Errno::ENOMEM => "not enough memory",
        e => e.desc(),
    };
    Error::alloc(format!("{call} failed: {why}"))
}

/// `mmap(NULL, len, prot, flags, -1, 0)`.
fn map(l: &Ledger, len: usize, prot: ProtFlags, flags: MapFlags) -> Result<Mapping, Error> {
    let (p, f) = (sys::prot_text(prot), sys::map_text(flags));
    let args = mmap_args(0, len, &p, &f, -1);
    record(
        l,
        "mmap",
        &args,
        || sys::mmap_anon(len, prot, flags),
        |m| Ret::Addr(m.addr()),
    )
    .map_err(alloc_failed)
}

fn mmap_args<'a>(
    addr: usize,
    len: usize,
    prot: &'a str,
    flags: &'a str,
    fd: i64,
) -> [(&'static str, Val<'a>); 6] {
    [
        ("addr", Val::Addr(addr)),
        ("length", Val::Num(len as u64)),
        ("prot", Val::Text(prot)),
        ("flags", Val::Text(flags)),
        ("fd", Val::Int(fd)),
        ("offset", Val::Num(0)),
    ]
}

/// `munmap(addr, len)` of all of `m`.
fn unmap(l: &Ledger, m: Mapping) -> Result<Hole, Error> {
    let args = [
        ("addr", Val::Addr(m.addr())),
        ("length", Val::Num(m.len() as u64)),
    ];
    record(l, "munmap", &args, || sys::munmap(m), |_| Ret::Int(0)).map_err(failed)
}

/// Unmaps `m` after `e` ended the allocation midway, and gives `e`.
fn undo(l: &Ledger, m: Mapping, e: Error) -> Error {
    match unmap(l, m) {
        Ok(_) => e,
        Err(second) => Error::new(e.code, format!("{}; then {}", e.msg, second.msg)),
    }
}

impl Mmap {
    fn pages(&self, len: usize) -> usize {
        len.div_ceil(self.page)
    }

    /// `--mode file`: a file of `len` bytes in the temporary folder, mapped
    /// shared; the descriptor closed once mapped.
    fn map_file(&self, l: &Ledger, len: usize) -> Result<Mapping, Error> {
        let dir = std::env::temp_dir();
        let dir_c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| Error::env("the temporary folder's name holds a NUL byte"))?;
        let open = |path: &CString, (flags, text): (OFlag, &str)| {
            let shown = path.to_string_lossy();
            let args = [
                ("dirfd", Val::Text("AT_FDCWD")),
                ("pathname", Val::Text(&shown)),
                ("flags", Val::Text(text)),
                ("mode", Val::Text(FILE_MODE.1)),
            ];
            let mode = FileMode::from_bits_truncate(FILE_MODE.0);
            record(
                l,
                "openat",
                &args,
                || sys::openat(path, flags, mode),
                |fd| Ret::Int(sys::fd_number(fd)),
            )
        };
        let fd = match open(&dir_c, TMPFILE) {
            Ok(fd) => fd,
            // No O_TMPFILE in this file system (or kernel): a named file, unlinked at once.
            Err((Errno::EOPNOTSUPP | Errno::EISDIR, _)) => {
                let name = dir.join(format!("mmap-wl.{}", std::process::id()));
                let path = CString::new(name.as_os_str().as_bytes())
                    .map_err(|_| Error::env("the temporary folder's name holds a NUL byte"))?;
                let fd = open(&path, NAMED).map_err(failed)?;
                let shown = path.to_string_lossy();
                let args = [
                    ("dirfd", Val::Text("AT_FDCWD")),
                    ("pathname", Val::Text(&shown)),
                    ("flags", Val::Num(0)),
                ];
                record(
                    l,
                    "unlinkat",
                    &args,
                    || sys::unlinkat(&path),
                    |_| Ret::Int(0),
                )
                .map_err(failed)?;
                fd
            }
            Err(e) => return Err(failed(e)),
        };
        let n = sys::fd_number(&fd);
        let close = |fd| {
            record(
                l,
                "close",
                &[("fd", Val::Int(n))],
                || sys::close(fd),
                |_| Ret::Int(0),
            )
            .map_err(failed)
        };
        let args = [("fd", Val::Int(n)), ("length", Val::Num(len as u64))];
        let sized = record(
            l,
            "ftruncate",
            &args,
            || sys::ftruncate(std::os::fd::AsFd::as_fd(&fd), len as i64),
            |_| Ret::Int(0),
        );
        if let Err(e) = sized {
            let e = alloc_failed(e);
            return Err(close(fd).err().unwrap_or(e));
        }
        let flags = MapFlags::MAP_SHARED;
        let (p, f) = (sys::prot_text(RW), sys::map_text(flags));
        let args = mmap_args(0, len, &p, &f, n);
        let mapped = record(
            l,
            "mmap",
            &args,
            || sys::mmap_file(len, RW, flags, std::os::fd::AsFd::as_fd(&fd), 0),
            |m| Ret::Addr(m.addr()),
        );
        let closed = close(fd);
        match (mapped, closed) {
            (Ok(m), Ok(())) => Ok(m),
            (Ok(m), Err(e)) => Err(undo(l, m, e)),
            (Err(e), _) => Err(alloc_failed(e)),
        }
    }

    /// `mprotect(m, len, prot)`.
    fn protect(&self, l: &Ledger, m: &mut Mapping, prot: ProtFlags) -> Result<(), Error> {
        let p = sys::prot_text(prot);
        let args = [
            ("addr", Val::Addr(m.addr())),
            ("len", Val::Num(m.len() as u64)),
            ("prot", Val::Text(&p)),
        ];
        record(
            l,
            "mprotect",
            &args,
            || sys::mprotect(m, prot),
            |_| Ret::Int(0),
        )
        .map_err(failed)
    }

    /// A `MAP_FIXED` mapping over `m` from page `from` to its end.
    fn overlay(&self, l: &Ledger, m: &mut Mapping, from: usize) -> Result<(), Error> {
        let (off, len) = (from * self.page, m.len() - from * self.page);
        let flags = PRIVATE | MapFlags::MAP_FIXED;
        let (p, f) = (sys::prot_text(RW), sys::map_text(flags));
        let args = mmap_args(m.addr() + off, len, &p, &f, -1);
        record(
            l,
            "mmap",
            &args,
            || sys::mmap_over(m, off, len, RW, flags, self.page),
            |a| Ret::Addr(*a),
        )
        .map(|_| ())
        .map_err(alloc_failed)
    }

    /// `mremap(m, len, new_len, flags)`.
    fn remap(
        &self,
        l: &Ledger,
        m: &mut Mapping,
        new_len: usize,
        flags: MRemapFlags,
    ) -> Result<(), Error> {
        let f = sys::mremap_text(flags);
        let args = [
            ("old_address", Val::Addr(m.addr())),
            ("old_size", Val::Num(m.len() as u64)),
            ("new_size", Val::Num(new_len as u64)),
            ("flags", Val::Text(&f)),
        ];
        record(
            l,
            "mremap",
            &args,
            || sys::mremap(m, new_len, flags),
            |a| Ret::Addr(*a),
        )
        .map(|_| ())
        .map_err(alloc_failed)
    }

    /// `mremap(m, len, len, MREMAP_MAYMOVE|MREMAP_FIXED, target)`.
    fn move_to(&self, l: &Ledger, m: &mut Mapping, target: Mapping) -> Result<(), Error> {
        let f = sys::mremap_text(MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED);
        let args = [
            ("old_address", Val::Addr(m.addr())),
            ("old_size", Val::Num(m.len() as u64)),
            ("new_size", Val::Num(target.len() as u64)),
            ("flags", Val::Text(&f)),
            ("new_address", Val::Addr(target.addr())),
        ];
        record(
            l,
            "mremap",
            &args,
            || sys::mremap_to(m, target),
            |a| Ret::Addr(*a),
        )
        .map(|_| ())
        .map_err(alloc_failed)
    }

    /// Maps `len` bytes, then unmaps one page of them (at page `at`): what is
    /// left is held.
    fn unmap_page(&self, l: &Ledger, len: usize, at: usize) -> Result<Held, Error> {
        let m = map(l, len, RW, PRIVATE)?;
        let split = |m: Mapping, at: usize| {
            m.split_at(at * self.page, self.page).map_err(|m| {
                (
                    m,
                    Error::env(format!("cannot split a mapping at page {at}")),
                )
            })
        };
        let (head, rest) = if at == 0 {
            (None, m)
        } else {
            match split(m, at) {
                Ok((head, rest)) => (Some(head), rest),
                Err((m, e)) => return Err(undo(l, m, e)),
            }
        };
        let (page, tail) = if rest.len() > self.page {
            match split(rest, 1) {
                Ok((page, tail)) => (page, Some(tail)),
                Err((m, e)) => return Err(undo(l, m, e)),
            }
        } else {
            (rest, None)
        };
        unmap(l, page)?;
        Ok(Held {
            pieces: [head, tail],
        })
    }

    /// `--mode fail-eexist`: a mapping, then a `MAP_FIXED_NOREPLACE` one at its
    /// address, which fails with EEXIST.
    fn fail_eexist(&self, l: &Ledger, len: usize) -> Result<Held, Error> {
        let m = map(l, len, RW, PRIVATE)?;
        let flags = PRIVATE | MapFlags::MAP_FIXED_NOREPLACE;
        let (p, f) = (sys::prot_text(RW), sys::map_text(flags));
        let args = mmap_args(m.addr(), len, &p, &f, -1);
        let r = record(
            l,
            "mmap",
            &args,
            || sys::mmap_noreplace(m.addr(), len, RW, flags),
            |n| Ret::Addr(n.addr()),
        );
        match r {
            Err((Errno::EEXIST, _)) => Ok(Held::one(m)),
            Ok(other) => {
                let e = Error::env(format!(
                    "{} did not fail: this kernel (before 4.17?) ignores MAP_FIXED_NOREPLACE",
                    shown("mmap", &args)
                ));
                let e = undo(l, other, e);
                Err(undo(l, m, e))
            }
            Err(e) => Err(undo(l, m, failed(e))),
        }
    }
}

impl Workload for Mmap {
    const NAME: &'static str = "mmap-wl";
    const PATH: &'static str = "mmap";
    const ABOUT: &'static str = "\
One mapping of SIZE bytes made with the memory system calls themselves (mmap,
munmap, mremap, mprotect; openat, ftruncate, close for a file), in the way --mode
names, then unmapped. Each call is recorded with its arguments as strace prints
them (--json); the kernel rounds lengths up to whole pages. No call of glibc's
malloc family is made: a heap tracker should see nothing.";
    const OPTIONS: &'static str =
        "      --mode <NAME>   How SIZE is mapped and unmapped [default: anon]:
                        anon            mmap(NULL, SIZE, PROT_READ|PROT_WRITE,
                                        MAP_PRIVATE|MAP_ANONYMOUS, -1, 0); munmap
                        shared          the same, MAP_SHARED|MAP_ANONYMOUS
                        file            openat(AT_FDCWD, $TMPDIR, O_RDWR|O_TMPFILE),
                                        ftruncate to SIZE, mmap MAP_SHARED of it,
                                        close; munmap
                        populate        MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE: every
                                        page resident at once
                        protnone        mmap PROT_NONE, then mprotect
                                        PROT_READ|PROT_WRITE; munmap
                        fixed           mmap, then a MAP_FIXED mmap over it from its
                                        middle page (all of it for one page); one
                                        munmap of SIZE
                        unmap-head      mmap (more than 2 pages), munmap of its first
                        unmap-middle    page / its middle page / its last page, held
                        unmap-tail      so; then munmap of each piece left (two for
                                        unmap-middle)
                        mremap-grow     mmap, mremap to 2*SIZE (MREMAP_MAYMOVE); munmap
                        mremap-shrink   mmap, mremap to SIZE/2 rounded up to a page;
                                        munmap
                        mremap-move     mmap, mmap PROT_NONE of SIZE elsewhere, mremap
                                        there (MREMAP_MAYMOVE|MREMAP_FIXED); munmap
                        fail-eexist     mmap, then mmap MAP_FIXED_NOREPLACE at the same
                                        address, which fails with EEXIST; munmap
                        unmap-unmapped  mmap PROT_NONE; munmap, and munmap again (it
                                        succeeds, freeing nothing)
";
    type Held = Held;
    const WRITABLE: bool = true;

    fn new() -> Self {
        Mmap {
            mode: Mode::Anon,
            name: "anon",
            page: 4096,
        }
    }
    fn option(&mut self, long: &str, p: &mut Parser) -> Result<bool, Error> {
        if long != "mode" {
            return Ok(false);
        }
        (self.name, self.mode) = cli::choice(p, "--mode <NAME>", &MODES)?;
        Ok(true)
    }
    fn ready(&mut self) -> Result<(), Error> {
        self.page = page_size();
        Ok(())
    }
    fn check(&mut self, opts: &Common) -> Result<(), Error> {
        let size = opts.size;
        if opts.place == Place::Cow && self.mode == Mode::UnmapUnmapped {
            return Err(Error::usage(
                "'--cow' needs memory the process can write; --mode unmap-unmapped holds a PROT_NONE range (see --help)",
            ));
        }
        let unmaps_a_page = matches!(
            self.mode,
            Mode::UnmapHead | Mode::UnmapMiddle | Mode::UnmapTail
        );
        if unmaps_a_page && size <= 2 * self.page as u64 {
            return Err(Error::usage(format!(
                "invalid value '{size}' for '<SIZE>': --mode {} needs at least 3 pages, more than {} bytes (see --help)",
                self.name,
                2 * self.page
            )));
        }
        if usize::try_from(size).is_err() {
            return Err(cli::bad_value(
                "<SIZE>",
                &size.to_string(),
                "larger than the address space",
            ));
        }
        Ok(())
    }
    fn path(&self) -> &'static str {
        self.name
    }
    fn allocator_bytes(&self, size: u64) -> u64 {
        size
    }
    fn touched(&self) -> bool {
        false
    }
    fn allocate(&mut self, size: u64, l: &Ledger) -> Result<Held, Error> {
        // check() made sure it fits.
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        let pages = self.pages(len);
        let page = self.page;
        Ok(match self.mode {
            Mode::Anon => Held::one(map(l, len, RW, PRIVATE)?),
            Mode::Shared => Held::one(map(l, len, RW, SHARED)?),
            Mode::Populate => Held::one(map(l, len, RW, PRIVATE | MapFlags::MAP_POPULATE)?),
            Mode::File => Held::one(self.map_file(l, len)?),
            Mode::ProtNone => {
                let mut m = map(l, len, NONE, PRIVATE)?;
                if let Err(e) = self.protect(l, &mut m, RW) {
                    return Err(undo(l, m, e));
                }
                Held::one(m)
            }
            Mode::Fixed => {
                let mut m = map(l, len, RW, PRIVATE)?;
                if let Err(e) = self.overlay(l, &mut m, pages / 2) {
                    return Err(undo(l, m, e));
                }
                Held::one(m)
            }
            Mode::UnmapHead => self.unmap_page(l, len, 0)?,
            Mode::UnmapMiddle => self.unmap_page(l, len, pages / 2)?,
            Mode::UnmapTail => self.unmap_page(l, len, pages - 1)?,
            Mode::MremapGrow | Mode::MremapShrink => {
                let mut m = map(l, len, RW, PRIVATE)?;
                let (to, flags) = match self.mode {
                    Mode::MremapGrow => (len.saturating_mul(2), MRemapFlags::MREMAP_MAYMOVE),
                    _ => ((len / 2).div_ceil(page).max(1) * page, MRemapFlags::empty()),
                };
                if let Err(e) = self.remap(l, &mut m, to, flags) {
                    return Err(undo(l, m, e));
                }
                Held::one(m)
            }
            Mode::MremapMove => {
                let mut m = map(l, len, RW, PRIVATE)?;
                let target = match map(l, len, NONE, PRIVATE) {
                    Ok(t) => t,
                    Err(e) => return Err(undo(l, m, e)),
                };
                if let Err(e) = self.move_to(l, &mut m, target) {
                    return Err(undo(l, m, e));
                }
                Held::one(m)
            }
            Mode::FailEexist => self.fail_eexist(l, len)?,
            Mode::UnmapUnmapped => Held::one(map(l, len, NONE, PRIVATE)?),
        })
    }
    fn free(&mut self, held: Held, l: &Ledger) -> Result<(), Error> {
        for m in held.pieces.into_iter().flatten() {
            let hole = unmap(l, m)?;
            if self.mode == Mode::UnmapUnmapped {
                let args = [
                    ("addr", Val::Addr(hole.addr())),
                    ("length", Val::Num(hole.len() as u64)),
                ];
                record(
                    l,
                    "munmap",
                    &args,
                    || sys::munmap_hole(hole),
                    |_| Ret::Int(0),
                )
                .map_err(failed)?;
            }
        }
        Ok(())
    }
    fn address(held: &Held) -> Option<usize> {
        held.pieces.iter().flatten().map(Mapping::addr).next()
    }
    fn touch(&mut self, held: &mut Held, l: &Ledger) -> bool {
        let mut wrote = false;
        for m in held.pieces.iter_mut().flatten() {
            wrote |= cmem::touch_pages(m, self.page, l);
        }
        wrote
    }
    fn report(&self, _size: u64, j: &mut wlcore::out::Json) {
        j.str("mode", self.name).num("page_bytes", self.page as u64);
    }
}

wlcore::workload_main!(Mmap);
