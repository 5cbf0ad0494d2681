//! The commands' options: `--NAME VALUE` pairs, each name one the command
//! takes, read once into [`Opts`]; a wrong or missing one is a [`Usage`]
//! error (exit 2). And the outputs: files and stdout written whole, an error
//! never a panic.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

/// A usage error: one line, the command's fault, not the input's.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage(pub String);

/// A command's `--NAME VALUE` options: each name one the command takes.
pub struct Opts(BTreeMap<String, Vec<String>>);

impl Opts {
    pub fn parse(p: &mut lexopt::Parser, known: &[&str]) -> Result<Opts, Usage> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        while let Some(arg) = p.next().map_err(|e| Usage(e.to_string()))? {
            match arg {
                lexopt::Arg::Long(name) if known.contains(&name) => {
                    let name = name.to_string();
                    let v = p
                        .value()
                        .map_err(|e| Usage(e.to_string()))?
                        .into_string()
                        .map_err(|v| {
                            Usage(format!("--{name}: not UTF-8: {}", v.to_string_lossy()))
                        })?;
                    m.entry(name).or_default().push(v);
                }
                _ => return Err(Usage(arg.unexpected().to_string())),
            }
        }
        Ok(Opts(m))
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.last()).map(String::as_str)
    }
    pub fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
    pub fn text(&self, name: &str) -> Result<&str, Usage> {
        self.get(name)
            .ok_or_else(|| Usage(format!("--{name} is missing (see --help)")))
    }
    pub fn path(&self, name: &str) -> Result<PathBuf, Usage> {
        self.text(name).map(PathBuf::from)
    }
    /// `--NAME`'s number, or `default` without it.
    pub fn num_or<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Usage> {
        match self.get(name) {
            Some(_) => self.num(name),
            None => Ok(default),
        }
    }
    pub fn num<T: std::str::FromStr>(&self, name: &str) -> Result<T, Usage> {
        let v = self.text(name)?;
        v.parse()
            .map_err(|_| Usage(format!("--{name}: not a number: {v}")))
    }
    /// Sizes in bytes, separated by commas (or spaces).
    pub fn sizes(&self, name: &str, v: &str) -> Result<Vec<u64>, Usage> {
        v.split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| Usage(format!("--{name}: sizes in bytes: {v}")))
    }
}

/// Why a command failed: its usage (exit 2) or its input or output (exit 1).
pub enum Failure {
    Usage(String),
    Input(String),
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Input(e)
    }
}

impl From<Usage> for Failure {
    fn from(e: Usage) -> Self {
        Failure::Usage(e.0)
    }
}

pub type Res<T> = Result<T, Failure>;

/// Writes a file; an error names it.
pub fn write(path: &std::path::Path, text: &str) -> Res<()> {
    std::fs::write(path, text)
        .map_err(|e| Failure::Input(format!("cannot write {}: {e}", path.display())))
}

/// Writes `text` to stdout; a closed pipe or a full disk is an error, not a
/// panic.
pub fn put(text: &str) -> Res<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::Input(format!("cannot write to stdout: {e}")))
}

/// The one-line error on stderr (nothing more can be done if that fails).
pub fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "wlreport: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str], known: &[&str]) -> Result<Opts, Usage> {
        Opts::parse(&mut lexopt::Parser::from_args(args), known)
    }

    #[test]
    fn options_once_or_repeated() {
        let o = opts(
            &["--reps", "3", "--r", "a=1", "--r", "b=2,3"],
            &["reps", "r"],
        )
        .unwrap();
        assert_eq!(o.num::<u32>("reps"), Ok(3));
        assert_eq!(o.all("r"), ["a=1", "b=2,3"]);
        assert_eq!(o.sizes("r", "2,3 4"), Ok(vec![2, 3, 4]));
        assert_eq!(o.get("nope"), None);
        assert_eq!(o.num_or("nope", 1), Ok(1));
        assert_eq!(o.num_or("reps", 1), Ok(3));
        assert_eq!(
            o.text("out").unwrap_err().0,
            "--out is missing (see --help)"
        );
        assert!(opts(&["--other", "1"], &["reps"]).is_err());
        assert!(opts(&["--reps"], &["reps"]).is_err());
        let bad = opts(&["--reps", "x"], &["reps"]).unwrap();
        assert_eq!(
            bad.num::<u32>("reps").unwrap_err().0,
            "--reps: not a number: x"
        );
    }
}
