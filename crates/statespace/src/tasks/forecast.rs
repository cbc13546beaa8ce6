//! Forecasting data by the Informer protocol (Zhou et al., the ETT
//! benchmark): a series split by time into train / validation / test, each
//! channel standardised with the training split's mean and (population)
//! standard deviation, and windows of `lag` inputs followed by `horizon`
//! targets, every start position of each split in order.
//!
//! The hourly ETT split is 12 / 4 / 4 months of 30 days (8640 / 2880 /
//! 2880 steps); the validation and test windows may start up to `lag` steps
//! before their split so that their first target is the split's first step,
//! as the official data loaders do. Errors are on the standardised scale.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Split;
use crate::error::{Error, Result};
use crate::io::{SeriesTable, parse_series_csv, read_series_csv};

/// ETTh1 (zhouhaoyi/ETDataset, CC BY-ND 4.0), embedded verbatim.
const ETTH1: &str = include_str!("../../../../datasets/ett/ETTh1.csv");
/// ETTh2, embedded verbatim.
const ETTH2: &str = include_str!("../../../../datasets/ett/ETTh2.csv");

/// How each window is centred before the model sees it (SpaceTime's
/// `--data_transform`); forecasts are mapped back before any loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// Subtract each channel's mean over the lag window (`mean`).
    #[default]
    Mean,
    /// The standardised values as they are (`none`).
    None,
}

/// The training criterion (SpaceTime's `--loss`; the reported metrics are
/// always MSE and MAE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Mean squared error.
    #[default]
    Mse,
    /// Its square root (`informer_rmse`).
    Rmse,
    /// Mean absolute error.
    Mae,
}

/// A forecasting task: which series, which channels, how far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForecastConfig {
    /// `etth1` or `etth2` (embedded), or the path of a CSV file (a header,
    /// a timestamp column, one numeric column per channel).
    pub data: String,
    /// Steps of train / validation / test (default for ETTh: 12 / 4 / 4
    /// months; required for a CSV file).
    pub splits: Option<[usize; 3]>,
    /// The target channel.
    pub target: String,
    /// Univariate (S), multivariate (M) or all-to-target (MS).
    pub features: Features,
    /// Input steps.
    pub lag: usize,
    /// Forecast steps.
    pub horizon: usize,
    /// Per-window centring.
    pub transform: Transform,
    /// Training criterion.
    pub loss: Criterion,
    /// SpaceTime's weights of its three loss terms: the forecast, the
    /// open-loop outputs over the lag, the decoder's next-input prediction.
    pub criterion_weights: [f64; 3],
}

impl Default for ForecastConfig {
    fn default() -> Self {
        Self {
            data: "etth1".into(),
            splits: None,
            target: "OT".into(),
            features: Features::Univariate,
            lag: 336,
            horizon: 96,
            transform: Transform::Mean,
            loss: Criterion::Mse,
            criterion_weights: [1.0, 1.0, 1.0],
        }
    }
}

impl ForecastConfig {
    /// Reads the series and cuts its windows; fails naming the key or the
    /// file row at fault.
    pub fn load(&self) -> Result<ForecastData> {
        let (table, splits) = match self.data.as_str() {
            "etth1" => (
                parse_series_csv(ETTH1, "ETTh1.csv")?,
                self.splits.unwrap_or(ETT_HOURLY_MONTHS),
            ),
            "etth2" => (
                parse_series_csv(ETTH2, "ETTh2.csv")?,
                self.splits.unwrap_or(ETT_HOURLY_MONTHS),
            ),
            path if path.ends_with(".csv") => {
                let splits = self.splits.ok_or_else(|| {
                    Error::config(
                        "task.splits",
                        "a CSV file needs its [train, val, test] step counts",
                    )
                })?;
                (read_series_csv(Path::new(path))?, splits)
            }
            other => {
                return Err(Error::config(
                    "task.data",
                    format!("`{other}` is neither etth1, etth2 nor a .csv file"),
                ));
            }
        };
        if self
            .criterion_weights
            .iter()
            .any(|w| !w.is_finite() || *w < 0.0)
        {
            return Err(Error::config(
                "task.criterion_weights",
                "weights must be finite and non-negative",
            ));
        }
        ForecastData::new(
            &table,
            &self.target,
            self.features,
            splits,
            self.lag,
            self.horizon,
        )
    }
}

