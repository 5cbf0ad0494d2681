//! `--wait`, `--hold` and stopping a `--repeat` loop, through a signalfd.
//!
//! For a run with --wait, --hold or more than one repeat, SIGINT, SIGTERM, SIGHUP
//! and SIGUSR1 are blocked from the start and read from a signalfd, so there are
//! no handlers and nothing async-signal-unsafe: the run loop asks, at the points
//! where it may stop (after each free, and while it waits or holds), whether a
//! signal has come. A single plain allocation takes no signals over: like a C
//! program, it is ended by them.

use std::io::stdin;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::read;

use crate::exit::Error;
use crate::size::Hold;
use crate::sys::signal as sys;

/// The signals a workload takes, blocked and readable from a file descriptor.
pub struct Signals {
    fd: OwnedFd,
}

/// A signal that ends the run early: SIGINT, SIGTERM or SIGHUP.
pub type Stop = Option<Signal>;

impl Signals {
    /// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 and opens a signalfd for them.
    pub fn block() -> Result<Signals, Error> {
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGUSR1,
        ] {
            set.add(s);
        }
        sys::block(&set).map_err(|e| Error::env(format!("cannot block signals: {e}")))?;
        let fd =
            sys::signalfd(&set).map_err(|e| Error::env(format!("cannot open a signalfd: {e}")))?;
        Ok(Signals { fd })
    }

    /// Blocks until SIGUSR1 or a line on stdin; a stdin at end of file is left
    /// alone (only the signal can release then). Returns the stop signal if
    /// SIGINT or SIGTERM came first.
    pub fn wait_release(&self) -> Result<Stop, Error> {
        let input = stdin();
        let mut watch_stdin = true;
        let mut byte = [0u8; 1];
        loop {
            let mut fds = [sys::pollin(self.fd.as_fd()), sys::pollin(input.as_fd())];
            let watched = if watch_stdin { 2 } else { 1 };
            poll_retry(&mut fds[..watched], -1)?;
            let stdin_ready = watch_stdin && fds[1].revents != 0;
            let sig_ready = fds[0].revents != 0;
            if sig_ready {
                match self.next()? {
                    Some(Signal::SIGUSR1) => return Ok(None),
                    Some(s) => return Ok(Some(s)),
                    None => {}
                }
            }
            if stdin_ready {
                match read(input.as_fd(), &mut byte) {
                    Ok(0) => watch_stdin = false,
                    Ok(_) if byte[0] == b'\n' => return Ok(None),
                    Ok(_) | Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                    // A closed or unreadable stdin cannot release us; the signal still can.
                    Err(_) => watch_stdin = false,
                }
            }
        }
    }

    /// Sleeps for the hold, or until a stop signal (SIGUSR1 is ignored here). A
    /// signal that came before is seen even when the hold is 0.
    pub fn hold(&self, hold: Hold) -> Result<Stop, Error> {
        // A deadline past what the clock can hold is no deadline (parse_hold
        // refuses such holds; this keeps the arithmetic from ever panicking).
        let deadline = match hold {
            Hold::For(d) => Instant::now().checked_add(d),
            Hold::UntilSignal => None,
        };
        loop {
            let timeout = match deadline {
                None => -1,
                Some(t) => {
                    let left = t.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return self.stop();
                    }
                    // Round up so the hold is never cut short; cap what poll takes.
                    left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
                }
            };
            let mut fds = [sys::pollin(self.fd.as_fd())];
            if poll_retry(&mut fds, timeout)? > 0 {
                if let Some(s) = self.stop()? {
                    return Ok(Some(s));
                }
            }
        }
    }

    /// Whether a stop signal is pending, without blocking.
    pub fn stop(&self) -> Result<Stop, Error> {
        while let Some(s) = self.next()? {
            if s != Signal::SIGUSR1 {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The next pending signal, if any.
    fn next(&self) -> Result<Option<Signal>, Error> {
        sys::read_signal(self.fd.as_fd())
            .map_err(|e| Error::env(format!("cannot read the signalfd: {e}")))
    }
}

fn poll_retry(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize, Error> {
    loop {
        match sys::poll(fds, timeout_ms) {
            Err(Errno::EINTR) => continue,
            r => return r.map_err(|e| Error::env(format!("poll failed: {e}"))),
        }
    }
}
