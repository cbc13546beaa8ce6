#!/bin/bash
# Issue 23's scaling table in one device command (a kind with several GPUs):
# first a check that short runs on 1..N GPUs take the same steps, then
# language-model training tokens/s of the mamba-130m shape on 1, 2, 4 and 8
# GPUs (as many as are visible), split by batch (weak scaling: 8 sequences
# per GPU; strong scaling: a global batch of 32) and by sequence (one batch
# of 4 sequences of 8192 tokens over the GPUs), each GPU's peak memory from
# nvidia-smi sampled every 200 ms; then 2 GPUs with the gradients through host
# memory instead of NCCL (SSM_NCCL=off), the transport's gain (each line names
# its transport); then PyTorch DDP
# on mamba_ssm's model at the same batch splits (ddp_mamba.py). Layout: .carry/bins/ssm.xz (a
# `--features cuda` build). Writes $OUT/scaling.jsonl (one line per run, with
# the peak memory appended) and $OUT/scaling.log.
#   bash bench/peers/run_gpu_scaling.sh            # every count up to the GPUs here
#   COUNTS="1 2" STEPS=3 bash bench/peers/run_gpu_scaling.sh
set -u -o pipefail
OUT=${OUT:-.}
source "$(dirname "$0")/unpack_bins.sh"
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $OUT/scaling.log
COUNTS=${COUNTS:-"1 2 4 8"}
STEPS=${STEPS:-5}

# Runs `ssm bench train-lm ARGS` and appends its JSON line, with each GPU's
# peak memory (MiB) while it ran, to scaling.jsonl.
run() {
  local samples=$OUT/.mem.csv
  nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 200 > $samples 2>/dev/null &
  local sampler=$!
  local line
  line=$(timeout 280 .carry/ssm bench train-lm --device cuda --steps $STEPS "$@" 2>>$OUT/scaling.log | tail -1)
  local rc=$?
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
  local peaks
  peaks=$(awk -F', *' '{ if ($2 > m[$1]) m[$1] = $2; if ($1 > n) n = $1 }
    END { s = ""; for (i = 0; i <= n; i++) s = s (i ? ", " : "") (m[i] + 0); print "[" s "]" }' $samples)
  echo "rc=$rc $* -> $line peak_mib=$peaks" | tee -a $OUT/scaling.log
  [ -n "$line" ] && echo "${line%\}}, \"peak_mib_per_gpu\": $peaks}" >> $OUT/scaling.jsonl
}

echo "SSM_NCCL_LIB=${SSM_NCCL_LIB:-unset}" | tee -a $OUT/scaling.log
# Correctness first: a short selective-copying run on 1 GPU and on every
# count, same global batch; their val rows must agree to float rounding.
for n in $COUNTS; do
  [ "$n" -gt "$gpus" ] && continue
  rm -rf runs/dp-check-$n
  timeout 120 .carry/ssm train --device cuda --devices $n --name dp-check-$n \
    --config configs/selective-copying-mamba.toml --set task.length=256 --set schedule.steps=30 \
    --set schedule.warmup=5 --set schedule.eval_every=10 >> $OUT/scaling.log 2>&1
  echo "dp-check devices=$n rc=$? val rows: $(grep ',val,' runs/dp-check-$n/metrics.csv | tr '\n' ' ')" \
    | tee -a $OUT/scaling.log
done
for n in $COUNTS; do
  [ "$n" -gt "$gpus" ] && continue
  date -u >> $OUT/scaling.log
  run --devices $n --split batch --batch $((8 * n)) --len 1024    # weak
  run --devices $n --split batch --batch 32 --len 1024            # strong
  run --devices $n --split sequence --batch 4 --len 8192          # one long batch over the GPUs
done
# NCCL against the host transport at 2 GPUs (weak scaling's shape).
if [ "$gpus" -ge 2 ]; then
  SSM_NCCL=off run --devices 2 --split batch --batch 16 --len 1024
fi
# The peer: PyTorch DDP on mamba_ssm's model, the same shapes split by batch
# (PEERS=0 skips it; needs .carry/{e2e_mamba.py,ddp_mamba.py,mamba-src} as
# run_gpu_bench.sh; the extension is built once first, which takes minutes on
# a fresh machine).
if [ "${PEERS:-1}" = 1 ] && [ -d .carry/mamba-src ]; then
  (cd .carry && MAMBA_SRC=$PWD/mamba-src timeout 400 python3 -c "import e2e_mamba; e2e_mamba.build_extension()") \
    >> $OUT/scaling.log 2>&1 || echo "mamba_ssm extension build failed" | tee -a $OUT/scaling.log
  for n in $COUNTS; do
    [ "$n" -gt "$gpus" ] && continue
    for batch in $((8 * n)) 32; do
      (cd .carry && MAMBA_SRC=$PWD/mamba-src timeout 200 python3 -m torch.distributed.run --standalone --nproc_per_node $n \
        ddp_mamba.py --batch $batch --len 1024 --steps $STEPS 2>>$OUT/scaling.log | grep '^{' | tee -a $OUT/scaling.jsonl)
    done
  done
fi
date -u >> $OUT/scaling.log
