//! AdamW with the S4 parameter groups: the SSM parameters (A, B, P and Δ in
//! any parameterisation) get their own learning rate and no weight decay,
//! the convolution kernels' Δ optionally a rate of its own; everything else
//! the global rate and weight decay (decoupled, as `torch.optim.AdamW`).
//! Gradients may be clipped to a global norm first.

use std::collections::HashMap;

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use serde::{Deserialize, Serialize};

use super::loss_scale::LossScale;
use crate::error::{Error, Result};
use crate::io::state_dict::Path;
use crate::models::Precision;
use crate::ops::support::primitive::tensor;
use crate::ops::{AdamWOps, AdamWScalars};

/// Hyperparameters of the optimiser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Learning rate of ordinary parameters (peak of the schedule).
    pub lr: f64,
    /// Decoupled weight decay of ordinary parameters.
    pub weight_decay: f64,
    /// Learning rate of SSM parameters (A, B, P, Δ).
    pub ssm_lr: f64,
    /// Learning rate of the step size Δ of the convolution kernels (S4's and
    /// S4D's `inv_dt`, H3's `log_dt`), no weight decay; `ssm_lr` when
    /// absent. S4's ListOps recipe sets its `lr.dt` to null, which leaves Δ
    /// at the global rate while A and B take 1e-3.
    pub dt_lr: Option<f64>,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Clip the global gradient norm to this value (none if absent).
    pub grad_clip: Option<f64>,
    /// The arithmetic of the forward and backward passes: `f32`, or `bf16`
    /// / `f16` mixers on f32 master parameters ([`Precision::Bf16`],
    /// [`Precision::F16`] with dynamic loss scaling; language models with
    /// Mamba or Mamba-2 mixers).
    pub precision: Precision,
    /// f32 products on TF32 tensor cores (NVIDIA GPUs from Ampere on), as
    /// PyTorch's `allow_tf32`: faster, about 1e-3 relative from f32
    /// (`ops::matmul::allow_tf32`). Off by default; the CPU ignores it.
    pub tf32: bool,
}

impl OptimConfig {
    /// Checks every field, naming the first one out of its domain.
    pub fn validate(&self) -> Result<()> {
        let rate = |key: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    key,
                    format!("must be finite and non-negative, got {v}"),
                ))
            }
        };
        rate("optim.lr", self.lr)?;
        rate("optim.ssm_lr", self.ssm_lr)?;
        if let Some(dt_lr) = self.dt_lr {
            rate("optim.dt_lr", dt_lr)?;
        }
        rate("optim.weight_decay", self.weight_decay)?;
        for (key, beta) in [("optim.beta1", self.beta1), ("optim.beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(Error::config(key, format!("must be in [0, 1), got {beta}")));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::config(
                "optim.eps",
                format!("must be finite and positive, got {}", self.eps),
            ));
        }
        if let Some(clip) = self.grad_clip
            && !(clip.is_finite() && clip > 0.0)
        {
            return Err(Error::config(
                "optim.grad_clip",
                format!("must be finite and positive, got {clip}"),
            ));
        }
        Ok(())
    }
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: 0.01,
            weight_decay: 0.05,
            ssm_lr: 0.001,
            dt_lr: None,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            grad_clip: None,
            precision: Precision::F32,
            tf32: false,
        }
    }
}

