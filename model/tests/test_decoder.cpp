// The decoder against Hugging Face transformers: prompt logits and greedy decode logits of the
// tiny fixture checkpoints (Llama with llama3 / yarn / linear / dynamic / longrope RoPE, a tied
// sharded bf16 Llama, Mistral with a sliding window shorter than the prompt, Qwen2 with biases
// in f16), for several prefill chunk sizes. Relative error bound 1e-4 (float32).
#include <gtest/gtest.h>

#include <algorithm>

#include "fixture_models.hpp"
#include "longctx/model/decoder.hpp"
#include "longctx/model/generate.hpp"

namespace longctx::model {
namespace {

using testing::fixtures_dir;
using testing::read_f32;
using testing::relative_error;

struct LoadedModel {
  ModelConfig config;
  Checkpoint checkpoint;
  DecoderWeights weights;
  std::vector<int32_t> tokens;
  nlohmann::json entry;
};

LoadedModel load(const nlohmann::json& entry) {
  LoadedModel m;
  const auto dir = fixtures_dir() / entry["dir"].get<std::string>();
  m.config = load_model_config(dir);
  m.checkpoint = Checkpoint::open(dir);
  m.weights = load_decoder_weights(m.checkpoint, m.config);
  m.tokens = entry["tokens"].get<std::vector<int32_t>>();
  m.entry = entry;
  return m;
}

class FixtureModel : public ::testing::TestWithParam<std::string> {
 protected:
  nlohmann::json entry() const {
    const nlohmann::json manifest = testing::manifest();  // the loop must not outlive it
    for (const auto& e : manifest["models"])
      if (e["name"] == GetParam()) return e;
    ADD_FAILURE() << "no fixture " << GetParam();
    return {};
  }
};

TEST_P(FixtureModel, PromptLogitsMatchTransformersForEveryChunkSize) {
  const LoadedModel m = load(entry());
  const std::vector<float> expected =
      read_f32(fixtures_dir() / m.entry["logits"].get<std::string>());
  for (int64_t chunk : {int64_t(1024), int64_t(7), int64_t(1)}) {
    DecoderOptions options;
    options.prefill_chunk = chunk;
    Decoder decoder(m.config, m.weights, schedule_from_config(m.config), options);
    decoder.reset(int64_t(m.tokens.size()));
    const std::vector<float> logits = decoder.forward(m.tokens, /*all_logits=*/true);
    EXPECT_LE(relative_error(logits, expected), 1e-4) << GetParam() << " chunk " << chunk;
  }
}

TEST_P(FixtureModel, GreedyDecodeMatchesTransformersGenerate) {
  const LoadedModel m = load(entry());
  if (!m.entry.contains("generated")) GTEST_SKIP() << "HF recomputes dynamic NTK per step";
  const auto generated = m.entry["generated"].get<std::vector<int32_t>>();
  const std::vector<float> steps =
      read_f32(fixtures_dir() / m.entry["decode_logits"].get<std::string>());
  const int64_t V = m.config.vocab_size;
  Decoder decoder(m.config, m.weights, schedule_from_config(m.config));
  decoder.reset(int64_t(m.tokens.size() + generated.size()));
  std::vector<float> logits = decoder.forward(m.tokens, false);
  for (size_t i = 0; i < generated.size(); ++i) {
    if (i > 0) logits = decoder.forward(std::span<const int32_t>(&generated[i - 1], 1), false);
    const std::vector<float> ref(steps.begin() + int64_t(i) * V,
                                 steps.begin() + int64_t(i + 1) * V);
    EXPECT_LE(relative_error(logits, ref), 1e-4) << GetParam() << " step " << i;
  }
  GenerationOptions options;
  options.max_new_tokens = int64_t(generated.size());
  const GenerationResult r = generate(decoder, m.tokens, options);
  EXPECT_EQ(r.tokens, generated);
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  const nlohmann::json manifest = testing::manifest();
  for (const auto& e : manifest["models"]) names.push_back(e["name"]);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Transformers, FixtureModel, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace longctx::model
