//! `shm-wl`: SIZE bytes of shared memory, System V, POSIX or memfd, mapped,
//! then given back.
//!
//! `--mode` chooses the path (each call recorded in the ledger, in order):
//!
//! - `sysv` (default): `shmget(IPC_PRIVATE, SIZE, IPC_CREAT|0600)`,
//!   `shmat(id, NULL, 0)`; free: `shmdt`, `shmctl(id, IPC_RMID, NULL)`;
//! - `sysv-rmid-attached`: `shmget`, `shmat`, then at once `shmctl(IPC_RMID)`
//!   while attached; free: `shmdt`, at which the segment goes away;
//! - `sysv-same-key`: `shmget(KEY, SIZE, IPC_CREAT|IPC_EXCL|0600)` of a key
//!   of this process's, then `shmget(KEY, SIZE, IPC_CREAT|0600)`, which finds
//!   the same segment and makes nothing; `shmat`; free as `sysv`;
//! - `posix`: glibc's `shm_open` (an `openat` in `/dev/shm`), `ftruncate`,
//!   `mmap(MAP_SHARED)`; free: `munmap`, `close`, `shm_unlink` (an `unlink`);
//! - `memfd`: `memfd_create`, `ftruncate`, `mmap(MAP_SHARED)`; free: `munmap`, `close`.
//!
//! Every report entry also measures the bytes of the System V segments the
//! process made (`sysv_bytes`, from `/proc/sysvipc/shm`). No call of glibc's
//! malloc family is made: a heap tracker should see nothing. With `--leak`, a
//! System V segment that was not removed, and a POSIX object, outlive the
//! process (`ipcrm -m ID`, `rm /dev/shm/NAME`).

#![no_main]

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use lexopt::Parser;
use wlcore::cli;
use wlcore::cmem;
use wlcore::exit::Error;
use wlcore::ledger::{Call, Errno, Ledger, Ret, Val};
use wlcore::run::Workload;
use wlcore::stat::page_size;
use wlcore::sys::shm::{self, Mapping, Segment};

/// The shared memory path, `--mode`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sysv,
    SysvRmidAttached,
    SysvSameKey,
    Posix,
    Memfd,
}

const MODES: [(&str, Mode); 5] = [
    ("sysv", Mode::Sysv),
    ("sysv-rmid-attached", Mode::SysvRmidAttached),
    ("sysv-same-key", Mode::SysvSameKey),
    ("posix", Mode::Posix),
    ("memfd", Mode::Memfd),
];

/// What an allocation holds until it is freed.
enum Held {
    /// An attached segment; `None` once removed (`sysv-rmid-attached`).
    Sysv { seg: Option<Segment>, map: Mapping },
    /// An open POSIX shared memory object, mapped.
    Posix {
        name: CString,
        fd: OwnedFd,
        map: Mapping,
    },
    /// An open memfd, mapped.
    Memfd { fd: OwnedFd, map: Mapping },
}

impl Held {
    fn map(&mut self) -> &mut Mapping {
        match self {
            Held::Sysv { map, .. } | Held::Posix { map, .. } | Held::Memfd { map, .. } => map,
        }
    }
}

struct Shm {
    mode: Mode,
    name: &'static str,
    page: usize,
    /// Allocations made so far: names POSIX objects and System V keys apart.
    made: u64,
}

/// A failed call as an error: the one that asks for the memory (`sized`)
/// failed the allocation (exit 3), any other the environment (exit 4).
fn failed(call: &str, e: Errno, sized: bool) -> Error {
    let msg = format!("{call} failed: {}", e.desc());
    if sized {
        Error::alloc(msg)
    } else {
        Error::env(msg)
    }
}

/// The key of `sysv-same-key`: bit 30 set, the allocation's number (mod 256)
/// in bits 22 to 29, the pid (below 2^22, Linux's largest) in the rest; a
/// key that is somebody else's is found by `IPC_EXCL`.
fn own_key(made: u64) -> libc::key_t {
    let pid = std::process::id() & 0x3f_ffff;
    (0x4000_0000 | ((made as u32 & 0xff) << 22) | pid) as libc::key_t
}

