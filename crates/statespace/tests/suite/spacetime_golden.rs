//! SpaceTime against HazyResearch/spacetime (`spacetime_*`): the Krylov
//! and companion-FFT kernels, every SSM class open and closed loop, and
//! the whole network — outputs, stored activations and every gradient, in
//! f64 at ≤ 1e-9 and in f32 at ≤ 1e-4.

use crate::common::{assert_checks, golden_cases, golden_set};
use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use statespace::golden::layer::tolerance_for;
use statespace::golden::spacetime;

type B = Autodiff<Flex>;

fn check_prefix(prefix: &str) {
    let set = golden_set();
    for (case, file) in golden_cases(prefix) {
        for dtype in [DType::F64, DType::F32] {
            let checks = spacetime::check_case::<B>(
                &case,
                &file,
                set.manifest(),
                dtype,
                tolerance_for(dtype),
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_checks(&checks);
        }
    }
}

#[test]
fn krylov_and_companion_fft_kernels_match_reference() {
    check_prefix("spacetime_krylov");
}

#[test]
fn ssm_classes_match_reference() {
    check_prefix("spacetime_ssm_");
}

#[test]
fn networks_match_reference() {
    check_prefix("spacetime_net_");
}

/// The value of `--flag` in an official argv.
fn flag<T: std::str::FromStr>(argv: &[&str], flag: &str) -> Option<T> {
    let i = argv.iter().position(|a| *a == flag)?;
    argv.get(i + 1)?.parse().ok()
}

/// The recipe of an official argv, if it uses the default model configs
/// and only the flags the recipe takes (defaults as `setup/args.py` and the
/// YAML files give them).
fn recipe_of(argv: &str) -> Option<statespace::layers::spacetime::SpaceTimeRecipe> {
    let argv: Vec<&str> = argv.split_whitespace().collect();
    let default_layout = [
        ("--embedding_config", "embedding/repeat"),
        ("--encoder_config", "encoder/default"),
        ("--decoder_config", "decoder/default"),
        ("--output_config", "output/default"),
    ]
    .iter()
    .all(|(f, v)| flag::<String>(&argv, f).is_none_or(|x| x == *v));
    // Flags that shape nothing but data and optimisation, and those the
    // recipe takes; any other flag (MLP shape, heads, …) is out of its scope.
    const KNOWN: [&str; 25] = [
        "--dataset",
        "--lag",
        "--horizon",
        "--embedding_config",
        "--encoder_config",
        "--decoder_config",
        "--output_config",
        "--n_blocks",
        "--kernel_dim",
        "--norm_order",
        "--model_dim",
        "--batch_size",
        "--dropout",
        "--lr",
        "--weight_decay",
        "--max_epochs",
        "--early_stopping_epochs",
        "--data_transform",
        "--loss",
        "--val_metric",
        "--criterion_weights",
        "--seed",
        "--no_wandb",
        "--features",
        "--variant",
    ];
    let simple = argv
        .iter()
        .filter(|a| a.starts_with("--"))
        .all(|a| KNOWN.contains(a));
    (default_layout && simple).then(|| statespace::layers::spacetime::SpaceTimeRecipe {
        model_dim: flag(&argv, "--model_dim"),
        n_blocks: flag(&argv, "--n_blocks").unwrap_or(3),
        kernel_dim: flag(&argv, "--kernel_dim").unwrap_or(64),
        norm_order: flag(&argv, "--norm_order").unwrap_or(1),
        dropout: flag(&argv, "--dropout").unwrap_or(0.2),
        lag: flag(&argv, "--lag").unwrap_or(1),
        horizon: flag(&argv, "--horizon").unwrap_or(1),
        seed: flag(&argv, "--seed").unwrap_or(0),
    })
}

/// A config stored as JSON or as a string holding JSON.
fn json_of(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    }
}

/// `SpaceTimeRecipe` resolves the official command line to the model
/// config `main.py` builds, for every `spacetime_net_*` case made from the
/// default encoder/decoder/output configs on a univariate series.
#[test]
fn recipe_resolves_the_golden_command_lines() {
    let set = golden_set();
    let manifest = set.manifest().expect("the golden folder has a manifest");
    let mut compared = 0;
    for (case, _) in golden_cases("spacetime_net_") {
        let entry = &manifest[&case];
        let univariate = entry["channels"].as_u64() == Some(1);
        let Some(recipe) = recipe_of(entry["argv"].as_str().unwrap_or("")).filter(|_| univariate)
        else {
            continue;
        };
        let ours = recipe.to_json().unwrap();
        assert_eq!(
            ours,
            json_of(&entry["config"]),
            "{case}: the resolved config differs"
        );
        compared += 1;
    }
    eprintln!("{compared} spacetime_net_ cases resolved from their argv");
}

/// The same for the paper's ETTh recipe at every Informer horizon and for
/// variations of each knob, resolved by the official code
/// (scripts/reference/spacetime_recipes.py).
#[test]
fn recipe_resolves_the_paper_command_lines() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference/spacetime_recipes.json");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let argv = case["argv"].as_str().unwrap();
        let recipe = recipe_of(argv).unwrap_or_else(|| panic!("{argv}: not a recipe"));
        assert_eq!(recipe.to_json().unwrap(), case["config"], "{argv}");
        recipe.config().unwrap();
    }
}
