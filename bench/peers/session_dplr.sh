#!/bin/bash
# The DPLR generating function's CubeCL kernels
# (bench/variants/dplr-spectrum-kernels.patch, built as .carry/bins/ssm-next.xz
# beside main's .carry/bins/ssm.xz by build_bins.sh) in one device command.
# Main's GPU path runs the CPU kernel through host memory each way.
# - the variant's ops parity group (with the patch's f64 dplr_spectrum
#   checks, drawn last) and the S4, H3 and ssm golden cases
#   ($OUT/parity_next.txt), the DPLR and S4 lines echoed;
# - `ssm bench train --mixer s4` at ListOps' shape (32 × 1999, 6 × 256),
#   main and the variant interleaved over ROUNDS (default 2), with main's
#   S4D beside them ($OUT/ab_s4.txt);
# - with MINUTES set and the parity passed, a segment of
#   configs/listops-s4-one-session.toml with the variant
#   (bench/peers/session_listops.sh, NAME listops_s4) for its training rate.
# About 3 minutes without MINUTES. Build with
#   NEXT=bench/variants/dplr-spectrum-kernels.patch bash bench/peers/build_bins.sh
# and carry .carry/bins and .carry/golden (a copy of ../shared/golden).
# Applied on 2026-12-07 (commit 8726c0f; bench/results/gpu-h100-2026-12-07e-dplr-kernels/): to
# rerun the A/B, build 8726c0f's parent as .carry/bins/ssm.xz and
# 8726c0f as .carry/bins/ssm-next.xz (git worktree + build_bins.sh).
# The command's body is s4_step_ab.sh; this sets what differs.
ONLY="s4_ h3_ ssm_" SHOW='dplr|s4_|h3_|ssm_' S4D_BUILD=ssm TAIL=20 \
  exec bash "$(dirname "$0")/s4_step_ab.sh"
