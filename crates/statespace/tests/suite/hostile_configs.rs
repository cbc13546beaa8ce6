//! Checkpoint folders whose config.json lies: impossible sizes, fewer
//! layers than the weights, bad ε. Each is a clear error, raised before any
//! allocation sized by the config.

use std::path::{Path, PathBuf};

use crate::common::golden_dir;
use burn::backend::Flex;
use statespace::models::pretrained::load;

/// A copy of golden checkpoint folder `name` with `edit` applied to its
/// config.json (as a JSON value).
fn folder_with(name: &str, tag: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let src = golden_dir().join(name);
    let dst = std::env::temp_dir().join(format!(
        "statespace-config-{}-{name}-{tag}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(dst.join("config.json")).unwrap();
    // The golden configs write Infinity as {"__float__": "Infinity"}: plain JSON.
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut value);
    std::fs::write(
        dst.join("config.json"),
        serde_json::to_string(&value).unwrap(),
    )
    .unwrap();
    dst
}

fn error_of(dir: &Path) -> String {
    let result = load::<Flex>(dir, &Default::default());
    std::fs::remove_dir_all(dir).unwrap();
    match result {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn impossible_sizes_are_refused_before_allocating() {
    let cases: [(&str, &str, serde_json::Value); 6] = [
        ("hidden_max", "hidden_size", serde_json::json!(u64::MAX)),
        (
            "hidden_1e9",
            "hidden_size",
            serde_json::json!(1_000_000_000u64),
        ),
        (
            "vocab_1e12",
            "vocab_size",
            serde_json::json!(1_000_000_000_000u64),
        ),
        ("expand_2_40", "expand", serde_json::json!(1u64 << 40)),
        ("state_2_40", "state_size", serde_json::json!(1u64 << 40)),
        (
            "layers_1e6",
            "num_hidden_layers",
            serde_json::json!(1_000_000u64),
        ),
    ];
    for (tag, key, value) in cases {
        let dir = folder_with("hf_mamba", tag, |c| c[key] = value.clone());
        let err = error_of(&dir);
        assert!(
            err.contains("parameters") || err.contains("overflow") || err.contains("memory"),
            "{tag}: {err}"
        );
    }
}

#[test]
fn fewer_layers_than_the_weights_is_an_error() {
    let dir = folder_with("hf_mamba", "fewer", |c| {
        c["num_hidden_layers"] = serde_json::json!(1)
    });
    let err = error_of(&dir);
    assert!(
        err.contains("not used") && err.contains("layers.1"),
        "{err}"
    );
    let dir = folder_with("native_mamba2", "fewer", |c| {
        c["n_layer"] = serde_json::json!(1)
    });
    let err = error_of(&dir);
    assert!(err.contains("not used"), "{err}");
}

#[test]
fn bad_epsilons_are_refused() {
    for (tag, eps) in [
        ("nan", serde_json::json!("NaN")),
        ("negative", serde_json::json!(-1e-5)),
        ("infinite", serde_json::json!("Infinity")),
        ("zero", serde_json::json!(0.0)),
    ] {
        let dir = folder_with("hf_mamba", tag, |c| c["layer_norm_epsilon"] = eps.clone());
        let err = error_of(&dir);
        assert!(err.contains("layer_norm_epsilon"), "{tag}: {err}");
    }
}
