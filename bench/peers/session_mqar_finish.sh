#!/bin/bash
# The device command after session_stream_fix.sh:
# 1. finishes the tied MQAR run carried in .carry/runs/mqar-tied
#    (train/carry_in.sh) to its step 25,000, and scores its best checkpoint
#    on the test split on the GPU ($OUT/mqar-eval.log);
# 2. times the S4D classifier step (`ssm bench train`) of both builds,
#    interleaved over two rounds: the control's device wait missed the
#    worker's stream, as every build before the fix did, so the difference
#    is how far the old figures were off;
# 3. runs profile_host.sh with `ssm` (built with --features
#    cuda,host-profile and symbols kept).
# Carry .carry/bins/ssm.xz, .carry/bins/ssm-control.xz and
# .carry/runs/mqar-tied. About 7 minutes.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
SEGMENT_CAP=300 bash "$here/train/run_segment.sh" mqar-tied 4
timeout 120 .carry/ssm eval runs/mqar-tied --device cuda > "$OUT/mqar-eval.log" 2>&1
echo "eval rc=$?"; cat "$OUT/mqar-eval.log"
for round in 1 2; do
  for build in ssm-control ssm; do
    echo "== $build S4D classifier round $round"
    timeout 60 ".carry/$build" bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 \
      --layers 4 --steps 10 2>&1 | tail -n 1
  done
done
[ -e .carry/ssm-prof ] || ln -s ssm .carry/ssm-prof
bash "$here/profile_host.sh"
