// A decoder's configuration as Hugging Face writes it in config.json: Llama (incl. 3.x), Mistral
// and Qwen2. Reads both the transformers 5 form (`rope_parameters` holding rope_type, rope_theta
// and the scaling keys) and the 4.x form (`rope_theta` + `rope_scaling`, whose type key may be
// "type" or "rope_type"). Keys and defaults follow transformers' config classes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "longctx/core/dtype.hpp"

namespace longctx::model {

enum class Architecture : uint8_t { llama, mistral, qwen2 };
enum class RopeType : uint8_t { standard, linear, dynamic, yarn, llama3, longrope };

// "default" | "linear" | "dynamic" | "yarn" | "llama3" | "longrope" (HF names); ArgumentError
// naming `argument` otherwise.
RopeType parse_rope_type(std::string_view name, std::string_view argument = "rope_type");
std::string_view rope_type_name(RopeType type);

// Rotary embedding and its scaling (SPEC §6; HF modeling_rope_utils).
struct RopeConfig {
  RopeType type = RopeType::standard;
  double theta = 10000.0;
  double factor = 1.0;  // linear, dynamic, yarn, llama3 (longrope derives it, see rope.hpp)
  // Context length the model was trained at; 0 when the config does not give it (then
  // max_position_embeddings plays its role where HF does so).
  int64_t original_max_position_embeddings = 0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  double beta_fast = 32.0, beta_slow = 1.0;              // yarn
  std::optional<double> mscale, mscale_all_dim;          // yarn (DeepSeek form)
  std::optional<double> attention_factor;         // yarn, longrope: overrides the derived one
  bool truncate = true;                           // yarn
  std::vector<double> short_factor, long_factor;  // longrope, [head_dim / 2] each
};

struct ModelConfig {
  Architecture architecture = Architecture::llama;
  std::string model_type;  // "llama" | "mistral" | "qwen2"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;    // num_hidden_layers
  int64_t num_heads = 0;     // num_attention_heads
  int64_t num_kv_heads = 0;  // num_key_value_heads (defaults to num_heads)
  int64_t head_dim = 0;      // head_dim (defaults to hidden_size / num_heads)
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Llama/Mistral: attention_bias; Qwen2: always true
  bool o_bias = false;    // Llama: attention_bias; Mistral, Qwen2: false
  bool mlp_bias = false;  // Llama: mlp_bias
  // Per layer: the sliding window in tokens (HF: a key is visible when q − k < window), or 0
  // for full attention. Mistral: sliding_window on every layer (null → 0). Qwen2: from
  // layer_types when present, else use_sliding_window + max_window_layers.
  std::vector<int64_t> sliding_window;  // [num_layers]
  std::vector<int32_t> bos_token_ids;   // empty when null; eos may be a list in HF configs
  std::vector<int32_t> eos_token_ids;
  DType weight_dtype = DType::f32;  // "dtype" (5.x) or "torch_dtype" (4.x); f32/bf16/f16
};

// Parses config.json text. Throws ArgumentError naming the key and the expected value for a
// missing required key, an unsupported architecture / hidden_act ("silu" only) / rope type, or
// inconsistent sizes (num_heads % num_kv_heads, short_factor length, ...).
ModelConfig parse_model_config(std::string_view json_text);
// Reads DIR/config.json (or the file itself when given a file).
ModelConfig load_model_config(const std::filesystem::path& dir_or_file);

}  // namespace longctx::model
