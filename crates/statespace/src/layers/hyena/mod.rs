//! The Hyena operator of safari (`HyenaOperator` with `HyenaFilter`,
//! `fftconv_ref`): x (B, L, d) → in_proj to (order + 1)·d streams → short
//! causal depthwise convolution → x₀ … x_{order−1}, v; then for
//! o = 0 … order − 2: v ← v ⊙ x_{order−1−o}, v ← k_o ∗ v + bias_o ⊙ v (a
//! causal long convolution with the implicit filter); y = out_proj(act(v ⊙
//! x₀)).
//!
//! The implicit filter h (l, d·(order − 1)) is an MLP on the positional
//! embedding z (l_max, emb_dim): Linear, then sin(freq ⊙ ·) after every
//! linear but the last (one `freq` shared by all of them), times
//! exp(−t·|δ|) + shift; channel c of round o is column c·(order − 1) + o.
//! An input longer than l_max is refused (the official code would cut the
//! output to l_max steps); a shorter one uses the first L rows of z and t
//! (t not rescaled). Parameters load by safari's state_dict names.

mod config;

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

pub use config::HyenaConfig;

use crate::error::{Error, Result};
use crate::io::{HostTensor, load_params};
use crate::layers::activation::Activation;
use crate::layers::causal_conv::CausalConv1d;
use crate::layers::init::buffer;
use crate::layers::linear::Linear;
use crate::ops::{SsmBackend, causal_conv};
use crate::random::normal;

/// The filter's positional embedding: z (1, l_max, emb_dim), trained; t
/// (1, l_max, 1) = linspace(0, 1), a buffer (no gradient).
#[derive(Module, Debug)]
pub struct PositionalEmbedding<B: Backend> {
    pub z: Param<Tensor<B, 3>>,
    pub t: Param<Tensor<B, 3>>,
}

/// The decay rates δ (1, 1, d·(order − 1)), a buffer.
#[derive(Module, Debug)]
pub struct Modulation<B: Backend> {
    pub deltas: Param<Tensor<B, 3>>,
}

/// The filter MLP: linears emb_dim → filter_order → … → d·(order − 1) (the
/// last without bias), the sine frequency `freq` (1, filter_order) shared
/// by every activation. safari names linear i `implicit_filter.{2i}` and
/// the frequency `implicit_filter.1.freq`.
#[derive(Module, Debug)]
pub struct ImplicitFilter<B: Backend> {
    pub linears: Vec<Linear<B>>,
    pub freq: Param<Tensor<B, 2>>,
}

/// The implicit long filter (safari's `HyenaFilter`).
#[derive(Module, Debug)]
pub struct HyenaFilter<B: Backend> {
    /// Per-channel skip of the long convolution, (d·(order − 1)).
    pub bias: Param<Tensor<B, 1>>,
    pub pos_emb: PositionalEmbedding<B>,
    pub implicit_filter: ImplicitFilter<B>,
    pub modulation: Modulation<B>,
    #[module(skip)]
    use_bias: bool,
    #[module(skip)]
    modulate: bool,
    #[module(skip)]
    shift: f64,
    #[module(skip)]
    normalized: bool,
}

/// A Hyena operator over d channels.
#[derive(Module, Debug)]
pub struct Hyena<B: Backend> {
    pub in_proj: Linear<B>,
    /// Depthwise causal convolution over the (order + 1)·d streams.
    pub short_filter: CausalConv1d<B>,
    pub filter_fn: HyenaFilter<B>,
    pub out_proj: Linear<B>,
    /// Scales after each long convolution, (order, 1, 1) (`post_order_ffn`).
    pub ord_proj_w: Option<Param<Tensor<B, 3>>>,
    #[module(skip)]
    order: usize,
    #[module(skip)]
    outer_mixing: bool,
    #[module(skip)]
    activation: Activation,
}

/// n evenly spaced values from `start` to `end` (both included).
fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    (0..n)
        .map(|i| start + (end - start) * i as f64 / (n - 1) as f64)
        .collect()
}

