//! Convolution kernels against the golden `ssm_kernels` case (dense float64
//! powering of the discretised systems): dense powering, the diagonal
//! (Vandermonde) path and the DPLR (Cauchy + FFT) path, all in f64.

use crate::common::{assert_close, golden_cases};
use burn::backend::Flex;
use burn::tensor::DType;
use faer::c64;
use statespace::complex::ComplexTensor;
use statespace::discretize::{self, Discretization};
use statespace::hippo::{Measure, nplr, transition};
use statespace::io::{HostTensor, SafetensorsFile, tensor_from_f64};
use statespace::kernel::dense::dense_kernel;
use statespace::kernel::dplr::{DplrKernelParams, DplrSystem, dplr_kernel};
use statespace::kernel::vandermonde::diagonal_kernel;

const TOL: f64 = 1e-8;

/// (measure, discretisation) of every `dense_<measure>_<disc>_K` key.
fn dense_cases(file: &SafetensorsFile) -> Vec<(String, Discretization)> {
    file.names()
        .iter()
        .filter_map(|name| {
            let rest = name.strip_prefix("dense_")?.strip_suffix("_K")?;
            let (measure, disc) = rest.rsplit_once('_')?;
            Some((measure.to_string(), disc.parse().ok()?))
        })
        .collect()
}

fn rows(t: &HostTensor<f64>) -> Vec<&[f64]> {
    let width = t.shape[1];
    t.data.chunks(width).collect()
}

#[test]
fn dense_kernels_by_powering_equal_reference() {
    for (case, file) in golden_cases("ssm_kernels") {
        let cases = dense_cases(&file);
        assert!(!cases.is_empty(), "{case}: no dense kernels");
        for (measure, disc) in cases {
            let k_ref = file.f64(&format!("dense_{measure}_{disc}_K")).unwrap();
            let c = file.f64(&format!("dense_{measure}_C")).unwrap();
            let dt = file.f64(&format!("dense_{measure}_dt")).unwrap();
            let (n, len) = (c.shape[1], k_ref.shape[1]);
            let hippo = transition(measure.parse().unwrap(), n).unwrap();
            let mut k = Vec::new();
            for (h, c_h) in rows(&c).into_iter().enumerate() {
                let system = discretize::dense(&hippo.a, &hippo.b, dt.data[h], disc).unwrap();
                k.extend(dense_kernel(&system, c_h, len));
            }
            assert_close(
                &format!("{case}/dense_{measure}_{disc} (powering)"),
                &k,
                &k_ref.data,
                TOL,
            );
        }
    }
}

/// The S4 algorithm reproduces the dense bilinear HiPPO kernels: NPLR
/// decomposition, C̃ = C(I − Āᴸ), Cauchy kernel at the roots of unity, iFFT.
#[test]
fn dense_hippo_kernels_reproduced_through_dplr_path() {
    let device = Default::default();
    for (case, file) in golden_cases("ssm_kernels") {
        for (measure_name, disc) in dense_cases(&file) {
            if disc != Discretization::Bilinear {
                continue; // S4's DPLR kernel is bilinear by construction
            }
            let measure: Measure = measure_name.parse().unwrap();
            let k_ref = file.f64(&format!("dense_{measure_name}_{disc}_K")).unwrap();
            let c = file.f64(&format!("dense_{measure_name}_C")).unwrap();
            let dt = file.f64(&format!("dense_{measure_name}_dt")).unwrap();
            let (h, n, len) = (c.shape[0], c.shape[1], k_ref.shape[1]);
            let rank = if measure == Measure::LegT { 2 } else { 1 };
            let mut dec = nplr(measure, n, rank, None).unwrap();
            // FouT has an exact zero eigenvalue pair (its zero-frequency sine
            // state is dead: A e₁ = 0), so its resolvent is singular at ω = 1
            // and the Cauchy sum at the DC node is 0/0. Move that pair to
            // Λ = −ε: the kernel changes by O(ε) and the cancellation costs
            // O(10⁻¹⁶/ε), so ε = 1e-8 balances both far below the tolerance.
            // (S4 layers avoid the pole by clamping Re Λ ≤ −1e-4 at init.)
            for lambda in dec.lambda.iter_mut().filter(|l| l.norm() < 1e-9) {
                *lambda = c64::new(-1e-8, 0.0);
            }
            let nh = n / 2;

            let mut c_tilde = Vec::new();
            for (hi, c_h) in rows(&c).into_iter().enumerate() {
                // C in the eigenbasis: Vᵀ C (the kernel pairs C with B unconjugated).
                let c_eig: Vec<c64> = (0..nh)
                    .map(|j| (0..n).map(|i| dec.v[(i, j)] * c_h[i]).sum())
                    .collect();
                let system = DplrSystem {
                    lambda: dec.lambda.clone(),
                    p: (0..rank)
                        .map(|r| (0..nh).map(|j| dec.p[(r, j)]).collect())
                        .collect(),
                    b: dec.b.clone(),
                    dt: dt.data[hi],
                };
                c_tilde.extend(system.c_tilde(&c_eig, len));
            }
            let per_h = |x: &[c64]| x.iter().cycle().take(h * nh).copied().collect::<Vec<_>>();
            let params = DplrKernelParams {
                dt: tensor_from_f64::<Flex, _>(dt.data.clone(), [h], &device, DType::F64),
                lambda: complex(&per_h(&dec.lambda), [h, nh], &device),
                b: complex(&per_h(&dec.b), [h, nh], &device),
                c_tilde: complex(&c_tilde, [1, h, nh], &device),
                p: complex(
                    &(0..rank)
                        .flat_map(|r| per_h(&(0..nh).map(|j| dec.p[(r, j)]).collect::<Vec<_>>()))
                        .collect::<Vec<_>>(),
                    [rank, h, nh],
                    &device,
                ),
            };
            let k = dplr_kernel(&params, len, len).unwrap();
            let k = HostTensor::from_tensor(&k);
            assert_close(
                &format!("{case}/dense_{measure_name}_{disc} (DPLR)"),
                &k.data,
                &k_ref.data,
                TOL,
            );
        }
    }
}

