#!/bin/bash
# The CUDA runtime's host-side settings in one device command, with one
# build: the memory pool layout (SSM_CUDA_MEMORY: sliced, cubecl's default;
# classes; exclusive) and where launches put their metadata
# (SSM_CUDA_METADATA: ring, the default of builds from commit af1f73c on;
# pool, cubecl's way and older builds' default). The ListOps loop on an
# H100 left the GPU idle half the time while CubeCL's device thread walked
# its sliced pages on every allocation
# (bench/results/gpu-h100-2026-12-06d-listops/), and the S4 loop's host
# profile of 2026-12-07 put 14.6 % of its samples in the per-launch metadata
# uploads (bench/results/gpu-h100-2026-12-07f-cufft-f64/listops_s4-host.svg).
# For each case LAYOUT/METADATA in CASES (default "sliced/pool classes/pool
# classes/ring"), interleaved over ROUNDS (default 1):
# - the ListOps loop of each config in LOOP_CONFIGS (default
#   configs/listops-s4d.toml; add configs/listops-s4.toml for S4 proper)
#   for LOOP_SECONDS (default 60): steps/s, GPU utilisation and memory
#   (train/run_loop_throughput.sh);
# - the S4D classifier step of docs/BENCHMARKS.md (4 × 128, batch 64 × 1024);
# - the mamba-130m training steps in PRECISIONS (default "bf16 f32"; `ssm
#   bench train-lm`), with nvidia-smi's peak memory over the run;
# then the ops parity group under each case that is not the first.
# Carry .carry/bins/ssm.xz (SSM_CUDA_MEMORY: builds from 2026-12-06 16:00
# UTC on; SSM_CUDA_METADATA: from 2026-12-07 21:00 UTC on). About 2.5
# minutes a case and round with one loop config, and a minute of parity per
# case after the first.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
cases=${CASES:-"sliced/pool classes/pool classes/ring"}
for r in $(seq "${ROUNDS:-1}"); do
  for case in $cases; do
    layout=${case%/*}; metadata=${case#*/}; tag=$layout-$metadata
    export SSM_CUDA_MEMORY=$layout SSM_CUDA_METADATA=$metadata
    echo "== $case round $r"
    for config in ${LOOP_CONFIGS:-configs/listops-s4d.toml}; do
      bash "$here/train/run_loop_throughput.sh" "${LOOP_SECONDS:-60}" \
        "$(basename "$config" .toml)-$tag-$r=.carry/ssm" -- --config "$config" \
        --set schedule.eval_every=300 --set task.val_size=128
    done
    # The S4D classifier row of docs/BENCHMARKS.md (beside the s4 model).
    timeout 60 .carry/ssm bench train --mixer s4d --device cuda --batch 64 \
      --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | grep '^{' | sed "s/^/s4d-classifier $tag $r /"
    for precision in ${PRECISIONS:-bf16 f32}; do
      lm_step_peak "lm-$tag-$precision-$r" .carry/ssm "$precision"
    done
  done
done 2>&1 | tee "$OUT/ab_memory_pools.txt"
first=${cases%% *}
for case in $cases; do
  [ "$case" = "$first" ] && continue
  tag=${case%/*}-${case#*/}
  SSM_CUDA_MEMORY=${case%/*} SSM_CUDA_METADATA=${case#*/} timeout 200 .carry/ssm selftest \
    --device cuda --parity ops > "$OUT/parity_$tag.txt" 2>&1
  echo "$case parity rc=$?: $(tail -n 1 "$OUT/parity_$tag.txt")"
done
date -u
