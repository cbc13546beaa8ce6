#!/bin/bash
# Mixed precision against f32 (issue 21): `ssm bench train-lm --precision
# f32|bf16|f16` interleaved in one device command, the mamba-130m shape in two
# rounds and the mamba2-130m shape in one, each with the GPU's peak memory
# (peak.sh). JSON lines on stdout. Expects .carry/ssm (a --features cuda
# build; unpack_bins.sh).
set -u
source "$(dirname "$0")/peak.sh"
run() {
  peak timeout 120 .carry/ssm bench train-lm --device cuda --model "$1" --batch 8 --len 1024 \
    --steps 5 --precision "$2" 2>&1 | grep '^{'
}
for round in 1 2; do
  for precision in f32 bf16 f16; do run mamba-130m $precision; done
done
for precision in f32 bf16 f16; do run mamba2-130m $precision; done
