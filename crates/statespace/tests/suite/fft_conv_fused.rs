//! The fused FFT convolution (CPU kernel and its hand-written backward)
//! equals the composite spectral form and its autodiff gradients, for odd,
//! even and short lengths and several channel counts; the two-sided
//! convolution equals its definition as sums, gradients included.

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::fft_conv::{fft_conv_composite, fft_len};
use statespace::ops::{causal_conv, two_sided_conv};

use crate::common::Draws;

type AD = Autodiff<Flex>;

#[test]
fn fused_convolution_and_gradients_equal_composite() {
    let mut draws = Draws::new(17);
    for (batch, c, h, len, k_len) in [
        (2, 1, 3, 37, 37),
        (1, 3, 2, 64, 20),
        (3, 2, 1, 1, 1),
        (2, 2, 4, 100, 100),
    ] {
        let mut rand = |shape: [usize; 3]| draws.normal::<AD, 3>(shape, DType::F64);
        let u = rand([batch, len, h]).require_grad();
        let k = rand([c, h, k_len]).require_grad();
        let d = rand([1, c, h]).reshape([c, h]).require_grad();
        let gy = rand([batch, len, c * h]);
        let fused = causal_conv(u.clone(), k.clone(), d.clone()).unwrap();
        let n = fft_len(len, k_len);
        let reference = fft_conv_composite(u.clone(), k.clone(), d.clone(), n);
        let err = rel_err(
            &HostTensor::from_tensor(&fused).data,
            &HostTensor::from_tensor(&reference).data,
        );
        assert!(
            err < 1e-12,
            "forward {:?}: {err:.2e}",
            (batch, c, h, len, k_len)
        );
        let g1 = (fused * gy.clone()).sum().backward();
        let g2 = (reference * gy).sum().backward();
        for (name, a, b) in [
            ("u", u.grad(&g1).unwrap(), u.grad(&g2).unwrap()),
            ("k", k.grad(&g1).unwrap(), k.grad(&g2).unwrap()),
        ] {
            let err = rel_err(
                &HostTensor::from_tensor(&a).data,
                &HostTensor::from_tensor(&b).data,
            );
            assert!(
                err < 1e-12,
                "grad {name} {:?}: {err:.2e}",
                (batch, c, h, len, k_len)
            );
        }
        let (da, db) = (d.grad(&g1).unwrap(), d.grad(&g2).unwrap());
        let err = rel_err(
            &HostTensor::from_tensor(&da).data,
            &HostTensor::from_tensor(&db).data,
        );
        assert!(
            err < 1e-12,
            "grad d {:?}: {err:.2e}",
            (batch, c, h, len, k_len)
        );
    }
}

/// The two-sided convolution's definition as host sums, f64, with its
/// gradients for the upstream gradient `gy`: u (B, L, H), causal (C, H, Lc),
/// anticausal (C, H, La), d (C, H), gy (B, L, C·H) → (y, ∂u, ∂causal,
/// ∂anticausal, ∂d), all flat row-major.
struct TwoSided {
    batch: usize,
    len: usize,
    h: usize,
    c: usize,
    causal_len: usize,
    anti_len: usize,
}

impl TwoSided {
    /// The tap that connects input s to output t, if any:
    /// (causal, j) for s = t − j, (anticausal, j) for s = t + 1 + j.
    fn tap(&self, t: usize, s: usize) -> Option<(bool, usize)> {
        if s <= t {
            (t - s < self.causal_len).then_some((true, t - s))
        } else {
            (s - t - 1 < self.anti_len).then_some((false, s - t - 1))
        }
    }

    #[allow(clippy::type_complexity)]
    fn sums(
        &self,
        u: &[f64],
        causal: &[f64],
        anti: &[f64],
        d: &[f64],
        gy: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (b_n, l, h, c) = (self.batch, self.len, self.h, self.c);
        let (lc, la) = (self.causal_len, self.anti_len);
        let mut y = vec![0.0; b_n * l * c * h];
        let (mut du, mut dc, mut da, mut dd) = (
            vec![0.0; u.len()],
            vec![0.0; causal.len()],
            vec![0.0; anti.len()],
            vec![0.0; d.len()],
        );
        for b in 0..b_n {
            for ci in 0..c {
                for hi in 0..h {
                    let w = ci * h + hi;
                    for t in 0..l {
                        let out = (b * l + t) * c * h + w;
                        let g = gy[out];
                        let ut = u[(b * l + t) * h + hi];
                        y[out] += d[w] * ut;
                        dd[w] += g * ut;
                        du[(b * l + t) * h + hi] += d[w] * g;
                        for s in 0..l {
                            let us = (b * l + s) * h + hi;
                            match self.tap(t, s) {
                                Some((true, j)) => {
                                    y[out] += causal[w * lc + j] * u[us];
                                    dc[w * lc + j] += g * u[us];
                                    du[us] += causal[w * lc + j] * g;
                                }
                                Some((false, j)) => {
                                    y[out] += anti[w * la + j] * u[us];
                                    da[w * la + j] += g * u[us];
                                    du[us] += anti[w * la + j] * g;
                                }
                                None => {}
                            }
                        }
                    }
                }
            }
        }
        (y, du, dc, da, dd)
    }
}

