//! The diagonal kernel on CubeCL devices: the discretisation kernel, then
//! the Vandermonde product's (forward); the discretisation again, the
//! product's backward and the discretisation's backward plus one sum over
//! the modes for ∂Δ (backward). Computes in f32 (half-precision inputs are
//! widened, the results narrowed back to each input's type); f64 keeps
//! full precision through the composite forward and the CPU backward.

use burn::tensor::DType;
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use burn_flex::Flex;

use super::kernels::{discretize_backward, discretize_forward};
use super::{DiagonalKernelOps, DiagonalSystem, vandermonde_factors};
use crate::complex::ComplexTensor;
use crate::discretize::Discretization;
use crate::ops::support::host::{from_host, to_host};
use crate::ops::support::launch::{LINEAR_UNITS, empty_f32, linear_cubes, to_dtype};
use crate::ops::support::primitive::{float, tensor};
use crate::ops::vandermonde::{VandermondeInputs, VandermondeOps};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> DiagonalKernelOps
    for CubeBackend<R, F, I, BT>
{
    fn diagonal_kernel(
        system: DiagonalSystem<FloatTensor<Self>>,
        rule: Discretization,
        len: usize,
    ) -> FloatTensor<Self> {
        check_shapes(&system);
        if all_f64(&system) {
            let s = system;
            let (w, coef) = vandermonde_factors(
                &tensor::<Self, 1>(s.dt),
                &ComplexTensor::new(tensor(s.a_re), tensor(s.a_im)),
                &ComplexTensor::new(tensor(s.b_re), tensor(s.b_im)),
                &ComplexTensor::new(tensor(s.c_re), tensor(s.c_im)),
                rule,
            );
            let inputs = VandermondeInputs {
                w_re: float(w.re),
                w_im: float(w.im),
                coef_re: float(coef.re),
                coef_im: float(coef.im),
            };
            return Self::vandermonde(inputs, len);
        }
        let dtype = system.c_re.dtype;
        let system = system.map(|t| into_contiguous(to_dtype::<R, F, I, BT>(t, DType::F32)));
        let k = Self::vandermonde(discretized(&system, rule), len);
        to_dtype::<R, F, I, BT>(k, dtype)
    }

    fn diagonal_kernel_backward(
        system: DiagonalSystem<FloatTensor<Self>>,
        rule: Discretization,
        grad: FloatTensor<Self>,
    ) -> DiagonalSystem<FloatTensor<Self>> {
        check_shapes(&system);
        if all_f64(&system) {
            let device = system.dt.device.clone();
            let host = system.map(to_host::<Self>);
            return Flex::diagonal_kernel_backward(host, rule, to_host::<Self>(grad))
                .map(|t| from_host::<Self>(t, &device));
        }
        let dtypes = [
            &system.dt,
            &system.a_re,
            &system.a_im,
            &system.b_re,
            &system.b_im,
            &system.c_re,
            &system.c_im,
        ]
        .map(|t| t.dtype);
        let s = system.map(|t| into_contiguous(to_dtype::<R, F, I, BT>(t, DType::F32)));
        let grad = to_dtype::<R, F, I, BT>(grad, DType::F32);
        let g = Self::vandermonde_backward(discretized(&s, rule), grad);
        let [channels, heads, modes] = s.c_re.meta.shape().dims::<3>();
        let like = s.a_re.clone();
        let like = &like;
        let out = DiagonalSystem {
            dt: empty_f32(like, &[heads, modes]),
            a_re: empty_f32(like, &[heads, modes]),
            a_im: empty_f32(like, &[heads, modes]),
            b_re: empty_f32(like, &[heads, modes]),
            b_im: empty_f32(like, &[heads, modes]),
            c_re: empty_f32(like, &[channels, heads, modes]),
            c_im: empty_f32(like, &[channels, heads, modes]),
        };
        let count = heads * modes;
        if count > 0 {
            let g = g.map(into_contiguous);
            // SAFETY: every (H, N) tensor is packed with `count` elements,
            // every (C, H, N) one packed with C·count, Δ packed (H); one
            // unit per mode, stopping at `count`.
            unsafe {
                discretize_backward::launch_unchecked::<R>(
                    &like.client,
                    linear_cubes(count),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    s.dt.into_tensor_arg(),
                    s.a_re.into_tensor_arg(),
                    s.a_im.into_tensor_arg(),
                    s.b_re.into_tensor_arg(),
                    s.b_im.into_tensor_arg(),
                    s.c_re.into_tensor_arg(),
                    s.c_im.into_tensor_arg(),
                    g.w_re.into_tensor_arg(),
                    g.w_im.into_tensor_arg(),
                    g.coef_re.into_tensor_arg(),
                    g.coef_im.into_tensor_arg(),
                    out.dt.clone().into_tensor_arg(),
                    out.a_re.clone().into_tensor_arg(),
                    out.a_im.clone().into_tensor_arg(),
                    out.b_re.clone().into_tensor_arg(),
                    out.b_im.clone().into_tensor_arg(),
                    out.c_re.clone().into_tensor_arg(),
                    out.c_im.clone().into_tensor_arg(),
                    modes as u32,
                    channels as u32,
                    rule == Discretization::Bilinear,
                );
            }
        }
        let grad_dt = Self::float_reshape(Self::float_sum_dim(out.dt.clone(), 1), [heads].into());
        let out = DiagonalSystem { dt: grad_dt, ..out };
        let mut dtypes = dtypes.into_iter();
        out.map(|t| to_dtype::<R, F, I, BT>(t, dtypes.next().expect("seven dtypes")))
    }
}

