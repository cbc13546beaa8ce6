#!/bin/bash
# A GPU convolution variant (bench/variants/, built as .carry/bins/ssm-next.xz
# beside main's .carry/bins/ssm.xz by build_bins.sh) in one device command:
# - the variant's ops parity group ($OUT/parity_next.txt), its convolution and
#   GELU lines echoed. A launch the device failed ends the selftest with the
#   device's own message (NVRTC's log for a kernel that did not compile);
# - `ssm bench kernels --only fftconv` of main and the variant, interleaved over
#   ROUNDS (default 2) ($OUT/ab_fftconv.txt);
# - with PEERS=1, main's `--only ssd` and bench_peers.py's torch.fft and Triton
#   SSD rows (without the selective-scan build; $OUT/peers.jsonl), so both
#   tables' ratios come from this command (about 6 minutes in all; 2 without);
# - with FULL=1, the variant's whole selftest, golden cases included
#   ($OUT/selftest_next.txt, about 3 more minutes).
# Used on 2026-12-07 for fft-conv-fused.patch (dropped) and the direct ∂d
# (applied): docs/ARCHITECTURE.md. Build with
#   NEXT=bench/variants/A.patch bash bench/peers/build_bins.sh
# and carry .carry/bins/ssm.xz, .carry/bins/ssm-next.xz, .carry/golden (a copy
# of ../shared/golden), and with PEERS=1 .carry/mamba-src (mamba_ssm/ of
# state-spaces/mamba) and .carry/bench_peers.py (../shared/peers/bench_peers.py).
set -u
export OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
timeout 150 .carry/ssm-next selftest --device cuda --parity ops > "$OUT/parity_next.txt" 2>&1
echo "== parity rc=$?: $(tail -n 1 "$OUT/parity_next.txt")"
grep -v '^ok' "$OUT/parity_next.txt" | cut -c1-400 | tail -n 20
grep -E '^ok +(fftconv|two-sided|gelu)' "$OUT/parity_next.txt" | cut -c1-200
for r in $(seq "${ROUNDS:-2}"); do
  for b in ssm ssm-next; do
    timeout 60 .carry/$b bench kernels --device cuda --only fftconv 2>&1 | grep '^{' | sed "s/^/$b round=$r /"
  done
done 2>&1 | tee "$OUT/ab_fftconv.txt"
if [ "${PEERS:-0}" = 1 ]; then
  timeout 60 .carry/ssm bench kernels --device cuda --only ssd 2>&1 | grep '^{' | tee -a "$OUT/ab_fftconv.txt"
  (cd .carry && BUILD_SSCAN=0 MAMBA_SRC=$PWD/mamba-src timeout 200 python3 bench_peers.py 2>&1) \
    | grep -v Warning | tee "$OUT/peers.jsonl"
fi
if [ "${FULL:-0}" = 1 ]; then
  timeout 200 .carry/ssm-next selftest --device cuda > "$OUT/selftest_next.txt" 2>&1
  echo "== full selftest rc=$?: $(tail -n 1 "$OUT/selftest_next.txt")"
  grep -v '^ok' "$OUT/selftest_next.txt" | cut -c1-300 | tail -n 8
fi
date -u
