//! The SpaceTime network (`model/network.py`): a repeat embedding, encoder
//! blocks (preprocessing SSM → SSM → MLP with the official residuals), a
//! closed-loop decoder and an output MLP, built from the official model
//! config (`embedding_config`, `encoder_config`, `decoder_config`,
//! `output_config`, as `load_model_config` assembles it).

use std::collections::HashMap;

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::Deserialize;

use super::closed_loop::ClosedLoopSsm;
use super::config::SsmKwargs;
use super::mlp::{Mlp, MlpKwargs};
use super::preprocess::{DifferencingSsm, ResidualSsm};
use super::ssm::{CompanionSsm, SsmKind};
use crate::error::{Error, Result};
use crate::io::{HostTensor, load_params, param_infos};
use crate::ops::SsmBackend;

/// `{"method": …, "kwargs": …}` of a preprocessing SSM.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "method", content = "kwargs", rename_all = "snake_case")]
pub enum PreConfig {
    /// No preprocessing.
    Identity(Option<serde_json::Value>),
    /// `ResidualSSM`.
    Residual(SsmKwargs),
    /// `DifferencingSSM`.
    Differencing(SsmKwargs),
}

/// `{"method": …, "kwargs": …}` of a block's SSM.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "method", content = "kwargs", rename_all = "snake_case")]
pub enum SsmConfig {
    /// `CompanionSSM`.
    Companion(SsmKwargs),
    /// `ShiftSSM`.
    Shift(SsmKwargs),
    /// `ClosedLoopCompanionSSM` (decoder only).
    ClosedLoopCompanion(SsmKwargs),
    /// `ClosedLoopShiftSSM` (decoder only).
    ClosedLoopShift(SsmKwargs),
}

/// `{"method": …, "kwargs": …}` of an MLP.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "method", content = "kwargs", rename_all = "snake_case")]
pub enum MlpConfig {
    /// No MLP.
    Identity(Option<serde_json::Value>),
    /// `MLP`.
    Mlp(MlpKwargs),
}

/// One block's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockConfig {
    /// Unused by the official code.
    #[serde(default)]
    pub input_dim: Option<usize>,
    /// The preprocessing SSM.
    pub pre_config: PreConfig,
    /// The SSM.
    pub ssm_config: SsmConfig,
    /// The MLP.
    pub mlp_config: MlpConfig,
    /// Whether the block adds a residual.
    #[serde(default)]
    pub skip_connection: bool,
    /// Whether that residual is the block's input (else the preprocessed input).
    #[serde(default)]
    pub skip_preprocess: bool,
}

/// A list of blocks.
#[derive(Debug, Clone, Deserialize)]
pub struct StackConfig {
    /// The blocks in order.
    pub blocks: Vec<BlockConfig>,
}

/// The embedding: only the official "repeat" (the linear one cannot be
/// built by the official main either).
#[derive(Debug, Clone, Deserialize)]
pub struct EmbeddingConfig {
    /// "repeat".
    pub method: String,
    /// input_dim and embedding_dim (other keys are ignored, as officially).
    pub kwargs: serde_json::Map<String, serde_json::Value>,
}

/// The output MLP config.
#[derive(Debug, Clone, Deserialize)]
pub struct OutputConfig {
    /// "mlp".
    pub method: String,
    /// The MLP's kwargs.
    pub kwargs: MlpKwargs,
}

/// The whole model config.
#[derive(Debug, Clone, Deserialize)]
pub struct SpaceTimeConfig {
    /// The embedding.
    pub embedding_config: EmbeddingConfig,
    /// The encoder blocks.
    pub encoder_config: StackConfig,
    /// The decoder: one block with a closed-loop SSM.
    pub decoder_config: StackConfig,
    /// The output MLP.
    pub output_config: OutputConfig,
    /// Whether forward skips the open loop (ignored: both are returned).
    #[serde(default)]
    pub inference_only: bool,
    /// Input steps.
    #[serde(default)]
    pub lag: Option<usize>,
    /// Forecast steps.
    #[serde(default)]
    pub horizon: Option<usize>,
}

/// An encoder block.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// `ResidualSSM` preprocessing, if the block has it.
    pub residual: Option<ResidualSsm<B>>,
    /// `DifferencingSSM` preprocessing, if the block has it.
    pub differencing: Option<DifferencingSsm<B>>,
    /// The SSM.
    pub ssm: CompanionSsm<B>,
    /// The MLP, if any.
    pub mlp: Option<Mlp<B>>,
    #[module(skip)]
    skip_connection: bool,
    #[module(skip)]
    skip_preprocess: bool,
}

/// The decoder block (the official `ClosedLoopBlock`).
#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    /// The closed-loop SSM.
    pub ssm: ClosedLoopSsm<B>,
}

