// sparse_masks: the performance targets of issue 3 for the masks measured in one process.
//   1. Sliding window (W = 4096, causal) against dense causal at the same N (default 65536):
//      the window's share of the causal pairs, and its time as a fraction of the dense time
//      (target: time ratio <= 1.5 × pair share).
//   2. LongNet dilated attention (w = 2048..32768, r = 1..12) at N, 2N, 4N (default 32K..128K):
//      time(2N) / time(N) (target <= 2.3: the cost is Σ N·w/r², linear in N).
// Medians of --repeat runs after one warm-up; also the fastest run (on a shared machine the
// better estimate of the undisturbed time).
//   build/bin/sparse_masks --threads 2             # the tables of docs/PERF.md
//   build/bin/sparse_masks --threads 2 --json      # one JSON object
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attn_case.hpp"
#include "cli_parse.hpp"
#include "cpu/cpu_attention.hpp"
#include "longctx/core/threads.hpp"
#include "longctx/core/timer.hpp"

namespace {

using namespace longctx;
using namespace longctx::app;

struct Options {
  int threads = 0;
  int64_t seq = 65536;  // sliding window vs dense causal
  int64_t window = 4096;
  int64_t window_heads = 1;
  std::vector<int64_t> dilated_seqs{32768, 65536, 131072};
  int64_t dilated_heads = 4;
  int64_t dim = 128;
  int repeat = 3;
  bool backward = false;
  bool json = false;
};

struct Timing {
  double median_ms = 0, best_ms = 0;
};

Timing time_runs(int repeat, const std::function<double()>& run) {
  run();  // warm-up
  std::vector<double> ms;
  for (int r = 0; r < repeat; ++r) ms.push_back(run());
  return {median(ms), *std::min_element(ms.begin(), ms.end())};
}

AttnConfig base_config(const Options& o, int64_t n, int64_t heads) {
  AttnConfig c;
  c.seq = c.seq_k = n;
  c.heads = c.kv_heads = heads;
  c.dim = c.dim_v = o.dim;
  c.mask = MaskKind::causal;
  c.threads = o.threads;
  c.seed = 2026;
  return c;
}

struct Measured {
  int64_t pairs = 0;  // visible (computed) pairs per head
  Timing fwd, bwd;
};

Measured measure(const Options& o, const AttnConfig& config, const char* label) {
  AttnCase a(config);
  Measured m;
  m.pairs = attention_flops(a.config()).visible_pairs;
  m.fwd = time_runs(o.repeat, [&] { return a.run_forward(); });
  if (o.backward) m.bwd = time_runs(o.repeat, [&] { return a.run_backward(); });
  std::fprintf(stderr, "  %-34s N=%-7lld fwd %9.1f ms (best %9.1f)", label,
               static_cast<long long>(config.seq), m.fwd.median_ms, m.fwd.best_ms);
  if (o.backward)
    std::fprintf(stderr, "  bwd %9.1f ms (best %9.1f)", m.bwd.median_ms, m.bwd.best_ms);
  std::fprintf(stderr, "\n");
  return m;
}

nlohmann::json timing_json(const Timing& t) {
  return {{"median_ms", t.median_ms}, {"best_ms", t.best_ms}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sparse masks: sliding window vs dense causal, dilated scaling in N (one run)"};
  Options o;
  app.add_option("--threads", o.threads, "threads (0: all cores)")->check(CLI::Range(0, 4096));
  app.add_option("--seq", o.seq, "N of the sliding-window vs dense-causal comparison")
      ->check(CLI::Range(int64_t(1024), int64_t(1) << 22));
  app.add_option("--window", o.window, "window W (keys q-W..q)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 22));
  app.add_option("--window-heads", o.window_heads, "heads of the window comparison")
      ->check(CLI::Range(int64_t(1), int64_t(256)));
  app.add_option("--dilated-seqs", o.dilated_seqs, "lengths of the dilated sweep")
      ->delimiter(',')
      ->check(CLI::Range(int64_t(1024), int64_t(1) << 22));
  app.add_option("--dilated-heads", o.dilated_heads, "heads of the dilated sweep")
      ->check(CLI::Range(int64_t(1), int64_t(256)));
  app.add_option("--dim", o.dim, "head dim D = DV");
  app.add_option("--repeat", o.repeat, "timed repeats (median), after one warm-up")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--backward", o.backward, "also time the backward passes");
  app.add_flag("--json", o.json, "print one JSON object");
  if (std::optional<int> rc = longctx::app::parse_command_line(app, "sparse_masks", argc, argv))
    return *rc;
  o.threads = resolve_threads(o.threads);
  try {
    std::fprintf(stderr, "sparse_masks: %d threads, SIMD %s, d=%lld, %d repeats\n", o.threads,
                 cpu::simd_target_name(), static_cast<long long>(o.dim), o.repeat);
    nlohmann::json j;
    j["threads"] = o.threads;
    j["simd"] = cpu::simd_target_name();
    j["dim"] = o.dim;
    j["repeat"] = o.repeat;

    // 1. Sliding window vs dense causal, same N, same heads.
    AttnConfig window = base_config(o, o.seq, o.window_heads);
    window.window = Window{o.window, 0};
    const Measured w = measure(o, window, "sliding window (causal)");
    const Measured d = measure(o, base_config(o, o.seq, o.window_heads), "dense causal");
    const double share = double(w.pairs) / double(d.pairs);
    const double fwd_ratio = w.fwd.median_ms / d.fwd.median_ms;
    j["window"] = {{"seq", o.seq},
                   {"window", o.window},
                   {"heads", o.window_heads},
                   {"pair_share", share},
                   {"window_fwd", timing_json(w.fwd)},
                   {"causal_fwd", timing_json(d.fwd)},
                   {"fwd_time_ratio", fwd_ratio},
                   {"fwd_ratio_over_share", fwd_ratio / share}};
    if (o.backward) {
      j["window"]["window_bwd"] = timing_json(w.bwd);
      j["window"]["causal_bwd"] = timing_json(d.bwd);
      j["window"]["bwd_time_ratio"] = w.bwd.median_ms / d.bwd.median_ms;
    }

    // 2. Dilated (LongNet settings) at growing N.
    nlohmann::json sweep = nlohmann::json::array();
    double prev_fwd = 0, prev_bwd = 0;
    for (int64_t n : o.dilated_seqs) {
      AttnConfig c = base_config(o, n, o.dilated_heads);
      sparse::DilatedSpec spec;
      spec.patterns = sparse::longnet_patterns();
      c.dilated = spec;
      const Measured m = measure(o, c, "dilated (LongNet w/r)");
      nlohmann::json row = {{"seq", n}, {"pairs_per_head", m.pairs}, {"fwd", timing_json(m.fwd)}};
      if (prev_fwd > 0) row["fwd_growth"] = m.fwd.median_ms / prev_fwd;
      if (o.backward) {
        row["bwd"] = timing_json(m.bwd);
        if (prev_bwd > 0) row["bwd_growth"] = m.bwd.median_ms / prev_bwd;
      }
      prev_fwd = m.fwd.median_ms;
      prev_bwd = m.bwd.median_ms;
      sweep.push_back(row);
    }
    j["dilated"] = {{"heads", o.dilated_heads}, {"rows", sweep}};

    if (o.json) {
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf(
        "sliding window W=%lld causal vs dense causal, N=%lld, H=%lld, d=%lld, %d threads\n",
        static_cast<long long>(o.window), static_cast<long long>(o.seq),
        static_cast<long long>(o.window_heads), static_cast<long long>(o.dim), o.threads);
    std::printf(
        "  window %.1f ms, dense causal %.1f ms (medians): time ratio %.3f, pair share "
        "%.3f, ratio / share %.2f (target <= 1.5)\n",
        w.fwd.median_ms, d.fwd.median_ms, fwd_ratio, share, fwd_ratio / share);
    if (o.backward)
      std::printf("  backward: window %.1f ms, dense causal %.1f ms: time ratio %.3f\n",
                  w.bwd.median_ms, d.bwd.median_ms, w.bwd.median_ms / d.bwd.median_ms);
    std::printf("dilated, LongNet w = 2048..32768, r = 1..12, H=%lld\n",
                static_cast<long long>(o.dilated_heads));
    std::printf("  %8s %14s %12s %10s", "N", "pairs/head", "fwd ms", "growth");
    if (o.backward) std::printf(" %12s %10s", "bwd ms", "growth");
    std::printf("\n");
    for (const nlohmann::json& row : sweep) {
      std::printf("  %8lld %14lld %12.1f %10s", static_cast<long long>(row["seq"].get<int64_t>()),
                  static_cast<long long>(row["pairs_per_head"].get<int64_t>()),
                  row["fwd"]["median_ms"].get<double>(),
                  row.contains("fwd_growth")
                      ? fmt::format("{:.2f}", row["fwd_growth"].get<double>()).c_str()
                      : "-");
      if (o.backward)
        std::printf(" %12.1f %10s", row["bwd"]["median_ms"].get<double>(),
                    row.contains("bwd_growth")
                        ? fmt::format("{:.2f}", row["bwd_growth"].get<double>()).c_str()
                        : "-");
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sparse_masks: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
