//! Sequence parallelism with simulated ranks (threads of this process on the
//! CPU backend, states and gradients passed through `LocalGroup`): a
//! training run split this way takes the same steps as one device, and the
//! configurations it cannot split are named errors. (That the ranks' summed
//! gradient equals one device's, for every mixer whose state they carry, is
//! `parity::sequence_parallel`, run by `ssm selftest` on GPUs and by its
//! unit test in the library.)

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use statespace::train::{Parallelism, RunDir, TrainConfig, train, train_parallel};

use crate::common::{Quiet, assert_close_runs, training_turn, word_corpus};

type B = Autodiff<Flex>;

/// A byte-level language model of `mixer` on a small structured corpus.
fn lm_config(dir: &Path, mixer: &str) -> TrainConfig {
    let path = word_corpus(dir, 11, 2000);
    let toml = format!(
        r#"
seed = 2
[task]
kind = "lm"
path = "{}"
seq_len = 15
max_eval_tokens = 256
[model]
mixer = "{mixer}"
d_model = 16
n_layers = 2
[optim]
lr = 0.01
weight_decay = 0.1
[schedule]
steps = 6
warmup = 2
batch_size = 4
eval_every = 3
"#,
        path.display()
    );
    TrainConfig::from_toml(&toml, &[]).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("statespace-sp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_run_split_over_sequences_takes_the_steps_of_one_device() {
    let _turn = training_turn();
    let dir = scratch("equal");
    let config = lm_config(&dir, "mamba");
    let single = train::<B>(
        &config,
        &RunDir::new(dir.join("one")),
        false,
        &Default::default(),
        &mut Quiet { stop_at: None },
    )
    .unwrap();
    // 15 positions: parts of 7 and 8, then 5 each.
    for ranks in [2, 3] {
        let devices = vec![Default::default(); ranks];
        let split = train_parallel::<B>(
            &config,
            &RunDir::new(dir.join(format!("split-{ranks}"))),
            false,
            &devices,
            Parallelism::Sequence,
            &mut Quiet { stop_at: None },
        )
        .unwrap();
        assert_close_runs(
            &single.metrics,
            &split.metrics,
            1e-4,
            &format!("{ranks} ranks"),
        );
    }
}

#[test]
fn what_sequence_parallelism_cannot_split_is_a_named_error() {
    let _turn = training_turn();
    let dir = scratch("errors");
    let devices = vec![Default::default(); 2];
    let run = |config: &TrainConfig, name: &str, devices: &[_]| {
        train_parallel::<B>(
            config,
            &RunDir::new(dir.join(name)),
            false,
            devices,
            Parallelism::Sequence,
            &mut Quiet { stop_at: None },
        )
        .unwrap_err()
        .to_string()
    };
    let s4d = lm_config(&dir, "s4d");
    let err = run(&s4d, "s4d", &devices);
    assert!(err.contains("model.mixer"), "{err}");
    let short = TrainConfig::from_toml(
        &lm_config(&dir, "mamba").to_toml(),
        &["task.seq_len=3".into()],
    )
    .unwrap();
    let err = run(&short, "short", &[Default::default(); 4]);
    assert!(err.contains("task.seq_len"), "{err}");
    let listops = TrainConfig::from_toml(
        "[task]\nkind = \"listops\"\n[model]\nmixer = \"mamba\"\nd_model = 8\nn_layers = 1\n",
        &[],
    )
    .unwrap();
    let err = run(&listops, "listops", &devices);
    assert!(err.contains("task.kind"), "{err}");
    for name in ["s4d", "short", "listops"] {
        assert!(!dir.join(name).exists(), "{name}: no run folder is made");
    }
}
