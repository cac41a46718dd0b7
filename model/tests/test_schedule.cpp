// Attention schedules in the decoder: every mechanism gives the same logits whether the prompt
// runs at once, in chunks, or token by token through the KV cache (contiguous and rolling);
// mechanisms that reduce to dense attention do (window ≥ T, dsa:K and topk-exact:K with K ≥ T);
// the row-wise dilated mixture equals sparse::dilated_forward; parsing errors name --attention.
#include <gtest/gtest.h>

#include <random>

#include "fixture_models.hpp"
#include "layer_attention.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/model/decoder.hpp"
#include "longctx/sparse/dilated.hpp"

namespace longctx::model {
namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 97;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_layers = 3;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 4096;
  c.rms_norm_eps = 1e-5;
  c.sliding_window.assign(3, 0);
  return c;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int32_t(gen() % uint64_t(vocab));
  return t;
}

std::vector<float> prefill(const ModelConfig& c, const DecoderWeights& w,
                           const std::string& schedule, const std::vector<int32_t>& tokens,
                           int64_t chunk) {
  DecoderOptions o;
  o.prefill_chunk = chunk;
  Decoder d(c, w, parse_attention_schedule(schedule, c), o);
  d.reset(int64_t(tokens.size()));
  return d.forward(tokens, true);
}

