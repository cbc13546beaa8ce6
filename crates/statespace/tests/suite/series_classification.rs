//! UCR/UEA series classification (the sets `scripts/setup-data.sh`
//! installs from the sktime wheel): the archive's split sizes, channels and
//! lengths, unequal-length series, a short training run, and named errors.

use burn::backend::{Autodiff, Flex};
use statespace::tasks::series_classification::{SeriesClassification, SeriesClassificationConfig};
use statespace::tasks::{Example, Split, Task};
use statespace::train::{MetricRow, Observer, RunDir, TrainConfig, train};

use crate::common::training_turn;

fn set(name: &str) -> SeriesClassification {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/ucr");
    SeriesClassification::new(SeriesClassificationConfig {
        name: name.into(),
        dir: Some(dir),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{name}: {e} (run scripts/setup-data.sh)"))
}

#[test]
fn the_archive_sets_have_their_published_shapes() {
    // (name, train + val, test, channels, classes, longest series)
    for (name, train, test, channels, classes, len) in [
        ("GunPoint", 50, 150, 1, 2, 150),
        ("ItalyPowerDemand", 67, 1029, 1, 2, 24),
        ("BasicMotions", 40, 40, 6, 4, 100),
        ("ArrowHead", 36, 175, 1, 3, 251),
    ] {
        let s = set(name);
        assert_eq!(s.size(Split::Train) + s.size(Split::Val), train, "{name}");
        assert_eq!(s.size(Split::Test), test, "{name}");
        assert_eq!(s.classes(), classes, "{name}");
        assert_eq!(s.max_len(), len, "{name}");
        let Example::Values { values, len, .. } = s.example(Split::Test, 0) else {
            panic!("{name}: not a value series");
        };
        assert_eq!(values.len(), len * channels, "{name}");
    }
    // JapaneseVowels: 12 channels, series of unequal lengths.
    let jv = set("JapaneseVowels");
    let lens: std::collections::BTreeSet<usize> = (0..jv.size(Split::Test))
        .map(|i| jv.example(Split::Test, i).len())
        .collect();
    assert!(lens.len() > 1);
}

struct Quiet;

impl Observer for Quiet {
    fn step(&mut self, _: u64, _: u64, _: Option<(f64, f64)>) {}
    fn eval(&mut self, _: &MetricRow) {}
}

#[test]
fn a_classifier_trains_on_an_archive_set() {
    let _turn = training_turn();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/ucr");
    let text = format!(
        "[task]\nkind = \"series_classification\"\nname = \"ItalyPowerDemand\"\ndir = \"{}\"\n\
         [model]\nmixer = \"s4d\"\nd_model = 8\nn_layers = 1\nd_state = 8\n\
         [schedule]\nsteps = 4\nwarmup = 1\nbatch_size = 16\neval_every = 2\n",
        dir.display()
    );
    let config = TrainConfig::from_toml(&text, &[]).unwrap();
    let run_dir = std::env::temp_dir().join(format!("statespace-ucr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
    let summary = train::<Autodiff<Flex>>(
        &config,
        &RunDir::new(&run_dir),
        false,
        &Default::default(),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(summary.columns, ["loss", "accuracy"]);
    // 1029 test series: the accuracy is a whole number of them.
    let correct = summary.test.metric * 1029.0;
    assert!(
        (correct - correct.round()).abs() < 1e-3,
        "{}",
        summary.test.metric
    );
    std::fs::remove_dir_all(run_dir).unwrap();
}

#[test]
fn a_missing_set_or_bad_fraction_is_named() {
    let err = |c: SeriesClassificationConfig| match SeriesClassification::new(c) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let e = err(SeriesClassificationConfig {
        name: "NoSuchSet".into(),
        ..Default::default()
    });
    assert!(
        e.contains("task.name") && e.contains("setup-data.sh"),
        "{e}"
    );
    let e = err(SeriesClassificationConfig {
        val_fraction: 1.0,
        ..Default::default()
    });
    assert!(e.contains("task.val_fraction"), "{e}");
}
