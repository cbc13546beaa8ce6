//! statespace patch: which memory pools the CUDA runtime builds for a
//! device. cubecl's default (`SubSlices`) serves most allocations from
//! pages cut into slices, and its sliced pool coalesces and walks every
//! slice of every page on each allocation: a training step of many small
//! tensors spends most of CubeCL's device thread there. Its pool sizes also
//! follow the device's memory (a quarter of it, divided by 4 per pool), so
//! two GPUs of different memory sizes serve the same program from different
//! pools. `set_memory_pools` picks another layout for the devices
//! initialised after the call:
//! - [`MemoryPools::SubSlices`]: cubecl's default, as published;
//! - [`MemoryPools::ExclusivePages`]: cubecl's other preset, one
//!   allocation per page in 24 size buckets from 32 KiB to the largest page
//!   (up to 1.8× the asked size);
//! - [`MemoryPools::ExclusiveClasses`]: one allocation per page as well,
//!   in size classes the caller computes from the device's largest page and
//!   alignment (statespace: classes 2^¼ apart above 64 KiB, the same on
//!   every device).

use std::sync::Mutex;

use cubecl_runtime::memory_management::{MemoryConfiguration, MemoryPoolOptions, PoolType};

/// A layout of the runtime's memory pools.
#[derive(Debug, Clone, Copy)]
pub enum MemoryPools {
    /// cubecl's default: sliced pages.
    SubSlices,
    /// cubecl's exclusive-page preset.
    ExclusivePages,
    /// One allocation per page, in the size classes (ascending, distinct,
    /// multiples of the alignment, at most 254) that the function returns
    /// for (largest page, alignment) in bytes: a pool per class.
    ExclusiveClasses(fn(u64, u64) -> Vec<u64>),
}

static CHOICE: Mutex<MemoryPools> = Mutex::new(MemoryPools::SubSlices);

/// Uses `pools` for the devices initialised after this call.
pub fn set_memory_pools(pools: MemoryPools) {
    *CHOICE.lock().unwrap_or_else(|e| e.into_inner()) = pools;
}

/// Allocations after which a page unused all along is given back, as in
/// cubecl's exclusive preset (longer for pages of more than a GiB).
fn dealloc_period(size: u64) -> u64 {
    const BASE: f64 = 5000.0;
    const GIB: f64 = (1u64 << 30) as f64;
    (BASE * (1.0 + size as f64 / GIB).round()) as u64
}

/// The memory configuration of the chosen layout for a device whose
/// largest page is `max_page` bytes.
pub(crate) fn memory_configuration(max_page: u64, alignment: u64) -> MemoryConfiguration {
    let choice = *CHOICE.lock().unwrap_or_else(|e| e.into_inner());
    match choice {
        MemoryPools::SubSlices => MemoryConfiguration::SubSlices,
        MemoryPools::ExclusivePages => MemoryConfiguration::ExclusivePages,
        MemoryPools::ExclusiveClasses(size_classes) => {
            // Allocations below the alignment get a pool of their own, as in
            // cubecl's presets.
            let mut pool_options = vec![MemoryPoolOptions {
                pool_type: PoolType::ExclusivePages { max_alloc_size: 0 },
                dealloc_period: None,
            }];
            // Pools must be multiples of the alignment, and their positions
            // fit a u8.
            let mut sizes: Vec<u64> = size_classes(max_page, alignment)
                .into_iter()
                .map(|size| size.next_multiple_of(alignment))
                .collect();
            sizes.sort_unstable();
            sizes.dedup();
            sizes.truncate(254);
            pool_options.extend(sizes.into_iter().map(|size| {
                MemoryPoolOptions {
                    pool_type: PoolType::ExclusivePages {
                        max_alloc_size: size,
                    },
                    dealloc_period: Some(dealloc_period(size)),
                }
            }));
            MemoryConfiguration::Custom { pool_options }
        }
    }
}
