#!/bin/bash
# Mixed precision against f32 (issue 21): `ssm bench train-lm --precision
# f32|bf16|f16` interleaved in one device command, the mamba-130m shape in two
# rounds and the mamba2-130m shape in one, each with the GPU's peak memory
# (peak.sh). JSON lines on stdout. Expects .carry/ssm (a --features cuda
# build; unpack_bins.sh). PEERS=1 then runs mamba_ssm's mamba-130m model in
# f32 and under autocast in bf16 and f16 (e2e_mamba.py; needs
# .carry/mamba-src as run_gpu_bench.sh describes, and builds its selective
# scan extension first: minutes on a fresh machine).
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
if [ "${PEERS:-0}" = 1 ]; then
  here=$(cd "$(dirname "$0")" && pwd)
  export MAMBA_SRC=$PWD/.carry/mamba-src PYTHONPATH=$here
  timeout 420 python3 -c "import e2e_mamba; e2e_mamba.build_extension()" 2>&1 | grep -v Warning | tail -3
  TRAIN_PRECISIONS="f32 bf16 f16" DECODE=0 timeout 150 python3 "$here/e2e_mamba.py" 2>&1 | grep '^{'
fi
