#!/bin/bash
# The GPU decode rows of docs/BENCHMARKS.md in one command on the GPU machine:
# `ssm bench decode` (the fused step replayed as a CUDA graph with f32, bf16
# and f16 weights, the same step launched kernel by kernel, 16-bit weights
# with f32 activations, and the model's own layered tensor ops) for
# mamba-130m and mamba2-130m at batch 1 and 64; then mamba_ssm's `generate()` with and without CUDA graphs
# (bench/peers/decode_mamba_ssm.py); then the GPU selftest.
#
# Layout it expects (git-ignored, carried to the GPU machine):
#   .carry/ssm          release binary built with --features cuda (stripped)
#   .carry/mamba-src/   mamba_ssm/ of state-spaces/mamba
#   .carry/golden/      a copy of ../shared/golden (for the selftest)
# Environment: MODELS (default "mamba-130m mamba2-130m"), GRAPHS_ONLY=1 (the
# peer's runs with CUDA graphs only), SELFTEST=0 (skip the selftest).
# Writes JSON lines to $OUT/ours_decode.jsonl and $OUT/peers_decode.jsonl,
# and the selftest's output to $OUT/selftest.log. mamba-rs, whose first run on
# a machine compiles its kernels for minutes, has a command of its own
# (run_mamba_rs_decode.sh).
set -u
OUT=${OUT:-.}
MODELS=${MODELS:-"mamba-130m mamba2-130m"}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
date -u
ours() { timeout 60 .carry/ssm bench decode --device cuda --tokens 256 "$@" 2>&1 | tee -a $OUT/ours_decode.jsonl; }
for m in $MODELS; do
  for b in 1 64; do
    for w in f32 bf16 f16; do ours --model $m --batch $b --weights $w; done
    ours --model $m --batch $b --no-graphs
  done
  # 16-bit weights at batch 64 with f32 activations (the CPU decoder's numbers).
  ours --model $m --batch 64 --weights bf16 --f32-products
done
timeout 120 .carry/ssm bench decode --device cuda --batch 1 --tokens 64 --layered 2>&1 | tee -a $OUT/ours_decode.jsonl
MODELS="$MODELS" MAMBA_SRC=$PWD/.carry/mamba-src PYTHONUNBUFFERED=1 timeout 300 python3 bench/peers/decode_mamba_ssm.py 2>&1 \
  | grep -v Warning | tee $OUT/peers_decode.jsonl
date -u
if [ "${SELFTEST:-1}" != 0 ]; then
  timeout 240 .carry/ssm selftest --device cuda --golden .carry/golden > $OUT/selftest.log 2>&1
  grep -E "gpu_decode|passed" $OUT/selftest.log
fi