/// Which channels are inputs and targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Features {
    /// Univariate: the target channel in, the target channel out.
    #[serde(rename = "S")]
    Univariate,
    /// Multivariate: every channel in, every channel out.
    #[serde(rename = "M")]
    Multivariate,
    /// Every channel in, the target channel out.
    #[serde(rename = "MS")]
    MultiToOne,
}

/// The split borders of the hourly ETT sets (steps): 12, 4 and 4 months.
pub const ETT_HOURLY_MONTHS: [usize; 3] = [12 * 30 * 24, 4 * 30 * 24, 4 * 30 * 24];

/// A standardised series cut into the three splits.
#[derive(Debug, Clone)]
pub struct ForecastData {
    /// Standardised values of the used channels (steps × channels).
    values: Vec<f64>,
    /// Channels kept.
    channels: usize,
    /// Index of the target among the kept channels.
    target: usize,
    features: Features,
    /// Training mean and standard deviation per kept channel.
    mean: Vec<f64>,
    std: Vec<f64>,
    /// Split ends (exclusive): train, val, test.
    ends: [usize; 3],
    lag: usize,
    horizon: usize,
}

/// One window: inputs (lag × input channels) and targets (horizon × target
/// channels), row-major, standardised.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Inputs.
    pub inputs: Vec<f64>,
    /// Targets.
    pub targets: Vec<f64>,
}

impl ForecastData {
    /// Splits `table` into consecutive parts of `lengths` steps (train, val,
    /// test), standardises with the training part and serves windows of
    /// `lag` + `horizon`. Fails on a missing target column, zero lag or
    /// horizon, splits longer than the series, a training split shorter
    /// than one window, or a constant training channel.
    pub fn new(
        table: &SeriesTable,
        target: &str,
        features: Features,
        lengths: [usize; 3],
        lag: usize,
        horizon: usize,
    ) -> Result<Self> {
        if lag == 0 || horizon == 0 {
            return Err(Error::config(
                "task.lag/task.horizon",
                "both must be at least 1",
            ));
        }
        let target_column = table.column(target)?;
        let ends = [
            lengths[0],
            lengths[0] + lengths[1],
            lengths[0] + lengths[1] + lengths[2],
        ];
        if ends[2] > table.rows() {
            return Err(Error::config(
                "task.splits",
                format!(
                    "the splits need {} steps; the series has {}",
                    ends[2],
                    table.rows()
                ),
            ));
        }
        if lengths[0] < lag + horizon || lengths[1] < horizon || lengths[2] < horizon {
            return Err(Error::config(
                "task.lag/task.horizon",
                format!("lag {lag} + horizon {horizon} do not fit the splits {lengths:?}"),
            ));
        }
        let all = table.columns.len();
        let kept: Vec<usize> = match features {
            Features::Univariate => vec![target_column],
            _ => (0..all).collect(),
        };
        let target = kept.iter().position(|&c| c == target_column).unwrap_or(0);
        let rows = ends[2];
        let mut values = Vec::with_capacity(rows * kept.len());
        for r in 0..rows {
            values.extend(kept.iter().map(|&c| table.values[r * all + c]));
        }
        let channels = kept.len();
        let train = lengths[0] as f64;
        let mut mean = vec![0.0; channels];
        let mut std = vec![0.0; channels];
        for c in 0..channels {
            let column = (0..lengths[0]).map(|r| values[r * channels + c]);
            mean[c] = column.clone().sum::<f64>() / train;
            std[c] = (column.map(|v| (v - mean[c]).powi(2)).sum::<f64>() / train).sqrt();
            if std[c] == 0.0 {
                return Err(Error::config(
                    "task.target",
                    format!(
                        "channel {} is constant over the training split",
                        table.columns[kept[c]]
                    ),
                ));
            }
        }
        for (i, v) in values.iter_mut().enumerate() {
            let c = i % channels;
            *v = (*v - mean[c]) / std[c];
        }
        Ok(Self {
            values,
            channels,
            target,
            features,
            mean,
            std,
            ends,
            lag,
            horizon,
        })
    }