fn shmget(
    key: libc::key_t,
    shown: &str,
    size: usize,
    flags: (i32, &str),
    l: &Ledger,
) -> Result<Segment, Error> {
    let args = [
        ("key", Val::Text(shown)),
        ("size", Val::Num(size as u64)),
        ("shmflg", Val::Text(flags.1)),
    ];
    l.call(
        Call::syscall("shmget", &args),
        || shm::shmget(key, size, flags.0),
        |s| Ret::Int(s.id().into()),
    )
    // A key that is somebody else's is the environment's fault, not the size's.
    .map_err(|e| {
        failed(
            &format!("shmget({shown}, {size}, {})", flags.1),
            e,
            e != Errno::EEXIST,
        )
    })
}

fn shmat(seg: &Segment, l: &Ledger) -> Result<Mapping, Error> {
    let id = seg.id();
    let args = [
        ("shmid", Val::Int(id.into())),
        ("shmaddr", Val::Addr(0)),
        ("shmflg", Val::Num(0)),
    ];
    l.call(
        Call::syscall("shmat", &args),
        || shm::shmat(seg),
        |m| Ret::Addr(m.addr()),
    )
    .map_err(|e| failed(&format!("shmat({id}, NULL, 0)"), e, false))
}

fn shmdt(map: Mapping, l: &Ledger) -> Result<(), Error> {
    let addr = map.addr();
    let args = [("shmaddr", Val::Addr(addr))];
    l.call(
        Call::syscall("shmdt", &args),
        || shm::shmdt(map),
        |_| Ret::Int(0),
    )
    .map_err(|e| failed(&format!("shmdt({addr:#x})"), e, false))
}

fn rmid(seg: Segment, l: &Ledger) -> Result<(), Error> {
    let id = seg.id();
    let args = [
        ("shmid", Val::Int(id.into())),
        ("cmd", Val::Text("IPC_RMID")),
        ("buf", Val::Addr(0)),
    ];
    l.call(
        Call::syscall("shmctl", &args),
        || shm::shmctl_rmid(seg),
        |_| Ret::Int(0),
    )
    .map_err(|e| failed(&format!("shmctl({id}, IPC_RMID, NULL)"), e, false))
}

fn ftruncate(fd: &OwnedFd, size: u64, l: &Ledger) -> Result<(), Error> {
    let raw = fd.as_raw_fd();
    let args = [("fd", Val::Int(raw.into())), ("length", Val::Num(size))];
    l.call(
        Call::syscall("ftruncate", &args),
        || shm::ftruncate(fd.as_fd(), size),
        |_| Ret::Int(0),
    )
    .map_err(|e| failed(&format!("ftruncate({raw}, {size})"), e, true))
}

fn mmap(fd: &OwnedFd, size: usize, l: &Ledger) -> Result<Mapping, Error> {
    let raw = fd.as_raw_fd();
    let args = [
        ("addr", Val::Addr(0)),
        ("length", Val::Num(size as u64)),
        ("prot", Val::Text("PROT_READ|PROT_WRITE")),
        ("flags", Val::Text("MAP_SHARED")),
        ("fd", Val::Int(raw.into())),
        ("offset", Val::Num(0)),
    ];
    l.call(
        Call::syscall("mmap", &args),
        || shm::mmap_shared(size, fd.as_fd()),
        |m| Ret::Addr(m.addr()),
    )
    .map_err(|e| {
        let call = format!("mmap(NULL, {size}, PROT_READ|PROT_WRITE, MAP_SHARED, {raw}, 0)");
        failed(&call, e, true)
    })
}

fn munmap(map: Mapping, l: &Ledger) -> Result<(), Error> {
    let (addr, len) = (map.addr(), map.len());
    let args = [("addr", Val::Addr(addr)), ("length", Val::Num(len as u64))];
    l.call(
        Call::syscall("munmap", &args),
        || shm::munmap(map),
        |_| Ret::Int(0),
    )
    .map_err(|e| failed(&format!("munmap({addr:#x}, {len})"), e, false))
}

fn close(fd: OwnedFd, l: &Ledger) -> Result<(), Error> {
    let raw = fd.as_raw_fd();
    let args = [("fd", Val::Int(raw.into()))];
    l.call(
        Call::syscall("close", &args),
        || shm::close(fd),
        |_| Ret::Int(0),
    )
    .map_err(|e| failed(&format!("close({raw})"), e, false))
}

