#!/bin/bash
# A training run longer than one device command, kept on one warm machine:
# the first command starts it detached (setsid: it outlives the command),
# each later command (sent within the machine's warm window, 30 s) waits on
# it, and the last brings its logs back. No checkpoint travels, so a run of
# any size fits; the price is that the whole run must end before the machine
# goes back (30 minutes held at most). `run_segment.sh` carries the run
# folder between machines instead.
#
#   run_detached.sh start NAME ARGS...  # ssm train --name NAME --device cuda ARGS
#   run_detached.sh wait NAME SECONDS   # until the run ends or SECONDS pass
#   run_detached.sh collect NAME        # $OUT/NAME.tgz (no checkpoints) + rate
#
# DEVICE (default cuda) picks the device. `start` copies .carry/ssm to /tmp/detached/ssm first, so a later command
# may replace .carry/ssm while the run goes on. nvidia-smi samples GPU
# utilisation every 2 s beside the run. `collect` interrupts a run that is
# still going and tests its best checkpoint (`ssm eval`), then prints the
# log's last lines and loop_rate.py's JSON line (steps/s, GPU utilisation).
set -u
OUT=${OUT:-.}
cmd=$1 name=$2
shift 2
dir=/tmp/detached
log=$dir/$name.log
here=$(dirname "$0")
mkdir -p "$dir"
alive() { [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; }
case $cmd in
start)
  cp .carry/ssm "$dir/ssm"
  date +%s > "$dir/$name.start"
  setsid bash -c 'echo $$ > "$0.smi.pid"; exec nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -l 2' \
    "$dir/$name" > "$dir/$name.util.csv" 2>&1 < /dev/null &
  setsid bash -c 'echo $$ > "$1/$0.pid"; exec "$1/ssm" train --device "${DEVICE:-cuda}" --runs "$1/runs" --name "$0" "${@:2}"' \
    "$name" "$dir" "$@" > "$log" 2>&1 < /dev/null &
  sleep 2
  alive && echo "detached: $name started (pid $(cat "$dir/$name.pid"))" || { echo "detached: $name is not running (ended or failed):"; tail -5 "$log"; }
  ;;
wait)
  limit=$1 waited=0
  while alive && [ "$waited" -lt "$limit" ]; do sleep 5; waited=$((waited + 5)); done
  alive && echo "detached: $name still running after ${waited} s" || echo "detached: $name ended"
  grep -E "^step .* (val|test) " "$log" | tail -3
  ;;
collect)
  if alive; then
    kill -INT "$(cat "$dir/$name.pid")"; sleep 3; alive && kill "$(cat "$dir/$name.pid")"
    echo "detached: $name interrupted" >> "$log"
    if [ -f "$dir/runs/$name/checkpoints/best.safetensors" ]; then
      "$dir/ssm" eval --device "${DEVICE:-cuda}" --recurrent-examples 0 "$dir/runs/$name" >> "$log" 2>&1
    fi
  fi
  [ -f "$dir/$name.smi.pid" ] && kill "$(cat "$dir/$name.smi.pid")" 2>/dev/null
  tail -6 "$log"
  python3 "$here/loop_rate.py" "$log" "$dir/$name.util.csv" "$name" "$(cat "$dir/$name.start")"
  cp "$log" "$dir/$name.util.csv" "$dir/runs/$name/" 2>/dev/null
  tar czf "$OUT/$name.tgz" --exclude=checkpoints -C "$dir/runs" "$name"
  ;;
*)
  echo "usage: run_detached.sh start|wait|collect NAME [...]" >&2; exit 2
  ;;
esac
