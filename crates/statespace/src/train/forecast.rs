//! Forecasting as a training objective: windows of a standardised series
//! (the Informer protocol), a [`Forecaster`], the task's criterion as the
//! loss (SpaceTime adds its open-loop terms, weighted as officially), and
//! MSE / MAE over every forecast value as the metrics.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::classify::check_memory;
use super::config::TrainConfig;
use super::data::train_indices;
use super::objective::{Goal, Objective, PendingTally, Shard, Tally};
use crate::error::{Error, Result};
use crate::models::forecaster::{ForecastOutput, Forecaster, ForecasterConfig};
use crate::ops::SsmBackend;
use crate::tasks::forecast::{Criterion, Features, ForecastConfig, ForecastData, Transform};
use crate::tasks::{Split, TaskConfig};

/// A forecasting task, its data and its forecaster.
pub struct Forecasting {
    task: ForecastConfig,
    data: ForecastData,
    model: ForecasterConfig,
    batch: usize,
}

/// Windows as tensors: inputs (B, lag, C_in) and targets (B, horizon, C_out).
pub struct WindowBatch<B: Backend> {
    /// Inputs.
    pub x: Tensor<B, 3>,
    /// Targets.
    pub y: Tensor<B, 3>,
}

/// Windows gathered on the host, before they move to a device.
pub struct HostWindows {
    x: Vec<f32>,
    y: Vec<f32>,
    x_shape: [usize; 3],
    y_shape: [usize; 3],
}

impl HostWindows {
    /// The windows as tensors on `device`.
    fn upload<B: Backend>(self, device: &B::Device) -> WindowBatch<B> {
        WindowBatch {
            x: Tensor::from_data(TensorData::new(self.x, self.x_shape), device),
            y: Tensor::from_data(TensorData::new(self.y, self.y_shape), device),
        }
    }
}

