//! The paths table and the scoreboard read a ledger through the same model
//! (`wlmodel`), so they agree on every path: checked on the real reports of
//! every path that `scripts/paths.sh` published in docs/results/paths/.

use wlreport::{paths, scoreboard::Truth};

#[test]
fn the_paths_table_and_the_scoreboard_agree_on_every_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results/paths");
    let manifest = std::fs::read_to_string(dir.join("manifest")).expect("docs/results/paths");
    let mut n = 0;
    for line in manifest.lines() {
        let (label, file) = line.split_once('\t').expect("LABEL<TAB>FILE");
        let json = std::fs::read_to_string(dir.join(file)).unwrap();
        let row = paths::row(label, &json).unwrap();
        let truth = Truth::from_json(&json).unwrap();
        let report = wlmodel::Report::parse(&json).unwrap();
        // These runs hold nothing: what the scoreboard holds a mapping
        // tracker to is the peak of what the paths table shows.
        assert_eq!(
            row.mapped_peak,
            i64::try_from(truth.held_bytes).unwrap(),
            "{label}"
        );
        if report.repeat == 1 {
            assert_eq!(
                (row.heap_calls, row.heap_bytes),
                (truth.calls, truth.call_bytes),
                "{label}"
            );
        }
        n += 1;
    }
    assert!(n >= 30, "only {n} paths in docs/results/paths");
}
