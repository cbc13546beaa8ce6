//! The long convolution layer of safari (`LongConv` with `LongConvKernel`,
//! the plain FFT path): an explicit learned kernel per channel, optionally
//! smoothed by a moving average, soft-thresholded, convolved causally with
//! a D skip, then an activation and a linear output map (GLU by default).
//!
//! The official code takes the FFTs at n = min(L, l_max) + L points and
//! keeps the first L outputs, so a kernel longer than L + 1 taps wraps
//! around: taps j > l + L reach the future inputs u[l − j + n]. This layer
//! reproduces that exactly (a second, anti-causal convolution of the
//! wrapped taps), and the bidirectional layout (k₀ padded by L after,
//! flip(k₁) padded by L before, the sum truncated to n) the same way.

#![allow(non_snake_case)] // parameter `D` follows the reference name

mod config;

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

pub use config::{LongConvConfig, PostAct};

use crate::error::{Error, Result};
use crate::io::{HostTensor, load_params};
use crate::layers::activation::Activation;
use crate::layers::linear::Linear;
use crate::ops::{SsmBackend, causal_conv, glu, two_sided_conv};
use crate::random::normal;

/// The learned kernel (safari's `LongConvKernel`).
#[derive(Module, Debug)]
pub struct LongConvKernel<B: Backend> {
    /// Raw taps, (kernel channels, H, l_max).
    pub kernel: Param<Tensor<B, 3>>,
}

/// A long convolution layer over H channels.
#[derive(Module, Debug)]
pub struct LongConv<B: Backend> {
    /// The kernel's parameter (`kernel.kernel`).
    pub kernel: LongConvKernel<B>,
    /// Skip connection D, (C, H).
    pub D: Param<Tensor<B, 2>>,
    /// The output map, C·H → 2H (GLU) or H; safari's `output_linear.0`.
    pub output_linear: Option<Linear<B>>,
    #[module(skip)]
    lam: f64,
    #[module(skip)]
    ma_window_len: Option<usize>,
    #[module(skip)]
    bidirectional: bool,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    postact: Option<PostAct>,
}

impl LongConvConfig {
    /// A freshly initialised layer on `device`: kernel taps N(0, 0.002²)
    /// as safari draws them, D ~ N(0, 1), the output map PyTorch's default.
    pub fn init<B: SsmBackend>(
        &self,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<LongConv<B>> {
        self.validate()?;
        let h = self.d_model;
        let kernel = normal(
            rng,
            [self.kernel_channels(), h, self.l_max],
            0.0,
            0.002,
            device,
        );
        let d = normal(rng, [self.channels, h], 0.0, 1.0, device);
        let output_linear = self.postact.map(|postact| {
            let d_out = if postact == PostAct::Glu { 2 * h } else { h };
            Linear::new(self.channels * h, d_out, true, device, rng)
        });
        Ok(LongConv {
            kernel: LongConvKernel {
                kernel: Param::from_tensor(kernel),
            },
            D: Param::from_tensor(d),
            output_linear,
            lam: self.lam,
            ma_window_len: self.ma_window_len,
            bidirectional: self.bidirectional,
            activation: self.activation,
            postact: self.postact,
        })
    }
}

/// safari's name of our parameter `name` (`output_linear.0.*` for the
/// output map, the rest as they are).
pub fn official_name(name: &str) -> String {
    match name.strip_prefix("output_linear.") {
        Some(rest) => format!("output_linear.0.{rest}"),
        None => name.to_string(),
    }
}

impl<B: SsmBackend> LongConv<B> {
    /// Model width H.
    pub fn d_model(&self) -> usize {
        self.D.val().dims()[1]
    }

    /// Output channels per input channel C.
    pub fn channels(&self) -> usize {
        self.D.val().dims()[0]
    }

    /// Kernel length l_max.
    pub fn l_max(&self) -> usize {
        self.kernel.kernel.val().dims()[2]
    }

    /// Replaces every parameter by `lookup(official name)` (safari's
    /// state_dict names: `kernel.kernel`, `D`, `output_linear.0.weight`,
    /// `output_linear.0.bias`). Fails naming a missing or misshaped tensor.
    pub fn load(self, mut lookup: impl FnMut(&str) -> Result<HostTensor<f64>>) -> Result<Self> {
        load_params(self, |name| lookup(&official_name(name)))
    }

