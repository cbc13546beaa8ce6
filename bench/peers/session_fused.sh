#!/bin/bash
# The fused FFT-convolution forward (bench/variants/fft-conv-fused.patch, built
# together with gelu-normal-cdf-tail.patch as .carry/bins/ssm-next.xz) in one
# device command, about 6 minutes:
# - the variant's ops parity group ($OUT/parity_next.txt). Since 2026-12-07 a
#   launch the device failed ends the selftest with the device's own message
#   (NVRTC's log for a kernel that did not compile), which the variant's first
#   run (h100, 2026-12-07) did not show;
# - `ssm bench kernels --only fftconv` of main and the variant, interleaved over
#   ROUNDS (default 2), and main's `--only ssd` ($OUT/ab_fftconv.txt);
# - torch.fft and Triton's SSD beside them (bench_peers.py without the
#   selective-scan build, $OUT/peers.jsonl), so both tables' ratios come from
#   this command.
# Build both binaries with
#   cat bench/variants/fft-conv-fused.patch bench/variants/gelu-normal-cdf-tail.patch > /tmp/both.patch
#   NEXT=/tmp/both.patch bash bench/peers/build_bins.sh
# and carry .carry/bins/ssm.xz, .carry/bins/ssm-next.xz, .carry/golden (a copy
# of ../shared/golden), .carry/mamba-src (mamba_ssm/ of state-spaces/mamba) and
# .carry/bench_peers.py (../shared/peers/bench_peers.py).
set -u
export OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
timeout 150 .carry/ssm-next selftest --device cuda --parity ops > "$OUT/parity_next.txt" 2>&1
echo "== parity rc=$?: $(tail -n 1 "$OUT/parity_next.txt")"
grep -v '^ok' "$OUT/parity_next.txt" | cut -c1-400 | tail -n 20
for r in $(seq "${ROUNDS:-2}"); do
  for b in ssm ssm-next; do
    timeout 60 .carry/$b bench kernels --device cuda --only fftconv 2>&1 | grep '^{' | sed "s/^/$b round=$r /"
  done
done 2>&1 | tee "$OUT/ab_fftconv.txt"
timeout 60 .carry/ssm bench kernels --device cuda --only ssd 2>&1 | grep '^{' | tee -a "$OUT/ab_fftconv.txt"
(cd .carry && BUILD_SSCAN=0 MAMBA_SRC=$PWD/mamba-src timeout 200 python3 bench_peers.py 2>&1) \
  | grep -v Warning | tee "$OUT/peers.jsonl"
date -u
