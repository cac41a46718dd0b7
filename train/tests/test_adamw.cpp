// AdamW against a float64 reference written here (several steps, with and without weight decay,
// matrices decayed and vectors not, bias correction at step 1), gradient clipping against a
// float64 norm, the warm-up + cosine schedule against its closed form, and the errors on bad
// options or mismatched tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/model/weights.hpp"
#include "longctx/train/adamw.hpp"
#include "test_util.hpp"

namespace longctx::train {
namespace {

using model::DecoderWeights;
using model::ModelConfig;
using model::NamedParameter;

// A tiny decoder: odd sizes, GQA, optional biases and tied embeddings.
ModelConfig tiny_config(bool biases, bool tied) {
  ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = 37;
  c.hidden_size = 12;
  c.intermediate_size = 19;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 6;
  c.max_position_embeddings = 64;
  c.qkv_bias = c.o_bias = c.mlp_bias = biases;
  c.tie_word_embeddings = tied;
  c.sliding_window.assign(2, 0);
  return c;
}

// Every parameter (norms and biases included) drawn at random, so no update is trivially exact.
DecoderWeights random_weights(const ModelConfig& c, Rng& rng) {
  DecoderWeights w = model::random_decoder_weights(c, rng.engine()());
  for (NamedParameter& p : model::named_parameters(w))
    for (float& x : *p.values) x = rng.normal(0.f, 0.5f);
  return w;
}

// Gradients of mixed magnitudes (each tensor its own scale, a few exact zeros).
DecoderWeights random_grads(const DecoderWeights& w, Rng& rng) {
  DecoderWeights g = model::zeros_like(w);
  for (NamedParameter& p : model::named_parameters(g)) {
    const float scale = std::pow(10.f, rng.uniform(-3.f, 0.5f));
    for (float& x : *p.values) x = rng.uniform(0.f, 1.f) < 0.05f ? 0.f : rng.normal(0.f, scale);
  }
  return g;
}

// The textbook AdamW update in float64, one tensor at a time.
struct ReferenceAdamW {
  AdamWOptions o;
  int64_t t = 0;
  std::vector<std::vector<double>> p, m, v;  // per parameter, [n]

