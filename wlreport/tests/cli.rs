//! wlreport run as the scripts and users run it: one-line errors with the
//! documented exit codes, never a panic.

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_wlreport");

/// Asserts that `out` is a failure with exit `code` and one line on stderr
/// that starts with `wlreport: ` and holds `needle`.
fn fails(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{out:?}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.starts_with("wlreport: ") && err.contains(needle),
        "{err:?}"
    );
}

#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let out = Command::new(BIN)
        .arg("--help")
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    fails(&out, 1, "cannot write to stdout: Broken pipe");
}

#[test]
fn bad_usage_is_exit_2() {
    let out = Command::new(BIN).arg("bogus").output().unwrap();
    fails(&out, 2, "unknown command 'bogus'");
    let out = Command::new(BIN).output().unwrap();
    fails(&out, 2, "a command is missing");
}

#[test]
fn a_tool_without_an_expected_file_is_said_so() {
    let dir = std::env::temp_dir().join(format!("wlreport-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("scoreboard.csv");
    let header = "path,tracker,tool,version,kind,class,why,figure_bytes,truth_bytes,\
                  figure_calls,truth_calls,runs,run_classes,run_figures,note";
    std::fs::write(
        &csv,
        format!("{header}\np,t,nosuchtool,1.0,calls,exact,,1,1,,,1,,,\n"),
    )
    .unwrap();
    let defs = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/trackers/trackers.tsv"
    );
    let out = Command::new(BIN)
        .args(["scoreboard", "check", "--defs", defs, "--csv"])
        .arg(&csv)
        .arg("--expected")
        .arg(&dir)
        .output()
        .unwrap();
    // A tool no definition names (a tracker of the contract) is known by the
    // CSV's tool column; without its expected file, the check says so, and
    // the tests that read it fail.
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no-file\tnosuchtool-1.0\t\t\t\t\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
