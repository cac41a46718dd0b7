// ModelConfig → Hugging Face config.json in the architecture's own form (LlamaConfig,
// MistralConfig, Qwen2Config keys). RoPE is written twice so that both transformers lines read
// it: 5.x's "rope_parameters" (type, theta and scaling keys) and 4.x's top-level "rope_theta"
// plus "rope_scaling" (null when unscaled). transformers 5 prefers a non-null rope_scaling and
// fills its theta from the top-level key, so the two never disagree.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "longctx/core/error.hpp"
#include "longctx/train/checkpoint.hpp"

namespace longctx::train {
namespace {

using Json = nlohmann::json;
using model::Architecture;
using model::ModelConfig;
using model::RopeConfig;
using model::RopeType;

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::llama:
      return "llama";
    case Architecture::mistral:
      return "mistral";
    case Architecture::qwen2:
      return "qwen2";
  }
  return "?";
}

const char* class_name(Architecture a) {
  switch (a) {
    case Architecture::llama:
      return "LlamaForCausalLM";
    case Architecture::mistral:
      return "MistralForCausalLM";
    case Architecture::qwen2:
      return "Qwen2ForCausalLM";
  }
  return "?";
}

const char* dtype_config_name(DType t) {
  switch (t) {
    case DType::bf16:
      return "bfloat16";
    case DType::f16:
      return "float16";
    default:
      return "float32";
  }
}

// An id, a list of ids, or null when there is none (HF accepts all three).
Json token_ids(const std::vector<int32_t>& ids) {
  if (ids.empty()) return nullptr;
  if (ids.size() == 1) return ids[0];
  return ids;
}

// The scaling keys of one RoPE description, without rope_theta.
Json rope_scaling_block(const RopeConfig& r) {
  Json b = Json::object();
  b["rope_type"] = std::string(model::rope_type_name(r.type));
  const bool uses_original =
      r.type == RopeType::llama3 || r.type == RopeType::yarn || r.type == RopeType::longrope;
  if (uses_original && r.original_max_position_embeddings > 0)
    b["original_max_position_embeddings"] = r.original_max_position_embeddings;
  switch (r.type) {
    case RopeType::standard:
      break;
    case RopeType::linear:
    case RopeType::dynamic:
      b["factor"] = r.factor;
      break;
    case RopeType::llama3:
      b["factor"] = r.factor;
      b["low_freq_factor"] = r.low_freq_factor;
      b["high_freq_factor"] = r.high_freq_factor;
      break;
    case RopeType::yarn:
      b["factor"] = r.factor;
      b["beta_fast"] = r.beta_fast;
      b["beta_slow"] = r.beta_slow;
      if (r.mscale) b["mscale"] = *r.mscale;
      if (r.mscale_all_dim) b["mscale_all_dim"] = *r.mscale_all_dim;
      if (r.attention_factor) b["attention_factor"] = *r.attention_factor;
      if (!r.truncate) b["truncate"] = false;
      break;
    case RopeType::longrope:
      b["short_factor"] = r.short_factor;
      b["long_factor"] = r.long_factor;
      if (r.attention_factor) b["attention_factor"] = *r.attention_factor;
      // Absent means "derive from the context lengths", which a factor of exactly 1 also means.
      if (r.factor != 1.0) b["factor"] = r.factor;
      break;
  }
  return b;
}

// The one window the layers share (0 when none has one); ArgumentError when two differ.
int64_t shared_window(const ModelConfig& c) {
  int64_t window = 0;
  for (const int64_t w : c.sliding_window) {
    LONGCTX_CHECK_ARG(w >= 0 && (w == 0 || window == 0 || w == window), "sliding_window",
                      "one window size shared by the sliding layers", w << " beside " << window);
    window = std::max(window, w);
  }
  return window;
}

