//! Causal long convolution through the FFT, as a backend extension with a
//! fused CPU kernel and its own backward.
//!
//! y[b, t, c·H + h] = Σ_{s ≤ t} k[c, h, t − s] · u[b, s, h] + d[c, h] · u[b, t, h]
//! for t < L, with u (B, L, H), k (C, H, Lk) and the skip d (C, H): the S4
//! convolution with its D term, in the layers' channel-last layout.
//! Computed as a linear (zero-padded) convolution with FFTs of length
//! n ≥ L + Lk − 1, so nothing wraps around. The backward pass is two
//! correlations in the same frequency domain: ∂/∂u = IFFT(Σ_c conj(K_c)·GY_c)[..L]
//! (+ Σ_c d·gy), ∂/∂k = IFFT(Σ_b conj(U_b)·GY_b)[..Lk], and ∂/∂d = Σ_{b,t} gy·u.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
// Used by the CUDA launcher only; compiled and tested on every build.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod plan;
mod reference;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

pub use reference::causal_conv_composite;

use crate::error::Result;
use crate::ops::support::check::{self, arg};

/// The FFT length used for a convolution of L outputs with Lk taps.
pub fn fft_len(len: usize, k_len: usize) -> usize {
    (len + k_len - 1).next_power_of_two()
}

/// Backends that run the causal FFT convolution.
pub trait FftConvOps: crate::ops::SpectralOps {
    /// y (B, L, C·H) from u (B, L, H), k (C, H, Lk ≤ L) and d (C, H).
    fn fft_conv(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// (∂/∂u (B, L, H), ∂/∂k (C, H, Lk), ∂/∂d (C, H)) from the gradient of y.
    fn fft_conv_backward(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
        grad_y: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Whether [`causal_conv`] runs the differentiable spectral composite
    /// ([`causal_conv_composite`]) instead of this op: true on devices
    /// without this op's own passes (CUDA without cuFFT), so training stays
    /// on the device.
    fn fft_conv_prefers_composite() -> bool {
        false
    }
}

/// Causal convolution of every channel with its kernels plus the skip term:
/// u (B, L ≥ 1, H), k (C, H, Lk ≥ 1) with any Lk (taps past L are unused),
/// d (C, H) → y (B, L, C·H) with
/// y[b, t, c·H + h] = (k[c, h] ∗ u[b, ·, h])_t + d[c, h]·u[b, t, h].
/// Differentiable in all three arguments.
///
/// Fails, naming the argument, unless the shapes are these and all three
/// are of one float dtype on one device.
pub fn causal_conv<B: FftConvOps>(
    u: Tensor<B, 3>,
    k: Tensor<B, 3>,
    d: Tensor<B, 2>,
) -> Result<Tensor<B, 3>> {
    const OP: &str = "causal_conv";
    let [_, len, h] = u.dims();
    let [c, _, k_len] = k.dims();
    check::min_axis(OP, "u (B, L ≥ 1, H)", &u.dims(), 1, 1)?;
    check::shape(OP, "k (C, H, Lk)", &[c, h, k_len], &k.dims())?;
    check::min_axis(OP, "k (C, H, Lk ≥ 1)", &k.dims(), 2, 1)?;
    check::shape(OP, "d (C, H)", &[c, h], &d.dims())?;
    check::floats_on_one_device(OP, &[arg("u", &u), arg("k", &k), arg("d", &d)])?;
    let k = k.narrow(2, 0, k_len.min(len));
    if B::fft_conv_prefers_composite() {
        return Ok(causal_conv_composite(u, k, d));
    }
    let prim3 = |t: Tensor<B, 3>| t.into_primitive().tensor();
    let d = d.into_primitive().tensor();
    Ok(Tensor::from_primitive(TensorPrimitive::Float(B::fft_conv(
        prim3(u),
        prim3(k),
        d,
    ))))
}
