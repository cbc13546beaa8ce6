//! NVIDIA's cuBLAS and cuFFT for the CubeCL CUDA backend, through cudarc:
//! the f32 matmul and the real FFTs, where CubeCL's own routines measured
//! 0.5× cuBLAS and far below cuFFT (docs/BENCHMARKS.md). The libraries are
//! loaded at run time; where one is missing, or `SSM_CUDA_LIBS=off` is set,
//! the CubeCL routines run instead. NCCL (`nccl`), the collectives of
//! data-parallel training, is loaded the same way.
//!
//! The libraries run on CubeCL's own stream, in order with its kernels and
//! without waiting on the host: cubecl-cuda is patched (vendor/cubecl-cuda)
//! to report the stream that owns a tensor's memory. Where the tensors of
//! one call belong to different streams (tensors made on other threads),
//! the call waits for CubeCL's work, runs on a stream of its own, and waits
//! for that stream before returning.

pub mod cublas;
pub mod cufft;
pub mod nccl;

use std::any::Any;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, OnceLock};

use burn_cubecl::CubeRuntime;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::{CudaDevice, CudaRuntime};
use cudarc::driver::result as driver;
use cudarc::driver::sys::{CUcontext, CUstream};

/// Whether the libraries may be used: not when `SSM_CUDA_LIBS=off`.
fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        !std::env::var("SSM_CUDA_LIBS").is_ok_and(|v| v.eq_ignore_ascii_case("off") || v == "0")
    })
}

/// The libraries' state on one device: its primary context (CubeCL's), a
/// stream, the cuBLAS handle and the cached cuFFT plans.
struct DeviceLibs {
    context: CUcontext,
    stream: CUstream,
    blas: Option<cudarc::cublas::sys::cublasHandle_t>,
    fft_plans: HashMap<cufft::PlanKey, cudarc::cufft::sys::cufftHandle>,
}

// SAFETY: the context, stream and handles are process-wide CUDA objects,
// only used under the `DEVICES` lock after making the context current.
unsafe impl Send for DeviceLibs {}

/// The state of each device (by index), created on first use.
static DEVICES: Mutex<Option<HashMap<usize, DeviceLibs>>> = Mutex::new(None);

/// The tensor as a CUDA tensor, or `None` on another CubeCL runtime.
fn as_cuda<R: CubeRuntime>(t: &CubeTensor<R>) -> Option<&CubeTensor<CudaRuntime>> {
    (t as &dyn Any).downcast_ref::<CubeTensor<CudaRuntime>>()
}

/// Runs the library call `work` (see [`run_in_order`]) on the device
/// addresses of `inputs` followed by `out`'s, and returns `out` once it
/// is written; `None` on other runtimes or when the call fails (reported
/// once as `what`), so the caller runs its own routine.
fn run_into<R: CubeRuntime>(
    inputs: &[&CubeTensor<R>],
    out: CubeTensor<R>,
    what: &'static str,
    work: impl FnOnce(&mut DeviceLibs, CUstream, &[u64]) -> Result<(), String>,
) -> Option<CubeTensor<R>> {
    let mut tensors = inputs
        .iter()
        .map(|t| as_cuda(t))
        .collect::<Option<Vec<_>>>()?;
    tensors.push(as_cuda(&out)?);
    match run_in_order(&tensors, work) {
        Ok(()) => Some(out),
        Err(e) => {
            warn_once(what, &e);
            None
        }
    }
}

