#!/bin/bash
# Occupancy hints A/B in one device command, one build, no rebuild: each
# setting of SSM_MIN_WARPS_PER_SM (ops::support::occupancy; `none` leaves it
# unset) runs the selective-scan parity group, the scan kernels alone
# (`bench kernels --only scan`: f32 and bf16 at 8 × 1536 × 2048, bf16 at
# 1 × 1536 × 65536), then the bf16 mamba-130m training step, the settings
# interleaved over ROUNDS (default 2). Default SETTINGS: the forward scan
# (`scan_chunked_f`) unhinted, then at 24 and 32 warps per SM. Nsight
# Compute put it at 114 registers and 47 KB of shared memory per 8-warp
# cube, so 2 cubes (16 warps) per SM, 25 % occupancy, an instruction every
# 2.5 cycles per scheduler (bench/results/gpu-h100-2026-12-06-precision/
# ncu_scan_forward_ssm-next3.txt); a hint of 24 caps its registers near 85.
# Carry .carry/bins/ssm.xz (build_bins.sh); the parity group needs no golden
# files. About 1.5 minutes a setting. PARITY=0 skips the parity groups and
# ROUNDS=0 the LM steps (the scan kernels alone, a quick first look).
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
settings=${SETTINGS:-none scan_chunked_f=24 scan_chunked_f=32}
# A malformed value must fail before any work, naming the entry.
echo "== a malformed value"
SSM_MIN_WARPS_PER_SM=scan_chunked_f timeout 60 .carry/ssm bench kernels --device cuda --only scan 2>&1 | tail -n 2
# with SETTING CMD...: runs CMD with SSM_MIN_WARPS_PER_SM set to SETTING.
with() {
  local setting=$1; shift
  if [ "$setting" = none ]; then
    env -u SSM_MIN_WARPS_PER_SM "$@"
  else
    SSM_MIN_WARPS_PER_SM=$setting "$@"
  fi
}
for s in $settings; do
  if [ "${PARITY:-1}" = 1 ]; then
    echo "== $s: parity"
    log="$OUT/parity_$(echo "$s" | tr -c 'A-Za-z0-9_\n' -).txt"
    with "$s" timeout 200 .carry/ssm selftest --device cuda --parity selective-scan > "$log" 2>&1
    echo "rc=$? $(tail -n 1 "$log")"
  fi
  echo "== $s: scan kernels"
  with "$s" timeout 60 .carry/ssm bench kernels --device cuda --only scan 2>&1 | grep '^{'
done 2>&1 | tee "$OUT/occupancy_kernels.txt"
for round in $(seq "${ROUNDS:-2}"); do
  for s in $settings; do
    echo "== $s: bf16 LM round $round"
    with "$s" timeout 90 .carry/ssm bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
      --steps 10 --precision bf16 2>&1 | grep '^{'
  done
done 2>&1 | tee "$OUT/occupancy_lm.txt"
date -u