  explicit ReferenceAdamW(AdamWOptions options, DecoderWeights& w) : o(options) {
    for (const NamedParameter& q : model::named_parameters(w)) {
      p.emplace_back(q.values->begin(), q.values->end());
      m.emplace_back(q.values->size(), 0.0);
      v.emplace_back(q.values->size(), 0.0);
    }
  }
  void step(DecoderWeights& grads, double lr) {
    ++t;
    const std::vector<NamedParameter> g = model::named_parameters(grads);
    for (size_t i = 0; i < g.size(); ++i) {
      for (size_t j = 0; j < p[i].size(); ++j) {
        const double gj = (*g[i].values)[j];
        m[i][j] = o.beta1 * m[i][j] + (1 - o.beta1) * gj;
        v[i][j] = o.beta2 * v[i][j] + (1 - o.beta2) * gj * gj;
        const double m_hat = m[i][j] / (1 - std::pow(o.beta1, double(t)));
        const double v_hat = v[i][j] / (1 - std::pow(o.beta2, double(t)));
        if (g[i].is_matrix()) p[i][j] -= lr * o.weight_decay * p[i][j];
        p[i][j] -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
      }
    }
  }
};

// Runs `steps` updates of both implementations on the same random gradients and compares the
// parameters after each: float32 rounding of p (~|p|·6e-8 per step) plus of the update
// (~lr·1e-6 per step) stays far below the 1e-6·|p| + 1e-5·Σlr bound, while a wrong bias
// correction or weight decay moves p by ≥ lr·wd·|p| ≈ 1e-4·|p|.
void check_against_reference(AdamWOptions options, bool biases, bool tied, uint64_t seed) {
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  const ModelConfig c = tiny_config(biases, tied);
  DecoderWeights w = random_weights(c, rng);
  ReferenceAdamW ref(options, w);
  AdamW adamw(options);
  double lr_sum = 0.0;
  for (int step = 0; step < 6; ++step) {
    DecoderWeights g = random_grads(w, rng);
    const double lr = 1e-2 * (1.0 + 0.3 * step);
    lr_sum += lr;
    adamw.step(w, g, lr);
    ref.step(g, lr);
    ASSERT_EQ(adamw.steps(), step + 1);
    const std::vector<NamedParameter> params = model::named_parameters(w);
    for (size_t i = 0; i < params.size(); ++i) {
      for (size_t j = 0; j < ref.p[i].size(); ++j) {
        const double got = (*params[i].values)[j], want = ref.p[i][j];
        ASSERT_LE(std::abs(got - want), 1e-6 * std::abs(want) + 1e-5 * lr_sum)
            << params[i].name << "[" << j << "] after step " << step + 1;
      }
      const ParameterMoments* m = adamw.find_moments(params[i].name);
      ASSERT_NE(m, nullptr) << params[i].name;
      // m = β1·m + (1−β1)·g may cancel to ~0: judge it against the tensor's largest moment.
      double m_scale = 0.0;
      for (const double x : ref.m[i]) m_scale = std::max(m_scale, std::abs(x));
      for (size_t j = 0; j < ref.m[i].size(); ++j) {
        ASSERT_NEAR(m->exp_avg[j], ref.m[i][j], 1e-6 * (std::abs(ref.m[i][j]) + m_scale));
        ASSERT_NEAR(m->exp_avg_sq[j], ref.v[i][j], 1e-6 * std::abs(ref.v[i][j]));
      }
    }
  }
}

TEST(AdamW, MatchesFloat64ReferenceWithWeightDecay) {
  check_against_reference({0.9, 0.95, 1e-8, 0.1}, /*biases=*/true, /*tied=*/false, fresh_seed());
  check_against_reference({0.8, 0.99, 1e-6, 0.3}, /*biases=*/false, /*tied=*/true, fresh_seed());
}

TEST(AdamW, MatchesFloat64ReferenceWithoutWeightDecay) {
  check_against_reference({0.9, 0.999, 1e-8, 0.0}, /*biases=*/true, /*tied=*/true, fresh_seed());
}

// With zero gradients the Adam term is 0/(0+eps) = 0: only the decay moves anything, and only
// on matrices (embedding, projections, LM head), never on norms or biases.
TEST(AdamW, DecaysMatricesOnly) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  DecoderWeights w = random_weights(tiny_config(/*biases=*/true, /*tied=*/false), rng);
  const DecoderWeights before = w;
  AdamW adamw({0.9, 0.95, 1e-8, 0.5});
  adamw.step(w, model::zeros_like(w), 0.1);
  const float factor = float(1.0 - 0.1 * 0.5);
  const std::vector<NamedParameter> now = model::named_parameters(w);
  const std::vector<model::ConstNamedParameter> old = model::named_parameters(before);
  int matrices = 0, vectors = 0;
  for (size_t i = 0; i < now.size(); ++i) {
    (now[i].is_matrix() ? matrices : vectors)++;
    for (size_t j = 0; j < now[i].values->size(); ++j) {
      const float expected =
          now[i].is_matrix() ? (*old[i].values)[j] * factor : (*old[i].values)[j];
      ASSERT_EQ((*now[i].values)[j], expected) << now[i].name << "[" << j << "]";
    }
  }
  EXPECT_GT(matrices, 0);
  EXPECT_GT(vectors, 0);
}

// At t = 1 the bias corrections make m̂ = g and v̂ = g², so each element moves by
// lr·g/(|g| + eps) ≈ lr·sign(g) whatever the gradient's scale.
TEST(AdamW, BiasCorrectionAtStepOne) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  DecoderWeights w = random_weights(tiny_config(/*biases=*/false, /*tied=*/false), rng);
  const DecoderWeights before = w;
  DecoderWeights g = random_grads(w, rng);
  const double lr = 0.01, eps = 1e-8;
  AdamW adamw({0.9, 0.95, eps, 0.0});
  adamw.step(w, g, lr);
  const std::vector<NamedParameter> now = model::named_parameters(w);
  const std::vector<model::ConstNamedParameter> old = model::named_parameters(before);
  const std::vector<NamedParameter> grad = model::named_parameters(g);
  for (size_t i = 0; i < now.size(); ++i) {
    for (size_t j = 0; j < now[i].values->size(); ++j) {
      const double gj = (*grad[i].values)[j];
      const double step = double((*now[i].values)[j]) - double((*old[i].values)[j]);
      const double want = -lr * gj / (std::abs(gj) + eps);
      ASSERT_NEAR(step, want, 1e-6 * std::abs((*old[i].values)[j]) + 1e-6 * lr)
          << now[i].name << "[" << j << "] g=" << gj;
    }
  }
}

