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
  python3 - "$OUT/throughput-$label.log" "$OUT/util-$label.csv" "$label" "$start" <<'PY'
import re, sys, datetime
log, util, label, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
evals = [(int(m.group(1)), float(m.group(2))) for m in
         re.finditer(r"step\s+(\d+)\s+val .*?\((\d+) s", open(log).read())]
if len(evals) < 2:
    print(f'{{"label": "{label}", "error": "fewer than two evaluations", "evals": {len(evals)}}}')
    sys.exit()
(s0, t0), (s1, t1) = evals[0], evals[-1]
first_eval = start + evals[0][1]
samples = []
for line in open(util):
    parts = [p.strip() for p in line.split(",")]
    try:
        t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
    except ValueError:
        continue
    samples.append((t, float(parts[1]), float(parts[2])))
# nvidia-smi prints local time; the machine runs in UTC like `date +%s`.
after = [u for t, u, _ in samples if t >= first_eval]
mem = max((m for _, _, m in samples), default=0)
mean = sum(after) / len(after) if after else float("nan")
print(f'{{"label": "{label}", "steps": {s1}, "steps_per_s": {(s1 - s0) / max(t1 - t0, 1e-9):.2f}, '
      f'"interval": [{s0}, {s1}], "gpu_util_mean": {mean:.1f}, "util_samples": {len(after)}, "mem_used_mib_max": {mem:.0f}}}')
PY
done
