//! `lm` tasks: a small language model learns a structured byte corpus
//! (its validation bits per byte fall far below the 8 of a uniform guess),
//! in f32 and in mixed precision, a run resumed from a checkpoint equals an
//! uninterrupted one, and settings the language model does not have are
//! errors naming their key.

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use statespace::tasks::Split;
use statespace::train::lm::{LanguageModeling, model_config};
use statespace::train::run::read_metrics;
use statespace::train::{RunDir, TrainConfig, train};

use crate::common::{Quiet, training_turn, word_corpus};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("statespace-lm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The test corpus (see [`word_corpus`]).
fn corpus(dir: &std::path::Path) -> PathBuf {
    word_corpus(dir, 7, 4000)
}

fn config(corpus: &std::path::Path, extra: &[&str]) -> TrainConfig {
    let text = format!(
        r#"
seed = 1
[task]
kind = "lm"
path = "{}"
seq_len = 32
max_eval_tokens = 512
[model]
mixer = "mamba"
d_model = 32
n_layers = 2
[optim]
lr = 0.01
weight_decay = 0.0
[schedule]
steps = 60
warmup = 5
batch_size = 8
eval_every = 20
"#,
        corpus.display()
    );
    let overrides: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    TrainConfig::from_toml(&text, &overrides).unwrap()
}

#[test]
fn a_small_mamba_learns_a_structured_corpus() {
    learns_a_structured_corpus("learns", &[]);
}

#[test]
fn a_small_mamba_learns_it_in_mixed_precision_too() {
    learns_a_structured_corpus("learns-bf16", &["optim.precision=\"bf16\""]);
}

#[test]
fn a_small_mamba_2_learns_it_in_f16_with_loss_scaling() {
    learns_a_structured_corpus(
        "learns-f16",
        &["optim.precision=\"f16\"", "model.mixer=\"mamba2\""],
    );
}

/// A 60-step run of [`config`] with `extra` settings: validation bits per
/// byte fall below 3 and the test row's two columns agree.
fn learns_a_structured_corpus(name: &str, extra: &[&str]) {
    let _turn = training_turn();
    type B = Autodiff<Flex>;
    let dir = scratch(name);
    let config = config(&corpus(&dir), extra);
    let objective = LanguageModeling::new(&config).unwrap();
    assert_eq!(objective.data().vocab(), 256);
    let run = RunDir::new(dir.join("run"));
    let summary = train::<B>(
        &config,
        &run,
        false,
        &Default::default(),
        &mut Quiet { stop_at: None },
    )
    .unwrap();
    let rows = read_metrics(&run.metrics()).unwrap();
    let val: Vec<f64> = rows
        .iter()
        .filter(|r| r.split == "val")
        .map(|r| r.metric)
        .collect();
    assert_eq!(val.len(), 3);
    // Bytes drawn uniformly would cost 8 bits each; the text's own
    // entropy is about 0.4 bits per byte (a 5-way choice per ~5.6 bytes).
    assert!(val[2] < 3.0, "validation bits per byte {val:?}");
    assert!(val[2] < val[0], "{val:?}");
    // Byte-level: bits per byte are nats per token over ln 2.
    let test = summary.test;
    assert!((test.metric - test.loss / std::f64::consts::LN_2).abs() < 1e-5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resumed_lm_run_equals_an_uninterrupted_one() {
    let _turn = training_turn();
    type B = Autodiff<Flex>;
    let device = Default::default();
    let dir = scratch("resume");
    let config = config(
        &corpus(&dir),
        &["schedule.steps=12", "schedule.eval_every=4"],
    );
    let full = RunDir::new(dir.join("full"));
    train::<B>(&config, &full, false, &device, &mut Quiet { stop_at: None }).unwrap();
    let split = RunDir::new(dir.join("split"));
    assert!(
        train::<B>(
            &config,
            &split,
            false,
            &device,
            &mut Quiet { stop_at: Some(8) }
        )
        .is_err()
    );
    train::<B>(&config, &split, true, &device, &mut Quiet { stop_at: None }).unwrap();
    // The same rows; values to 1e-6 relative, since the CPU backend's
    // parallel sums over an evaluation batch are not bitwise reproducible
    // from one call to the next (the last printed digit may flip).
    let (a, b) = (
        read_metrics(&full.metrics()).unwrap(),
        read_metrics(&split.metrics()).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(
            (a.step, &a.split, a.lr_scale),
            (b.step, &b.split, b.lr_scale)
        );
        for (x, y) in [(a.loss, b.loss), (a.metric, b.metric)] {
            assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settings_a_language_model_lacks_are_errors() {
    let dir = scratch("errors");
    let path = corpus(&dir);
    let err = |extra: &[&str]| model_config(&config(&path, extra)).unwrap_err().to_string();
    assert!(err(&["model.dropout=0.1"]).contains("model.dropout"));
    assert!(err(&["model.norm=\"layer\""]).contains("model.norm"));
    assert!(err(&["model.mixer=\"hydra\""]).contains("causal"));
    assert!(err(&["model.mixer=\"s4d\"", "model.bidirectional=true"]).contains("causal"));
    assert!(err(&["task.seq_len=0"]).contains("task.seq_len"));
    // Mixed precision: Mamba and Mamba-2 language models only.
    let precision = |extra: &[&str]| {
        let overrides: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let text = config(&path, &[]).to_toml();
        TrainConfig::from_toml(&text, &overrides).map(|_| ())
    };
    precision(&["optim.precision=\"bf16\"", "model.mixer=\"mamba2\""]).unwrap();
    let refused = precision(&["optim.precision=\"bf16\"", "model.mixer=\"s4d\""])
        .unwrap_err()
        .to_string();
    assert!(refused.contains("optim.precision"), "{refused}");
    // The default task is a classifier (ListOps).
    let classifier = TrainConfig::from_toml(
        "[model]\nmixer = \"mamba\"",
        &["optim.precision=\"bf16\"".to_string()],
    )
    .unwrap_err()
    .to_string();
    assert!(classifier.contains("task.kind"), "{classifier}");
    let unknown = precision(&["optim.precision=\"fp8\""])
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("fp8"), "{unknown}");
    let missing = config(&dir.join("absent.txt"), &[]);
    let err = LanguageModeling::new(&missing).err().unwrap().to_string();
    assert!(err.contains("absent.txt"), "{err}");
    // Every causal family trains as a language model.
    for mixer in ["s4d", "mamba2", "mamba3", "h3", "hyena", "long_conv", "s5"] {
        model_config(&config(&path, &[&format!("model.mixer=\"{mixer}\"")]))
            .unwrap_or_else(|e| panic!("{mixer}: {e}"));
    }
    let data = LanguageModeling::new(&config(&path, &[])).unwrap();
    assert!(data.data().tokens(Split::Test) > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
