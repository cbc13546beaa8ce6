//! The Vandermonde product on CubeCL devices: one kernel forward, one
//! backward ([`super::kernels`]), computing in f32 (half-precision inputs
//! are widened, the results narrowed back to each input's type). f64
//! inputs keep full precision: the composite forward, the CPU backward
//! through host memory; so does the forward at lengths beyond one launch's
//! grid.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use burn_flex::Flex;

use super::kernels::{UNITS, vandermonde_backward, vandermonde_forward};
use super::{VandermondeInputs, VandermondeOps, vandermonde_composite};
use crate::complex::ComplexTensor;
use crate::ops::support::host::{from_host, to_host};
use crate::ops::support::launch::{empty_f32, to_dtype};
use crate::ops::support::primitive::{float, tensor};

/// The most cubes a launch takes along y (CUDA's grid limit): lengths above
/// 65,535 · [`UNITS`] take the composite.
const MAX_GRID_Y: usize = 65_535;

type Cube<R, F, I, BT> = CubeBackend<R, F, I, BT>;

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> VandermondeOps
    for CubeBackend<R, F, I, BT>
{
    fn vandermonde(i: VandermondeInputs<FloatTensor<Self>>, len: usize) -> FloatTensor<Self> {
        // The kernels index by these shapes unchecked: [`super::vandermonde`]
        // checked them, a direct caller of the trait must not get past.
        if let Err(e) = i.check_shapes(|t| t.meta.shape().to_vec()) {
            panic!("{e}");
        }
        let [channels, heads, modes] = i.coef_re.meta.shape().dims::<3>();
        let blocks = len.div_ceil(UNITS);
        if all_f64(&i) || blocks > MAX_GRID_Y {
            let w = ComplexTensor::new(tensor(i.w_re), tensor(i.w_im));
            let coef = ComplexTensor::new(tensor(i.coef_re), tensor(i.coef_im));
            return float(vandermonde_composite::<Self>(&w, &coef, len));
        }
        let dtype = i.coef_re.dtype;
        let i = i.map(|t| into_contiguous(to_dtype::<R, F, I, BT>(t, DType::F32)));
        let rows = channels * heads;
        let k = empty_f32(&i.w_re, &[channels, heads, len]);
        if len > 0 && rows > 0 {
            // SAFETY: w is packed (H, M), coef packed (C, H, M) and k packed
            // (C, H, len); the grid is (C·H, ⌈len / UNITS⌉) and the kernel
            // stops at l = len.
            unsafe {
                vandermonde_forward::launch_unchecked::<R>(
                    &k.client,
                    CubeCount::Static(rows as u32, blocks as u32, 1),
                    CubeDim::new_1d(UNITS as u32),
                    i.w_re.into_tensor_arg(),
                    i.w_im.into_tensor_arg(),
                    i.coef_re.into_tensor_arg(),
                    i.coef_im.into_tensor_arg(),
                    k.clone().into_tensor_arg(),
                    heads as u32,
                    modes as u32,
                    len as u32,
                );
            }
        }
        to_dtype::<R, F, I, BT>(k, dtype)
    }

    fn vandermonde_backward(
        i: VandermondeInputs<FloatTensor<Self>>,
        grad: FloatTensor<Self>,
    ) -> VandermondeInputs<FloatTensor<Self>> {
        // The kernels index by these shapes unchecked: [`super::vandermonde`]
        // checked them, a direct caller of the trait must not get past.
        if let Err(e) = i.check_shapes(|t| t.meta.shape().to_vec()) {
            panic!("{e}");
        }
        let [channels, heads, modes] = i.coef_re.meta.shape().dims::<3>();
        let grad_shape = grad.meta.shape().to_vec();
        assert!(
            grad_shape.len() == 3 && grad_shape[..2] == [channels, heads],
            "vandermonde: ∂K must be (C, H, L) = ({channels}, {heads}, L), got {grad_shape:?}"
        );
        let len = grad_shape[2];
        if all_f64(&i) {
            return backward_on_host::<R, F, I, BT>(i, grad);
        }
        let dtypes = [&i.w_re, &i.w_im, &i.coef_re, &i.coef_im].map(|t| t.dtype);
        let i = i.map(|t| into_contiguous(to_dtype::<R, F, I, BT>(t, DType::F32)));
        let grad = into_contiguous(to_dtype::<R, F, I, BT>(grad, DType::F32));
        let g = VandermondeInputs {
            w_re: empty_f32(&grad, &[heads, modes]),
            w_im: empty_f32(&grad, &[heads, modes]),
            coef_re: empty_f32(&grad, &[channels, heads, modes]),
            coef_im: empty_f32(&grad, &[channels, heads, modes]),
        };
        if modes > 0 && heads > 0 {
            // SAFETY: w and the w gradients are packed (H, M), coef and its
            // gradients packed (C, H, M), grad packed (C, H, len); one cube
            // per (h, m), each unit striding l below len.
            unsafe {
                vandermonde_backward::launch_unchecked::<R>(
                    &g.w_re.client,
                    CubeCount::Static((heads * modes) as u32, 1, 1),
                    CubeDim::new_1d(UNITS as u32),
                    i.w_re.into_tensor_arg(),
                    i.w_im.into_tensor_arg(),
                    i.coef_re.into_tensor_arg(),
                    i.coef_im.into_tensor_arg(),
                    grad.into_tensor_arg(),
                    g.w_re.clone().into_tensor_arg(),
                    g.w_im.clone().into_tensor_arg(),
                    g.coef_re.clone().into_tensor_arg(),
                    g.coef_im.clone().into_tensor_arg(),
                    heads as u32,
                    modes as u32,
                    channels as u32,
                    len as u32,
                );
            }
        }
        let mut dtypes = dtypes.into_iter();
        g.map(|t| to_dtype::<R, F, I, BT>(t, dtypes.next().expect("four dtypes")))
    }
}

fn all_f64<R: CubeRuntime>(i: &VandermondeInputs<CubeTensor<R>>) -> bool {
    [&i.w_re, &i.w_im, &i.coef_re, &i.coef_im]
        .iter()
        .all(|t| t.dtype == DType::F64)
}

/// The CPU kernel's backward through host memory, for f64.
fn backward_on_host<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>(
    i: VandermondeInputs<FloatTensor<Cube<R, F, I, BT>>>,
    grad: FloatTensor<Cube<R, F, I, BT>>,
) -> VandermondeInputs<FloatTensor<Cube<R, F, I, BT>>> {
    let device = i.w_re.device.clone();
    let host = i.map(to_host::<Cube<R, F, I, BT>>);
    Flex::vandermonde_backward(host, to_host::<Cube<R, F, I, BT>>(grad))
        .map(|t| from_host::<Cube<R, F, I, BT>>(t, &device))
}
