#!/usr/bin/env bash
# Training steps/s, CPU, one run: PyTorch peers and statespace on the same shapes.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; cd "$HERE"
SSM="${SSM:-$HERE/../../../target/release/ssm}"
echo "{\"what\": \"env\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\", \"nproc\": $(nproc), \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
for shape in "32 200" "8 1000"; do
  set -- $shape
  "$SSM" bench train --mixer s4d --batch $1 --len $2 --steps 20
  "$SSM" bench train --mixer mamba --batch $1 --len $2 --steps 20
  ../venv/bin/python bench_train_torch.py --model s4d --batch $1 --len $2 --steps 20 2>/dev/null
  ../venv/bin/python bench_train_torch.py --model mamba --mamba-scan mambapy --batch $1 --len $2 --steps 10 2>/dev/null
done