impl Forecasting {
    /// The task, data and model of `config` (a `forecast` task), checked.
    pub fn new(config: &TrainConfig) -> Result<Self> {
        let TaskConfig::Forecast(task) = &config.task else {
            return Err(Error::config("task.kind", "not a forecast task"));
        };
        let data = task.load()?;
        let model = config.model.forecaster(task, &data, config.seed)?;
        match &model {
            ForecasterConfig::Stack { model, .. } => {
                model.validate()?;
                check_memory(config, model, task.lag + task.horizon)?;
            }
            ForecasterConfig::Tsm2(net) => {
                net.mixer.validate()?;
                net.patches()?;
            }
            ForecasterConfig::Chimera(net) => net.stack.validate()?,
            ForecasterConfig::SpaceTime(net) => {
                let kernel_dim = net.kernel_dim();
                if task.lag <= kernel_dim {
                    return Err(Error::config(
                        "task.lag",
                        format!(
                            "SpaceTime's loss supervises the open loop after its first SSM's {kernel_dim} state steps: the lag must exceed {kernel_dim}"
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            task: task.clone(),
            data,
            model,
            batch: config.schedule.batch_size,
        })
    }

    /// The data.
    pub fn data(&self) -> &ForecastData {
        &self.data
    }

    /// The model's config.
    pub fn model(&self) -> &ForecasterConfig {
        &self.model
    }

    /// Windows `indices` of `split` on `device`.
    pub fn windows<B: Backend>(
        &self,
        split: Split,
        indices: &[usize],
        device: &B::Device,
    ) -> WindowBatch<B> {
        self.host_windows(split, indices).upload(device)
    }

    /// The windows of `indices` in `split`, gathered on the host.
    fn host_windows(&self, split: Split, indices: &[usize]) -> HostWindows {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for &i in indices {
            let w = self.data.window(split, i);
            x.extend(w.inputs.iter().map(|&v| v as f32));
            y.extend(w.targets.iter().map(|&v| v as f32));
        }
        HostWindows {
            x,
            y,
            x_shape: [indices.len(), self.data.lag(), self.data.input_channels()],
            y_shape: [
                indices.len(),
                self.data.horizon(),
                self.data.target_channels(),
            ],
        }
    }

    /// The forecast of `x` (B, lag, C_in) on the data's (standardised)
    /// scale, with the per-window transform applied around the model; the
    /// open-loop outputs are mapped back the same way.
    pub fn predict<B: SsmBackend>(
        &self,
        model: &Forecaster<B>,
        x: Tensor<B, 3>,
    ) -> Result<ForecastOutput<B>> {
        let [b, _, c_in] = x.dims();
        let offset = match self.task.transform {
            Transform::Mean => x.clone().mean_dim(1),
            Transform::None => Tensor::zeros([b, 1, c_in], (&x.device(), x.dtype())),
        };
        let out_offset = match self.data.features() {
            Features::MultiToOne => offset.clone().narrow(2, self.data.target(), 1),
            _ => offset.clone(),
        };
        let mut out = model.forward(x - offset)?;
        out.forecast = out.forecast + out_offset.clone();
        if let Some(open) = &mut out.open_loop {
            open.y = open.y.clone() + out_offset;
        }
        Ok(out)
    }

    /// The training loss of one batch.
    fn loss<B: SsmBackend>(&self, out: &ForecastOutput<B>, batch: &WindowBatch<B>) -> Tensor<B, 1> {
        let [w0, w1, w2] = self.task.criterion_weights;
        let criterion = |pred: Tensor<B, 3>, truth: Tensor<B, 3>| -> Tensor<B, 1> {
            let diff = pred - truth;
            match self.task.loss {
                Criterion::Mse => diff.powi_scalar(2).mean(),
                Criterion::Rmse => diff.powi_scalar(2).mean().sqrt(),
                Criterion::Mae => diff.abs().mean(),
            }
        };
        let mut loss = criterion(out.forecast.clone(), batch.y.clone()) * w0;
        if let Some(open) = &out.open_loop {
            // SpaceTime's terms (train/step/informer.py): step t of the open
            // loop predicts step t + 1, from the first SSM's state size on.
            let lag = self.data.lag();
            let k = open.kernel_dim;
            if w1 > 0.0 {
                let truth = Tensor::cat(vec![batch.x.clone(), batch.y.clone()], 1);
                loss = loss
                    + criterion(
                        open.y.clone().narrow(1, k - 1, lag - k + 1),
                        truth.narrow(1, k, lag - k + 1),
                    ) * w1;
            }
            if w2 > 0.0 && lag > k {
                loss = loss
                    + criterion(
                        open.z_pred.clone().narrow(1, k - 1, lag - k),
                        open.z_true.clone().narrow(1, k, lag - k),
                    ) * w2;
            }
        }
        loss
    }

    /// Squared- and absolute-error sums of a forecast, on the device.
    fn tally<B: Backend>(forecast: Tensor<B, 3>, truth: Tensor<B, 3>) -> PendingTally<B> {
        let count = forecast.dims().iter().product();
        let diff = forecast - truth;
        let sums = Tensor::cat(vec![diff.clone().powi_scalar(2).sum(), diff.abs().sum()], 0);
        PendingTally::new(sums, count)
    }

    /// The tally of `shard`'s part of `split` under `model`.
    pub fn evaluate_split<B: SsmBackend>(
        &self,
        model: &Forecaster<B>,
        split: Split,
        shard: Shard,
        device: &B::Device,
    ) -> Result<Tally> {
        let part = shard.range(self.data.windows(split));
        let mut total = PendingTally::default();
        for start in part.clone().step_by(self.batch.max(1)) {
            let indices: Vec<usize> = (start..(start + self.batch).min(part.end)).collect();
            let batch = self.windows::<B>(split, &indices, device);
            let out = self.predict(model, batch.x)?;
            total.add(Self::tally(out.forecast, batch.y));
        }
        Ok(total.read())
    }
}

impl<B> Objective<B> for Forecasting
where
    B: AutodiffBackend + SsmBackend,
    B::InnerBackend: SsmBackend,
{
    type Model = Forecaster<B>;

    fn columns(&self) -> [&'static str; 2] {
        ["mse", "mae"]
    }

    fn goal(&self) -> Goal {
        Goal::MinLoss
    }

    fn init(&self, device: &B::Device, rng: &mut ChaCha8Rng) -> Result<Forecaster<B>> {
        self.model.init(device, rng)
    }

    type Batch = HostWindows;

    fn prepare(&self, seed: u64, step: u64, shard: Shard) -> Result<HostWindows> {
        let n = self.data.windows(Split::Train);
        let indices = train_indices(seed, n, self.batch, step);
        Ok(self.host_windows(Split::Train, &indices[shard.range(self.batch)]))
    }

    fn train_step(
        &self,
        model: &Forecaster<B>,
        windows: HostWindows,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, PendingTally<B::InnerBackend>)> {
        let batch = windows.upload::<B>(device);
        let out = self.predict(model, batch.x.clone())?;
        let loss = self.loss(&out, &batch);
        let tally = Self::tally(out.forecast.detach(), batch.y).inner();
        Ok((loss, tally))
    }

    fn evaluate(
        &self,
        model: &Forecaster<B::InnerBackend>,
        split: Split,
        shard: Shard,
        device: &B::Device,
    ) -> Result<Tally> {
        self.evaluate_split(model, split, shard, device)
    }
}
