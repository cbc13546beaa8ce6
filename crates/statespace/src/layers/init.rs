//! Initialisations the mixers share.

use burn::module::Param;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use crate::layers::linear::Linear;
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

/// mamba_ssm's Δ projection dt_rank → channels: PyTorch's default
/// `nn.Linear` draws, then the weight redrawn from U(±dt_rank^−½) and the
/// bias set to [`dt_bias`] of each group `(channels, dt_min, dt_max)` in
/// turn (floored at `floor`), the channels of the groups in order.
pub(crate) fn dt_projection<B: Backend>(
    rank: usize,
    groups: &[(usize, f64, f64)],
    floor: f64,
    device: &B::Device,
    rng: &mut impl Rng,
) -> Linear<B> {
    let channels = groups.iter().map(|g| g.0).sum();
    let mut p = Linear::new(rank, channels, true, device, rng);
    let std = (rank as f64).powf(-0.5);
    p.weight = Param::from_tensor(uniform(rng, [channels, rank], -std, std, device));
    let biases = groups
        .iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|&(count, lo, hi)| dt_bias(rng, count, (lo, hi, floor), device))
        .collect();
    p.bias = Some(Param::from_tensor(Tensor::cat(biases, 0)));
    p
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
