// Hugging Face config.json → ModelConfig for Llama, Mistral and Qwen2, with transformers'
// defaults (LlamaConfig, MistralConfig, Qwen2Config) and both RoPE spellings: transformers 5's
// `rope_parameters` and 4.x's `rope_theta` + `rope_scaling`. Every rejection names the key.
#include "longctx/model/config.hpp"

#include <cmath>

#include "json_util.hpp"
#include "longctx/core/error.hpp"

namespace longctx::model {
namespace {

using json_util::Fields;
using json_util::Json;

constexpr const char* kRopeTypes = "default, linear, dynamic, yarn, llama3 or longrope";

Architecture parse_architecture(const Fields& f, std::string& model_type) {
  if (f.has("model_type")) {
    model_type = f.string_or("model_type", "");
    if (model_type == "llama") return Architecture::llama;
    if (model_type == "mistral") return Architecture::mistral;
    if (model_type == "qwen2") return Architecture::qwen2;
    throw ArgumentError("model_type", "llama, mistral or qwen2", f.bad(f.at("model_type")));
  }
  // Without model_type, the class name in "architectures" (e.g. "LlamaForCausalLM") decides.
  LONGCTX_CHECK_ARG(f.has("architectures") && f.at("architectures").is_array() &&
                        !f.at("architectures").empty() && f.at("architectures")[0].is_string(),
                    "model_type", "llama, mistral or qwen2 (or an 'architectures' list)",
                    "missing in " << f.source());
  const std::string arch = f.at("architectures")[0].get<std::string>();
  const auto starts = [&arch](std::string_view prefix) {
    return arch.starts_with(std::string(prefix) + "For") || arch == std::string(prefix) + "Model";
  };
  if (starts("Llama")) {
    model_type = "llama";
    return Architecture::llama;
  }
  if (starts("Mistral")) {
    model_type = "mistral";
    return Architecture::mistral;
  }
  if (starts("Qwen2")) {
    model_type = "qwen2";
    return Architecture::qwen2;
  }
  throw ArgumentError("architectures", "LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM",
                      f.bad(f.at("architectures")));
}

int64_t positive(const Fields& f, std::string_view key, std::optional<int64_t> fallback) {
  const int64_t v = fallback ? f.int_or(key, *fallback, "a positive integer")
                             : f.required_int(key, "a positive integer");
  LONGCTX_CHECK_ARG(v > 0, f.key_name(key), "a positive integer", v << " in " << f.source());
  return v;
}

// bos_token_id / eos_token_id: an id, a list of ids, or null.
std::vector<int32_t> token_ids(const Fields& f, std::string_view key) {
  std::vector<int32_t> ids;
  if (!f.has(key)) return ids;
  const Json& v = f.at(key);
  const Json list = v.is_array() ? v : Json::array({v});
  for (const Json& id : list) {
    LONGCTX_CHECK_ARG(
        id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() <= INT32_MAX,
        f.key_name(key), "a token id or a list of token ids", f.bad(v));
    ids.push_back(int32_t(id.get<int64_t>()));
  }
  return ids;
}

DType weight_dtype(const Fields& f) {
  // transformers 5 writes "dtype"; 4.x wrote "torch_dtype".
  const char* key = f.has("dtype") ? "dtype" : "torch_dtype";
  const std::string name = f.string_or(key, "float32");
  if (name == "float32" || name == "float") return DType::f32;
  if (name == "bfloat16") return DType::bf16;
  if (name == "float16" || name == "half") return DType::f16;
  throw ArgumentError(key, "float32, bfloat16 or float16", f.bad(f.at(key)));
}

std::vector<double> factor_list(const Fields& r, std::string_view key, int64_t head_dim) {
  LONGCTX_CHECK_ARG(r.has(key) && r.at(key).is_array(), r.key_name(key),
                    "a list of " << head_dim / 2 << " numbers (head_dim / 2)",
                    (r.has(key) ? r.bad(r.at(key)) : "missing in " + r.source()));
  std::vector<double> values;
  for (const Json& v : r.at(key)) {
    LONGCTX_CHECK_ARG(v.is_number() && v.get<double>() > 0, r.key_name(key), "positive numbers",
                      r.bad(r.at(key)));
    values.push_back(v.get<double>());
  }
  LONGCTX_CHECK_ARG(int64_t(values.size()) == head_dim / 2, r.key_name(key),
                    head_dim / 2 << " numbers (head_dim / 2)", values.size() << " numbers");
  return values;
}

// The RoPE block. transformers 5 reads `rope_scaling` first when a 4.x-style config carries it,
// then `rope_parameters`; rope_theta comes from inside the block, else from the top level.
RopeConfig parse_rope(const Fields& top, int64_t head_dim, int64_t max_position_embeddings) {
  const Json empty = Json::object();
  const char* block_key = "rope_parameters";
  const Json* block = &empty;
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (top.has(key)) {
      LONGCTX_CHECK_ARG(top.at(key).is_object(), key, "an object or null", top.bad(top.at(key)));
      if (!top.at(key).empty()) {
        block = &top.at(key);
        block_key = key;
        break;
      }
    }
  }
  // A per-layer-type block ({"full_attention": {...}, "sliding_attention": {...}}) is not a
  // RoPE description of the kind these models use.
  LONGCTX_CHECK_ARG(!block->contains("full_attention") && !block->contains("sliding_attention"),
                    block_key, "one RoPE description for all layers",
                    "per-layer-type parameters in " << top.source());
  const Fields r(*block, std::string(block_key) + ".", top.source());

