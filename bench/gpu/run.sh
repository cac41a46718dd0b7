#!/usr/bin/env bash
# One call on the lent GPU host does everything (docs/PERF.md quotes its output):
#   1. unpacks the Debian packages carried in .deps/ (bench/gpu/fetch-debs.sh downloads them)
#      when the host lacks the libraries,
#   2. builds the CUDA backend, the GPU tests and the benchmark (sm_90a),
#   3. runs the GPU tests (ctest -L gpu), then compute-sanitizer memcheck and racecheck on
#      small cases,
#   4. benchmarks longctx against torch SDPA (flash and cuDNN backends) on the ANCHORS.md
#      sizes and prints the comparison table,
#   5. (full mode) the headline: causal forward + backward over 1,048,576 tokens.
# Usage: bench/gpu/run.sh [quick|full|bench|test|tune|build|headline]
#   full = bench + headline (about 10 minutes: split it into bench and headline calls when the
#   device tool limits one command to 10 minutes).   Logs go to $OUT (default ./out).
set -uo pipefail
mode=${1:-full}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/out}
mkdir -p "$out"
build=$root/build-gpu
jobs=$(nproc)

# 1. Dependencies from carried .debs (the GPU host has no package registry).
source "$root/bench/gpu/unpack-deps.sh"

# 2. Build.
step() { printf '\n=== %s\n' "$*" | tee -a "$out/run.log"; }
step "configure + build ($jobs jobs)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLONGCTX_CUDA=ON \
  ${PKG_CONFIG:+-DPKG_CONFIG_EXECUTABLE=$PKG_CONFIG} >"$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target test_cuda_attention test_cuda_errors attn_cuda_bench \
  longctx_cli >"$out/build.log" 2>&1 || { grep -E "error|Error" -A3 "$out/build.log" | head -60; exit 1; }
grep -E "spill" "$out/build.log" | sort -u | head -8
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee -a "$out/run.log"

[ "$mode" = build ] && exit 0

# Tuning mode: every forward tile configuration, then Nsight Compute on forward and backward.
if [ "$mode" = tune ]; then
  step "forward tiles (LONGCTX_CUDA_FORWARD_TILE)"
  for tile in $(seq 0 5); do
    echo "tile $tile:"
    LONGCTX_CUDA_FORWARD_TILE=$tile "$build/bin/attn_cuda_bench" --seq 4096 16384 --repeat 5 \
      --forward-only 2>&1 >/dev/null | grep -E "full|causal"
  done
  step "ncu: forward (tile 0) and backward, N = 16384 full"
  for kernel in forward_kernel backward_kernel; do
    ncu --kernel-name "regex:$kernel" --launch-skip 1 --launch-count 1 \
      --section SpeedOfLight --section WarpStateStats --section ComputeWorkloadAnalysis \
      --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
      "$build/bin/attn_cuda_bench" --seq 16384 --masks full --repeat 1 --warmup 1 \
      >"$out/ncu-$kernel.log" 2>&1
    grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Registers Per|Achieved Occupancy|Theoretical Occupancy|Shared Memory|Warp Cycles Per Issued|Issue Slots Busy|Executed Ipc|L1/TEX Hit|Stall|Block Limit" "$out/ncu-$kernel.log" | head -40
  done
  exit 0
fi

# 3. Tests (not in headline mode).
tests_rc=0
if [ "$mode" != headline ]; then
step "GPU tests"
(cd "$build" && ctest -L gpu --output-on-failure -j 1 --timeout 300 2>&1) >"$out/ctest.log" || tests_rc=$?
tail -15 "$out/ctest.log"
step "compute-sanitizer (small cases)"
san_filter='Cases/CudaAttention.MatchesOracle/case1:Cases/CudaAttention.MatchesOracle/case2:Cases/CudaAttention.MatchesOracle/case8:Cases/CudaAttention.MatchesOracle/case10'
for tool in memcheck racecheck; do
  LONGCTX_TEST_SMALL=1 timeout 300 compute-sanitizer --tool "$tool" --error-exitcode 3 \
    "$build/tests/test_cuda_attention" --gtest_filter="$san_filter" >"$out/sanitizer-$tool.log" 2>&1
  echo "compute-sanitizer $tool: rc=$? ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-$tool.log" | tail -1))" | tee -a "$out/run.log"
done
[ "$mode" = test ] && exit $tests_rc
fi

# 4. Benchmarks: ours, then the torch peers on the same GPU in the same call (headline mode: only
# the million-token run, which takes about 70 s).
if [ "$mode" != headline ]; then
step "benchmark"
seqs="1024 4096 16384 65536"
repeat=10
[ "$mode" = quick ] && { seqs="4096 16384"; repeat=5; }
timeout 400 "$build/bin/attn_cuda_bench" --seq $seqs --repeat $repeat >"$out/ours.jsonl" 2>"$out/ours.log"
cat "$out/ours.log"
python3 "$root/bench/gpu/torch_sdpa.py" --seq $seqs --repeat $repeat >"$out/peers.jsonl" \
  2>"$out/peers.log" || tail -5 "$out/peers.log"

fi

# 5. Headline: one exact causal pass over a million tokens.
if [ "$mode" = full ] || [ "$mode" = headline ]; then
  step "headline: causal fwd+bwd, N = 1,048,576, H = 16, d = 128, bf16"
  "$build/bin/attn_cuda_bench" --seq 1048576 --tokens 1048576 --masks causal --repeat 1 --warmup 0 --sets 1 \
    >"$out/headline.jsonl" 2>"$out/headline.log"
  cat "$out/headline.log"
fi
step "summary"
[ "$mode" = headline ] && exit $tests_rc
echo "GPU tests: $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1)"
python3 "$root/bench/gpu/compare.py" "$out/ours.jsonl" "$out/peers.jsonl" | tee "$out/compare.txt"
exit $tests_rc
