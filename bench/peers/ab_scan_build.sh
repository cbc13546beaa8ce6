#!/bin/bash
# A/B of selective-scan variant builds against main in one device command.
# Each variant carried (.carry/bins/ssm-next.xz, ssm-next2.xz, ssm-next3.xz:
# `NEXT="bench/variants/A.patch ..." bash bench/peers/build_bins.sh`) first
# runs the selective-scan parity group; one that fails it is not timed.
# Then `ssm bench kernels --only scan` (f32 and bf16 at 8 × 1536 × 2048,
# bf16 at 1 × 1536 × 65536) of main and the passing variants, interleaved
# over ROUNDS (default 4), then their bf16 mamba-130m training steps,
# interleaved over LM_ROUNDS (default 2; 0 skips them).
# With SOURCES=1, each build then writes the CUDA source CubeCL generates
# for the scan kernels ($OUT/cubecl_BUILD.log.xz, CUBECL_DEBUG_LOG of a short
# `bench kernels --only scan`), for bench/peers/offline_sass.py off the
# device: registers and SASS of main and each variant (about 45 s a build).
# VARIANTS (default "ssm-next ssm-next2 ssm-next3") names the variants to
# measure when the carried ones are for different kernels.
# Carry .carry/bins/ssm.xz (main) and the variants. About 2 minutes a build;
# the parity group needs no golden files (builds from 2026-12-06 14:00 on;
# older ones wanted the folder: mkdir -p .carry/golden).
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
source "$here/passing_variants.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
passing_variants ab_scan_build 200 --parity selective-scan
for r in $(seq "${ROUNDS:-4}"); do
  for b in $builds; do
    timeout 120 .carry/$b bench kernels --device cuda --only scan 2>&1 | grep '^{' |
      sed "s/\"what\": \"statespace.selective_scan\", //; s/^/$b round=$r /"
  done
done 2>&1 | tee "$OUT/ab_scan_kernels.txt"
for r in $(seq "${LM_ROUNDS:-2}"); do
  for b in $builds; do
    echo "== $b bf16 LM round $r"
    timeout 90 .carry/$b bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
      --steps 10 --precision bf16 2>&1 | grep '^{'
  done
done 2>&1 | tee "$OUT/ab_scan_lm.txt"
if [ "${SOURCES:-0}" = 1 ]; then
  for b in $builds; do
    CUBECL_DEBUG_LOG=$OUT/cubecl_$b.log timeout 45 .carry/$b bench kernels --device cuda --only scan > /dev/null 2>&1
    xz -T4 -6 "$OUT/cubecl_$b.log" && echo "sources: $OUT/cubecl_$b.log.xz"
  done
fi
date -u
