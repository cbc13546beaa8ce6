#!/bin/bash
# GELU's CubeCL kernels (ops/gelu/kernels.rs) built
# and run without a GPU (prepare.sh builds cube-host): emits
# the forward and backward kernels' CUDA C++, compiles them as host C++ with
# emu/ and checks them against the exact GELU in f64 from x = −13 to 6,
# where ½(1 + erf) in f32 would cancel.
#   tools/cube-host/run_gelu.sh        (from the repository root)
source "$(dirname "$0")/prepare.sh"
cd "$scratch"
cp "$here"/emu/* .
for pass in forward backward; do
  emit_kernel gelu-$pass > kernel.inc
  flags=""
  [ $pass = backward ] && flags=-DBACKWARD
  g++ -O1 -std=c++20 -pthread $flags gelu_driver.cpp -o emu_gelu_$pass
done
python3 check_gelu.py
