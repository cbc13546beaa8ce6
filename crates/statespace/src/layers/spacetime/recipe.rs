//! The model config that the official `main.py` resolves from its command
//! line (`setup/configs/model.py::load_model_config` on the repository's
//! `embedding/repeat`, `encoder/default`, `decoder/default` and
//! `output/default` YAML files) for a univariate series, so that a run here
//! builds the network the paper's commands build.
//!
//! What the official resolution does, quirks included:
//! - the embedding fixes n_heads 4 and n_kernels 32, so an absent
//!   `--model_dim` becomes 4 · 32 = 128;
//! - the first encoder block keeps its YAML SSM (`kernel_dim` 64, 8 heads
//!   of 16 kernels) whatever `--kernel_dim` says, and its residual
//!   preprocessing repeats 8 kernels `model_dim / 8` times;
//! - later encoder blocks take `--kernel_dim` and `model_dim` kernels;
//!   `--n_blocks N` gives max(1, N − 1) encoder blocks (the last one counts
//!   the decoder);
//! - the closed-loop decoder keeps `kernel_dim` 64 from its YAML too;
//! - `--dropout` reaches every encoder MLP and the output MLP.

use serde_json::{Value, json};

use super::network::SpaceTimeConfig;
use crate::error::{Error, Result};

/// The official command-line arguments that shape the model.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceTimeRecipe {
    /// `--model_dim` (absent: 128, as the embedding config resolves it).
    pub model_dim: Option<usize>,
    /// `--n_blocks` (encoder blocks + the decoder).
    pub n_blocks: usize,
    /// `--kernel_dim`: the state size of encoder blocks after the first.
    pub kernel_dim: usize,
    /// `--norm_order`.
    pub norm_order: usize,
    /// `--dropout`.
    pub dropout: f64,
    /// `--lag`.
    pub lag: usize,
    /// `--horizon`.
    pub horizon: usize,
    /// `--seed` (recorded in the preprocessing config, as officially).
    pub seed: u64,
}

impl SpaceTimeRecipe {
    /// The resolved config as the official JSON (`OmegaConf.to_container`).
    pub fn to_json(&self) -> Result<Value> {
        let m = self.model_dim.unwrap_or(4 * 32);
        if m == 0 || !m.is_multiple_of(16) {
            return Err(Error::config(
                "model.d_model",
                format!(
                    "SpaceTime's first block splits model_dim into 8 heads of 16 kernels: {m} is not a multiple of 16"
                ),
            ));
        }
        if self.kernel_dim == 0 || self.lag == 0 || self.horizon == 0 || self.n_blocks == 0 {
            return Err(Error::config(
                "model.d_state/n_layers, task.lag/horizon",
                "kernel_dim, n_blocks, lag and horizon must be at least 1",
            ));
        }
        let mlp = json!({
            "method": "mlp",
            "kwargs": {
                "input_dim": m, "output_dim": m, "activation": "gelu",
                "dropout": self.dropout, "layernorm": false, "n_layers": 1,
                "n_activations": 1, "pre_activation": true, "input_shape": "bld",
                "skip_connection": true, "average_pool": null
            }
        });
        let companion = |n_kernels: usize, kernel_dim: usize, n_heads: usize, norm_order: usize| {
            json!({
                "model_dim": m, "n_kernels": n_kernels, "kernel_dim": kernel_dim,
                "kernel_repeat": 1, "n_heads": n_heads, "head_dim": 1,
                "kernel_weights": null, "kernel_init": "normal", "kernel_train": true,
                "skip_connection": true, "norm_order": norm_order
            })
        };
        let first = json!({
            "input_dim": 128,
            "pre_config": {
                "method": "residual",
                "kwargs": {
                    "max_diff_order": 4, "min_avg_window": 4, "max_avg_window": 64,
                    "model_dim": m, "n_kernels": 8, "kernel_dim": 2, "kernel_repeat": m / 8,
                    "n_heads": 1, "head_dim": 1, "kernel_weights": null, "kernel_init": null,
                    "kernel_train": false, "skip_connection": false, "seed": self.seed
                }
            },
            "ssm_config": {"method": "companion", "kwargs": companion(16, 64, 8, 1)},
            "mlp_config": mlp,
            "skip_connection": true,
            "skip_preprocess": false
        });
        let later = json!({
            "input_dim": 128,
            "pre_config": {"method": "identity", "kwargs": null},
            "ssm_config": {
                "method": "companion",
                "kwargs": companion(m, self.kernel_dim, 1, self.norm_order)
            },
            "mlp_config": mlp,
            "skip_connection": true,
            "skip_preprocess": true
        });
        let mut blocks = vec![first];
        blocks.extend(std::iter::repeat_n(later, self.n_blocks.saturating_sub(2)));
        let mut closed = companion(m, 64, 1, self.norm_order);
        closed["skip_connection"] = json!(false);
        closed["use_initial"] = json!(false);
        closed["lag"] = json!(self.lag);
        closed["horizon"] = json!(self.horizon);
        let mut output = mlp["kwargs"].clone();
        output["output_dim"] = json!(1);
        output["skip_connection"] = json!(false);
        Ok(json!({
            "embedding_config": {
                "method": "repeat",
                "kwargs": {"input_dim": 1, "embedding_dim": m, "n_heads": 4, "n_kernels": 32}
            },
            "encoder_config": {"blocks": blocks},
            "decoder_config": {"blocks": [{
                "input_dim": 128,
                "pre_config": {"method": "identity", "kwargs": null},
                "ssm_config": {"method": "closed_loop_companion", "kwargs": closed},
                "mlp_config": {"method": "identity", "kwargs": null},
                "skip_connection": false,
                "skip_preprocess": false
            }]},
            "output_config": {"input_dim": m, "output_dim": 1, "method": "mlp", "kwargs": output},
            "inference_only": false,
            "lag": self.lag,
            "horizon": self.horizon
        }))
    }

    /// The resolved config.
    pub fn config(&self) -> Result<SpaceTimeConfig> {
        serde_json::from_value(self.to_json()?)
            .map_err(|e| Error::config("model", format!("SpaceTime recipe: {e}")))
    }
}
