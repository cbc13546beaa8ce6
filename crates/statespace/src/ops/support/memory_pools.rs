//! The layout of the CUDA runtime's memory pools, chosen from the
//! environment for A/B runs without a rebuild.
//!
//! `SSM_CUDA_MEMORY` names one of the vendored cubecl-cuda's layouts
//! (`set_memory_pools`): `sliced` (cubecl's default, pages cut into slices,
//! used when the variable is unset), `exclusive` (cubecl's one allocation
//! per page, in 24 size buckets) or `classes` (one allocation per page in
//! size classes 2^¼ apart). The layout applies to devices initialised after
//! it is set, so `ssm` calls [`apply_memory_pools`] when it starts on CUDA,
//! before the first tensor; a library user calls it the same way.

use crate::error::Result;

/// The environment variable that names the layout.
pub const MEMORY_POOLS_ENV: &str = "SSM_CUDA_MEMORY";

/// A layout of the CUDA runtime's memory pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryPoolLayout {
    /// cubecl's default: pages cut into slices.
    Sliced,
    /// cubecl's exclusive-page preset.
    Exclusive,
    /// One allocation per page in fine size classes.
    Classes,
}

impl MemoryPoolLayout {
    /// The value of `SSM_CUDA_MEMORY` that names it.
    pub fn name(self) -> &'static str {
        match self {
            MemoryPoolLayout::Sliced => "sliced",
            MemoryPoolLayout::Exclusive => "exclusive",
            MemoryPoolLayout::Classes => "classes",
        }
    }
}

/// The smallest size class above which classes grow by 2^¼ instead of
/// doubling.
const FINE_FROM: u64 = 64 * 1024;

/// The size classes of the `classes` layout for a device whose largest page
/// is `max_page` bytes: `alignment` doubled up to 64 KiB, then four classes
/// an octave, each rounded up to a multiple of `alignment`; ascending and
/// distinct. A page of a class holds any allocation above the class below,
/// so it wastes at most 2^¼ − 1 ≈ 19 % of itself above 64 KiB (and at most
/// half below).
pub fn size_classes(max_page: u64, alignment: u64) -> Vec<u64> {
    let alignment = alignment.max(1);
    let mut sizes = Vec::new();
    let mut size = alignment;
    while size < FINE_FROM && size <= max_page {
        sizes.push(size);
        size *= 2;
    }
    let mut octave = FINE_FROM.max(alignment);
    'octaves: loop {
        for quarter in 0..4 {
            let s = (octave as f64 * 2f64.powf(f64::from(quarter) / 4.0)).ceil() as u64;
            let s = s.next_multiple_of(alignment);
            if s > max_page {
                break 'octaves;
            }
            if sizes.last() != Some(&s) {
                sizes.push(s);
            }
        }
        octave *= 2;
    }
    sizes
}

/// Parses a value of `SSM_CUDA_MEMORY` (surrounding blanks ignored); any
/// other value is an error naming the variable and the choices.
pub fn parse_memory_pools(text: &str) -> Result<MemoryPoolLayout> {
    let layouts = [
        MemoryPoolLayout::Sliced,
        MemoryPoolLayout::Exclusive,
        MemoryPoolLayout::Classes,
    ];
    super::env_setting::named_choice(
        text,
        &layouts,
        MemoryPoolLayout::name,
        MEMORY_POOLS_ENV,
        "a memory pool layout",
    )
}

/// Reads `SSM_CUDA_MEMORY` and sets the layout it names, to be called
/// before the first tensor on CUDA; returns it (`None` when the variable is
/// unset: cubecl's default stays). A value it does not name is an error.
#[cfg(feature = "cuda")]
pub fn apply_memory_pools() -> Result<Option<MemoryPoolLayout>> {
    use cubecl::cuda::{MemoryPools, set_memory_pools};
    let Some(layout) = super::env_setting::env_setting(MEMORY_POOLS_ENV, parse_memory_pools)?
    else {
        return Ok(None);
    };
    set_memory_pools(match layout {
        MemoryPoolLayout::Sliced => MemoryPools::SubSlices,
        MemoryPoolLayout::Exclusive => MemoryPools::ExclusivePages,
        MemoryPoolLayout::Classes => MemoryPools::ExclusiveClasses(size_classes),
    });
    Ok(Some(layout))
}

/// Device memory as the memory pools of one CubeCL stream hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolMemory {
    /// Bytes of the allocations alive now.
    pub in_use: u64,
    /// Bytes of the pages the pools hold (alive or free for reuse): what
    /// the stream takes from the device.
    pub reserved: u64,
}

/// The memory of the CUDA device's pools for the calling thread's CubeCL
/// stream (CubeCL keeps pools per stream; a training loop's tensors live
/// on its thread's stream); `None` when the runtime does not answer (a
/// device that failed earlier).
#[cfg(feature = "cuda")]
pub fn pool_memory(device: &cubecl::cuda::CudaDevice) -> Option<PoolMemory> {
    use cubecl::Runtime;
    let usage = cubecl::cuda::CudaRuntime::client(device)
        .memory_usage()
        .ok()?;
    Some(PoolMemory {
        in_use: usage.bytes_in_use,
        reserved: usage.bytes_reserved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_aligned_ascending_and_fine_above_64_kib() {
        for max_page in [20 << 30, 35 << 30, 3 << 20] {
            let sizes = size_classes(max_page, 512);
            assert_eq!(&sizes[..4], &[512, 1024, 2048, 4096]);
            assert!(sizes.windows(2).all(|w| w[0] < w[1]));
            assert!(sizes.iter().all(|s| s % 512 == 0 && *s <= max_page));
            for w in sizes.windows(2).filter(|w| w[0] >= FINE_FROM) {
                // 2^¼ apart, up to the rounding to the alignment.
                assert!(
                    w[1] as f64 <= w[0] as f64 * 2f64.powf(0.25) + 512.0,
                    "{w:?}"
                );
            }
            // The largest allocation a page takes is within a class of the
            // largest page; pool positions fit a u8 beside the pool of tiny
            // allocations.
            assert!(*sizes.last().unwrap() as f64 >= max_page as f64 / 1.19);
            assert!(sizes.len() <= 254, "{}", sizes.len());
        }
    }

    #[test]
    fn layouts_parse_by_name_and_others_are_named_errors() {
        assert_eq!(
            parse_memory_pools("classes").unwrap(),
            MemoryPoolLayout::Classes
        );
        assert_eq!(
            parse_memory_pools(" sliced ").unwrap(),
            MemoryPoolLayout::Sliced
        );
        assert_eq!(
            parse_memory_pools("exclusive").unwrap(),
            MemoryPoolLayout::Exclusive
        );
        let e = parse_memory_pools("pages").unwrap_err().to_string();
        assert!(
            e.contains(MEMORY_POOLS_ENV) && e.contains("`pages`") && e.contains("classes"),
            "{e}"
        );
    }
}
