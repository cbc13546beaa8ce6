#!/bin/bash
# The DPLR generating function's CubeCL kernels (ops/dplr_spectrum/kernels.rs)
# built and run without a GPU (prepare.sh builds cube-host): emits the
# forward, per-node and per-mode kernels' CUDA C++ for each rank and channel
# count, compiles them as host C++ with emu/ and checks them against the
# op's definition in NumPy (forward, and every gradient by central
# differences; emu/check_dplr.py).
#   tools/cube-host/run_dplr.sh        (from the repository root)
source "$(dirname "$0")/prepare.sh"
cd "$scratch"
cp "$here"/emu/* .
python3 check_dplr.py "$bin"
