//! Time-series classification on the UCR/UEA archive's sets that ship in
//! the sktime wheel (`scripts/setup-data.sh` extracts them into
//! `data/ucr/<Name>/<Name>_{TRAIN,TEST}.ts`): the archive's own train/test
//! split, a validation part drawn from the training series by the seed,
//! every channel of every step fed to the model as values.

use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Example, Split, Task};
use crate::error::{Error, Result};
use crate::io::{TsFile, TsSeries, read_ts_file};
use crate::models::classifier::InputKind;

/// The sets `scripts/setup-data.sh` installs.
pub const UCR_SETS: [&str; 8] = [
    "ACSF1",
    "ArrowHead",
    "BasicMotions",
    "GunPoint",
    "ItalyPowerDemand",
    "JapaneseVowels",
    "OSULeaf",
    "PLAID",
];

/// Series classification settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeriesClassificationConfig {
    /// The set's name (one of [`UCR_SETS`], or any set in the folder).
    pub name: String,
    /// The folder holding `<name>/<name>_TRAIN.ts` (default:
    /// `$SSM_DATA_DIR/ucr`, `SSM_DATA_DIR` defaulting to `data`).
    pub dir: Option<PathBuf>,
    /// Fraction of the training series held out for validation.
    pub val_fraction: f64,
    /// Seed of that hold-out.
    pub seed: u64,
}

impl Default for SeriesClassificationConfig {
    fn default() -> Self {
        Self {
            name: "GunPoint".into(),
            dir: None,
            val_fraction: 0.2,
            seed: 0,
        }
    }
}

/// A UCR/UEA classification set.
pub struct SeriesClassification {
    name: String,
    classes: usize,
    channels: usize,
    train: Vec<TsSeries>,
    val: Vec<TsSeries>,
    test: Vec<TsSeries>,
}

impl SeriesClassification {
    /// Reads the set's files and draws the validation hold-out; fails
    /// naming the key or file at fault (a missing set says how to install
    /// it; train and test must declare the same labels and dimensions).
    pub fn new(config: SeriesClassificationConfig) -> Result<Self> {
        if !(0.0..1.0).contains(&config.val_fraction) {
            return Err(Error::config(
                "task.val_fraction",
                format!("must be in [0, 1), got {}", config.val_fraction),
            ));
        }
        let dir = config
            .dir
            .clone()
            .unwrap_or_else(|| super::data_dir().join("ucr"));
        let file = |part: &str| -> Result<TsFile> {
            let path = dir
                .join(&config.name)
                .join(format!("{}_{part}.ts", config.name));
            if !path.is_file() {
                return Err(Error::config(
                    "task.name",
                    format!(
                        "{} not found; scripts/setup-data.sh installs {} into data/ucr",
                        path.display(),
                        UCR_SETS.join(", ")
                    ),
                ));
            }
            read_ts_file(path)
        };
        let (train_file, test_file) = (file("TRAIN")?, file("TEST")?);
        if train_file.labels != test_file.labels || train_file.dimensions != test_file.dimensions {
            return Err(Error::config(
                "task.name",
                format!(
                    "{}: the TRAIN and TEST files declare different labels or dimensions",
                    config.name
                ),
            ));
        }
        let mut train = train_file.series;
        if train.len() < 2 {
            return Err(Error::config(
                "task.name",
                format!("{}: fewer than 2 training series", config.name),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5EB1_E5C1);
        train.shuffle(&mut rng);
        let held = ((train.len() as f64) * config.val_fraction).round() as usize;
        let held = held.min(train.len().saturating_sub(1)).max(1);
        let val = train.split_off(train.len() - held);
        Ok(Self {
            name: config.name,
            classes: train_file.labels.len().max(2),
            channels: train_file.dimensions,
            train,
            val,
            test: test_file.series,
        })
    }

    fn part(&self, split: Split) -> &[TsSeries] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }
}

impl Task for SeriesClassification {
    fn name(&self) -> &str {
        &self.name
    }

    fn input(&self) -> InputKind {
        InputKind::Values {
            channels: self.channels,
        }
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn max_len(&self) -> usize {
        [&self.train, &self.val, &self.test]
            .iter()
            .flat_map(|p| p.iter().map(|s| s.len))
            .max()
            .unwrap_or(1)
    }

    fn size(&self, split: Split) -> usize {
        self.part(split).len()
    }

    fn example(&self, split: Split, index: usize) -> Example {
        let s = &self.part(split)[index];
        Example::Values {
            values: s.values.clone(),
            len: s.len,
            label: s.class as i64,
        }
    }
}
