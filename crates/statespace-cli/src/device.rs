//! The `--device` option: which burn backend runs the work.

use clap::ValueEnum;

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// The CPU (burn's Flex backend, multi-threaded).
    Cpu,
    /// An NVIDIA GPU through CUDA (kernels compiled at run time by NVRTC);
    /// needs a binary built with `--features cuda`.
    Cuda,
}

/// Runs `$body` with `B` bound to the backend of `$kind` and `device` to its
/// device value; fails clearly when the binary lacks CUDA support.
macro_rules! with_backend {
    ($kind:expr, |$b:ident, $device:ident| $body:expr) => {{
        match $kind {
            $crate::device::DeviceKind::Cpu => {
                type $b = burn::backend::Flex;
                let $device: burn::tensor::Device<$b> = Default::default();
                $body
            }
            $crate::device::DeviceKind::Cuda => {
                #[cfg(feature = "cuda")]
                {
                    match $crate::device::check_cuda() {
                        Err(e) => Err(e),
                        Ok(()) => {
                            type $b = burn::backend::Cuda;
                            let $device: burn::tensor::Device<$b> = Default::default();
                            $body
                        }
                    }
                }
                #[cfg(not(feature = "cuda"))]
                {
                    Err(anyhow::anyhow!(
                        "this ssm binary was built without CUDA support: rebuild with \
                         `cargo build --release --features cuda`, or use --device cpu"
                    ))
                }
            }
        }
    }};
}

pub(crate) use with_backend;

/// Checks that CUDA work can start here: the NVIDIA driver loads, a GPU
/// is visible, and NVRTC (which compiles our kernels at run time) is
/// present and not newer than the driver. Each failure says which and
/// what to do. Then sets the occupancy hints of `SSM_MIN_WARPS_PER_SM` and
/// the memory pool layout of `SSM_CUDA_MEMORY`, if any (an error naming a
/// malformed value).
#[cfg(feature = "cuda")]
pub fn check_cuda() -> anyhow::Result<()> {
    use anyhow::bail;
    use cudarc::{driver, nvrtc};

    const FALLBACK: &str = "or run with --device cpu";
    // SAFETY: these probes only try to load the shared libraries.
    if !unsafe { driver::sys::is_culib_present() } {
        bail!(
            "no NVIDIA driver here: libcuda.so could not be loaded. Install the NVIDIA driver, \
             {FALLBACK}"
        );
    }
    if let Err(e) = driver::result::init() {
        bail!(
            "the NVIDIA driver did not start ({e}): no usable GPU is visible (check nvidia-smi \
             and CUDA_VISIBLE_DEVICES), {FALLBACK}"
        );
    }
    match driver::result::device::get_count() {
        Ok(0) => {
            bail!("no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES), {FALLBACK}")
        }
        Err(e) => bail!("could not count the CUDA GPUs ({e}), {FALLBACK}"),
        Ok(_) => {}
    }
    let mut driver_version = 0;
    // SAFETY: the driver library is loaded (checked above); the call writes one int.
    unsafe { driver::sys::cuDriverGetVersion(&mut driver_version) }
        .result()
        .map_err(|e| anyhow::anyhow!("could not read the driver's CUDA version ({e})"))?;
    let driver = (driver_version / 1000, (driver_version % 1000) / 10);
    // SAFETY: as above, for NVRTC.
    if !unsafe { nvrtc::sys::is_culib_present() } {
        bail!(
            "NVRTC (libnvrtc.so), CUDA's run-time compiler, was not found; statespace compiles \
             its GPU kernels with it. Install it (the CUDA toolkit's cuda-nvrtc package, or \
             `pip install nvidia-cuda-nvrtc` with its lib folder on LD_LIBRARY_PATH), {FALLBACK}"
        );
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked above); the call writes two ints.
    let status = unsafe { nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if status != nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        bail!("NVRTC is present but does not answer ({status:?}), {FALLBACK}");
    }
    if (major, minor) > driver {
        bail!(
            "the NVIDIA driver is too old: it runs CUDA {}.{} but NVRTC is {major}.{minor}, and \
             kernels compiled by a newer NVRTC do not load. Update the driver (or install NVRTC \
             {}.{}), {FALLBACK}",
            driver.0,
            driver.1,
            driver.0,
            driver.1
        );
    }
    occupancy_overrides()?;
    runtime_settings()
}

