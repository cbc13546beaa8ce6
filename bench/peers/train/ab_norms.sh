#!/bin/bash
# The ListOps loop under each block norm, in one device command: the loop
# benchmark (run_loop_throughput.sh, SECONDS each, default 40) of
# configs/listops-s4d.toml as shipped (S4's recipe: post-norm BatchNorm) and
# with pre-norm LayerNorm (the recipe's earlier departure), same build.
# BatchNorm's first build ran this at under 7.5 steps/s against 40.9 for
# LayerNorm on an H100 (bench/results/gpu-h100-2026-12-06e-batchnorm/);
# the layer has since dropped the gradients that burn summed over the
# leading axis. Carry .carry/bins/ssm.xz. About 2 minutes.
#
#   bash bench/peers/train/ab_norms.sh [SECONDS]
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../unpack_bins.sh"
machine_header
seconds=${1:-40}
common=(--config configs/listops-s4d.toml --set schedule.eval_every=300 --set task.val_size=128)
bash "$here/run_loop_throughput.sh" "$seconds" "listops-batch=.carry/ssm" -- "${common[@]}"
bash "$here/run_loop_throughput.sh" "$seconds" "listops-layer=.carry/ssm" -- "${common[@]}" \
  --set 'model.norm="layer"' --set model.prenorm=true
date -u
