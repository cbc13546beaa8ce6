//! NCCL, NVIDIA's collectives library: the in-place f32 sum over the GPUs
//! of one process (data-parallel gradients), one communicator per GPU, on
//! CubeCL's streams, so the sum runs in order with the kernels that wrote
//! the buffer and the ones that read it, with no host round trip.
//!
//! The library is loaded at run time, like cuBLAS and cuFFT, but through
//! `libloading` rather than cudarc's `nccl` feature: cudarc looks only for
//! `libnccl.so` and `libnccl.so.<CUDA major>`, while NCCL's run-time
//! packages (Debian's and Ubuntu's `libnccl2`, pip's `nvidia-nccl-cu12` and
//! `-cu13`, which PyTorch installs) ship `libnccl.so.2` alone. It is looked
//! for at `SSM_NCCL_LIB` (a file) when that is set, else as `libnccl.so.2`,
//! then `libnccl.so`, on the loader's path (`LD_LIBRARY_PATH`, ldconfig).
//! Only the calls below are bound; their C types are those of `nccl.h`
//! (stable since NCCL 2.0).
//!
//! A call that takes part in a collective may wait for the other ranks on
//! the host (NCCL's documented behaviour; since NCCL 2.22 the first call
//! of a communicator connects its peers, unless `NCCL_RUNTIME_CONNECT=0`,
//! which `ssm` sets), so each rank calls from its own thread and no lock
//! shared between ranks is held across a call. Once queued, an all-reduce
//! waits on the GPU for every rank's: a rank that stops without queueing
//! its own must [`Clique::abort`] the clique, which ends the others'
//! pending sums (`ncclCommAbort`) and fails their later calls.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use burn::tensor::DType;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cudarc::driver::sys::CUstream;

use super::make_current;

/// `ncclResult_t`; 0 is success.
type NcclResult = c_int;
/// `ncclComm_t`, an opaque handle.
type RawComm = *mut c_void;
/// `ncclFloat32` of `ncclDataType_t`.
const NCCL_FLOAT32: c_int = 7;
/// `ncclSum` of `ncclRedOp_t`.
const NCCL_SUM: c_int = 0;

/// The loaded library and the calls statespace makes.
struct Library {
    /// Kept loaded for the life of the process (the pointers below).
    _library: libloading::Library,
    /// `ncclGetVersion(int*)`.
    get_version: unsafe extern "C" fn(*mut c_int) -> NcclResult,
    /// `ncclGetErrorString(ncclResult_t)`.
    get_error_string: unsafe extern "C" fn(NcclResult) -> *const c_char,
    /// `ncclCommInitAll(ncclComm_t*, int ndev, const int* devlist)`.
    comm_init_all: unsafe extern "C" fn(*mut RawComm, c_int, *const c_int) -> NcclResult,
    /// `ncclCommDestroy(ncclComm_t)`.
    comm_destroy: unsafe extern "C" fn(RawComm) -> NcclResult,
    /// `ncclCommAbort(ncclComm_t)`.
    comm_abort: unsafe extern "C" fn(RawComm) -> NcclResult,
    /// `ncclAllReduce(send, recv, count, datatype, op, comm, stream)`.
    all_reduce: unsafe extern "C" fn(
        *const c_void,
        *mut c_void,
        usize,
        c_int,
        c_int,
        RawComm,
        CUstream,
    ) -> NcclResult,
}

/// The names the library is looked for by, in order.
fn candidates() -> Vec<String> {
    match std::env::var("SSM_NCCL_LIB") {
        Ok(path) if !path.is_empty() => vec![path],
        _ => vec!["libnccl.so.2".into(), "libnccl.so".into()],
    }
}

impl Library {
    fn load() -> Result<Self, String> {
        let mut tried = Vec::new();
        for name in candidates() {
            // SAFETY: loading runs the library's initialisers; NCCL's have
            // no preconditions.
            match unsafe { libloading::Library::new(&name) } {
                Ok(library) => return Self::bind(library, &name),
                Err(e) => tried.push(format!("{name}: {e}")),
            }
        }
        Err(format!(
            "NCCL was not found ({}). Install NCCL (the libnccl2 package, or `pip install \
             nvidia-nccl-cu13`) and put its folder on LD_LIBRARY_PATH, or set SSM_NCCL_LIB to \
             the library file",
            tried.join("; ")
        ))
    }

