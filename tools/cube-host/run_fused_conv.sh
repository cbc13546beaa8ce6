#!/bin/bash
# The fused FFT-convolution kernels of bench/variants/fft-conv-fused.patch
# (forward and input gradient),
# built and run without a GPU (prepare.sh builds cube-host on the patches):
# emits each kernel's CUDA C++ for each m, compiles it as host C++ with emu/
# (g++ ≥ 11, C++20) and checks a convolution per m against NumPy.
# A panic while the kernel is built is what the device would drop silently.
#   tools/cube-host/run_fused_conv.sh        (from the repository root)
source "$(dirname "$0")/prepare.sh"
cd "$scratch"
cp "$here"/emu/* .
status=0
# (B L H C Lk n): both kernel counts, odd L, FFT lengths 16 … 8192.
for shape in "2 5 3 1 5 16" "2 37 4 2 37 128" "1 64 3 1 20 128" "2 300 2 2 300 1024" \
             "1 2000 2 1 2000 4096" "1 4096 2 2 4096 8192"; do
  set -- $shape
  m=$(( $6 / 2 ))
  for pass in forward grad; do
    emu=emu_$m; kernel=fused-conv; flag=""
    [ $pass = grad ] && { emu=emu_grad_$m; kernel=fused-conv-grad; flag=grad; }
    if [ ! -x "$emu" ]; then
      emit_kernel $kernel "$m" > kernel.inc
      g++ -O1 -std=c++20 -pthread fused_conv_driver.cpp -o "$emu"
    fi
    python3 check_fused_conv.py "$@" $flag || status=1
  done
done
exit $status
