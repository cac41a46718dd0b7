// `longctx attn --mask dsa` (see attn_dsa.hpp). Output: the configuration line, the forward time
// split into indexer scores / top-k / sparse attention, the backward time, the dense-equivalent
// work and, with --check, the max relative errors against the float64 oracle on the same
// selected keys (sampled query rows; dK, dV in full when the problem is small).
#include "attn_dsa.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "attn_report.hpp"
#include "cpu/cpu_attention.hpp"
#include "dsa_case.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/timer.hpp"
#include "longctx/sparse/dsa_reference.hpp"
#include "oracle_check.hpp"
#include "report_format.hpp"

namespace longctx::app {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kFullGradientPairs = 1LL << 22;  // dK, dV checked in full up to this many pairs

// max |x − ref| / max(max |ref|, floor) over rows `rows` of a logical [B, R, H, C] view; NaN or
// inf in x gives inf.
double rows_error(const TensorView& x, const std::vector<double>& ref,
                  const std::vector<int64_t>& rows, double floor) {
  const int64_t B = x.dim(0), R = x.dim(1), H = x.dim(2), C = x.dim(3);
  double diff = 0.0, scale = floor;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t r : rows)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t c = 0; c < C; ++c) {
          const double got = x.load(b, r, h, c), want = ref[size_t(((b * R + r) * H + h) * C + c)];
          if (!std::isfinite(got)) return kInf;
          diff = std::max(diff, std::abs(got - want));
          scale = std::max(scale, std::abs(want));
        }
  return diff / scale;
}

double lse_error(const TensorView& lse, const std::vector<double>& ref,
                 const std::vector<int64_t>& rows) {
  const int64_t B = lse.dim(0), H = lse.dim(1), N = lse.dim(2);
  double worst = 0.0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t : rows) {
        const double x = static_cast<const float*>(
            lse.data)[b * lse.stride(0) + h * lse.stride(1) + t * lse.stride(2)];
        const double r = ref[size_t((b * H + h) * N + t)];
        if (std::isinf(r) || std::isinf(x)) {
          if (x != r) return kInf;
          continue;
        }
        if (std::isnan(x)) return kInf;
        worst = std::max(worst, std::abs(x - r) / std::max(1.0, std::abs(r)));
      }
  return worst;
}

CheckResult check_dsa(DsaCase& c, int64_t sample_rows, uint64_t seed, bool gradients) {
  const AttnConfig& a = c.config().attn;
  CheckResult r;
  r.tolerance = dtype_tolerance(a.dtype);
  const std::vector<int64_t> rows = sample_query_rows(a.seq, sample_rows, seed);
  r.rows_checked = int64_t(rows.size());
  const sparse::reference::DsaForward f =
      sparse::reference::dsa_forward(c.q(), c.k(), c.v(), c.selection(), c.spec(), rows);
  r.err_out = rows_error(c.out(), f.out, rows, 1e-3);
  r.err_lse = lse_error(c.lse(), f.lse, rows);
  if (!gradients) return r;
  r.full_gradients = c.selection().pairs() * a.heads <= kFullGradientPairs;
  const sparse::reference::DsaBackward g =
      sparse::reference::dsa_backward(c.q(), c.k(), c.v(), c.dout(), c.selection(), c.spec(),
                                      r.full_gradients ? std::vector<int64_t>{} : rows);
  r.err_dq = rows_error(c.dq(), g.dq, rows, 1.0);
  if (r.full_gradients) {
    std::vector<int64_t> keys(static_cast<size_t>(a.seq_k));
    for (int64_t j = 0; j < a.seq_k; ++j) keys[size_t(j)] = j;
    r.err_dk = rows_error(c.dk(), g.dk, keys, 1.0);
    r.err_dv = rows_error(c.dv(), g.dv, keys, 1.0);
  }
  return r;
}

