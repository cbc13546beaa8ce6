//! Sequence-to-sequence tasks (selective copying, induction heads, MQAR):
//! the classifier reads its outputs at the target steps, identically in the
//! convolution/scan and the recurrent views, and trains through `train`.

use burn::backend::{Autodiff, Flex};
use rand::SeedableRng;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::models::classifier::{Classifier, Encoder, Readout};
use statespace::tasks::{Example, Split, Task};
use statespace::train::data::collate;
use statespace::train::{MetricRow, Observer, RunDir, TrainConfig, train};

use crate::common::training_turn;

fn config(task: &str, mixer: &str) -> TrainConfig {
    let text = format!(
        r#"
seed = 1
[task]
{task}
train_size = 64
val_size = 8
test_size = 8
[model]
mixer = "{mixer}"
d_model = 16
n_layers = 2
d_state = 8
headdim = 8
chunk_size = 8
[schedule]
steps = 4
warmup = 1
batch_size = 4
eval_every = 2
"#
    );
    TrainConfig::from_toml(&text, &[]).unwrap()
}

/// The classifier `config` builds for `task`, initialised from seed 0.
fn model(config: &TrainConfig, task: &dyn Task) -> Classifier<Flex> {
    config
        .model
        .classifier(task)
        .unwrap()
        .init::<Flex>(
            &Default::default(),
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
        )
        .unwrap()
}

/// The error that refuses `config`'s model for its task, as a string.
fn refusal(config: &TrainConfig) -> String {
    let task = config.task.build().unwrap();
    config
        .model
        .classifier(task.as_ref())
        .and_then(|c| c.validate())
        .unwrap_err()
        .to_string()
}

const TASKS: [(&str, &str); 3] = [
    (
        "kind = \"selective_copying\"\nlength = 24\ntokens = 4\nvocab = 8",
        "mamba",
    ),
    (
        "kind = \"induction_heads\"\nvocab = 8\nlength = 20\ntest_length = 37",
        "mamba2",
    ),
    (
        "kind = \"mqar\"\nvocab = 64\nlength = 32\nkv_pairs = 4\ntest_length = 48\ntest_kv_pairs = 6",
        "s4d",
    ),
];

#[test]
fn step_outputs_agree_between_the_parallel_and_recurrent_views() {
    let device = Default::default();
    for (task_text, mixer) in TASKS {
        let config = config(task_text, mixer);
        let task = config.task.build().unwrap();
        assert!(task.step_targets());
        let model = model(&config, task.as_ref());
        // Test examples may be longer than training ones (length generalisation).
        let examples: Vec<Example> = (0..3).map(|i| task.example(Split::Test, i)).collect();
        let batch = collate::<Flex>(task.as_ref(), &examples, &device);
        let targets: usize = examples
            .iter()
            .map(|e| match e {
                Example::Steps { targets, .. } => targets.len(),
                _ => panic!("step task"),
            })
            .sum();
        let parallel = HostTensor::from_tensor(
            &model
                .forward(batch.inputs.clone(), batch.readout())
                .unwrap(),
        );
        let recurrent = HostTensor::from_tensor(
            &model
                .forward_recurrent(batch.inputs.clone(), batch.readout())
                .unwrap(),
        );
        assert_eq!(parallel.shape, vec![targets, task.classes()], "{mixer}");
        let err = rel_err(&recurrent.data, &parallel.data);
        assert!(
            err < 1e-4,
            "{mixer} on {}: recurrent vs parallel {err:.2e}",
            task.name()
        );
    }
}

struct Quiet;

impl Observer for Quiet {
    fn step(&mut self, _: u64, _: u64, recent: Option<(f64, f64)>) {
        if let Some((loss, accuracy)) = recent {
            assert!(loss.is_finite() && (0.0..=1.0).contains(&accuracy));
        }
    }
    fn eval(&mut self, _: &MetricRow) {}
}

