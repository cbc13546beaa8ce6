//! Every recipe in `configs/` parses: known keys only, values in their
//! domains, cross-field constraints met (what `ssm train --config` checks
//! before building the task).

use std::path::PathBuf;

use statespace::train::config::TrainConfig;

#[test]
fn every_shipped_config_parses() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            TrainConfig::from_toml(&text, &[])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(
        count >= 20,
        "found only {count} configs in {}",
        dir.display()
    );
}
