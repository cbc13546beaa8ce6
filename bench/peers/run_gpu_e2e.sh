#!/bin/bash
# The end-to-end part of bench/peers/run_gpu_bench.sh alone (ours, then the peers), same
# layout under .carry/. Note: e2e_mamba.py takes mamba_ssm's extension from torch's cache;
# on a fresh machine building it takes longer than its timeout here, so run
# run_gpu_bench.sh (whose bench_peers.py builds it first) when the mamba_ssm rows matter.
exec env E2E_ONLY=1 bash "$(dirname "$0")/run_gpu_bench.sh"
