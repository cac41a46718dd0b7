// The softmax-state merge (softmax_state.hpp, SPEC §1): scalar identities, the empty-state
// rules (empty + empty = empty, empty + x = x, never NaN), and merge_partials on whole tensors:
// attention over two disjoint key subsets, merged, equals attention over the union.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "longctx/attention.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/attn/softmax_state.hpp"
#include "longctx/core/error.hpp"
#include "reference/reference.hpp"
#include "test_util.hpp"

namespace longctx::test {
namespace {

double exact_lse(double a, double b) {
  const double hi = std::max(a, b);
  return hi + std::log(std::exp(a - hi) + std::exp(b - hi));
}

TEST(MergeLse, MatchesLogSumExp) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  for (int t = 0; t < 1000; ++t) {
    const float a = rng.uniform(-50.f, 50.f), b = rng.uniform(-50.f, 50.f);
    const double want = exact_lse(a, b);
    EXPECT_NEAR(merge_lse(a, b), want, 2e-6 * std::max(1.0, std::abs(want)));
    EXPECT_EQ(merge_lse(a, b), merge_lse(b, a));
  }
  EXPECT_NEAR(merge_lse(0.f, 0.f), std::log(2.0), 1e-7);
}

TEST(MergeLse, LargeValuesDoNotOverflow) {
  EXPECT_NEAR(merge_lse(1e4f, 1e4f), 1e4 + std::log(2.0), 1e-2);
  EXPECT_FLOAT_EQ(merge_lse(3e4f, -3e4f), 3e4f);
  EXPECT_TRUE(std::isfinite(merge_lse(80.f, 90.f)));
  EXPECT_NEAR(merge_lse(-1e4f, -1e4f - 1.f), exact_lse(-1e4, -1e4 - 1.0), 2e-3);
}

TEST(MergeLse, EmptyStates) {
  EXPECT_EQ(merge_lse(kNegInf, kNegInf), kNegInf);
  EXPECT_EQ(merge_lse(kNegInf, 1.5f), 1.5f);
  EXPECT_EQ(merge_lse(-2.25f, kNegInf), -2.25f);
}

TEST(MergeWeights, SumToOneAndHandleEmpty) {
  Rng rng(fresh_seed());
  for (int t = 0; t < 200; ++t) {
    const float a = rng.uniform(-30.f, 30.f), b = rng.uniform(-30.f, 30.f);
    const MergeWeights w = merge_weights(a, b);
    EXPECT_NEAR(double(w.w_a) + w.w_b, 1.0, 1e-6);
    EXPECT_NEAR(w.w_a, std::exp(a - exact_lse(a, b)), 1e-6);
  }
  MergeWeights e = merge_weights(kNegInf, kNegInf);
  EXPECT_EQ(e.lse, kNegInf);
  EXPECT_EQ(e.w_a, 0.f);
  EXPECT_EQ(e.w_b, 0.f);
  MergeWeights x = merge_weights(kNegInf, 0.75f);
  EXPECT_EQ(x.lse, 0.75f);
  EXPECT_EQ(x.w_a, 0.f);
  EXPECT_EQ(x.w_b, 1.f);
}

TEST(MergeRow, EmptyPlusEmptyStaysEmptyAndEmptyPlusXIsX) {
  std::vector<float> a = {0.f, 0.f, 0.f}, b = {1.f, -2.f, 3.f};
  float lse_a = kNegInf;
  merge_row(a.data(), &lse_a, std::vector<float>{0.f, 0.f, 0.f}.data(), kNegInf, 3);
  EXPECT_EQ(lse_a, kNegInf);
  for (float x : a) EXPECT_EQ(x, 0.f);
  merge_row(a.data(), &lse_a, b.data(), 0.5f, 3);  // empty + x = x
  EXPECT_EQ(lse_a, 0.5f);
  EXPECT_EQ(a, b);
  merge_row(a.data(), &lse_a, std::vector<float>{0.f, 0.f, 0.f}.data(), kNegInf, 3);  // x + empty
  EXPECT_EQ(lse_a, 0.5f);
  EXPECT_EQ(a, b);
}

TEST(MergeRow, WeightedAverage) {
  std::vector<float> a = {1.f, 0.f}, b = {0.f, 1.f};
  float lse_a = std::log(3.f);  // a saw total weight 3, b total weight 1
  merge_row(a.data(), &lse_a, b.data(), 0.f, 2);
  EXPECT_NEAR(a[0], 0.75f, 1e-6);
  EXPECT_NEAR(a[1], 0.25f, 1e-6);
  EXPECT_NEAR(lse_a, std::log(4.f), 1e-6);
}

// A k/v view restricted to rows [begin, end) of the key axis.
TensorView key_slice(const TensorView& t, int64_t begin, int64_t end) {
  TensorView s = t;
  s.data = static_cast<char*>(t.data) + begin * t.strides[1] * dtype_size(t.dtype);
  s.shape[1] = end - begin;
  return s;
}

struct MergeCase {
  const char* name;
  int64_t n, m, split;
  MaskKind mask;
  DType dtype;
  bool heads_major;
};

// Attention over keys [0, split) and [split, M), with the keys' global positions given
// explicitly as offsets so that the causal mask stays the one of the whole problem, merged
// with merge_partials, equals the oracle's attention over all M keys.
TEST(MergePartials, TwoKeySlicesEqualTheUnion) {
  const MergeCase cases[] = {
      {"causal_even", 53, 53, 26, MaskKind::causal, DType::f32, false},
      {"causal_n_gt_m", 71, 40, 13, MaskKind::causal, DType::f32, false},  // rows empty in both
      {"full_uneven", 37, 61, 5, MaskKind::full, DType::f32, true},
      {"causal_bf16", 45, 67, 50, MaskKind::causal, DType::bf16, false},
      {"causal_f16_strided", 45, 67, 17, MaskKind::causal, DType::f16, true},
  };
  for (const MergeCase& mc : cases) {
    const uint64_t seed = fresh_seed();
    SCOPED_TRACE(std::string(mc.name) + ", " + seed_note(seed));
    Rng rng(seed);
    const int64_t B = 2, H = 4, G = 2, D = 32, DV = 40;
    Operand q = random_operand(mc.dtype, B, mc.n, H, D, rng, 1.f, mc.heads_major);
    Operand k = random_operand(mc.dtype, B, mc.m, G, D, rng, 1.f, mc.heads_major);
    Operand v = random_operand(mc.dtype, B, mc.m, G, DV, rng, 1.f, mc.heads_major);
    AttentionSpec whole;
    whole.mask = mc.mask;
    AttentionSpec part = whole;
    part.q_positions = Positions::from_offset(mc.m - mc.n);  // the whole problem's alignment

    part.k_positions = Positions::from_offset(0);
    ForwardResult a = attention_forward(q.view, key_slice(k.view, 0, mc.split),
                                        key_slice(v.view, 0, mc.split), part);
    part.k_positions = Positions::from_offset(mc.split);
    ForwardResult b = attention_forward(q.view, key_slice(k.view, mc.split, mc.m),
                                        key_slice(v.view, mc.split, mc.m), part);
    merge_partials(a.out, a.lse, b.out, b.lse);

    const reference::Forward ref =
        reference::forward(make_forward_problem(q.view, k.view, v.view, whole));
    EXPECT_TRUE(rows_close(to_f64(a.out), ref.out, DV, tolerance(mc.dtype), "merged out"));
    EXPECT_TRUE(lse_close(to_f64(a.lse), ref.lse, tolerance(DType::f32)));
    for (double x : to_f64(a.out)) ASSERT_FALSE(std::isnan(x));
  }
}

// merge_partials with oracle-made partials in f32 (no kernel involved), including rows that
// are empty on one side and rows empty on both.
TEST(MergePartials, OraclePartialsAndEmptyRows) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed_note(seed));
  Rng rng(seed);
  const int64_t B = 1, N = 30, M = 20, H = 2, D = 32;
  Operand q = random_operand(DType::f32, B, N, H, D, rng);
  Operand k = random_operand(DType::f32, B, M, H, D, rng);
  Operand v = random_operand(DType::f32, B, M, H, D, rng);
  AttentionSpec whole;
  whole.mask = MaskKind::causal;  // N > M: queries 0..9 see nothing at all
  AttentionSpec part = whole;
  part.q_positions = Positions::from_offset(M - N);
  Tensor out[2] = {Tensor(DType::f32, {B, N, H, D}), Tensor(DType::f32, {B, N, H, D})};
  Tensor lse[2] = {Tensor(DType::f32, {B, H, N}), Tensor(DType::f32, {B, H, N})};
  const int64_t split = 7;
  for (int s = 0; s < 2; ++s) {
    const int64_t lo = s == 0 ? 0 : split, hi = s == 0 ? split : M;
    part.k_positions = Positions::from_offset(lo);
    attention_forward(q.view, key_slice(k.view, lo, hi), key_slice(v.view, lo, hi), part, out[s],
                      lse[s], AttentionOptions{Backend::reference});
  }
  merge_partials(out[0], lse[0], out[1], lse[1]);
  const reference::Forward ref =
      reference::forward(make_forward_problem(q.view, k.view, v.view, whole));
  EXPECT_TRUE(rows_close(to_f64(out[0]), ref.out, D, 1e-6, "merged out"));
  EXPECT_TRUE(lse_close(to_f64(lse[0]), ref.lse, 1e-6));
  for (int64_t i = 0; i < N - M; ++i)
    for (int64_t h = 0; h < H; ++h) {
      EXPECT_EQ(lse[0].data<float>()[h * N + i], kNegInf);
      for (int64_t d = 0; d < D; ++d) EXPECT_EQ(out[0].data<float>()[(i * H + h) * D + d], 0.f);
    }
}

TEST(MergePartials, RejectsMismatchedShapes) {
  Tensor oa(DType::f32, {1, 5, 2, 8}), ob(DType::f32, {1, 6, 2, 8});
  Tensor la(DType::f32, {1, 2, 5}), lb(DType::f32, {1, 2, 5}), lbad(DType::bf16, {1, 2, 5});
  try {
    merge_partials(oa, la, ob, lb);
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "out_b");
  }
  try {
    merge_partials(oa, la, oa, lbad);
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "lse_b");
  }
}

}  // namespace
}  // namespace longctx::test
