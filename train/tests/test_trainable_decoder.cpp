// Whole-model gradients of the trainer: against central finite differences of the float64
// reference loss (reference_decoder.hpp) for dense, window and local-global schedules with GQA,
// biases, tied and untied heads and a scaled RoPE; sparse mechanisms against the dense
// gradients where they select every key; the trained indexer against finite differences of its
// own KL loss; bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/train/trainable_decoder.hpp"
#include "reference_decoder.hpp"
#include "test_util.hpp"

namespace longctx::train {
namespace {

using model::DecoderWeights;
using model::ModelConfig;

ModelConfig tiny_config(bool tied, bool bias) {
  ModelConfig c;
  c.vocab_size = 23;
  c.hidden_size = 40;
  c.intermediate_size = 36;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = tied;
  c.qkv_bias = bias;
  c.o_bias = bias;
  c.mlp_bias = bias;
  c.sliding_window.assign(2, 0);
  return c;
}

struct Batch {
  int64_t rows, seq;
  std::vector<int32_t> tokens;  // [B, T]
  std::vector<float> weights;   // [B, T]
  TokenBatch view() const { return {rows, seq, tokens, weights}; }
};

Batch random_batch(int64_t rows, int64_t seq, int64_t vocab, std::mt19937_64& gen) {
  Batch b{rows, seq, std::vector<int32_t>(size_t(rows * seq)),
          std::vector<float>(size_t(rows * seq))};
  for (auto& t : b.tokens) t = int32_t(gen() % uint64_t(vocab));
  std::uniform_real_distribution<float> u(0.f, 2.f);
  for (auto& w : b.weights) w = gen() % 4 == 0 ? 0.f : u(gen);
  return b;
}

// Biases and norms away from their initial values so their gradients are generic.
void perturb(DecoderWeights& w, std::mt19937_64& gen) {
  std::normal_distribution<float> n(0.f, 0.2f);
  for (model::NamedParameter& p : model::named_parameters(w))
    if (!p.is_matrix())
      for (float& v : *p.values) v += n(gen);
}

// Checks a few random coordinates of every tensor against central differences of `loss`.
template <typename Loss>
void check_gradients(DecoderWeights& w, DecoderWeights& grads, Loss loss, std::mt19937_64& gen,
                     int per_tensor, double rel_tol) {
  auto params = model::named_parameters(w);
  auto gparams = model::named_parameters(grads);
  ASSERT_EQ(params.size(), gparams.size());
  for (size_t p = 0; p < params.size(); ++p) {
    std::vector<float>& values = *params[p].values;
    const std::vector<float>& g = *gparams[p].values;
    double scale = 0.0;
    for (float x : g) scale = std::max(scale, double(std::abs(x)));
    for (int s = 0; s < per_tensor; ++s) {
      const size_t i = size_t(gen() % values.size());
      const float saved = values[i];
      const double h = 1e-3 * std::max(1.0, double(std::abs(saved)));
      values[i] = float(saved + h);
      const double up = loss(w);
      values[i] = float(saved - h);
      const double down = loss(w);
      values[i] = saved;
      const double h_eff = (double(float(saved + h)) - double(float(saved - h))) / 2;
      const double fd = (up - down) / (2 * h_eff);
      EXPECT_NEAR(g[i], fd, rel_tol * std::max(scale, 1e-4))
          << params[p].name << "[" << i << "] (tensor max |g| " << scale << ")";
    }
  }
}

struct GradCase {
  const char* name;
  bool tied, bias;
  const char* schedule;                      // parsed by the runtime's syntax
  std::vector<testing::ReferenceLayer> ref;  // what the reference runs per layer
  bool yarn;
};

class WholeModelGradient : public ::testing::TestWithParam<GradCase> {};

TEST_P(WholeModelGradient, MatchesFiniteDifferencesOfFloat64Reference) {
  const GradCase& gc = GetParam();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  std::mt19937_64 gen(seed);
  ModelConfig c = tiny_config(gc.tied, gc.bias);
  if (gc.yarn) {
    c.rope.type = model::RopeType::yarn;
    c.rope.factor = 4.0;
    c.rope.original_max_position_embeddings = 16;
  }
  const model::AttentionSchedule schedule = model::parse_attention_schedule(gc.schedule, c);
  DecoderWeights w = model::random_decoder_weights(c, gen(), 0.2f);
  perturb(w, gen);
  const Batch b = random_batch(2, 11, c.vocab_size, gen);
  TrainableDecoder trainer(c, schedule);
  DecoderWeights grads = model::zeros_like(w);
  const StepLoss sl = trainer.forward_backward(w, b.view(), grads);
  const double ref = testing::reference_loss(c, w, gc.ref, b.tokens, b.weights, b.rows, b.seq);
  EXPECT_NEAR(sl.loss, ref, 1e-5 * std::abs(ref));
  check_gradients(
      w, grads,
      [&](const DecoderWeights& x) {
        return testing::reference_loss(c, x, gc.ref, b.tokens, b.weights, b.rows, b.seq);
      },
      gen, test::small_sizes() ? 2 : 5, 2e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Schedules, WholeModelGradient,
    ::testing::Values(
        GradCase{"dense", false, false, "dense", {{0, 0}, {0, 0}}, false},
        GradCase{"dense_tied_bias", true, true, "dense", {{0, 0}, {0, 0}}, false},
        GradCase{"window", false, true, "window:4;dense", {{4, 0}, {0, 0}}, false},
        GradCase{
            "local_global_yarn", true, false, "local-global:2:3:500", {{0, 0}, {3, 500}}, true}),
    [](const auto& info) { return std::string(info.param.name); });

// Runs forward_backward of `schedule` and returns (loss, grads).
std::pair<double, DecoderWeights> loss_and_grads(const ModelConfig& c, const DecoderWeights& w,
                                                 const std::string& schedule, const Batch& b) {
  const model::AttentionSchedule s = model::parse_attention_schedule(schedule, c);
  TrainableDecoder trainer(c, s);
  DecoderWeights g = model::zeros_like(w);
  const double loss = trainer.forward_backward(w, b.view(), g).loss;
  return {loss, std::move(g)};
}

void expect_same_gradients(const DecoderWeights& a, const DecoderWeights& ref) {
  auto pa = model::named_parameters(a);
  auto pr = model::named_parameters(ref);
  for (size_t p = 0; p < pa.size(); ++p) {
    double scale = 0.0;
    for (float x : *pr[p].values) scale = std::max(scale, double(std::abs(x)));
    for (size_t i = 0; i < pa[p].values->size(); ++i)
      ASSERT_NEAR((*pa[p].values)[i], (*pr[p].values)[i], 1e-4 * std::max(scale, 1e-6))
          << pa[p].name << "[" << i << "]";
  }
}

TEST(SparseGradients, SelectingEveryKeyEqualsDense) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  std::mt19937_64 gen(seed);
  const ModelConfig c = tiny_config(false, true);
  DecoderWeights w = model::random_decoder_weights(c, gen(), 0.2f);
  const Batch b = random_batch(2, 13, c.vocab_size, gen);
  const auto [dense_loss, dense] = loss_and_grads(c, w, "dense", b);
  for (const char* s : {"dsa:13", "topk-exact:20", "dilated:16:1", "window:13"}) {
    SCOPED_TRACE(s);
    const auto [loss, g] = loss_and_grads(c, w, s, b);
    EXPECT_NEAR(loss, dense_loss, 1e-5 * dense_loss);
    expect_same_gradients(g, dense);
  }
}

TEST(SparseGradients, SelectingFewerKeysChangesTheLoss) {
  std::mt19937_64 gen(7);
  const ModelConfig c = tiny_config(false, false);
  DecoderWeights w = model::random_decoder_weights(c, gen(), 0.3f);
  const Batch b = random_batch(1, 17, c.vocab_size, gen);
  const double dense = loss_and_grads(c, w, "dense", b).first;
  for (const char* s : {"dsa:3", "topk-exact:3", "dilated:4:1,16:4", "window:3"}) {
    SCOPED_TRACE(s);
    EXPECT_GT(std::abs(loss_and_grads(c, w, s, b).first - dense), 1e-6);
  }
}

// The indexer's gradients against central differences of its own (dense) KL loss.
TEST(IndexerGradient, MatchesFiniteDifferencesOfItsKlLoss) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  std::mt19937_64 gen(seed);
  const ModelConfig c = tiny_config(false, false);
  DecoderWeights w = model::random_decoder_weights(c, gen(), 0.2f);
  model::add_random_indexers(w, c, {1}, 3, gen(), 0.3f);
  const model::AttentionSchedule s = model::parse_attention_schedule("dense;dsa:4", c);
  const Batch b = random_batch(1, 12, c.vocab_size, gen);
  TrainableOptions opt;
  opt.dense_dsa = true;  // warm-up: no selection, so the KL loss is smooth in the weights
  TrainableDecoder trainer(c, s, opt);
  DecoderWeights g = model::zeros_like(w);
  trainer.forward_backward(w, b.view(), g);
  auto kl = [&](model::DecoderWeights& x) {
    DecoderWeights scratch = model::zeros_like(x);
    return trainer.forward_backward(x, b.view(), scratch).indexer_loss;
  };
  for (model::Linear* lin :
       {&w.layers[1].indexer.wq, &w.layers[1].indexer.wk, &w.layers[1].indexer.weights}) {
    const model::Linear& gl = lin == &w.layers[1].indexer.wq   ? g.layers[1].indexer.wq
                              : lin == &w.layers[1].indexer.wk ? g.layers[1].indexer.wk
                                                               : g.layers[1].indexer.weights;
    double scale = 0.0;
    for (float x : gl.weight) scale = std::max(scale, double(std::abs(x)));
    ASSERT_GT(scale, 0.0);
    for (int r = 0; r < 6; ++r) {
      const size_t i = size_t(gen() % lin->weight.size());
      const float saved = lin->weight[i];
      const float h = 1e-2f;
      lin->weight[i] = saved + h;
      const double up = kl(w);
      lin->weight[i] = saved - h;
      const double down = kl(w);
      lin->weight[i] = saved;
      const double fd = (up - down) / (double(saved + h) - double(saved - h));
      EXPECT_NEAR(gl.weight[i], fd, 2e-2 * scale) << "indexer weight " << i;
    }
  }
  // Main weights get no gradient from the KL loss: with dense_dsa the layer's attention is
  // dense, so its gradients equal a dense schedule's.
  const auto [loss, dense] = loss_and_grads(c, w, "dense", b);
  DecoderWeights g_main = g;
  for (auto& l : g_main.layers) l.indexer = {};
  DecoderWeights dense_main = dense;
  for (auto& l : dense_main.layers) l.indexer = {};
  expect_same_gradients(g_main, dense_main);
}

TEST(TrainableDecoderErrors, BadInputNamesTheArgument) {
  const ModelConfig c = tiny_config(false, false);
  const model::AttentionSchedule s = model::parse_attention_schedule("dense", c);
  DecoderWeights w = model::random_decoder_weights(c, 1);
  DecoderWeights g = model::zeros_like(w);
  TrainableDecoder trainer(c, s);
  std::vector<int32_t> tokens{1, 2, 3, 4};
  std::vector<float> weights{1, 1, 1, 1};
  auto expect_error = [&](const TokenBatch& b, const char* what) {
    try {
      trainer.forward_backward(w, b, g);
      ADD_FAILURE() << "no error for " << what;
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error({2, 3, tokens, weights}, "tokens");
  std::vector<int32_t> bad{1, 99, 3, 4};
  expect_error({1, 4, bad, weights}, "tokens");
  std::vector<float> zeros{0, 0, 0, 1};  // the last position predicts nothing
  expect_error({1, 4, tokens, zeros}, "loss_weights");
  std::vector<float> negative{1, -1, 1, 1};
  expect_error({1, 4, tokens, negative}, "loss_weights");
  expect_error({1, 1, std::span(tokens).first(1), std::span(weights).first(1)}, "batch");
}

}  // namespace
}  // namespace longctx::train
