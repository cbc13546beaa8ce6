#!/bin/bash
# SSD (Mamba-2) in one device command: carried variant builds against main
# (ab_ssd_build.sh: parity, interleaved timings, Nsight Compute per kernel),
# an occupancy hint on ssd_chunk_bc_grads (ab_ssd_hints.sh, no build), and
# mamba_ssm's Triton SSD (bench_peers.py without the selective-scan build)
# beside them, so the ratios in docs/BENCHMARKS.md come from this command.
# Environment: VARIANTS (default "ssm-next ssm-next3"), ROUNDS
# (default 2), NCU_BUILDS (default "ssm ssm-next"), HINTS (ab_ssd_hints.sh's settings,
# default "ssm:ssd_chunk_bc_grads=16 ssm-next3:ssd_chunk_outputs=16"; empty
# skips them).
# Carry .carry/bins/ssm.xz and the variants, .carry/golden,
# .carry/bench_peers.py and .carry/mamba-src (mamba_ssm/ of state-spaces/mamba).
# About 9 minutes with main, two variants and HINTS="". The carry limit (64 MiB with
# the tree) holds main and two variants beside the golden folder and mamba-src.
set -u
export OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
VARIANTS=${VARIANTS:-ssm-next ssm-next3} ROUNDS=${ROUNDS:-2} NCU_BUILDS=${NCU_BUILDS:-ssm ssm-next} \
  timeout 400 bash "$here/ab_ssd_build.sh"
hints=${HINTS-ssm:ssd_chunk_bc_grads=16 ssm-next3:ssd_chunk_outputs=16}
if [ -n "$hints" ]; then
  SETTINGS="$hints" ROUNDS=1 NCU=0 timeout 110 bash "$here/ab_ssd_hints.sh" 2>&1 | tail -n 12
fi
(cd .carry && BUILD_SSCAN=0 MAMBA_SRC=$PWD/mamba-src timeout 200 python3 bench_peers.py 2>&1) \
  | grep -v Warning | tee "$OUT/peers_ssd.jsonl"
date -u