impl HyenaConfig {
    /// A freshly initialised operator on `device`: the linears PyTorch's
    /// default, z and t and δ as safari constructs them, the filter bias
    /// N(0, 1), the sine frequency w, `ord_proj_w` N(0, 1/d).
    pub fn init<B: SsmBackend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Hyena<B>> {
        self.validate()?;
        let (d, order, l_max) = (self.d_model, self.order, self.l_max);
        let width = d * (order + 1);
        let channels = self.filter_channels();
        let in_proj = Linear::new(d, width, true, device, rng);
        let out_proj = Linear::new(d, d, true, device, rng);
        let short_filter = CausalConv1d::init(width, self.short_filter_order, true, device, rng);
        // z = [t, cos(f w_n), −sin(f w_n)] with w_n = 2πn/l_max.
        let bands = (self.emb_dim - 1) / 2;
        let t = linspace(0.0, 1.0, l_max);
        let f = linspace(1e-4, bands as f64 - 1.0, bands);
        let mut z = Vec::with_capacity(l_max * self.emb_dim);
        for (n, tn) in t.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * n as f64 / l_max as f64;
            z.push(*tn);
            z.extend(f.iter().map(|fi| (fi * w).cos()));
            z.extend(f.iter().map(|fi| -(fi * w).sin()));
        }
        let mut dims = vec![self.emb_dim];
        dims.extend(std::iter::repeat_n(
            self.filter_order,
            self.num_inner_mlps + 1,
        ));
        let mut linears: Vec<Linear<B>> = dims
            .windows(2)
            .map(|io| Linear::new(io[0], io[1], true, device, rng))
            .collect();
        linears.push(Linear::new(self.filter_order, channels, false, device, rng));
        let ln_target = self.target.ln();
        let deltas = linspace(
            ln_target / self.slow_decay_pct,
            ln_target / self.fast_decay_pct,
            channels,
        );
        let filter_fn = HyenaFilter {
            bias: Param::from_tensor(normal(rng, [channels], 0.0, 1.0, device)),
            pos_emb: PositionalEmbedding {
                z: Param::from_tensor(Tensor::<B, 1>::from_floats(z.as_slice(), device).reshape([
                    1,
                    l_max,
                    self.emb_dim,
                ])),
                t: buffer(t, [1, l_max, 1], device),
            },
            implicit_filter: ImplicitFilter {
                linears,
                freq: Param::from_tensor(Tensor::ones([1, self.filter_order], device) * self.w),
            },
            modulation: Modulation {
                deltas: buffer(deltas, [1, 1, channels], device),
            },
            use_bias: self.bias,
            modulate: self.modulate,
            shift: self.shift,
            normalized: self.normalized,
        };
        let ord_proj_w = self.post_order_ffn.then(|| {
            Param::from_tensor(normal(
                rng,
                [order, 1, 1],
                0.0,
                1.0 / (d as f64).sqrt(),
                device,
            ))
        });
        Ok(Hyena {
            in_proj,
            short_filter,
            filter_fn,
            out_proj,
            ord_proj_w,
            order,
            outer_mixing: self.outer_mixing,
            activation: self.activation,
        })
    }
}

/// safari's name of our parameter `name`: the filter MLP's linear i is
/// `implicit_filter.{2i}`, its frequency `implicit_filter.1.freq`.
pub fn official_name(name: &str) -> String {
    const MLP: &str = "filter_fn.implicit_filter.";
    let Some(rest) = name.strip_prefix(MLP) else {
        return name.to_string();
    };
    if rest == "freq" {
        return format!("{MLP}1.freq");
    }
    if let Some(linear) = rest.strip_prefix("linears.")
        && let Some((index, field)) = linear.split_once('.')
        && let Ok(i) = index.parse::<usize>()
    {
        return format!("{MLP}{}.{field}", 2 * i);
    }
    name.to_string()
}

impl<B: SsmBackend> HyenaFilter<B> {
    /// The modulated implicit filter h (1, l, d·(order − 1)) for the first
    /// l positions (safari's `filter(l)`).
    pub fn filter(&self, len: usize) -> Result<Tensor<B, 3>> {
        let z = self.pos_emb.z.val().narrow(1, 0, len);
        let t = self.pos_emb.t.val().narrow(1, 0, len);
        let freq = self.implicit_filter.freq.val().unsqueeze_dim::<3>(0);
        let linears = &self.implicit_filter.linears;
        let mut h = z;
        for (i, linear) in linears.iter().enumerate() {
            h = linear.forward(h)?;
            if i + 1 < linears.len() {
                h = (h * freq.clone()).sin();
            }
        }
        if self.modulate {
            let decay = (t * self.modulation.deltas.val().abs()).neg().exp();
            h = h * decay.add_scalar(self.shift);
        }
        if self.normalized {
            let l1 = h.clone().abs().sum_dim(2);
            h = h / l1;
        }
        Ok(h)
    }
}

