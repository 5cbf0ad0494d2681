//! The options every workload takes, parsed with `lexopt`, and usage errors as one line.
//!
//! lexopt rather than clap: a workload's start-up is part of what a tracker
//! measures, and clap made about a hundred heap allocations and 55k instructions
//! before the first byte of work. The help text is written out by hand, in
//! [`COMMON_HELP`] and each workload's own lines.

use std::ffi::{OsStr, OsString};

use lexopt::{Arg, Parser};

use crate::exit::Error;
use crate::size::{parse_hold, parse_size, Hold};

/// Options shared by all workloads.
#[derive(Debug, Clone)]
pub struct Common {
    /// Bytes to allocate.
    pub size: u64,
    /// Keep each allocation alive this long before freeing it.
    pub hold: Option<Hold>,
    /// Allocate and free this many times, one after the other.
    pub repeat: u64,
    /// Before allocating, print the pid and block until SIGUSR1 or a line on stdin.
    pub wait: bool,
    /// One JSON object with what was done on stdout.
    pub json: bool,
    /// One line saying what was done on stderr.
    pub verbose: bool,
    /// Which thread or process allocates and frees.
    pub place: Place,
    /// Exit without freeing the allocations.
    pub leak: bool,
    /// After each allocation, write one byte in each of its pages (`--touch`,
    /// taken by the workloads whose memory the process writes).
    pub touch: bool,
    /// After the run and its report, exec this command line (`--exec`).
    pub exec: Option<String>,
}

/// Where the allocations are made and freed, for judging a tracker's attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Place {
    /// In the main thread.
    #[default]
    Main,
    /// Allocated in a new thread, which exits; freed in another new thread.
    Threads,
    /// A thread is started and exits first; then the main thread allocates and frees.
    AfterThread,
    /// Allocated and freed in a forked child, which then exits.
    Fork,
    /// Allocated and written in the parent; a forked child writes every page
    /// again (copy-on-write) and exits; the parent frees.
    Cow,
}

impl Place {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Place::Main => "main",
            p => p.option().trim_start_matches('-'),
        }
    }

    /// The option that selects it.
    pub fn option(self) -> &'static str {
        match self {
            Place::Main => "",
            Place::Threads => "--threads",
            Place::AfterThread => "--after-thread",
            Place::Fork => "--fork",
            Place::Cow => "--cow",
        }
    }
}

/// The `--help` text of the argument, after `Usage:`.
pub const SIZE_HELP: &str = "Arguments:
  <SIZE>  Bytes to allocate: 4096, 4KiB, 1MiB, 1GiB (powers of 1024) or 4K, 1M, 1G
          (powers of 1000); whole bytes only: 1.5KiB is refused rather than rounded
";

/// The `--help` lines of the options every workload shares.
pub const COMMON_HELP: &str = "      --hold <DURATION>
                      Keep each allocation alive this long before freeing it: 500ms,
                      5s, 2m (at most 584 years), or inf (until SIGINT/SIGTERM/SIGHUP)
      --repeat <N>    Allocate and free N times, one after the other [default: 1]
      --wait          Before allocating, print the pid on stderr and block until
                      SIGUSR1 or a line on stdin
      --threads       Allocate in a new thread and free in another one
      --after-thread  Start a thread and let it exit before allocating
      --fork          Allocate and free in a forked child process
      --cow           Allocate and write here, write every page again in a forked
                      child (copy-on-write), free here
      --leak          Exit without freeing what was allocated
      --exec <COMMAND>
                      After the run (and its report), exec COMMAND: a workload of
                      this suite and its arguments, separated by spaces
      --json          Print one JSON object with what was done on stdout
  -v, --verbose       Print one line saying what was done on stderr
  -h, --help          Print help
  -V, --version       Print version
";

/// The `--help` line of `--touch`, after the workload's own options when it
/// takes it.
pub const TOUCH_HELP: &str =
    "      --touch         Write one byte per page, so every page becomes resident\n";

/// The most arguments a workload takes, and the longest one: checked before any
/// is copied, so that hostile input cannot make the parser allocate without bound.
pub const MAX_ARGS: usize = 64;
pub const MAX_ARG_BYTES: usize = 4096;

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// Run with these options.
    Run(Common),
    /// Print this (help or version) on stdout and exit 0.
    Print(String),
}

/// Checks the raw arguments' number and lengths (without argv\[0\]) before parsing.
pub fn check_bounds<'a>(args: impl ExactSizeIterator<Item = &'a [u8]>) -> Result<(), Error> {
    if args.len() > MAX_ARGS {
        return Err(Error::usage(format!(
            "too many arguments: {} (at most {MAX_ARGS}; see --help)",
            args.len()
        )));
    }
    for (i, a) in args.enumerate() {
        if a.len() > MAX_ARG_BYTES {
            return Err(Error::usage(format!(
                "argument {} is {} bytes long (at most {MAX_ARG_BYTES}; see --help)",
                i + 1,
                a.len()
            )));
        }
    }
    Ok(())
}