int run_dsa_attn(const AttnConfig& config, const DsaRunFlags& run, const DsaFlags& flags) {
  DsaConfig dc;
  dc.attn = config;
  dc.top_k = flags.top_k;
  dc.indexer_heads = flags.indexer_heads;
  dc.indexer_dim = flags.indexer_dim;
  dc.indexer_groups = flags.indexer_groups;
  dc.quantized = flags.quantized;
  validate_dsa_config(dc);
  const AttnConfig& a = config;
  const std::string line = fmt::format(
      "B={} N={} M={} H={} G={} D={} DV={} mask=dsa topk={} indexer H_I={} d_I={} S={} {} "
      "dtype={} layout={} threads={} simd={} seed={}",
      a.batch, a.seq, a.seq_k, a.heads, a.kv_heads, a.dim, a.dim_v, dc.top_k, dc.indexer_heads,
      dc.indexer_dim, dc.indexer_groups, dc.quantized ? "int8" : "f32", dtype_name(a.dtype),
      layout_name(a.layout), a.threads, cpu::simd_target_name(), a.seed);
  std::fprintf(stderr, "longctx attn: %s\n", line.c_str());
  DsaCase c(dc);

  std::vector<double> total, select, attention, scores, topk, bwd;
  for (int i = 0; i < run.warmup; ++i) c.run_forward();
  for (int i = 0; i < run.repeat; ++i) {
    const DsaForwardTiming t = c.run_forward();
    total.push_back(t.total_ms());
    select.push_back(t.select_ms);
    attention.push_back(t.attention_ms);
    // Thread-seconds → the wall-time share of the selection they stand for.
    const double busy = t.profile.scores_s + t.profile.topk_s;
    const double wall_sel = t.select_ms - 1e3 * t.profile.pack_s;
    scores.push_back(1e3 * t.profile.pack_s +
                     (busy > 0 ? wall_sel * t.profile.scores_s / busy : 0));
    topk.push_back(busy > 0 ? wall_sel * t.profile.topk_s / busy : 0);
    std::fprintf(stderr, "  forward %d/%d: %.2f ms (select %.2f, attention %.2f)\n", i + 1,
                 run.repeat, total.back(), select.back(), attention.back());
  }
  if (run.backward) {
    for (int i = 0; i < run.warmup; ++i) c.run_backward();
    for (int i = 0; i < run.repeat; ++i) {
      bwd.push_back(c.run_backward());
      std::fprintf(stderr, "  backward %d/%d: %.2f ms\n", i + 1, run.repeat, bwd.back());
    }
  }
  const int64_t pairs = c.selection().pairs() / dc.indexer_groups;  // per head
  const FlopCount dense = attention_flops([&] {
    AttnConfig d = a;
    d.mask = MaskKind::causal;
    return d;
  }());
  const double attn_flops = 2.0 * double(pairs) * double(a.heads) * double(a.dim + a.dim_v);
  const double indexer_flops = 2.0 * double(dense.visible_pairs) *
                               double(dc.indexer_groups * dc.indexer_heads * dc.indexer_dim);

  nlohmann::json j;
  add_problem_json(a, j);
  j["mask"] = "dsa";
  j["topk"] = dc.top_k;
  j["indexer_heads"] = dc.indexer_heads;
  j["indexer_dim"] = dc.indexer_dim;
  j["indexer_groups"] = dc.indexer_groups;
  j["quantized"] = dc.quantized;
  j["layout"] = layout_name(a.layout);
  j["simd"] = cpu::simd_target_name();
  j["repeat"] = run.repeat;
  j["warmup"] = run.warmup;
  j["selected_pairs"] = pairs;
  j["visible_pairs"] = dense.visible_pairs;
  j["fwd_ms"] = median(total);
  j["fwd_ms_all"] = total;
  j["select_ms"] = median(select);
  j["indexer_ms"] = median(scores);
  j["topk_ms"] = median(topk);
  j["attention_ms"] = median(attention);
  j["attention_gflops"] = attn_flops / (median(attention) * 1e6);
  j["indexer_gflops"] = indexer_flops / (median(scores) * 1e6);
  if (!bwd.empty()) {
    j["bwd_ms"] = median(bwd);
    j["bwd_ms_all"] = bwd;
  }
  std::optional<double> recall;
  if (dc.quantized) recall = c.quantized_recall();
  if (recall) j["recall"] = *recall;
  j["peak_rss_bytes"] = peak_rss_bytes();
  j["workspace_bytes_peak"] = workspace_bytes_peak();

  if (!run.json) {
    std::printf("%s\n", line.c_str());
    std::printf(
        "forward   %10.3f ms  = indexer %.3f ms (%.1f GFLOP/s) + top-k %.3f ms + sparse attention "
        "%.3f ms (%.1f GFLOP/s)  (medians of %d)\n",
        median(total), median(scores), indexer_flops / (median(scores) * 1e6), median(topk),
        median(attention), attn_flops / (median(attention) * 1e6), run.repeat);
    if (!bwd.empty())
      std::printf("backward  %10.3f ms  (sparse attention only; median of %d)\n", median(bwd),
                  run.repeat);
    std::printf("selection %lld of %lld visible pairs per head (%.2f%%)\n",
                static_cast<long long>(pairs), static_cast<long long>(dense.visible_pairs),
                100.0 * double(pairs) / double(std::max<int64_t>(1, dense.visible_pairs)));
    if (recall)
      std::printf("recall    int8 indexer top-k vs float32 indexer top-k: %.4f\n", *recall);
    std::printf("memory    peak RSS %s, library workspace peak %s\n",
                format_bytes(double(peak_rss_bytes())).c_str(),
                format_bytes(double(workspace_bytes_peak())).c_str());
  }

  int exit_code = 0;
  if (run.check) {
    std::fprintf(stderr,
                 "longctx attn: checking against the float64 oracle on the selected keys...\n");
    const CheckResult r = check_dsa(c, run.check_rows, a.seed + 1, run.backward);
    add_check_json(r, j);
    if (!run.json) {
      std::printf(
          "check     max relative error vs the float64 oracle on the same selected keys (%lld "
          "query rows%s)\n",
          static_cast<long long>(r.rows_checked), r.full_gradients ? "; dK, dV on all keys" : "");
      print_check_errors(r);
    }
    if (!r.passed()) exit_code = 1;
  }
  if (run.json) std::printf("%s\n", j.dump(2).c_str());
  return exit_code;
}

}  // namespace