    /// Input channels per step.
    pub fn input_channels(&self) -> usize {
        self.channels
    }

    /// Target channels per step.
    pub fn target_channels(&self) -> usize {
        match self.features {
            Features::MultiToOne => 1,
            _ => self.channels,
        }
    }

    /// The training mean and standard deviation of the target channel(s),
    /// to map forecasts back to the data's units.
    pub fn scale(&self) -> (Vec<f64>, Vec<f64>) {
        match self.features {
            Features::MultiToOne => (vec![self.mean[self.target]], vec![self.std[self.target]]),
            _ => (self.mean.clone(), self.std.clone()),
        }
    }

    /// The first step a window of `split` may start at, and the end of its targets.
    fn range(&self, split: Split) -> (usize, usize) {
        match split {
            Split::Train => (0, self.ends[0]),
            Split::Val => (self.ends[0] - self.lag, self.ends[1]),
            Split::Test => (self.ends[1] - self.lag, self.ends[2]),
        }
    }

    /// Input steps.
    pub fn lag(&self) -> usize {
        self.lag
    }

    /// Forecast steps.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// The features setting.
    pub fn features(&self) -> Features {
        self.features
    }

    /// Index of the target among the input channels.
    pub fn target(&self) -> usize {
        self.target
    }

    /// Number of windows in `split`.
    pub fn windows(&self, split: Split) -> usize {
        let (start, end) = self.range(split);
        (end - start + 1).saturating_sub(self.lag + self.horizon)
    }

    /// Window `index` of `split` (its inputs start `index` steps after the
    /// split's first start). Panics past [`Self::windows`], like slice
    /// indexing.
    pub fn window(&self, split: Split, index: usize) -> Window {
        assert!(index < self.windows(split), "window {index} of {split}");
        let start = self.range(split).0 + index;
        let c = self.channels;
        let inputs = self.values[start * c..(start + self.lag) * c].to_vec();
        let rows = &self.values[(start + self.lag) * c..(start + self.lag + self.horizon) * c];
        let targets = match self.features {
            Features::MultiToOne => rows.chunks(c).map(|row| row[self.target]).collect(),
            _ => rows.to_vec(),
        };
        Window { inputs, targets }
    }

