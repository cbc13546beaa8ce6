#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600), JOBS at a time (default
# 2), from the seeds of seed.py; logs and final stats in fuzz/logs/.
#   fuzz/run_all.sh [SECONDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
JOBS=${2:-2}
python3 seed.py
rm -rf logs && mkdir -p logs
[ -n "${NO_BUILD:-}" ] || cargo +nightly fuzz build -O
targets=$(cargo +nightly fuzz list)
# The binaries as built above (running them directly, not through `cargo fuzz
# run`, keeps a later edit of the tree from rebuilding them mid-run).
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p artifacts
printf '%s\n' $targets | xargs -P "$JOBS" -I{} sh -c \
  "mkdir -p artifacts/{}; $bin/{} corpus/{} -artifact_prefix=artifacts/{}/ -max_total_time=$SECONDS_EACH \
     -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 > logs/{}.log 2>&1; echo {} exit \$? >> logs/exits"
grep -H "stat::number_of_executed_units\|Done" logs/*.log || true
cat logs/exits