fn shm_unlink(name: &CString, l: &Ledger) -> Result<(), Error> {
    let shown = name.to_string_lossy();
    let args = [("name", Val::Text(&shown))];
    l.call(
        Call::libc("shm_unlink", &args),
        || shm::shm_unlink(name),
        |_| Ret::Int(0),
    )
    .map_err(|e| failed(&format!("shm_unlink(\"{shown}\")"), e, false))
}

/// The first error of a clean-up, or the one that caused it.
fn first(cause: Error, cleanup: Result<(), Error>) -> Error {
    match cleanup {
        Ok(()) => cause,
        Err(e) => Error::new(cause.code, format!("{}; then {}", cause.msg, e.msg)),
    }
}

impl Shm {
    fn sysv(&mut self, size: usize, l: &Ledger) -> Result<Held, Error> {
        let seg = match self.mode {
            Mode::SysvSameKey => {
                let key = own_key(self.made);
                let shown = format!("{key:#x}");
                let flags = (
                    libc::IPC_CREAT | libc::IPC_EXCL | 0o600,
                    "IPC_CREAT|IPC_EXCL|0600",
                );
                let seg = shmget(key, &shown, size, flags, l)?;
                let again = shmget(
                    key,
                    &shown,
                    size,
                    (libc::IPC_CREAT | 0o600, "IPC_CREAT|0600"),
                    l,
                );
                match again {
                    Ok(same) if same.id() == seg.id() => {}
                    Ok(other) => {
                        let msg = format!(
                            "shmget({shown}) gave id {} after {}: not the same segment",
                            other.id(),
                            seg.id()
                        );
                        return Err(first(Error::env(msg), rmid(seg, l)));
                    }
                    Err(e) => return Err(first(e, rmid(seg, l))),
                }
                seg
            }
            _ => shmget(
                libc::IPC_PRIVATE,
                "IPC_PRIVATE",
                size,
                (libc::IPC_CREAT | 0o600, "IPC_CREAT|0600"),
                l,
            )?,
        };
        let map = match shmat(&seg, l) {
            Ok(m) => m,
            Err(e) => return Err(first(e, rmid(seg, l))),
        };
        if self.mode == Mode::SysvRmidAttached {
            if let Err(e) = rmid(seg, l) {
                return Err(first(e, shmdt(map, l)));
            }
            return Ok(Held::Sysv { seg: None, map });
        }
        Ok(Held::Sysv {
            seg: Some(seg),
            map,
        })
    }

    /// A file in memory (`posix`, `memfd`): made and opened, sized, mapped shared.
    fn file(&mut self, size: u64, l: &Ledger) -> Result<Held, Error> {
        let n = usize::try_from(size)
            .map_err(|_| Error::alloc(format!("{size} bytes cannot be mapped")))?;
        let (fd, name) = if self.mode == Mode::Posix {
            let name = format!("/shm-wl-{}-{}", std::process::id(), self.made);
            let c = CString::new(name.as_str()).map_err(|_| Error::env("a NUL in the name"))?;
            let args = [
                ("name", Val::Text(&name)),
                ("oflag", Val::Text("O_RDWR|O_CREAT|O_EXCL")),
                ("mode", Val::Text("0600")),
            ];
            let fd = l
                .call(
                    Call::libc("shm_open", &args),
                    || shm::shm_open(&c, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o600),
                    |fd| Ret::Int(fd.as_raw_fd().into()),
                )
                .map_err(|e| {
                    failed(
                        &format!("shm_open(\"{name}\", O_RDWR|O_CREAT|O_EXCL, 0600)"),
                        e,
                        false,
                    )
                })?;
            (fd, Some(c))
        } else {
            let args = [
                ("name", Val::Text("shm-wl")),
                ("flags", Val::Text("MFD_CLOEXEC")),
            ];
            let fd = l
                .call(
                    Call::syscall("memfd_create", &args),
                    || shm::memfd_create(c"shm-wl", libc::MFD_CLOEXEC),
                    |fd| Ret::Int(fd.as_raw_fd().into()),
                )
                .map_err(|e| failed("memfd_create(\"shm-wl\", MFD_CLOEXEC)", e, false))?;
            (fd, None)
        };
        let map = ftruncate(&fd, size, l).and_then(|()| mmap(&fd, n, l));
        let map = match map {
            Ok(m) => m,
            Err(e) => {
                let undo =
                    close(fd, l).and_then(|()| name.as_ref().map_or(Ok(()), |c| shm_unlink(c, l)));
                return Err(first(e, undo));
            }
        };
        Ok(match name {
            Some(name) => Held::Posix { name, fd, map },
            None => Held::Memfd { fd, map },
        })
    }
}

