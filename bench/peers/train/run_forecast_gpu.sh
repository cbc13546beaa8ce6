#!/usr/bin/env bash
# Runs training jobs side by side on one GPU, each under a wall-clock limit;
# a run cut by the limit is evaluated from its best checkpoint. Everything
# the runs wrote (logs, metrics, configs, plots, checkpoints) comes back as
# one archive, OUT_DIR/runs.tgz (the device returns few files), so a later
# command can carry it back in and resume the runs that were cut.
# Usage (device machine, binary carried in .carry/ssm):
#   bench/peers/train/run_forecast_gpu.sh LIMIT_S OUT_DIR JOB...
# JOB is NAME:ARGS, e.g. "etth1-spacetime-96:--config configs/etth1-spacetime.toml
# --set task.horizon=96", or NAME:resume to continue runs/NAME from
# .carry/runs.tgz (an earlier command's archive).
set -u
limit=$1
out=$2
shift 2
ssm=.carry/ssm
runs=/tmp/runs
mkdir -p "$out" "$runs"
if [ -f .carry/runs.tgz ]; then
  tar xzf .carry/runs.tgz -C "$runs"
fi
for job in "$@"; do
  name=${job%%:*}
  args=${job#*:}
  (
    start=$(date +%s)
    if [ "$args" = resume ]; then
      set -- --resume "$runs/$name"
    else
      # shellcheck disable=SC2086 # ARGS is a list of words
      set -- --runs "$runs" --name "$name" $args
    fi
    timeout "$limit" "$ssm" train --device cuda "$@" >> "$runs/$name.log" 2>&1
    rc=$?
    echo "rc $rc wall $(($(date +%s) - start)) s" >> "$runs/$name.log"
    if [ "$rc" != 0 ] && [ -f "$runs/$name/checkpoints/best.safetensors" ]; then
      "$ssm" eval --device cuda --recurrent-examples 0 "$runs/$name" >> "$runs/$name.log" 2>&1
    fi
  ) &
done
wait
tar czf "$out/runs.tgz" -C "$runs" .
