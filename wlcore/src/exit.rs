//! Exit codes and the one-line error every workload prints.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | done (also when a SIGINT or SIGTERM ended a `--hold` or `--wait` early) |
//! | 2 | usage: bad option, bad size, bad duration |
//! | 3 | the allocation failed (malloc returned NULL, the kernel module refused) |
//! | 4 | the environment is not ready (e.g. `/proc/kmalloc_lkm` missing) or a system call failed |

use std::fmt;

/// Why a workload stopped without doing what it was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Usage = 2,
    Alloc = 3,
    Env = 4,
}

/// An error with its exit code; its message is one line, without the tool's name.
#[derive(Debug)]
pub struct Error {
    pub code: Code,
    pub msg: String,
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error {
            code: Code::Usage,
            msg: msg.into(),
        }
    }
    pub fn alloc(msg: impl Into<String>) -> Self {
        Error {
            code: Code::Alloc,
            msg: msg.into(),
        }
    }
    pub fn env(msg: impl Into<String>) -> Self {
        Error {
            code: Code::Env,
            msg: msg.into(),
        }
    }

    /// Prints `tool: message` on stderr and gives the exit code.
    pub fn report(&self, tool: &str) -> i32 {
        eprintln!("{tool}: {}", self.msg);
        self.code as i32
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}
