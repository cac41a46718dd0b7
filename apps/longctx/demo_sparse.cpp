// Demo section of issue 3: a causal sliding window (W = 4096, Mistral's) at a length where dense
// causal attention is slow (64K tokens), timed beside dense causal in the same run: the window
// visits only the blocks of its band, so its time falls with its share of the pairs. The window
// row is checked against the float64 oracle on sampled rows.
#include <fmt/format.h>

#include <algorithm>

#include "attn_case.hpp"
#include "demo_sections.hpp"
#include "longctx/core/memory.hpp"
#include "oracle_check.hpp"

namespace longctx::app {
namespace {

// A conservative forward rate for the budget estimate (two cores reach ~200-400 GFLOP/s).
constexpr double kEstimateGflops = 120.0;

AttnConfig window_config(const DemoContext& ctx, int64_t n, std::optional<Window> window) {
  const bool quick = ctx.settings().quick;
  AttnConfig c;
  c.seq = c.seq_k = n;
  // One head keeps dense causal at 64K to a few seconds on two cores (1.1 TFLOP).
  c.heads = c.kv_heads = 1;
  c.dim = c.dim_v = quick ? 64 : 128;
  c.mask = MaskKind::causal;
  c.window = window;
  c.threads = ctx.settings().threads;
  return c;
}

DemoRow timed_row(DemoContext& ctx, AttnConfig config, const std::string& what, bool check) {
  config.seed = ctx.next_seed();
  DemoRow row;
  row.section = "sliding window";
  row.what = what;
  row.tokens = config.seq;
  row.naive_bytes = naive_score_bytes(config);
  const bool reset = reset_peak_rss();
  AttnCase c(config);
  c.run_forward();  // warm-up: page faults of fresh buffers are not the kernel's time
  row.ms = c.run_forward();
  row.peak_rss_bytes = peak_rss_bytes();
  if (!reset) row.note = "peak RSS counted since start";
  row.gflops = attention_flops(config).forward / (row.ms * 1e6);
  if (check) {
    CheckOptions co;
    co.gradients = false;
    co.seed = config.seed + 1;
    const CheckResult r = check_against_oracle(c, co);
    row.max_error = std::max(r.err_out, r.err_lse);
    row.tolerance = r.tolerance;
    row.passed = r.passed();
  }
  return row;
}

}  // namespace

void run_sliding_window(DemoContext& ctx) {
  const bool quick = ctx.settings().quick;
  const int64_t n = std::min<int64_t>(quick ? 8192 : 65536, ctx.settings().max_seq);
  const int64_t w = std::min<int64_t>(quick ? 512 : 4096, std::max<int64_t>(1, n / 8));
  const AttnConfig window = window_config(ctx, n, Window{w, 0});
  const AttnConfig dense = window_config(ctx, n, std::nullopt);
  // Two runs each (warm-up + timed) plus the window's oracle check on sampled rows.
  const double estimate_s = 2.0 *
                                (attention_flops(window).forward + attention_flops(dense).forward) /
                                (kEstimateGflops * 1e9) +
                            1.0;
  if (!ctx.fits_budget(estimate_s)) {
    DemoRow row;
    row.section = "sliding window";
    row.what = fmt::format("fwd W={}", w);
    row.tokens = n;
    row.note = fmt::format("skipped: ~{:.0f} s would pass the {:.0f} s budget", estimate_s,
                           ctx.settings().budget_s);
    ctx.add(row);
    return;
  }
  DemoRow win = timed_row(ctx, window, fmt::format("fwd W={} causal", w), true);
  DemoRow full = timed_row(ctx, dense, "fwd dense causal", false);
  const double pairs_share =
      double(attention_flops(window).visible_pairs) / double(attention_flops(dense).visible_pairs);
  ctx.add(win);
  ctx.add(full);
  DemoRow speedup;
  speedup.section = "sliding window";
  speedup.what = "speedup";
  speedup.tokens = n;
  speedup.note = fmt::format(
      "dense causal / window = {:.0f} ms / {:.0f} ms = {:.1f}x (the window has {:.1f}% of the "
      "causal pairs)",
      full.ms, win.ms, full.ms / win.ms, 100.0 * pairs_share);
  ctx.add(speedup);
}

}  // namespace longctx::app
