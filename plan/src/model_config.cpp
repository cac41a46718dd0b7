// Built-in model shapes, Hugging Face config.json loading and parameter counting.
#include "longctx/plan/model_config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "longctx/core/error.hpp"

namespace longctx::plan {
namespace {

ModelConfig make(std::string name, int64_t h, int64_t layers, int64_t heads, int64_t kv_heads,
                 int64_t ffn, int64_t vocab, int64_t max_positions) {
  ModelConfig m;
  m.name = std::move(name);
  m.hidden = h;
  m.layers = layers;
  m.heads = heads;
  m.kv_heads = kv_heads;
  m.head_dim = h / heads;
  m.intermediate = ffn;
  m.vocab = vocab;
  m.tied_embeddings = false;
  m.max_positions = max_positions;
  return m;
}

// Shapes from the models' published config.json files.
const std::vector<ModelConfig>& builtins() {
  static const std::vector<ModelConfig> models = {
      make("llama-2-7b", 4096, 32, 32, 32, 11008, 32000, 4096),
      make("llama-2-13b", 5120, 40, 40, 40, 13824, 32000, 4096),
      make("llama-2-70b", 8192, 80, 64, 8, 28672, 32000, 4096),
      make("llama-3.1-8b", 4096, 32, 32, 8, 14336, 128256, 131072),
      make("llama-3.1-70b", 8192, 80, 64, 8, 28672, 128256, 131072),
      make("mistral-7b", 4096, 32, 32, 8, 14336, 32000, 32768),
      // Two ~30B models for the Ulysses-vs-ring comparison: LLaMA-1 "30B" (MHA, 52 heads) and
      // Code Llama 34B (GQA, 64 heads).
      make("llama-30b", 6656, 60, 52, 52, 17920, 32000, 2048),
      make("codellama-34b", 8192, 48, 64, 8, 22016, 32000, 16384),
  };
  return models;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

int64_t required_int(const nlohmann::json& j, const char* key, const std::string& argument,
                     const std::string& path) {
  LONGCTX_CHECK_ARG(j.contains(key) && j[key].is_number_integer(), argument,
                    std::string("a config.json with an integer '") + key + "'",
                    path << (j.contains(key) ? " (not an integer)" : " (missing)"));
  return j[key].get<int64_t>();
}

}  // namespace

ParamCounts count_params(const ModelConfig& m) {
  ParamCounts p;
  p.attention_per_layer = m.hidden * m.q_width() * 2 + m.hidden * m.kv_width() * 2;
  p.mlp_per_layer = 3 * m.hidden * m.intermediate;
  p.norms_per_layer = 2 * m.hidden;
  p.embedding = m.vocab * m.hidden;
  p.lm_head = m.tied_embeddings ? 0 : m.vocab * m.hidden;
  p.final_norm = m.hidden;
  return p;
}

std::vector<std::string> builtin_model_names() {
  std::vector<std::string> names;
  for (const ModelConfig& m : builtins()) names.push_back(m.name);
  return names;
}

ModelConfig find_builtin_model(const std::string& name) {
  const std::string key = lower(name);
  for (const ModelConfig& m : builtins()) {
    if (m.name == key) return m;
  }
  std::string expected = "one of";
  for (const std::string& n : builtin_model_names()) expected += " " + n;
  expected += ", or a path to a Hugging Face config.json";
  throw ArgumentError("--model", expected, "'" + name + "'");
}

void validate_model(const ModelConfig& m, const std::string& argument) {
  LONGCTX_CHECK_ARG(m.hidden > 0 && m.layers > 0 && m.heads > 0 && m.kv_heads > 0 &&
                        m.head_dim > 0 && m.intermediate > 0 && m.vocab > 0,
                    argument, "a model with positive sizes",
                    m.name << " (hidden " << m.hidden << ", layers " << m.layers << ", heads "
                           << m.heads << ", kv heads " << m.kv_heads << ", head dim " << m.head_dim
                           << ", intermediate " << m.intermediate << ", vocab " << m.vocab << ")");
  LONGCTX_CHECK_ARG(m.heads % m.kv_heads == 0, argument,
                    "num_attention_heads divisible by num_key_value_heads",
                    m.heads << " heads, " << m.kv_heads << " kv heads");
}

ModelConfig load_hf_config(const std::string& path, const std::string& argument) {
  std::ifstream in(path);
  LONGCTX_CHECK_ARG(in.good(), argument,
                    "a built-in model name or a readable Hugging Face config.json",
                    "'" << path << "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw ArgumentError(argument, "a valid JSON config.json", path + " (" + e.what() + ")");
  }
  LONGCTX_CHECK_ARG(j.is_object(), argument, "a JSON object in config.json", path);
  ModelConfig m;
  m.name = path;
  m.hidden = required_int(j, "hidden_size", argument, path);
  m.layers = required_int(j, "num_hidden_layers", argument, path);
  m.heads = required_int(j, "num_attention_heads", argument, path);
  m.intermediate = required_int(j, "intermediate_size", argument, path);
  m.vocab = required_int(j, "vocab_size", argument, path);
  // Older LLaMA configs omit num_key_value_heads: that means MHA.
  m.kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                   ? required_int(j, "num_key_value_heads", argument, path)
                   : m.heads;
  LONGCTX_CHECK_ARG(m.heads > 0, argument, "num_attention_heads > 0", m.heads);
  m.head_dim = j.contains("head_dim") && !j["head_dim"].is_null()
                   ? required_int(j, "head_dim", argument, path)
                   : m.hidden / m.heads;
  m.tied_embeddings = j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean() &&
                      j["tie_word_embeddings"].get<bool>();
  m.max_positions = j.contains("max_position_embeddings")
                        ? required_int(j, "max_position_embeddings", argument, path)
                        : 0;
  validate_model(m, argument);
  return m;
}

ModelConfig resolve_model(const std::string& name_or_path) {
  for (const std::string& n : builtin_model_names()) {
    if (n == lower(name_or_path)) return find_builtin_model(name_or_path);
  }
  const bool looks_like_path = name_or_path.find('/') != std::string::npos ||
                               name_or_path.find(".json") != std::string::npos;
  if (looks_like_path) return load_hf_config(name_or_path, "--model");
  return find_builtin_model(name_or_path);  // throws with the list of names
}

}  // namespace longctx::plan
