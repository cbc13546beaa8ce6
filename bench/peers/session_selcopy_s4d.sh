#!/bin/bash
# The S4D baseline beside session_selcopy.sh's Mamba run: selective copying
# at the Mamba paper's size (L 4096 + 16 markers, 16 data tokens,
# vocabulary 16, S4D 2 × 64, batch 64) on the Mamba run's recipe (lr 2e-3,
# SSM parameters 1e-3, cosine after 1,000 warm-up steps) over STEPS
# (default 8,000), in one command: the run stops at its last checkpoint
# before MINUTES (default 4) or at SEGMENT_CAP seconds (default 300), and is
# scored on its test split from its best checkpoint ($OUT/selcopy-s4d-eval.log).
# A time-invariant kernel cannot place tokens whose positions vary (the
# paper's S4: 18.3 %), so a short run shows where it stops.
# Carry .carry/bins/ssm.xz (build_bins.sh).
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
SEGMENT_CAP=${SEGMENT_CAP:-300} bash "$here/train/run_segment.sh" selcopy-s4d "${MINUTES:-4}" \
  --config configs/selective-copying-s4d.toml --set schedule.steps="${STEPS:-8000}" \
  --set optim.lr=0.002 --set optim.ssm_lr=0.001 --set schedule.warmup=1000 \
  --set schedule.eval_every=1000 --set task.val_size=256 --set task.test_size=1024
timeout 60 .carry/ssm eval runs/selcopy-s4d --device cuda --recurrent-examples 0 > "$OUT/selcopy-s4d-eval.log" 2>&1
echo "eval rc=$?"; cat "$OUT/selcopy-s4d-eval.log"
date -u