impl Workload for Shm {
    const NAME: &'static str = "shm-wl";
    const PATH: &'static str = "shmget";
    const ABOUT: &'static str = "\
SIZE bytes of shared memory, mapped, then given back: a System V segment
(shmget, shmat; shmdt, shmctl IPC_RMID), a POSIX shared memory object (shm_open,
ftruncate, mmap MAP_SHARED; munmap, close, shm_unlink) or a memfd. Each report
entry also measures the System V segments the process made (sysv_bytes).
With --leak, a System V segment not yet removed and a POSIX object outlive the
process: remove them with ipcrm -m ID and rm /dev/shm/NAME.";
    const OPTIONS: &'static str =
        "      --mode <NAME>   The path: sysv (default: shmget IPC_PRIVATE, shmat; shmdt,
                      shmctl IPC_RMID), sysv-rmid-attached (IPC_RMID right after
                      shmat; the segment goes at shmdt), sysv-same-key (shmget of a
                      key of this process's, then again: the same segment), posix
                      (shm_open, ftruncate, mmap; munmap, close, shm_unlink), memfd
                      (memfd_create, ftruncate, mmap; munmap, close)
";
    const SYSV: bool = true;
    type Held = Held;
    const WRITABLE: bool = true;
    const TOUCH: bool = true;

    fn new() -> Self {
        Shm {
            mode: Mode::Sysv,
            name: "sysv",
            page: 4096,
            made: 0,
        }
    }
    fn option(&mut self, long: &str, p: &mut Parser) -> Result<bool, Error> {
        match long {
            "mode" => {
                (self.name, self.mode) = cli::choice(p, "--mode <NAME>", &MODES)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn ready(&mut self) -> Result<(), Error> {
        self.page = page_size();
        Ok(())
    }
    fn path(&self) -> &'static str {
        match self.mode {
            Mode::Sysv => "shmget",
            Mode::SysvRmidAttached => "shmget-rmid-attached",
            Mode::SysvSameKey => "shmget-same-key",
            Mode::Posix => "shm_open",
            Mode::Memfd => "memfd_create",
        }
    }
    fn allocator_bytes(&self, size: u64) -> u64 {
        size
    }
    fn allocate(&mut self, size: u64, l: &Ledger) -> Result<Held, Error> {
        let held = match self.mode {
            Mode::Sysv | Mode::SysvRmidAttached | Mode::SysvSameKey => {
                let n = usize::try_from(size).unwrap_or(usize::MAX);
                self.sysv(n, l)
            }
            Mode::Posix | Mode::Memfd => self.file(size, l),
        };
        self.made += 1;
        held
    }
    fn free(&mut self, held: Held, l: &Ledger) -> Result<(), Error> {
        match held {
            Held::Sysv { seg, map } => {
                shmdt(map, l)?;
                seg.map_or(Ok(()), |s| rmid(s, l))
            }
            Held::Posix { name, fd, map } => {
                munmap(map, l)?;
                close(fd, l)?;
                shm_unlink(&name, l)
            }
            Held::Memfd { fd, map } => {
                munmap(map, l)?;
                close(fd, l)
            }
        }
    }
    fn address(held: &Held) -> Option<usize> {
        Some(match held {
            Held::Sysv { map, .. } | Held::Posix { map, .. } | Held::Memfd { map, .. } => {
                map.addr()
            }
        })
    }
    fn touch(&mut self, held: &mut Held, l: &Ledger) -> bool {
        cmem::touch_pages(held.map(), self.page, l)
    }
    fn report(&self, _size: u64, j: &mut wlcore::out::Json) {
        j.str("mode", self.name);
    }
}

wlcore::workload_main!(Shm);
