//! A run stopped after a checkpoint and resumed equals an uninterrupted run:
//! the same metrics at every evaluation and the same final parameters
//! (data order, dropout draws and optimiser state all restored).

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use statespace::error::Error;
use statespace::tasks::TaskConfig;
use statespace::train::run::read_metrics;
use statespace::train::{RunDir, TrainConfig, train};

use crate::common::{Quiet, training_turn};

const CONFIG: &str = r#"
seed = 3
[task]
kind = "listops"
min_length = 10
max_length = 40
train_size = 64
val_size = 16
test_size = 16
[model]
mixer = "s4d"
d_model = 8
n_layers = 2
d_state = 8
dropout = 0.1
[schedule]
steps = 12
warmup = 2
batch_size = 8
eval_every = 4
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("statespace-resume-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    check_resume(&[], "layer");
}

/// S4's LRA blocks: post-norm BatchNorm, whose running statistics change in
/// the forward pass and are saved beside the parameters.
#[test]
fn resumed_run_with_batch_norm_equals_uninterrupted_run() {
    let overrides = [
        "model.norm=\"batch\"".to_string(),
        "model.prenorm=false".to_string(),
    ];
    let last = check_resume(&overrides, "batch");
    let stats: Vec<&(String, Vec<f64>)> = last
        .iter()
        .filter(|(n, _)| n.ends_with("running_mean") || n.ends_with("running_var"))
        .collect();
    assert_eq!(
        stats.len(),
        4,
        "two blocks' running statistics in the checkpoint"
    );
    for (name, values) in stats {
        let init = if name.ends_with("running_mean") {
            0.0
        } else {
            1.0
        };
        assert!(values.iter().any(|&v| v != init), "{name} never moved");
    }
}

/// A run stopped between evaluations (`Observer::stop_between`, as
/// `ssm train --stop-at` does) writes its last checkpoint at that step and
/// resumes from it exactly: the same validation and test rows and final
/// parameters as an uninterrupted run. Only the train row of the interval
/// it was stopped in differs: it covers the steps after the resume. A stop
/// before the first evaluation leaves a metrics file with no rows.
#[test]
fn a_run_stopped_between_evaluations_resumes_exactly() {
    let _turn = training_turn();
    type B = Autodiff<Flex>;
    let device = Default::default();
    let config = TrainConfig::from_toml(CONFIG, &[]).unwrap();
    let full = RunDir::new(scratch("full-between"));
    let summary = train::<B>(&config, &full, false, &device, &mut Quiet { stop_at: None }).unwrap();
    let a = read_metrics(&full.metrics()).unwrap();
    let load = |run: &RunDir| last_tensors(run, &["model.", "optim."]);
    // eval_every is 4: step 2 comes before the first evaluation, step 6
    // between those of steps 4 and 8.
    for stop in [2, 6] {
        let split = RunDir::new(scratch(&format!("split-between-{stop}")));
        let err = train::<B>(
            &config,
            &split,
            false,
            &device,
            &mut Quiet {
                stop_at: Some(stop),
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Interrupted { step } if step == stop),
            "{err}"
        );
        let info = statespace::train::checkpoint::info(&split.last()).unwrap();
        assert_eq!(info.step, stop, "the last checkpoint is the stop's");
        let rows = read_metrics(&split.metrics()).unwrap();
        assert_eq!(rows.len(), if stop == 2 { 0 } else { 2 });
        let resumed =
            train::<B>(&config, &split, true, &device, &mut Quiet { stop_at: None }).unwrap();
        let b = read_metrics(&split.metrics()).unwrap();
        assert_eq!(a.len(), b.len());
        // The first evaluation after the stop.
        let next = stop.next_multiple_of(4);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.step, &x.split), (y.step, &y.split));
            if x.split == "train" && x.step == next {
                assert_ne!(
                    x.loss, y.loss,
                    "the interval's train row covers fewer steps"
                );
            } else {
                assert_eq!(x, y, "stop {stop}: row {} {} differs", x.step, x.split);
            }
        }
        assert_eq!(summary.test, resumed.test);
        assert_eq!(
            load(&full),
            load(&split),
            "stop {stop}: final state differs"
        );
        std::fs::remove_dir_all(&split.dir).unwrap();
    }
    std::fs::remove_dir_all(&full.dir).unwrap();
}

