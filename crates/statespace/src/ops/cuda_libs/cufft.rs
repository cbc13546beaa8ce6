//! Batched real FFTs of any length through cuFFT (single precision),
//! on rows of contiguous f32 tensors. Plans are cached per shape.

use std::collections::HashMap;
use std::ffi::c_int;

use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_cubecl::CubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cudarc::cufft::{result as fft, sys};

use super::{DeviceLibs, enabled, run_into};
use crate::ops::support::launch::{F32Cube, empty_f32};

/// Plans kept per device before the cache is emptied (each holds a
/// work area on the device).
const MAX_PLANS: usize = 32;

/// A cached plan's shape: direction, transform length, number of rows and
/// the distance between input rows (elements).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct PlanKey {
    forward: bool,
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

/// The real FFT of length `n` of each row of `x` (rows, m), contiguous
/// f32, over its first n samples (zero-padded when m < n): the spectra
/// (rows, n/2 + 1, 2) as (re, im) pairs. `None` where cuFFT cannot run it
/// (see [`available`]), so the caller runs its own routine.
pub fn rfft_rows<R: CubeRuntime>(x: &CubeTensor<R>, n: usize) -> Option<CubeTensor<R>> {
    let [rows, m] = rows_of(x)?;
    if m < n {
        let x = Tensor::<F32Cube<R>, 2>::from_primitive(TensorPrimitive::Float(x.clone()));
        let pad = Tensor::zeros([rows, n - m], &x.device());
        let padded = into_contiguous(Tensor::cat(vec![x, pad], 1).into_primitive().tensor());
        return rfft_rows(&padded, n);
    }
    let key = PlanKey {
        forward: true,
        n,
        rows,
        input_row: m,
    };
    transform(x, key, empty_f32(x, &[rows, n / 2 + 1, 2]), "cuFFT rfft")
}

/// The unnormalised inverse real FFT of length `n` of each row of `z`
/// (rows, n/2 + 1, 2), contiguous f32 (re, im) pairs of a Hermitian
/// spectrum: (rows, n). cuFFT overwrites `z`, which the caller gives up.
pub fn irfft_rows<R: CubeRuntime>(z: CubeTensor<R>, n: usize) -> Option<CubeTensor<R>> {
    let dims = z.meta.shape().as_slice();
    if z.dtype != DType::F32 || !z.is_contiguous() || dims.len() != 3 {
        return None;
    }
    let rows = dims[0];
    if dims[1] != n / 2 + 1 || dims[2] != 2 || !available() || rows == 0 {
        return None;
    }
    let key = PlanKey {
        forward: false,
        n,
        rows,
        input_row: n / 2 + 1,
    };
    transform(&z, key, empty_f32(&z, &[rows, n]), "cuFFT irfft")
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
        // floats, or n/2 + 1 complex values, each) and writes as many
        // output rows (n/2 + 1 complex values, or n floats), the sizes the
        // callers allocated.
        unsafe {
            fft::set_stream(plan, stream as _).map_err(|e| e.to_string())?;
            let (from, to) = (ptrs[0], ptrs[1]);
            if key.forward {
                fft::exec_r2c(
                    plan,
                    from as *mut sys::cufftReal,
                    to as *mut sys::cufftComplex,
                )
            } else {
                fft::exec_c2r(
                    plan,
                    from as *mut sys::cufftComplex,
                    to as *mut sys::cufftReal,
                )
            }
            .map_err(|e| e.to_string())
        }
    })
}

/// (rows, m) of a contiguous f32 matrix with at least one row.
fn rows_of<R: CubeRuntime>(x: &CubeTensor<R>) -> Option<[usize; 2]> {
    let dims = x.meta.shape().as_slice();
    let ok = x.dtype == DType::F32 && x.is_contiguous() && dims.len() == 2 && dims[0] > 0;
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
        let (kind, in_row, out_row) = if key.forward {
            (sys::cufftType::CUFFT_R2C, key.input_row, bins)
        } else {
            (sys::cufftType::CUFFT_C2R, key.input_row, key.n)
        };
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
