//! Initialisations the mixers share.

use burn::module::Param;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use crate::random::uniform;

/// mamba_ssm's Δ bias: Δ = exp(U(ln dt_min, ln dt_max)) per head, floored at
/// `floor`, stored through the inverse softplus (Δ + ln(1 − e^{−Δ})) so that
/// softplus(dt_bias) = Δ. `range` is (dt_min, dt_max, floor).
pub(crate) fn dt_bias<B: Backend>(
    rng: &mut impl Rng,
    heads: usize,
    (dt_min, dt_max, floor): (f64, f64, f64),
    device: &B::Device,
) -> Tensor<B, 1> {
    let log_dt: Tensor<B, 1> = uniform(rng, [heads], dt_min.ln(), dt_max.ln(), device);
    let dt = log_dt.exp().clamp_min(floor);
    dt.clone() + (dt.neg().exp().neg().add_scalar(1.0)).log()
}

/// mamba_ssm's S4D-Real A_log: log(1 … N) in every one of `channels` rows,
/// (channels, N), so that A = −exp(A_log) = −(1 … N).
pub(crate) fn s4d_real_a_log<B: Backend>(
    channels: usize,
    n: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::<B, 1, burn::tensor::Int>::arange(1..n as i64 + 1, device)
        .float()
        .log()
        .reshape([1, n])
        .repeat_dim(0, channels)
}

/// A parameter that takes no gradient (a PyTorch buffer) holding `values`
/// in `shape`.
pub(crate) fn buffer<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    let t = Tensor::<B, 1>::from_floats(values.as_slice(), device).reshape(shape);
    Param::from_tensor(t).set_require_grad(false)
}