    fn bind(library: libloading::Library, name: &str) -> Result<Self, String> {
        /// The function `symbol` of `library`, as the pointer type `F`.
        ///
        /// SAFETY: `F` must be the symbol's C signature.
        unsafe fn symbol<F: Copy>(
            library: &libloading::Library,
            name: &str,
            symbol: &str,
        ) -> Result<F, String> {
            // SAFETY: as the caller promised.
            unsafe { library.get::<F>(symbol) }
                .map(|s| *s)
                .map_err(|e| format!("{name} has no {symbol} ({e}); it is not NCCL 2"))
        }
        // SAFETY: each type is the function's signature in nccl.h.
        unsafe {
            Ok(Self {
                get_version: symbol(&library, name, "ncclGetVersion")?,
                get_error_string: symbol(&library, name, "ncclGetErrorString")?,
                comm_init_all: symbol(&library, name, "ncclCommInitAll")?,
                comm_destroy: symbol(&library, name, "ncclCommDestroy")?,
                comm_abort: symbol(&library, name, "ncclCommAbort")?,
                all_reduce: symbol(&library, name, "ncclAllReduce")?,
                _library: library,
            })
        }
    }

    /// `Ok` for success, else NCCL's message for `result`, after `what`.
    fn check(&self, result: NcclResult, what: &str) -> Result<(), String> {
        if result == 0 {
            return Ok(());
        }
        // SAFETY: NCCL returns a static string for any code.
        let message = unsafe { CStr::from_ptr((self.get_error_string)(result)) };
        Err(format!(
            "NCCL {what} failed: {} (code {result})",
            message.to_string_lossy()
        ))
    }
}

/// The library, loaded on first use; the error says why it is missing.
fn library() -> Result<&'static Library, String> {
    static LIBRARY: OnceLock<Result<Library, String>> = OnceLock::new();
    LIBRARY
        .get_or_init(Library::load)
        .as_ref()
        .map_err(Clone::clone)
}

/// Whether NCCL may be used: not when `SSM_NCCL=off` (gradients then go
/// through host memory).
pub fn enabled() -> bool {
    !std::env::var("SSM_NCCL").is_ok_and(|v| v.eq_ignore_ascii_case("off") || v == "0")
}

/// The loaded library's version as (major, minor, patch), or why it did
/// not load.
pub fn version() -> Result<(u32, u32, u32), String> {
    let library = library()?;
    let mut code = 0;
    // SAFETY: the call writes one int.
    library.check(unsafe { (library.get_version)(&mut code) }, "version query")?;
    let code = code as u32;
    // NCCL_VERSION_CODE: major·10000 + minor·100 + patch since 2.9, and
    // major·1000 + minor·100 + patch before.
    Ok(if code >= 10_000 {
        (code / 10_000, code % 10_000 / 100, code % 100)
    } else {
        (code / 1000, code % 1000 / 100, code % 100)
    })
}

/// An NCCL communicator handle, null once destroyed or aborted.
struct Handle(RawComm);

// SAFETY: NCCL allows a communicator's calls from any thread, one call at
// a time; the handle only moves between threads under its mutex.
unsafe impl Send for Handle {}

/// One GPU's communicator in a [`Clique`]: its rank is its place in the
/// clique's device list.
pub struct Communicator {
    /// Held for each call, so calls on one communicator never overlap;
    /// only its rank calls, so the lock is uncontended but for an abort.
    handle: Mutex<Handle>,
    /// Set by [`Clique::abort`]: the rank aborts the communicator itself
    /// when its call returns, where the abort found it inside one.
    abort_requested: AtomicBool,
    device: usize,
}