impl<B: SsmBackend> Hyena<B> {
    /// Model width d.
    pub fn d_model(&self) -> usize {
        self.out_proj.d_out()
    }

    /// Longest input (positions of the filter).
    pub fn l_max(&self) -> usize {
        self.filter_fn.pos_emb.z.val().dims()[1]
    }

    /// Replaces every parameter and buffer by `lookup(official name)`
    /// (safari's state_dict names). Fails naming a missing or misshaped
    /// tensor.
    pub fn load(self, mut lookup: impl FnMut(&str) -> Result<HostTensor<f64>>) -> Result<Self> {
        load_params(self, |name| lookup(&official_name(name)))
    }

    /// x (B, L, d) with 1 ≤ L ≤ l_max → (B, L, d).
    pub fn forward(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [batch, len, width] = x.dims();
        let d = self.d_model();
        if width != d || len == 0 || len > self.l_max() {
            return Err(Error::shape(
                "input (batch, 1 ≤ length ≤ l_max, d_model)",
                &[batch, len.clamp(1, self.l_max()), d],
                &[batch, len, width],
            ));
        }
        let projected = self.in_proj.forward(x)?;
        let (uc, _) = self.short_filter.forward(projected, None, false)?;
        let stream = |i: usize| uc.clone().narrow(2, i * d, d);
        let rounds = self.order - 1;
        // Filter columns c·(order − 1) + o → (order − 1, d, l).
        let h = self
            .filter_fn
            .filter(len)?
            .reshape([len, d, rounds])
            .permute([2, 1, 0]);
        let bias = self
            .filter_fn
            .bias
            .val()
            .reshape([d, rounds])
            .swap_dims(0, 1);
        let bias = if self.filter_fn.use_bias {
            bias
        } else {
            bias.zeros_like()
        };
        let mut v = stream(self.order);
        for o in 0..rounds {
            let x_i = stream(self.order - 1 - o);
            v = if self.outer_mixing {
                // Σ over x_i's channels of the outer product x_i ⊗ v.
                v * x_i.sum_dim(2)
            } else {
                v * x_i
            };
            let k = h.clone().narrow(0, o, 1); // (1, d, l)
            let skip = bias.clone().narrow(0, o, 1); // (1, d)
            v = causal_conv(v, k, skip)?;
            if let Some(w) = &self.ord_proj_w {
                v = v * w.val().narrow(0, o, 1);
            }
        }
        let y = self.activation.apply(v * stream(0))?;
        self.out_proj.forward(y)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Tensor;
    use burn_flex::Flex;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn names_map_to_safaris_state_dict() {
        assert_eq!(
            official_name("filter_fn.implicit_filter.linears.3.weight"),
            "filter_fn.implicit_filter.6.weight"
        );
        assert_eq!(
            official_name("filter_fn.implicit_filter.freq"),
            "filter_fn.implicit_filter.1.freq"
        );
        assert_eq!(official_name("in_proj.bias"), "in_proj.bias");
    }

    #[test]
    fn refuses_low_order_even_embeddings_and_long_inputs() {
        let low = HyenaConfig {
            order: 1,
            ..HyenaConfig::new(8, 16)
        };
        assert!(matches!(low.validate(), Err(Error::Config { key, .. }) if key == "order"));
        let even = HyenaConfig {
            emb_dim: 4,
            ..HyenaConfig::new(8, 16)
        };
        assert!(matches!(even.validate(), Err(Error::Config { key, .. }) if key == "emb_dim"));
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let layer = HyenaConfig {
            filter_order: 8,
            ..HyenaConfig::new(8, 16)
        }
        .init::<Flex>(&device, &mut rng)
        .unwrap();
        let err = layer
            .forward(Tensor::zeros([1, 17, 8], &device))
            .unwrap_err();
        assert!(err.to_string().contains("l_max"), "{err}");
        let err = layer
            .forward(Tensor::zeros([1, 4, 7], &device))
            .unwrap_err();
        assert!(err.to_string().contains("d_model"), "{err}");
        let y = layer.forward(Tensor::zeros([2, 16, 8], &device)).unwrap();
        assert_eq!(y.dims(), [2, 16, 8]);
    }
}
