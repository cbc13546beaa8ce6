#!/bin/bash
# The GPU decode rows of docs/BENCHMARKS.md in one command on the GPU machine:
# `ssm bench decode` (fused step replayed as a CUDA graph, the same step
# launched kernel by kernel, and the model's own layered tensor ops) for
# mamba-130m at batch 1 and 64, then mamba_ssm's `generate()` with and
# without CUDA graphs (bench/peers/decode_mamba_ssm.py), then the GPU selftest.
#
# Layout it expects (git-ignored, carried to the GPU machine):
#   .carry/ssm          release binary built with --features cuda (stripped)
#   .carry/mamba-src/   mamba_ssm/ of state-spaces/mamba
#   .carry/golden/      a copy of ../shared/golden (for the selftest)
# Writes JSON lines to $OUT/ours_decode.jsonl and $OUT/peers_decode.jsonl,
# and the selftest's output to $OUT/selftest.log.
set -u
OUT=${OUT:-.}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
date -u
for b in 1 64; do
  for w in f32 bf16; do
    timeout 60 .carry/ssm bench decode --device cuda --batch $b --tokens 256 --weights $w 2>&1 | tee -a $OUT/ours_decode.jsonl
  done
  timeout 60 .carry/ssm bench decode --device cuda --batch $b --tokens 256 --no-graphs 2>&1 | tee -a $OUT/ours_decode.jsonl
  timeout 120 .carry/ssm bench decode --device cuda --batch $b --tokens 64 --layered 2>&1 | tee -a $OUT/ours_decode.jsonl
done
MAMBA_SRC=$PWD/.carry/mamba-src PYTHONUNBUFFERED=1 timeout 240 python3 bench/peers/decode_mamba_ssm.py 2>&1 \
  | grep -v Warning | tee $OUT/peers_decode.jsonl
date -u
timeout 240 .carry/ssm selftest --device cuda --golden .carry/golden > $OUT/selftest.log 2>&1
grep -E "gpu_decode|hf_mamba|passed" $OUT/selftest.log
