//! The full configuration of a training run, read from TOML with
//! `--set key=value` overrides; unknown keys are errors.

use serde::{Deserialize, Serialize};

use super::optim::OptimConfig;
use crate::discretize::Discretization;
use crate::error::{Error, Result};
use crate::layers::batch_norm::MOMENTUM;
use crate::layers::chimera::ChimeraConfig;
use crate::layers::h3::H3Config;
use crate::layers::hydra::HydraConfig;
use crate::layers::hyena::HyenaConfig;
use crate::layers::long_conv::LongConvConfig;
use crate::layers::mamba::MambaConfig;
use crate::layers::mamba2::Mamba2Config;
use crate::layers::mamba3::Mamba3Config;
use crate::layers::mambamixer::MambaMixerConfig;
use crate::layers::s4::{KernelMode, S4Config, SsmInit};
use crate::layers::s5::S5Config;
use crate::layers::spacetime::SpaceTimeRecipe;
use crate::models::chimera::ChimeraForecasterConfig;
use crate::models::classifier::{ClassifierConfig, InputKind, NormKind, Pooling};
use crate::models::forecaster::ForecasterConfig;
use crate::models::tsm2::Tsm2Config;
use crate::models::{LmConfig, MixerConfig, Precision};
use crate::tasks::forecast::{ForecastConfig, ForecastData};
use crate::tasks::{Task, TaskConfig};

/// Which mixer the model stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MixerKind {
    /// S4 (DPLR, HiPPO-LegS).
    S4,
    /// S4D (diagonal).
    S4d,
    /// Mamba.
    Mamba,
    /// Mamba-2.
    Mamba2,
    /// Mamba-3 (SISO, or MIMO with `mimo_rank`).
    Mamba3,
    /// Hydra (bidirectional Mamba-2; for tasks that read the whole sequence).
    Hydra,
    /// S5 (MIMO diagonal SSM by a parallel scan, half GLU).
    S5,
    /// H3 (shift and diagonal SSMs with gating).
    H3,
    /// Hyena (implicit long convolutions, `order`).
    Hyena,
    /// A learned long convolution (safari's LongConv).
    #[serde(rename = "long_conv")]
    LongConv,
    /// The whole SpaceTime network (forecast tasks only), by the official
    /// recipe: `d_model` = `--model_dim`, `n_layers` = `--n_blocks`,
    /// `d_state` = `--kernel_dim`, `norm_order`, `dropout`.
    #[serde(rename = "spacetime")]
    SpaceTime,
    /// TSM2, MambaMixer's forecaster (forecast tasks only): `n_layers`
    /// MambaMixer layers of width `d_model` over patches of `patch_len`
    /// steps every `stride`.
    #[serde(rename = "tsm2")]
    Tsm2,
    /// A Chimera forecaster (forecast tasks only): `n_layers` blocks of
    /// 2-D SSMs over time × variates.
    #[serde(rename = "chimera")]
    Chimera,
}

