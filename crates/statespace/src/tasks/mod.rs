//! Deterministic task generators: every example is a pure function of the
//! task's seed, the split and its index, so runs (and resumed runs) see the
//! same data in the same order with no downloads.

pub mod digits;
pub mod fashion_mnist;
pub mod forecast;
pub mod induction_heads;
pub mod listops;
pub mod mqar;
pub mod pathfinder;
pub mod selective_copying;
pub mod series_classification;
pub mod text;

use std::fmt;

use std::path::PathBuf;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::classifier::InputKind;

/// A data split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training set.
    Train,
    /// Validation set.
    Val,
    /// Test set.
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        })
    }
}

/// One example: a sequence and what the model should output.
#[derive(Debug, Clone, PartialEq)]
pub enum Example {
    /// Token ids and a class.
    Tokens {
        /// Token ids, length ≤ the task's max length.
        tokens: Vec<i64>,
        /// Class index.
        label: i64,
    },
    /// Real-valued steps (length × channels, row-major) and a class.
    Values {
        /// Values.
        values: Vec<f32>,
        /// Number of steps.
        len: usize,
        /// Class index.
        label: i64,
    },
    /// Token ids with a target class at some steps (sequence-to-sequence
    /// tasks such as copying and recall).
    Steps {
        /// Token ids.
        tokens: Vec<i64>,
        /// `(step, class)` pairs: the output at `step` should be `class`.
        targets: Vec<(usize, i64)>,
    },
}

impl Example {
    /// Number of steps.
    pub fn len(&self) -> usize {
        match self {
            Example::Tokens { tokens, .. } | Example::Steps { tokens, .. } => tokens.len(),
            Example::Values { len, .. } => *len,
        }
    }

    /// Whether the sequence is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class of a whole-sequence example (`None` for [`Example::Steps`]).
    pub fn label(&self) -> Option<i64> {
        match self {
            Example::Tokens { label, .. } | Example::Values { label, .. } => Some(*label),
            Example::Steps { .. } => None,
        }
    }
}

/// A sequence classification task.
pub trait Task: Send + Sync {
    /// Its name.
    fn name(&self) -> &str;
    /// What the model reads.
    fn input(&self) -> InputKind;
    /// Number of classes.
    fn classes(&self) -> usize;
    /// Longest sequence.
    fn max_len(&self) -> usize;
    /// Token id used for padding (token tasks).
    fn pad(&self) -> i64 {
        0
    }
    /// Examples in `split`.
    fn size(&self, split: Split) -> usize;
    /// Example `index` of `split`.
    fn example(&self, split: Split, index: usize) -> Example;
    /// Whether the targets are read at steps ([`Example::Steps`]) rather
    /// than once per sequence; such tasks need causal models.
    fn step_targets(&self) -> bool {
        false
    }
}

/// The folder `scripts/setup-data.sh` installs data sets into:
/// `$SSM_DATA_DIR`, defaulting to `data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("SSM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// A generator seeded by (task seed, split, index).
pub fn example_rng(seed: u64, split: Split, index: usize) -> ChaCha8Rng {
    let split_id: u64 = match split {
        Split::Train => 1,
        Split::Val => 2,
        Split::Test => 3,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ split_id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(index as u64);
    rng
}

/// Configuration of a task, selected by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskConfig {
    /// Long Range Arena ListOps.
    Listops(listops::ListOpsConfig),
    /// Selective copying (Mamba).
    SelectiveCopying(selective_copying::SelectiveCopyingConfig),
    /// Induction heads.
    InductionHeads(induction_heads::InductionHeadsConfig),
    /// Multi-query associative recall (Zoology).
    Mqar(mqar::MqarConfig),
    /// Long Range Arena Pathfinder (and Path-X at size 128).
    Pathfinder(pathfinder::PathfinderConfig),
    /// Sequential 8×8 digits from scikit-learn (pixel by pixel, or permuted).
    Digits(digits::DigitsConfig),
    /// Sequential 28×28 Fashion-MNIST (pixel by pixel, or permuted; the
    /// files from `scripts/setup-data.sh`).
    FashionMnist(fashion_mnist::FashionMnistConfig),
    /// UCR/UEA time-series classification (`scripts/setup-data.sh`).
    SeriesClassification(series_classification::SeriesClassificationConfig),
    /// Forecasting a time series (the Informer protocol); trained with
    /// MSE/MAE, not as a classification [`Task`].
    Forecast(forecast::ForecastConfig),
    /// Language modelling on a text corpus; trains a language model, not
    /// a classifier.
    Lm(text::TextConfig),
}

impl TaskConfig {
    /// Builds a classification task (every kind but `forecast` and `lm`).
    pub fn build(&self) -> Result<Box<dyn Task>> {
        match self {
            TaskConfig::Listops(c) => Ok(Box::new(listops::ListOps::new(c.clone())?)),
            TaskConfig::SelectiveCopying(c) => Ok(Box::new(
                selective_copying::SelectiveCopying::new(c.clone())?,
            )),
            TaskConfig::InductionHeads(c) => {
                Ok(Box::new(induction_heads::InductionHeads::new(c.clone())?))
            }
            TaskConfig::Mqar(c) => Ok(Box::new(mqar::Mqar::new(c.clone())?)),
            TaskConfig::Pathfinder(c) => Ok(Box::new(pathfinder::Pathfinder::new(c.clone())?)),
            TaskConfig::Digits(c) => Ok(Box::new(digits::Digits::new(c.clone())?)),
            TaskConfig::FashionMnist(c) => {
                Ok(Box::new(fashion_mnist::FashionMnist::new(c.clone())?))
            }
            TaskConfig::SeriesClassification(c) => Ok(Box::new(
                series_classification::SeriesClassification::new(c.clone())?,
            )),
            TaskConfig::Forecast(_) => Err(Error::config(
                "task.kind",
                "a forecast task has no classes: it trains a forecaster, not a classifier",
            )),
            TaskConfig::Lm(_) => Err(Error::config(
                "task.kind",
                "an lm task has no classes: it trains a language model, not a classifier",
            )),
        }
    }
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig::Listops(listops::ListOpsConfig::default())
    }
}

/// The size of `split` among (train, val, test).
pub(crate) fn split_size(split: Split, train: usize, val: usize, test: usize) -> usize {
    match split {
        Split::Train => train,
        Split::Val => val,
        Split::Test => test,
    }
}

/// Checks that every split holds at least one example.
pub(crate) fn check_split_sizes(train: usize, val: usize, test: usize) -> Result<()> {
    nonzero("task.train_size", train)?;
    nonzero("task.val_size", val)?;
    nonzero("task.test_size", test)
}

/// Checks a split size.
pub(crate) fn nonzero(key: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::config(key, "must be at least 1"));
    }
    Ok(())
}
