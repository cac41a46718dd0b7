// Demo section of issue 3: DeepSeek Sparse Attention forward (int8 lightning indexer + top-k +
// attention over the selected keys) at 64K tokens with H = 16, G = 4, d = 128, k = 2048, beside
// dense causal attention measured in the same run. Dense causal is timed on one query head and
// scaled to H (its cost is exactly linear in the heads), which keeps it to seconds; the
// sliding-window section's dense row is reused when it timed the same problem. The DSA row
// is checked against the float64 oracle on the same selected keys (sampled query rows).
#include <fmt/format.h>

#include <algorithm>

#include "attn_case.hpp"
#include "demo_sections.hpp"
#include "dsa_case.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/timer.hpp"
#include "longctx/sparse/dsa_reference.hpp"
#include "oracle_check.hpp"

namespace longctx::app {
namespace {

constexpr const char* kSection = "DeepSeek sparse attention";
// Conservative rates for the budget estimate on two busy cores.
constexpr double kDenseEstimateGflops = 120.0;
constexpr double kSparseEstimateGflops = 150.0;

DsaConfig dsa_config(const DemoContext& ctx, int64_t n) {
  const bool quick = ctx.settings().quick;
  DsaConfig c;
  c.attn.seq = c.attn.seq_k = n;
  // H = 16 keeps the row near 10 s on two quiet cores (H = 32 doubles the attention part).
  c.attn.heads = quick ? 8 : 16;
  c.attn.kv_heads = quick ? 2 : 4;
  c.attn.dim = c.attn.dim_v = quick ? 64 : 128;
  c.attn.threads = ctx.settings().threads;
  c.top_k = quick ? 256 : 2048;
  c.indexer_heads = quick ? 4 : 8;
  c.indexer_dim = quick ? 32 : 64;
  c.quantized = true;
  return c;
}

// max relative error of O and LSE against the oracle on the same selection, sampled rows.
double check_rows(DsaCase& c, uint64_t seed) {
  const std::vector<int64_t> rows = sample_query_rows(c.config().attn.seq, 16, seed);
  const sparse::reference::DsaForward f =
      sparse::reference::dsa_forward(c.q(), c.k(), c.v(), c.selection(), c.spec(), rows);
  const TensorView& out = c.out();
  double diff = 0.0, scale = 1e-3, lse_err = 0.0;
  const int64_t h_count = out.dim(2), dv = out.dim(3), n = out.dim(1);
  for (int64_t t : rows)
    for (int64_t h = 0; h < h_count; ++h) {
      for (int64_t x = 0; x < dv; ++x) {
        const double ref = f.out[size_t((t * h_count + h) * dv + x)];
        diff = std::max(diff, std::abs(double(out.load(0, t, h, x)) - ref));
        scale = std::max(scale, std::abs(ref));
      }
      const double ref = f.lse[size_t(h * n + t)];
      const double got =
          static_cast<const float*>(c.lse().data)[h * c.lse().stride(1) + t * c.lse().stride(2)];
      lse_err = std::max(lse_err, std::abs(got - ref) / std::max(1.0, std::abs(ref)));
    }
  return std::max(diff / scale, lse_err);
}

}  // namespace

void run_dsa(DemoContext& ctx) {
  const bool quick = ctx.settings().quick;
  const int64_t n = std::min<int64_t>(quick ? 4096 : 65536, ctx.settings().max_seq);
  DsaConfig config = dsa_config(ctx, n);
  const AttnConfig& a = config.attn;
  AttnConfig dense = a;
  dense.heads = dense.kv_heads = 1;
  dense.mask = MaskKind::causal;
  dense.seed = ctx.next_seed();
  const double dense_flops = attention_flops(dense).forward;
  const double pairs = double(std::min(config.top_k, n)) * double(n);
  // Attention over the selected pairs (SPEC §1's 4·pairs·H·d) plus the indexer's products
  // (2·N²/2·H_I·d_I, int8 multiply-adds counted like float ones).
  const double sparse_flops =
      2.0 * pairs * double(a.heads * (a.dim + a.dim_v)) +
      double(n) * double(n) * double(config.indexer_heads * config.indexer_dim);
  const double estimate_s = 2.0 * dense_flops / (kDenseEstimateGflops * 1e9) +
                            sparse_flops / (kSparseEstimateGflops * 1e9) + 2.0;
  const std::string what = fmt::format("fwd dsa k={} H={} d={}", config.top_k, a.heads, a.dim);
  if (!ctx.fits_budget(estimate_s)) {
    DemoRow row;
    row.section = kSection;
    row.what = what;
    row.tokens = n;
    row.note = fmt::format("skipped: ~{:.0f} s would pass the {:.0f} s budget", estimate_s,
                           ctx.settings().budget_s);
    ctx.add(row);
    return;
  }

  // DSA: one timed forward (indexer + top-k + sparse attention), then the oracle check.
  config.attn.seed = ctx.next_seed();
  DemoRow row;
  row.section = kSection;
  row.what = what;
  row.tokens = n;
  row.naive_bytes = naive_score_bytes(a);
  const bool reset = reset_peak_rss();
  DsaCase c(config);
  const DsaForwardTiming t = c.run_forward();
  row.ms = t.total_ms();
  row.gflops = sparse_flops / (row.ms * 1e6);  // attention over the selection + the indexer
  row.peak_rss_bytes = peak_rss_bytes();
  row.max_error = check_rows(c, config.attn.seed + 1);
  row.tolerance = dtype_tolerance(a.dtype);
  row.passed = *row.max_error <= *row.tolerance;
  row.note = fmt::format("select {:.0f} ms + attention {:.0f} ms{}", t.select_ms, t.attention_ms,
                         reset ? "" : "; peak RSS counted since start");

  // Dense causal on one head, scaled to H heads: the sliding-window section's dense row when it
  // ran this length in this run (it times one head with the same d as here), else timed here.
  DemoRow full;
  full.section = kSection;
  full.what = fmt::format("fwd dense causal H=1 d={}", a.dim);
  full.tokens = n;
  full.naive_bytes = naive_score_bytes(dense);
  for (const DemoRow& earlier : ctx.rows())
    if (earlier.section == "sliding window" && earlier.what == "fwd dense causal" &&
        earlier.tokens == n && earlier.ms > 0) {
      full.ms = earlier.ms;
      full.gflops = earlier.gflops;
      full.peak_rss_bytes = earlier.peak_rss_bytes;
      full.note = "from the sliding-window section";
    }
  if (full.ms == 0.0) {
    AttnCase d(dense);
    d.run_forward();  // warm-up
    full.ms = d.run_forward();
    full.gflops = dense_flops / (full.ms * 1e6);
    full.peak_rss_bytes = peak_rss_bytes();
  }
  ctx.add(row);
  ctx.add(full);
  const double dense_ms = full.ms * double(a.heads);
  DemoRow speedup;
  speedup.section = kSection;
  speedup.what = "speedup";
  speedup.tokens = n;
  speedup.note = fmt::format(
      "dense causal at H={} (1 head x {}) / DSA = {:.0f} ms / {:.0f} ms = {:.1f}x (k={} of {} "
      "keys, int8 indexer)",
      a.heads, a.heads, dense_ms, row.ms, dense_ms / row.ms, config.top_k, n);
  ctx.add(speedup);
}

}  // namespace longctx::app
