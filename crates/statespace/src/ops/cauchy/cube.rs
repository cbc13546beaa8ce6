//! The Cauchy product on CubeCL devices: one kernel forward, one backward
//! ([`super::kernels`]), computing in f32 (half-precision inputs are
//! widened, the results narrowed back to each input's type). f64 inputs
//! keep full precision: the composite forward, the CPU backward through
//! host memory; so does the forward at node counts beyond one launch's grid.

use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{DType, Tensor, TensorData};
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use num_complex::Complex64;

use burn_flex::Flex;

use super::kernels::{UNITS, cauchy_backward, cauchy_forward};
use super::{CauchyInputs, CauchyOps, cauchy_composite};
use crate::complex::ComplexTensor;
use crate::ops::support::host::{from_host, to_host};
use crate::ops::support::launch::{empty_f32, to_dtype};
use crate::ops::support::primitive::{float, tensor};

/// The most cubes a launch takes along y (CUDA's grid limit).
const MAX_GRID_Y: usize = 65_535;

type Cube<R, F, I, BT> = CubeBackend<R, F, I, BT>;

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> CauchyOps
    for CubeBackend<R, F, I, BT>
{
    fn cauchy(i: CauchyInputs<FloatTensor<Self>>, nodes: &[Complex64]) -> FloatTensor<Self> {
        // The kernels index by these shapes unchecked: [`super::cauchy`]
        // checked them, a direct caller of the trait must not get past.
        if let Err(e) = i.check_shapes(|t| t.meta.shape().to_vec()) {
            panic!("{e}");
        }
        let [heads, rows, modes] = i.v_re.meta.shape().dims::<3>();
        let blocks = nodes.len().div_ceil(UNITS);
        if all_f64(&i) || blocks > MAX_GRID_Y {
            let v = ComplexTensor::new(tensor(i.v_re), tensor(i.v_im));
            let z = ComplexTensor::new(tensor(i.z_re), tensor(i.z_im));
            let y = cauchy_composite::<Self>(&v, &z, nodes);
            return float(Tensor::stack::<4>(vec![y.re, y.im], 0));
        }
        let dtype = i.v_re.dtype;
        let i = i.map(|t| into_contiguous(to_dtype::<R, F, I, BT>(t, DType::F32)));
        let (s_re, s_im) = node_tensors::<R, F, I, BT>(nodes, &i.v_re);
        let y = empty_f32(&i.v_re, &[2, heads, rows, nodes.len()]);
        if blocks > 0 && heads * rows > 0 {
            // SAFETY: v is packed (H, R, M), z packed (H, M), the nodes
            // packed (S) and y packed (2, H, R, S); the grid is
            // (H·R, ⌈S / UNITS⌉) and the kernel stops at k = S.
            unsafe {
                cauchy_forward::launch_unchecked::<R>(
                    &y.client,
                    CubeCount::Static((heads * rows) as u32, blocks as u32, 1),
                    CubeDim::new_1d(UNITS as u32),
                    i.v_re.into_tensor_arg(),
                    i.v_im.into_tensor_arg(),
                    i.z_re.into_tensor_arg(),
                    i.z_im.into_tensor_arg(),
                    s_re.into_tensor_arg(),
                    s_im.into_tensor_arg(),
                    y.clone().into_tensor_arg(),
                    rows as u32,
                    modes as u32,
                );
            }
        }
        to_dtype::<R, F, I, BT>(y, dtype)
    }

    fn cauchy_backward(
        i: CauchyInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
        grad: FloatTensor<Self>,
    ) -> CauchyInputs<FloatTensor<Self>> {
        // The kernels index by these shapes unchecked: [`super::cauchy`]
        // checked them, a direct caller of the trait must not get past.
        if let Err(e) = i.check_shapes(|t| t.meta.shape().to_vec()) {
            panic!("{e}");
        }
        let [heads, rows, modes] = i.v_re.meta.shape().dims::<3>();
        let grad_shape = grad.meta.shape().to_vec();
        assert_eq!(
            grad_shape,
            [2, heads, rows, nodes.len()],
            "cauchy: ∂y must be (2, H, R, S)"
        );
        if all_f64(&i) {
            let device = i.v_re.device.clone();
            let host = i.map(to_host::<Self>);
            return Flex::cauchy_backward(host, nodes, to_host::<Self>(grad))
                .map(|t| from_host::<Self>(t, &device));
        }
        let dtypes = [&i.v_re, &i.v_im, &i.z_re, &i.z_im].map(|t| t.dtype);
        let i = i.map(|t| into_contiguous(to_dtype::<R, F, I, BT>(t, DType::F32)));
        let grad = into_contiguous(to_dtype::<R, F, I, BT>(grad, DType::F32));
        let (s_re, s_im) = node_tensors::<R, F, I, BT>(nodes, &i.v_re);
        let g = CauchyInputs {
            v_re: empty_f32(&grad, &[heads, rows, modes]),
            v_im: empty_f32(&grad, &[heads, rows, modes]),
            z_re: empty_f32(&grad, &[heads, modes]),
            z_im: empty_f32(&grad, &[heads, modes]),
        };
        if heads * modes > 0 {
            // SAFETY: v and ∂v are packed (H, R, M), z and ∂z packed (H, M),
            // the nodes packed (S), grad packed (2, H, R, S); one cube per
            // (h, m), each unit striding the nodes below S.
            unsafe {
                cauchy_backward::launch_unchecked::<R>(
                    &g.v_re.client,
                    CubeCount::Static((heads * modes) as u32, 1, 1),
                    CubeDim::new_1d(UNITS as u32),
                    i.v_re.into_tensor_arg(),
                    i.v_im.into_tensor_arg(),
                    i.z_re.into_tensor_arg(),
                    i.z_im.into_tensor_arg(),
                    s_re.into_tensor_arg(),
                    s_im.into_tensor_arg(),
                    grad.into_tensor_arg(),
                    g.v_re.clone().into_tensor_arg(),
                    g.v_im.clone().into_tensor_arg(),
                    g.z_re.clone().into_tensor_arg(),
                    g.z_im.clone().into_tensor_arg(),
                    rows as u32,
                    modes as u32,
                );
            }
        }
        let mut dtypes = dtypes.into_iter();
        g.map(|t| to_dtype::<R, F, I, BT>(t, dtypes.next().expect("four dtypes")))
    }
}

/// The nodes' real and imaginary parts as packed f32 tensors (S) on
/// `like`'s device.
fn node_tensors<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>(
    nodes: &[Complex64],
    like: &CubeTensor<R>,
) -> (CubeTensor<R>, CubeTensor<R>) {
    let part = |f: fn(&Complex64) -> f64| {
        let values: Vec<f32> = nodes.iter().map(|s| f(s) as f32).collect();
        Cube::<R, F, I, BT>::float_from_data(TensorData::new(values, [nodes.len()]), &like.device)
    };
    (part(|s| s.re), part(|s| s.im))
}

fn all_f64<R: CubeRuntime>(i: &CauchyInputs<CubeTensor<R>>) -> bool {
    [&i.v_re, &i.v_im, &i.z_re, &i.z_im]
        .iter()
        .all(|t| t.dtype == DType::F64)
}
