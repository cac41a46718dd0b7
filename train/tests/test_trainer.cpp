// The training loop: one step equals a float64 reference step (clipping, AdamW with decoupled
// decay on matrices only, the warm-up learning rate) applied to the trainer's gradient; a few
// hundred steps on the passkey data reduce the loss; a run stopped and resumed from its
// checkpoint ends bit-identical to an uninterrupted one; the loss log and saved state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "longctx/core/error.hpp"
#include "longctx/model/safetensors.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/train/checkpoint.hpp"
#include "longctx/train/trainable_decoder.hpp"
#include "longctx/train/trainer.hpp"
#include "test_util.hpp"

namespace longctx::train {
namespace {

model::ModelConfig tiny_config() {
  model::ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = 256;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 32;
  c.max_position_embeddings = 512;
  c.rms_norm_eps = 1e-5;
  c.sliding_window.assign(2, 0);
  return c;
}

TrainerOptions tiny_options(int64_t steps) {
  TrainerOptions o;
  o.steps = steps;
  o.batch_rows = 2;
  o.seq_len = 300;
  o.lr.peak_lr = 3e-3;
  o.lr.min_lr = 3e-4;
  o.lr.warmup_steps = 5;
  o.log_every = 5;
  o.threads = 1;  // bitwise reproducible products
  return o;
}

std::filesystem::path temp_dir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() /
                 ("longctx_test_trainer_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d;
}

TEST(Trainer, OneStepEqualsFloat64ReferenceStep) {
  const model::ModelConfig c = tiny_config();
  TrainerOptions o = tiny_options(1);
  o.clip_norm = 0.05;  // small enough to clip: the reference must scale too
  o.lr.warmup_steps = 4;
  const model::DecoderWeights start = model::random_decoder_weights(c, 11);
  // The gradient the trainer computes for step 0 (validated against finite differences in
  // test_trainable_decoder).
  const StepBatch b = training_batch(o, 0);
  const model::AttentionSchedule s = model::parse_attention_schedule("dense", c);
  TrainableDecoder dec(c, s, {1});
  model::DecoderWeights g = model::zeros_like(start);
  dec.forward_backward(start, {b.rows, b.seq_len, b.tokens, b.loss_weights}, g);

  model::DecoderWeights trained = start;
  AdamW opt(o.adamw);
  const auto dir = temp_dir("one_step");
  train(o, c, trained, opt, 0, 0, dir, nullptr);

  // float64: clip by the global norm, lr = peak·1/warmup, AdamW step 1 (m̂ = g, v̂ = g²).
  auto gp = model::named_parameters(g);
  double sq = 0;
  for (auto& p : gp)
    for (float x : *p.values) sq += double(x) * x;
  const double norm = std::sqrt(sq), clip = norm > o.clip_norm ? o.clip_norm / (norm + 1e-6) : 1;
  ASSERT_LT(clip, 1.0);
  const double lr = o.lr.peak_lr / 4;
  model::DecoderWeights start_copy = start;
  auto sp = model::named_parameters(start_copy);
  auto tp = model::named_parameters(trained);
  ASSERT_EQ(sp.size(), tp.size());
  for (size_t i = 0; i < sp.size(); ++i) {
    const double wd = sp[i].is_matrix() ? o.adamw.weight_decay : 0.0;
    for (size_t j = 0; j < sp[i].values->size(); ++j) {
      const double p0 = (*sp[i].values)[j], gj = double((*gp[i].values)[j]) * clip;
      double p = p0 - lr * wd * p0;
      p -= lr * gj / (std::abs(gj) + o.adamw.eps);
      ASSERT_NEAR((*tp[i].values)[j], p, 1e-6 * std::max(1.0, std::abs(p)))
          << sp[i].name << "[" << j << "]";
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(Trainer, PasskeyTrainingReducesTheLoss) {
  const model::ModelConfig c = tiny_config();
  const int64_t steps = test::small_sizes() ? 80 : 150;
  TrainerOptions o = tiny_options(steps);
  o.log_every = 10;
  model::DecoderWeights w = model::random_decoder_weights(c, 5);
  AdamW opt(o.adamw);
  std::vector<double> losses;
  const auto dir = temp_dir("loss");
  train(o, c, w, opt, 0, 0, dir, [&](const TrainProgress& p) { losses.push_back(p.loss); });
  ASSERT_EQ(int64_t(losses.size()), steps / 10);
  EXPECT_LT(losses.back(), 0.6 * losses.front())
      << "first interval " << losses.front() << ", last " << losses.back();
  // The loss log has a header and one row per report.
  std::ifstream log(dir / "loss.csv");
  std::string line;
  int rows = -1;
  while (std::getline(log, line)) ++rows;
  EXPECT_EQ(rows, steps / 10);
  std::filesystem::remove_all(dir);
}

TEST(Trainer, ResumedRunEqualsUninterruptedRun) {
  const model::ModelConfig c = tiny_config();
  TrainerOptions o = tiny_options(6);
  o.log_every = 1;
  const model::DecoderWeights init = model::random_decoder_weights(c, 3);

  model::DecoderWeights straight = init;
  AdamW opt_a(o.adamw);
  const auto dir_a = temp_dir("straight");
  train(o, c, straight, opt_a, 0, 0, dir_a, nullptr);

  const auto dir_b = temp_dir("resumed");
  {
    model::DecoderWeights w = init;
    AdamW opt(o.adamw);
    TrainerOptions first = o;
    first.stop_after = 4;
    const TrainResult r = train(first, c, w, opt, 0, 0, dir_b, nullptr);
    EXPECT_EQ(r.steps_run, 4);
  }
  const model::ModelConfig c2 = model::load_model_config(dir_b);
  model::DecoderWeights w = model::load_decoder_weights(model::Checkpoint::open(dir_b), c2);
  AdamW opt(o.adamw);
  const TrainingState st = load_training_state(dir_b, opt, w);
  EXPECT_EQ(st.step, 4);
  EXPECT_EQ(trainer_options_from_json(st.options).steps, 6);
  const TrainResult r = train(o, c2, w, opt, st.step, st.tokens_seen, dir_b, nullptr);
  EXPECT_EQ(r.steps_run, 2);
  auto a = model::named_parameters(straight);
  auto b = model::named_parameters(w);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(*a[i].values, *b[i].values) << a[i].name;
  // The resumed log continues the first run's rows without duplicates.
  std::ifstream log(dir_b / "loss.csv");
  std::string line;
  std::vector<std::string> steps;
  std::getline(log, line);
  while (std::getline(log, line)) steps.push_back(line.substr(0, line.find(',')));
  EXPECT_EQ(steps, (std::vector<std::string>{"1", "2", "3", "4", "5", "6"}));
  std::filesystem::remove_all(dir_a);
  std::filesystem::remove_all(dir_b);
}

TEST(Trainer, IndexerWarmupTrainsOnlyTheIndexerThenEverything) {
  const model::ModelConfig c = tiny_config();
  TrainerOptions o = tiny_options(3);
  o.attention = "dense;dsa:8";
  o.indexer_heads = 2;
  o.indexer_warmup_steps = 2;
  const model::DecoderWeights init = model::random_decoder_weights(c, 9);
  model::DecoderWeights w = init;
  AdamW opt(o.adamw);
  const auto dir = temp_dir("indexer");
  o.stop_after = 2;
  train(o, c, w, opt, 0, 0, dir, nullptr);
  ASSERT_TRUE(w.layers[1].indexer.present());
  EXPECT_FALSE(w.layers[0].indexer.present());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    EXPECT_EQ(w.layers[i].q.weight, init.layers[i].q.weight) << "layer " << i << " frozen";
    EXPECT_EQ(w.layers[i].down.weight, init.layers[i].down.weight) << "layer " << i;
  }
  EXPECT_EQ(w.embed, init.embed);
  // Only the indexer's moments saw gradients during the warm-up.
  auto touched = [&](const char* name) {
    const ParameterMoments* m = opt.find_moments(name);
    EXPECT_NE(m, nullptr) << name;
    if (m == nullptr) return false;
    for (float x : m->exp_avg)
      if (x != 0.f) return true;
    return false;
  };
  EXPECT_TRUE(touched("model.layers.1.self_attn.indexer.wk.weight"));
  EXPECT_TRUE(touched("model.layers.1.self_attn.indexer.weights_proj.weight"));
  EXPECT_FALSE(touched("model.layers.1.self_attn.q_proj.weight"));
  AdamW opt2(o.adamw);
  const TrainingState st = load_training_state(dir, opt2, w);
  const model::DecoderWeights before_third = w;
  o.stop_after = 0;
  train(o, c, w, opt2, st.step, st.tokens_seen, dir, nullptr);
  EXPECT_NE(w.layers[0].q.weight, before_third.layers[0].q.weight) << "trains after warm-up";
  std::filesystem::remove_all(dir);
}

TEST(Trainer, OptionsRoundTripThroughJson) {
  TrainerOptions o = tiny_options(17);
  o.attention = "dense;dsa:64";
  o.indexer_heads = 2;
  o.needle_fraction = 0.25;
  const TrainerOptions back = trainer_options_from_json(to_json(o));
  EXPECT_EQ(to_json(back), to_json(o));
}

TEST(Trainer, BadOptionsNameTheOption) {
  const model::ModelConfig c = tiny_config();
  auto expect_error = [&](TrainerOptions o, const char* what) {
    try {
      validate(o, c);
      ADD_FAILURE() << "no error for " << what;
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  TrainerOptions o = tiny_options(10);
  o.steps = 0;
  expect_error(o, "steps");
  o = tiny_options(10);
  o.min_seq_len = 999;
  expect_error(o, "min_seq_len");
  o = tiny_options(10);
  o.attention = "dence";
  expect_error(o, "--attention");
  o = tiny_options(10);
  o.lr.peak_lr = -1;
  expect_error(o, "peak_lr");
  model::ModelConfig small_vocab = c;
  small_vocab.vocab_size = 100;
  EXPECT_THROW(validate(tiny_options(10), small_vocab), ArgumentError);
}

}  // namespace
}  // namespace longctx::train
