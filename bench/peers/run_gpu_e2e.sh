#!/bin/bash
# The end-to-end part of bench/peers/run_gpu_bench.sh alone (ours, then the peers), same
# layout under .carry/. Note: e2e_mamba.py takes mamba_ssm's extension from torch's cache;
# on a fresh machine building it takes longer than its timeout here, so run
# run_gpu_bench.sh (whose bench_peers.py builds it first) when the mamba_ssm rows matter.
set -u
OUT=${OUT:-.}
source "$(dirname "$0")/peak.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
date -u
peak timeout 120 .carry/ssm bench train-lm --device cuda --batch 8 --len 1024 --steps 5 2>&1 | tee $OUT/ours_e2e.jsonl
for b in 1 64; do
  peak timeout 60 .carry/ssm bench decode --device cuda --batch $b --tokens 128 2>&1 | tee -a $OUT/ours_e2e.jsonl
done
peak timeout 90 .carry/ssm bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | tee -a $OUT/ours_e2e.jsonl
cd .carry
MAMBA_SRC=$PWD/mamba-src timeout 150 python3 e2e_mamba.py 2>&1 | grep -v Warning | tee $OUT/peers_e2e.jsonl
S4_ROOT=$PWD/s4 timeout 90 python3 bench_train_torch.py --model s4d --device cuda --batch 64 --len 1024 \
  --d-model 128 --n-layers 4 --steps 10 2>/dev/null | tee -a $OUT/peers_e2e.jsonl
date -u