/// w and coef of a packed f32 system, from the discretisation kernel.
fn discretized<R: CubeRuntime>(
    s: &DiagonalSystem<CubeTensor<R>>,
    rule: Discretization,
) -> VandermondeInputs<CubeTensor<R>> {
    let [channels, heads, modes] = s.c_re.meta.shape().dims::<3>();
    let like = &s.a_re;
    let out = VandermondeInputs {
        w_re: empty_f32(like, &[heads, modes]),
        w_im: empty_f32(like, &[heads, modes]),
        coef_re: empty_f32(like, &[channels, heads, modes]),
        coef_im: empty_f32(like, &[channels, heads, modes]),
    };
    let count = heads * modes;
    if count > 0 {
        // SAFETY: as in the backward: (H, N) tensors packed with `count`
        // elements, (C, H, N) ones with C·count, Δ packed (H); one unit per
        // mode, stopping at `count`.
        unsafe {
            discretize_forward::launch_unchecked::<R>(
                &like.client,
                linear_cubes(count),
                CubeDim::new_1d(LINEAR_UNITS as u32),
                s.dt.clone().into_tensor_arg(),
                s.a_re.clone().into_tensor_arg(),
                s.a_im.clone().into_tensor_arg(),
                s.b_re.clone().into_tensor_arg(),
                s.b_im.clone().into_tensor_arg(),
                s.c_re.clone().into_tensor_arg(),
                s.c_im.clone().into_tensor_arg(),
                out.w_re.clone().into_tensor_arg(),
                out.w_im.clone().into_tensor_arg(),
                out.coef_re.clone().into_tensor_arg(),
                out.coef_im.clone().into_tensor_arg(),
                modes as u32,
                channels as u32,
                rule == Discretization::Bilinear,
            );
        }
    }
    out
}

/// The kernels index by the system's shapes unchecked: [`super::diagonal_kernel`]
/// checked them, a direct caller of the trait must not get past.
fn check_shapes<R: CubeRuntime>(s: &DiagonalSystem<CubeTensor<R>>) {
    if let Err(e) = s.check_shapes(|t| t.meta.shape().to_vec()) {
        panic!("{e}");
    }
}

fn all_f64<R: CubeRuntime>(s: &DiagonalSystem<CubeTensor<R>>) -> bool {
    s.clone().into_array().iter().all(|t| t.dtype == DType::F64)
}
