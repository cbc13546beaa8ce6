#!/bin/bash
# The first device command of a session on the mixed-precision gap (issue 21):
# the peer extension's build in the background (for `PEERS=1 run_precision.sh`
# in the next command of the same warm window), meanwhile the newest build's
# parity groups that cover the changes (ops, mixed precision, selective
# scan), then the mamba-130m training step of the builds (ssm-prev, ssm and,
# if carried, ssm-next, ssm-next2 and ssm-next3) in bf16, interleaved over two rounds, each with the
# GPU's peak memory and utilisation during the steps (peak.sh), once the
# extension's build no longer shares the host; the scan kernels alone in the
# newest builds (`bench kernels --only scan`). Then the scan backward's
# registers, occupancy and stall reasons in the NCU_BUILDS newest builds (Nsight
# Compute sections of one launch), and where the newest build's step waits
# (Nsight Systems, if the machine has it: the GPU's busy share of the last
# steps in bf16 and f32, nsys_busy.py), and last the CUDA source of the
# newest build's scan kernels (CubeCL's debug log). Layout: .carry/bins/{ssm-prev,ssm,
# ssm-next,ssm-next2,ssm-next3}.xz, .carry/golden, .carry/mamba-src. Writes to $OUT; about 7
# minutes.
#
# Then, within 30 s: `PEERS=1 bash bench/peers/run_precision.sh` (ours and
# mamba_ssm in f32 / bf16 / f16), and in a third command
# `PRECISIONS=bf16 bash bench/peers/profile_precision.sh` (Nsight kernel times).
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
source "$here/peak.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
# PEERS_BUILD=0 skips the extension's build (no second command to use it).
build=
if [ "${PEERS_BUILD:-1}" = 1 ]; then
  (PEERS=build bash "$here/run_precision.sh" > "$OUT/peers_build.txt" 2>&1) & build=$!
fi
# The builds to compare, oldest first; the newest is checked.
bins=; for b in $BUILDS; do [ -x .carry/$b ] && bins="$bins $b"; done; bins=${bins# }
newest=${bins##* }
echo "builds: $bins"
# PARITY: the groups checked (default: those the recent changes touch).
parity=$(for g in ${PARITY:-ops mixed-precision selective-scan}; do echo -n " --parity $g"; done)
timeout 260 .carry/$newest selftest --device cuda $parity > "$OUT/selftest.txt" 2>&1
echo "selftest of $newest rc=$?"; tail -1 "$OUT/selftest.txt"; grep -v "^ok" "$OUT/selftest.txt" | head -12
[ -n "$build" ] && { wait $build; tail -2 "$OUT/peers_build.txt"; }; date -u
for round in $(seq "${ROUNDS:-2}"); do
  for bin in $bins; do
    echo "== $bin bf16 round $round"
    peak timeout 90 .carry/$bin bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
      --steps 10 --precision bf16 2>&1 | grep '^{'
  done
done 2>&1 | tee "$OUT/ab_precision.txt"
date -u
# The scan kernels alone (f32 and bf16, forward and backward, at the peer
# benchmark's shapes) in the KERNEL_BUILDS newest builds (default 3), or
# the builds KERNEL_BINS names.
for bin in ${KERNEL_BINS:-$(echo $bins | tr ' ' '\n' | tail -${KERNEL_BUILDS:-3})}; do
  echo "== $bin scan kernels"
  timeout 60 .carry/$bin bench kernels --device cuda --only scan 2>&1 | grep '^{'
done 2>&1 | tee "$OUT/scan_kernels.txt"
date -u
# Registers, occupancy and stalls of one launch of the kernels matching
# regex $2 in build $1 (a bf16 training step, Nsight Compute sections), to
# $OUT/ncu_scan_$3_$1.txt, with the lines worth reading echoed.
ncu_sections() {
  timeout 60 /usr/local/cuda/bin/ncu -k "regex:$2" -c 1 \
    --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats \
    .carry/$1 bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 --steps 1 --precision bf16 \
    > "$OUT/ncu_scan_$3_$1.txt" 2>&1
  echo "== ncu $3 $1 rc=$?"
  grep -E "Duration|Registers Per|Theoretical Occ|Achieved Occ|Block Limit (Reg|Shared)|Dynamic Shared|Issued Warp|No Eligible" \
    "$OUT/ncu_scan_$3_$1.txt" | head -12
}
# The scan backward in the NCU_BUILDS newest builds (default 2); the
# forward (output and checkpoint pass) in the newest.
for bin in $(echo $bins | tr ' ' '\n' | tail -${NCU_BUILDS:-2}); do
  ncu_sections $bin scan_chunked_backward backward
done
ncu_sections $newest scan_chunked_f forward
# The GPU's busy share of the newest build's step (host-bound or GPU-bound).
nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
for precision in bf16 f32; do
  if [ -z "$nsys" ]; then echo "no nsys on this machine"; break; fi
  timeout 100 "$nsys" profile --trace=cuda --sample=none --cpuctxsw=none --export=sqlite --force-overwrite=true \
    -o "$OUT/nsys_$precision" .carry/$newest bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
    --steps 8 --precision $precision > "$OUT/nsys_$precision.log" 2>&1
  step_ms=$(grep -o '"ms_per_step": [0-9.]*' "$OUT/nsys_$precision.log" | grep -o '[0-9.]*$')
  grep '^{' "$OUT/nsys_$precision.log"
  [ -n "$step_ms" ] && python3 "$here/nsys_busy.py" "$OUT/nsys_$precision.sqlite" "$step_ms" 3
  rm -f "$OUT/nsys_$precision.nsys-rep"; xz -T4 -6 "$OUT/nsys_$precision.sqlite" 2>/dev/null
done 2>&1 | tee "$OUT/busy.txt"
date -u
# The CUDA source CubeCL generates for the newest build's scan kernels (for
# ptxas -v off the device: registers and spills per variant); a separate
# run, since the debug log times every kernel.
CUBECL_DEBUG_LOG=$OUT/cubecl_scan.log timeout 60 .carry/$newest bench kernels --device cuda --only scan > /dev/null 2>&1
xz -T4 -6 "$OUT/cubecl_scan.log" 2>/dev/null
date -u
