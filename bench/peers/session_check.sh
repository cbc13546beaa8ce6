#!/bin/bash
# The first device command of a session: the new build's GPU selftest, its S4D
# classifier step against the previous build (interleaved, two rounds) and the
# s4 model, a short ListOps training run (steps/s, GPU utilisation), and Nsight
# Compute kernel times of an S4D classifier step and of ListOps training steps.
# Layout: .carry/bins/{ssm,ssm-prev}.xz, .carry/golden, .carry/s4,
# .carry/bench_train_torch.py. Writes to $OUT.
set -u
OUT=${OUT:-.}
source "$(dirname "$0")/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
timeout 170 .carry/ssm selftest --device cuda > $OUT/selftest.txt 2>&1; echo "selftest rc=$?"
grep -c "^ok" $OUT/selftest.txt; grep -v "^ok" $OUT/selftest.txt | tail -8
grep -i "nccl" $OUT/selftest.txt | head -4   # the one-GPU NCCL check (issue 23)
date -u
for r in 1 2; do for bin in ssm-prev ssm; do
  echo "== $bin round $r"
  timeout 60 .carry/$bin bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | tail -1
done; done 2>&1 | tee $OUT/ab_s4d.txt
(cd .carry && S4_ROOT=$PWD/s4 timeout 90 python3 bench_train_torch.py --model s4d --device cuda --batch 64 --len 1024 \
  --d-model 128 --n-layers 4 --steps 10 2>/dev/null) | tee $OUT/peer_s4d.jsonl
date -u
bash bench/peers/train/run_loop_throughput.sh 75 new=.carry/ssm -- --config configs/listops-s4d.toml \
  --set schedule.eval_every=300 --set task.val_size=128
date -u
timeout 100 /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv --cache-control none \
  --clock-control none -c ${NCU_S4D_LAUNCHES:-2500} --log-file $OUT/ncu_s4d.csv \
  .carry/ssm bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 2 > /dev/null 2>&1
echo "ncu s4d rc=$?"
rm -rf runs/ncu-listops
timeout 120 /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv --cache-control none \
  --clock-control none -s ${NCU_LISTOPS_SKIP:-6000} -c ${NCU_LISTOPS_LAUNCHES:-3000} --log-file $OUT/ncu_listops.csv \
  .carry/ssm train --device cuda --name ncu-listops --config configs/listops-s4d.toml --set schedule.eval_every=100000 \
  --set schedule.steps=40 > $OUT/ncu_listops_train.log 2>&1
echo "ncu listops rc=$?"
date -u
