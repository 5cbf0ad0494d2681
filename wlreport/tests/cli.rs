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
fn a_scoreboard_of_a_tool_it_does_not_know_is_refused() {
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
    fails(&out, 1, "a tool this does not know");
    let _ = std::fs::remove_dir_all(&dir);
}
