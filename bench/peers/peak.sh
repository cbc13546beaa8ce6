# Sourced by the GPU benchmark scripts here.
# peak CMD...: runs CMD, then prints the GPU's peak memory use during it (MiB over idle).
peak() {
  local base max m pid
  base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
  max=$base
  "$@" & pid=$!
  while kill -0 $pid 2>/dev/null; do
    m=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
    [ "$m" -gt "$max" ] && max=$m
    sleep 0.2
  done
  wait $pid
  echo "{\"what\": \"gpu_peak\", \"cmd\": \"$*\", \"peak_mib_over_idle\": $((max - base))}"
}
