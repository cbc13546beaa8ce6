# Sourced by the run_*.sh scripts: in a scratch worktree of HEAD with every
# waiting variant of bench/variants/*.patch applied, copies the kernels
# cube-host builds (GELU's, and the convolution's of ops/fft_conv/kernels.rs)
# and the DPLR spectrum's into src/kernels/ with the imports pointed at this crate, builds cube-host
# (about 5 minutes the first time; CARGO_TARGET_DIR to share a target) and
# leaves $bin (the binary), $scratch (a folder, removed on exit) and $here
# (this folder), and defines emit_kernel (below).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
here=$root/tools/cube-host
scratch=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$scratch/tree" 2>/dev/null; rm -rf "$scratch"' EXIT
git -C "$root" worktree add -q --detach "$scratch/tree" HEAD
for patch in "$root"/bench/variants/*.patch; do
  [ -e "$patch" ] && git -C "$scratch/tree" apply "$patch"
done
src=$scratch/tree/crates/statespace/src
mkdir -p "$here/src/kernels"
sed -e 's/^use burn_cubecl::cubecl;$//' \
    -e 's/^use burn_cubecl::cubecl::prelude::\*;$/use cubecl::prelude::*;/' \
    -e 's/^use super::plan::{TILE, TILE_ROWS};$/use crate::{TILE, TILE_ROWS};/' \
    "$src/ops/fft_conv/kernels.rs" > "$here/src/kernels/conv.rs"
{
  sed -e 's/^use burn_cubecl::cubecl;$//' \
      -e 's/^use burn_cubecl::cubecl::prelude::\*;$/use cubecl::prelude::*;/' \
      -e 's/^use crate::ops::support::fast_math::ERFC_FIT;$//' \
      "$src/ops/gelu/kernels.rs"
  # The fit's coefficients, as statespace's fast_math.rs declares them.
  python3 -c 'import re,sys; print(re.search(r"pub\(crate\) const ERFC_FIT: \[f32; 10\] = \[.*?\];", open(sys.argv[1]).read(), re.S).group(0))' \
    "$src/ops/support/fast_math.rs"
} > "$here/src/kernels/gelu.rs"
sed -e 's/^use burn_cubecl::cubecl;$//' \
    -e 's/^use burn_cubecl::cubecl::prelude::\*;$/use cubecl::prelude::*;/' \
    "$src/ops/dplr_spectrum/kernels.rs" > "$here/src/kernels/dplr.rs"
(cd "$here" && cargo build -q)
bin=${CARGO_TARGET_DIR:-$here/target}/debug/cube-host
# emit_kernel ARGS...: cube-host's CUDA C++ for ARGS as host C++ (the
# runtime header, the entry point's qualifiers and the shared-memory
# declaration removed; emu/prelude.h supplies them), on stdout.
emit_kernel() {
  "$bin" "$@" | sed -e 's/#include <cuda_runtime.h>//' \
    -e 's/extern "C" __global__ void __launch_bounds__([0-9]*)\([a-z_]*\) (/void \1(/' \
    -e 's/extern __shared__ __align__([0-9]*) uint8 dynamic_shared_mem\[\];//'
}
