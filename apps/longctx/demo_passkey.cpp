// Demo section of issue 8: passkey retrieval (SPEC §7) by the small model shipped in
// train/passkey_model (trained by `longctx train`, command in its train_command.txt): dense
// attention inside and beyond its training length, YaRN beyond it, a sliding window, and the
// sparse selections (DSA, topk-exact) with k far below the prompt length.
#include <filesystem>

#include "demo_sections.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/model/rope_override.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/model/tokenizer.hpp"
#include "longctx/train/passkey_eval.hpp"

namespace longctx::app {
namespace {

struct PasskeyRow {
  const char* what;
  const char* schedule;
  const char* rope_scaling;  // "" keeps the config's
  std::vector<int64_t> lengths;
  double expect = 0.0;  // the row fails below this accuracy (0: reported only)
};

}  // namespace

void run_passkey(DemoContext& ctx) {
  const std::filesystem::path dir =
      std::filesystem::path(LONGCTX_SOURCE_DIR) / "train/passkey_model";
  if (!std::filesystem::exists(dir / "config.json")) {
    DemoRow row;
    row.section = "passkey retrieval";
    row.what = "shipped model";
    row.note = "skipped: no model at " + dir.string();
    ctx.add(row);
    return;
  }
  const model::ModelConfig base = model::load_model_config(dir);
  const model::DecoderWeights weights =
      model::load_decoder_weights(model::Checkpoint::open(dir), base);
  const auto tokenizer = model::make_byte_tokenizer();
  const int64_t trained = base.max_position_embeddings;
  const bool quick = ctx.settings().quick;
  // The model's second layer is the one that retrieves: the sparse rows make it attend to k
  // keys of 384 (the first layer stays dense).
  const std::vector<PasskeyRow> rows{
      {"dense, inside training length", "dense", "", {300, trained}, 0.9},
      {"dense, beyond training length", "dense", "", {2 * trained}, 0.0},
      {"yarn:2, beyond training length", "dense", "yarn:2", {trained * 4 / 3, 2 * trained}, 0.0},
      {"window:128", "window:128", "", {300, trained}, 0.0},
      {"dsa:16 in layer 2", "dense;dsa:16", "", {300, trained}, 0.9},
      {"topk-exact:8 in layer 2", "dense;topk-exact:8", "", {300, trained}, 0.9},
  };
  for (const PasskeyRow& r : rows) {
    DemoRow row;
    row.section = "passkey retrieval";
    row.what = r.what;
    row.tokens = r.lengths.back();
    model::ModelConfig config = base;
    if (*r.rope_scaling) model::apply_rope_scaling_override(config, r.rope_scaling);
    train::PasskeyEvalOptions o;
    o.lengths = r.lengths;
    o.depths = quick ? std::vector<double>{0, 50, 100}
                     : std::vector<double>{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
    o.trials = quick ? 1 : 4;
    o.seed = ctx.next_seed();
    model::DecoderOptions d;
    d.threads = ctx.settings().threads;
    reset_peak_rss();
    Stopwatch clock;
    const train::PasskeyEvalResult res = train::evaluate_passkey_model(
        config, weights, model::parse_attention_schedule(r.schedule, config), *tokenizer, o, d);
    row.ms = clock.elapsed_ms();
    row.peak_rss_bytes = peak_rss_bytes();
    row.passed = res.accuracy() >= r.expect;
    char note[200];
    std::snprintf(note, sizeof note,
                  "accuracy %.2f (%lld of %lld) over %zu depths; trained at %lld", res.accuracy(),
                  static_cast<long long>(res.found), static_cast<long long>(res.trials),
                  o.depths.size(), static_cast<long long>(trained));
    row.note = note;
    if (r.expect > 0) row.note += ", expected >= 0.9";
    ctx.add(row);
  }
}

}  // namespace longctx::app