    /// The kernel actually convolved, (kernel channels, H, l_max): the raw
    /// taps, smoothed when configured, then sign(k)·max(|k| − λ, 0)
    /// (safari's `aux_kernel`).
    pub fn effective_kernel(&self) -> Tensor<B, 3> {
        let k = self.kernel.kernel.val();
        let k = match self.ma_window_len {
            Some(w) if w > 1 => moving_average(k, w),
            _ => k,
        };
        (k.clone().abs() - self.lam).clamp_min(0.0) * k.sign()
    }

    /// The parallel view: x (B, L, H) → (B, L, H) (or (B, L, C·H) with no
    /// output map).
    pub fn forward(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [batch, len, h] = x.dims();
        if h != self.d_model() || len == 0 {
            return Err(Error::shape(
                "input (batch, length ≥ 1, d_model)",
                &[batch, len.max(1), self.d_model()],
                &[batch, len, h],
            ));
        }
        let circular = self.circular_kernel(len); // (C, H, n)
        let n = circular.dims()[2];
        // Lags 0 … L − 1: the causal convolution with the D skip.
        let causal = circular.clone().narrow(2, 0, len);
        // Lags −1 … −m (taps n − 1 … n − m) wrap onto future inputs.
        let m = (len - 1).min(n - len);
        let y = if m > 0 && self.wraps(len) {
            let anticausal = circular.narrow(2, n - m, m).flip([2]);
            two_sided_conv(x, causal, anticausal, self.D.val())?
        } else {
            causal_conv(x, causal, self.D.val())?
        };
        let y = self.activation.apply(y)?;
        let Some(linear) = &self.output_linear else {
            return Ok(y);
        };
        let z = linear.forward(y)?;
        Ok(match self.postact {
            Some(PostAct::Glu) => glu(z)?,
            Some(PostAct::Activation(act)) => act.apply(z)?,
            None => z,
        })
    }

    /// The kernel of the official FFT convolution as its
    /// n = min(L, l_max) + L circular taps, (C, H, n): the effective kernel
    /// (bidirectional: k₀ then L zeros, plus L zeros then flip(k₁)),
    /// truncated or zero-padded to n.
    fn circular_kernel(&self, len: usize) -> Tensor<B, 3> {
        let k = self.effective_kernel();
        let [_, h, l_max] = k.dims();
        let c = self.channels();
        let n = len.min(l_max) + len;
        let full = if self.bidirectional {
            let zeros = Tensor::zeros([c, h, len], (&k.device(), k.dtype()));
            let k0 = k.clone().narrow(0, 0, c);
            let k1 = k.narrow(0, c, c).flip([2]);
            Tensor::cat(vec![k0, zeros.clone()], 2) + Tensor::cat(vec![zeros, k1], 2)
        } else {
            k
        };
        let taps = full.dims()[2];
        if taps >= n {
            full.narrow(2, 0, n)
        } else {
            let pad = Tensor::zeros([c, h, n - taps], (&full.device(), full.dtype()));
            Tensor::cat(vec![full, pad], 2)
        }
    }

    /// Whether any tap of the circular kernel at n − m … n − 1 can be
    /// nonzero (else the anti-causal pass is skipped): a bidirectional
    /// kernel, or a causal one longer than L + 1 taps.
    fn wraps(&self, len: usize) -> bool {
        self.bidirectional || self.l_max() > len + 1
    }
}

/// Moving average of k (C, H, T) along T over an odd window `w`, zeros past
/// the ends counted (PyTorch's `AvgPool1d(w, stride 1, padding w/2)`).
fn moving_average<B: Backend>(k: Tensor<B, 3>, w: usize) -> Tensor<B, 3> {
    let [c, h, t] = k.dims();
    let half = w / 2;
    let zeros = Tensor::zeros([c, h, half], (&k.device(), k.dtype()));
    let padded = Tensor::cat(vec![zeros.clone(), k, zeros], 2);
    let sum = (0..w)
        .map(|j| padded.clone().narrow(2, j, t))
        .reduce(|a, b| a + b)
        .expect("a window of at least one tap");
    // × (1/w), not ÷ w: burn-autodiff 0.21 differentiates a division by a
    // scalar through 1/w rounded to f32 (5e-8 off in f64 gradients).
    sum.mul_scalar(1.0 / w as f64)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};
    use burn_flex::Flex;
    use rand::SeedableRng;

    use super::*;
    use crate::error::Error;
    use crate::io::HostTensor;