/// The model of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The mixer.
    pub mixer: MixerKind,
    /// Width.
    pub d_model: usize,
    /// Number of blocks.
    pub n_layers: usize,
    /// SSM state size (default: 64 for S4/S4D, 16 for Mamba, 64 for
    /// Mamba-2, Mamba-3, Hydra and H3; S5's P, default 64).
    pub d_state: Option<usize>,
    /// Dropout after each mixer.
    pub dropout: f64,
    /// Prenorm blocks.
    pub prenorm: bool,
    /// Sequence pooling.
    pub pooling: Pooling,
    /// Block norm (default: layer for S4/S4D, rms for Mamba).
    pub norm: Option<NormKind>,
    /// BatchNorm's weight of each batch in its running statistics, torch's
    /// `momentum` (default 0.1; S5's flax `bn_momentum` 0.95 is 0.05 here).
    /// Only with `norm = "batch"`.
    pub batch_norm_momentum: Option<f64>,
    /// Bidirectional S4/S4D kernels, S5 scans or long convolutions.
    pub bidirectional: bool,
    /// S4/S4D initialisation (default: legs for S4, diag-lin for S4D).
    pub init: Option<SsmInit>,
    /// S4D discretisation.
    pub disc: Discretization,
    /// Smallest initial Δ.
    pub dt_min: f64,
    /// Largest initial Δ.
    pub dt_max: f64,
    /// Mamba expansion factor.
    pub expand: usize,
    /// Mamba-2 / Mamba-3 / Hydra head size.
    pub headdim: usize,
    /// Mamba-2 / Mamba-3 / Hydra scan chunk.
    pub chunk_size: usize,
    /// Mamba-3: the MIMO rank (absent: SISO).
    pub mimo_rank: Option<usize>,
    /// S5: HiPPO blocks of the initialisation.
    pub blocks: usize,
    /// Hyena: the order (long convolutions + 1).
    pub order: usize,
    /// SpaceTime: the norm order of the companion coefficients.
    pub norm_order: usize,
    /// TSM2: steps per patch.
    pub patch_len: usize,
    /// TSM2: steps between patch starts.
    pub stride: usize,
    /// Standard deviation of the token embedding's initial draw (default
    /// 1, torch's `nn.Embedding`; mamba_ssm's language models use 0.02).
    /// Classifiers only: language models always draw at 0.02.
    pub embedding_std: Option<f64>,
    /// Whether the head is the token embedding's table, logits = features ·
    /// Eᵀ without a bias, as Zoology's and mamba_ssm's language models tie
    /// it (absent: tied for language models, untied for classifiers). A
    /// classifier can tie only on token tasks whose classes are the tokens
    /// (MQAR, induction heads, selective copying).
    pub tie_embeddings: Option<bool>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            mixer: MixerKind::S4d,
            d_model: 64,
            n_layers: 4,
            d_state: None,
            dropout: 0.0,
            prenorm: true,
            pooling: Pooling::Mean,
            norm: None,
            batch_norm_momentum: None,
            bidirectional: false,
            init: None,
            disc: Discretization::Zoh,
            dt_min: 0.001,
            dt_max: 0.1,
            expand: 2,
            headdim: 32,
            chunk_size: 64,
            mimo_rank: None,
            blocks: 1,
            order: 2,
            norm_order: 1,
            patch_len: 16,
            stride: 8,
            embedding_std: None,
            tie_embeddings: None,
        }
    }
}

impl ModelConfig {
    /// The classifier for `task`.
    pub fn classifier(&self, task: &dyn Task) -> Result<ClassifierConfig> {
        self.stack(&StackShape {
            input: task.input(),
            outputs: task.classes(),
            max_len: task.max_len(),
            reads_steps: task.step_targets(),
            name: task.name(),
        })
    }