void add_dsa_flags(CLI::App& app, DsaFlags& f) {
  app.add_option("--topk", f.top_k, "dsa: keys selected per query (all visible keys when fewer)");
  app.add_option("--indexer-heads", f.indexer_heads, "dsa: lightning indexer heads H_I");
  app.add_option("--indexer-dim", f.indexer_dim,
                 "dsa: lightning indexer head dim d_I (a multiple of 32 in [32, 256])");
  app.add_option("--indexer-groups", f.indexer_groups,
                 "dsa: selections per token: 1 (shared by all heads) or G (one per KV head)");
  app.add_flag("--quantized", f.quantized,
               "dsa: int8 indexer (per-32-block scales); reports its top-k recall vs float32");
}

std::optional<int> maybe_run_dsa(const CLI::App& app, const std::string& mask,
                                 const AttnConfig& config, const DsaRunFlags& run,
                                 const DsaFlags& flags) {
  if (mask != "dsa") {
    for (const char* flag :
         {"--topk", "--indexer-heads", "--indexer-dim", "--indexer-groups", "--quantized"})
      LONGCTX_CHECK_ARG(app.count(flag) == 0, flag, "--mask dsa", "--mask " << mask);
    return std::nullopt;
  }
  return run_dsa_attn(config, run, flags);
}

}  // namespace longctx::app
