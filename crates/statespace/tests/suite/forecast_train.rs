//! `ssm train` on forecast tasks: SpaceTime, a mixer stack, TSM2 and
//! Chimera train on ETT windows, the reported test MSE / MAE are those of the best
//! checkpoint recomputed window by window in f64, early stopping ends a run
//! and a resumed run stays stopped, and bad settings are named errors.

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use rand::SeedableRng;
use statespace::io::HostTensor;
use statespace::tasks::Split;
use statespace::train::checkpoint::load_model;
use statespace::train::forecast::Forecasting;
use statespace::train::{MetricRow, Observer, RunDir, TrainConfig, train};

use crate::common::training_turn;

type B = Autodiff<Flex>;

struct Quiet;

impl Observer for Quiet {
    fn step(&mut self, _: u64, _: u64, _: Option<(f64, f64)>) {}
    fn eval(&mut self, _: &MetricRow) {}
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("statespace-forecast-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const SPACETIME: &str = r#"
seed = 1
[task]
kind = "forecast"
data = "etth1"
splits = [1200, 300, 300]
features = "S"
lag = 72
horizon = 12
loss = "rmse"
[model]
mixer = "spacetime"
d_model = 16
n_layers = 2
d_state = 8
dropout = 0.25
[optim]
lr = 1e-3
[schedule]
steps = 6
warmup = 1
batch_size = 16
eval_every = 3
"#;

const STACK: &str = r#"
seed = 2
[task]
kind = "forecast"
data = "etth2"
splits = [1200, 300, 300]
features = "M"
lag = 24
horizon = 6
[model]
mixer = "s4d"
d_model = 8
n_layers = 1
d_state = 4
[schedule]
steps = 4
warmup = 1
batch_size = 32
eval_every = 2
"#;

const TSM2: &str = r#"
seed = 3
[task]
kind = "forecast"
data = "etth1"
splits = [1200, 300, 300]
features = "M"
lag = 24
horizon = 6
[model]
mixer = "tsm2"
d_model = 8
n_layers = 2
d_state = 4
patch_len = 8
stride = 4
dropout = 0.1
[schedule]
steps = 4
warmup = 1
batch_size = 16
eval_every = 2
"#;

const CHIMERA: &str = r#"
seed = 4
[task]
kind = "forecast"
data = "etth1"
splits = [1200, 300, 300]
features = "MS"
lag = 16
horizon = 4
[model]
mixer = "chimera"
d_model = 4
n_layers = 1
d_state = 2
[schedule]
steps = 4
warmup = 1
batch_size = 8
eval_every = 2
"#;

/// Test MSE and MAE of the run's best checkpoint, window by window in f64.
fn recomputed_test_metrics(config: &TrainConfig, run: &RunDir) -> (f64, f64) {
    let objective = Forecasting::new(config).unwrap();
    let device = Default::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let model = load_model(
        &run.best(),
        objective.model().init::<Flex>(&device, &mut rng).unwrap(),
    )
    .unwrap();
    let data = objective.data();
    let (mut sq, mut abs, mut n) = (0.0, 0.0, 0usize);
    for i in 0..data.windows(Split::Test) {
        let batch = objective.windows::<Flex>(Split::Test, &[i], &device);
        let forecast =
            HostTensor::from_tensor(&objective.predict(&model, batch.x).unwrap().forecast);
        let truth = data.window(Split::Test, i).targets;
        assert_eq!(forecast.data.len(), truth.len());
        for (p, t) in forecast.data.iter().zip(&truth) {
            // The data are f32 on the model's side.
            let t = *t as f32 as f64;
            sq += (p - t).powi(2);
            abs += (p - t).abs();
            n += 1;
        }
    }
    (sq / n as f64, abs / n as f64)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * b.abs().max(1e-6)
}

#[test]
fn every_forecaster_trains_and_reports_its_test_metrics() {
    let _turn = training_turn();
    for (name, text) in [
        ("spacetime", SPACETIME),
        ("stack", STACK),
        ("tsm2", TSM2),
        ("chimera", CHIMERA),
    ] {
        let config = TrainConfig::from_toml(text, &[]).unwrap();
        let run = RunDir::new(scratch(name));
        let summary = train::<B>(&config, &run, false, &Default::default(), &mut Quiet).unwrap();
        assert_eq!(summary.columns, ["mse", "mae"]);
        assert!(summary.test.loss.is_finite() && summary.test.loss > 0.0);
        let (mse, mae) = recomputed_test_metrics(&config, &run);
        assert!(
            close(summary.test.loss, mse) && close(summary.test.metric, mae),
            "{name}: reported test mse {} mae {}, recomputed {mse} {mae}",
            summary.test.loss,
            summary.test.metric
        );
        let header = std::fs::read_to_string(run.metrics()).unwrap();
        assert!(
            header.starts_with("step,split,mse,mae,lr_scale\n"),
            "{header}"
        );
    }
}

/// sktime's small series (installed by scripts/setup-data.sh) train as CSV
/// files: each reaches a finite test MSE that its best checkpoint
/// reproduces window by window.
#[test]
fn sktime_small_series_train_from_their_csv_files() {
    let _turn = training_turn();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/series");
    for (file, target, splits, lag, horizon) in [
        ("Airline.csv", "Passengers", [96, 24, 24], 24, 12),
        ("Lynx.csv", "0", [80, 17, 17], 16, 4),
        ("ShampooSales.csv", "Sales", [24, 6, 6], 6, 3),
    ] {
        let path = dir.join(file);
        let text = format!(
            "seed = 5\n[task]\nkind = \"forecast\"\ndata = \"{}\"\nsplits = {splits:?}\nfeatures = \"S\"\ntarget = \"{target}\"\nlag = {lag}\nhorizon = {horizon}\n[model]\nmixer = \"s4d\"\nd_model = 8\nn_layers = 1\nd_state = 4\n[schedule]\nsteps = 4\nwarmup = 1\nbatch_size = 8\neval_every = 2\n",
            path.display()
        );
        let config = TrainConfig::from_toml(&text, &[]).unwrap();
        let run = RunDir::new(scratch(file));
        let summary = train::<B>(&config, &run, false, &Default::default(), &mut Quiet)
            .unwrap_or_else(|e| panic!("{file}: {e} (run scripts/setup-data.sh)"));
        let (mse, mae) = recomputed_test_metrics(&config, &run);
        assert!(mse.is_finite() && mse > 0.0, "{file}: mse {mse}");
        assert!(
            close(summary.test.loss, mse) && close(summary.test.metric, mae),
            "{file}: reported {} / {}, recomputed {mse} / {mae}",
            summary.test.loss,
            summary.test.metric
        );
    }
}

#[test]
fn early_stopping_ends_the_run_and_a_resume_stays_stopped() {
    let _turn = training_turn();
    // A learning rate this large makes validation worse after the first
    // evaluation, so patience 1 stops the run at the second.
    let overrides = [
        "schedule.steps=40".to_string(),
        "schedule.eval_every=2".to_string(),
        "schedule.patience=1".to_string(),
        "optim.lr=0.5".to_string(),
    ];
    let config = TrainConfig::from_toml(STACK, &overrides).unwrap();
    let run = RunDir::new(scratch("patience"));
    let summary = train::<B>(&config, &run, false, &Default::default(), &mut Quiet).unwrap();
    let val: Vec<&MetricRow> = summary
        .metrics
        .iter()
        .filter(|r| r.split == "val")
        .collect();
    assert!(summary.steps < 40, "the run did not stop early");
    let best = val
        .iter()
        .position(|r| r.step == summary.best_val.step)
        .unwrap();
    assert_eq!(val.len(), best + 2, "stopped one evaluation after the best");
    let resumed = train::<B>(&config, &run, true, &Default::default(), &mut Quiet).unwrap();
    assert_eq!(resumed.steps, summary.steps);
    assert_eq!(resumed.test, summary.test);
}

#[test]
fn bad_forecast_settings_are_named() {
    let err = |text: &str, overrides: &[&str]| {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let config = match TrainConfig::from_toml(text, &overrides) {
            Ok(c) => c,
            Err(e) => return e.to_string(),
        };
        match Forecasting::new(&config) {
            Ok(_) => panic!("{overrides:?} was accepted"),
            Err(e) => e.to_string(),
        }
    };
    let e = err(SPACETIME, &["task.lag=40"]);
    assert!(e.contains("task.lag"), "{e}");
    let e = err(SPACETIME, &["task.features=\"M\""]);
    assert!(e.contains("task.features"), "{e}");
    let e = err(SPACETIME, &["task.data=\"weather\""]);
    assert!(e.contains("task.data"), "{e}");
    let e = err(SPACETIME, &["task.data=\"/nonexistent/series.csv\""]);
    assert!(e.contains("/nonexistent/series.csv"), "{e}");
    let no_splits = SPACETIME.replace("splits = [1200, 300, 300]\n", "");
    let e = err(&no_splits, &["task.data=\"/nonexistent/series.csv\""]);
    assert!(e.contains("task.splits"), "{e}");
    let e = err(SPACETIME, &["task.horizon=5000"]);
    assert!(e.contains("horizon"), "{e}");
    let e = err(SPACETIME, &["task.target=\"nope\""]);
    assert!(e.contains("nope"), "{e}");
    let e = err(SPACETIME, &["task.lags=3"]);
    assert!(e.contains("lags"), "{e}");
    let e = err(STACK, &["schedule.patience=0"]);
    assert!(e.contains("schedule.patience"), "{e}");
    let e = err(TSM2, &["model.patch_len=30"]);
    assert!(e.contains("model.patch_len"), "{e}");
    let e = err(TSM2, &["model.stride=0"]);
    assert!(e.contains("model.stride"), "{e}");
    let e = err(CHIMERA, &["model.d_state=0"]);
    assert!(e.contains("d_state"), "{e}");
    // SpaceTime is a forecaster, not a classifier's mixer.
    let config = TrainConfig::from_toml(
        "[task]\nkind = \"listops\"\n[model]\nmixer = \"spacetime\"\n",
        &[],
    )
    .unwrap();
    let task = config.task.build().unwrap();
    let e = config
        .model
        .classifier(task.as_ref())
        .unwrap_err()
        .to_string();
    assert!(e.contains("forecast"), "{e}");
}
