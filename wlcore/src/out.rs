//! Writing to stdout and stderr without panics, in whole pieces.
//!
//! std's `println!`/`eprintln!` panic when the write fails (`2>/dev/full`), and a
//! closed pipe kills the process with SIGPIPE, so neither gives the documented
//! exit code. Here every write is a plain `write(2)` loop whose error is returned
//! (stdout) or dropped (stderr: there is nowhere left to say it), and SIGPIPE is
//! blocked before the first write, so a closed pipe is the error EPIPE. A run that
//! prints nothing makes none of these calls.
//!
//! A message goes out in one `write`, so it arrives as one line; the `--json`
//! report is kept in a fixed buffer and written when the buffer fills and at the
//! end, so its memory does not grow with `--repeat`.

use std::fmt::Write as _;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Once;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};

/// Blocks SIGPIPE, once: writes to a closed pipe then fail with EPIPE.
fn no_sigpipe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        // If this fails SIGPIPE keeps its default; nothing better can be done.
        let _ = crate::sys::signal::block(&set);
    });
}

/// Writes all of `buf`, retrying after EINTR and short writes.
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> Result<(), Errno> {
    no_sigpipe();
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Prints `tool: message` as one line on stderr, in one write; a failed write is
/// ignored (the exit code still tells).
pub fn say(tool: &str, msg: impl std::fmt::Display) {
    line(&format!("{tool}: {msg}"));
}

/// Prints `text` and a newline on stderr, in one write, if it can.
pub fn line(text: &str) {
    let mut l = String::with_capacity(text.len() + 1);
    l.push_str(text);
    l.push('\n');
    let _ = write_all(std::io::stderr().as_fd(), l.as_bytes());
}

/// Prints text on stdout (help, version), in one write.
pub fn print(text: &str) -> Result<(), Errno> {
    write_all(std::io::stdout().as_fd(), text.as_bytes())
}

/// The `--json` report as it is written: one JSON object, streamed to stdout in
/// pieces of at most [`Json::CHUNK`] bytes. After the first failed write the rest
/// is dropped and [`Json::finish`] returns the error.
pub struct Json {
    buf: String,
    /// Whether the next member needs a comma before it.
    comma: bool,
    err: Option<Errno>,
}

impl Json {
    /// The most that is kept before writing it out.
    pub const CHUNK: usize = 16 * 1024;

    /// Starts the object. Allocates its buffer now, before any workload allocation.
    pub fn new() -> Json {
        let mut buf = String::with_capacity(Self::CHUNK + 512);
        buf.push('{');
        Json {
            buf,
            comma: false,
            err: None,
        }
    }

    fn key(&mut self, k: &str) {
        if self.comma {
            self.buf.push(',');
        }
        self.comma = true;
        if !k.is_empty() {
            self.buf.push('"');
            self.buf.push_str(k);
            self.buf.push_str("\":");
        }
    }

    /// A number member (`k` empty: an array element).
    pub fn num(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        let _ = write!(self.buf, "{v}");
        self
    }

    /// A signed number.
    pub fn int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        let _ = write!(self.buf, "{v}");
        self
    }

    /// A signed number or null.
    pub fn opt_int(&mut self, k: &str, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(k, v),
            None => self.null(k),
        }
    }

    /// A number or null.
    pub fn opt_num(&mut self, k: &str, v: Option<u64>) -> &mut Self {
        match v {
            Some(v) => self.num(k, v),
            None => self.null(k),
        }
    }

    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.buf.push_str(if v { "true" } else { "false" });
        self
    }

    pub fn null(&mut self, k: &str) -> &mut Self {
        self.key(k);
        self.buf.push_str("null");
        self
    }

    /// A string, escaped.
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        self.buf.push('"');
        for c in v.chars() {
            match c {
                '"' => self.buf.push_str("\\\""),
                '\\' => self.buf.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.buf, "\\u{:04x}", c as u32);
                }
                c => self.buf.push(c),
            }
        }
        self.buf.push('"');
        self
    }

    /// A string or null.
    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }

    /// An address as `"0x..."`, or null.
    pub fn addr(&mut self, k: &str, v: Option<usize>) -> &mut Self {
        match v {
            Some(a) => {
                self.key(k);
                let _ = write!(self.buf, "\"{a:#x}\"");
                self
            }
            None => self.null(k),
        }
    }

    /// A member whose value is already JSON text (one value, rendered by the caller).
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.buf.push_str(json);
        self
    }

    /// Opens an array (`'['`) or an object (`'{'`) member.
    pub fn open(&mut self, k: &str, bracket: char) -> &mut Self {
        self.key(k);
        self.buf.push(bracket);
        self.comma = false;
        self
    }

    /// Closes what [`Json::open`] opened.
    pub fn close(&mut self, bracket: char) -> &mut Self {
        self.buf.push(bracket);
        self.comma = true;
        self
    }

    /// Writes what is kept if it has grown past [`Json::CHUNK`]; between
    /// allocations only, never inside a timed window.
    pub fn drain(&mut self) {
        if self.buf.len() >= Self::CHUNK {
            self.flush();
        }
    }

    /// Writes out everything kept, now.
    pub fn flush(&mut self) {
        if self.err.is_none() && !self.buf.is_empty() {
            self.err = write_all(std::io::stdout().as_fd(), self.buf.as_bytes()).err();
        }
        self.buf.clear();
    }

    /// Marks that the current list already has elements (written by someone
    /// else: a forked child), so the next one is preceded by a comma.
    pub fn continued(&mut self) {
        self.comma = true;
    }

    /// What is kept and not yet written.
    pub fn text(&self) -> &str {
        &self.buf
    }

    /// The first write that failed, if one did.
    pub fn error(&self) -> Option<Errno> {
        self.err
    }

    /// Closes the object, ends the line and writes the rest.
    pub fn finish(mut self) -> Result<(), Errno> {
        self.buf.push_str("}\n");
        self.flush();
        self.err.map_or(Ok(()), Err)
    }
}

impl Default for Json {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_escapes() {
        let mut j = Json::new();
        j.num("a", 1).str("s", "q\"\\\n").opt_num("n", None);
        j.open("l", '[').num("", 2).num("", 3).close(']');
        j.open("o", '{')
            .bool("t", true)
            .close('}')
            .addr("p", Some(255))
            .raw("r", "[1]");
        j.buf.push('}');
        assert_eq!(
            j.buf,
            r#"{"a":1,"s":"q\"\\\u000a","n":null,"l":[2,3],"o":{"t":true},"p":"0xff","r":[1]}"#
        );
    }
}
