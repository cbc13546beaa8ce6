//! The launch plan of the selective scan's CubeCL kernels ([`super::kernels`],
//! built with the `cuda` feature): which scans they take, the geometry of a
//! cube and how a sequence is cut into segments that scan in parallel.
//! Host arithmetic only, kept outside the feature so that it is compiled and
//! tested on every build; the launcher (`cube.rs`) reads the sizes off the
//! tensors and launches by the plan, or runs the CPU kernel through host
//! memory where the plan refuses the scan.

use std::fmt;

use burn::tensor::DType;

use crate::ops::support::index_limit::{INDEX_LIMIT, elements};
use crate::ops::support::kernel_types::kernel_float;

/// Lanes of a plane: NVIDIA warps.
pub const LANES: usize = 32;

/// Consecutive steps per lane (a chunk is `LANES · ITEMS` steps). 16
/// (as mamba_ssm) measured 1.9× slower in the forward on the H200 (likely
/// register spills; not profiled).
pub const ITEMS: usize = 8;

/// Steps per chunk: the kernels walk time a chunk at a time, and the
/// backward reads the state at the start of every chunk.
pub const CHUNK_STEPS: usize = LANES * ITEMS;

/// Largest state size N the kernels take.
pub const MAX_STATE: usize = 256;

/// Static shared memory per cube (CUDA's limit is 48 KiB).
const SHARED_BYTES: usize = 46 * 1024;

/// CUDA's limit on the second and third grid dimensions (the kernels put
/// the batch along y and the segments along z).
const GRID_YZ: usize = 65_535;

/// Cubes that fill the device about once (132 SMs × 8 resident cubes on an
/// H100/H200); fewer (small batch × width) split the sequence in segments.
const TARGET_CUBES: usize = 1024;

/// Segments of at least this many chunks, so the extra pass that finds
/// their start states stays short beside the scan itself.
const MIN_SEGMENT_CHUNKS: usize = 8;

/// Which optional inputs a launch has, fixed per compiled kernel.
#[cfg_attr(feature = "cuda", derive(cubecl::prelude::CubeType))]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ScanFlags {
    pub has_d: bool,
    pub has_z: bool,
    pub has_bias: bool,
    pub has_init: bool,
    pub softplus: bool,
}

/// The geometry of one cube, fixed per compiled kernel.
#[cfg_attr(feature = "cuda", derive(cubecl::prelude::CubeType))]
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ChunkGeometry {
    /// State size N.
    pub n_state: usize,
    /// States staged in shared memory at a time (a block of the state).
    pub state_block: usize,
    /// Channels per cube, one plane each.
    pub warps: usize,
    /// Consecutive time steps per lane; a chunk is `LANES · items` steps.
    pub items: usize,
}

/// A scan as the launcher reads it off its tensors: u, δ (batch, D, L),
/// A (D, N), B, C (batch, G, N, L).
#[derive(Debug, Clone)]
pub struct ScanProblem {
    pub batch: usize,
    pub dim: usize,
    pub len: usize,
    pub groups: usize,
    pub n: usize,
    /// The storage types of the activations present (u, δ, B, C, z, and
    /// ∂out for the backward), u's first.
    pub activations: Vec<DType>,
    /// The storage types of the parameters present (A, D, δ_bias, the
    /// initial state, and ∂(last state) for the backward), A's first.
    pub params: Vec<DType>,
    /// Packed sequences (the state resets at sequence starts).
    pub packed: bool,
    /// Every input the kernels read through its strides, by name, with the
    /// elements its indices reach
    /// ([`crate::ops::support::index_limit::reach`]).
    pub reaches: Vec<(&'static str, u128)>,
    /// The optional inputs present.
    pub flags: ScanFlags,
}

/// How the kernels run a scan they take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub batch: usize,
    pub dim: usize,
    pub len: usize,
    pub groups: usize,
    /// Geometry of the forward kernels (output, checkpoint and segment
    /// passes).
    pub geometry: ChunkGeometry,
    /// Geometry of the backward kernel.
    pub backward: ChunkGeometry,
    pub flags: ScanFlags,
    /// The storage type of the activations.
    pub activations: DType,
    /// The storage type of the parameters.
    pub params: DType,
    /// Segments S the sequence is cut into (1 when batch × channel blocks
    /// fill the device).
    pub segments: usize,
    /// Steps per segment, a multiple of [`CHUNK_STEPS`].
    pub seg_len: usize,
}