/// The network.
#[derive(Module, Debug)]
pub struct SpaceTime<B: Backend> {
    /// Encoder blocks.
    pub blocks: Vec<Block<B>>,
    /// The decoder.
    pub decoder: Decoder<B>,
    /// The output MLP.
    pub output: Mlp<B>,
    #[module(skip)]
    channels: usize,
    #[module(skip)]
    width: usize,
}

/// Everything one forward pass produces.
#[derive(Debug, Clone)]
pub struct SpaceTimeOutput<B: Backend> {
    /// The forecast (B, horizon, outputs): the closed loop through the output MLP.
    pub y_c: Tensor<B, 3>,
    /// The open loop through the output MLP (B, lag, outputs).
    pub y_o: Tensor<B, 3>,
    /// The decoder's prediction of its next input (B, lag, width).
    pub z_u_pred: Tensor<B, 3>,
    /// The decoder's input (B, lag, width).
    pub z_u_true: Tensor<B, 3>,
    /// Intermediate activations by the official hook names (`embedding`,
    /// `encoder.blocks.<i>[.pre|.ssm]`, `decoder.ssm.closed.y`, …).
    pub activations: Vec<(String, Tensor<B, 3>)>,
}

impl SpaceTimeConfig {
    /// The official `kernel_dim` of the network it builds: the first
    /// encoder SSM's state size (1 without encoder blocks).
    pub fn kernel_dim(&self) -> usize {
        match self.encoder_config.blocks.first().map(|b| &b.ssm_config) {
            Some(
                SsmConfig::Companion(k)
                | SsmConfig::Shift(k)
                | SsmConfig::ClosedLoopCompanion(k)
                | SsmConfig::ClosedLoopShift(k),
            ) => k.kernel_dim,
            None => 1,
        }
    }

    /// The same config with every MLP dropout at 0: the model as the
    /// official `eval()` runs it, also under autodiff (the reference
    /// gradients were taken in evaluation mode).
    pub fn without_dropout(mut self) -> Self {
        for block in &mut self.encoder_config.blocks {
            if let MlpConfig::Mlp(k) = &mut block.mlp_config {
                k.dropout = 0.0;
            }
        }
        self.output_config.kwargs.dropout = 0.0;
        self
    }

    /// The network with fresh weights; the decoder forecasts `horizon`
    /// steps (the config's, or the closed-loop SSM's). Fails, naming the
    /// key, on settings not supported.
    pub fn init<B: Backend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<SpaceTime<B>> {
        let emb = &self.embedding_config;
        if emb.method != "repeat" {
            return Err(Error::config(
                "embedding_config.method",
                format!("`{}`: only \"repeat\" is supported", emb.method),
            ));
        }
        let size = |key: &str| {
            emb.kwargs
                .get(key)
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .ok_or_else(|| {
                    Error::config(format!("embedding_config.kwargs.{key}"), "must be a size")
                })
        };
        let (channels, width) = (size("input_dim")?, size("embedding_dim")?);
        if channels == 0 || width % channels != 0 {
            return Err(Error::config(
                "embedding_config.kwargs",
                format!("embedding_dim {width} must be a multiple of input_dim {channels}"),
            ));
        }
        let mut blocks = Vec::new();
        for (i, block) in self.encoder_config.blocks.iter().enumerate() {
            let key = |k: &str| format!("encoder_config.blocks.{i}.{k}");
            let (residual, differencing) = match &block.pre_config {
                PreConfig::Identity(_) => (None, None),
                PreConfig::Residual(k) => (Some(k.init_residual(device, rng)?), None),
                PreConfig::Differencing(k) => (None, Some(k.init_differencing(device)?)),
            };
            let ssm = match &block.ssm_config {
                SsmConfig::Companion(k) => k.init_open(SsmKind::Companion, device, rng)?,
                SsmConfig::Shift(k) => k.init_open(SsmKind::Shift, device, rng)?,
                _ => {
                    return Err(Error::config(
                        key("ssm_config.method"),
                        "a closed-loop SSM belongs in the decoder",
                    ));
                }
            };
            let mlp = match &block.mlp_config {
                MlpConfig::Identity(_) => None,
                MlpConfig::Mlp(k) => Some(k.init(device, rng)?),
            };
            blocks.push(Block {
                residual,
                differencing,
                ssm,
                mlp,
                skip_connection: block.skip_connection,
                skip_preprocess: block.skip_preprocess,
            });
        }
        let [decoder] = self.decoder_config.blocks.as_slice() else {
            return Err(Error::config(
                "decoder_config.blocks",
                "the decoder is one block",
            ));
        };
        let ssm = match &decoder.ssm_config {
            SsmConfig::ClosedLoopCompanion(k) => k.init_closed(SsmKind::Companion, device, rng)?,
            SsmConfig::ClosedLoopShift(k) => k.init_closed(SsmKind::Shift, device, rng)?,
            _ => {
                return Err(Error::config(
                    "decoder_config.blocks.0.ssm_config.method",
                    "the decoder needs a closed-loop SSM",
                ));
            }
        };
        if self.output_config.method != "mlp" {
            return Err(Error::config(
                "output_config.method",
                "only \"mlp\" is supported",
            ));
        }
        let output = self.output_config.kwargs.init(device, rng)?;
        Ok(SpaceTime {
            blocks,
            decoder: Decoder { ssm },
            output,
            channels,
            width,
        })
    }
}

