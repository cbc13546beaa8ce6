//! Batched real FFTs of any length through cuFFT, on rows of contiguous
//! f32 tensors (R2C/C2R) or f64 ones (D2Z/Z2D). Plans are cached per shape
//! and precision.

use std::collections::HashMap;
use std::ffi::c_int;

use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_cubecl::CubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cudarc::cufft::{result as fft, sys};

use super::{DeviceLibs, enabled, run_into};
use crate::ops::support::launch::{F32Cube, empty_packed};

/// Plans kept per device before the cache is emptied (each holds a
/// work area on the device).
const MAX_PLANS: usize = 32;

/// A cached plan's shape: direction, precision (f64 or f32), transform
/// length, number of rows and the distance between input rows (elements).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct PlanKey {
    forward: bool,
    double: bool,
    n: usize,
    rows: usize,
    input_row: usize,
}

/// Whether cuFFT can be used: enabled and its library found.
pub fn available() -> bool {
    use std::sync::OnceLock;
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only probes whether the shared library loads.
    enabled() && *PRESENT.get_or_init(|| unsafe { sys::is_culib_present() })
}

/// Whether cuFFT transforms `dtype`: f32 and f64.
pub fn transforms(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F64)
}

/// The real FFT of length `n` of each row of `x` (rows, m), contiguous
/// f32 or f64, over its first n samples (zero-padded when m < n): the
/// spectra (rows, n/2 + 1, 2) as (re, im) pairs in `x`'s dtype. `None`
/// where cuFFT cannot run it (see [`available`]), so the caller runs its
/// own routine.
pub fn rfft_rows<R: CubeRuntime>(x: &CubeTensor<R>, n: usize) -> Option<CubeTensor<R>> {
    let [rows, m] = rows_of(x)?;
    if m < n {
        let x = Tensor::<F32Cube<R>, 2>::from_primitive(TensorPrimitive::Float(x.clone()));
        let pad = Tensor::zeros([rows, n - m], (&x.device(), x.dtype()));
        let padded = into_contiguous(Tensor::cat(vec![x, pad], 1).into_primitive().tensor());
        return rfft_rows(&padded, n);
    }
    let key = PlanKey {
        forward: true,
        double: x.dtype == DType::F64,
        n,
        rows,
        input_row: m,
    };
    let out = empty_packed(x, &[rows, n / 2 + 1, 2], x.dtype);
    transform(x, key, out, "cuFFT rfft")
}

/// The unnormalised inverse real FFT of length `n` of each row of `z`
/// (rows, n/2 + 1, 2), contiguous f32 or f64 (re, im) pairs of a Hermitian
/// spectrum: (rows, n) in `z`'s dtype. cuFFT overwrites `z`, which the
/// caller gives up.
pub fn irfft_rows<R: CubeRuntime>(z: CubeTensor<R>, n: usize) -> Option<CubeTensor<R>> {
    let dims = z.meta.shape().as_slice();
    if !transforms(z.dtype) || !z.is_contiguous() || dims.len() != 3 {
        return None;
    }
    let rows = dims[0];
    if dims[1] != n / 2 + 1 || dims[2] != 2 || !available() || rows == 0 {
        return None;
    }
    let key = PlanKey {
        forward: false,
        double: z.dtype == DType::F64,
        n,
        rows,
        input_row: n / 2 + 1,
    };
    let out = empty_packed(&z, &[rows, n], z.dtype);
    transform(&z, key, out, "cuFFT irfft")
}

/// Runs the transform `key` describes from `input` into `out`.
fn transform<R: CubeRuntime>(
    input: &CubeTensor<R>,
    key: PlanKey,
    out: CubeTensor<R>,
    what: &'static str,
) -> Option<CubeTensor<R>> {
    run_into(&[input], out, what, |device, stream, ptrs| {
        let plan = device.fft_plan(key)?;
        // SAFETY: the plan reads `rows` input rows `input_row` apart (n
        // reals, or n/2 + 1 complex values, each) and writes as many
        // output rows (n/2 + 1 complex values, or n reals), the sizes the
        // callers allocated, in the precision the plan was made for.
        unsafe {
            fft::set_stream(plan, stream as _).map_err(|e| e.to_string())?;
            let (from, to) = (ptrs[0], ptrs[1]);
            match (key.forward, key.double) {
                (true, false) => fft::exec_r2c(plan, from as *mut _, to as *mut _),
                (false, false) => fft::exec_c2r(plan, from as *mut _, to as *mut _),
                (true, true) => fft::exec_d2z(plan, from as *mut _, to as *mut _),
                (false, true) => fft::exec_z2d(plan, from as *mut _, to as *mut _),
            }
            .map_err(|e| e.to_string())
        }
    })
}

/// (rows, m) of a contiguous f32 or f64 matrix with at least one row.
fn rows_of<R: CubeRuntime>(x: &CubeTensor<R>) -> Option<[usize; 2]> {
    let dims = x.meta.shape().as_slice();
    let ok = transforms(x.dtype) && x.is_contiguous() && dims.len() == 2 && dims[0] > 0;
    (ok && available()).then(|| [dims[0], dims[1]])
}

impl DeviceLibs {
    /// The plan for `key`, made on first use (the cache is emptied when
    /// full).
    fn fft_plan(&mut self, key: PlanKey) -> Result<sys::cufftHandle, String> {
        if let Some(&plan) = self.fft_plans.get(&key) {
            return Ok(plan);
        }
        if self.fft_plans.len() >= MAX_PLANS {
            destroy_plans(&mut self.fft_plans);
        }
        let int = |x: usize| c_int::try_from(x).map_err(|_| format!("FFT size {x} too large"));
        let bins = key.n / 2 + 1;
        let (kind, out_row) = match (key.forward, key.double) {
            (true, false) => (sys::cufftType::CUFFT_R2C, bins),
            (false, false) => (sys::cufftType::CUFFT_C2R, key.n),
            (true, true) => (sys::cufftType::CUFFT_D2Z, bins),
            (false, true) => (sys::cufftType::CUFFT_Z2D, key.n),
        };
        let in_row = key.input_row;
        let mut n = [int(key.n)?];
        let mut in_embed = [int(in_row)?];
        let mut out_embed = [int(out_row)?];
        // SAFETY: the arrays outlive the call, each of rank 1.
        let plan = unsafe {
            fft::plan_many(
                1,
                n.as_mut_ptr(),
                in_embed.as_mut_ptr(),
                1,
                int(in_row)?,
                out_embed.as_mut_ptr(),
                1,
                int(out_row)?,
                kind,
                int(key.rows)?,
            )
        }
        .map_err(|e| format!("cannot plan an FFT of length {}: {e}", key.n))?;
        self.fft_plans.insert(key, plan);
        Ok(plan)
    }
}

fn destroy_plans(plans: &mut HashMap<PlanKey, sys::cufftHandle>) {
    for (_, plan) in plans.drain() {
        // SAFETY: each plan was made by `fft_plan` and is dropped from the
        // cache here, once.
        let _ = unsafe { fft::destroy(plan) };
    }
}
