#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600), JOBS at a time (default
# 2), from the seeds of seed.py; logs and final stats in fuzz/logs/.
#   fuzz/run_all.sh [SECONDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
JOBS=${2:-2}
python3 seed.py
mkdir -p logs
cargo +nightly fuzz build -O
targets=$(cargo +nightly fuzz list)
printf '%s\n' $targets | xargs -P "$JOBS" -I{} sh -c \
  "cargo +nightly fuzz run -O {} corpus/{} -- -max_total_time=$SECONDS_EACH \
     -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 > logs/{}.log 2>&1; echo {} exit \$? >> logs/exits"
grep -H "stat::number_of_executed_units\|Done" logs/*.log || true
cat logs/exits