#[test]
fn step_tasks_train_and_report_per_target_accuracy() {
    let _turn = training_turn();
    let config = config(TASKS[0].0, "mamba");
    let dir = std::env::temp_dir().join(format!("statespace-steps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let summary = train::<Autodiff<Flex>>(
        &config,
        &RunDir::new(&dir),
        false,
        &Default::default(),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(summary.steps, 4);
    assert!((0.0..=1.0).contains(&summary.test.metric));
    // Accuracy counts targets: 8 test sequences × 4 copied tokens.
    assert!((summary.test.metric * 32.0 - (summary.test.metric * 32.0).round()).abs() < 1e-9);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bidirectional_models_are_refused_for_step_tasks() {
    let mut config = config(TASKS[1].0, "s4d");
    config.model.bidirectional = true;
    let err = refusal(&config);
    assert!(
        err.contains("bidirectional") && err.contains("future"),
        "{err}"
    );
}

/// The convolutional family's settings that cannot work are named: a state
/// size for the stateless convolutions, the bidirectional flag where the
/// mixer has none, and a bidirectional S5 on a task read at steps.
#[test]
fn convolutional_mixers_name_their_bad_settings() {
    let refused = |mixer: &str, edit: &dyn Fn(&mut TrainConfig)| {
        let mut config = config(TASKS[1].0, mixer);
        edit(&mut config);
        refusal(&config)
    };
    for mixer in ["hyena", "long_conv"] {
        let err = refused(mixer, &|_| {});
        assert!(err.contains("model.d_state"), "{mixer}: {err}");
    }
    let err = refused("h3", &|c| c.model.bidirectional = true);
    assert!(err.contains("model.bidirectional"), "{err}");
    let err = refused("s5", &|c| c.model.bidirectional = true);
    assert!(err.contains("future"), "{err}");
    let mut config = config(TASKS[1].0, "s5");
    config.model.blocks = 3;
    let err = refusal(&config);
    assert!(err.contains("blocks"), "{err}");
}

/// `model.tie_embeddings` makes the head the token embedding's table: the
/// logits at the target steps are the features there times Eᵀ, without a
/// bias. A task whose classes are not its tokens refuses it.
#[test]
fn a_tied_head_multiplies_the_features_by_the_embedding_table() {
    let device = Default::default();
    let mut config = config(TASKS[2].0, "mamba");
    config.model.tie_embeddings = Some(true);
    let task = config.task.build().unwrap();
    let model = model(&config, task.as_ref());
    assert!(model.decoder.is_none());
    let examples: Vec<Example> = (0..2).map(|i| task.example(Split::Train, i)).collect();
    let batch = collate::<Flex>(task.as_ref(), &examples, &device);
    let Readout::Steps(steps) = batch.readout() else {
        panic!("MQAR is read at steps")
    };
    let logits = HostTensor::from_tensor(
        &model
            .forward(batch.inputs.clone(), batch.readout())
            .unwrap(),
    );
    let features = model.features(batch.inputs.clone()).unwrap();
    let [_, len, d] = features.dims();
    let features = HostTensor::from_tensor(&features);
    let Encoder::Tokens(embedding) = &model.encoder else {
        panic!("a token model")
    };
    let table = HostTensor::from_tensor(&embedding.weight.val());
    let vocab = table.shape[0];
    assert_eq!(logits.shape, vec![steps.len(), vocab]);
    let mut expected = Vec::with_capacity(steps.len() * vocab);
    for &(b, t) in steps {
        let row = &features.data[(b * len + t) * d..][..d];
        for v in 0..vocab {
            let column = &table.data[v * d..][..d];
            expected.push(row.iter().zip(column).map(|(x, e)| x * e).sum::<f64>());
        }
    }
    let err = rel_err(&logits.data, &expected);
    assert!(err < 1e-5, "tied head vs features · Eᵀ: {err:.2e}");

    let mut listops = TrainConfig::from_toml("[task]\nkind = \"listops\"", &[]).unwrap();
    listops.model.tie_embeddings = Some(true);
    let err = refusal(&listops);
    assert!(
        err.contains("tie_embeddings") && err.contains("classes"),
        "{err}"
    );
}
