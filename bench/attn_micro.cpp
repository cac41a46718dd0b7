// Google Benchmark micro-benchmarks: attention forward / backward over a small grid of sizes and
// the sgemm yardstick, reported as GFLOP/s counters (visible pairs only, SPEC §1). For quick A/B
// comparisons of kernel changes; the headline numbers come from attn_vs_gemm.
//   build/bin/attn_micro --benchmark_filter=Forward
#include <benchmark/benchmark.h>

#include "attn_case.hpp"
#include "gemm_baseline.hpp"
#include "longctx/core/threads.hpp"

namespace {

using namespace longctx;
using namespace longctx::app;

// args: N, D, causal (0/1), dtype (0 f32, 1 bf16)
AttnConfig config_from(const benchmark::State& state) {
  AttnConfig c;
  c.seq = state.range(0);
  c.dim = state.range(1);
  c.heads = 2;
  c.mask = state.range(2) ? MaskKind::causal : MaskKind::full;
  c.dtype = state.range(3) ? DType::bf16 : DType::f32;
  c.seed = 7;
  return c;
}

void BM_Forward(benchmark::State& state) {
  AttnCase a(config_from(state));
  const double flops = attention_flops(a.config()).forward;
  for (auto _ : state) a.run_forward();
  state.counters["GFLOP"] =  // printed as a rate: GFLOP=…/s
      benchmark::Counter(flops * 1e-9 * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Backward(benchmark::State& state) {
  AttnCase a(config_from(state));
  a.run_forward();
  const double flops = attention_flops(a.config()).backward;
  for (auto _ : state) a.run_backward();
  state.counters["GFLOP"] =  // printed as a rate: GFLOP=…/s
      benchmark::Counter(flops * 1e-9 * double(state.iterations()), benchmark::Counter::kIsRate);
}

void attention_grid(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "D", "causal", "bf16"});
  for (int64_t n : {1024, 4096})
    for (int64_t d : {64, 128})
      for (int64_t causal : {0, 1})
        for (int64_t bf16 : {0, 1}) b->Args({n, d, causal, bf16});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Same thread count as the attention benchmarks (OpenMP default).
void BM_Sgemm(benchmark::State& state) {
  for (auto _ : state) {
    const GemmResult g = measure_sgemm(state.range(0), resolve_threads(0), 1);
    state.SetIterationTime(g.ms / 1e3);
    state.counters["GFLOP/s"] = g.gflops;  // already a rate
  }
}

}  // namespace

BENCHMARK(BM_Forward)->Apply(attention_grid);
BENCHMARK(BM_Backward)->Apply(attention_grid);
BENCHMARK(BM_Sgemm)->Arg(1024)->Arg(2048)->UseManualTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
