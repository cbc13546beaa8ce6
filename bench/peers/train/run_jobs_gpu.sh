#!/usr/bin/env bash
# Runs training jobs (`ssm train`: classifiers, forecasters) side by side on
# one GPU, each under a wall-clock limit; a run cut by the limit is evaluated
# from its best checkpoint. The device returns at most 8 files of 16 MiB, so
# the runs come back as OUT_DIR/logs.tgz (logs, metrics, configs, plots: no
# checkpoints) and OUT_DIR/runs.tgz.aa, .ab, … (everything, in 15 MiB parts),
# which a later command carries back in as .carry/runs.tgz.* to resume the
# runs that were cut.
# Usage (device machine, binary carried in .carry/ssm):
#   bench/peers/train/run_jobs_gpu.sh LIMIT_S OUT_DIR JOB...
# JOB is NAME:ARGS, e.g. "etth1-spacetime-96:--config configs/etth1-spacetime.toml
# --set task.horizon=96", or NAME:resume to continue runs/NAME from
# .carry/runs.tgz.* (an earlier command's parts). A job whose ARGS start
# with `--device cpu` trains on the machine's cores instead of the GPU (set
# RAYON_NUM_THREADS to share them out); a resumed job keeps its device.
set -u
limit=$1
out=$2
shift 2
ssm=.carry/ssm
runs=/tmp/runs
mkdir -p "$out" "$runs"
if compgen -G ".carry/runs.tgz.*" > /dev/null; then
  cat .carry/runs.tgz.* | tar xzf - -C "$runs"
fi
for job in "$@"; do
  name=${job%%:*}
  args=${job#*:}
  (
    start=$(date +%s)
    device=cuda
    case $args in "--device cpu "*) device=cpu; args=${args#--device cpu } ;; esac
    if [ "$args" = resume ]; then
      device=$(cat "$runs/$name.device" 2>/dev/null || echo cuda)
      set -- --resume "$runs/$name"
    else
      echo "$device" > "$runs/$name.device"
      # shellcheck disable=SC2086 # ARGS is a list of words
      set -- --runs "$runs" --name "$name" $args
    fi
    timeout "$limit" "$ssm" train --device "$device" "$@" >> "$runs/$name.log" 2>&1
    rc=$?
    echo "rc $rc wall $(($(date +%s) - start)) s" >> "$runs/$name.log"
    if [ "$rc" != 0 ] && [ -f "$runs/$name/checkpoints/best.safetensors" ]; then
      "$ssm" eval --device "$device" --recurrent-examples 0 "$runs/$name" >> "$runs/$name.log" 2>&1
    fi
  ) &
done
wait
tar czf "$out/logs.tgz" --exclude=checkpoints -C "$runs" .
tar czf - -C "$runs" . | split -b 15M - "$out/runs.tgz."
parts=$(find "$out" -name 'runs.tgz.*' | wc -l)
if [ "$parts" -gt 7 ]; then
  echo "runs.tgz needs $parts parts: only logs.tgz and the first 7 come back" >&2
fi