/// An argument as it may appear in a one-line message: control characters
/// escaped, long ones cut.
pub fn shown(a: &OsStr) -> String {
    const MAX: usize = 64;
    let text = a.to_string_lossy();
    let mut s: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(MAX).is_some() {
        s.push_str("...");
    }
    s
}

fn invalid(value: &OsStr, what: &str, why: impl std::fmt::Display) -> Error {
    Error::usage(format!(
        "invalid value '{}' for '{what}': {why} (see --help)",
        shown(value)
    ))
}

/// The value of a workload's own option as text; `what` names the option in
/// errors (`--mode <NAME>`).
pub fn value(p: &mut Parser, what: &str) -> Result<String, Error> {
    let v = p.value().map_err(lexopt_error)?;
    Ok(text(&v, what)?.to_owned())
}

/// The one-line usage error for a bad value `v` of the option `what`.
pub fn bad_value(what: &str, v: &str, why: impl std::fmt::Display) -> Error {
    invalid(OsStr::new(v), what, why)
}

/// The value of an option that names one entry of `table`: the entry's name
/// and value; an unknown name is a usage error that lists the known ones.
pub fn choice<T: Copy>(
    p: &mut Parser,
    what: &str,
    table: &[(&'static str, T)],
) -> Result<(&'static str, T), Error> {
    let v = value(p, what)?;
    table.iter().find(|(n, _)| *n == v).copied().ok_or_else(|| {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        bad_value(what, &v, format!("one of {}", names.join(", ")))
    })
}

fn text<'a>(value: &'a OsStr, what: &str) -> Result<&'a str, Error> {
    value
        .to_str()
        .ok_or_else(|| invalid(value, what, "not valid UTF-8"))
}

/// One command-line item, owned, so that the parser can be asked for its value.
enum Item {
    Long(String),
    Short(char),
    Value(OsString),
}

/// Parses `args` (without argv\[0\]). `extra` sees every long option first (its
/// name, and the parser for its value) and says whether it took it: the
/// workload's own options. `help` makes the workload's whole help text, when it
/// is asked for. `touch` says whether `--touch` is an option of the workload.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    name: &str,
    help: fn() -> String,
    touch: bool,
    mut extra: impl FnMut(&str, &mut Parser) -> Result<bool, Error>,
) -> Result<Parsed, Error> {
    let mut p = Parser::from_args(args);
    let mut size = None;
    let mut c = Common {
        size: 0,
        hold: None,
        repeat: 1,
        wait: false,
        json: false,
        verbose: false,
        place: Place::Main,
        leak: false,
        touch: false,
        exec: None,
    };
    loop {
        let item = match p.next().map_err(lexopt_error)? {
            None => break,
            Some(Arg::Long(l)) => Item::Long(l.to_owned()),
            Some(Arg::Short(c)) => Item::Short(c),
            Some(Arg::Value(v)) => Item::Value(v),
        };
        if let Item::Long(l) = &item {
            if extra(l, &mut p)? {
                continue;
            }
        }
        match item {
            Item::Long(l) => match l.as_str() {
                "hold" => {
                    let v = p.value().map_err(lexopt_error)?;
                    let what = "--hold <DURATION>";
                    let hold = parse_hold(text(&v, what)?).map_err(|e| invalid(&v, what, e))?;
                    c.hold = Some(hold);
                }
                "repeat" => {
                    let v = p.value().map_err(lexopt_error)?;
                    let what = "--repeat <N>";
                    c.repeat = match text(&v, what)?.parse::<u64>() {
                        Ok(0) => return Err(invalid(&v, what, "at least 1")),
                        Ok(n) => n,
                        Err(e) => return Err(invalid(&v, what, e)),
                    };
                }
                "threads" | "after-thread" | "fork" | "cow" => {
                    let place = match l.as_str() {
                        "threads" => Place::Threads,
                        "after-thread" => Place::AfterThread,
                        "fork" => Place::Fork,
                        _ => Place::Cow,
                    };
                    if c.place != Place::Main && c.place != place {
                        return Err(Error::usage(format!(
                            "'--{l}' cannot be used with '{}' (see --help)",
                            c.place.option()
                        )));
                    }
                    c.place = place;
                }
                "leak" => c.leak = true,
                "touch" if touch => c.touch = true,
                "exec" => {
                    let v = p.value().map_err(lexopt_error)?;
                    let what = "--exec <COMMAND>";
                    let cmd = text(&v, what)?;
                    if cmd.split_ascii_whitespace().next().is_none() {
                        return Err(invalid(&v, what, "empty"));
                    }
                    c.exec = Some(cmd.to_owned());
                }
                "wait" => c.wait = true,
                "json" => c.json = true,
                "verbose" => c.verbose = true,
                "help" => return Ok(Parsed::Print(help())),
                "version" => return Ok(Parsed::Print(version(name))),
                _ => return Err(unexpected(format!("--{l}").as_ref())),
            },
            Item::Short('v') => c.verbose = true,
            Item::Short('h') => return Ok(Parsed::Print(help())),
            Item::Short('V') => return Ok(Parsed::Print(version(name))),
            // A negative number is a bad size, not an option.
            Item::Short(d) if d.is_ascii_digit() && size.is_none() => {
                let mut v = OsString::from(format!("-{d}"));
                v.push(p.optional_value().unwrap_or_default());
                return Err(invalid(&v, "<SIZE>", "sizes are positive"));
            }
            Item::Short(o) => return Err(unexpected(format!("-{o}").as_ref())),
            Item::Value(v) if size.is_none() => {
                let what = "<SIZE>";
                size = Some(parse_size(text(&v, what)?).map_err(|e| invalid(&v, what, e))?);
            }
            Item::Value(v) => return Err(unexpected(&v)),
        }
    }
    c.size = size.ok_or_else(|| {
        Error::usage("the following required arguments were not provided: <SIZE> (see --help)")
    })?;
    Ok(Parsed::Run(c))
}

