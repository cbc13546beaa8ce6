# Sourced by the A/B scripts here: decompresses .carry/bins/{ssm,ssm-control,ssm-prev,ssm-next,ssm-next2,ssm-next3,ssm-prof}.xz
# (stripped --features cuda builds; ssm-prof also has host-profile and keeps its symbol
# table; any may be missing) to .carry/{ssm,ssm-control,ssm-prev,ssm-next,ssm-next2,ssm-next3,ssm-prof}
# and points the selftest at .carry/golden and ssm at NCCL.
export SSM_GOLDEN_DIR=$PWD/.carry/golden
# The builds these scripts know: a control (main less one change), then
# the others oldest first.
BUILDS="ssm-control ssm-prev ssm ssm-next ssm-next2 ssm-next3 ssm-prof"
for b in $BUILDS; do
  [ -f .carry/bins/$b.xz ] || continue
  python3 -c "import lzma,sys; open(sys.argv[2],'wb').write(lzma.open(sys.argv[1]).read())" .carry/bins/$b.xz .carry/$b
  chmod +x .carry/$b
done
# NCCL (data-parallel gradients between GPUs): the device image has it only
# as pip's nvidia-nccl-cu13, libnccl.so.2 in site-packages, off the loader's
# path.
if [ -z "${SSM_NCCL_LIB:-}" ]; then
  nccl=$(python3 -c "import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], 'lib', 'libnccl.so.2'))" 2>/dev/null)
  [ -f "$nccl" ] && export SSM_NCCL_LIB=$nccl
fi
# Multicast stays off on these machines (KINDS.md).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# The head of a device log: the GPU and its driver, the date, the host CPU
# and its cores (H100 machines of one description have run at different
# rates, so each log names its host).
machine_header() {
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
  echo "host: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
}
# The mamba-130m training step (`bench train-lm`, batch 8 × 1024, 5 steps) of
# BINARY in PRECISION, its JSON line prefixed by TAG, then nvidia-smi's peak
# memory over the run (sampled every 200 ms); LM_TIMEOUT (default 120) caps it.
lm_step_peak() {
  local tag=$1 bin=$2 precision=$3
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 \
    > "$OUT/mem-lm-$tag.csv" &
  local smi=$!
  timeout "${LM_TIMEOUT:-120}" "$bin" bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
    --steps 5 --precision "$precision" 2>&1 | grep '^{' | sed "s/^/$tag /"
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  echo "$tag peak memory used: $(sort -n "$OUT/mem-lm-$tag.csv" | tail -n 1) MiB"
  rm -f "$OUT/mem-lm-$tag.csv"
}