impl std::fmt::Debug for Communicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Communicator")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Communicator {
    /// The CUDA device (ordinal) this communicator runs on.
    pub fn device(&self) -> usize {
        self.device
    }

    /// Whether [`Self::all_reduce_sum_in_place`] can take `tensor`: f32,
    /// contiguous, on this communicator's device, its buffer not shared
    /// with another tensor. Looks at the tensor only, so ranks with tensors
    /// of the same kind agree.
    pub fn can_take(&self, tensor: &CubeTensor<CudaRuntime>) -> bool {
        tensor.dtype == DType::F32
            && tensor.is_contiguous()
            && tensor.can_mut()
            && tensor.device.index == self.device
    }

    /// Replaces the values of `tensor` (one [`Self::can_take`] accepts) by
    /// their sum over the clique, on the stream that owns its memory, the
    /// stream of the thread that made it: later kernels on that stream see
    /// the sum, and the host does not wait. Every rank of the clique must
    /// make the same calls with tensors of the same length; the sum's bits
    /// are the same on every rank (NCCL reduces each element once and
    /// sends the result to all).
    pub fn all_reduce_sum_in_place(&self, tensor: &CubeTensor<CudaRuntime>) -> Result<(), String> {
        if !self.can_take(tensor) {
            return Err(format!(
                "NCCL sums contiguous, unshared f32 tensors on device {}; got {:?} on device {}",
                self.device, tensor.dtype, tensor.device.index
            ));
        }
        let library = library()?;
        let count = tensor.meta.shape().num_elements();
        // The memory, kept from reuse until the call is queued; getting it
        // goes through CubeCL's queue, so the kernels that wrote the
        // tensor are on the stream first. Its address includes the
        // tensor's offset.
        let memory = tensor
            .client
            .get_resource(tensor.handle.clone())
            .map_err(|e| format!("cannot address a CUDA tensor: {e:?}"))?;
        let resource = memory.resource();
        if (resource.size as usize) < count * size_of::<f32>() {
            return Err(format!(
                "a CUDA buffer of {} bytes holds fewer than the tensor's {count} f32",
                resource.size
            ));
        }
        let (buffer, stream) = (resource.ptr as *mut c_void, resource.stream);
        make_current(self.device)?;
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        if handle.0.is_null() {
            return Err("the NCCL communicator was aborted (another rank failed)".into());
        }
        // SAFETY: `buffer` holds `count` f32 values on this communicator's
        // device (checked above) and stays allocated until the stream
        // reaches the call; in place (send = receive) is allowed.
        let result = unsafe {
            (library.all_reduce)(
                buffer,
                buffer,
                count,
                NCCL_FLOAT32,
                NCCL_SUM,
                handle.0,
                stream,
            )
        };
        drop(memory);
        if self.abort_requested.load(Ordering::SeqCst) {
            self.abort_held(library, handle);
            return Err("the NCCL communicator was aborted (another rank failed)".into());
        }
        drop(handle);
        library.check(result, "all-reduce")
    }

    /// Aborts the communicator whose lock `handle` is (`ncclCommAbort`,
    /// which sets the device itself), once.
    fn abort_held(&self, library: &Library, mut handle: std::sync::MutexGuard<'_, Handle>) {
        if handle.0.is_null() {
            return;
        }
        // SAFETY: the handle is valid and not in use (its lock is held),
        // and is never used again (set to null).
        let result = unsafe { (library.comm_abort)(handle.0) };
        if let Err(e) = library.check(result, "communicator abort") {
            eprintln!("warning: {e}");
        }
        handle.0 = std::ptr::null_mut();
    }
}

/// The communicators of a group of GPUs of this process, made together
/// (`ncclCommInitAll`); rank r runs on `devices[r]`. Dropping the clique
/// destroys those not aborted.
#[derive(Debug)]
pub struct Clique {
    members: Vec<Communicator>,
}

