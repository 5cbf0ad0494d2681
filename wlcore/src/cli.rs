//! The options every workload takes, and clap errors as one line.

use clap::error::ErrorKind;
use clap::{Args, Parser};

use crate::exit::Error;
use crate::size::{parse_hold, parse_size, Hold};

/// Options shared by all workloads; each tool flattens this into its own parser.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Bytes to allocate: 4096, 4KiB, 1MiB, 1GiB (powers of 1024) or 4K, 1M, 1G (powers of 1000)
    #[arg(value_name = "SIZE", allow_negative_numbers = true, value_parser = parse_size)]
    pub size: u64,

    /// Keep each allocation alive this long before freeing it: 500ms, 5s, 2m, or inf (until SIGINT/SIGTERM)
    #[arg(long, value_name = "DURATION", value_parser = parse_hold)]
    pub hold: Option<Hold>,

    /// Allocate and free this many times, one after the other
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,

    /// Before allocating, print the pid on stderr and block until SIGUSR1 or a line on stdin
    #[arg(long)]
    pub wait: bool,

    /// Print one JSON object with what was done on stdout
    #[arg(long)]
    pub json: bool,

    /// Print one line saying what was done on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

/// Parses the command line. `--help` and `--version` print and exit 0; any other
/// clap error becomes a one-line usage [`Error`] (exit code 2).
pub fn parse<C: Parser>() -> Result<C, Error> {
    C::try_parse().map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => e.exit(),
        _ => {
            // clap's first paragraph names the problem; the rest is tips and usage.
            let rendered = e.render().to_string();
            let first = rendered.split("\n\n").next().unwrap_or_default();
            let msg = first.split_whitespace().collect::<Vec<_>>().join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            Error::usage(format!("{msg} (see --help)"))
        }
    })
}
