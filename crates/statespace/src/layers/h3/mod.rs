//! The H3 layer of safari (`H3`, its PyTorch FFT path): q, k, v
//! projections; a shift SSM on k (kernel K_s[c, j] = Σ_m B[c, m]·C[c, m + j],
//! a learned FIR of N taps) with its skip; a diagonal SSM (S4D, N/2
//! complex modes per head) on k'·v; gating by q; an output projection.
//!
//! With head dim p and H = d/p heads, channel h·p + i of q, k, v belongs
//! to head h: kv[i, j, h] = k'[h·p + i]·v[h·p + j], y = K_d\[h\] ∗ kv + D\[h\]·kv,
//! o[j, h] = Σ_i q[h·p + i]·y[i, j, h], flattened to channel j·H + h (the
//! order of h3.py's PyTorch path). Parameters load by safari's state_dict
//! names. [`H3::step`] runs the same layer one token at a time.

#![allow(non_snake_case)] // parameter names follow the reference

mod config;
mod recurrent;

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;

pub use config::H3Config;
pub use recurrent::H3State;

use crate::complex::ComplexTensor;
use crate::discretize::Discretization;
use crate::error::{Error, Result};
use crate::io::{HostTensor, load_params};
use crate::layers::linear::Linear;
use crate::ops::{SsmBackend, causal_conv, diagonal_kernel};
use crate::random::{normal, uniform};

/// The shift SSM's parameters: B (d, N), C (1, d, N).
#[derive(Module, Debug)]
pub struct ShiftKernel<B: Backend> {
    pub B: Param<Tensor<B, 2>>,
    pub C: Param<Tensor<B, 3>>,
}

/// The diagonal SSM's parameters (S4D with real part −exp(inv_A_real)):
/// log Δ (H), inv_A_real and A_imag (H, N/2), B (H, N/2, 2) and
/// C (1, H, N/2, 2) complex as (re, im).
#[derive(Module, Debug)]
pub struct DiagKernel<B: Backend> {
    pub log_dt: Param<Tensor<B, 1>>,
    pub inv_A_real: Param<Tensor<B, 2>>,
    pub A_imag: Param<Tensor<B, 2>>,
    pub B: Param<Tensor<B, 3>>,
    pub C: Param<Tensor<B, 4>>,
}

/// The shift SSM as safari nests it (`ssm_k_kernel.kernel.B`).
#[derive(Module, Debug)]
pub struct ShiftSsm<B: Backend> {
    pub kernel: ShiftKernel<B>,
}

/// The diagonal SSM as safari nests it (`kernel.kernel.log_dt`).
#[derive(Module, Debug)]
pub struct DiagSsm<B: Backend> {
    pub kernel: DiagKernel<B>,
}

/// An H3 layer over d channels.
#[derive(Module, Debug)]
pub struct H3<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub ssm_k_kernel: ShiftSsm<B>,
    /// Skip of the shift SSM, (d).
    pub ssm_k_D: Param<Tensor<B, 1>>,
    pub kernel: DiagSsm<B>,
    /// Skip of the diagonal SSM, (H).
    pub D: Param<Tensor<B, 1>>,
    pub output_linear: Linear<B>,
    #[module(skip)]
    head_dim: usize,
    #[module(skip)]
    disc: Discretization,
}

