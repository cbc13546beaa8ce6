#!/bin/bash
# S4's f64 inverse FFT (and its gradient, an f64 rfft) through cuFFT's
# Z2D/D2Z plans instead of host memory (bench/variants/cufft-f64.patch,
# built as .carry/bins/ssm-next.xz beside main's .carry/bins/ssm.xz by
# build_bins.sh), in one device command.
# - the ops parity group (with the f64 rfft/irfft checks, drawn last, and
#   every f64 check now within 1e-10 on f64 reads) and the S4 and H3 golden
#   cases ($OUT/parity_next.txt), the FFT, DPLR and S4 lines echoed;
# - `ssm bench train --mixer s4` at ListOps' shape (32 × 1999, 6 × 256), the
#   two builds interleaved over ROUNDS (default 2), S4D beside them
#   ($OUT/ab_s4.txt);
# - with MINUTES set and the parity passed, a segment of
#   configs/listops-s4-one-session.toml with the new build
#   (session_listops.sh, NAME listops_s4, resuming .carry/runs/listops_s4
#   when carried), with a host flamegraph of the segment.
# About 3 minutes without MINUTES. Build with
#   NEXT=bench/variants/cufft-f64.patch bash bench/peers/build_bins.sh
# and carry .carry/bins, .carry/golden (a whole copy of ../shared/golden: the
# selftest stops when its manifest lists a case whose file is missing, as it
# did on a subset on 2026-12-07) and, to resume, .carry/runs.
# Applied on 2026-12-07 (commit 566d325; bench/results/gpu-h100-2026-12-07f-cufft-f64/): to
# rerun the A/B, build 566d325's parent as .carry/bins/ssm.xz and
# 566d325 as .carry/bins/ssm-next.xz (git worktree + build_bins.sh).
# The command's body is s4_step_ab.sh; this sets what differs.
ONLY="s4_ h3_" SHOW='rfft/irfft.*f64|dplr|s4_f64' S4D_BUILD=ssm-next TAIL=45 PROFILE=1 \
  exec bash "$(dirname "$0")/s4_step_ab.sh"
