//! Data-parallel training with simulated ranks (threads of this process on
//! the CPU backend, gradients summed through `LocalGroup`): N ranks on parts
//! of a global batch take the same steps as one rank on the whole batch, to
//! float tolerance, for a classifier and a language model; a run resumes
//! exactly on another number of ranks; and a batch that does not split, or
//! a failing rank, is a clear error rather than a hang.

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use statespace::error::Error;
use statespace::train::run::read_metrics;
use statespace::train::{
    MetricRow, Observer, Parallelism, RunDir, Summary, TrainConfig, train, train_parallel,
};

use crate::common::{Quiet, assert_close_runs, training_turn, word_corpus};

type B = Autodiff<Flex>;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("statespace-dp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// ListOps with an S4D classifier; no dropout (its draws differ per rank).
const CLASSIFIER: &str = r#"
seed = 5
[task]
kind = "listops"
min_length = 10
max_length = 40
train_size = 96
val_size = 16
test_size = 16
[model]
mixer = "s4d"
d_model = 8
n_layers = 2
d_state = 8
dropout = 0.0
[schedule]
steps = 8
warmup = 2
batch_size = 8
eval_every = 4
"#;

/// A byte-level Mamba language model on a small structured corpus.
fn lm_config(dir: &Path) -> String {
    let path = word_corpus(dir, 11, 2000);
    format!(
        r#"
seed = 2
[task]
kind = "lm"
path = "{}"
seq_len = 16
max_eval_tokens = 256
[model]
mixer = "mamba"
d_model = 16
n_layers = 2
[optim]
lr = 0.01
weight_decay = 0.1
[schedule]
steps = 6
warmup = 2
batch_size = 8
eval_every = 3
"#,
        path.display()
    )
}

/// [`train_parallel`] with the batch split between the ranks.
fn data_parallel(
    config: &TrainConfig,
    run: &RunDir,
    resume: bool,
    devices: &[burn_flex::FlexDevice],
    observer: &mut dyn Observer,
) -> statespace::error::Result<Summary> {
    train_parallel::<B>(config, run, resume, devices, Parallelism::Data, observer)
}

/// Trains `config` in a fresh folder on `ranks` simulated devices.
fn run_on(config: &TrainConfig, dir: &Path, ranks: usize) -> (Summary, RunDir) {
    let run = RunDir::new(dir.to_path_buf());
    let devices = vec![Default::default(); ranks];
    let summary =
        data_parallel(config, &run, false, &devices, &mut Quiet { stop_at: None }).unwrap();
    (summary, run)
}

#[test]
fn ranks_on_parts_of_the_batch_equal_one_rank_on_the_whole_batch() {
    let _turn = training_turn();
    let dir = scratch("equal");
    let classifier = TrainConfig::from_toml(CLASSIFIER, &[]).unwrap();
    let lm = TrainConfig::from_toml(&lm_config(&dir), &[]).unwrap();
    for (name, config) in [("classifier", &classifier), ("lm", &lm)] {
        let one = RunDir::new(dir.join(format!("{name}-1")));
        let single = train::<B>(
            config,
            &one,
            false,
            &Default::default(),
            &mut Quiet { stop_at: None },
        )
        .unwrap();
        for ranks in [2, 4] {
            let (parallel, run) = run_on(config, &dir.join(format!("{name}-{ranks}")), ranks);
            let what = format!("{name} on {ranks} ranks");
            assert_close_runs(&single.metrics, &parallel.metrics, 1e-4, &what);
            assert_close_runs(
                &read_metrics(&one.metrics()).unwrap(),
                &read_metrics(&run.metrics()).unwrap(),
                1e-4,
                &what,
            );
            assert_eq!(parallel.steps, single.steps, "{what}");
        }
    }
}

#[test]
fn a_run_resumes_on_another_number_of_ranks() {
    let _turn = training_turn();
    let dir = scratch("resume");
    let config = TrainConfig::from_toml(CLASSIFIER, &[]).unwrap();
    let (whole, _) = run_on(&config, &dir.join("whole"), 1);
    // Two ranks to the first checkpoint, then four to the end.
    let run = RunDir::new(dir.join("split"));
    let devices = vec![Default::default(); 2];
    let err = data_parallel(
        &config,
        &run,
        false,
        &devices,
        &mut Quiet { stop_at: Some(4) },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Interrupted { step: 4 }), "{err}");
    let devices = vec![Default::default(); 4];
    let resumed =
        data_parallel(&config, &run, true, &devices, &mut Quiet { stop_at: None }).unwrap();
    assert_close_runs(&whole.metrics, &resumed.metrics, 1e-4, "resumed on 4 ranks");
}

#[test]
fn a_batch_that_does_not_split_and_a_failing_rank_are_errors() {
    let _turn = training_turn();
    let dir = scratch("errors");
    let config = TrainConfig::from_toml(CLASSIFIER, &[]).unwrap();
    let devices = vec![Default::default(); 3];
    let err = data_parallel(
        &config,
        &RunDir::new(dir.join("three")),
        false,
        &devices,
        &mut Quiet { stop_at: None },
    )
    .unwrap_err();
    assert!(err.to_string().contains("schedule.batch_size"), "{err}");
    // Rank 0 refuses a folder that holds a run; the other rank must stop
    // too, and the error is rank 0's own.
    let (_, taken) = run_on(&config, &dir.join("taken"), 1);
    let devices = vec![Default::default(); 2];
    let err = data_parallel(
        &config,
        &taken,
        false,
        &devices,
        &mut Quiet { stop_at: None },
    )
    .unwrap_err();
    assert!(err.to_string().contains("already holds a run"), "{err}");
}

/// Panics at the first evaluation, as a bug on rank 0 would.
struct Panicking;

impl Observer for Panicking {
    fn step(&mut self, _: u64, _: u64, _: Option<(f64, f64)>) {}
    fn eval(&mut self, _: &MetricRow) {
        panic!("observer failed");
    }
}

#[test]
fn a_rank_that_panics_stops_the_others_instead_of_leaving_them_waiting() {
    let _turn = training_turn();
    let dir = scratch("panic");
    let config = TrainConfig::from_toml(CLASSIFIER, &[]).unwrap();
    let run = RunDir::new(dir.join("run"));
    let devices = vec![Default::default(); 2];
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        data_parallel(&config, &run, false, &devices, &mut Panicking)
    }));
    assert!(outcome.is_err(), "the panic reaches the caller");
}