fn version(name: &str) -> String {
    format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
}

/// The usage error for an argument nobody takes.
pub fn unexpected(a: &OsStr) -> Error {
    Error::usage(format!(
        "unexpected argument '{}' found (see --help)",
        shown(a)
    ))
}

/// lexopt's error as the one-line usage error.
pub fn lexopt_error(e: lexopt::Error) -> Error {
    use lexopt::Error as E;
    Error::usage(match e {
        E::MissingValue { option: Some(o) } => {
            format!("a value is required for '{o}' but none was supplied (see --help)")
        }
        E::UnexpectedOption(o) => return unexpected(o.as_ref()),
        E::UnexpectedArgument(a) => return unexpected(&a),
        E::UnexpectedValue { option, value } => format!(
            "unexpected value '{}' for '{option}' found: it takes none (see --help)",
            shown(&value)
        ),
        e => format!("{} (see --help)", shown(e.to_string().as_ref())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `words` parsed by a workload that takes `--touch` or not.
    fn parse_taking(words: &[&str], touch: bool) -> Result<Parsed, Error> {
        parse(
            words.iter().map(OsString::from),
            "wl",
            || "help\n".into(),
            touch,
            |_, _| Ok(false),
        )
    }

    fn parse_words(words: &[&str]) -> Result<Parsed, Error> {
        parse_taking(words, false)
    }

    fn common(words: &[&str]) -> Common {
        match parse_words(words) {
            Ok(Parsed::Run(c)) => c,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    fn usage(words: &[&str]) -> String {
        match parse_words(words) {
            Err(e) => {
                assert_eq!(e.code, crate::exit::Code::Usage);
                assert!(!e.msg.contains('\n'), "{:?}", e.msg);
                e.msg
            }
            other => panic!("{words:?}: {other:?}"),
        }
    }

    #[test]
    fn options_in_any_order() {
        let c = common(&[
            "--repeat",
            "3",
            "4KiB",
            "--hold=5s",
            "-v",
            "--json",
            "--wait",
        ]);
        assert_eq!(c.size, 4096);
        assert_eq!(c.repeat, 3);
        assert!(c.wait && c.json && c.verbose);
        assert_eq!(c.hold, Some(Hold::For(std::time::Duration::from_secs(5))));
    }

    #[test]
    fn help_and_version_print() {
        assert!(matches!(parse_words(&["-h"]), Ok(Parsed::Print(h)) if h == "help\n"));
        assert!(
            matches!(parse_words(&["1", "--version"]), Ok(Parsed::Print(v)) if v.starts_with("wl "))
        );
    }

    #[test]
    fn errors_name_the_argument_on_one_line() {
        assert!(usage(&[]).contains("<SIZE>"));
        assert!(usage(&["1", "--hold"]).contains("'--hold'"));
        assert!(usage(&["1", "--json=yes"]).contains("'--json'"));
        assert!(usage(&["1", "--repeat", "-3"]).contains("'-3' for '--repeat <N>'"));
        assert!(usage(&["-5"]).contains("sizes are positive"));
        let m = usage(&["1\n2"]);
        assert!(m.contains(r"'1\n2'"), "{m}");
        let long = "9".repeat(1000);
        assert!(usage(&[&long]).len() < 200);
    }

    #[test]
    fn touch_only_where_taken() {
        assert!(!common(&["1"]).touch);
        assert!(usage(&["1", "--touch"]).contains("'--touch'"));
        let touch = |words: &[&str]| parse_taking(words, true);
        assert!(matches!(touch(&["--touch", "1"]), Ok(Parsed::Run(c)) if c.touch));
        assert!(matches!(touch(&["1"]), Ok(Parsed::Run(c)) if !c.touch));
        assert!(matches!(touch(&["1", "--touch=yes"]), Err(e) if e.msg.contains("'--touch'")));
    }

    #[test]
    fn bounds() {
        let many = vec![&b"1"[..]; MAX_ARGS + 1];
        assert!(check_bounds(many.into_iter()).is_err());
        let long = vec![b'1'; MAX_ARG_BYTES + 1];
        assert!(check_bounds([&long[..]].into_iter()).is_err());
        assert!(check_bounds([&b"4KiB"[..]].into_iter()).is_ok());
    }
}
