#!/bin/bash
# The convolution's ∂d column sums (`strip_column_sums` of ops/fft_conv/kernels.rs,
# in main since 2026-12-07) built and run without a GPU
# (prepare.sh builds cube-host): emits the weighted
# and plain kernels' CUDA C++, compiles them as host C++ with emu/ and checks
# ∂d = Σ_{b,t} ∂y·u, launched as main launches it, against the f64 sum
# for five convolution shapes.
#   tools/cube-host/run_column_sums.sh        (from the repository root)
source "$(dirname "$0")/prepare.sh"
cd "$scratch"
cp "$here"/emu/* .
for which in weighted plain; do
  emit_kernel column-sums $which > kernel.inc
  g++ -O1 -std=c++20 -pthread column_sums_driver.cpp -o emu_cs_$which
done
python3 check_column_sums.py