    /// The forecaster for `task` (whose series is `data`); `seed` is the
    /// run's, which SpaceTime's config records.
    pub fn forecaster(
        &self,
        task: &ForecastConfig,
        data: &ForecastData,
        seed: u64,
    ) -> Result<ForecasterConfig> {
        if self.mixer == MixerKind::SpaceTime {
            if data.input_channels() != 1 {
                return Err(Error::config(
                    "task.features",
                    format!(
                        "SpaceTime follows the official univariate recipe: use features = \"S\" (this series gives {} input channels)",
                        data.input_channels()
                    ),
                ));
            }
            let recipe = SpaceTimeRecipe {
                model_dim: Some(self.d_model),
                n_blocks: self.n_layers,
                kernel_dim: self.d_state.unwrap_or(64),
                norm_order: self.norm_order,
                dropout: self.dropout,
                lag: task.lag,
                horizon: task.horizon,
                seed,
            };
            return Ok(ForecasterConfig::SpaceTime(recipe.config()?));
        }
        let target =
            (data.target_channels() == 1 && data.input_channels() > 1).then(|| data.target());
        match self.mixer {
            MixerKind::Tsm2 => {
                return Ok(ForecasterConfig::Tsm2(Tsm2Config {
                    mixer: MambaMixerConfig {
                        n_layers: self.n_layers,
                        d_state: self.d_state.unwrap_or(16),
                        expand: self.expand,
                        dt_min: self.dt_min,
                        dt_max: self.dt_max,
                        ..MambaMixerConfig::new(self.d_model)
                    },
                    lag: task.lag,
                    horizon: task.horizon,
                    patch_len: self.patch_len,
                    stride: self.stride,
                    dropout: self.dropout,
                    target,
                }));
            }
            MixerKind::Chimera => {
                return Ok(ForecasterConfig::Chimera(ChimeraForecasterConfig {
                    stack: ChimeraConfig {
                        n_layers: self.n_layers,
                        d_state: self.d_state.unwrap_or(8),
                        expand: self.expand,
                        dt_min: self.dt_min,
                        dt_max: self.dt_max,
                        ..ChimeraConfig::new(self.d_model)
                    },
                    lag: task.lag,
                    horizon: task.horizon,
                    variates: data.input_channels(),
                    target,
                }));
            }
            _ => {}
        }
        let model = self.stack(&StackShape {
            input: InputKind::Values {
                channels: data.input_channels(),
            },
            outputs: data.target_channels(),
            max_len: task.lag + task.horizon,
            reads_steps: false,
            name: "forecast",
        })?;
        Ok(ForecasterConfig::Stack {
            model,
            horizon: task.horizon,
        })
    }

    /// The language model of a `lm` task over `vocab` tokens in windows of
    /// `max_len`: `n_layers` pre-norm RMSNorm blocks of the mixer, tied
    /// embeddings (`pooling` plays no part). Fails, naming the key, for a
    /// setting the language model does not have (dropout, a LayerNorm,
    /// post-norm blocks) or a non-causal mixer.
    pub fn language_model(&self, vocab: usize, max_len: usize) -> Result<LmConfig> {
        let mixer = self.mixer_config(max_len, "lm")?;
        if self.dropout != 0.0 {
            return Err(Error::config(
                "model.dropout",
                "the language model has no dropout: set it to 0",
            ));
        }
        if self.norm.is_some_and(|n| n != NormKind::Rms) || !self.prenorm {
            return Err(Error::config(
                "model.norm",
                "the language model's blocks are pre-norm RMSNorm (norm = \"rms\", prenorm = true)",
            ));
        }
        if self.bidirectional || !mixer.is_causal() {
            return Err(Error::config(
                "model.mixer",
                "a language model needs a causal mixer: a bidirectional one sees the tokens it predicts",
            ));
        }
        let config = LmConfig {
            vocab_size: vocab,
            n_layer: self.n_layers,
            mixer,
            norm_eps: 1e-5,
            tie_embeddings: self.tie_embeddings.unwrap_or(true),
        };
        config.validate()?;
        Ok(config)
    }