/// Runs `CONFIG` with `overrides` whole and in two parts, asserts they agree,
/// and returns the last checkpoint's model tensors.
fn check_resume(overrides: &[String], tag: &str) -> Vec<(String, Vec<f64>)> {
    let _turn = training_turn();
    type B = Autodiff<Flex>;
    let device = Default::default();
    let config = TrainConfig::from_toml(CONFIG, overrides).unwrap();

    let full = RunDir::new(scratch(&format!("full-{tag}")));
    let summary = train::<B>(&config, &full, false, &device, &mut Quiet { stop_at: None }).unwrap();

    let split = RunDir::new(scratch(&format!("split-{tag}")));
    let err = train::<B>(
        &config,
        &split,
        false,
        &device,
        &mut Quiet { stop_at: Some(8) },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Interrupted { step: 8 }), "{err}");
    let resumed = train::<B>(&config, &split, true, &device, &mut Quiet { stop_at: None }).unwrap();

    let a = read_metrics(&full.metrics()).unwrap();
    let b = read_metrics(&split.metrics()).unwrap();
    assert_eq!(a, b, "metrics of the resumed run differ");
    assert_eq!(summary.test, resumed.test);

    let load = |run: &RunDir| last_tensors(run, &["model."]);
    assert_eq!(load(&full), load(&split), "final parameters differ");

    // `best` holds the model alone: the same parameter names as `last`, no
    // optimiser moments, and resuming from it is refused by name.
    let best = statespace::io::SafetensorsFile::open(full.best()).unwrap();
    let last = statespace::io::SafetensorsFile::open(full.last()).unwrap();
    let names = |f: &statespace::io::SafetensorsFile, prefix: &str| {
        let mut n: Vec<String> = f
            .names()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&best, "model."), names(&last, "model."));
    assert!(names(&best, "optim.").is_empty());
    assert!(!names(&last, "optim.").is_empty());
    let mut optim = statespace::train::optim::AdamW::<B>::new(config.optim.clone());
    let err = statespace::train::checkpoint::load_optim(&full.best(), &mut optim, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no optimiser state"), "{err}");
    let tensors = load(&full);
    std::fs::remove_dir_all(&full.dir).unwrap();
    std::fs::remove_dir_all(&split.dir).unwrap();
    tensors
}

/// The tensors of `run`'s last checkpoint whose names start with one of
/// `prefixes`, in the file's order.
fn last_tensors(run: &RunDir, prefixes: &[&str]) -> Vec<(String, Vec<f64>)> {
    let file = statespace::io::SafetensorsFile::open(run.last()).unwrap();
    file.names()
        .into_iter()
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
        .map(|n| (n.clone(), file.f64(&n).unwrap().data))
        .collect()
}

#[test]
fn resume_refuses_a_different_config() {
    let _turn = training_turn();
    type B = Autodiff<Flex>;
    let device = Default::default();
    let config = TrainConfig::from_toml(CONFIG, &[]).unwrap();
    let run = RunDir::new(scratch("other"));
    let _ = train::<B>(
        &config,
        &run,
        false,
        &device,
        &mut Quiet { stop_at: Some(4) },
    );
    let other = TrainConfig::from_toml(CONFIG, &["model.d_model=16".into()]).unwrap();
    let err = train::<B>(&other, &run, true, &device, &mut Quiet { stop_at: None })
        .unwrap_err()
        .to_string();
    assert!(err.contains("different config"), "{err}");
    std::fs::remove_dir_all(&run.dir).unwrap();
}

