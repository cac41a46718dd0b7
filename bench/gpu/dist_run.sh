#!/usr/bin/env bash
# Multi-GPU runs of the sequence-parallel schedules (issue 9), one device call on a machine with
# P GPUs (nvidia-h200-x2 / -x4 / -x8; P = 1 works too, the GPUs then shared by staged ranks):
#   1. unpacks the carried Debian packages (.deps/, as bench/gpu/run.sh does; .deps/mpi/ holds
#      OpenMPI for hosts without it), finds NCCL (system, else PyTorch's nvidia-nccl wheel),
#   2. builds the CUDA backend, dist/ with NCCL, the CLI and mpi_dist_check in build-gpu-dist,
#   3. test: the GPU tests of dist/ (ctest -L gpu -R mpi), with the P-rank NCCL runs enabled
#      (LONGCTX_GPU_RANKS = P),
#   4. bench: TFLOP/s per GPU of zigzag / ring / striped / ulysses (causal, d = 128, bf16, 32 heads,
#      8K-64K tokens per GPU) over NCCL against the single-GPU rate of the same kernels at the
#      per-GPU length,
#   5. longest: the longest causal sequence, forward + backward, that fits (doubling from
#      LONGEST_START = 128K tokens per GPU): time and per-GPU memory.
# Usage: bench/gpu/dist_run.sh [all|test|bench|longest|quick]; bench takes BENCH_TOKENS (per
# GPU), BENCH_RANKS and BENCH_SCHEDULES from the environment.   (quick: 8K/16K, P = 1 and P = 2
# staged on one GPU — what a single-GPU session can run). Logs under $OUT; a short table last.
# One device command may run 10 minutes: on 8 GPUs call `test`, `bench` and `longest` separately
# (LONGEST_START=524288 goes straight to 4M tokens on 8 GPUs).
set -uo pipefail
mode=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/out}
mkdir -p "$out"
scratch=$(mktemp -d)  # per-run JSON (only 8 files come back from $OUT)
build=$root/build-gpu-dist
jobs=$(nproc)
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# 1. Dependencies from carried .debs (the GPU host has no package registry).
source "$root/bench/gpu/unpack-deps.sh"
mpi_flags=()
if ! command -v mpirun >/dev/null && [ -d "$root/.deps/mpi" ]; then
  # OpenMPI relocated under /tmp (OPAL_PREFIX); CMake is pointed at it without the wrappers.
  # (The lent image had /usr/bin/mpirun on 2026-11-24. The fallback's packages, fetched on the
  # dev machine into .deps/mpi: apt-get download openmpi-bin libopenmpi3 libopenmpi-dev
  # openmpi-common libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1
  # libhwloc15 libibverbs1 libnl-3-200 libnl-route-3-200 libpmix2 libpsm-infinipath1 libpsm2-2
  # libucx0 librdmacm1 libnuma1 libltdl7.)
  mpi=/tmp/longctx-mpi
  [ -d $mpi ] || for deb in "$root"/.deps/mpi/*.deb; do dpkg -x "$deb" $mpi; done
  mlib=$mpi/usr/lib/x86_64-linux-gnu
  export OPAL_PREFIX=$mpi/usr PATH=$mpi/usr/bin:$PATH
  export LD_LIBRARY_PATH=$mlib:$mlib/openmpi/lib:$LD_LIBRARY_PATH
  export OMPI_MCA_mca_base_component_path=$mlib/openmpi/lib/openmpi3
  ln -sf orterun $mpi/usr/bin/mpirun
  mpi_flags=(-DMPI_C_HEADER_DIR=$mlib/openmpi/include -DMPI_C_LIB_NAMES=mpi
             -DMPI_mpi_LIBRARY=$mlib/libmpi.so.40 -DMPIEXEC_EXECUTABLE=$mpi/usr/bin/orterun)
fi
nccl_flags=()
if [ ! -e /usr/include/nccl.h ]; then
  nccl=$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))' 2>/dev/null ||
    python3 -c 'import nvidia.nccl; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null)
  if [ -n "$nccl" ]; then
    nccl_flags=(-DNCCL_ROOT=$nccl)
    export LD_LIBRARY_PATH=$nccl/lib:$LD_LIBRARY_PATH
  fi
fi
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
[ "$gpus" -gt 1 ] && export LONGCTX_GPU_RANKS=$gpus

# 2. Build.
step() { printf '\n=== %s\n' "$*" | tee -a "$out/dist.log"; }
step "host: $gpus GPU(s), $(command -v mpirun || echo 'no mpirun'), NCCL ${nccl_flags[*]:-system}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLONGCTX_CUDA=ON -DLONGCTX_BUILD_BENCH=OFF \
  "${mpi_flags[@]}" "${nccl_flags[@]}" ${PKG_CONFIG:+-DPKG_CONFIG_EXECUTABLE=$PKG_CONFIG} \
  >"$out/dist-configure.log" 2>&1 || { tail -30 "$out/dist-configure.log"; exit 1; }
grep -E "longctx: (CUDA|MPI|NCCL)" "$out/dist-configure.log"
cmake --build "$build" -j "$jobs" --target mpi_dist_check longctx_cli >"$out/dist-build.log" 2>&1 ||
  { grep -E "error" -A3 "$out/dist-build.log" | head -60; exit 1; }
mpirun=$(grep -E '^MPIEXEC_EXECUTABLE:' "$build/CMakeCache.txt" | cut -d= -f2)
cli=$build/bin/longctx

# 3. Tests.
tests_rc=0
if [ "$mode" = all ] || [ "$mode" = test ] || [ "$mode" = quick ]; then
  step "GPU tests of dist/ (ctest -L gpu -R mpi)"
  (cd "$build" && ctest -L gpu -R 'mpi\.' --output-on-failure -j 1 2>&1) >"$out/dist-ctest.log" ||
    tests_rc=$?
  grep -E "Test +#|tests passed|tests failed" "$out/dist-ctest.log" | tail -20
fi

# One JSON line per run: {"what", "ranks", "tokens_per_gpu", "fwd_ms", "bwd_ms", "fwd_tflops_gpu",
# "bwd_tflops_gpu", "mem_gib"} into $out/dist-bench.jsonl.
record() {  # record WHAT RANKS TOKENS_PER_GPU JSON_FILE
  python3 - "$@" <<'PY' >>"$out/dist-bench.jsonl"
import json, sys
what, ranks, tokens, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
try:
    j = json.load(open(path))
except Exception:
    print(json.dumps({"what": what, "ranks": ranks, "tokens_per_gpu": tokens,
                      "error": "no JSON: the run failed (dist-bench.log)"}))
    sys.exit()
mem = max((r.get("workspace_bytes_peak", 0) + r.get("device_tensor_bytes", 0)
           for r in j.get("per_rank", [])), default=0)
print(json.dumps({"what": what, "ranks": ranks, "tokens_per_gpu": tokens,
                  "fwd_ms": j.get("fwd_ms"), "bwd_ms": j.get("bwd_ms"),
                  "fwd_tflops_gpu": j.get("fwd_gflops", 0) / 1e3 / ranks,
                  "bwd_tflops_gpu": j.get("bwd_gflops", 0) / 1e3 / ranks,
                  "mem_gib": mem / 2**30, "comm": j.get("comm", "-")}))
PY
}
shape=(--heads 32 --kv-heads 32 --dim 128 --dtype bf16 --mask causal --backward --device cuda)

# 4. TFLOP/s per GPU against the single-GPU rate at the per-GPU length.
if [ "$mode" = all ] || [ "$mode" = bench ] || [ "$mode" = quick ]; then
  step "bench: schedules over $gpus GPU(s) vs one GPU"
  tokens_list=${BENCH_TOKENS:-8192 16384 32768 65536}
  ranks_list=${BENCH_RANKS:-$gpus} comm=auto schedules=${BENCH_SCHEDULES:-zigzag ring striped ulysses}
  limit=300
  [ "$mode" = quick ] && { tokens_list="8192 16384"; ranks_list="1 2"; comm=mpi; limit=60; }
  for t in $tokens_list; do
    "$cli" attn "${shape[@]}" --seq "$t" --repeat 3 --warmup 1 --json >"$scratch/one-$t.json" \
      2>>"$out/dist-bench.log"
    record single 1 "$t" "$scratch/one-$t.json"
    for p in $ranks_list; do
      [ "$mode" = quick ] && [ "$p" -gt 1 ] && [ "$t" -gt 8192 ] && continue  # staging: slow
      for s in $schedules; do
        c=$comm; [ "$p" = 1 ] && c=auto
        timeout $limit "$mpirun" --oversubscribe -n "$p" "$cli" attn "${shape[@]}" --seq $((t * p)) \
          --parallel "$s" --comm "$c" --repeat 3 --warmup 1 --json >"$scratch/par.json" \
          2>>"$out/dist-bench.log"
        record "$s" "$p" "$t" "$scratch/par.json"
      done
    done
  done
fi

# 5. The longest causal sequence forward + backward per GPU count (doubling until it fails).
if [ "$mode" = all ] || [ "$mode" = longest ]; then
  step "longest causal fwd+bwd: zigzag over $gpus GPU(s), 32 heads, d = 128"
  t=${LONGEST_START:-131072}  # tokens per GPU of the first try (a later call can start higher)
  while :; do
    timeout 600 "$mpirun" --oversubscribe -n "$gpus" "$cli" attn "${shape[@]}" --seq $((t * gpus)) \
      --parallel zigzag --repeat 1 --warmup 0 --json >"$scratch/longest.json" 2>>"$out/dist-bench.log"
    record longest "$gpus" "$t" "$scratch/longest.json"  # a failure is recorded, then we stop
    grep -q '"error"' <(tail -1 "$out/dist-bench.jsonl") && break
    t=$((t * 2))
  done
fi

step "summary"
echo "GPU tests: $(grep -E 'tests passed|tests failed' "$out/dist-ctest.log" 2>/dev/null | tail -1)"
[ -f "$out/dist-bench.jsonl" ] && python3 - "$out/dist-bench.jsonl" <<'PY' | tee "$out/dist-table.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
single = {r["tokens_per_gpu"]: r for r in rows if r["what"] == "single" and "error" not in r}
print(f"{'schedule':9} {'P':>2} {'tok/GPU':>8} {'comm':>10} {'fwd ms':>9} {'bwd ms':>9} "
      f"{'fwd TF/GPU':>10} {'bwd TF/GPU':>10} {'fwd/1GPU':>8} {'bwd/1GPU':>8} {'GiB/GPU':>8}")
for r in rows:
    if "error" in r:
        print(f"{r['what']:9} {r['ranks']:>2} {r['tokens_per_gpu']:>8}  failed: {r['error'][:60]}")
        continue
    s = single.get(r["tokens_per_gpu"])
    rf = r["fwd_tflops_gpu"] / s["fwd_tflops_gpu"] if s and s["fwd_tflops_gpu"] else float("nan")
    rb = r["bwd_tflops_gpu"] / s["bwd_tflops_gpu"] if s and s["bwd_tflops_gpu"] else float("nan")
    print(f"{r['what']:9} {r['ranks']:>2} {r['tokens_per_gpu']:>8} {r['comm']:>10} "
          f"{r['fwd_ms'] or 0:9.2f} {r['bwd_ms'] or 0:9.2f} {r['fwd_tflops_gpu']:10.1f} "
          f"{r['bwd_tflops_gpu']:10.1f} {rf:8.2f} {rb:8.2f} {r['mem_gib']:8.2f}")
PY
exit $tests_rc