impl H3Config {
    /// A freshly initialised layer on `device`: the projections PyTorch's
    /// default, the shift SSM's B a unit impulse at tap 0 and C ~ N(0, 1),
    /// the diagonal SSM S4D-Lin (A = −½ + iπn) with log Δ ~ U(ln Δmin,
    /// ln Δmax), B = 1, C ~ N(0, ½) per part, the skips ~ N(0, 1).
    pub fn init<B: SsmBackend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<H3<B>> {
        self.validate()?;
        let (d, n) = (self.d_model, self.d_state);
        let heads = self.heads();
        let half = n / 2;
        let linear = |rng: &mut _| Linear::new(d, d, true, device, rng);
        let (q_proj, k_proj, v_proj) = (linear(rng), linear(rng), linear(rng));
        let output_linear = Linear::new(d, d, true, device, rng);
        let mut shift_b = vec![0.0; d * n];
        for c in 0..d {
            shift_b[c * n] = 1.0;
        }
        let a_imag: Vec<f64> = (0..heads * half)
            .map(|i| std::f64::consts::PI * (i % half) as f64)
            .collect();
        let mut b = vec![0.0; heads * half * 2];
        for i in 0..heads * half {
            b[2 * i] = 1.0;
        }
        let floats = |values: Vec<f64>| Tensor::<B, 1>::from_floats(values.as_slice(), device);
        Ok(H3 {
            q_proj,
            k_proj,
            v_proj,
            ssm_k_kernel: ShiftSsm {
                kernel: ShiftKernel {
                    B: Param::from_tensor(floats(shift_b).reshape([d, n])),
                    C: Param::from_tensor(normal(rng, [1, d, n], 0.0, 1.0, device)),
                },
            },
            ssm_k_D: Param::from_tensor(normal(rng, [d], 0.0, 1.0, device)),
            kernel: DiagSsm {
                kernel: DiagKernel {
                    log_dt: Param::from_tensor(uniform(
                        rng,
                        [heads],
                        self.dt_min.ln(),
                        self.dt_max.ln(),
                        device,
                    )),
                    inv_A_real: Param::from_tensor(Tensor::full(
                        [heads, half],
                        0.5f64.ln(),
                        device,
                    )),
                    A_imag: Param::from_tensor(floats(a_imag).reshape([heads, half])),
                    B: Param::from_tensor(floats(b).reshape([heads, half, 2])),
                    C: Param::from_tensor(normal(
                        rng,
                        [1, heads, half, 2],
                        0.0,
                        0.5f64.sqrt(),
                        device,
                    )),
                },
            },
            D: Param::from_tensor(normal(rng, [heads], 0.0, 1.0, device)),
            output_linear,
            head_dim: self.head_dim,
            disc: self.disc,
        })
    }
}

/// The (re, im) pairs of t (…, 2) as a complex tensor.
fn complex_of<B: Backend, const D: usize, const E: usize>(t: Tensor<B, E>) -> ComplexTensor<B, D> {
    let dims = t.dims();
    let shape: [usize; D] = std::array::from_fn(|i| dims[i]);
    let part = |k: usize| t.clone().narrow(E - 1, k, 1).reshape(shape);
    ComplexTensor::new(part(0), part(1))
}

impl<B: SsmBackend> H3<B> {
    /// Model width d.
    pub fn d_model(&self) -> usize {
        self.ssm_k_D.val().dims()[0]
    }

    /// Heads H = d / head dim.
    pub fn heads(&self) -> usize {
        self.D.val().dims()[0]
    }

    /// Shift-SSM state size N.
    pub fn d_state(&self) -> usize {
        self.ssm_k_kernel.kernel.B.val().dims()[1]
    }

    /// Replaces every parameter by `lookup(name)` (safari's state_dict
    /// names). Fails naming a missing or misshaped tensor.
    pub fn load(self, lookup: impl FnMut(&str) -> Result<HostTensor<f64>>) -> Result<Self> {
        load_params(self, lookup)
    }