TEST(AdamW, RejectsBadOptionsNamingTheField) {
  const auto field_of = [](AdamWOptions o) {
    try {
      AdamW adamw(o);
    } catch (const ArgumentError& e) {
      return e.argument();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(field_of({1.0, 0.95, 1e-8, 0.1}), "beta1");
  EXPECT_EQ(field_of({-0.1, 0.95, 1e-8, 0.1}), "beta1");
  EXPECT_EQ(field_of({0.9, 1.5, 1e-8, 0.1}), "beta2");
  EXPECT_EQ(field_of({0.9, std::nan(""), 1e-8, 0.1}), "beta2");
  EXPECT_EQ(field_of({0.9, 0.95, 0.0, 0.1}), "eps");
  EXPECT_EQ(field_of({0.9, 0.95, 1e-8, -0.1}), "weight_decay");
  EXPECT_EQ(field_of({0.9, 0.95, 1e-8, std::numeric_limits<double>::infinity()}), "weight_decay");
  EXPECT_EQ(field_of({}), "(accepted)");
}

TEST(AdamW, RejectsBadLearningRateAndMismatchedTensors) {
  Rng rng(fresh_seed());
  const ModelConfig c = tiny_config(false, false);
  DecoderWeights w = random_weights(c, rng);
  AdamW adamw;
  try {
    adamw.step(w, model::zeros_like(w), -1e-3);
    FAIL() << "negative lr accepted";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "lr");
  }
  // Gradients of a model with another intermediate size: the first differing tensor is named.
  ModelConfig other = c;
  other.intermediate_size = 21;
  try {
    adamw.step(w, model::zeros_like(random_weights(other, rng)), 1e-3);
    FAIL() << "mismatched gradients accepted";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "grads");
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.gate_proj.weight"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(adamw.steps(), 0);  // nothing was applied
  // The parameter list may not change once moments exist.
  adamw.step(w, model::zeros_like(w), 1e-3);
  model::add_random_indexers(w, c, {1}, 2, 7);
  try {
    adamw.step(w, model::zeros_like(w), 1e-3);
    FAIL() << "new parameters accepted";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "weights");
  }
}

TEST(AdamW, LoadStateRequiresMomentsExactlyAfterSteps) {
  AdamW adamw;
  EXPECT_THROW(adamw.load_state(3, {}), ArgumentError);
  EXPECT_THROW(adamw.load_state(0, {{"x", {2}, {0.f, 0.f}, {0.f, 0.f}}}), ArgumentError);
  EXPECT_THROW(adamw.load_state(1, {{"x", {3}, {0.f, 0.f}, {0.f, 0.f}}}), ArgumentError);
  adamw.load_state(2, {{"x", {2}, {1.f, 2.f}, {3.f, 4.f}}});
  EXPECT_EQ(adamw.steps(), 2);
  ASSERT_NE(adamw.find_moments("x"), nullptr);
  EXPECT_EQ(adamw.find_moments("x")->exp_avg_sq[1], 4.f);
  EXPECT_EQ(adamw.find_moments("y"), nullptr);
}

double norm64(DecoderWeights& g) {
  double s = 0.0;
  for (const NamedParameter& p : model::named_parameters(g))
    for (const float x : *p.values) s += double(x) * double(x);
  return std::sqrt(s);
}

TEST(AdamWGradClip, MeasuresWithoutClippingBelowMaxOrWhenDisabled) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  DecoderWeights w = random_weights(tiny_config(true, false), rng);
  DecoderWeights g = random_grads(w, rng);
  const DecoderWeights before = g;
  const double want = norm64(g);
  for (const double max_norm : {0.0, -1.0, 2.0 * want, 1.01 * want}) {
    EXPECT_NEAR(clip_grad_norm(g, max_norm), want, 1e-12 * want) << "max_norm " << max_norm;
    const auto a = model::named_parameters(g);
    const auto b = model::named_parameters(before);
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_EQ(*a[i].values, *b[i].values) << a[i].name << " changed at max_norm " << max_norm;
  }
}

