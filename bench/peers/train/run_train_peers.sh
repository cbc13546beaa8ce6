#!/usr/bin/env bash
# Training steps/s, CPU, one run: PyTorch peers and statespace on the same shapes.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; cd "$HERE"
SSM="${SSM:-$HERE/../../../target/release/ssm}"
echo "{\"what\": \"env\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\", \"nproc\": $(nproc), \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
# MODELS (default "s4d mamba"; add s4 for S4 proper, the DPLR kernel) picks
# the rows. A peer that fails prints its error's last lines on stderr.
peer() {
  local err
  err=$(mktemp)
  ../venv/bin/python bench_train_torch.py "$@" 2>"$err" || tail -n 3 "$err" >&2
  rm -f "$err"
}
for shape in "32 200" "8 1000"; do
  set -- $shape
  for model in ${MODELS:-s4d mamba}; do
    "$SSM" bench train --mixer $model --batch $1 --len $2 --steps 20
    if [ "$model" = mamba ]; then
      peer --model mamba --mamba-scan mambapy --batch $1 --len $2 --steps 10
    else
      peer --model $model --batch $1 --len $2 --steps 20
    fi
  done
done