    /// The mixer of a stack whose sequences are at most `max_len` long,
    /// for task `name` (in errors).
    fn mixer_config(&self, max_len: usize, name: &str) -> Result<MixerConfig> {
        let d = self.d_model;
        let mixer = match self.mixer {
            MixerKind::S4 | MixerKind::S4d => {
                let diag = self.mixer == MixerKind::S4d;
                MixerConfig::S4(S4Config {
                    d_model: d,
                    d_state: self.d_state.unwrap_or(64),
                    bidirectional: self.bidirectional,
                    l_max: Some(max_len),
                    dt_min: self.dt_min,
                    dt_max: self.dt_max,
                    mode: if diag {
                        KernelMode::Diag
                    } else {
                        KernelMode::Dplr
                    },
                    init: self.init.unwrap_or(if diag {
                        SsmInit::DiagLin
                    } else {
                        SsmInit::Legs
                    }),
                    disc: self.disc,
                    ..S4Config::default()
                })
            }
            MixerKind::Mamba => MixerConfig::Mamba(MambaConfig {
                d_state: self.d_state.unwrap_or(16),
                expand: self.expand,
                dt_min: self.dt_min,
                dt_max: self.dt_max,
                ..MambaConfig::new(d)
            }),
            MixerKind::Mamba2 => MixerConfig::Mamba2(Mamba2Config {
                d_state: self.d_state.unwrap_or(64),
                expand: self.expand,
                headdim: self.headdim,
                chunk_size: self.chunk_size,
                dt_min: self.dt_min,
                dt_max: self.dt_max,
                ..Mamba2Config::new(d)
            }),
            MixerKind::Mamba3 => MixerConfig::Mamba3(Mamba3Config {
                d_state: self.d_state.unwrap_or(64),
                expand: self.expand,
                headdim: self.headdim,
                chunk_size: self.chunk_size,
                dt_min: self.dt_min,
                dt_max: self.dt_max,
                is_mimo: self.mimo_rank.is_some(),
                mimo_rank: self.mimo_rank.unwrap_or(1),
                ..Mamba3Config::new(d)
            }),
            MixerKind::Hydra => MixerConfig::Hydra(HydraConfig {
                d_state: self.d_state.unwrap_or(64),
                expand: self.expand,
                headdim: self.headdim,
                chunk_size: self.chunk_size,
                dt_min: self.dt_min,
                dt_max: self.dt_max,
                ..HydraConfig::new(d)
            }),
            MixerKind::S5 => MixerConfig::S5(S5Config {
                ssm_size: self.d_state.unwrap_or(64),
                blocks: self.blocks,
                bidirectional: self.bidirectional,
                disc: self.disc,
                dt_min: self.dt_min,
                dt_max: self.dt_max,
                ..S5Config::new(d)
            }),
            MixerKind::H3 => MixerConfig::H3(H3Config {
                d_state: self.d_state.unwrap_or(64),
                dt_min: self.dt_min,
                dt_max: self.dt_max,
                ..H3Config::new(d)
            }),
            MixerKind::Hyena => MixerConfig::Hyena(HyenaConfig {
                order: self.order,
                ..HyenaConfig::new(d, max_len)
            }),
            // safari's layer recipe (configs/model/layer/long-conv.yaml):
            // two channels, λ 0.003 (the code's default 0.1 zeroes the
            // 0.002-scale initial taps).
            MixerKind::SpaceTime | MixerKind::Tsm2 | MixerKind::Chimera => {
                return Err(Error::config(
                    "model.mixer",
                    format!(
                        "{:?} is a whole forecasting network: use it with task.kind = \"forecast\", not with `{}`",
                        self.mixer, name
                    ),
                ));
            }
            MixerKind::LongConv => MixerConfig::LongConv(LongConvConfig {
                bidirectional: self.bidirectional,
                channels: 2,
                lam: 3e-3,
                ..LongConvConfig::new(d, max_len)
            }),
        };
        if self.d_state.is_some() && matches!(self.mixer, MixerKind::Hyena | MixerKind::LongConv) {
            return Err(Error::config(
                "model.d_state",
                "Hyena and the long convolution have no state size",
            ));
        }
        if self.mimo_rank.is_some() && self.mixer != MixerKind::Mamba3 {
            return Err(Error::config(
                "model.mimo_rank",
                "only the Mamba-3 mixer has a MIMO rank",
            ));
        }
        Ok(mixer)
    }