// Logits of every position, computed one token at a time through the cache.
std::vector<float> token_by_token(const ModelConfig& c, const DecoderWeights& w,
                                  const std::string& schedule, const std::vector<int32_t>& tokens) {
  Decoder d(c, w, parse_attention_schedule(schedule, c));
  d.reset(int64_t(tokens.size()));
  std::vector<float> all;
  for (const int32_t& t : tokens) {
    const std::vector<float> row = d.forward(std::span<const int32_t>(&t, 1), false);
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

// Share of the T rows of two [T, V] logit blocks that agree within max |a − b| ≤ tol·max |b|.
double rows_agreeing(const std::vector<float>& a, const std::vector<float>& b, int64_t vocab,
                     double tol) {
  const int64_t rows = int64_t(b.size()) / vocab;
  int64_t agree = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> ra(a.begin() + r * vocab, a.begin() + (r + 1) * vocab);
    const std::vector<float> rb(b.begin() + r * vocab, b.begin() + (r + 1) * vocab);
    agree += testing::relative_error(ra, rb) <= tol;
  }
  return double(agree) / double(rows);
}

// Logits [45, V] of a random model with random tokens by three paths: the whole prompt at once,
// 6-token chunks, and one token at a time through the cache.
struct ThreePaths {
  uint64_t seed = 0;
  std::vector<float> whole, chunked, decoded;
};

ThreePaths run_three_paths(const std::string& schedule) {
  const ModelConfig c = tiny_config();
  ThreePaths r;
  r.seed = fresh_seed();
  const DecoderWeights w = random_decoder_weights(c, r.seed, 0.15f);
  const std::vector<int32_t> tokens = random_tokens(45, c.vocab_size, r.seed + 1);
  r.whole = prefill(c, w, schedule, tokens, 1024);
  r.chunked = prefill(c, w, schedule, tokens, 6);
  r.decoded = token_by_token(c, w, schedule, tokens);
  return r;
}

// Exact mechanisms: every row of every path agrees.
class EverySchedule : public ::testing::TestWithParam<std::string> {};

TEST_P(EverySchedule, PrefillChunksAndDecodingAgree) {
  const ThreePaths r = run_three_paths(GetParam());
  EXPECT_LE(testing::relative_error(r.chunked, r.whole), 2e-5) << GetParam() << " seed " << r.seed;
  EXPECT_LE(testing::relative_error(r.decoded, r.whole), 2e-5) << GetParam() << " seed " << r.seed;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Schedules, EverySchedule,
                         ::testing::Values("dense", "window:5", "window:16", "local-global:2:4:500",
                                           "dilated:4:1,8:2,16:4", "dense;window:3;dilated:8:1"),
                         test_name);

// Selection mechanisms (dsa, topk-exact) pick keys by a top-k: the paths round differently in
// the last bits (sgemv vs sgemm, chunked vs whole attention), and a score within rounding of
// the k-th one may then be selected on one path and not on the other, which changes that row
// at that layer. With the selecting layer last such a flip touches one row only, so nearly
// every row must still agree exactly; a broken cache or selection would break most of them.
class SelectionSchedule : public ::testing::TestWithParam<std::string> {};

TEST_P(SelectionSchedule, PrefillChunksAndDecodingAgreeOnNearlyEveryRow) {
  const ThreePaths r = run_three_paths(GetParam());
  const int64_t vocab = tiny_config().vocab_size;
  EXPECT_GE(rows_agreeing(r.chunked, r.whole, vocab, 2e-5), 0.9)
      << GetParam() << " seed " << r.seed;
  EXPECT_GE(rows_agreeing(r.decoded, r.whole, vocab, 2e-5), 0.9)
      << GetParam() << " seed " << r.seed;
}

INSTANTIATE_TEST_SUITE_P(Schedules, SelectionSchedule,
                         ::testing::Values("dense;dense;dsa:6", "dense;dense;topk-exact:6",
                                           "dense;window:3;dsa:9"),
                         test_name);

TEST(ScheduleEquivalence, MechanismsCoveringEveryKeyEqualDense) {
  const ModelConfig c = tiny_config();
  const uint64_t seed = fresh_seed();
  const DecoderWeights w = random_decoder_weights(c, seed, 0.15f);
  const std::vector<int32_t> tokens = random_tokens(37, c.vocab_size, seed + 7);
  const std::vector<float> dense = prefill(c, w, "dense", tokens, 1024);
  for (const char* s :
       {"window:37", "window:1000", "dsa:37", "dsa:100000", "topk-exact:40", "dilated:64:1"})
    EXPECT_LE(testing::relative_error(prefill(c, w, s, tokens, 11), dense), 2e-5) << s;
  // A sparse selection must actually change something, or the tests above prove nothing.
  EXPECT_GT(testing::relative_error(prefill(c, w, "topk-exact:4", tokens, 1024), dense), 1e-4);
  EXPECT_GT(testing::relative_error(prefill(c, w, "window:4", tokens, 1024), dense), 1e-4);
}

TEST(DilatedRows, EqualsSparseDilatedForward) {
  const int64_t N = 53, H = 6, G = 2, D = 32;
  Rng rng(fresh_seed());
  Tensor q(DType::f32, {1, N, H, D}), k(DType::f32, {1, N, G, D}), v(DType::f32, {1, N, G, D});
  for (Tensor* t : {&q, &k, &v}) fill_normal(*t, rng);
  sparse::DilatedSpec spec;
  spec.patterns = sparse::parse_dilated_patterns("4:1,8:2,24:3");
  const ForwardResult ref = sparse::dilated_forward(q, k, v, spec);
  for (int64_t chunk : {N, int64_t(5)}) {
    std::vector<float> out(static_cast<size_t>(N * H * D));
    for (int64_t t0 = 0; t0 < N; t0 += chunk) {
      const int64_t C = std::min(chunk, N - t0);
      const ChunkQkv c{q.data<float>() + t0 * H * D, nullptr, nullptr, C, H, G, D, t0};
      dilated_rows(spec.patterns, c, k.data<float>(), v.data<float>(), out.data() + t0 * H * D, 1);
    }
    const std::vector<float> expected(ref.out.data<float>(), ref.out.data<float>() + N * H * D);
    EXPECT_LE(testing::relative_error(out, expected), 1e-5) << "chunk " << chunk;
  }
}

TEST(ScheduleParse, ErrorsNameTheFlag) {
  const ModelConfig c = tiny_config();
  for (const char* bad : {"", "windo:4", "window:0", "window:-3", "dsa", "dsa:x", "dense;dense",
                          "local-global:0", "local-global:3:4:0.5", "dilated:8:9"}) {
    try {
      parse_attention_schedule(bad, c);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find("--attention"), std::string::npos) << e.what();
    }
  }
  const AttentionSchedule s = parse_attention_schedule("local-global:3:128", c);
  EXPECT_EQ(s.layers[0].kind, AttentionKind::dense);
  EXPECT_EQ(s.layers[1].kind, AttentionKind::window);
  EXPECT_EQ(s.layers[1].window, 128);
  EXPECT_EQ(s.layers[1].rope_theta.value_or(0), 10000.0);
  EXPECT_EQ(s.describe(), "dense x1, window:128(theta 10000) x2");
}

TEST(KvCache, RollingBufferHoldsTheLastWindowAndItsMemory) {
  const ModelConfig c = tiny_config();
  const DecoderWeights w = random_decoder_weights(c, 3, 0.1f);
  const std::vector<int32_t> tokens = random_tokens(100, c.vocab_size, 5);
  Decoder dense(c, w, parse_attention_schedule("dense", c));
  Decoder window(c, w, parse_attention_schedule("window:10", c));
  dense.reset(100);
  window.reset(100);
  dense.forward(tokens, false);
  window.forward(tokens, false);
  // Rolling buffer: W / N of the contiguous cache's key/value bytes (positions aside).
  const double ratio = double(window.kv_cache_bytes()) / double(dense.kv_cache_bytes());
  EXPECT_NEAR(ratio, 10.0 / 100.0, 0.01);
}

}  // namespace
}  // namespace longctx::model