/// Sets the memory pool layout (`SSM_CUDA_MEMORY`) and where launches put
/// their metadata (`SSM_CUDA_METADATA`) before any tensor is made on the
/// device, saying on stderr which were given, once per process.
#[cfg(feature = "cuda")]
fn runtime_settings() -> anyhow::Result<()> {
    use statespace::ops::{LAUNCH_METADATA_ENV, MEMORY_POOLS_ENV};
    let layout = statespace::ops::apply_memory_pools()?;
    let metadata = statespace::ops::apply_launch_metadata()?;
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        if let Some(layout) = layout {
            eprintln!("memory pools from {MEMORY_POOLS_ENV}: {}", layout.name());
        }
        if let Some(metadata) = metadata {
            eprintln!(
                "launch metadata from {LAUNCH_METADATA_ENV}: {}",
                metadata.name()
            );
        }
    });
    Ok(())
}

/// Sets the kernels' occupancy hints that `SSM_MIN_WARPS_PER_SM` names
/// (before any kernel compiles), saying on stderr which, once per process.
#[cfg(feature = "cuda")]
fn occupancy_overrides() -> anyhow::Result<()> {
    let applied = statespace::ops::apply_occupancy_overrides()?;
    static SAID: std::sync::Once = std::sync::Once::new();
    if !applied.is_empty() {
        SAID.call_once(|| {
            let list: Vec<String> = applied
                .iter()
                .map(|o| format!("{}={}", o.prefix, o.warps))
                .collect();
            eprintln!(
                "occupancy hints from {}: {}",
                statespace::ops::OCCUPANCY_ENV,
                list.join(",")
            );
        });
    }
    Ok(())
}

/// The devices of data-parallel ranks on a backend.
pub trait RankDevices: burn::tensor::backend::Backend {
    /// The devices of `n` ranks, or an error saying why there are not
    /// that many.
    fn rank_devices(n: usize) -> anyhow::Result<Vec<Self::Device>>;
}

/// What a backend can say of its device memory, for the training log.
pub trait MemoryReport: burn::tensor::backend::Backend {
    /// The memory pools' bytes in use and reserved on `device` for the
    /// calling thread, where the backend keeps pools (`None` elsewhere).
    fn pool_memory(device: &Self::Device) -> Option<statespace::ops::PoolMemory>;
}

/// The CPU backend allocates from the system; it keeps no pools to report.
impl MemoryReport for burn::backend::Flex {
    fn pool_memory(_device: &Self::Device) -> Option<statespace::ops::PoolMemory> {
        None
    }
}

/// CubeCL's pools for the calling thread's stream.
#[cfg(feature = "cuda")]
impl MemoryReport for burn::backend::Cuda {
    fn pool_memory(device: &Self::Device) -> Option<statespace::ops::PoolMemory> {
        statespace::ops::pool_memory(device)
    }
}

/// On the CPU, `n` ranks share the cores (simulated ranks: for checking
/// the data-parallel path, not for speed).
impl RankDevices for burn::backend::Flex {
    fn rank_devices(n: usize) -> anyhow::Result<Vec<Self::Device>> {
        Ok(vec![Default::default(); n])
    }
}

/// On CUDA, GPUs 0..n, one rank each.
#[cfg(feature = "cuda")]
impl RankDevices for burn::backend::Cuda {
    fn rank_devices(n: usize) -> anyhow::Result<Vec<Self::Device>> {
        let visible = cudarc::driver::result::device::get_count()
            .map_err(|e| anyhow::anyhow!("could not count the CUDA GPUs ({e})"))?;
        if n > visible as usize {
            anyhow::bail!(
                "--devices {n} asks for more GPUs than the {visible} visible here \
                 (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
            );
        }
        Ok((0..n)
            .map(|index| burn::backend::cuda::CudaDevice { index })
            .collect())
    }
}
