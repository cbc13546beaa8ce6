#!/bin/bash
# The CUDA runtime's memory pool layouts (SSM_CUDA_MEMORY: sliced, cubecl's
# default; classes; exclusive) in one device command, with one build. The
# ListOps loop on an H100 left the GPU idle half the time while CubeCL's
# device thread walked its sliced pages on every allocation
# (bench/results/gpu-h100-2026-12-06d-listops/). For each layout in LAYOUTS
# (default "sliced classes"; add exclusive when the time allows),
# interleaved over ROUNDS (default 1):
# - the ListOps loop of each config in LOOP_CONFIGS (default
#   configs/listops-s4d.toml; add configs/listops-s4.toml for S4 proper,
#   whose host profile of 2026-12-07 spent 20 % of its samples in the pool's
#   reservations) for LOOP_SECONDS (default 60): steps/s, GPU utilisation
#   and memory (train/run_loop_throughput.sh);
# - the S4D classifier step of docs/BENCHMARKS.md (4 × 128, batch 64 × 1024);
# - the mamba-130m training steps in PRECISIONS (default "bf16 f32"; `ssm bench train-lm`), with
#   nvidia-smi's peak memory over the run;
# then the ops parity group under each layout that is not the default.
# Carry .carry/bins/ssm.xz (builds from 2026-12-06 16:00 UTC on). About
# 2.3 minutes a layout and round, and a minute of parity per layout other
# than sliced: 5.5 minutes by default, 9 with exclusive.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
layouts=${LAYOUTS:-"sliced classes"}
for r in $(seq "${ROUNDS:-1}"); do
  for layout in $layouts; do
    echo "== $layout round $r"
    for config in ${LOOP_CONFIGS:-configs/listops-s4d.toml}; do
      tag=$(basename "$config" .toml)
      SSM_CUDA_MEMORY=$layout bash "$here/train/run_loop_throughput.sh" "${LOOP_SECONDS:-60}" \
        "$tag-$layout-$r=.carry/ssm" -- --config "$config" \
        --set schedule.eval_every=300 --set task.val_size=128
    done
    # The S4D classifier row of docs/BENCHMARKS.md (beside the s4 model).
    SSM_CUDA_MEMORY=$layout timeout 60 .carry/ssm bench train --mixer s4d --device cuda --batch 64 \
      --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | grep '^{' | sed "s/^/s4d-classifier $layout $r /"
    for precision in ${PRECISIONS:-bf16 f32}; do
      nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 \
        > "$OUT/mem-lm-$layout-$precision-$r.csv" &
      smi=$!
      SSM_CUDA_MEMORY=$layout timeout 120 .carry/ssm bench train-lm --device cuda --model mamba-130m \
        --batch 8 --len 1024 --steps 5 --precision "$precision" 2>&1 | grep '^{'
      kill $smi 2>/dev/null; wait $smi 2>/dev/null
      echo "peak memory used: $(sort -n "$OUT/mem-lm-$layout-$precision-$r.csv" | tail -n 1) MiB"
    done
  done
done 2>&1 | tee "$OUT/ab_memory_pools.txt"
for layout in $layouts; do
  [ "$layout" = sliced ] && continue
  SSM_CUDA_MEMORY=$layout timeout 200 .carry/ssm selftest --device cuda --parity ops \
    > "$OUT/parity_$layout.txt" 2>&1
  echo "$layout parity rc=$?: $(tail -n 1 "$OUT/parity_$layout.txt")"
done
date -u
