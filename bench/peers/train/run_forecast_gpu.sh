#!/usr/bin/env bash
# Runs training jobs side by side on one GPU, each under a wall-clock limit;
# a run cut by the limit is evaluated from its best checkpoint. Each run's
# log, metrics, config and plots are copied to OUT_DIR as soon as it ends.
# Usage (device machine, binary carried in .carry/ssm):
#   bench/peers/train/run_forecast_gpu.sh LIMIT_S OUT_DIR JOB...
# JOB is NAME:ARGS, e.g. "etth1-spacetime-96:--config configs/etth1-spacetime.toml --set task.horizon=96".
set -u
limit=$1
out=$2
shift 2
ssm=.carry/ssm
runs=/tmp/runs
mkdir -p "$out" "$runs"
for job in "$@"; do
  name=${job%%:*}
  args=${job#*:}
  (
    start=$(date +%s)
    # shellcheck disable=SC2086 # ARGS is a list of words
    timeout "$limit" "$ssm" train --device cuda --runs "$runs" --name "$name" $args \
      > "$runs/$name.log" 2>&1
    rc=$?
    echo "rc $rc wall $(($(date +%s) - start)) s" >> "$runs/$name.log"
    if [ "$rc" != 0 ] && [ -d "$runs/$name" ]; then
      "$ssm" eval --device cuda --recurrent-examples 0 "$runs/$name" >> "$runs/$name.log" 2>&1
    fi
    mkdir -p "$out/$name"
    cp "$runs/$name.log" "$out/$name/"
    cp "$runs/$name"/*.csv "$runs/$name"/*.toml "$runs/$name"/*.png "$out/$name/" 2>/dev/null
  ) &
done
wait
