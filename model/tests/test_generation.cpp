// Sampling (greedy, temperature, top-p), the generation loop's bookkeeping and the
// --rope-scaling override.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "longctx/core/error.hpp"
#include "longctx/model/generate.hpp"
#include "longctx/model/rope_override.hpp"

namespace longctx::model {
namespace {

TEST(TokenSampler, GreedyTakesTheArgmaxAndTheLowestIdOnTies) {
  TokenSampler greedy(SamplingOptions{});
  EXPECT_EQ(greedy.sample(std::vector<float>{0.1f, 3.f, -2.f, 2.9f}), 1);
  EXPECT_EQ(greedy.sample(std::vector<float>{1.f, 5.f, 5.f}), 1);
}

TEST(TokenSampler, TemperatureFollowsTheSoftmaxAndTheSeed) {
  const std::vector<float> logits{0.f, 1.f, 2.f, -1.f};
  SamplingOptions o;
  o.temperature = 1.5;
  o.seed = 42;
  TokenSampler a(o), b(o);
  std::map<int32_t, int> counts;
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) {
    const int32_t t = a.sample(logits);
    EXPECT_EQ(t, b.sample(logits));  // same seed, same stream
    ++counts[t];
  }
  double z = 0.0;
  for (float l : logits) z += std::exp(l / 1.5);
  for (int32_t t = 0; t < 4; ++t) {
    const double p = std::exp(logits[size_t(t)] / 1.5) / z;
    // 5 standard deviations of a binomial: fails only if the sampler is biased.
    EXPECT_NEAR(counts[t] / double(draws), p, 5 * std::sqrt(p * (1 - p) / draws)) << t;
  }
}

TEST(TokenSampler, TopPKeepsOnlyTheNucleus) {
  // Probabilities at temperature 1: ~[0.64, 0.24, 0.09, 0.03]; top_p 0.7 keeps the first two.
  const std::vector<float> logits{3.f, 2.f, 1.f, 0.f};
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_p = 0.7;
  o.seed = 7;
  TokenSampler s(o);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 5000; ++i) ++counts[s.sample(logits)];
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_GT(counts[1], 0);
  o.top_p = 1e-9;  // only the most probable token remains
  TokenSampler tiny(o);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(tiny.sample(logits), 0);
}

TEST(TokenSampler, BadOptionsNameTheFlag) {
  SamplingOptions o;
  o.temperature = -1;
  EXPECT_THROW(TokenSampler{o}, ArgumentError);
  o.temperature = 1;
  o.top_p = 0;
  try {
    TokenSampler s(o);
    ADD_FAILURE();
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("--top-p"), std::string::npos);
  }
}

ModelConfig base_config() {
  ModelConfig c;
  c.max_position_embeddings = 4096;
  c.rope.theta = 500000;
  return c;
}

TEST(RopeOverride, EachFormSetsHuggingFacesKeys) {
  ModelConfig c = base_config();
  apply_rope_scaling_override(c, "yarn:4");
  EXPECT_EQ(c.rope.type, RopeType::yarn);
  EXPECT_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 4096);
  EXPECT_EQ(c.max_position_embeddings, 16384);
  EXPECT_EQ(c.rope.theta, 500000);
  c = base_config();
  apply_rope_scaling_override(c, "llama3:8:8192:1:4");
  EXPECT_EQ(c.rope.type, RopeType::llama3);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.rope.high_freq_factor, 4.0);
  EXPECT_EQ(c.max_position_embeddings, 65536);
  c = base_config();
  apply_rope_scaling_override(c, "linear:2");
  EXPECT_EQ(c.rope.type, RopeType::linear);
  EXPECT_EQ(c.max_position_embeddings, 4096);  // PI keeps the trained length as HF does
  apply_rope_scaling_override(c, "none");
  EXPECT_EQ(c.rope.type, RopeType::standard);
}

TEST(RopeOverride, BadFormsNameTheFlag) {
  for (const char* bad : {"", "yarn", "yarn:x", "yarn:4:8:9", "linear:2:3", "longrope:2",
                          "llama3:8:8192:4", "llama3:8:8192:4:1", "none:2", "dynamic:-1"}) {
    ModelConfig c = base_config();
    try {
      apply_rope_scaling_override(c, bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find("--rope-scaling"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace longctx::model
