// attn_vs_gemm: the performance target of issue 2 measured in one process. Times OpenBLAS sgemm
// (before and after the attention runs; the faster of the two is the yardstick), then the
// attention forward and backward for every (dtype, mask) pair at d = 128, N = 8192, and prints
// GFLOP/s (visible pairs only, SPEC §1) and the ratios to the GEMM rate. Medians of repeats;
// a second table uses the fastest repeat of each, which on a shared machine is the better
// estimate of the undisturbed rate (other processes only ever make a run slower).
//   build/bin/attn_vs_gemm --threads 2            # the table of docs/PERF.md
//   build/bin/attn_vs_gemm --threads 2 --json     # one JSON object
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
#include "gemm_baseline.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/threads.hpp"
#include "longctx/core/timer.hpp"

namespace {

using namespace longctx;
using namespace longctx::app;

struct Options {
  int threads = 0;
  int64_t seq = 8192;
  int64_t heads = 4;
  int64_t dim = 128;
  int64_t batch = 1;
  int repeat = 3;
  int64_t gemm_size = 2048;
  std::vector<std::string> dtypes{"f32", "bf16"};
  std::vector<std::string> masks{"causal", "full"};
  bool backward = true;
  bool json = false;
};

struct Timing {
  double median_ms = 0, best_ms = 0;
};

struct Row {
  std::string dtype, mask;
  double fwd_flops = 0, bwd_flops = 0;
  Timing fwd, bwd;
  int64_t peak_rss = 0;
  double fwd_gflops() const { return fwd_flops / (fwd.median_ms * 1e6); }
  double bwd_gflops() const { return bwd_flops / (bwd.median_ms * 1e6); }
  double fwd_best_gflops() const { return fwd_flops / (fwd.best_ms * 1e6); }
  double bwd_best_gflops() const { return bwd_flops / (bwd.best_ms * 1e6); }
};

Timing time_runs(int repeat, const std::function<double()>& run) {
  run();  // warm-up
  std::vector<double> ms;
  for (int r = 0; r < repeat; ++r) ms.push_back(run());
  return {median(ms), *std::min_element(ms.begin(), ms.end())};
}

Row measure(const Options& o, const std::string& dtype, const std::string& mask) {
  AttnConfig c;
  c.batch = o.batch;
  c.seq = o.seq;
  c.heads = o.heads;
  c.dim = o.dim;
  c.mask = mask == "causal" ? MaskKind::causal : MaskKind::full;
  c.dtype = parse_dtype(dtype, "--dtypes");
  c.threads = o.threads;
  c.seed = 2024;
  AttnCase a(c);
  const FlopCount flops = attention_flops(a.config());
  Row row;
  row.dtype = dtype;
  row.mask = mask;
  row.fwd_flops = flops.forward;
  row.bwd_flops = flops.backward;
  row.fwd = time_runs(o.repeat, [&] { return a.run_forward(); });
  if (o.backward) row.bwd = time_runs(o.repeat, [&] { return a.run_backward(); });
  row.peak_rss = peak_rss_bytes();
  std::fprintf(stderr, "  %-5s %-7s fwd %8.1f ms %7.1f GFLOP/s   bwd %8.1f ms %7.1f GFLOP/s\n",
               dtype.c_str(), mask.c_str(), row.fwd.median_ms, row.fwd_gflops(), row.bwd.median_ms,
               o.backward ? row.bwd_gflops() : 0.0);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"attention forward/backward GFLOP/s against OpenBLAS sgemm, same threads, one run"};
  Options o;
  app.add_option("--threads", o.threads, "threads for attention and GEMM (0: all cores)")
      ->check(CLI::Range(0, 4096));
  app.add_option("--seq", o.seq, "sequence length N = M")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  app.add_option("--heads", o.heads, "heads H (= KV heads)")
      ->check(CLI::Range(int64_t(1), int64_t(1024)));
  app.add_option("--dim", o.dim, "head dim D = DV");
  app.add_option("--batch", o.batch, "batch B")->check(CLI::Range(int64_t(1), int64_t(1024)));
  app.add_option("--repeat", o.repeat, "timed repeats (median), after one warm-up")
      ->check(CLI::Range(1, 1000));
  app.add_option("--gemm-size", o.gemm_size, "n of the n^3 sgemm")
      ->check(CLI::Range(int64_t(64), int64_t(16384)));
  app.add_option("--dtypes", o.dtypes, "storage dtypes")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}))
      ->delimiter(',');
  app.add_option("--masks", o.masks, "masks")
      ->check(CLI::IsMember({"causal", "full"}))
      ->delimiter(',');
  app.add_flag("!--no-backward", o.backward, "forward only");
  app.add_flag("--json", o.json, "print one JSON object");
  if (std::optional<int> rc = longctx::app::parse_command_line(app, "attn_vs_gemm", argc, argv))
    return *rc;
  o.threads = resolve_threads(o.threads);
  try {
    std::fprintf(stderr, "attn_vs_gemm: %d threads, SIMD %s, B=%lld N=%lld H=%lld d=%lld\n",
                 o.threads, cpu::simd_target_name(), static_cast<long long>(o.batch),
                 static_cast<long long>(o.seq), static_cast<long long>(o.heads),
                 static_cast<long long>(o.dim));
    const GemmResult gemm_before = measure_sgemm(o.gemm_size, o.threads, std::max(o.repeat, 5));
    std::fprintf(stderr, "  sgemm %lld^3: %.1f GFLOP/s [%s]\n", static_cast<long long>(o.gemm_size),
                 gemm_before.gflops, gemm_before.blas.c_str());
    std::vector<Row> rows;
    for (const std::string& dtype : o.dtypes)
      for (const std::string& mask : o.masks) rows.push_back(measure(o, dtype, mask));
    const GemmResult gemm_after = measure_sgemm(o.gemm_size, o.threads, std::max(o.repeat, 5));
    std::fprintf(stderr, "  sgemm %lld^3 again: %.1f GFLOP/s\n",
                 static_cast<long long>(o.gemm_size), gemm_after.gflops);
    const double gemm = std::max(gemm_before.gflops, gemm_after.gflops);  // medians
    const double gemm_best = std::max(gemm_before.best_gflops, gemm_after.best_gflops);

    if (o.json) {
      nlohmann::json j;
      j["threads"] = o.threads;
      j["simd"] = cpu::simd_target_name();
      j["batch"] = o.batch;
      j["seq"] = o.seq;
      j["heads"] = o.heads;
      j["dim"] = o.dim;
      j["repeat"] = o.repeat;
      j["gemm_size"] = o.gemm_size;
      j["gemm_gflops"] = gemm;
      j["gemm_gflops_runs"] = {gemm_before.gflops, gemm_after.gflops};
      j["gemm_best_gflops"] = gemm_best;
      j["blas"] = gemm_before.blas;
      j["rows"] = nlohmann::json::array();
      for (const Row& r : rows) {
        nlohmann::json row{{"dtype", r.dtype},
                           {"mask", r.mask},
                           {"fwd_ms", r.fwd.median_ms},
                           {"fwd_gflops", r.fwd_gflops()},
                           {"fwd_vs_gemm", r.fwd_gflops() / gemm},
                           {"fwd_best_ms", r.fwd.best_ms},
                           {"fwd_best_vs_gemm_best", r.fwd_best_gflops() / gemm_best},
                           {"peak_rss_bytes", r.peak_rss}};
        if (o.backward) {
          row["bwd_ms"] = r.bwd.median_ms;
          row["bwd_gflops"] = r.bwd_gflops();
          row["bwd_vs_gemm"] = r.bwd_gflops() / gemm;
          row["bwd_best_ms"] = r.bwd.best_ms;
          row["bwd_best_vs_gemm_best"] = r.bwd_best_gflops() / gemm_best;
        }
        j["rows"].push_back(row);
      }
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("sgemm %lld^3, %d threads [%s]\n", static_cast<long long>(o.gemm_size), o.threads,
                gemm_before.blas.c_str());
    std::printf("  median %.1f GFLOP/s (before %.1f, after %.1f); fastest run %.1f GFLOP/s\n", gemm,
                gemm_before.gflops, gemm_after.gflops, gemm_best);
    std::printf("attention B=%lld N=%lld H=%lld d=%lld, SIMD %s, %d repeats after a warm-up\n",
                static_cast<long long>(o.batch), static_cast<long long>(o.seq),
                static_cast<long long>(o.heads), static_cast<long long>(o.dim),
                cpu::simd_target_name(), o.repeat);
    // One markdown table per statistic: medians (the convention), then fastest runs.
    for (const bool best : {false, true}) {
      const double g = best ? gemm_best : gemm;
      std::printf("\n%s\n\n",
                  best ? "fastest run of each (vs fastest sgemm):" : "medians (vs median sgemm):");
      std::printf(
          "| dtype | mask   | fwd ms | fwd GFLOP/s | fwd / GEMM | bwd ms | bwd GFLOP/s |"
          " bwd / GEMM |\n");
      std::printf(
          "|-------|--------|-------:|------------:|-----------:|-------:|------------:|"
          "-----------:|\n");
      for (const Row& r : rows) {
        const double fwd = best ? r.fwd_best_gflops() : r.fwd_gflops();
        std::printf("| %-5s | %-6s | %6.1f | %11.1f | %10.2f |", r.dtype.c_str(), r.mask.c_str(),
                    best ? r.fwd.best_ms : r.fwd.median_ms, fwd, fwd / g);
        if (o.backward) {
          const double bwd = best ? r.bwd_best_gflops() : r.bwd_gflops();
          std::printf(" %6.1f | %11.1f | %10.2f |\n", best ? r.bwd.best_ms : r.bwd.median_ms, bwd,
                      bwd / g);
        } else {
          std::printf(" - | - | - |\n");
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attn_vs_gemm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