/// Why the kernels do not take a scan (the launcher then runs the CPU
/// kernel through host memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// Packed sequences: the kernels do not reset the state.
    Packed,
    /// Storage types other than one of f32, bf16, f16 for the activations
    /// and one for the parameters.
    Dtypes {
        activations: Vec<DType>,
        params: Vec<DType>,
    },
    /// An empty batch, width or sequence.
    EmptyAxis {
        batch: usize,
        dim: usize,
        len: usize,
    },
    /// No cube geometry for this state size: N outside 1..=[`MAX_STATE`],
    /// or nothing fits the shared memory with the channels per group.
    State { n: usize, dim_per_group: usize },
    /// A grid dimension over CUDA's limit.
    Grid { axis: &'static str, size: usize },
    /// A buffer of 2³² elements or more, which 32-bit indices would wrap.
    TooLarge {
        buffer: &'static str,
        dims: Vec<usize>,
        elements: u128,
    },
    /// An input whose strides reach 2³² elements or more.
    InputTooLarge { input: &'static str, reach: u128 },
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the selective scan kernels do not take ")?;
        match self {
            Self::Packed => write!(f, "packed sequences"),
            Self::Dtypes {
                activations,
                params,
            } => write!(
                f,
                "activations of {activations:?} with parameters of {params:?} \
                 (one of f32, bf16 and f16 for each)"
            ),
            Self::EmptyAxis { batch, dim, len } => {
                write!(f, "an empty axis (batch {batch}, D {dim}, L {len})")
            }
            Self::State { n, dim_per_group } => write!(
                f,
                "N = {n} with {dim_per_group} channels per group \
                 (N ≤ {MAX_STATE}, within {SHARED_BYTES} bytes of shared memory)"
            ),
            Self::Grid { axis, size } => {
                write!(f, "{axis} = {size}, over CUDA's grid limit of {GRID_YZ}")
            }
            Self::TooLarge {
                buffer,
                dims,
                elements,
            } => write!(
                f,
                "{buffer} of {dims:?} = {elements} elements: the kernels index in \
                 32 bits (fewer than {INDEX_LIMIT} elements)"
            ),
            Self::InputTooLarge { input, reach } => write!(
                f,
                "{input}, whose strides reach {reach} elements: the kernels index in \
                 32 bits (fewer than {INDEX_LIMIT} elements)"
            ),
        }
    }
}