/// Whether the parameter called `name` is an SSM parameter (its own
/// group: `ssm_lr`, no weight decay): S4's Δ, A, B, P; Mamba's A and Δ
/// bias; S5's Λ, B and log Δ (its "B fast, C decay" recipe); H3's diagonal
/// SSM (log Δ, A, B); the long convolution's taps (safari's kernel
/// learning rate); MambaMixer's A and Δ biases; Chimera's A₁ … A₄ and Δ
/// biases.
pub fn is_ssm_param(name: &str) -> bool {
    const SUFFIXES: [&str; 25] = [
        "kernel.inv_dt",
        "kernel.A_real",
        "kernel.A_imag",
        "kernel.B",
        "kernel.P",
        "mixer.A_log",
        "mixer.dt_bias",
        "mixer.dt_proj.bias",
        "seq.Lambda_re",
        "seq.Lambda_im",
        "seq.B",
        "seq.log_step",
        "kernel.log_dt",
        "kernel.inv_A_real",
        "kernel.kernel",
        "forward.A_log",
        "backward.A_log",
        "forward.dt_proj.bias",
        "backward.dt_proj.bias",
        ".A1_log",
        ".A2",
        ".A3",
        ".A4_log",
        "dt_time.bias",
        "dt_variate.bias",
    ];
    SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Whether the parameter called `name` is a convolution kernel's step
/// size Δ (S4's and S4D's `kernel.inv_dt`, H3's `kernel.log_dt`), which
/// `optim.dt_lr` sets apart from the other SSM parameters.
pub fn is_kernel_step(name: &str) -> bool {
    name.ends_with("kernel.inv_dt") || name.ends_with("kernel.log_dt")
}

impl OptimConfig {
    /// (learning rate, weight decay) of the parameter called `name`.
    pub fn group(&self, name: &str) -> (f64, f64) {
        match self.dt_lr {
            Some(dt_lr) if is_kernel_step(name) => (dt_lr, 0.0),
            _ if is_ssm_param(name) => (self.ssm_lr, 0.0),
            _ => (self.lr, self.weight_decay),
        }
    }
}

/// The first and second moment of one parameter, flattened.
#[derive(Debug, Clone)]
pub struct Moments<B: Backend> {
    /// First moment m.
    pub m: Tensor<B, 1>,
    /// Second moment v.
    pub v: Tensor<B, 1>,
}

/// AdamW state: the step count, each parameter's moments, by name, and
/// the loss scale under f16 mixed precision.
#[derive(Debug, Clone)]
pub struct AdamW<B: Backend> {
    /// Configuration.
    pub config: OptimConfig,
    /// Steps taken (skipped steps of a loss scale do not count).
    pub step: u64,
    /// Moments by parameter name.
    pub moments: HashMap<String, Moments<B>>,
    /// The loss scale, when the precision scales the loss
    /// ([`Precision::scales_loss`]): gradients arrive multiplied by it.
    pub loss_scale: Option<LossScale>,
}

/// Collects every gradient, flattened, for one squared-norm pass on the
/// device (one host read for the whole model, not one per parameter).
struct GradVisitor<'a, B: Backend> {
    grads: &'a GradientsParams,
    flat: Vec<Tensor<B, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradVisitor<'_, B::InnerBackend> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let numel = g.shape().num_elements();
            self.flat.push(g.reshape([numel]));
        }
    }
}

/// Every gradient in `grads` of a parameter of `module`, flattened, in the
/// module's visiting order.
pub(crate) fn flat_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> Vec<Tensor<B::InnerBackend, 1>> {
    let mut visitor = GradVisitor::<B::InnerBackend> {
        grads,
        flat: Vec::new(),
    };
    module.visit(&mut visitor);
    visitor.flat
}

struct Update<'a, B: AutodiffBackend> {
    path: Path,
    grads: &'a GradientsParams,
    state: &'a mut AdamW<B::InnerBackend>,
    lr_scale: f64,
    grad_scale: f64,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Update<'_, B>
where
    B::InnerBackend: AdamWOps,
{
    fn enter_module(&mut self, name: &str, container: &str) {
        self.path.enter(name, container);
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) else {
            return param;
        };
        let name = self.path.name();
        let c = &self.state.config;
        let (lr, wd) = c.group(&name);
        let scalars = AdamWScalars {
            lr: lr * self.lr_scale,
            weight_decay: wd,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            step: self.state.step as i32,
            grad_scale: self.grad_scale,
        };
        let p = param.val().inner();
        let dims = p.dims();
        let numel: usize = dims.iter().product();
        let g = grad.reshape([numel]);
        let p_flat = p.reshape([numel]);
        let moments = self.state.moments.entry(name).or_insert_with(|| Moments {
            m: p_flat.zeros_like(),
            v: p_flat.zeros_like(),
        });
        let (updated, m, v) = B::InnerBackend::adamw_update(
            p_flat.into_primitive().tensor(),
            g.into_primitive().tensor(),
            moments.m.clone().into_primitive().tensor(),
            moments.v.clone().into_primitive().tensor(),
            &scalars,
        );
        moments.m = tensor(m);
        moments.v = tensor(v);
        let updated = tensor::<B::InnerBackend, 1>(updated);
        let updated = Tensor::<B, D>::from_inner(updated.reshape(dims)).require_grad();
        param.map(|_| updated)
    }
}