    /// MSE and MAE over every window of `split` of the persistence forecast
    /// (each target channel's last input value, repeated over the
    /// horizon), on the standardised scale: the floor a trained forecaster
    /// should beat.
    pub fn persistence(&self, split: Split) -> (f64, f64) {
        let (c_in, c_out) = (self.channels, self.target_channels());
        // The input channel each output channel repeats.
        let source = |o: usize| if c_out == 1 { self.target } else { o };
        let (mut sq, mut abs, mut count) = (0.0, 0.0, 0usize);
        for index in 0..self.windows(split) {
            let window = self.window(split, index);
            let last = &window.inputs[(self.lag - 1) * c_in..];
            for row in window.targets.chunks(c_out) {
                for (o, truth) in row.iter().enumerate() {
                    let err = last[source(o)] - truth;
                    sq += err * err;
                    abs += err.abs();
                }
            }
            count += window.targets.len();
        }
        let n = count.max(1) as f64;
        (sq / n, abs / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize) -> SeriesTable {
        SeriesTable {
            columns: vec!["a".into(), "OT".into()],
            timestamps: (0..rows).map(|r| format!("t{r}")).collect(),
            values: (0..rows)
                .flat_map(|r| [r as f64, (r * r) as f64 % 7.0])
                .collect(),
        }
    }

    #[test]
    fn windows_follow_the_informer_borders_and_training_statistics() {
        let t = table(40);
        let data = ForecastData::new(&t, "OT", Features::MultiToOne, [20, 10, 10], 4, 3).unwrap();
        // Train: starts 0 … 20 − 7; val: from 20 − 4 so its first target is step 20.
        assert_eq!(data.windows(Split::Train), 14);
        assert_eq!(data.windows(Split::Val), 8);
        assert_eq!(data.windows(Split::Test), 8);
        let (mean, std) = data.scale();
        let train: Vec<f64> = (0..20).map(|r| (r * r) as f64 % 7.0).collect();
        let m = train.iter().sum::<f64>() / 20.0;
        let s = (train.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 20.0).sqrt();
        assert!((mean[0] - m).abs() < 1e-12 && (std[0] - s).abs() < 1e-12);
        let w = data.window(Split::Val, 0);
        assert_eq!(w.inputs.len(), 4 * 2);
        assert_eq!(w.targets.len(), 3);
        assert!((w.targets[0] - ((400 % 7) as f64 - m) / s).abs() < 1e-12);
        let a_mean = 9.5;
        assert!((w.inputs[0] - (16.0 - a_mean) / data.std[0]).abs() < 1e-12);
        let last = data.window(Split::Test, 7);
        assert!((last.targets[2] - ((39 * 39 % 7) as f64 - m) / s).abs() < 1e-12);
    }

    #[test]
    fn refuses_what_cannot_work() {
        let t = table(40);
        let f = Features::Univariate;
        assert!(ForecastData::new(&t, "nope", f, [20, 10, 10], 4, 3).is_err());
        assert!(ForecastData::new(&t, "OT", f, [20, 10, 11], 4, 3).is_err());
        assert!(ForecastData::new(&t, "OT", f, [20, 10, 10], 0, 3).is_err());
        assert!(ForecastData::new(&t, "OT", f, [5, 10, 10], 4, 3).is_err());
        let flat = SeriesTable {
            values: vec![1.0; 80],
            ..table(40)
        };
        assert!(ForecastData::new(&flat, "OT", f, [20, 10, 10], 4, 3).is_err());
    }

    #[test]
    fn persistence_repeats_the_last_input() {
        // Channel a is the ramp 0, 1, 2, …: standardised, each step adds
        // 1 / std, so the persistence forecast is off by k / std at horizon
        // step k (1, 2, 3: MAE 2 / std, MSE 14 / 3 / std²).
        let t = table(40);
        let data = ForecastData::new(&t, "a", Features::Univariate, [20, 10, 10], 4, 3).unwrap();
        let step = 1.0 / data.scale().1[0];
        let (mse, mae) = data.persistence(Split::Test);
        assert!((mae - 2.0 * step).abs() < 1e-12, "{mae}");
        assert!((mse - 14.0 / 3.0 * step * step).abs() < 1e-12, "{mse}");
    }

    #[test]
    fn ett_hourly_has_the_standard_window_counts() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/ett/ETTh1.csv");
        let t = crate::io::read_series_csv(path).unwrap();
        let data = ForecastData::new(&t, "OT", Features::Multivariate, ETT_HOURLY_MONTHS, 336, 96)
            .unwrap();
        // Informer/Autoformer counts for ETTh1 with seq_len 336, pred_len 96.
        assert_eq!(data.windows(Split::Train), 8640 - 336 - 96 + 1);
        assert_eq!(data.windows(Split::Val), 2880 - 96 + 1);
        assert_eq!(data.windows(Split::Test), 2880 - 96 + 1);
        assert_eq!(data.input_channels(), 7);
    }
}