impl<B: SsmBackend> SpaceTime<B> {
    /// Our parameter names → the official state_dict names.
    pub fn official_names(&self) -> HashMap<String, String> {
        let mut names = HashMap::new();
        for (i, block) in self.blocks.iter().enumerate() {
            for info in param_infos(block) {
                let name = info.name;
                let pre = name
                    .strip_prefix("residual.")
                    .or_else(|| name.strip_prefix("differencing."));
                let official = match (pre, name.strip_prefix("mlp."), &block.mlp) {
                    (Some(rest), _, _) => format!("pre.{rest}"),
                    (_, Some(rest), Some(mlp)) => format!("mlp.{}", mlp.official_name(rest)),
                    _ => name.clone(),
                };
                names.insert(
                    format!("blocks.{i}.{name}"),
                    format!("encoder.blocks.{i}.{official}"),
                );
            }
        }
        for info in param_infos(&self.decoder.ssm) {
            let name = info.name;
            names.insert(
                format!("decoder.ssm.{name}"),
                format!("decoder.blocks.ssm.{name}"),
            );
        }
        for info in param_infos(&self.output) {
            let official = self.output.official_name(&info.name);
            names.insert(
                format!("output.{}", info.name),
                format!("output.{official}"),
            );
        }
        names
    }

    /// Replaces every parameter and buffer by `lookup(official name)`.
    pub fn load(self, mut lookup: impl FnMut(&str) -> Result<HostTensor<f64>>) -> Result<Self> {
        let names = self.official_names();
        load_params(self, |name| {
            lookup(names.get(name).map_or(name, String::as_str))
        })
    }

    /// The official `kernel_dim`: the first encoder SSM's state size, from
    /// which the training loss supervises the open-loop outputs.
    pub fn kernel_dim(&self) -> usize {
        self.blocks.first().map_or(1, |b| b.ssm.state_size())
    }

    /// Input channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The encoder's input width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// u (B, lag, channels) → the forecast and the open-loop outputs.
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<SpaceTimeOutput<B>> {
        let [batch, lag, channels] = u.dims();
        if channels != self.channels || lag == 0 {
            return Err(Error::shape(
                "input (batch, lag ≥ 1, channels)",
                &[batch, lag.max(1), self.channels],
                &[batch, lag, channels],
            ));
        }
        let mut acts = Vec::new();
        // 'b l d -> b l (r d)': channel j reads input channel j mod channels.
        let mut z = u.repeat_dim(2, self.width / channels);
        acts.push(("embedding".to_string(), z.clone()));
        for (i, block) in self.blocks.iter().enumerate() {
            let pre = match (&block.residual, &block.differencing) {
                (Some(r), _) => r.forward(z.clone())?,
                (_, Some(d)) => d.forward(z.clone())?,
                _ => z.clone(),
            };
            let s = block.ssm.forward(pre.clone())?;
            let m = match &block.mlp {
                Some(mlp) => mlp.forward(s.clone())?,
                None => s.clone(),
            };
            let out = match (block.skip_connection, block.skip_preprocess) {
                (true, true) => m + z,
                (true, false) => m + pre.clone(),
                _ => m,
            };
            acts.push((format!("encoder.blocks.{i}.pre"), pre));
            acts.push((format!("encoder.blocks.{i}.ssm"), s));
            acts.push((format!("encoder.blocks.{i}"), out.clone()));
            z = out;
        }
        let closed = self.decoder.ssm.forecast(z.clone())?;
        let open = self.decoder.ssm.teacher_forced(z.clone())?;
        acts.push(("decoder.ssm.closed.y".to_string(), closed.y.clone()));
        acts.push(("decoder.ssm.closed.u_next".to_string(), closed.u_next));
        acts.push(("decoder.ssm.open.y".to_string(), open.y.clone()));
        Ok(SpaceTimeOutput {
            y_c: self.output.forward(closed.y)?,
            y_o: self.output.forward(open.y)?,
            z_u_pred: open.y_u,
            z_u_true: z,
            activations: acts,
        })
    }
}
