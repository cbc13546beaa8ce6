#!/bin/bash
# Why did the ListOps run of 2026-12-05 train at 13.6–17.1 steps/s on H100s,
# when the loop measured 37.5 on an H200 (docs/BENCHMARKS.md, "The training
# loop")? Both builds then ran each step on a pool worker, so the run's GPU work
# moved between CUDA streams (docs/ARCHITECTURE.md, "One stream per run").
# One command times `ssm train` on configs/listops-s4d.toml with the control
# build (main less the fix; session_stream_fix.sh) and with main, SECONDS
# each (default 75), through train/run_loop_throughput.sh: steps/s and GPU
# utilisation after the first evaluation. If main is near 37.5 here, the
# stream hand-off cost the difference; if both are slow, the machine or the
# data is the cause.
# Carry .carry/bins/ssm.xz and .carry/bins/ssm-control.xz. About 3 minutes.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
bash "$here/train/run_loop_throughput.sh" "${SECONDS_EACH:-75}" control=.carry/ssm-control fix=.carry/ssm -- \
  --config configs/listops-s4d.toml --set schedule.eval_every=300 --set task.val_size=128
date -u
