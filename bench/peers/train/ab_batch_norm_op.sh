#!/bin/bash
# bench/variants/batch-norm-op.patch (.carry/bins/ssm-next2.xz) against main
# (ssm.xz), in one device command: the variant's ops parity group (its
# `batch norm rows … d…` family among them), then the ListOps loop benchmark
# (run_loop_throughput.sh, SECONDS each, default 40) of configs/listops-s4d.toml
# as shipped (post-norm BatchNorm) with main and with the variant. Main ran
# this loop at 30.0 steps/s on an H100 (2026-12-06), where LayerNorm ran 40.9.
# About 4 minutes.
#
#   bash bench/peers/train/ab_batch_norm_op.sh [SECONDS]
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../unpack_bins.sh"
machine_header
timeout 200 .carry/ssm-next2 selftest --device cuda --parity ops > "$OUT/selftest_ops_next2.txt" 2>&1
echo "selftest ops (variant) rc=$?"
grep -i "batch norm" "$OUT/selftest_ops_next2.txt"; tail -1 "$OUT/selftest_ops_next2.txt"
bash "$here/run_loop_throughput.sh" "${1:-40}" main=.carry/ssm op=.carry/ssm-next2 -- \
  --config configs/listops-s4d.toml --set schedule.eval_every=300 --set task.val_size=128
date -u
