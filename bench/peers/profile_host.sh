#!/bin/bash
# Where the host's time goes in a mamba-130m training step on the GPU
# (issue 21). A step's host queues its kernels barely faster than they run:
# host_ms_per_step is near ms_per_step. One command with the ssm-prof build
# (--features cuda,host-profile, symbols kept; unpack_bins.sh) runs
# `ssm bench train-lm --host-profile` in each of PRECISIONS (default
# "bf16 f32"), 10 timed steps each. Outputs:
# - $OUT/host_{precision}.svg, a flamegraph of every thread;
# - host_frames.py's summary of it: inclusive share per frame, the top ones
#   per thread.
# Carry .carry/bins/ssm-prof.xz. About 2 minutes.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
for precision in ${PRECISIONS:-bf16 f32}; do
  echo "== $precision"
  timeout 150 .carry/ssm-prof bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
    --steps 10 --precision "$precision" --host-profile "$OUT/host_$precision.svg" 2>&1 | grep '^{\|host profile\|error'
  python3 "$here/host_frames.py" "$OUT/host_$precision.svg" | head -n 60
done
date -u
