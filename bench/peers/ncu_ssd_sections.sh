#!/bin/bash
# Why an SSD kernel takes its time: Nsight Compute's launch, occupancy,
# warp-state (stall reasons), scheduler, instruction and memory sections of
# one launch of each kernel in KERNELS (default "ssd_chunk_outputs
# ssd_chunk_states": the output pass, which the quad staging of 2026-12-06
# did not speed up, and the chunk-state pass, which it did) in each build of
# BUILDS (default ssm), under `ssm bench kernels --only ssd` (bf16, its first
# launches are at batch 8 × 2048). Writes $OUT/ncu_sections_KERNEL_BUILD.txt
# and, from a second pass, the cycles stalled per reason in
# $OUT/ncu_sections_KERNEL_BUILD_stalls.txt, and echoes the lines worth
# reading. Carry .carry/bins/ssm.xz (and any other build named). About 40 s
# a kernel and build.
#
#   KERNELS="ssd_chunk_outputs" bash bench/peers/ncu_ssd_sections.sh
set -u
OUT=${OUT:-.}
# Cycles a warp spends stalled on each reason per issued instruction (the
# WarpStateStats section prints only its top reason).
stalls=""
for r in barrier long_scoreboard short_scoreboard mio_throttle math_pipe_throttle wait \
  not_selected lg_throttle dispatch_stall no_instruction branch_resolving; do
  stalls="$stalls,smsp__average_warps_issue_stalled_${r}_per_issue_active.ratio"
done
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
for b in ${BUILDS:-ssm}; do
  for k in ${KERNELS:-ssd_chunk_outputs ssd_chunk_states}; do
    f="$OUT/ncu_sections_${k}_$b.txt"
    timeout 90 /usr/local/cuda/bin/ncu -k "regex:^${k}_" -c 1 \
      --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats \
      --section InstructionStats --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
      .carry/$b bench kernels --device cuda --only ssd > "$f" 2>&1
    echo "== $k $b rc=$?"
    grep -E "Duration|Registers Per|Theoretical Occ|Achieved Occ|Block Limit|Issued Warp|No Eligible|Executed Ipc|Stall|Mem Busy|Max Bandwidth|L1/TEX Hit|Shared" \
      "$f" | head -30
    # A pass of its own, so that a metric this ncu lacks costs only itself.
    timeout 90 /usr/local/cuda/bin/ncu -k "regex:^${k}_" -c 1 --metrics "${stalls#,}" \
      .carry/$b bench kernels --device cuda --only ssd > "${f%.txt}_stalls.txt" 2>&1
    echo "== $k $b stalls rc=$?"
    grep -E "issue_stalled|ERROR" "${f%.txt}_stalls.txt" | head -15
  done
done
date -u
