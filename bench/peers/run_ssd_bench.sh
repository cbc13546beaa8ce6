#!/bin/bash
# SSD (Mamba-2) kernels beside mamba_ssm's Triton SSD in one GPU command, after
# the GPU selftest (docs/BENCHMARKS.md, "GPU kernels").
#
# Layout it expects (git-ignored, carried to the GPU machine):
#   .carry/ssm or .carry/ssm.xz  release binary built with --features cuda (stripped)
#   .carry/bench_peers.py        copy of ../shared/peers/bench_peers.py
#   .carry/mamba-src/            mamba_ssm/ of state-spaces/mamba
#   .carry/golden/               a copy of ../shared/golden (for the selftest)
# Environment: SELFTEST=0 skips the selftest.
# Writes $OUT/selftest.log, $OUT/ours_ssd.jsonl and $OUT/peers_ssd.jsonl (the
# peer script's other rows, the copy bound and torch.fft, come along).
set -u
OUT=${OUT:-.}
if [ ! -x .carry/ssm ]; then
  python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.carry/ssm.xz'),open('.carry/ssm','wb'))"
  chmod +x .carry/ssm
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
date -u
if [ "${SELFTEST:-1}" = 1 ]; then
  timeout 240 .carry/ssm selftest --device cuda --golden .carry/golden > $OUT/selftest.log 2>&1
  grep -v "^ok " $OUT/selftest.log | tail -20
  grep -cE "^ok +ssd" $OUT/selftest.log
fi
timeout 120 .carry/ssm bench kernels --device cuda --only ssd 2>&1 | tee $OUT/ours_ssd.jsonl
cd .carry
BUILD_SSCAN=0 MAMBA_SRC=$PWD/mamba-src timeout 240 python3 bench_peers.py 2>&1 | grep -v Warning | tee $OUT/peers_ssd.jsonl
date -u
