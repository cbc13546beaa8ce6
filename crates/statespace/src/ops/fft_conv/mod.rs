//! Long convolution through the FFT, as a backend extension with a fused
//! CPU kernel and its own backward.
//!
//! The op is a circular convolution modulo an FFT length n of the input,
//! zero-padded to n, with a kernel of Lk ≤ n taps, zero-padded to n:
//! y[b, t, c·H + h] = Σ_{s < L} k̃[c, h, (t − s) mod n] · u[b, s, h] +
//! d[c, h] · u[b, t, h] for t < L, with u (B, L, H), k (C, H, Lk) and the
//! skip d (C, H), in the layers' channel-last layout. Two entry points pick
//! n and the taps so that nothing wraps where it should not:
//!
//! - [`causal_conv`], the S4 convolution with its D term: n ≥ L + Lk − 1,
//!   so only lags 0 … Lk − 1 are read;
//! - [`two_sided_conv`], a causal and an anti-causal kernel (bidirectional
//!   S4, the long convolution's circular kernel) in one pass: the
//!   anti-causal taps at n − 1, n − 2, … are lags −1, −2, …
//!
//! The backward pass is two correlations in the same frequency domain:
//! ∂/∂u = IFFT(Σ_c conj(K_c)·GY_c)[..L] (+ Σ_c d·gy),
//! ∂/∂k = IFFT(Σ_b conj(U_b)·GY_b)[..Lk], and ∂/∂d = Σ_{b,t} gy·u.

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

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

pub use reference::fft_conv_composite;

use crate::error::Result;
use crate::ops::support::check::{self, arg};

/// The FFT length used for a causal convolution of L outputs with Lk taps.
pub fn fft_len(len: usize, k_len: usize) -> usize {
    (len + k_len - 1).next_power_of_two()
}

/// Backends that run the FFT convolution.
pub trait FftConvOps: crate::ops::SpectralOps {
    /// y (B, L, C·H) from u (B, L, H), k (C, H, Lk) and d (C, H): the
    /// circular convolution modulo n (a power of two, n ≥ L, n ≥ Lk) of
    /// the module doc.
    fn fft_conv(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self>;

    /// (∂/∂u (B, L, H), ∂/∂k (C, H, Lk), ∂/∂d (C, H)) from the gradient of y.
    fn fft_conv_backward(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
        grad_y: FloatTensor<Self>,
        n: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Whether the entry points run the differentiable spectral composite
    /// ([`fft_conv_composite`]) instead of this op: true on devices
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
    let k = leading(k, len);
    let n = fft_len(len, k_len.min(len));
    Ok(convolve(u, k, d, n))
}

/// A causal and an anti-causal convolution of every channel, plus the skip
/// term, in one pass: u (B, L ≥ 1, H), causal (C, H, Lc ≥ 1), anticausal
/// (C, H, La ≥ 1), d (C, H) → y (B, L, C·H) with
/// y[b, t, c·H + h] = Σ_{j < Lc} causal[c, h, j]·u[b, t − j, h] +
/// Σ_{j < La} anticausal[c, h, j]·u[b, t + 1 + j, h] + d[c, h]·u[b, t, h]
/// (inputs outside 0 … L − 1 are zero; taps that reach no input are
/// unused). Bidirectional S4's y_t += Σ_{d ≥ 1} k₁[d − 1]·u_{t+d} is
/// `anticausal = k₁`. Differentiable in all four arguments.
///
/// The kernels are laid out as one circular kernel of n taps (causal taps
/// first, the anti-causal ones reversed at the end), n the power of two
/// ≥ L + max(Lc − 1, La) for the taps that are read, so that one set of
/// FFTs serves both directions.
///
/// Fails, naming the argument, unless the shapes are these and all four
/// are of one float dtype on one device.
pub fn two_sided_conv<B: FftConvOps>(
    u: Tensor<B, 3>,
    causal: Tensor<B, 3>,
    anticausal: Tensor<B, 3>,
    d: Tensor<B, 2>,
) -> Result<Tensor<B, 3>> {
    const OP: &str = "two_sided_conv";
    let [_, len, h] = u.dims();
    let [c, _, causal_len] = causal.dims();
    let anti_len = anticausal.dims()[2];
    check::min_axis(OP, "u (B, L ≥ 1, H)", &u.dims(), 1, 1)?;
    check::shape(OP, "causal (C, H, Lc)", &[c, h, causal_len], &causal.dims())?;
    check::min_axis(OP, "causal (C, H, Lc ≥ 1)", &causal.dims(), 2, 1)?;
    check::shape(
        OP,
        "anticausal (C, H, La)",
        &[c, h, anti_len],
        &anticausal.dims(),
    )?;
    check::min_axis(OP, "anticausal (C, H, La ≥ 1)", &anticausal.dims(), 2, 1)?;
    check::shape(OP, "d (C, H)", &[c, h], &d.dims())?;
    check::floats_on_one_device(
        OP,
        &[
            arg("u", &u),
            arg("causal", &causal),
            arg("anticausal", &anticausal),
            arg("d", &d),
        ],
    )?;
    let (causal_len, anti_len) = (causal_len.min(len), anti_len.min(len - 1));
    let causal = leading(causal, causal_len);
    // Lag −La sits at tap n − La: as if a causal kernel had La + 1 taps.
    let n = fft_len(len, causal_len.max(anti_len + 1));
    if anti_len == 0 {
        return Ok(convolve(u, causal, d, n));
    }
    let tail = leading(anticausal, anti_len).flip([2]);
    let gap = n - causal_len - anti_len;
    let k = match gap {
        0 => Tensor::cat(vec![causal, tail], 2),
        _ => {
            let zeros = Tensor::zeros([c, h, gap], (&tail.device(), tail.dtype()));
            Tensor::cat(vec![causal, zeros, tail], 2)
        }
    };
    Ok(convolve(u, k, d, n))
}

/// The first `len` taps of kernels k (C, H, Lk), k itself where it has
/// no more: under autodiff even a full-range narrow costs the backward a
/// zeroed copy of k and a write into it (two launches on a GPU).
fn leading<B: Backend>(k: Tensor<B, 3>, len: usize) -> Tensor<B, 3> {
    if k.dims()[2] > len {
        k.narrow(2, 0, len)
    } else {
        k
    }
}

/// The op (or its composite where the backend prefers it) on checked
/// inputs, k (C, H, Lk ≤ n).
fn convolve<B: FftConvOps>(
    u: Tensor<B, 3>,
    k: Tensor<B, 3>,
    d: Tensor<B, 2>,
    n: usize,
) -> Tensor<B, 3> {
    if B::fft_conv_prefers_composite() {
        return fft_conv_composite(u, k, d, n);
    }
    let prim3 = |t: Tensor<B, 3>| t.into_primitive().tensor();
    let d = d.into_primitive().tensor();
    Tensor::from_primitive(TensorPrimitive::Float(B::fft_conv(
        prim3(u),
        prim3(k),
        d,
        n,
    )))
}
