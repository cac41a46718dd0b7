// Demo section of issue 8: passkey retrieval (SPEC §7) by the small models shipped in
// train/passkey_model and train/passkey_model_dsa (trained by `longctx train`, commands in their
// train_command.txt): dense
// attention inside and beyond its training length, YaRN beyond it, a sliding window, and the
// sparse selections (DSA, topk-exact) with k far below the prompt length.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "demo_sections.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/model/rope_override.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/model/tokenizer.hpp"
#include "longctx/train/passkey_eval.hpp"

namespace longctx::app {
namespace {

struct PasskeyRow {
  const char* model;  // directory under train/
  const char* what;
  const char* schedule;
  const char* rope_scaling;  // "" keeps the config's
  std::vector<int64_t> lengths;
  double expect = 0.0;  // the row fails below this accuracy (0: reported only)
};

struct ShippedModel {
  model::ModelConfig config;
  model::DecoderWeights weights;
};

// A model directory under train/, or nullopt when it is missing.
std::optional<ShippedModel> load_shipped(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(LONGCTX_SOURCE_DIR) / "train" / name;
  if (!std::filesystem::exists(dir / "config.json")) return std::nullopt;
  ShippedModel m;
  m.config = model::load_model_config(dir);
  m.weights = model::load_decoder_weights(model::Checkpoint::open(dir), m.config);
  return m;
}

}  // namespace

void run_passkey(DemoContext& ctx) {
  std::map<std::string, std::optional<ShippedModel>> models;
  for (const char* name : {"passkey_model", "passkey_model_dsa"}) models[name] = load_shipped(name);
  const auto tokenizer = model::make_byte_tokenizer();
  const int64_t trained = 384;  // max_position_embeddings of both shipped models
  const bool quick = ctx.settings().quick;
  // The models' second layer is the one that retrieves: the sparse rows make it attend to k
  // keys of 384 (the first layer stays dense). passkey_model_dsa adds a trained lightning
  // indexer to that layer.
  const std::vector<PasskeyRow> rows{
      {"passkey_model", "dense, inside training length", "dense", "", {300, trained}, 0.9},
      {"passkey_model", "dense, beyond training length", "dense", "", {2 * trained}, 0.0},
      {"passkey_model",
       "yarn:2, beyond training length",
       "dense",
       "yarn:2",
       {trained * 4 / 3, 2 * trained},
       0.0},
      {"passkey_model", "window:128", "window:128", "", {300, trained}, 0.0},
      {"passkey_model", "dsa:16 in layer 2", "dense;dsa:16", "", {300, trained}, 0.9},
      {"passkey_model", "topk-exact:8 in layer 2", "dense;topk-exact:8", "", {300, trained}, 0.9},
      {"passkey_model_dsa", "dsa:8 trained indexer", "dense;dsa:8", "", {300, trained}, 0.8},
  };
  for (const PasskeyRow& r : rows) {
    DemoRow row;
    row.section = "passkey retrieval";
    row.what = r.what;
    row.tokens = r.lengths.back();
    const std::optional<ShippedModel>& m = models.at(r.model);
    if (!m) {
      row.note = std::string("skipped: no model at train/") + r.model;
      ctx.add(row);
      continue;
    }
    model::ModelConfig config = m->config;
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
        config, m->weights, model::parse_attention_schedule(r.schedule, config), *tokenizer, o, d);
    row.ms = clock.elapsed_ms();
    row.peak_rss_bytes = peak_rss_bytes();
    // --quick asks 6 questions per row: too few to hold a row to its expectation.
    row.passed = quick || res.accuracy() >= r.expect;
    char note[200];
    std::snprintf(note, sizeof note,
                  "accuracy %.2f (%lld of %lld) over %zu depths; trained at %lld", res.accuracy(),
                  static_cast<long long>(res.found), static_cast<long long>(res.trials),
                  o.depths.size(), static_cast<long long>(trained));
    row.note = note;
    if (r.expect > 0 && !quick)
      row.note += ", expected >= " + std::to_string(r.expect).substr(0, 3);
    ctx.add(row);
  }
}

}  // namespace longctx::app