#[test]
fn bad_configs_are_clear_errors() {
    let err = TrainConfig::from_toml("[model]\nmixr = 's4d'\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("mixr"), "{err}");
    let err = TrainConfig::from_toml("[task\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("malformed TOML"), "{err}");
    let err = TrainConfig::from_toml("[task]\nkind = 'imagenet'\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("imagenet"), "{err}");
    let err = TrainConfig::from_toml("", &["model.mixer=transformer".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("transformer"), "{err}");
    let err = TrainConfig::from_toml("", &["model.embedding_std=0".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.embedding_std"), "{err}");
    let err = TrainConfig::from_toml("", &["model.batch_norm_momentum=0.05".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("only with norm = \"batch\""), "{err}");
    let batch = "[model]\nnorm = \"batch\"\n";
    for bad in ["0", "1.5", "nan"] {
        let err = TrainConfig::from_toml(batch, &[format!("model.batch_norm_momentum={bad}")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.batch_norm_momentum"), "{bad}: {err}");
    }
}

#[test]
fn shipped_configs_parse_and_build_their_models() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Data files live in the repository's data/, not the test's directory.
        let data = dir.join("../data/digits.csv.gz");
        let overrides = if text.contains("kind = \"digits\"") {
            vec![format!("task.path=\"{}\"", data.display())]
        } else if text.contains("kind = \"fashion_mnist\"") {
            let fashion = dir.join("../data/fashion-mnist");
            if !fashion.is_dir() {
                // scripts/setup-data.sh skips it where apt-get cannot
                // fetch the package: the config must still parse.
                TrainConfig::from_toml(&text, &[])
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
                continue;
            }
            vec![format!("task.dir=\"{}\"", fashion.display())]
        } else if text.contains("kind = \"series_classification\"") {
            vec![format!(
                "task.dir=\"{}\"",
                dir.join("../data/ucr").display()
            )]
        } else {
            vec![]
        };
        let config = TrainConfig::from_toml(&text, &overrides)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if matches!(config.task, TaskConfig::Forecast(_)) {
            statespace::train::forecast::Forecasting::new(&config)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else if matches!(config.task, TaskConfig::Lm(_)) {
            // The corpus may be absent (scripts/setup-data.sh skips it
            // where apt-get cannot fetch it); the model needs no data.
            statespace::train::lm::model_config(&config)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else {
            let task = config.task.build().unwrap();
            config
                .model
                .classifier(task.as_ref())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        seen += 1;
    }
    assert!(seen >= 15, "configs/ holds {seen} configs");
}

#[test]
fn a_run_killed_before_its_first_checkpoint_resumes_from_step_one() {
    let _turn = training_turn();
    type B = Autodiff<Flex>;
    let device = Default::default();
    let config = TrainConfig::from_toml(CONFIG, &[]).unwrap();
    let full = RunDir::new(scratch("early-full"));
    train::<B>(&config, &full, false, &device, &mut Quiet { stop_at: None }).unwrap();
    // As a kill after the config was written and before any checkpoint leaves it.
    let early = RunDir::new(scratch("early"));
    std::fs::create_dir_all(&early.dir).unwrap();
    std::fs::write(early.config(), config.to_toml()).unwrap();
    train::<B>(&config, &early, true, &device, &mut Quiet { stop_at: None }).unwrap();
    assert_eq!(
        read_metrics(&full.metrics()).unwrap(),
        read_metrics(&early.metrics()).unwrap()
    );
    // Resuming a folder that holds no run is an error, and creates nothing.
    let none = RunDir::new(scratch("none"));
    let err = train::<B>(&config, &none, true, &device, &mut Quiet { stop_at: None }).unwrap_err();
    assert!(err.to_string().contains("no config.toml"), "{err}");
    assert!(!none.dir.exists());
    for dir in [full.dir, early.dir] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_locked_or_taken_run_folder_is_refused() {
    type B = Autodiff<Flex>;
    let device = Default::default();
    let config = TrainConfig::from_toml(CONFIG, &[]).unwrap();
    let run = RunDir::new(scratch("locked"));
    let held = run.acquire().unwrap();
    let err = train::<B>(&config, &run, false, &device, &mut Quiet { stop_at: None }).unwrap_err();
    assert!(err.to_string().contains("in use by another"), "{err}");
    drop(held);
    // A folder that already holds a run is not overwritten by a new one.
    std::fs::write(run.config(), "seed = 99\n").unwrap();
    let err = train::<B>(&config, &run, false, &device, &mut Quiet { stop_at: None }).unwrap_err();
    assert!(err.to_string().contains("already holds a run"), "{err}");
    assert_eq!(
        std::fs::read_to_string(run.config()).unwrap(),
        "seed = 99\n"
    );
    std::fs::remove_dir_all(run.dir).unwrap();
}

#[test]
fn bad_optimiser_values_and_injected_overrides_are_refused() {
    for (set, key) in [
        ("optim.lr=-0.1", "optim.lr"),
        ("optim.weight_decay=-1", "optim.weight_decay"),
        ("optim.ssm_lr=nan", "optim.ssm_lr"),
        ("optim.beta2=1.0", "optim.beta2"),
        ("optim.eps=0", "optim.eps"),
        ("optim.grad_clip=-1", "optim.grad_clip"),
        ("model.dropout=1.5", "model.dropout"),
    ] {
        let err = TrainConfig::from_toml(CONFIG, &[set.to_string()]).unwrap_err();
        assert!(err.to_string().contains(key), "{set}: {err}");
    }
    for injected in [
        "seed=1\n[schedule]\nsteps = 1",
        "schedule.steps=5\r",
        "task.kind=listops\u{0}",
    ] {
        let err = TrainConfig::from_toml(CONFIG, &[injected.to_string()]).unwrap_err();
        assert!(err.to_string().contains("one line"), "{injected:?}: {err}");
    }
}

#[test]
fn a_batch_that_cannot_fit_in_memory_is_refused_before_training() {
    if statespace::size::available_memory().is_none() {
        return;
    }
    type B = Autodiff<Flex>;
    let config = TrainConfig::from_toml(CONFIG, &["schedule.batch_size=100000000".into()]).unwrap();
    let run = RunDir::new(scratch("huge"));
    let err = train::<B>(
        &config,
        &run,
        false,
        &Default::default(),
        &mut Quiet { stop_at: None },
    )
    .unwrap_err();
    assert!(err.to_string().contains("schedule.batch_size"), "{err}");
    let _ = std::fs::remove_dir_all(run.dir);
    let config = TrainConfig::from_toml(CONFIG, &["model.d_model=1000000".into()]).unwrap();
    let run = RunDir::new(scratch("wide"));
    let err = train::<B>(
        &config,
        &run,
        false,
        &Default::default(),
        &mut Quiet { stop_at: None },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("model.d_model") || err.to_string().contains("memory"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(run.dir);
}

#[test]
fn a_diverging_run_stops_with_a_non_finite_loss_before_any_checkpoint() {
    let _turn = training_turn();
    type B = Autodiff<Flex>;
    let device = Default::default();
    // Steps of 1e30 overflow the parameters after the first update.
    let config = TrainConfig::from_toml(
        CONFIG,
        &[
            "optim.lr=1e30".into(),
            "schedule.warmup=0".into(),
            "model.dropout=0.0".into(),
        ],
    )
    .unwrap();
    let run = RunDir::new(scratch("diverging"));
    let err = train::<B>(&config, &run, false, &device, &mut Quiet { stop_at: None }).unwrap_err();
    assert!(
        matches!(&err, Error::NonFinite { name, message } if name == "loss" && message.contains("..=")),
        "{err}"
    );
    assert!(!run.last().exists(), "a diverged run wrote a checkpoint");
}