/// The plan for `problem`, or why the kernels do not take it.
pub fn plan(problem: &ScanProblem) -> Result<Plan, Unsupported> {
    let ScanProblem {
        batch,
        dim,
        len,
        groups,
        n,
        ..
    } = *problem;
    if problem.packed {
        return Err(Unsupported::Packed);
    }
    let one_kernel_type = |dtypes: &[DType]| {
        dtypes
            .first()
            .is_some_and(|&first| kernel_float(first) && dtypes.iter().all(|&dtype| dtype == first))
    };
    if !(one_kernel_type(&problem.activations) && one_kernel_type(&problem.params)) {
        return Err(Unsupported::Dtypes {
            activations: problem.activations.clone(),
            params: problem.params.clone(),
        });
    }
    if len == 0 || batch == 0 || dim == 0 {
        return Err(Unsupported::EmptyAxis { batch, dim, len });
    }
    let dim_per_group = dim / groups;
    let no_geometry = Unsupported::State { n, dim_per_group };
    let geometry = cube_geometry(n, dim_per_group, forward_floats).ok_or(no_geometry.clone())?;
    let backward = cube_geometry(n, dim_per_group, backward_floats).ok_or(no_geometry)?;
    if batch > GRID_YZ {
        return Err(Unsupported::Grid {
            axis: "batch (grid y)",
            size: batch,
        });
    }
    let (segments, seg_len) = segmentation(batch, dim, len, geometry.warps);
    let chunks = len.div_ceil(CHUNK_STEPS);
    let buffers: [(&'static str, Vec<usize>); 5] = [
        ("steps (L in whole chunks)", vec![chunks * CHUNK_STEPS]),
        ("out, ∂u, ∂δ, ∂z (batch, D, L)", vec![batch, dim, len]),
        ("∂B, ∂C (batch, G, N, L)", vec![batch, groups, n, len]),
        (
            "chunk-start states (batch, chunks, D, N)",
            vec![batch, chunks, dim, n],
        ),
        (
            "segment states (batch, S, D, N)",
            vec![batch, segments, dim, n],
        ),
    ];
    for (buffer, dims) in buffers {
        let elements = elements(&dims);
        if elements >= INDEX_LIMIT {
            return Err(Unsupported::TooLarge {
                buffer,
                dims,
                elements,
            });
        }
    }
    if let Some(&(input, reach)) = problem.reaches.iter().find(|(_, r)| *r >= INDEX_LIMIT) {
        return Err(Unsupported::InputTooLarge { input, reach });
    }
    Ok(Plan {
        batch,
        dim,
        len,
        groups,
        geometry,
        backward,
        flags: problem.flags,
        activations: problem.activations[0],
        params: problem.params[0],
        segments,
        seg_len,
    })
}

impl Plan {
    /// The shape of the chunk-start states (batch, chunks, D, N) that the
    /// backward kernel reads.
    pub fn checkpoint_shape(&self) -> [usize; 4] {
        let chunks = self.len.div_ceil(CHUNK_STEPS);
        [self.batch, chunks, self.dim, self.geometry.n_state]
    }
}

/// The most channels per cube and the largest state block whose shared
/// memory, `floats(warps, state_block, padded_n)` f32 values, fits: more
/// channels first (they share the staged B and C, and the backward's
/// atomics shrink with them), channels dividing the group.
fn cube_geometry(
    n: usize,
    dim_per_group: usize,
    floats: impl Fn(usize, usize, usize) -> usize,
) -> Option<ChunkGeometry> {
    if n == 0 || n > MAX_STATE {
        return None;
    }
    let warps_choices = [8, 4, 2, 1]
        .into_iter()
        .filter(|w| dim_per_group.is_multiple_of(*w));
    for warps in warps_choices {
        for state_block in [16, 8, 4, 2, 1].into_iter().filter(|&b| b <= n) {
            let padded_n = n.div_ceil(state_block) * state_block;
            if 4 * floats(warps, state_block, padded_n) <= SHARED_BYTES {
                return Some(ChunkGeometry {
                    n_state: n,
                    state_block,
                    warps,
                    items: ITEMS,
                });
            }
        }
    }
    None
}

/// Shared memory of the forward kernel: B and C blocks, the per-plane
/// staging area, and per channel its carry and A.
fn forward_floats(warps: usize, block: usize, padded_n: usize) -> usize {
    let row = LANES * (ITEMS + 1);
    2 * block * row + warps * row + 2 * warps * padded_n
}

/// Shared memory of the backward kernel: as the forward, plus the
/// per-channel dA and the two reduction areas of dB and dC.
fn backward_floats(warps: usize, block: usize, padded_n: usize) -> usize {
    let row = LANES * (ITEMS + 1);
    2 * block * row + 3 * warps * row + 3 * warps * padded_n
}

/// (segments S, steps per segment, a multiple of the chunk): S = 1 when
/// batch × channel blocks of `warps` fill the device.
fn segmentation(batch: usize, dim: usize, len: usize, warps: usize) -> (usize, usize) {
    let cubes = (dim / warps) * batch;
    let wanted = TARGET_CUBES.div_ceil(cubes);
    let most = (len / (MIN_SEGMENT_CHUNKS * CHUNK_STEPS)).max(1);
    let segments = wanted.min(most).max(1);
    let seg_len = len.div_ceil(segments).div_ceil(CHUNK_STEPS) * CHUNK_STEPS;
    (len.div_ceil(seg_len), seg_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::support::index_limit::reach;

    const NO_OPTIONS: ScanFlags = ScanFlags {
        has_d: false,
        has_z: false,
        has_bias: false,
        has_init: false,
        softplus: false,
    };

    /// An f32 scan of packed inputs: u (batch, D, L), A (D, N),
    /// B, C (batch, G, N, L).
    fn problem(batch: usize, dim: usize, len: usize, groups: usize, n: usize) -> ScanProblem {
        ScanProblem {
            batch,
            dim,
            len,
            groups,
            n,
            activations: vec![DType::F32; 4],
            params: vec![DType::F32],
            packed: false,
            reaches: vec![("u", elements(&[batch, dim, len]))],
            flags: NO_OPTIONS,
        }
    }

    /// Mamba-130m's training shape and the long-sequence benchmark: eight
    /// channels per cube, every segment in whole chunks, the checkpoints
    /// one per chunk; batch × channel blocks that fill the device keep one
    /// segment, a lone long sequence is cut.
    #[test]
    fn takes_the_benchmark_shapes() {
        let training = plan(&problem(8, 1536, 2048, 1, 16)).unwrap();
        assert_eq!((training.geometry.warps, training.backward.warps), (8, 8));
        assert_eq!((training.segments, training.seg_len), (1, 2048));
        assert_eq!(training.checkpoint_shape(), [8, 2048 / 256, 1536, 16]);
        let long = plan(&problem(1, 1536, 65536, 1, 16)).unwrap();
        assert!(long.segments > 1);
        assert!(long.seg_len >= MIN_SEGMENT_CHUNKS * CHUNK_STEPS);
        assert_eq!(long.seg_len % CHUNK_STEPS, 0);
        assert!((long.segments - 1) * long.seg_len < 65536);
        assert!(long.segments * long.seg_len >= 65536);
    }

    /// One step: one segment of one chunk, one checkpoint.
    #[test]
    fn takes_a_single_step() {
        let p = plan(&problem(1, 1, 1, 1, 1)).unwrap();
        assert_eq!((p.segments, p.seg_len), (1, CHUNK_STEPS));
        assert_eq!(p.checkpoint_shape(), [1, 1, 1, 1]);
        assert_eq!(p.geometry.warps, 1);
    }

    /// Every state size the kernels take gets a geometry whose shared
    /// memory fits, with channels per cube dividing the group's channels,
    /// for groups of any width.
    #[test]
    fn every_state_size_fits_shared_memory() {
        for n in 1..=MAX_STATE {
            for dim_per_group in [1, 2, 3, 6, 8, 12, 24, 64, 1536] {
                let p = plan(&problem(2, dim_per_group, 300, 1, n)).unwrap();
                for (geo, floats) in [
                    (
                        p.geometry,
                        forward_floats as fn(usize, usize, usize) -> usize,
                    ),
                    (p.backward, backward_floats),
                ] {
                    let padded_n = n.div_ceil(geo.state_block) * geo.state_block;
                    assert!(4 * floats(geo.warps, geo.state_block, padded_n) <= SHARED_BYTES);
                    assert_eq!(dim_per_group % geo.warps, 0);
                    assert!(geo.state_block <= n);
                    assert_eq!((geo.n_state, geo.items), (n, ITEMS));
                }
            }
        }
    }

    /// Segments cover the sequence in whole chunks with none empty, and
    /// stay within the grid, for lengths from one step to 2²⁰.
    #[test]
    fn segments_cover_the_sequence() {
        for (batch, dim) in [(1, 1), (1, 64), (2, 768), (16, 1536)] {
            for len in [1, 2, 255, 256, 257, 2047, 2048, 4096, 65536, 1 << 20] {
                if elements(&[batch, dim, len]) >= INDEX_LIMIT {
                    continue;
                }
                let p = plan(&problem(batch, dim, len, 1, 16)).unwrap();
                assert_eq!(p.seg_len % CHUNK_STEPS, 0);
                assert!(p.segments * p.seg_len >= len);
                assert!((p.segments - 1) * p.seg_len < len);
                assert!(p.segments <= GRID_YZ);
                if (dim / p.geometry.warps) * batch >= TARGET_CUBES {
                    assert_eq!(p.segments, 1);
                }
            }
        }
    }

    /// A buffer of 2³² elements is refused, naming it and its sizes; one
    /// step fewer is taken.
    #[test]
    fn refuses_buffers_past_32_bit_indices() {
        assert!(plan(&problem(8, 4096, (1 << 17) - 1, 1, 16)).is_ok());
        let refused = plan(&problem(8, 4096, 1 << 17, 1, 16)).unwrap_err();
        assert_eq!(
            refused,
            Unsupported::TooLarge {
                buffer: "out, ∂u, ∂δ, ∂z (batch, D, L)",
                dims: vec![8, 4096, 1 << 17],
                elements: 1 << 32,
            }
        );
        let message = refused.to_string();
        assert!(message.contains("[8, 4096, 131072]"), "{message}");
        assert!(message.contains("4294967296"), "{message}");
        // B and C: N = 256 states of 2²⁴ steps.
        let bc = plan(&problem(1, 1, 1 << 24, 1, 256)).unwrap_err();
        assert!(matches!(bc, Unsupported::TooLarge { buffer, .. } if buffer.starts_with("∂B, ∂C")));
        // The chunk-start states: 2²⁴ channels of 256 states, one step.
        let states = plan(&problem(1, 1 << 24, 1, 1, 256)).unwrap_err();
        assert!(
            matches!(states, Unsupported::TooLarge { buffer, .. } if buffer.starts_with("chunk-start"))
        );
    }

    /// A slice of a wider buffer is refused when its strides reach past
    /// 2³² elements, though it holds fewer itself (u: the first 1024 of
    /// 8192 channels of a (1, 2²⁰, 8192) projection, seen as (B, D, L)).
    #[test]
    fn refuses_inputs_whose_strides_reach_past_32_bit_indices() {
        let (dim, len) = (1024, 1 << 20);
        let mut sliced = problem(1, dim, len, 1, 16);
        let u_reach = reach(&[1, dim, len], &[len * 8192, 1, 8192]);
        sliced.reaches = vec![("u", u_reach), ("delta", elements(&[1, dim, len]))];
        assert_eq!(
            plan(&sliced).unwrap_err(),
            Unsupported::InputTooLarge {
                input: "u",
                reach: u_reach,
            }
        );
        assert!(u_reach >= INDEX_LIMIT && elements(&[1, dim, len]) < INDEX_LIMIT);
    }

    /// What the kernels do not take goes to the CPU kernel: packed
    /// sequences, f64 or mixed storage types (a ∂out of another type too),
    /// empty axes, state sizes past 256, a batch past the grid.
    #[test]
    fn refuses_what_the_kernels_do_not_take() {
        let mut packed = problem(2, 8, 10, 1, 4);
        packed.packed = true;
        assert_eq!(plan(&packed).unwrap_err(), Unsupported::Packed);
        let mut f64s = problem(2, 8, 10, 1, 4);
        f64s.activations = vec![DType::F64; 4];
        assert!(matches!(plan(&f64s), Err(Unsupported::Dtypes { .. })));
        let mut mixed_grad = problem(2, 8, 10, 1, 4);
        mixed_grad.activations = vec![
            DType::BF16,
            DType::BF16,
            DType::BF16,
            DType::BF16,
            DType::F32,
        ];
        assert!(matches!(plan(&mixed_grad), Err(Unsupported::Dtypes { .. })));
        let mut bf16_with_f32_params = problem(2, 8, 10, 1, 4);
        bf16_with_f32_params.activations = vec![DType::BF16; 4];
        assert!(plan(&bf16_with_f32_params).is_ok());
        assert!(matches!(
            plan(&problem(2, 8, 0, 1, 4)),
            Err(Unsupported::EmptyAxis { len: 0, .. })
        ));
        for n in [0, MAX_STATE + 1] {
            assert!(matches!(
                plan(&problem(2, 8, 10, 1, n)),
                Err(Unsupported::State { .. })
            ));
        }
        assert_eq!(
            plan(&problem(GRID_YZ + 1, 1, 1, 1, 1)).unwrap_err(),
            Unsupported::Grid {
                axis: "batch (grid y)",
                size: GRID_YZ + 1,
            }
        );
        assert!(plan(&problem(GRID_YZ, 1, 1, 1, 1)).is_ok());
    }
}
