//! SpaceTime's open-loop SSMs (`CompanionSSM`, `ShiftSSM`): per kernel k a
//! companion matrix A_k = S + p_k e_{N−1}ᵀ with p = a normed, the kernel
//! K[k, l] = c_kᵀ A_kˡ b_k (b and c not normed), convolved causally with
//! each channel that reads row k, plus skip ⊙ u. The shift SSM fixes a = 0
//! and b = e₀, so A = S and K[k, l] = c_k[l] for l < N, 0 after.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use super::config::{ChannelLayout, SsmKwargs};
use super::conv::convolve_rows;
use super::krylov::{companion_matrix, krylov_kernel};
use super::norm::row_norm;
use crate::error::{Error, Result};
use crate::io::{HostTensor, load_params};
use crate::ops::SsmBackend;
use crate::random::normal;

/// Which of the two classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsmKind {
    /// Learned a, b, c (`CompanionSSM`).
    Companion,
    /// a = 0, b = e₀ fixed, c learned (`ShiftSSM`).
    Shift,
}

/// An open-loop companion or shift SSM over D channels.
#[derive(Module, Debug)]
pub struct CompanionSsm<B: Backend> {
    /// Companion coefficients a (n_kernels, N); the shift SSM has none.
    pub a: Option<Param<Tensor<B, 2>>>,
    /// Input vectors b (n_kernels, N); the shift SSM has none (b = e₀).
    pub b: Option<Param<Tensor<B, 2>>>,
    /// Output vectors c (n_kernels, N).
    pub c: Param<Tensor<B, 2>>,
    /// Skip weights (D) when the layer has a skip connection.
    pub skip: Option<Param<Tensor<B, 1>>>,
    #[module(skip)]
    layout: ChannelLayout,
    #[module(skip)]
    norm_order: u32,
}

impl SsmKwargs {
    /// A fresh open-loop SSM of `kind`: a, b, c, skip ~ N(0, 1) (the
    /// official "normal" init). Fails on a layout that does not divide D.
    pub fn init_open<B: Backend>(
        &self,
        kind: SsmKind,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<CompanionSsm<B>> {
        let layout = self.layout(1)?;
        let shape = [self.n_kernels, self.kernel_dim];
        let mut draw = |shape: [usize; 2]| Param::from_tensor(normal(rng, shape, 0.0, 1.0, device));
        let (a, b) = match kind {
            SsmKind::Companion => (Some(draw(shape)), Some(draw(shape))),
            SsmKind::Shift => (None, None),
        };
        let c = draw(shape);
        let skip = self
            .skip_connection
            .then(|| Param::from_tensor(normal(rng, [self.model_dim], 0.0, 1.0, device)));
        Ok(CompanionSsm {
            a,
            b,
            c,
            skip,
            layout,
            norm_order: self.norm_order,
        })
    }
}

impl<B: SsmBackend> CompanionSsm<B> {
    /// Replaces every parameter by `lookup(name)` (the official names `a`,
    /// `b`, `c`, `skip`; the shift SSM's buffers a and b are not read).
    pub fn load(self, lookup: impl FnMut(&str) -> Result<HostTensor<f64>>) -> Result<Self> {
        load_params(self, lookup)
    }

    /// The state size N (the official `kernel_dim`).
    pub fn state_size(&self) -> usize {
        self.c.dims()[1]
    }

    /// The kernels K (n_kernels, len).
    pub fn kernel(&self, len: usize) -> Result<Tensor<B, 2>> {
        let c = self.c.val();
        match (&self.a, &self.b) {
            (Some(a), Some(b)) => {
                let p = if self.norm_order > 0 {
                    row_norm(a.val(), self.norm_order)
                } else {
                    a.val()
                };
                krylov_kernel(len, companion_matrix(p), b.val(), c)
            }
            _ => Ok(fir_taps(c, len)),
        }
    }

    /// u (B, L, D) → y (B, L, D).
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let len = u.dims()[1];
        if len == 0 {
            return Err(Error::shape(
                "input (batch, length ≥ 1, model_dim)",
                &[1, 1, self.layout.channels],
                &u.dims(),
            ));
        }
        convolve_rows(
            u,
            self.kernel(len)?,
            self.layout,
            self.skip.as_ref().map(|s| s.val()),
        )
    }
}

/// c (K, N) as `len` taps: the first min(N, len), zeros after.
pub(super) fn fir_taps<B: Backend>(c: Tensor<B, 2>, len: usize) -> Tensor<B, 2> {
    let [k, n] = c.dims();
    if n >= len {
        c.narrow(1, 0, len)
    } else {
        let pad = Tensor::zeros([k, len - n], (&c.device(), c.dtype()));
        Tensor::cat(vec![c, pad], 1)
    }
}
