#!/bin/bash
# The GPU benchmark run of docs/BENCHMARKS.md ("GPU kernels" and "GPU end to end"):
# our kernels and end-to-end benches, then the peers', in one command on the GPU machine.
#
# Layout it expects (all git-ignored, carried to the GPU machine):
#   .carry/ssm                   release binary built with --features cuda (stripped)
#   .carry/bench_peers.py        copy of ../shared/peers/bench_peers.py
#   .carry/e2e_mamba.py          copy of bench/peers/e2e_mamba.py
#   .carry/bench_train_torch.py  copy of bench/peers/train/bench_train_torch.py
#   .carry/mamba-src/            csrc/selective_scan and mamba_ssm/ of state-spaces/mamba
#   .carry/s4/                   example.py, models/s4 and src/models/nn of state-spaces/s4
# Writes JSON lines to $OUT (ours.jsonl, ours_e2e.jsonl, peers.jsonl, peers_e2e.jsonl).
# E2E_ONLY=1 skips both kernel benches (ours.jsonl, peers.jsonl); see run_gpu_e2e.sh.
set -u
kernels() { [ "${E2E_ONLY:-0}" != 1 ]; }
OUT=${OUT:-.}

source "$(dirname "$0")/peak.sh"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
date -u
kernels && timeout 150 .carry/ssm bench kernels --device cuda 2>&1 | tee $OUT/ours.jsonl
peak timeout 120 .carry/ssm bench train-lm --device cuda --batch 8 --len 1024 --steps 5 2>&1 | tee $OUT/ours_e2e.jsonl
for b in 1 64; do
  peak timeout 60 .carry/ssm bench decode --device cuda --batch $b --tokens 128 2>&1 | tee -a $OUT/ours_e2e.jsonl
done
peak timeout 90 .carry/ssm bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | tee -a $OUT/ours_e2e.jsonl
cd .carry
kernels && MAMBA_SRC=$PWD/mamba-src timeout 330 python3 bench_peers.py 2>&1 | grep -v Warning | tee $OUT/peers.jsonl
MAMBA_SRC=$PWD/mamba-src timeout 150 python3 e2e_mamba.py 2>&1 | grep -v Warning | tee $OUT/peers_e2e.jsonl
S4_ROOT=$PWD/s4 timeout 90 python3 bench_train_torch.py --model s4d --device cuda --batch 64 --len 1024 \
  --d-model 128 --n-layers 4 --steps 10 2>/dev/null | tee -a $OUT/peers_e2e.jsonl
date -u