impl Clique {
    /// A clique over the CUDA devices `devices` (ordinals, each once).
    pub fn new(devices: &[usize]) -> Result<Self, String> {
        let library = library()?;
        let mut seen = devices.to_vec();
        seen.sort_unstable();
        seen.dedup();
        if devices.is_empty() || seen.len() != devices.len() {
            return Err(format!(
                "NCCL needs one rank per GPU; the devices given were {devices:?}"
            ));
        }
        if std::env::var("NCCL_LAUNCH_MODE").is_ok_and(|m| m.eq_ignore_ascii_case("group")) {
            // Calls would wait for each other on the host, where an abort
            // cannot reach them.
            return Err("NCCL_LAUNCH_MODE=GROUP is not supported (unset it)".into());
        }
        cudarc::driver::result::init()
            .map_err(|e| format!("the CUDA driver did not start: {e}"))?;
        let list: Vec<c_int> = devices.iter().map(|&d| d as c_int).collect();
        let mut raw = vec![std::ptr::null_mut(); devices.len()];
        // NCCL restores the caller's device after initialising; the
        // current context (CubeCL's, or none) is restored here too, in
        // case it was not a primary one.
        let mut current = std::ptr::null_mut();
        // SAFETY: the driver started (above); one pointer is written.
        unsafe { cudarc::driver::sys::cuCtxGetCurrent(&mut current) }
            .result()
            .map_err(|e| format!("cannot read the current CUDA context: {e}"))?;
        // SAFETY: `raw` and `list` hold `devices.len()` entries each.
        let result = unsafe {
            (library.comm_init_all)(raw.as_mut_ptr(), list.len() as c_int, list.as_ptr())
        };
        // SAFETY: the context was current a moment ago and is retained by
        // its owner; null unbinds the one NCCL left.
        let restored = unsafe { cudarc::driver::sys::cuCtxSetCurrent(current) }.result();
        library.check(result, "communicator set-up")?;
        // Owned from here: an error below destroys them.
        let clique = Self {
            members: raw
                .into_iter()
                .zip(devices)
                .map(|(raw, &device)| Communicator {
                    handle: Mutex::new(Handle(raw)),
                    abort_requested: AtomicBool::new(false),
                    device,
                })
                .collect(),
        };
        restored.map_err(|e| format!("cannot restore the CUDA context: {e}"))?;
        Ok(clique)
    }

    /// The communicators, rank order.
    pub fn members(&self) -> &[Communicator] {
        &self.members
    }

    /// Aborts every communicator (`ncclCommAbort`): sums queued on the GPU
    /// end without waiting for the ranks that will not join them (their
    /// values are then garbage), and later calls fail. A communicator whose
    /// rank is inside a call is aborted by that rank when the call returns.
    /// For a rank that stops with an error.
    pub fn abort(&self) {
        let Ok(library) = library() else { return };
        for member in &self.members {
            member.abort_requested.store(true, Ordering::SeqCst);
            if let Ok(handle) = member.handle.try_lock() {
                member.abort_held(library, handle);
            }
        }
    }
}

impl Drop for Clique {
    /// Destroys the communicators, one thread each, so that no destroy
    /// waits for another on one thread (NCCL's documentation calls
    /// `ncclCommDestroy` a collective among a node's ranks; its code frees
    /// what they share when the last one is destroyed).
    fn drop(&mut self) {
        let Ok(library) = library() else { return };
        std::thread::scope(|scope| {
            for member in &mut self.members {
                let handle = member.handle.get_mut().unwrap_or_else(|e| e.into_inner());
                if handle.0.is_null() {
                    continue;
                }
                let (raw, device) = (
                    std::mem::replace(&mut handle.0, std::ptr::null_mut()),
                    member.device,
                );
                let raw = Handle(raw);
                scope.spawn(move || {
                    let raw = raw;
                    // NCCL sets the device itself; CubeCL's context is made
                    // current where it can be, as for every call.
                    let _ = make_current(device);
                    // SAFETY: the communicator is not used again.
                    let result = unsafe { (library.comm_destroy)(raw.0) };
                    if let Err(e) = library.check(result, "communicator clean-up") {
                        eprintln!("warning: {e}");
                    }
                });
            }
        });
    }
}
