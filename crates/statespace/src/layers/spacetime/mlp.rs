//! SpaceTime's MLP (`model/mlp.py`): an optional leading activation (with
//! element-wise dropout in training, none in evaluation), then linear maps with activations between,
//! as the official `initialize_layers` orders them, plus an optional skip.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::layers::activation::Activation;
use crate::layers::linear::Linear;
use crate::ops::SsmBackend;

/// The official MLP `kwargs`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpKwargs {
    /// Input width.
    pub input_dim: usize,
    /// Output width.
    pub output_dim: usize,
    /// Activation name ("gelu", "relu", …).
    #[serde(default)]
    pub activation: Option<Activation>,
    /// Dropout after the leading activation, in [0, 1) (the official
    /// values above 1, a tied-mask hack, are refused); training only.
    #[serde(default)]
    pub dropout: f64,
    /// A LayerNorm first: not supported (refused).
    #[serde(default)]
    pub layernorm: bool,
    /// Linear maps.
    #[serde(default = "one")]
    pub n_layers: usize,
    /// Activations.
    #[serde(default)]
    pub n_activations: usize,
    /// Whether an activation comes first.
    #[serde(default)]
    pub pre_activation: bool,
    /// "bld" (the only layout supported).
    #[serde(default)]
    pub input_shape: Option<String>,
    /// Hidden width (default: output_dim for one layer, else input_dim).
    #[serde(default)]
    pub hidden_dim: Option<usize>,
    /// Whether the input is added to the output.
    #[serde(default)]
    pub skip_connection: bool,
    /// Pooling: not supported (refused).
    #[serde(default)]
    pub average_pool: Option<String>,
}

fn one() -> usize {
    1
}

/// One entry of the official `layers` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// An activation (or the dropout after the leading one).
    Act,
    /// The i-th of our linear maps.
    Linear(usize),
    /// The dropout (identity in evaluation).
    Dropout,
}

/// The MLP; `linears[i]` is the official `layers.<index of Linear(i)>`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The linear maps in order.
    pub linears: Vec<Linear<B>>,
    /// The dropout (active only on an autodiff backend).
    pub dropout: Dropout,
    #[module(skip)]
    steps: Vec<Step>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    skip_connection: bool,
}

impl MlpKwargs {
    /// The MLP with PyTorch's default linear init. Fails on the settings
    /// not supported (layernorm, pooling, a (b, d, l) input).
    pub fn init<B: Backend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Mlp<B>> {
        if self.layernorm {
            return Err(Error::config(
                "layernorm",
                "an MLP layernorm is not supported",
            ));
        }
        if self.average_pool.is_some() {
            return Err(Error::config("average_pool", "pooling is not supported"));
        }
        if self.input_shape.as_deref().is_some_and(|s| s != "bld") {
            return Err(Error::config("input_shape", "only \"bld\" is supported"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config(
                "dropout",
                format!(
                    "{} is not in [0, 1) (the official DropoutNd hack for values above 1 is not supported)",
                    self.dropout
                ),
            ));
        }
        if self.n_layers == 0 {
            return Err(Error::config(
                "n_layers",
                "an MLP needs at least one linear map",
            ));
        }
        if self.skip_connection && self.input_dim != self.output_dim {
            return Err(Error::config(
                "skip_connection",
                "needs input_dim = output_dim",
            ));
        }
        let hidden = self.hidden_dim.unwrap_or(if self.n_layers < 2 {
            self.output_dim
        } else {
            self.input_dim
        });
        let mut steps = Vec::new();
        let mut activations = self.n_activations as i64;
        if self.n_activations > self.n_layers || self.pre_activation {
            steps.extend([Step::Act, Step::Dropout]);
            activations -= 1;
        }
        let mut linears = Vec::new();
        let mut layers = self.n_layers as i64;
        while layers > 0 || activations > 0 {
            let widths = if layers == self.n_layers as i64 {
                Some((self.input_dim, hidden))
            } else if layers > 1 {
                Some((hidden, hidden))
            } else if layers == 1 {
                Some((hidden, self.output_dim))
            } else {
                None
            };
            if let Some((d_in, d_out)) = widths {
                steps.push(Step::Linear(linears.len()));
                linears.push(Linear::new(d_in, d_out, true, device, rng));
            }
            if activations > 0 {
                steps.push(Step::Act);
            }
            layers -= 1;
            activations -= 1;
        }
        Ok(Mlp {
            linears,
            dropout: DropoutConfig::new(self.dropout).init(),
            steps,
            activation: self.activation.unwrap_or(Activation::Identity),
            skip_connection: self.skip_connection,
        })
    }
}

impl<B: Backend> Mlp<B> {
    /// The official name (`layers.<j>.<rest>`) of our parameter
    /// `linears.<i>.<rest>`.
    pub fn official_name(&self, name: &str) -> String {
        let Some(rest) = name.strip_prefix("linears.") else {
            return name.to_string();
        };
        let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
        let index: usize = index.parse().unwrap_or(usize::MAX);
        let position = self
            .steps
            .iter()
            .position(|s| *s == Step::Linear(index))
            .unwrap_or(usize::MAX);
        format!("layers.{position}.{tail}")
    }
}

impl<B: SsmBackend> Mlp<B> {
    /// x (B, L, input_dim) → (B, L, output_dim).
    pub fn forward(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let mut y = x.clone();
        for step in &self.steps {
            y = match step {
                Step::Act => self.activation.apply(y)?,
                Step::Dropout => self.dropout.forward(y),
                Step::Linear(i) => self.linears[*i].forward(y)?,
            };
        }
        Ok(if self.skip_connection { y + x } else { y })
    }
}
