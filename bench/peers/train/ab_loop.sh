#!/bin/bash
# Two builds on one training config in one device command: the new build's
# GPU selftest, then `ssm train` steps/s and GPU utilisation of each build
# (run_loop_throughput.sh, the previous build first), then Nsight Compute
# kernel times of the new build's training steps.
#
#   bench/peers/train/ab_loop.sh SECONDS CONFIG [--set KEY=VALUE...]
#
# Layout: .carry/bins/{ssm,ssm-prev}.xz (stripped --features cuda builds,
# xz-compressed), .carry/golden. Leaves .carry/ssm (the new build) for a
# later script in the same command. NCU_SKIP / NCU_LAUNCHES pick the
# profiled launches (default 6000 / 3000). Writes to $OUT.
set -u
OUT=${OUT:-.}
seconds=$1; config=$2; shift 2
source "$(dirname "$0")/../unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
timeout 320 .carry/ssm selftest --device cuda > $OUT/selftest.txt 2>&1; echo "selftest rc=$?"
grep -v "^ok" $OUT/selftest.txt | tail -8
bash "$(dirname "$0")/run_loop_throughput.sh" "$seconds" prev=.carry/ssm-prev new=.carry/ssm -- \
  --config "$config" --set schedule.eval_every=300 --set task.val_size=128 "$@"
date -u
rm -rf runs/ncu-loop
timeout 120 /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv --cache-control none \
  --clock-control none -s "${NCU_SKIP:-6000}" -c "${NCU_LAUNCHES:-3000}" --log-file $OUT/ncu_loop.csv \
  .carry/ssm train --device cuda --name ncu-loop --config "$config" --set schedule.eval_every=100000 \
  --set schedule.steps=40 "$@" > $OUT/ncu_loop_train.log 2>&1
echo "ncu rc=$?"
date -u
