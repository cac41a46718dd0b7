// Demo sections of issue 2: exact causal attention (forward, then backward) at growing lengths
// on the CPU, each row timed once, its peak memory set against the N² bytes a naive
// implementation needs, and its output checked against the float64 oracle on sampled rows.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "attn_case.hpp"
#include "demo_sections.hpp"
#include "longctx/core/memory.hpp"
#include "oracle_check.hpp"

namespace longctx::app {
namespace {

// Seconds the forward sweep leaves for the sections after it.
constexpr double kReserveForBackwardS = 25.0;

// Powers of two from `first` up to max_seq (or just max_seq when it is shorter than `first`).
std::vector<int64_t> growing_lengths(int64_t first, int64_t last, int64_t max_seq) {
  std::vector<int64_t> lengths;
  for (int64_t n = first; n <= std::min(last, max_seq); n *= 2) lengths.push_back(n);
  if (lengths.empty()) lengths.push_back(max_seq);
  return lengths;
}

AttnConfig causal_config(const DemoContext& ctx, int64_t n, DType dtype) {
  const bool quick = ctx.settings().quick;
  AttnConfig c;
  c.batch = 1;
  c.seq = c.seq_k = n;
  // A 64K causal forward with H = 4, d = 128 is 4.4 TFLOP: ~15-30 s on two cores.
  c.heads = c.kv_heads = quick ? 2 : 4;
  c.dim = c.dim_v = quick ? 64 : 128;
  c.mask = MaskKind::causal;
  c.dtype = dtype;
  c.threads = ctx.settings().threads;
  return c;
}

std::string what(const char* pass, const AttnConfig& c) {
  return fmt::format("{} {} H={} d={}", pass, dtype_name(c.dtype), c.heads, c.dim);
}

// Runs one timed forward (or forward + backward) row and its oracle check.
DemoRow measure_row(DemoContext& ctx, const char* section, AttnConfig config, bool backward,
                    double* rate_gflops) {
  config.seed = ctx.next_seed();
  DemoRow row;
  row.section = section;
  row.what = what(backward ? "bwd" : "fwd", config);
  row.tokens = config.seq;
  row.naive_bytes = naive_score_bytes(config);
  const FlopCount flops = attention_flops(config);
  const double work = backward ? flops.backward : flops.forward;
  const double reserve = (backward || ctx.settings().quick) ? 0.0 : kReserveForBackwardS;
  // Forward+backward rows run an untimed forward too, hence the extra 0.4 (= 1/2.5).
  const double estimate_s =
      *rate_gflops > 0 ? work * (backward ? 1.4 : 1.0) / (*rate_gflops * 1e9) : 0;
  if (!ctx.fits_budget(estimate_s + reserve)) {
    row.note = fmt::format("skipped: ~{:.0f} s would pass the {:.0f} s budget", estimate_s,
                           ctx.settings().budget_s);
    return row;
  }

  const bool reset = reset_peak_rss();
  AttnCase c(config);
  if (backward) {
    c.run_forward();
    row.ms = c.run_backward();
  } else {
    row.ms = c.run_forward();
  }
  row.peak_rss_bytes = peak_rss_bytes();
  if (!reset) row.note = "peak RSS counted since start";
  row.gflops = work / (row.ms * 1e6);
  *rate_gflops = *row.gflops;

  CheckOptions co;
  co.gradients = backward;
  co.full_gradient_limit = 1LL << 20;  // dK, dV in full only for the quick sizes
  co.seed = config.seed + 1;
  const CheckResult r = check_against_oracle(c, co);
  double err = std::max(r.err_out, r.err_lse);
  for (const std::optional<double>& e : {r.err_dq, r.err_dk, r.err_dv})
    if (e) err = std::max(err, *e);
  row.max_error = err;
  row.tolerance = r.tolerance;
  row.passed = r.passed();
  return row;
}

}  // namespace

void run_exact_forward_sweep(DemoContext& ctx) {
  const char* section = "exact causal forward";
  const bool quick = ctx.settings().quick;
  const int64_t max_seq = ctx.settings().max_seq;
  double rate = 0.0;
  for (int64_t n : growing_lengths(quick ? 512 : 4096, quick ? 2048 : max_seq, max_seq))
    ctx.add(measure_row(ctx, section, causal_config(ctx, n, DType::f32), false, &rate));
  // The same kernel with bf16 storage (half the memory traffic and footprint).
  const int64_t n_bf16 = std::min<int64_t>(quick ? 1024 : 16384, max_seq);
  double rate_bf16 = 0.0;
  ctx.add(measure_row(ctx, section, causal_config(ctx, n_bf16, DType::bf16), false, &rate_bf16));
}

void run_exact_backward_sweep(DemoContext& ctx) {
  const char* section = "exact causal backward";
  const bool quick = ctx.settings().quick;
  const int64_t max_seq = ctx.settings().max_seq;
  double rate = 0.0;
  for (int64_t n : growing_lengths(quick ? 512 : 4096, quick ? 1024 : 32768, max_seq))
    ctx.add(measure_row(ctx, section, causal_config(ctx, n, DType::f32), true, &rate));
}

}  // namespace longctx::app
