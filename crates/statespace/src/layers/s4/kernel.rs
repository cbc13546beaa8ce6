//! The SSM kernel module of an S4 / S4D layer: its parameters under the
//! names of state-spaces/s4, their transforms, and the kernel they produce.

#![allow(non_snake_case)] // parameter names follow the reference (A_real, B, C, P)

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use faer::c64;

use super::config::KernelMode;
use crate::complex::ComplexTensor;
use crate::discretize::Discretization;
use crate::error::{Error, Result};
use crate::io::HostTensor;
use crate::kernel::dplr::{DplrKernelParams, DplrSystem, dplr_kernel};
use crate::kernel::vandermonde::diagonal_kernel;
use crate::ops::SsmBackend;

/// SSM parameters of H channels. Complex tensors are stored as real views
/// with a trailing axis (re, im). S = n_ssm copies of (A, B, P) are shared
/// round-robin: channel h uses copy h mod S.
///
/// Transforms (s4 defaults): Δ = exp(inv_dt), A = −exp(A_real) − i·A_imag.
/// In DPLR mode `C` holds C̃ = C(I − Āᴸ) for L = `l_kernel`.
#[derive(Module, Debug)]
pub struct SsmKernel<B: Backend> {
    /// log Δ, (H, 1).
    pub inv_dt: Param<Tensor<B, 2>>,
    /// log(−Re A), (S, Nh).
    pub A_real: Param<Tensor<B, 2>>,
    /// −Im A, (S, Nh).
    pub A_imag: Param<Tensor<B, 2>>,
    /// B, (1, S, Nh, 2).
    pub B: Param<Tensor<B, 4>>,
    /// C (diag) or C̃ (DPLR), (channels, H, Nh, 2).
    pub C: Param<Tensor<B, 4>>,
    /// Low-rank factor P, (rank, S, Nh, 2); DPLR only.
    pub P: Option<Param<Tensor<B, 4>>>,
    /// Length C̃ is attuned to (DPLR); 0 in diagonal mode.
    pub l_kernel: usize,
    /// Kernel parameterisation.
    #[module(skip)]
    pub mode: KernelMode,
    /// Discretisation (diagonal mode).
    #[module(skip)]
    pub disc: Discretization,
}

/// Splits a real view (…, 2) into a complex tensor (…).
fn complex_view<B: Backend, const D: usize, const E: usize>(
    t: Tensor<B, D>,
) -> ComplexTensor<B, E> {
    let last = D - 1;
    ComplexTensor::new(
        t.clone().narrow(last, 0, 1).squeeze_dim::<E>(last),
        t.narrow(last, 1, 1).squeeze_dim::<E>(last),
    )
}

impl<B: SsmBackend> SsmKernel<B> {
    /// Number of channels H.
    pub fn d_model(&self) -> usize {
        self.inv_dt.val().dims()[0]
    }

    /// Δ, (H).
    pub fn dt(&self) -> Tensor<B, 1> {
        self.inv_dt.val().exp().squeeze_dim::<1>(1)
    }

    fn repeat_to_h<const D: usize>(&self, t: Tensor<B, D>, dim: usize) -> Tensor<B, D> {
        let s = t.dims()[dim];
        let h = self.d_model();
        if s == h { t } else { t.repeat_dim(dim, h / s) }
    }

    /// A = −exp(A_real) − i·A_imag, (H, Nh).
    pub fn a(&self) -> ComplexTensor<B, 2> {
        let a = ComplexTensor::new(self.A_real.val().exp().neg(), self.A_imag.val().neg());
        a.map(|t| self.repeat_to_h(t, 0))
    }

    /// B, (H, Nh).
    pub fn b(&self) -> ComplexTensor<B, 2> {
        let b: ComplexTensor<B, 3> = complex_view(self.B.val());
        b.map(|t| self.repeat_to_h(t.squeeze_dim::<2>(0), 0))
    }

    /// C (or C̃), (channels, H, Nh).
    pub fn c(&self) -> ComplexTensor<B, 3> {
        complex_view(self.C.val())
    }

    /// P, (rank, H, Nh), if DPLR.
    pub fn p(&self) -> Option<ComplexTensor<B, 3>> {
        self.P.as_ref().map(|p| {
            let p: ComplexTensor<B, 3> = complex_view(p.val());
            p.map(|t| self.repeat_to_h(t, 1))
        })
    }

    /// The convolution kernel K, (channels, H, `len`).
    pub fn kernel(&self, len: usize) -> Result<Tensor<B, 3>> {
        match self.mode {
            KernelMode::Diag => {
                diagonal_kernel(&self.dt(), &self.a(), &self.b(), &self.c(), self.disc, len)
            }
            KernelMode::Dplr => {
                if len > self.l_kernel {
                    return Err(Error::config(
                        "l_max",
                        format!(
                            "sequence length {len} exceeds the length the kernel is attuned to ({}); \
                             call `attune({len})` or build the layer with a larger l_max",
                            self.l_kernel
                        ),
                    ));
                }
                let params = DplrKernelParams {
                    dt: self.dt(),
                    lambda: self.a(),
                    b: self.b(),
                    c_tilde: self.c(),
                    p: self.p().expect("DPLR kernels have P"),
                };
                dplr_kernel(&params, self.l_kernel, len)
            }
        }
    }

    /// C (or C̃) on the host as complex f64, row-major (channels, H, Nh),
    /// with those dimensions.
    pub(crate) fn c_host(&self) -> (Vec<c64>, [usize; 3]) {
        let c = self.c();
        let dims = c.dims();
        let re = HostTensor::from_tensor(&c.re).data;
        let im = HostTensor::from_tensor(&c.im).data;
        (
            re.into_iter()
                .zip(im)
                .map(|(r, i)| c64::new(r, i))
                .collect(),
            dims,
        )
    }

    /// The DPLR system of every channel in f64 on the host (DPLR mode).
    pub(crate) fn dplr_systems(&self) -> Vec<DplrSystem> {
        let host = |t: Tensor<B, 2>| HostTensor::from_tensor(&t);
        let a = self.a();
        let (a_re, a_im) = (host(a.re), host(a.im));
        let b = self.b();
        let (b_re, b_im) = (host(b.re), host(b.im));
        let p = self.p().expect("DPLR kernels have P");
        let [rank, h, nh] = p.dims();
        let p_re = HostTensor::from_tensor(&p.re);
        let p_im = HostTensor::from_tensor(&p.im);
        let dt = HostTensor::from_tensor(&self.dt());
        let cplx =
            |re: &HostTensor<f64>, im: &HostTensor<f64>, i: usize| c64::new(re.data[i], im.data[i]);
        (0..h)
            .map(|hi| DplrSystem {
                lambda: (0..nh).map(|n| cplx(&a_re, &a_im, hi * nh + n)).collect(),
                b: (0..nh).map(|n| cplx(&b_re, &b_im, hi * nh + n)).collect(),
                p: (0..rank)
                    .map(|r| {
                        (0..nh)
                            .map(|n| cplx(&p_re, &p_im, (r * h + hi) * nh + n))
                            .collect()
                    })
                    .collect(),
                dt: dt.data[hi],
            })
            .collect()
    }
}