TEST(AdamWGradClip, ScalesEveryGradientToTheMaxNorm) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  DecoderWeights w = random_weights(tiny_config(false, true), rng);
  DecoderWeights g = random_grads(w, rng);
  const DecoderWeights before = g;
  const double norm = norm64(g), max_norm = norm / 3.7;
  EXPECT_NEAR(clip_grad_norm(g, max_norm), norm, 1e-12 * norm);
  const float scale = float(max_norm / (norm + 1e-6));  // torch's coefficient
  const auto a = model::named_parameters(g);
  const auto b = model::named_parameters(before);
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a[i].values->size(); ++j)
      ASSERT_EQ((*a[i].values)[j], (*b[i].values)[j] * scale) << a[i].name << "[" << j << "]";
  EXPECT_NEAR(norm64(g), max_norm, 1e-5 * max_norm);
}

TEST(AdamWGradClip, NonFiniteNormIsReportedAndNothingScaled) {
  Rng rng(fresh_seed());
  DecoderWeights w = random_weights(tiny_config(false, false), rng);
  DecoderWeights g = random_grads(w, rng);
  g.final_norm[3] = std::numeric_limits<float>::infinity();
  const float first = g.embed[0];
  EXPECT_TRUE(std::isinf(clip_grad_norm(g, 1.0)));
  EXPECT_EQ(g.embed[0], first);
  EXPECT_THROW(clip_grad_norm(g, std::nan("")), ArgumentError);
}

// Closed form: warm-up peak·(s+1)/W, then min + (peak − min)·(1 + cos(π·(s − W)/(T − W)))/2.
TEST(AdamWLrSchedule, WarmupThenCosineToMinimum) {
  const LrSchedule s{/*peak_lr=*/6e-4, /*min_lr=*/6e-5, /*warmup_steps=*/10, /*total_steps=*/110};
  const double peak = 6e-4, low = 6e-5, tol = 1e-15;
  EXPECT_NEAR(learning_rate(s, 0), peak / 10, tol);      // warm-up start
  EXPECT_NEAR(learning_rate(s, 4), peak * 5 / 10, tol);  // warm-up middle
  EXPECT_NEAR(learning_rate(s, 9), peak, tol);           // warm-up end
  EXPECT_NEAR(learning_rate(s, 10), peak, tol);          // cosine start
  EXPECT_NEAR(learning_rate(s, 35), low + (peak - low) * (1 + std::cos(std::numbers::pi / 4)) / 2,
              tol);                                          // a quarter into the decay
  EXPECT_NEAR(learning_rate(s, 60), (peak + low) / 2, tol);  // mid-cosine
  EXPECT_NEAR(learning_rate(s, 109),
              low + (peak - low) * (1 + std::cos(std::numbers::pi * 99 / 100)) / 2, tol);
  EXPECT_EQ(learning_rate(s, 110), low);   // end
  EXPECT_EQ(learning_rate(s, 5000), low);  // after
  for (int64_t step = 10; step < 120; ++step)
    ASSERT_LE(learning_rate(s, step + 1), learning_rate(s, step)) << "step " << step;
  // Without warm-up the first step runs at the peak.
  EXPECT_EQ(learning_rate({1e-3, 0.0, 0, 50}, 0), 1e-3);
  EXPECT_EQ(learning_rate({1e-3, 0.0, 0, 50}, 50), 0.0);
}

TEST(AdamWLrSchedule, RejectsBadOptionsNamingTheField) {
  const auto field_of = [](LrSchedule s, int64_t step) {
    try {
      learning_rate(s, step);
    } catch (const ArgumentError& e) {
      return e.argument();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(field_of({0.0, 0.0, 1, 10}, 0), "peak_lr");
  EXPECT_EQ(field_of({std::nan(""), 0.0, 1, 10}, 0), "peak_lr");
  EXPECT_EQ(field_of({1e-3, 2e-3, 1, 10}, 0), "min_lr");
  EXPECT_EQ(field_of({1e-3, -1e-4, 1, 10}, 0), "min_lr");
  EXPECT_EQ(field_of({1e-3, 0.0, -1, 10}, 0), "warmup_steps");
  EXPECT_EQ(field_of({1e-3, 0.0, 20, 10}, 0), "total_steps");
  EXPECT_EQ(field_of({1e-3, 0.0, 0, 0}, 0), "total_steps");
  EXPECT_EQ(field_of({1e-3, 0.0, 1, 10}, -1), "step");
  EXPECT_EQ(field_of({1e-3, 1e-3, 10, 10}, 3), "(accepted)");
}

}  // namespace
}  // namespace longctx::train
