#!/bin/bash
# One device command that checks the one-stream-per-run fix
# (docs/ARCHITECTURE.md, "One stream per run") and starts the tied MQAR run
# again from scratch (its step-20,000 folder of the last session was not
# kept). Two builds:
# - .carry/bins/ssm.xz: main, with the fix;
# - .carry/bins/ssm-control.xz: main with `on_callers_stream` returning the
#   work as is, the only difference (the control).
# Parts:
# 1. The tied run (configs/mqar-mamba.toml) starts alone with `ssm` and stops
#    at its first checkpoint after a minute (about step 5,000, validation
#    about 94 %). A copy becomes .carry/runs/mqar-tied.
# 2. train/stream_race.sh resumes that copy to its next checkpoint with
#    each build, under 16 busy CPU loops and a second training process on
#    the GPU, then alone. Logs in $OUT/stream_race.tgz. Expected: the control
#    falls to chance under load, the fix matches its alone row.
# 3. The run itself goes on alone until the command's time is nearly spent
#    (run_segment.sh), and its folder comes back as $OUT/mqar-tied.tar.*
#    for train/carry_in.sh and the next segment.
# Carry .carry/bins/ssm.xz and .carry/bins/ssm-control.xz. Under 10 minutes.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
logs=$(mktemp -d)
mkdir -p runs .carry/runs
rm -rf runs/mqar-tied .carry/runs/mqar-tied
timeout 240 .carry/ssm train --config configs/mqar-mamba.toml --name mqar-tied --device cuda \
  --stop-after 1 > "$logs/start.log" 2>&1
echo "start rc=$? $(grep ',val,' runs/mqar-tied/metrics.csv | tail -n 1)"
cp -r runs/mqar-tied .carry/runs/mqar-tied
LOGS=$logs RACE_BUILDS="ssm-control ssm" bash "$here/train/stream_race.sh"
tar czf "$OUT/stream_race.tgz" -C "$logs" .
# What is left of the command's 600 s, less a minute for the tar and the
# transfer, goes to the run.
left=$((540 - SECONDS))
echo "segment cap ${left} s"
if [ "$left" -gt 60 ]; then
  SEGMENT_CAP=$left bash "$here/train/run_segment.sh" mqar-tied "$(((left - 45) / 60))"
fi
date -u