  RopeConfig rope;
  rope.theta =
      r.has("rope_theta") ? r.required_number("rope_theta") : top.number_or("rope_theta", 10000.0);
  LONGCTX_CHECK_ARG(rope.theta > 1.0, r.has("rope_theta") ? r.key_name("rope_theta") : "rope_theta",
                    "a base > 1", rope.theta << " in " << top.source());
  const char* type_key = r.has("rope_type") ? "rope_type" : "type";
  rope.type = parse_rope_type(r.string_or(type_key, "default"), r.key_name(type_key));
  for (const Fields* f : {&r, &top}) {
    if (f->has("partial_rotary_factor")) {
      LONGCTX_CHECK_ARG(f->required_number("partial_rotary_factor") == 1.0,
                        f->key_name("partial_rotary_factor"), "1.0 (partial RoPE is not supported)",
                        f->bad(f->at("partial_rotary_factor")));
    }
  }

  const bool uses_original = rope.type == RopeType::llama3 || rope.type == RopeType::yarn ||
                             rope.type == RopeType::longrope;
  if (uses_original) {
    // Phi-3 style configs keep it at the top level, and transformers gives that one priority.
    const Fields& owner = top.has("original_max_position_embeddings") ? top : r;
    rope.original_max_position_embeddings =
        owner.has("original_max_position_embeddings")
            ? positive(owner, "original_max_position_embeddings", std::nullopt)
            : 0;
  }
  const int64_t original = rope.original_max_position_embeddings > 0
                               ? rope.original_max_position_embeddings
                               : max_position_embeddings;
  const auto positive_number = [&r](std::string_view key, std::optional<double> fallback) {
    const double v = fallback ? r.number_or(key, *fallback) : r.required_number(key);
    LONGCTX_CHECK_ARG(v > 0, r.key_name(key), "a positive number", v << " in " << r.source());
    return v;
  };

