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

/// `optim.tf32` opts a recipe in to TF32 products on GPUs (any task and
/// mixer; off by default); a value that is not a boolean names the key.
#[test]
fn tf32_is_a_boolean_of_any_recipe() {
    let listops = "[task]\nkind = \"listops\"\n[model]\nmixer = \"s4d\"";
    let default = TrainConfig::from_toml(listops, &[]).unwrap();
    assert!(!default.optim.tf32);
    let on = TrainConfig::from_toml(listops, &["optim.tf32=true".to_string()]).unwrap();
    assert!(on.optim.tf32);
    let resolved = TrainConfig::from_toml(&on.to_toml(), &[]).unwrap();
    assert_eq!(resolved, on);
    let bad = TrainConfig::from_toml(listops, &["optim.tf32=\"yes\"".to_string()])
        .unwrap_err()
        .to_string();
    assert!(bad.contains("`optim.tf32`"), "{bad}");
}

/// A value of the wrong type and an unknown key name their dotted key,
/// in the config text and in an override alike.
#[test]
fn type_errors_and_unknown_keys_name_their_key() {
    let text = "[task]\nkind = \"listops\"\n[model]\nmixer = \"s4d\"\nd_model = \"wide\"";
    let err = TrainConfig::from_toml(text, &[]).unwrap_err().to_string();
    assert!(
        err.contains("`model.d_model`") && err.contains("wide"),
        "{err}"
    );
    let listops = "[task]\nkind = \"listops\"";
    for (set, key) in [
        ("schedule.steps=-3", "`schedule.steps`"),
        ("optim.momentum=0.9", "`optim.momentum`"),
        ("seed=\"x\"", "`seed`"),
    ] {
        let err = TrainConfig::from_toml(listops, &[set.to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{set}: {err}");
    }
}
