# Sourced by the GPU benchmark scripts here.
# peak CMD...: runs CMD, then prints the GPU's peak memory use during it (MiB
# over idle) and its mean utilisation (nvidia-smi's percentage of time a
# kernel ran) over the samples taken while the memory in use was within 10 %
# of that peak: the training steps, not the start-up and kernel compilation
# before them. A step bound by the host's launches shows a low figure there.
peak() {
  local base max m u pid mems=() utils=()
  base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
  max=$base
  "$@" & pid=$!
  while kill -0 $pid 2>/dev/null; do
    IFS=', ' read -r m u < <(nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits | head -1)
    mems+=("$m"); utils+=("$u")
    [ "$m" -gt "$max" ] && max=$m
    sleep 0.1
  done
  wait $pid
  local sum=0 count=0 i
  for i in "${!mems[@]}"; do
    if [ $(( (mems[i] - base) * 10 )) -ge $(( (max - base) * 9 )) ] && [ "$max" -gt "$base" ]; then
      sum=$((sum + utils[i])); count=$((count + 1))
    fi
  done
  local util=null
  [ $count -gt 0 ] && util=$((sum / count))
  echo "{\"what\": \"gpu_peak\", \"cmd\": \"$*\", \"peak_mib_over_idle\": $((max - base)), \"util_percent_at_peak\": $util, \"util_samples\": $count}"
}