  switch (rope.type) {
    case RopeType::standard:
      break;
    case RopeType::linear:
    case RopeType::dynamic:
      rope.factor = positive_number("factor", std::nullopt);
      break;
    case RopeType::llama3:
      rope.factor = positive_number("factor", std::nullopt);
      rope.low_freq_factor = positive_number("low_freq_factor", std::nullopt);
      rope.high_freq_factor = positive_number("high_freq_factor", std::nullopt);
      LONGCTX_CHECK_ARG(
          rope.high_freq_factor > rope.low_freq_factor, r.key_name("high_freq_factor"),
          "> low_freq_factor (" << rope.low_freq_factor << ")", rope.high_freq_factor);
      break;
    case RopeType::yarn:
      // A null factor means "the context extension ratio" (DeepSeek-V3 style configs).
      rope.factor = positive_number("factor", double(max_position_embeddings) / double(original));
      // transformers reads beta_fast / beta_slow with `or`: 0 means the default too.
      rope.beta_fast = r.number_or("beta_fast", 0.0) != 0.0 ? r.number_or("beta_fast", 0.0) : 32.0;
      rope.beta_slow = r.number_or("beta_slow", 0.0) != 0.0 ? r.number_or("beta_slow", 0.0) : 1.0;
      if (r.has("mscale")) rope.mscale = r.required_number("mscale");
      if (r.has("mscale_all_dim")) rope.mscale_all_dim = r.required_number("mscale_all_dim");
      if (r.has("attention_factor"))
        rope.attention_factor = positive_number("attention_factor", {});
      rope.truncate = r.bool_or("truncate", true);
      break;
    case RopeType::longrope:
      rope.short_factor = factor_list(r, "short_factor", head_dim);
      rope.long_factor = factor_list(r, "long_factor", head_dim);
      if (r.has("attention_factor"))
        rope.attention_factor = positive_number("attention_factor", {});
      if (r.has("factor")) {
        rope.factor = positive_number("factor", std::nullopt);
        // An explicit factor <= 1 means no attention scaling in HF; rope_frequencies() reads a
        // factor of exactly 1 as "derive it from the context lengths", so pin the scaling here.
        if (rope.factor <= 1.0 && !rope.attention_factor) rope.attention_factor = 1.0;
      }
      break;
  }
  return rope;
}

// Per layer: the sliding window, or 0 for full attention.
std::vector<int64_t> sliding_windows(const Fields& f, Architecture arch, int64_t layers) {
  std::vector<int64_t> windows(size_t(layers), 0);
  const auto window_value = [&f](int64_t fallback) -> int64_t {
    if (!f.has("sliding_window")) return fallback;
    return positive(f, "sliding_window", std::nullopt);
  };
  if (arch == Architecture::llama) return windows;
  if (arch == Architecture::mistral) {
    // MistralConfig: sliding_window defaults to 4096; null turns it off.
    const bool present = f.object().contains("sliding_window");
    const int64_t w = present ? window_value(0) : 4096;
    std::fill(windows.begin(), windows.end(), w);
    return windows;
  }
  // Qwen2Config: the window exists only with use_sliding_window; layer_types says which layers
  // use it, or else layers from max_window_layers on do.
  const bool use = f.bool_or("use_sliding_window", false);
  const bool present = f.object().contains("sliding_window");
  const int64_t w = use ? (present ? window_value(0) : 4096) : 0;
  if (f.has("layer_types")) {
    const Json& types = f.at("layer_types");
    LONGCTX_CHECK_ARG(types.is_array() && int64_t(types.size()) == layers, "layer_types",
                      "a list of " << layers << " layer types (num_hidden_layers)", f.bad(types));
    for (int64_t i = 0; i < layers; ++i) {
      const Json& t = types[size_t(i)];
      const bool sliding = t == "sliding_attention";
      LONGCTX_CHECK_ARG(sliding || t == "full_attention", "layer_types",
                        "'full_attention' or 'sliding_attention' entries",
                        json_util::brief(t) << " at layer " << i);
      windows[size_t(i)] = sliding ? w : 0;
    }
    return windows;
  }
  const int64_t max_window_layers = f.int_or("max_window_layers", 28);
  for (int64_t i = 0; i < layers; ++i) windows[size_t(i)] = i >= max_window_layers ? w : 0;
  return windows;
}

ModelConfig parse_config(std::string_view json_text, const std::string& source) {
  const Json j = json_util::parse(json_text, "config", source);
  LONGCTX_CHECK_ARG(j.is_object(), "config", "a JSON object", source);
  const Fields f(j, "", source);

  ModelConfig c;
  c.architecture = parse_architecture(f, c.model_type);
  c.vocab_size = positive(f, "vocab_size", std::nullopt);
  c.hidden_size = positive(f, "hidden_size", std::nullopt);
  c.intermediate_size = positive(f, "intermediate_size", std::nullopt);
  c.num_layers = positive(f, "num_hidden_layers", std::nullopt);
  c.num_heads = positive(f, "num_attention_heads", std::nullopt);
  c.num_kv_heads = positive(f, "num_key_value_heads", c.num_heads);
  LONGCTX_CHECK_ARG(c.num_heads % c.num_kv_heads == 0, "num_key_value_heads",
                    "a divisor of num_attention_heads (" << c.num_heads << ")", c.num_kv_heads);
  if (f.has("head_dim")) {
    c.head_dim = positive(f, "head_dim", std::nullopt);
  } else {
    LONGCTX_CHECK_ARG(c.hidden_size % c.num_heads == 0, "head_dim",
                      "given, or hidden_size divisible by num_attention_heads",
                      "missing, hidden_size " << c.hidden_size << ", " << c.num_heads << " heads");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  LONGCTX_CHECK_ARG(c.head_dim % 2 == 0, "head_dim", "an even size (RoPE rotates pairs)",
                    c.head_dim);
  const int64_t default_max_positions = c.architecture == Architecture::llama     ? 2048
                                        : c.architecture == Architecture::mistral ? 4096 * 32
                                                                                  : 32768;
  c.max_position_embeddings = positive(f, "max_position_embeddings", default_max_positions);
  c.rms_norm_eps = f.number_or("rms_norm_eps", 1e-6);
  LONGCTX_CHECK_ARG(c.rms_norm_eps > 0, "rms_norm_eps", "a positive number", c.rms_norm_eps);
  const std::string act = f.string_or("hidden_act", "silu");
  LONGCTX_CHECK_ARG(act == "silu", "hidden_act", "silu (the SwiGLU MLP of these models)",
                    "'" << act << "' in " << source);

  c.tie_word_embeddings = f.bool_or("tie_word_embeddings", false);
  switch (c.architecture) {
    case Architecture::llama:
      c.qkv_bias = c.o_bias = f.bool_or("attention_bias", false);
      c.mlp_bias = f.bool_or("mlp_bias", false);
      break;
    case Architecture::mistral:
      break;
    case Architecture::qwen2:
      c.qkv_bias = true;  // Qwen2Attention always has q/k/v biases, never an o_proj bias
      break;
  }
  c.sliding_window = sliding_windows(f, c.architecture, c.num_layers);
  c.rope = parse_rope(f, c.head_dim, c.max_position_embeddings);
  c.bos_token_ids = token_ids(f, "bos_token_id");
  c.eos_token_ids = token_ids(f, "eos_token_id");
  c.weight_dtype = weight_dtype(f);
  return c;
}

}  // namespace

RopeType parse_rope_type(std::string_view name, std::string_view argument) {
  if (name == "default") return RopeType::standard;
  if (name == "linear") return RopeType::linear;
  if (name == "dynamic") return RopeType::dynamic;
  if (name == "yarn") return RopeType::yarn;
  if (name == "llama3") return RopeType::llama3;
  if (name == "longrope") return RopeType::longrope;
  throw ArgumentError(std::string(argument), kRopeTypes, "'" + std::string(name) + "'");
}

std::string_view rope_type_name(RopeType type) {
  switch (type) {
    case RopeType::standard:
      return "default";
    case RopeType::linear:
      return "linear";
    case RopeType::dynamic:
      return "dynamic";
    case RopeType::yarn:
      return "yarn";
    case RopeType::llama3:
      return "llama3";
    case RopeType::longrope:
      return "longrope";
  }
  return "?";
}

ModelConfig parse_model_config(std::string_view json_text) {
  return parse_config(json_text, "config.json");
}

ModelConfig load_model_config(const std::filesystem::path& dir_or_file) {
  std::error_code ec;
  const std::filesystem::path file =
      std::filesystem::is_directory(dir_or_file, ec) ? dir_or_file / "config.json" : dir_or_file;
  return parse_config(json_util::read_text_file(file, "config"), file.string());
}

}  // namespace longctx::model
