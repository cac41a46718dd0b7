// What training optimises is what the runtime runs: the trainer's per-position logits equal
// model::Decoder's (the inference path: KV cache, chunked prefill, rolling buffers, the trained
// DSA indexer's key cache) for every schedule, whole-prompt and chunked.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "longctx/core/rng.hpp"
#include "longctx/model/decoder.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/train/trainable_decoder.hpp"
#include "test_util.hpp"

namespace longctx::train {
namespace {

model::ModelConfig tiny_config() {
  model::ModelConfig c;
  c.vocab_size = 61;
  c.hidden_size = 48;
  c.intermediate_size = 72;
  c.num_layers = 3;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 256;
  c.rms_norm_eps = 1e-5;
  c.qkv_bias = true;
  c.sliding_window.assign(3, 0);
  return c;
}

// Share of rows whose logits agree within 1e-4 of the row's largest magnitude.
double agreeing_rows(const std::vector<float>& a, std::span<const float> b, int64_t rows,
                     int64_t V) {
  int64_t ok = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double scale = 0, err = 0;
    for (int64_t j = 0; j < V; ++j) {
      scale = std::max(scale, double(std::abs(b[size_t(r * V + j)])));
      err = std::max(err, double(std::abs(a[size_t(r * V + j)] - b[size_t(r * V + j)])));
    }
    ok += err <= 1e-4 * std::max(scale, 1.0) ? 1 : 0;
  }
  return double(ok) / double(rows);
}

TEST(RuntimeParity, TrainerLogitsEqualDecoderLogits) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  std::mt19937_64 gen(seed);
  const model::ModelConfig c = tiny_config();
  model::DecoderWeights w = model::random_decoder_weights(c, gen(), 0.15f);
  model::add_random_indexers(w, c, {1, 2}, 3, gen(), 0.2f);
  const int64_t T = 41;
  std::vector<int32_t> tokens(static_cast<size_t>(T));
  for (auto& t : tokens) t = int32_t(gen() % uint64_t(c.vocab_size));
  const std::vector<float> weights(static_cast<size_t>(T), 1.f);
  struct Case {
    const char* schedule;
    double min_agreeing;  // selection schedules: a near-tie at the k-th key may flip
  };
  for (const Case& k : {Case{"dense", 1.0}, Case{"window:7", 1.0},
                        Case{"local-global:2:5:500", 1.0}, Case{"dilated:8:1,16:2,32:4", 1.0},
                        Case{"dense;dsa:9;dsa:5", 0.9}, Case{"dense;topk-exact:6;dense", 0.9}}) {
    SCOPED_TRACE(k.schedule);
    const model::AttentionSchedule s = model::parse_attention_schedule(k.schedule, c);
    TrainableDecoder trainer(c, s);
    trainer.evaluate(w, {1, T, tokens, weights});
    for (int64_t chunk : {T, int64_t(6), int64_t(1)}) {
      SCOPED_TRACE("prefill chunk " + std::to_string(chunk));
      model::DecoderOptions o;
      o.prefill_chunk = chunk;
      model::Decoder dec(c, w, s, o);
      const std::vector<float> logits = dec.forward(tokens, /*all_logits=*/true);
      EXPECT_GE(agreeing_rows(logits, trainer.logits(), T, c.vocab_size), k.min_agreeing);
    }
  }
}

}  // namespace
}  // namespace longctx::train