fn complex<const D: usize>(
    values: &[c64],
    shape: [usize; D],
    device: &burn::tensor::Device<Flex>,
) -> ComplexTensor<Flex, D> {
    ComplexTensor::new(
        tensor_from_f64::<Flex, _>(
            values.iter().map(|z| z.re).collect(),
            shape,
            device,
            DType::F64,
        ),
        tensor_from_f64::<Flex, _>(
            values.iter().map(|z| z.im).collect(),
            shape,
            device,
            DType::F64,
        ),
    )
}

#[test]
fn diagonal_kernels_equal_reference() {
    let device = Default::default();
    for (case, file) in golden_cases("ssm_kernels") {
        let load = |name: &str| -> (Vec<usize>, Vec<f64>) {
            let t = file.f64(name).unwrap();
            (t.shape, t.data)
        };
        let pair = |stem: &str| {
            let (shape, re) = load(&format!("{stem}_real"));
            let (_, im) = load(&format!("{stem}_imag"));
            let shape = [shape[0], shape[1]];
            ComplexTensor::<Flex, 2>::new(
                tensor_from_f64::<Flex, _>(re, shape, &device, DType::F64),
                tensor_from_f64::<Flex, _>(im, shape, &device, DType::F64),
            )
        };
        let a = pair("diag_A");
        let b = pair("diag_B");
        let c = pair("diag_C").map(|t| t.unsqueeze_dim::<3>(0));
        let (dt_shape, dt) = load("diag_dt");
        let dt = tensor_from_f64::<Flex, _>(dt, [dt_shape[0]], &device, DType::F64);
        let mut found = 0;
        for disc in [Discretization::Zoh, Discretization::Bilinear] {
            let key = format!("diag_{disc}_K");
            if !file.contains(&key) {
                continue;
            }
            let k_ref = file.f64(&key).unwrap();
            let k = diagonal_kernel(&dt, &a, &b, &c, disc, k_ref.shape[1]).unwrap();
            let k = HostTensor::from_tensor(&k);
            assert_close(&format!("{case}/{key}"), &k.data, &k_ref.data, TOL);
            found += 1;
        }
        assert!(found > 0, "{case}: no diagonal kernels");
    }
}

/// Non-power-of-two and odd lengths: the DPLR path (C̃ attuned to L, Cauchy
/// kernel at the L-th roots of unity, inverse FFT of length L) equals dense
/// powering of the same bilinear system.
#[test]
fn dplr_kernel_of_any_length_equals_dense_powering() {
    let device = Default::default();
    let n = 16;
    let nh = n / 2;
    let dec = nplr(Measure::LegS, n, 1, None).unwrap();
    let hippo = transition(Measure::LegS, n).unwrap();
    let c_real: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64 - 5.0) / 5.0).collect();
    let c_eig: Vec<c64> = (0..nh)
        .map(|j| (0..n).map(|i| dec.v[(i, j)] * c_real[i]).sum())
        .collect();
    let dt = 0.03;
    let system = DplrSystem {
        lambda: dec.lambda.clone(),
        p: vec![(0..nh).map(|j| dec.p[(0, j)]).collect()],
        b: dec.b.clone(),
        dt,
    };
    for len in [1, 2, 37, 100] {
        let c_tilde = system.c_tilde(&c_eig, len);
        let params = DplrKernelParams {
            dt: tensor_from_f64::<Flex, _>(vec![dt], [1], &device, DType::F64),
            lambda: complex(&dec.lambda, [1, nh], &device),
            b: complex(&dec.b, [1, nh], &device),
            c_tilde: complex(&c_tilde, [1, 1, nh], &device),
            p: complex(&system.p[0], [1, 1, nh], &device),
        };
        let k = HostTensor::from_tensor(&dplr_kernel(&params, len, len).unwrap()).data;
        let dense = discretize::dense(&hippo.a, &hippo.b, dt, Discretization::Bilinear).unwrap();
        let reference = dense_kernel(&dense, &c_real, len);
        assert_close(&format!("DPLR kernel, L = {len}"), &k, &reference, TOL);
    }
}