    /// A mixer stack of `shape`.
    fn stack(&self, shape: &StackShape<'_>) -> Result<ClassifierConfig> {
        let mixer = self.mixer_config(shape.max_len, shape.name)?;
        let norm = self.norm.unwrap_or(match self.mixer {
            MixerKind::S4
            | MixerKind::S4d
            | MixerKind::S5
            | MixerKind::H3
            | MixerKind::Hyena
            | MixerKind::LongConv => NormKind::Layer,
            MixerKind::Mamba
            | MixerKind::Mamba2
            | MixerKind::Mamba3
            | MixerKind::Hydra
            | MixerKind::SpaceTime
            | MixerKind::Tsm2
            | MixerKind::Chimera => NormKind::Rms,
        });
        if !mixer.is_causal() && shape.reads_steps {
            return Err(Error::config(
                "model.mixer",
                format!(
                    "task `{}` reads outputs at steps, which the bidirectional {:?} mixer could read from the future",
                    shape.name, self.mixer
                ),
            ));
        }
        if self.bidirectional && shape.reads_steps {
            return Err(Error::config(
                "model.bidirectional",
                format!(
                    "task `{}` reads outputs at steps, which a bidirectional model could read from the future",
                    shape.name
                ),
            ));
        }
        if self.bidirectional
            && !matches!(
                self.mixer,
                MixerKind::S4 | MixerKind::S4d | MixerKind::S5 | MixerKind::LongConv
            )
        {
            return Err(Error::config(
                "model.bidirectional",
                "only S4/S4D, S5 and long_conv mixers take this flag (use mixer = \"hydra\" for a bidirectional Mamba-2)",
            ));
        }
        Ok(ClassifierConfig {
            input: shape.input,
            classes: shape.outputs,
            n_layers: self.n_layers,
            mixer,
            norm,
            batch_norm_momentum: self.batch_norm_momentum.unwrap_or(MOMENTUM),
            prenorm: self.prenorm,
            dropout: self.dropout,
            pooling: self.pooling,
            embedding_std: self.embedding_std.unwrap_or(1.0),
            tie_embeddings: self.tie_embeddings.unwrap_or(false),
        })
    }
}

/// What a mixer stack reads and writes.
struct StackShape<'a> {
    input: InputKind,
    outputs: usize,
    max_len: usize,
    /// Whether outputs are read at steps whose later inputs hold targets.
    reads_steps: bool,
    name: &'a str,
}

/// Steps, batches and evaluation cadence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Optimiser steps.
    pub steps: u64,
    /// Linear warm-up steps before the cosine decay.
    pub warmup: u64,
    /// Examples per step.
    pub batch_size: usize,
    /// Evaluate on the validation set every this many steps (and at the end).
    pub eval_every: u64,
    /// Stop after this many evaluations without a better validation row
    /// (absent: run every step).
    pub patience: Option<u64>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            warmup: 100,
            batch_size: 32,
            eval_every: 200,
            patience: None,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Seed of initialisation, data order and dropout.
    pub seed: u64,
    /// The task.
    pub task: TaskConfig,
    /// The model.
    pub model: ModelConfig,
    /// The optimiser.
    pub optim: OptimConfig,
    /// Steps and batches.
    pub schedule: ScheduleConfig,
}

