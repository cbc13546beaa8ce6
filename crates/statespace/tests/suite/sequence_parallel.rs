//! Sequence parallelism with simulated ranks (threads of this process on the
//! CPU backend, states and gradients passed through `LocalGroup`): ranks
//! that each hold consecutive positions of every sequence compute, summed,
//! the gradient one device computes for the whole sequences, for every
//! mixer whose state the ranks carry; a training run split this way takes
//! the same steps as one device; the configurations it cannot split are
//! named errors.

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use statespace::layers::mamba::MambaConfig;
use statespace::layers::mamba2::Mamba2Config;
use statespace::layers::mamba3::Mamba3Config;
use statespace::layers::s5::S5Config;
use statespace::models::{LanguageModel, LmConfig, MixerConfig};
use statespace::ops::mean_cross_entropy;
use statespace::tasks::text::Windows;
use statespace::train::collective::{Collective, LocalGroup};
use statespace::train::data_parallel::all_reduce_grads;
use statespace::train::optim::flat_grads;
use statespace::train::sequence_parallel::Chain;
use statespace::train::{Parallelism, RunDir, TrainConfig, train, train_parallel};

use crate::common::{Quiet, assert_close_runs, training_turn, word_corpus};

type B = Autodiff<Flex>;

const VOCAB: usize = 13;

fn mixers() -> Vec<(&'static str, MixerConfig)> {
    vec![
        ("mamba", MixerConfig::Mamba(MambaConfig::new(8))),
        (
            "mamba2",
            MixerConfig::Mamba2(Mamba2Config {
                headdim: 4,
                ngroups: 2,
                d_state: 6,
                chunk_size: 4,
                ..Mamba2Config::new(8)
            }),
        ),
        (
            "mamba3",
            MixerConfig::Mamba3(Mamba3Config {
                d_state: 6,
                headdim: 4,
                rope_fraction: 1.0,
                is_mimo: true,
                mimo_rank: 2,
                chunk_size: 4,
                ..Mamba3Config::new(8)
            }),
        ),
        (
            "s5",
            MixerConfig::S5(S5Config {
                ssm_size: 8,
                blocks: 2,
                ..S5Config::new(8)
            }),
        ),
    ]
}

fn model(mixer: MixerConfig) -> LanguageModel<B> {
    let config = LmConfig {
        vocab_size: VOCAB,
        n_layer: 2,
        mixer,
        norm_eps: 1e-5,
        tie_embeddings: true,
    };
    config
        .init(&Default::default(), &mut ChaCha8Rng::seed_from_u64(3))
        .unwrap()
}

/// `batch` windows of `len` random tokens and their (random) targets.
fn windows(batch: usize, len: usize) -> Windows {
    let mut state = 0x2545_f491_u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        ((state >> 33) % VOCAB as u64) as i64
    };
    Windows {
        inputs: (0..batch * len).map(|_| next()).collect(),
        targets: (0..batch * len).map(|_| next()).collect(),
        count: batch,
    }
}

/// Mean next-token loss of `windows` under `model`, its logits from `forward`.
fn loss(logits: Tensor<B, 3>, targets: Vec<i64>) -> Tensor<B, 1> {
    let [b, l, v] = logits.dims();
    let targets =
        Tensor::<B, 1, Int>::from_data(TensorData::new(targets, [b * l]), &Default::default());
    mean_cross_entropy(logits.reshape([b * l, v]), targets).unwrap()
}

/// Every parameter gradient of `model`, flattened and concatenated.
fn flat(model: &LanguageModel<B>, grads: &GradientsParams) -> Vec<f32> {
    flat_grads::<B, _>(model, grads)
        .into_iter()
        .flat_map(|g| g.into_data().convert::<f32>().into_vec::<f32>().unwrap())
        .collect()
}

/// The summed gradient of `ranks` simulated ranks, each on its part of the
/// positions; with `carry_back` false, each rank's backward ignores the
/// later ranks (a control: the answer must then be wrong).
fn split_gradient(
    model: &LanguageModel<B>,
    whole: &Windows,
    ranks: usize,
    carry_back: bool,
) -> Vec<f32> {
    let len = whole.inputs.len() / whole.count;
    let group = LocalGroup::new(ranks);
    let results: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = group
            .iter()
            .map(|member| {
                let model = model.clone();
                s.spawn(move || {
                    // A rank that fails aborts the group: the others stop
                    // waiting for it and the test fails instead of hanging.
                    let _guard = AbortOnPanic(member);
                    let r = member.rank();
                    let part = whole
                        .positions(r * len / ranks..(r + 1) * len / ranks)
                        .unwrap();
                    let device = Default::default();
                    let mut chain = Chain::<B>::new(member, &device);
                    let logits = model
                        .forward_ids_carried(part.inputs, part.count, &mut chain)
                        .unwrap();
                    let targets = part.targets.len();
                    let mean = loss(logits, part.targets);
                    let grads = if carry_back {
                        chain.backward(mean, targets).unwrap()
                    } else {
                        mean.backward()
                    };
                    let grads = GradientsParams::from_grads(grads, &model);
                    let summed = all_reduce_grads::<B, _>(&model, grads, targets, member).unwrap();
                    flat(&model, &summed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for other in &results[1..] {
        assert_eq!(
            other, &results[0],
            "every rank holds the same summed gradient"
        );
    }
    results.into_iter().next().unwrap()
}

/// Aborts a rank's group when its thread panics.
struct AbortOnPanic<'a>(&'a LocalGroup);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abort();
        }
    }
}

/// The largest difference relative to the largest gradient entry.
fn relative_gap(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn ranks_on_parts_of_every_sequence_sum_to_the_whole_sequences_gradient() {
    let whole = windows(3, 14);
    for (name, mixer) in mixers() {
        let model = model(mixer);
        let logits = model
            .forward_ids(whole.inputs.clone(), whole.count)
            .unwrap();
        let grads =
            GradientsParams::from_grads(loss(logits, whole.targets.clone()).backward(), &model);
        let single = flat(&model, &grads);
        for ranks in [2, 3, 5] {
            let gap = relative_gap(&split_gradient(&model, &whole, ranks, true), &single);
            assert!(
                gap < 2e-5,
                "{name} on {ranks} ranks: gradients differ by {gap:e} (relative)"
            );
        }
        let gap = relative_gap(&split_gradient(&model, &whole, 2, false), &single);
        assert!(
            gap > 1e-3,
            "{name}: the control without state gradients agrees ({gap:e})"
        );
    }
}

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
