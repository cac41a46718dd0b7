// Demo section of issue 7: the model runtime. Runs every transformers-made fixture checkpoint
// (model/fixtures) and compares the prompt logits with transformers' own, then times prefill and
// decoding of a ~100M-parameter Llama (random weights) with dense and windowed attention.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "demo_sections.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/model/decoder.hpp"
#include "longctx/model/logits_file.hpp"
#include "longctx/model/presets.hpp"

namespace longctx::app {
namespace {

void run_fixture_parity(DemoContext& ctx) {
  const std::filesystem::path dir = std::filesystem::path(LONGCTX_SOURCE_DIR) / "model/fixtures";
  DemoRow row;
  row.section = "model runtime";
  row.what = "HF parity, 8 models";
  if (!std::filesystem::exists(dir / "manifest.json")) {
    row.note = "skipped: fixtures not found at " + dir.string();
    ctx.add(row);
    return;
  }
  std::ifstream in(dir / "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  reset_peak_rss();  // this row's peak, not the earlier sections'
  Stopwatch clock;
  double worst = 0.0;
  for (const auto& entry : manifest["models"]) {
    const auto model_dir = dir / entry["dir"].get<std::string>();
    const model::ModelConfig config = model::load_model_config(model_dir);
    const model::Checkpoint ckpt = model::Checkpoint::open(model_dir);
    const model::DecoderWeights weights = model::load_decoder_weights(ckpt, config);
    model::Decoder decoder(config, weights, model::schedule_from_config(config));
    const auto tokens = entry["tokens"].get<std::vector<int32_t>>();
    decoder.reset(int64_t(tokens.size()));
    const std::vector<float> got = decoder.forward(tokens, true);
    const std::vector<float> want =
        model::read_logits_f32(dir / entry["logits"].get<std::string>());
    worst = std::max(worst, model::logits_relative_error(got, want));
    row.tokens += int64_t(tokens.size());
  }
  row.ms = clock.elapsed_ms();
  row.max_error = worst;
  row.tolerance = 1e-4;
  row.passed = worst <= 1e-4;
  row.peak_rss_bytes = peak_rss_bytes();
  row.note = "max rel err of logits vs transformers " +
             manifest["versions"]["transformers"].get<std::string>();
  ctx.add(row);
}

void run_generation_speed(DemoContext& ctx) {
  const model::ModelConfig config = model::llama_100m_config();
  const int64_t n = ctx.settings().quick ? 256 : 4096, decode_steps = ctx.settings().quick ? 2 : 8;
  // ~2·params FLOPs per token for the dense layers at ~50 GFLOP/s per thread.
  const double estimate_s = 2.0 * 1.25e8 * double(n) * 2 / (50e9 * ctx.settings().threads);
  const model::DecoderWeights weights = model::random_decoder_weights(config, ctx.next_seed());
  std::mt19937 gen(uint32_t(ctx.next_seed()));
  std::vector<int32_t> prompt(static_cast<size_t>(n));
  for (auto& t : prompt) t = int32_t(gen() % uint32_t(config.vocab_size));
  for (const char* schedule : {"dense", "window:1024"}) {
    DemoRow row;
    row.section = "model runtime";
    row.what = std::string("~125M Llama ") + schedule;
    row.tokens = n;
    if (!ctx.fits_budget(estimate_s)) {
      row.note = "skipped: time budget";
      ctx.add(row);
      continue;
    }
    reset_peak_rss();
    model::DecoderOptions options;
    options.threads = ctx.settings().threads;
    model::Decoder decoder(config, weights, model::parse_attention_schedule(schedule, config),
                           options);
    decoder.reset(n + decode_steps);
    Stopwatch prefill;
    decoder.forward(prompt, false);
    row.ms = prefill.elapsed_ms();
    Stopwatch decode;
    const int32_t token = 1;
    for (int64_t i = 0; i < decode_steps; ++i)
      decoder.forward(std::span<const int32_t>(&token, 1), false);
    const double decode_ms = decode.elapsed_ms() / double(decode_steps);
    row.peak_rss_bytes = peak_rss_bytes();
    char note[160];
    std::snprintf(note, sizeof note, "prefill %.0f tok/s, decode %.1f tok/s, KV cache %.1f MiB",
                  double(n) / (row.ms / 1e3), 1e3 / decode_ms,
                  double(decoder.kv_cache_bytes()) / (1 << 20));
    row.note = note;
    ctx.add(row);
  }
}

}  // namespace

void run_model_runtime(DemoContext& ctx) {
  run_fixture_parity(ctx);
  run_generation_speed(ctx);
}

}  // namespace longctx::app
