// Model runtime benchmark (issue 7): prefill and decode tokens/s of a ~100M-parameter Llama
// config (random weights) at given context lengths, per attention schedule, with the KV-cache
// memory of each schedule, and the prefill rate as GFLOP/s ÷ sgemm GFLOP/s measured in the
// same run. Prints a table, or JSON with --json.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "cli_parse.hpp"
#include "gemm_baseline.hpp"
#include "longctx/model/decoder.hpp"
#include "longctx/model/presets.hpp"

using namespace longctx;
using namespace longctx::model;

namespace {

// Forward FLOPs of the prompt: projections and MLP (2 per multiply-add) plus attention's
// q·k and p·v over the pairs the schedule visits (dense causal: T²/2 per head).
double linear_flops(const ModelConfig& c, int64_t tokens) {
  const double d = double(c.hidden_size), hd = double(c.head_dim);
  const double per_token =
      2.0 * (d * hd * double(c.num_heads) * 2 + d * hd * double(c.num_kv_heads) * 2 +
             3.0 * d * double(c.intermediate_size));
  return per_token * double(tokens) * double(c.num_layers) + 2.0 * d * double(c.vocab_size);
}

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Prefill / decode tokens per second of a ~100M Llama per attention schedule"};
  std::vector<int64_t> lengths{4096, 32768};
  std::vector<std::string> schedules{"dense", "window:4096", "dsa:2048"};
  int threads = 2, decode_steps = 16;
  bool json = false;
  app.add_option("--seq", lengths, "context lengths (prompt tokens)");
  app.add_option("--schedules", schedules, "attention schedules (longctx run --attention syntax)");
  app.add_option("--threads", threads, "threads")->check(CLI::PositiveNumber);
  app.add_option("--decode", decode_steps, "decode steps timed after each prefill")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "JSON output");
  if (auto code = app::parse_command_line(app, "model_bench", argc, argv)) return *code;
  omp_set_num_threads(threads);

  const ModelConfig config = llama_100m_config();
  const DecoderWeights weights = random_decoder_weights(config, 1);
  const app::GemmResult gemm = app::measure_sgemm(2048, threads, 5);
  nlohmann::json rows = nlohmann::json::array();
  std::fprintf(stderr, "~%.0fM parameters, %d threads, sgemm %.1f GFLOP/s (%s)\n",
               double(weights.parameter_count()) / 1e6, threads, gemm.gflops, gemm.blas.c_str());
  std::printf("%-8s %-14s %12s %12s %12s %14s %12s\n", "tokens", "schedule", "prefill tok/s",
              "decode tok/s", "decode ms", "KV cache MiB", "lin÷sgemm");
  for (int64_t n : lengths) {
    std::mt19937 gen(7);
    std::vector<int32_t> prompt(static_cast<size_t>(n));
    for (auto& t : prompt) t = int32_t(gen() % uint32_t(config.vocab_size));
    for (const std::string& s : schedules) {
      DecoderOptions options;
      options.threads = threads;
      options.prefill_chunk = 2048;
      Decoder decoder(config, weights, parse_attention_schedule(s, config), options);
      decoder.reset(n + decode_steps);
      const double prefill_s = seconds_of([&] { decoder.forward(prompt, false); });
      std::vector<double> step_s;
      int32_t token = 1;
      for (int i = 0; i < decode_steps; ++i)
        step_s.push_back(
            seconds_of([&] { decoder.forward(std::span<const int32_t>(&token, 1), false); }));
      std::sort(step_s.begin(), step_s.end());
      const double decode_median = step_s[step_s.size() / 2];
      // Share of sgemm's rate reached by the prompt's dense-layer FLOPs alone (a lower bound on
      // how busy the cores are; attention FLOPs are schedule-dependent and left out).
      const double lin_ratio = linear_flops(config, n) / prefill_s / 1e9 / gemm.gflops;
      const double kv_mib = double(decoder.kv_cache_bytes()) / (1 << 20);
      std::printf("%-8lld %-14s %12.1f %12.2f %12.1f %14.1f %12.2f\n", static_cast<long long>(n),
                  s.c_str(), double(n) / prefill_s, 1.0 / decode_median, decode_median * 1e3,
                  kv_mib, lin_ratio);
      std::fflush(stdout);
      rows.push_back({{"tokens", n},
                      {"schedule", s},
                      {"prefill_seconds", prefill_s},
                      {"prefill_tokens_per_second", double(n) / prefill_s},
                      {"decode_ms_median", decode_median * 1e3},
                      {"decode_tokens_per_second", 1.0 / decode_median},
                      {"kv_cache_bytes", decoder.kv_cache_bytes()},
                      {"linear_flops_over_sgemm", lin_ratio}});
    }
  }
  if (json)
    std::printf("%s\n", nlohmann::json{{"threads", threads},
                                       {"sgemm_gflops", gemm.gflops},
                                       {"parameters", weights.parameter_count()},
                                       {"rows", rows}}
                            .dump(1)
                            .c_str());
  return 0;
}