#[test]
fn two_sided_convolution_and_gradients_equal_their_sums() {
    let mut draws = Draws::new(29);
    // (batch, C, H, L, Lc, La): the bidirectional S4 shape (Lc = La = L),
    // short kernels on either side, kernels longer than the input, L = 1.
    for (batch, c, h, len, causal_len, anti_len) in [
        (2, 1, 3, 37, 37, 37),
        (1, 2, 2, 64, 20, 5),
        (3, 1, 2, 30, 4, 29),
        (2, 2, 1, 17, 40, 50),
        (2, 1, 2, 1, 3, 2),
    ] {
        let case = TwoSided {
            batch,
            len,
            h,
            c,
            causal_len,
            anti_len,
        };
        let mut rand = |shape: [usize; 3]| draws.normal::<AD, 3>(shape, DType::F64);
        let u = rand([batch, len, h]).require_grad();
        let causal = rand([c, h, causal_len]).require_grad();
        let anti = rand([c, h, anti_len]).require_grad();
        let d = rand([1, c, h]).reshape([c, h]).require_grad();
        let gy = rand([batch, len, c * h]);
        let y = two_sided_conv(u.clone(), causal.clone(), anti.clone(), d.clone()).unwrap();
        let grads = (y.clone() * gy.clone()).sum().backward();
        let want = case.sums(
            &HostTensor::from_tensor(&u).data,
            &HostTensor::from_tensor(&causal).data,
            &HostTensor::from_tensor(&anti).data,
            &HostTensor::from_tensor(&d).data,
            &HostTensor::from_tensor(&gy).data,
        );
        // A kernel that reaches no input (L = 1's anti-causal one) has no
        // gradient: zeros.
        let grad = |t: &burn::tensor::Tensor<AD, 3>| {
            t.grad(&grads)
                .map_or(vec![0.0; t.dims().iter().product()], |g| {
                    HostTensor::from_tensor(&g).data
                })
        };
        let got = [
            ("y", HostTensor::from_tensor(&y).data, &want.0),
            ("grad u", grad(&u), &want.1),
            ("grad causal", grad(&causal), &want.2),
            ("grad anticausal", grad(&anti), &want.3),
            (
                "grad d",
                HostTensor::from_tensor(&d.grad(&grads).unwrap()).data,
                &want.4,
            ),
        ];
        for (name, got, want) in got {
            let err = rel_err(&got, want);
            assert!(
                err < 1e-12,
                "{name} {:?}: {err:.2e}",
                (batch, c, h, len, causal_len, anti_len)
            );
        }
    }
}

/// ∂d sums B·L products that cancel: in f32 the CPU kernel keeps it to the
/// result's own rounding (a running f32 sum drifted by about 10⁻⁵ of it at
/// L = 5000, past the GPU parity's tolerance, which compares with this
/// kernel). The f64 run on the same f32 values is exact to 10⁻¹⁶.
#[test]
fn the_skip_gradient_in_f32_is_rounded_once() {
    let mut draws = Draws::new(41);
    let (batch, c, h, len) = (2, 2, 3, 5000);
    let mut rand = |shape: [usize; 3]| draws.normal::<AD, 3>(shape, DType::F32);
    let u = rand([batch, len, h]);
    let k = rand([c, h, len]);
    let d = rand([1, c, h]).reshape([c, h]);
    let gy = rand([batch, len, c * h]);
    let skip_grad = |dtype: DType| {
        let [u, k] = [u.clone(), k.clone()].map(|t| t.cast(dtype).require_grad());
        let d = d.clone().cast(dtype).require_grad();
        let y = causal_conv(u, k, d.clone()).unwrap();
        let grads = (y * gy.clone().cast(dtype)).sum().backward();
        HostTensor::from_tensor(&d.grad(&grads).unwrap()).data
    };
    let err = rel_err(&skip_grad(DType::F32), &skip_grad(DType::F64));
    assert!(err < 1.2e-7, "grad d in f32 against f64: {err:.2e}");
}
