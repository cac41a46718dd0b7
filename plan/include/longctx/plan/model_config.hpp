// Transformer shapes the planner reasons about: built-in LLaMA-family configs and any Hugging Face
// config.json. Parameter counts follow the LLaMA block (GQA attention without biases, SwiGLU MLP,
// two RMSNorms per layer, a final RMSNorm, input embedding and an optional separate LM head).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace longctx::plan {

struct ModelConfig {
  std::string name;
  int64_t hidden = 0;        // h
  int64_t layers = 0;        // L
  int64_t heads = 0;         // a, query heads
  int64_t kv_heads = 0;      // g, key/value heads (g == a: MHA; g < a: GQA)
  int64_t head_dim = 0;      // d (h / a unless the config says otherwise)
  int64_t intermediate = 0;  // f, SwiGLU inner width
  int64_t vocab = 0;         // V
  bool tied_embeddings = false;
  int64_t max_positions = 0;  // the trained context (informational)

  int64_t q_width() const { return heads * head_dim; }      // a·d
  int64_t kv_width() const { return kv_heads * head_dim; }  // g·d
};

// Parameter counts of one model (not sharded).
struct ParamCounts {
  int64_t attention_per_layer = 0;  // Wq, Wk, Wv, Wo
  int64_t mlp_per_layer = 0;        // gate, up, down
  int64_t norms_per_layer = 0;      // two RMSNorm weights
  int64_t embedding = 0;            // V·h
  int64_t lm_head = 0;              // V·h, 0 when tied
  int64_t final_norm = 0;           // h
  int64_t per_layer() const { return attention_per_layer + mlp_per_layer + norms_per_layer; }
  int64_t total(int64_t layers) const {
    return layers * per_layer() + embedding + lm_head + final_norm;
  }
};

ParamCounts count_params(const ModelConfig& m);

// Names accepted by find_builtin_model (lower case, e.g. "llama-2-7b").
std::vector<std::string> builtin_model_names();

// Throws ArgumentError("--model", ...) listing the built-in names when `name` is unknown.
ModelConfig find_builtin_model(const std::string& name);

// Reads a Hugging Face config.json (hidden_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, intermediate_size, vocab_size, tie_word_embeddings, head_dim,
// max_position_embeddings). Throws ArgumentError naming `argument` on a missing or bad field.
ModelConfig load_hf_config(const std::string& path, const std::string& argument = "--model");

// A built-in name, or else a path to a config.json.
ModelConfig resolve_model(const std::string& name_or_path);

// Checks the shape invariants (positive sizes, a % g == 0, ...); throws ArgumentError naming
// `argument` when one fails.
void validate_model(const ModelConfig& m, const std::string& argument);

}  // namespace longctx::plan