void write_attention_layout(const ModelConfig& c, Json& j) {
  const int64_t window = shared_window(c);
  const bool every_layer = std::all_of(c.sliding_window.begin(), c.sliding_window.end(),
                                       [&](int64_t w) { return w == window; });
  switch (c.architecture) {
    case Architecture::llama:
      LONGCTX_CHECK_ARG(c.qkv_bias == c.o_bias, "attention_bias",
                        "the same bias on q/k/v and o (Llama has one attention_bias flag)",
                        "qkv_bias " << c.qkv_bias << ", o_bias " << c.o_bias);
      LONGCTX_CHECK_ARG(window == 0, "sliding_window",
                        "0 on every layer (LlamaConfig has no sliding window)", window);
      j["attention_bias"] = c.qkv_bias;
      j["mlp_bias"] = c.mlp_bias;
      j["pretraining_tp"] = 1;
      break;
    case Architecture::mistral:
      LONGCTX_CHECK_ARG(
          !c.qkv_bias && !c.o_bias && !c.mlp_bias, "attention_bias", "no biases (Mistral has none)",
          "qkv_bias " << c.qkv_bias << ", o_bias " << c.o_bias << ", mlp_bias " << c.mlp_bias);
      LONGCTX_CHECK_ARG(every_layer, "sliding_window",
                        "the same window on every layer (MistralConfig has one sliding_window)",
                        "a window of " << window << " on some layers only");
      j["sliding_window"] = window > 0 ? Json(window) : Json(nullptr);
      break;
    case Architecture::qwen2: {
      LONGCTX_CHECK_ARG(
          c.qkv_bias && !c.o_bias && !c.mlp_bias, "attention_bias",
          "q/k/v biases only (Qwen2's fixed layout)",
          "qkv_bias " << c.qkv_bias << ", o_bias " << c.o_bias << ", mlp_bias " << c.mlp_bias);
      j["use_sliding_window"] = window > 0;
      j["sliding_window"] = window > 0 ? Json(window) : Json(nullptr);
      Json types = Json::array();
      for (const int64_t w : c.sliding_window)
        types.push_back(w > 0 ? "sliding_attention" : "full_attention");
      j["layer_types"] = types;
      // 4.x reads max_window_layers instead (layers from it on slide); exact when the sliding
      // layers are a suffix, and 5.x reads layer_types first anyway.
      const auto first_sliding = std::find_if(c.sliding_window.begin(), c.sliding_window.end(),
                                              [](int64_t w) { return w > 0; });
      j["max_window_layers"] = int64_t(first_sliding - c.sliding_window.begin());
      break;
    }
  }
}

}  // namespace

std::string model_config_json(const ModelConfig& c) {
  const char* arch = architecture_name(c.architecture);
  LONGCTX_CHECK_ARG(c.model_type.empty() || c.model_type == arch, "model_type",
                    "'" << arch << "' (the architecture)", "'" << c.model_type << "'");
  LONGCTX_CHECK_ARG(int64_t(c.sliding_window.size()) == c.num_layers, "sliding_window",
                    c.num_layers << " entries (num_layers)", c.sliding_window.size());
  Json j = Json::object();  // keys come out sorted, as transformers writes them
  j["architectures"] = Json::array({class_name(c.architecture)});
  j["model_type"] = arch;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = token_ids(c.bos_token_ids);
  j["eos_token_id"] = token_ids(c.eos_token_ids);
  j["pad_token_id"] = nullptr;
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  j["dtype"] = dtype_config_name(c.weight_dtype);
  j["torch_dtype"] = dtype_config_name(c.weight_dtype);
  write_attention_layout(c, j);

  const Json scaling = rope_scaling_block(c.rope);
  Json parameters = scaling;
  parameters["rope_theta"] = c.rope.theta;
  j["rope_parameters"] = parameters;
  j["rope_theta"] = c.rope.theta;
  j["rope_scaling"] = c.rope.type == RopeType::standard ? Json(nullptr) : scaling;
  // 4.x's LongRoPE reads the pre-training length from the top level (Phi-3's layout).
  if (c.rope.type == RopeType::longrope && c.rope.original_max_position_embeddings > 0)
    j["original_max_position_embeddings"] = c.rope.original_max_position_embeddings;
  return j.dump(2) + "\n";
}

}  // namespace longctx::train
