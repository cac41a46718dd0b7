#!/usr/bin/env bash
# Profiling helper for the lent GPU (after bench/gpu/run.sh has built build-gpu): warp stall
# reasons of the forward and backward kernels from Nsight Compute, and their SASS, into $OUT.
# Usage: bench/gpu/profile.sh [forward-tile]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/out}
build=$root/build-gpu
tile=${1:-0}
stalls=$(printf 'smsp__average_warp_latency_issue_stalled_%s.ratio,' long_scoreboard \
  short_scoreboard barrier mio_throttle math_pipe_throttle wait not_selected selected \
  dispatch_stall lg_throttle no_instruction branch_resolving tex_throttle imc_miss drain \
  membar sleeping misc)
metrics="${stalls}sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active"
metrics+=",smsp__inst_executed.sum,sm__cycles_elapsed.avg"
metrics+=",l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,smsp__inst_executed_op_ldsm.sum"
for kernel in forward_kernel backward_kernel; do
  LONGCTX_CUDA_FORWARD_TILE=$tile ncu --kernel-name "regex:$kernel" --launch-skip 1 \
    --launch-count 1 --metrics "$metrics" "$build/bin/attn_cuda_bench" --seq 16384 \
    --masks full --repeat 1 --warmup 1 >"$out/stalls-$kernel.log" 2>&1
  grep -E "stalled|hmma|inst_executed|cycles_elapsed|conflicts" "$out/stalls-$kernel.log" |
    sed -E 's/smsp__average_warp_latency_issue_stalled_//' | awk '{print $1, $NF}'
done
cuobjdump -sass "$build/attn/CMakeFiles/longctx_attn.dir/cuda/forward_bf16_d128.cu.o" \
  >"$out/sass-forward.txt" 2>&1
cuobjdump -sass "$build/attn/CMakeFiles/longctx_attn.dir/cuda/backward_bf16_d128.cu.o" \
  >"$out/sass-backward.txt" 2>&1
ls -la "$out"