    /// safari's convolution written out: the circular convolution of n =
    /// min(L, l_max) + L points of the kernel (bidirectional: k₀, L zeros
    /// | L zeros, flip(k₁), summed) truncated or padded to n, with the
    /// zero-padded input, first L outputs, plus D·u. u (B, L, H) →
    /// (B, L, C·H), host f64.
    fn circular_reference(
        k: &[f64],
        [kc, h, l_max]: [usize; 3],
        d: &[f64],
        u: &[f64],
        [b, len]: [usize; 2],
        bidirectional: bool,
    ) -> Vec<f64> {
        let c = if bidirectional { kc / 2 } else { kc };
        let n = len.min(l_max) + len;
        let tap = |ci: usize, hi: usize, p: usize| -> f64 {
            let at = |ch: usize, j: usize| k[(ch * h + hi) * l_max + j];
            let mut v = if p < l_max { at(ci, p) } else { 0.0 };
            if bidirectional && p >= len && p - len < l_max {
                v += at(c + ci, l_max - 1 - (p - len));
            }
            v
        };
        let mut y = vec![0.0; b * len * c * h];
        for bi in 0..b {
            for ci in 0..c {
                for hi in 0..h {
                    for l in 0..len {
                        let mut s = d[ci * h + hi] * u[(bi * len + l) * h + hi];
                        for p in 0..n {
                            let idx = (l + n - p) % n;
                            if idx < len {
                                s += tap(ci, hi, p) * u[(bi * len + idx) * h + hi];
                            }
                        }
                        y[(bi * len + l) * c * h + ci * h + hi] = s;
                    }
                }
            }
        }
        y
    }

    /// Kernels shorter than, as long as, and longer than the input (the
    /// official wrap-around), causal and bidirectional, no smoothing or
    /// threshold, against the circular convolution written out.
    #[test]
    fn equals_the_official_circular_convolution_at_every_length() {
        let device = Default::default();
        for bidirectional in [false, true] {
            for (len, l_max) in [(4, 10), (6, 6), (9, 5), (5, 7), (3, 4)] {
                let config = LongConvConfig {
                    channels: 2,
                    lam: 0.0,
                    bidirectional,
                    activation: Activation::Identity,
                    postact: None,
                    ..LongConvConfig::new(3, l_max)
                };
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(len as u64);
                let layer = config.init::<Flex>(&device, &mut rng).unwrap();
                let kc = config.kernel_channels();
                let k: Vec<f64> = (0..kc * 3 * l_max)
                    .map(|i| ((i * 7 % 11) as f64 - 5.0) / 7.0)
                    .collect();
                let layer = LongConv {
                    kernel: LongConvKernel {
                        kernel: Param::from_tensor(Tensor::from_data(
                            TensorData::new(k.clone(), [kc, 3, l_max]),
                            &device,
                        )),
                    },
                    ..layer
                };
                let d = HostTensor::from_tensor(&layer.D.val()).data;
                let u: Vec<f64> = (0..2 * len * 3)
                    .map(|i| ((i * 5 % 13) as f64 - 6.0) / 5.0)
                    .collect();
                let x =
                    Tensor::<Flex, 3>::from_data(TensorData::new(u.clone(), [2, len, 3]), &device);
                let ours = HostTensor::from_tensor(&layer.forward(x).unwrap()).data;
                let want = circular_reference(&k, [kc, 3, l_max], &d, &u, [2, len], bidirectional);
                let err = ours
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(
                    err < 1e-5,
                    "L {len}, l_max {l_max}, bidirectional {bidirectional}: {err:.2e}"
                );
            }
        }
    }

    #[test]
    fn refuses_even_windows_empty_sizes_and_wrong_widths() {
        let even = LongConvConfig {
            ma_window_len: Some(4),
            ..LongConvConfig::new(4, 8)
        };
        assert!(
            matches!(even.validate(), Err(Error::Config { key, .. }) if key == "ma_window_len")
        );
        let empty = LongConvConfig::new(4, 0);
        assert!(matches!(empty.validate(), Err(Error::Config { key, .. }) if key == "l_max"));
        let negative = LongConvConfig {
            lam: -1.0,
            ..LongConvConfig::new(4, 8)
        };
        assert!(matches!(negative.validate(), Err(Error::Config { key, .. }) if key == "lam"));
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let layer = LongConvConfig::new(4, 8)
            .init::<Flex>(&device, &mut rng)
            .unwrap();
        let err = layer
            .forward(Tensor::zeros([1, 5, 3], &device))
            .unwrap_err();
        assert!(err.to_string().contains("d_model"), "{err}");
        let err = layer
            .forward(Tensor::zeros([1, 0, 4], &device))
            .unwrap_err();
        assert!(err.to_string().contains("length"), "{err}");
        let missing = layer.load(|name| {
            Err(Error::MissingTensor {
                name: name.into(),
                source_name: "test".into(),
            })
        });
        assert!(missing.unwrap_err().to_string().contains("kernel.kernel"));
    }
}
