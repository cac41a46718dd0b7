// longctx plan: built-in model shapes, parameter counts against the published totals, Hugging
// Face config.json loading, and rejection of unknown models / broken configs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "longctx/core/error.hpp"
#include "longctx/plan/model_config.hpp"

namespace longctx::plan {
namespace {

int64_t total_params(const std::string& name) {
  const ModelConfig m = find_builtin_model(name);
  return count_params(m).total(m.layers);
}

TEST(PlanModels, ParameterCountsMatchPublishedTotals) {
  // Hand count, LLaMA-2 7B: layer = 4·4096² + 3·4096·11008 + 2·4096 = 202,383,360; ×32 layers
  // + 2·32000·4096 (embedding, LM head) + 4096 (final norm) = 6,738,415,616 ("6.74B").
  EXPECT_EQ(total_params("llama-2-7b"), 6738415616);
  // Llama-3.1 8B (GQA 8 KV heads, vocab 128256): 218,112,000 ×32 + 2·525,336,576 + 4096.
  EXPECT_EQ(total_params("llama-3.1-8b"), 8030261248);
  EXPECT_EQ(total_params("llama-2-70b"), 68976648192);
  EXPECT_EQ(total_params("mistral-7b"), 7241732096);
  EXPECT_NEAR(double(total_params("llama-2-13b")) / 1e9, 13.016, 0.001);
  EXPECT_NEAR(double(total_params("llama-3.1-70b")) / 1e9, 70.554, 0.001);
  EXPECT_NEAR(double(total_params("llama-30b")) / 1e9, 32.529, 0.001);
  EXPECT_NEAR(double(total_params("codellama-34b")) / 1e9, 33.744, 0.001);
}

TEST(PlanModels, BuiltinNamesAreCaseInsensitiveAndUnknownNamesAreRejected) {
  EXPECT_EQ(find_builtin_model("LLaMA-2-7B").hidden, 4096);
  try {
    resolve_model("gpt-7");
    FAIL() << "an unknown model must be rejected";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "--model");
    EXPECT_NE(std::string(e.what()).find("llama-2-7b"), std::string::npos) << e.what();
  }
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/longctx_plan_configXXXXXX.json";
    const int fd = mkstemps(name, 5);
    EXPECT_GE(fd, 0);
    if (fd >= 0) close(fd);
    path_ = name;
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(PlanModels, LoadsHuggingFaceConfig) {
  // Qwen2-0.5B-like: GQA, tied embeddings, explicit head_dim omitted.
  TempFile f(R"({"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
                 "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
                 "tie_word_embeddings": true, "max_position_embeddings": 32768})");
  const ModelConfig m = resolve_model(f.path());
  EXPECT_EQ(m.hidden, 896);
  EXPECT_EQ(m.layers, 24);
  EXPECT_EQ(m.heads, 14);
  EXPECT_EQ(m.kv_heads, 2);
  EXPECT_EQ(m.head_dim, 64);
  EXPECT_EQ(m.intermediate, 4864);
  EXPECT_EQ(m.vocab, 151936);
  EXPECT_TRUE(m.tied_embeddings);
  EXPECT_EQ(m.max_positions, 32768);
  const ParamCounts p = count_params(m);
  EXPECT_EQ(p.lm_head, 0);  // tied
  // Without biases (Qwen2 has q/k/v biases, which this LLaMA count leaves out).
  EXPECT_EQ(p.attention_per_layer, 2 * 896 * 896 + 2 * 896 * 128);
}

TEST(PlanModels, MissingKvHeadsMeansMhaAndHeadDimIsHonoured) {
  TempFile f(R"({"hidden_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
                 "head_dim": 256, "intermediate_size": 24576, "vocab_size": 256000})");
  const ModelConfig m = load_hf_config(f.path());
  EXPECT_EQ(m.kv_heads, 16);
  EXPECT_EQ(m.head_dim, 256);
  EXPECT_EQ(m.q_width(), 4096);  // Gemma-7B: a·d differs from h
  EXPECT_FALSE(m.tied_embeddings);
}

TEST(PlanModels, BrokenConfigsNameTheFlagAndTheField) {
  TempFile missing(R"({"hidden_size": 64, "num_hidden_layers": 2})");
  try {
    load_hf_config(missing.path());
    FAIL() << "a config without num_attention_heads must be rejected";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "--model");
    EXPECT_NE(std::string(e.what()).find("num_attention_heads"), std::string::npos) << e.what();
  }
  TempFile not_json("{ hidden_size: ");
  EXPECT_THROW(load_hf_config(not_json.path()), ArgumentError);
  TempFile bad_gqa(R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 6,
                       "num_key_value_heads": 4, "intermediate_size": 128, "vocab_size": 10})");
  EXPECT_THROW(load_hf_config(bad_gqa.path()), ArgumentError);
  EXPECT_THROW(load_hf_config("/nonexistent/config.json"), ArgumentError);
}

}  // namespace
}  // namespace longctx::plan
