// Saves a trained decoder as a Hugging Face checkpoint directory: config.json,
// model.safetensors (float32) and generation_config.json, each staged then renamed.
#include <nlohmann/json.hpp>

#include "checkpoint_files.hpp"
#include "longctx/core/error.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/train/checkpoint.hpp"

namespace longctx::train {
namespace {

// The checks that make a saved checkpoint loadable again; load_decoder_weights checks the
// per-layer shapes against the config when it reads the file back.
void check_weights_fit(const model::ModelConfig& c, const model::DecoderWeights& w) {
  LONGCTX_CHECK_ARG(int64_t(w.layers.size()) == c.num_layers, "weights",
                    c.num_layers << " layers (num_layers)", w.layers.size() << " layers");
  LONGCTX_CHECK_ARG(int64_t(w.final_norm.size()) == c.hidden_size, "weights",
                    "a final norm of " << c.hidden_size << " values (hidden_size)",
                    w.final_norm.size());
  LONGCTX_CHECK_ARG(int64_t(w.embed.size()) == c.vocab_size * c.hidden_size, "weights",
                    "an embedding of " << c.vocab_size << " x " << c.hidden_size << " values",
                    w.embed.size() << " values");
  const int64_t head = int64_t(w.lm_head.size());
  LONGCTX_CHECK_ARG(c.tie_word_embeddings ? head == 0 : head == c.vocab_size * c.hidden_size,
                    "weights",
                    (c.tie_word_embeddings ? "no LM head (tie_word_embeddings)"
                                           : "an LM head of vocab_size x hidden_size values"),
                    "an LM head of " << head << " values");
}

std::string generation_config_json(const model::ModelConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  j["_from_model_config"] = true;
  const auto ids = [](const std::vector<int32_t>& v) -> nlohmann::json {
    if (v.empty()) return nullptr;
    if (v.size() == 1) return v[0];
    return v;
  };
  j["bos_token_id"] = ids(c.bos_token_ids);
  j["eos_token_id"] = ids(c.eos_token_ids);
  return j.dump(2) + "\n";
}

}  // namespace

void save_model_checkpoint(const std::filesystem::path& dir, const model::ModelConfig& config,
                           const model::DecoderWeights& weights) {
  check_weights_fit(config, weights);
  model::ModelConfig saved = config;
  saved.weight_dtype = DType::f32;  // the tensors below are written as float32
  const std::string config_text = model_config_json(saved);  // throws before anything is written

  std::vector<model::TensorToSave> tensors;
  for (const model::ConstNamedParameter& p : model::named_parameters(weights))
    tensors.push_back({p.name, p.shape, p.values->data(), DType::f32});

  detail::StagedFiles files(dir);
  model::save_safetensors(files.stage("model.safetensors"), tensors);
  files.write_text("generation_config.json", generation_config_json(saved));
  files.write_text("config.json", config_text);  // renamed last: it marks a complete checkpoint
  files.commit();
}

}  // namespace longctx::train