/// Runs `work` in order with CubeCL's kernels: on CubeCL's stream when
/// every tensor's memory belongs to it (no host waits), else on the
/// libraries' own stream between host waits for both. `work` gets the
/// device's state, the stream to run on and the device addresses of
/// `tensors`, in order.
fn run_in_order<T>(
    tensors: &[&CubeTensor<CudaRuntime>],
    work: impl FnOnce(&mut DeviceLibs, CUstream, &[u64]) -> Result<T, String>,
) -> Result<T, String> {
    let first = tensors.first().ok_or("no tensors")?;
    // Each tensor's memory, kept from reuse until the call is queued; its
    // device address includes the tensor's offset. Getting it goes through
    // CubeCL's queue, so every kernel launched before is on the stream.
    let memory = tensors
        .iter()
        .map(|t| t.client.get_resource(t.handle.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot address a CUDA tensor: {e:?}"))?;
    let addresses: Vec<u64> = memory.iter().map(|m| m.resource().ptr).collect();
    let owner = memory[0].resource().stream;
    let shared_stream = memory.iter().all(|m| m.resource().stream == owner);
    if !shared_stream {
        cubecl::future::block_on(first.client.sync())
            .map_err(|e| format!("CUDA stream failed before a library call: {e:?}"))?;
    }
    let mut devices = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
    let devices = devices.get_or_insert_with(HashMap::new);
    let CudaDevice { index } = first.device;
    let device = match devices.entry(index) {
        Entry::Occupied(entry) => entry.into_mut(),
        Entry::Vacant(entry) => entry.insert(DeviceLibs::new(index)?),
    };
    // SAFETY: the context was retained for this device and stays alive for
    // the process; making it current is required before any library call.
    unsafe { driver::ctx::set_current(device.context) }
        .map_err(|e| format!("cannot make the CUDA context current: {e}"))?;
    if shared_stream {
        // Later kernels on this stream, including those that reuse this
        // memory once it is released, run after the call.
        return work(device, owner, &addresses);
    }
    let own = device.stream;
    let out = work(device, own, &addresses)?;
    // SAFETY: the stream is valid (created for this context).
    unsafe { driver::stream::synchronize(own) }
        .map_err(|e| format!("CUDA library call failed: {e}"))?;
    drop(memory);
    Ok(out)
}

/// Makes CubeCL's context of CUDA device `index` (its primary context)
/// current on this thread. Never waits on a device or on [`DEVICES`]
/// (which is held across library calls that may wait on one): NCCL's
/// ranks call it between collectives.
fn make_current(index: usize) -> Result<(), String> {
    /// The retained primary context of each device, by index.
    static PRIMARY: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);
    let fail = |e: driver::DriverError| format!("cannot make the CUDA context current: {e}");
    let context = {
        let mut contexts = PRIMARY.lock().unwrap_or_else(|e| e.into_inner());
        let contexts = contexts.get_or_insert_with(HashMap::new);
        match contexts.entry(index) {
            Entry::Occupied(entry) => *entry.get() as CUcontext,
            Entry::Vacant(entry) => {
                let device = driver::device::get(index as i32).map_err(fail)?;
                // SAFETY: `device` is a valid device handle; the primary
                // context is retained for the life of the process.
                let context = unsafe { driver::primary_ctx::retain(device) }.map_err(fail)?;
                *entry.insert(context as usize) as CUcontext
            }
        }
    };
    // SAFETY: the context is retained for the life of the process.
    unsafe { driver::ctx::set_current(context) }.map_err(fail)
}

impl DeviceLibs {
    fn new(index: usize) -> Result<Self, String> {
        let fail = |e: driver::DriverError| format!("cannot set up a CUDA stream: {e}");
        let device = driver::device::get(index as i32).map_err(fail)?;
        // SAFETY: `device` is a valid device handle; the primary context is
        // the one CubeCL runs on, retained for the life of the process.
        let context = unsafe { driver::primary_ctx::retain(device) }.map_err(fail)?;
        unsafe { driver::ctx::set_current(context) }.map_err(fail)?;
        let stream =
            driver::stream::create(driver::stream::StreamKind::NonBlocking).map_err(fail)?;
        Ok(Self {
            context,
            stream,
            blas: None,
            fft_plans: HashMap::new(),
        })
    }
}

/// Reports a library failure once, and that the CubeCL routine is used
/// instead.
fn warn_once(what: &'static str, error: &str) {
    static WARNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.contains(&what) {
        warned.push(what);
        eprintln!("warning: {what} failed ({error}); using CubeCL's routine instead");
    }
}