impl<B: Backend> AdamW<B> {
    /// A fresh optimiser.
    pub fn new(config: OptimConfig) -> Self {
        Self {
            loss_scale: config.precision.scales_loss().then(LossScale::new),
            config,
            step: 0,
            moments: HashMap::new(),
        }
    }

    /// The factor the loss is multiplied by before the backward pass (1
    /// without loss scaling).
    pub fn loss_factor(&self) -> f64 {
        self.loss_scale.map_or(1.0, |s| s.scale)
    }
}

/// One AdamW step on `module` with `grads` (of the loss times
/// [`AdamW::loss_factor`]), the learning rates scaled by `lr_scale` (the
/// schedule). Returns the updated module and, when `grad_clip` is set or
/// the loss is scaled, the global norm of the loss's own gradient before
/// clipping. Reading the norm waits for the device; without either the
/// step only queues kernels. Under loss scaling a gradient with an
/// infinity or NaN leaves the module and moments as they are (the step is
/// skipped, the scale halved; [`LossScale::update`]).
pub fn step<B: AutodiffBackend, M: AutodiffModule<B>>(
    optim: &mut AdamW<B::InnerBackend>,
    module: M,
    grads: &GradientsParams,
    lr_scale: f64,
) -> (M, Option<f64>)
where
    B::InnerBackend: AdamWOps,
{
    let factor = optim.loss_factor();
    let norm = (optim.config.grad_clip.is_some() || optim.loss_scale.is_some())
        .then(|| grad_norm::<B, M>(&module, grads) / factor);
    if let Some(scale) = &mut optim.loss_scale
        && !scale.update(norm.is_some_and(f64::is_finite))
    {
        return (module, norm);
    }
    let clip = match (optim.config.grad_clip, norm) {
        (Some(max), Some(norm)) if norm > max && norm > 0.0 => max / norm,
        _ => 1.0,
    };
    let grad_scale = clip / factor;
    optim.step += 1;
    let mut update = Update::<B> {
        path: Path::default(),
        grads,
        state: optim,
        lr_scale,
        grad_scale,
    };
    (module.map(&mut update), norm)
}

/// The global norm of `module`'s gradients (one read from the device).
fn grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(module: &M, grads: &GradientsParams) -> f64
where
    B::InnerBackend: AdamWOps,
{
    let flat: Vec<FloatTensor<B::InnerBackend>> = flat_grads::<B, M>(module, grads)
        .into_iter()
        .map(|g| g.into_primitive().tensor())
        .collect();
    let device = flat
        .first()
        .map(B::InnerBackend::float_device)
        .unwrap_or_default();
    let sum_sq = B::InnerBackend::sum_of_squares(flat, &device);
    let sum_sq: f64 =
        burn::tensor::ElementConversion::elem(tensor::<B::InnerBackend, 1>(sum_sq).into_scalar());
    sum_sq.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_groups_follow_the_names() {
        let mut c = OptimConfig {
            lr: 0.01,
            weight_decay: 0.05,
            ssm_lr: 0.001,
            ..OptimConfig::default()
        };
        let dt = "layers.0.mixer.kernel.inv_dt";
        assert_eq!(c.group(dt), (0.001, 0.0));
        assert_eq!(c.group("layers.0.mixer.kernel.B"), (0.001, 0.0));
        assert_eq!(c.group("layers.0.mixer.kernel.C"), (0.01, 0.05));
        assert_eq!(c.group("decoder.weight"), (0.01, 0.05));
        // S4's ListOps recipe: Δ at the global rate, A and B at 1e-3.
        c.dt_lr = Some(0.01);
        assert_eq!(c.group(dt), (0.01, 0.0));
        assert_eq!(c.group("layers.0.h3.ssm_k.kernel.log_dt"), (0.01, 0.0));
        assert_eq!(c.group("layers.0.mixer.kernel.B"), (0.001, 0.0));
        assert_eq!(c.group("layers.0.mixer.dt_bias"), (0.001, 0.0));
        c.dt_lr = Some(f64::NAN);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("optim.dt_lr"), "{err}");
    }
}