    /// The shift SSM's kernel K_s (d, min(N, len)): K_s[c, j] =
    /// Σ_m B[c, m]·C[c, m + j] (C = 0 past N − 1), as one gather of the
    /// shifted C (d, taps, N), a product and a sum, so that a GPU runs three
    /// kernels instead of three per tap.
    pub fn shift_kernel(&self, len: usize) -> Tensor<B, 2> {
        let b = self.ssm_k_kernel.kernel.B.val();
        let c = self.ssm_k_kernel.kernel.C.val().squeeze_dim::<2>(0);
        let [d, n] = c.dims();
        let taps = n.min(len);
        let padded = Tensor::cat(vec![c.clone(), c.zeros_like()], 1);
        let index: Vec<i64> = (0..taps)
            .flat_map(|j| (0..n).map(move |m| (j + m) as i64))
            .collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [taps * n]), &c.device());
        let shifted = padded.select(1, index).reshape([d, taps, n]);
        (shifted * b.unsqueeze_dim::<3>(1))
            .sum_dim(2)
            .reshape([d, taps])
    }

    /// The diagonal SSM's continuous system: Δ (H), A, B (H, N/2), C
    /// (1, H, N/2).
    fn diag_system(
        &self,
    ) -> (
        Tensor<B, 1>,
        ComplexTensor<B, 2>,
        ComplexTensor<B, 2>,
        ComplexTensor<B, 3>,
    ) {
        let k = &self.kernel.kernel;
        let a = ComplexTensor::new(k.inv_A_real.val().exp().neg(), k.A_imag.val());
        (
            k.log_dt.val().exp(),
            a,
            complex_of(k.B.val()),
            complex_of(k.C.val()),
        )
    }

    /// The diagonal SSM's kernel K_d (H, len).
    pub fn ssm_kernel(&self, len: usize) -> Result<Tensor<B, 2>> {
        let (dt, a, b, c) = self.diag_system();
        Ok(diagonal_kernel(&dt, &a, &b, &c, self.disc, len)?.squeeze_dim::<2>(0))
    }

    /// The parallel view: x (B, L, d) → (B, L, d).
    pub fn forward(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [batch, len, width] = x.dims();
        let d = self.d_model();
        if width != d || len == 0 {
            return Err(Error::shape(
                "input (batch, length ≥ 1, d_model)",
                &[batch, len.max(1), d],
                &[batch, len, width],
            ));
        }
        let (heads, p) = (self.heads(), self.head_dim);
        let q = self.q_proj.forward(x.clone())?;
        let k = self.k_proj.forward(x.clone())?;
        let v = self.v_proj.forward(x)?;
        let shift = self.shift_kernel(len).unsqueeze_dim::<3>(0);
        let k = causal_conv(k, shift, self.ssm_k_D.val().unsqueeze_dim(0))?;
        if p == 1 {
            // One channel per head: the outer products are elementwise.
            let kd = self.ssm_kernel(len)?.unsqueeze_dim::<3>(0);
            let y = causal_conv(k * v, kd, self.D.val().unsqueeze_dim(0))?;
            return self.output_linear.forward(q * y);
        }
        // kv (B, L, H, p, p) as channels (h, i, j), each with head h's kernel.
        let kv = k.reshape([batch, len, heads, p, 1]) * v.reshape([batch, len, heads, 1, p]);
        let per_channel = |t: Tensor<B, 2>| -> Tensor<B, 2> {
            let [_, w] = t.dims();
            t.reshape([heads, 1, w])
                .repeat_dim(1, p * p)
                .reshape([heads * p * p, w])
        };
        let kd = per_channel(self.ssm_kernel(len)?).unsqueeze_dim::<3>(0);
        let skip = per_channel(self.D.val().unsqueeze_dim(1)).reshape([1, heads * p * p]);
        let y = causal_conv(kv.reshape([batch, len, heads * p * p]), kd, skip)?
            .reshape([batch, len, heads, p, p]);
        let o = (q.reshape([batch, len, heads, p, 1]) * y).sum_dim(3); // (B, L, H, 1, p)
        let o = o
            .reshape([batch, len, heads, p])
            .swap_dims(2, 3)
            .reshape([batch, len, d]);
        self.output_linear.forward(o)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Tensor;
    use burn_flex::Flex;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn refuses_odd_states_and_heads_that_do_not_divide() {
        let odd = H3Config {
            d_state: 7,
            ..H3Config::new(8)
        };
        assert!(matches!(odd.validate(), Err(Error::Config { key, .. }) if key == "d_state"));
        let heads = H3Config {
            head_dim: 3,
            ..H3Config::new(8)
        };
        assert!(matches!(heads.validate(), Err(Error::Config { key, .. }) if key == "head_dim"));
    }

    /// Head dim 2 (outer products of each head's pairs): the recurrent
    /// view equals the convolution, and a misshaped input or state is
    /// refused by name.
    #[test]
    fn steps_equal_the_convolution_with_two_channels_per_head() {
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let config = H3Config {
            d_state: 6,
            head_dim: 2,
            ..H3Config::new(8)
        };
        let layer = config.init::<Flex>(&device, &mut rng).unwrap();
        let x = crate::random::normal::<Flex, 3>(&mut rng, [2, 11, 8], 0.0, 1.0, &device);
        let conv = HostTensor::from_tensor(&layer.forward(x.clone()).unwrap()).data;
        let (steps, _) = layer.forward_with_state(x, layer.initial_state(2)).unwrap();
        let steps = HostTensor::from_tensor(&steps).data;
        let scale = conv.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = conv
            .iter()
            .zip(&steps)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-5 * scale, "{err:.2e}");
        let err = layer
            .step(&layer.initial_state(2), Tensor::zeros([2, 7], &device))
            .unwrap_err();
        assert!(err.to_string().contains("d_model"), "{err}");
        let err = layer
            .step(&layer.initial_state(3), Tensor::zeros([2, 8], &device))
            .unwrap_err();
        assert!(err.to_string().contains("shift state"), "{err}");
    }
}
