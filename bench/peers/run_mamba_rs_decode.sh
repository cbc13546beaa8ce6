#!/bin/bash
# mamba-rs 0.8.2 (bench/peers/mamba-rs-gpu) beside `ssm bench decode` in one
# command on the GPU machine, mamba-130m at batch 1 and 64, f32 and bf16.
# A fresh machine spends 460 s or more compiling mamba-rs's kernels (NVRTC,
# one core) before its first model: a one-row warm-up run fills its caches
# first, so the timed rows see a warm start. Needs the whole 600 s limit.
#
# Layout (git-ignored, carried): .carry/ssm (release, --features cuda,
# stripped) and .carry/mamba-rs-decode.gz, built here by
#   cd bench/peers/mamba-rs-gpu && cargo build --release --ignore-rust-version
#   strip -o ../../../.carry/mamba-rs-decode target/release/mamba-rs-decode
#   gzip -f ../../../.carry/mamba-rs-decode
# Writes $OUT/mamba_rs_decode.jsonl and $OUT/ours_decode.jsonl.
set -u
OUT=${OUT:-.}
gunzip -c .carry/mamba-rs-decode.gz > /tmp/mamba-rs-decode && chmod +x /tmp/mamba-rs-decode
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
date -u
timeout 500 /tmp/mamba-rs-decode --dtypes bf16 --batches 1 --reps 1 --steps 8 --no-eager --no-backbone > /dev/null 2>&1
echo "warm-up rc=$? at $(date -u)"
timeout 60 /tmp/mamba-rs-decode --no-eager 2>/dev/null | tee $OUT/mamba_rs_decode.jsonl
for b in 1 64; do
  for w in f32 bf16; do
    timeout 20 .carry/ssm bench decode --device cuda --batch $b --tokens 128 --weights $w 2>&1 | tee -a $OUT/ours_decode.jsonl
  done
done
date -u
