#!/bin/bash
# Training-loop throughput on the GPU machine: runs `ssm train --device cuda`
# for a fixed time with each binary given, alone on the GPU, while
# nvidia-smi samples GPU utilisation every 500 ms, and prints steps/s
# between the first and the last evaluation line and the mean utilisation over the
# run after its first evaluation (start-up and kernel compilation left out).
#
#   bench/peers/train/run_loop_throughput.sh SECONDS LABEL=BINARY... -- ARGS
#
# e.g. `... 90 before=.carry/ssm-old after=.carry/ssm -- --config
# configs/listops-s4d.toml --set schedule.eval_every=100 --set task.val_size=128`.
# Each evaluation line reads `step N  val ... (T s...)`; the rate includes
# one evaluation per interval, so keep the validation split small.
# Writes $OUT/throughput-LABEL.log and $OUT/util-LABEL.csv.
set -u
OUT=${OUT:-.}
seconds=$1; shift
bins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do bins+=("$1"); shift; done
shift
for pair in "${bins[@]}"; do
  label=${pair%%=*}; bin=${pair#*=}
  rm -rf "runs/throughput-$label"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
    -lms 500 > "$OUT/util-$label.csv" &
  smi=$!
  start=$(date +%s)
  timeout "$seconds" "$bin" train --device cuda --name "throughput-$label" "$@" \
    > "$OUT/throughput-$label.log" 2>&1
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  python3 "$(dirname "$0")/loop_rate.py" "$OUT/throughput-$label.log" "$OUT/util-$label.csv" "$label" "$start"
done
