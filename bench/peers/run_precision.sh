#!/bin/bash
# Mixed precision against f32 (issue 21): `ssm bench train-lm --precision
# f32|bf16|f16` interleaved in one device command, the mamba-130m shape in two
# rounds and the mamba2-130m shape in one, each with the GPU's peak memory
# (peak.sh). JSON lines on stdout. Expects .carry/ssm (a --features cuda
# build; unpack_bins.sh), or the build SSM_BIN names (e.g. .carry/ssm-next).
#
# PEERS=1 then runs mamba_ssm's mamba-130m model in f32 and under autocast in
# bf16 and f16 (e2e_mamba.py; needs .carry/mamba-src as run_gpu_bench.sh
# describes). Its selective-scan extension takes minutes to build on a fresh
# machine: send `PEERS=build bash bench/peers/run_precision.sh` first (it
# builds and exits), then PEERS=1 within the warm window, which finds the
# build in torch's extension cache.
#
# ROUNDS (default 2) sets the rounds of the mamba-130m shape; MAMBA2=0 skips
# the mamba2-130m round (for a command that must also leave time to profile).
set -u
source "$(dirname "$0")/peak.sh"
here=$(cd "$(dirname "$0")" && pwd)
export MAMBA_SRC=$PWD/.carry/mamba-src PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}
# The extension build kept in the working tree (ignored, not carried), which
# the device machine keeps between the calls of one warm window.
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$PWD/target/torch-extensions}

if [ "${PEERS:-0}" = build ]; then
  timeout 540 python3 -c "import e2e_mamba; e2e_mamba.build_extension()" 2>&1 | grep -v Warning | tail -5
  echo "build rc=${PIPESTATUS[0]}"
  exit
fi

run() {
  peak timeout 120 "${SSM_BIN:-.carry/ssm}" bench train-lm --device cuda --model "$1" --batch 8 --len 1024 \
    --steps 5 --precision "$2" 2>&1 | grep '^{'
}
for round in $(seq "${ROUNDS:-2}"); do
  for precision in f32 bf16 f16; do run mamba-130m $precision; done
done
if [ "${MAMBA2:-1}" = 1 ]; then
  for precision in f32 bf16 f16; do run mamba2-130m $precision; done
fi

if [ "${PEERS:-0}" = 1 ]; then
  TRAIN_PRECISIONS="f32 bf16 f16" DECODE=0 timeout 150 python3 "$here/e2e_mamba.py" > /tmp/peers.log 2>&1
  rc=$?
  grep '^{' /tmp/peers.log
  [ $rc = 0 ] || { echo "e2e_mamba.py rc=$rc:"; grep -v Warning /tmp/peers.log | tail -5; }
fi
