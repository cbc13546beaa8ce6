//! The settings of SpaceTime's SSMs (the official `kwargs`) and how their
//! kernels are laid out over the model's channels.

use serde::Deserialize;

use crate::error::{Error, Result};

/// The shared `kwargs` of the official SSM classes (`model/ssm/base.py`),
/// with the closed-loop and preprocessing extras; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsmKwargs {
    /// Channels D of the input and output.
    pub model_dim: usize,
    /// Distinct kernels.
    pub n_kernels: usize,
    /// State size N (the companion matrix is N × N).
    pub kernel_dim: usize,
    /// Times the kernels repeat over the channels (forced to 1 by the
    /// companion and shift SSMs).
    #[serde(default = "one")]
    pub kernel_repeat: usize,
    /// Heads per kernel: ignored when `head_dim` is given, which derives it.
    #[serde(default)]
    pub n_heads: Option<usize>,
    /// Channels per head.
    #[serde(default = "some_one")]
    pub head_dim: Option<usize>,
    /// Whether y adds skip ⊙ u.
    #[serde(default)]
    pub skip_connection: bool,
    /// Order of the row norm of a, b, c, k (0: none where the code skips it).
    #[serde(default)]
    pub norm_order: u32,
    /// "normal" (the only initialisation the official code can run).
    #[serde(default)]
    pub kernel_init: Option<String>,
    /// Unused by these classes (always learned or always fixed).
    #[serde(default)]
    pub kernel_train: Option<bool>,
    /// Explicit kernels: not supported (refused when given).
    #[serde(default)]
    pub kernel_weights: Option<serde_json::Value>,
    /// Closed loop: input steps.
    #[serde(default)]
    pub lag: Option<usize>,
    /// Closed loop: forecast steps.
    #[serde(default)]
    pub horizon: Option<usize>,
    /// Closed loop: a learned initial state (not implemented officially).
    #[serde(default)]
    pub use_initial: bool,
    /// Preprocessing: the highest differencing order + 1 (rows of Pascal).
    #[serde(default)]
    pub max_diff_order: Option<usize>,
    /// Residual preprocessing: moving-average windows are drawn in
    /// [min_avg_window, max_avg_window).
    #[serde(default)]
    pub min_avg_window: Option<usize>,
    /// See `min_avg_window`.
    #[serde(default)]
    pub max_avg_window: Option<usize>,
    /// Residual preprocessing: the official generator's seed.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn one() -> usize {
    1
}

fn some_one() -> Option<usize> {
    Some(1)
}

/// Which kernel row feeds each channel: channel d = ((r·R + k)·heads + h)·
/// head_dim + i reads row k of R (einops `(kr nk nh hd)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLayout {
    /// Channels D.
    pub channels: usize,
    /// Heads per kernel row.
    pub heads: usize,
    /// Channels per head.
    pub head_dim: usize,
}

impl ChannelLayout {
    /// The row of `rows` that channel d reads: (d / (heads·head_dim)) mod rows.
    pub fn rows_of_channels(&self, rows: usize) -> Vec<i64> {
        (0..self.channels)
            .map(|d| ((d / (self.heads * self.head_dim)) % rows) as i64)
            .collect()
    }
}

impl SsmKwargs {
    /// The layout with `repeat` copies of the kernel rows: heads derived as
    /// D / (repeat·n_kernels·head_dim) when head_dim is given (the official
    /// `init_heads`), else head_dim from n_heads. Fails unless the product
    /// is D exactly.
    pub fn layout(&self, repeat: usize) -> Result<ChannelLayout> {
        let bad = |key: &str, why: String| Error::config(key, why);
        if self.n_kernels == 0 || self.kernel_dim == 0 || self.model_dim == 0 {
            return Err(bad(
                "model_dim/n_kernels/kernel_dim",
                "must all be at least 1".into(),
            ));
        }
        if self.kernel_weights.as_ref().is_some_and(|w| !w.is_null()) {
            return Err(bad(
                "kernel_weights",
                "explicit kernels are not supported".into(),
            ));
        }
        let per_row = repeat * self.n_kernels;
        let (heads, head_dim) = match (self.head_dim, self.n_heads) {
            (Some(hd), _) if hd > 0 => (self.model_dim / (per_row * hd), hd),
            (_, Some(nh)) if nh > 0 => (nh, self.model_dim / (per_row * nh)),
            _ => {
                return Err(bad(
                    "head_dim",
                    "one of head_dim, n_heads must be ≥ 1".into(),
                ));
            }
        };
        if heads == 0 || head_dim == 0 || per_row * heads * head_dim != self.model_dim {
            return Err(bad(
                "model_dim",
                format!(
                    "{} channels cannot be laid out as {repeat} repeat(s) × {} kernels × heads × \
                     head_dim {}",
                    self.model_dim,
                    self.n_kernels,
                    self.head_dim.unwrap_or(head_dim)
                ),
            ));
        }
        Ok(ChannelLayout {
            channels: self.model_dim,
            heads,
            head_dim,
        })
    }
}