impl TrainConfig {
    /// Parses TOML, applies `key=value` overrides (dotted keys, TOML
    /// values; bare words are strings), and checks every field.
    pub fn from_toml(text: &str, overrides: &[String]) -> Result<Self> {
        let mut value: toml::Value = toml::from_str(text)
            .map_err(|e| Error::config("config", format!("malformed TOML: {e}")))?;
        for item in overrides {
            let (key, raw) = item
                .split_once('=')
                .ok_or_else(|| Error::config(item.as_str(), "overrides are written key=value"))?;
            // One line, one value: a newline (or any control character)
            // could otherwise add or hide TOML around the value.
            if item.chars().any(char::is_control) {
                return Err(Error::config(
                    key.trim(),
                    "an override is one line: control characters (newlines, tabs) are not allowed",
                ));
            }
            let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .filter(|t| t.len() == 1)
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(raw.to_string()));
            set_path(&mut value, key.trim(), parsed)?;
        }
        // Through text, so that the error's span names the key it is about.
        let text = toml::to_string(&value)
            .map_err(|e| Error::config("config", format!("cannot be written as TOML: {e}")))?;
        let config: TrainConfig = toml::from_str(&text).map_err(|e: toml::de::Error| {
            let key = e.span().and_then(|span| key_at(&text, span.start));
            Error::config(key.as_deref().unwrap_or("config"), e.message().to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The resolved configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialise")
    }

    /// Checks cross-field constraints.
    pub fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        if self.optim.precision != Precision::F32 {
            let lm = matches!(self.task, TaskConfig::Lm(_));
            let mixer = matches!(self.model.mixer, MixerKind::Mamba | MixerKind::Mamba2);
            if !(lm && mixer) {
                return Err(Error::config(
                    "optim.precision",
                    format!(
                        "\"{}\" (mixed precision) trains language models (task.kind = \"lm\") with the mamba and mamba2 mixers; use \"f32\" here",
                        self.optim.precision.name()
                    ),
                ));
            }
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            return Err(Error::config(
                "model.dropout",
                format!("must be in [0, 1), got {}", self.model.dropout),
            ));
        }
        if let Some(momentum) = self.model.batch_norm_momentum {
            if self.model.norm != Some(NormKind::Batch) {
                return Err(Error::config(
                    "model.batch_norm_momentum",
                    "is read only with norm = \"batch\"",
                ));
            }
            if !(momentum > 0.0 && momentum <= 1.0) {
                return Err(Error::config(
                    "model.batch_norm_momentum",
                    format!("must be in (0, 1], got {momentum}"),
                ));
            }
        }
        if let Some(std) = self.model.embedding_std
            && !(std.is_finite() && std > 0.0)
        {
            return Err(Error::config(
                "model.embedding_std",
                format!("must be finite and positive, got {std}"),
            ));
        }
        if self.schedule.steps == 0 {
            return Err(Error::config("schedule.steps", "must be at least 1"));
        }
        if self.schedule.batch_size == 0 {
            return Err(Error::config("schedule.batch_size", "must be at least 1"));
        }
        if self.schedule.patience == Some(0) {
            return Err(Error::config(
                "schedule.patience",
                "must be at least 1 (leave it out to run every step)",
            ));
        }
        if self.schedule.eval_every == 0 {
            return Err(Error::config("schedule.eval_every", "must be at least 1"));
        }
        if self.model.d_model == 0 || self.model.n_layers == 0 {
            return Err(Error::config(
                "model.d_model/n_layers",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The dotted key of the entry at byte `offset` of TOML `text` as
/// `toml::to_string` writes a table (`[a.b]` headers, `key = value`
/// lines): `a.b.key`, the header itself on a header line; `None` where the
/// offset is past the text.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let unquote = |k: &str| k.trim().trim_matches('"').to_string();
    let mut table: Option<String> = None;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let trimmed = line.trim();
        let header = trimmed
            .strip_prefix('[')
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .map(|h| h.split('.').map(unquote).collect::<Vec<_>>().join("."));
        if offset < end {
            return Some(match (header, trimmed.split_once('=')) {
                (Some(h), _) => h,
                (None, Some((key, _))) => match &table {
                    Some(t) => format!("{t}.{}", unquote(key)),
                    None => unquote(key),
                },
                (None, None) => table.unwrap_or_else(|| "config".to_string()),
            });
        }
        if header.is_some() {
            table = header;
        }
        start = end;
    }
    None
}

fn set_path(root: &mut toml::Value, key: &str, value: toml::Value) -> Result<()> {
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let table = node.as_table_mut().ok_or_else(|| {
            Error::config(key, format!("`{}` is not a table", parts[..i].join(".")))
        })?;
        if i + 1 == parts.len() {
            table.insert(part.to_string(), value);
            return Ok(());
        }
        node = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    Ok(())
}
