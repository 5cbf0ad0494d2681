//! Exit codes and the one-line error every workload prints.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | done (also when a SIGINT or SIGTERM ended a `--hold` or `--wait` early) |
//! | 2 | usage: bad option, bad size, bad duration |
//! | 3 | the allocation failed (malloc returned NULL, the kernel module refused) |
//! | 4 | the environment is not ready (e.g. `/proc/kmalloc_lkm` missing) or a system call failed |
//! | 5 | the work was done, but the `--json` report could not be written whole (stdout full or closed) |
//!
//! Nothing that happens to stderr changes the code: a message that cannot be
//! written is dropped.

use std::fmt;

/// Why a workload stopped without doing what it was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Usage = 2,
    Alloc = 3,
    Env = 4,
    Report = 5,
}

/// An error with its exit code; its message is one line, without the tool's name.
#[derive(Debug)]
pub struct Error {
    pub code: Code,
    pub msg: String,
    /// Already said on stderr (by a forked child of ours): not to be said again.
    pub said: bool,
}

/// The exit codes as `--help` lists them.
pub const CODES: &str =
    "Exit codes: 0 done (also when a signal ended --wait, --hold or --repeat early),
2 usage error, 3 the allocation failed, 4 the environment is not ready or a system
call failed, 5 the report could not be written whole to stdout.";

impl Code {
    /// The code a forked child of ours exited with, as ours.
    pub fn from_child(code: i32) -> Code {
        match code {
            2 => Code::Usage,
            3 => Code::Alloc,
            5 => Code::Report,
            _ => Code::Env,
        }
    }
}

impl Error {
    pub fn new(code: Code, msg: impl Into<String>) -> Self {
        Error {
            code,
            msg: msg.into(),
            said: false,
        }
    }
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::new(Code::Usage, msg)
    }
    pub fn alloc(msg: impl Into<String>) -> Self {
        Error::new(Code::Alloc, msg)
    }
    pub fn env(msg: impl Into<String>) -> Self {
        Error::new(Code::Env, msg)
    }

    /// Prints `tool: message` on stderr (if it can, and unless it was said
    /// already) and gives the exit code.
    pub fn report(&self, tool: &str) -> i32 {
        if !self.said {
            crate::out::say(tool, &self.msg);
        }
        self.code as i32
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}
