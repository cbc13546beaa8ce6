#!/bin/bash
# Interleaved A/B of cuBLAS/cuFFT (SSM_CUDA_LIBS=on) against statespace's CubeCL routines
# (off) in one device command, two rounds: mamba-130m LM training and decoding at batch 1
# and 64. The run behind docs/BENCHMARKS.md's "cuBLAS and cuFFT against the CubeCL
# routines" (bench/results/gpu-h200-2026-11-29-cudalibs/ab_libs.txt).
# Expects the stripped release binary built with --features cuda at .carry/ssm.
for round in 1 2; do
  for libs in on off; do
    export SSM_CUDA_LIBS=$libs
    echo "round $round libs $libs"
    timeout 100 .carry/ssm bench train-lm --device cuda --batch 8 --len 1024 --steps 5 2>&1 | tail -1
    timeout 60 .carry/ssm bench decode --device cuda --batch 1 --tokens 64 2>&1 | tail -1
    timeout 60 .carry/ssm bench decode --device cuda --batch 64 --tokens 64 2>&1 | tail -1
  done
done
