#!/bin/bash
# The trial that made MQAR collapse to chance (docs/ARCHITECTURE.md, "One
# stream per run"; bench/results/gpu-h100-2026-12-06-stream-race/TRIALS.md),
# for each build in RACE_BUILDS (default "ssm-next ssm": the build before the fix,
# then the one after). In each trial, 16 busy CPU loops run, a fresh untied
# MQAR run shares the GPU, and a copy of .carry/runs/mqar-tied (the tied run
# at a checkpoint: step 20,000 in the trials of 12-06, about step 5,000 in
# session_stream_fix.sh) resumes to its next checkpoint. Then the same resume
# runs alone. Prints each trial's validation row at that checkpoint (from
# step 20,000: loss 0.0713 and accuracy 0.9834 alone, about 8.4 and 0.0003
# when it collapses). TRIALS (default 1) repeats the loaded trial. Expects
# .carry/bins/{RACE_BUILDS}.xz (unpack_bins.sh) and .carry/runs/mqar-tied;
# writes the resumes' logs to $LOGS (default $OUT); about 80 s per trial.
set -u
LOGS=${LOGS:-${OUT:-.}}
mkdir -p "$LOGS"
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
mkdir -p runs
# resume BUILD NAME: resumes a fresh copy of the tied run to its next
# checkpoint and prints that checkpoint's validation row.
resume() {
  rm -rf "runs/$2"; cp -r .carry/runs/mqar-tied "runs/$2"
  timeout 200 ".carry/$1" train --resume "runs/$2" --device cuda --stop-after 0 > "$LOGS/$2.log" 2>&1
  echo "$2 rc=$? $(grep ',val,' "runs/$2/metrics.csv" | tail -n 1)"
}
for build in ${RACE_BUILDS:-ssm-next ssm}; do
  for t in $(seq "${TRIALS:-1}"); do
    hogs=()
    for _ in $(seq 16); do timeout 150 python3 -c "while True: pass" & hogs+=($!); done
    timeout 150 ".carry/$build" train --config configs/mqar-mamba.toml --set model.tie_embeddings=false \
      --device cuda --name "beside-$build-$t" --stop-after 0 > /dev/null 2>&1 & beside=$!
    resume "$build" "loaded-$build-$t"
    kill "$beside" "${hogs[@]}" 2>/dev/null; wait
  done
  resume "$build" "alone-$build"
done
date -u
