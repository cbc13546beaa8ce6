#!/bin/bash
# A/B of the SSD kernels on CUDA cores (SSM_SSD_TENSOR_CORES=0) and tf32 tensor cores in one
# device command, two interleaved rounds of `ssm bench kernels --only ssd`, then Nsight Compute
# metrics of 30 SSD launches each way (bench/results/gpu-h200-2026-12-04f-ssd-tc/).
# Needs .carry/ssm.xz of commit 17f4b45 (the tensor-core experiment; the knob is gone since).
set -u
OUT=${OUT:-.}
python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.carry/ssm.xz'),open('.carry/ssm','wb'))"; chmod +x .carry/ssm
date -u
for r in 1 2; do for tc in 0 1; do
  echo "== tc=$tc round $r"; SSM_SSD_TENSOR_CORES=$tc timeout 60 .carry/ssm bench kernels --device cuda --only ssd 2>&1 | tail -2
done; done | tee $OUT/ab.txt
SSM_SSD_TENSOR_CORES=1 CUBECL_DEBUG_LOG=$OUT/cubecl_tc.log timeout 60 .carry/ssm bench kernels --device cuda --only ssd > /dev/null 2>&1
M=gpu__time_duration.sum,launch__registers_per_thread,sm__warps_active.avg.pct_of_peak_sustained_active,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum,launch__shared_mem_per_block_dynamic,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum,l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum,launch__occupancy_limit_registers,launch__occupancy_limit_shared_mem
for tc in 0 1; do
  SSM_SSD_TENSOR_CORES=$tc timeout 150 /usr/local/cuda/bin/ncu --kernel-name regex:ssd_ -c 30 --metrics $M --csv --log-file $OUT/ncu_tc$tc.csv \
    .carry/ssm bench kernels --device cuda --only ssd > /dev/null 2>&1
  echo "ncu tc=$tc rc=$?"
done
date -u
