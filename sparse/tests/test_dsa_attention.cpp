// DSA sparse attention (dsa_forward / dsa_backward) against the float64 oracle restricted to the
// same selection; with k >= every visible key, against the foundation's dense causal attention;
// determinism across thread counts; bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "dsa_test_inputs.hpp"
#include "longctx/attention.hpp"
#include "longctx/core/error.hpp"
#include "longctx/sparse/dsa.hpp"
#include "longctx/sparse/dsa_reference.hpp"

namespace longctx::sparse {
namespace {

using test::DsaCase;
using test::DsaInputs;

struct DsaRun {
  TopkSelection sel;
  Tensor out, lse, dq, dk, dv;
};

DsaRun run_dsa(const DsaCase& c, const DsaInputs& in, int threads, bool backward = true,
               int64_t key_range = 0) {
  DsaRun r;
  IndexerOptions io;
  io.threads = threads;
  r.sel = indexer_select(in.indexer(), in.spec, c.top_k, io);
  r.out = Tensor(c.dtype, {c.batch, c.n, c.heads, c.dv()});
  r.lse = Tensor(DType::f32, {c.batch, c.heads, c.n});
  r.out.poison();
  r.lse.poison();
  DsaOptions o;
  o.threads = threads;
  o.key_range = key_range;
  dsa_forward(in.q.view, in.k.view, in.v.view, r.sel, in.spec, r.out, r.lse, o);
  if (!backward) return r;
  r.dq = Tensor(c.dtype, {c.batch, c.n, c.heads, c.dim});
  r.dk = Tensor(c.dtype, {c.batch, c.m, c.kv_heads, c.dim});
  r.dv = Tensor(c.dtype, {c.batch, c.m, c.kv_heads, c.dv()});
  r.dq.poison();
  r.dk.poison();
  r.dv.poison();
  dsa_backward(in.q.view, in.k.view, in.v.view, r.out, r.lse, in.dout.view, r.sel, in.spec, r.dq,
               r.dk, r.dv, o);
  return r;
}

// The tolerance of a stored result: the dtype's, and a little more for float32 sums of k terms.
double tol_for(DType t) {
  return t == DType::f32 ? 2e-5 : 2e-2;
}

std::vector<DsaCase> oracle_cases() {
  std::vector<DsaCase> cases;
  DsaCase c;
  c.batch = 2;
  c.n = c.m = test::sized(97);
  c.top_k = 13;
  cases.push_back(c);  // GQA 4/2, one selection for all heads (MQA mode)
  c.batch = 1;
  c.n = 41;
  c.m = test::sized(131);  // N != M: bottom-right causal alignment
  c.heads = 6;
  c.kv_heads = 3;
  c.groups = 3;  // a selection per KV group
  c.dim = 40;    // padded rows
  c.dim_v = 56;
  c.top_k = 29;
  cases.push_back(c);
  c.dtype = DType::bf16;
  cases.push_back(c);
  c = DsaCase{};
  c.n = 45;
  c.m = 23;  // N > M: the first 22 queries see no key
  c.heads = c.kv_heads = 5;
  c.top_k = 7;
  cases.push_back(c);
  c = DsaCase{};
  c.causal = false;
  c.n = 33;
  c.m = 77;
  c.heads = 3;
  c.kv_heads = 1;
  c.dim = 128;
  c.top_k = 50;
  cases.push_back(c);
  return cases;
}

TEST(DsaAttention, MatchesTheOracleOnTheSelectedSet) {
  for (const DsaCase& c : oracle_cases()) {
    const uint64_t seed = fresh_seed();
    SCOPED_TRACE(c.describe() + " " + test::seed_note(seed));
    DsaInputs in(c, seed);
    // The forward visits keys in cache ranges with an online softmax across them: 13 keys per
    // range splits every selection into many pieces (the default range holds all keys here).
    const DsaRun r = run_dsa(c, in, 2, true, c.dim == 128 ? 0 : 13);
    const reference::DsaForward f =
        reference::dsa_forward(in.q.view, in.k.view, in.v.view, r.sel, in.spec);
    const double tol = tol_for(c.dtype);
    EXPECT_TRUE(test::rows_close(test::to_f64(r.out), f.out, c.dv(), tol, "out", 1e-3));
    EXPECT_TRUE(test::lse_close(test::to_f64(r.lse), f.lse, 2e-6));
    const reference::DsaBackward g =
        reference::dsa_backward(in.q.view, in.k.view, in.v.view, in.dout.view, r.sel, in.spec);
    // Floors: a tenth of the size of the terms that cancel in dS = P (dP − D).
    const double unit = 0.1 * std::sqrt(double(c.dv()));
    EXPECT_TRUE(test::rows_close(test::to_f64(r.dq), g.dq, c.dim, tol, "dq", unit));
    EXPECT_TRUE(test::rows_close(test::to_f64(r.dk), g.dk, c.dim, tol, "dk", unit));
    EXPECT_TRUE(test::rows_close(test::to_f64(r.dv), g.dv, c.dv(), tol, "dv", unit));
  }
}

// With k at least the number of visible keys, DSA is dense causal attention.
TEST(DsaAttention, EqualsDenseCausalWhenKCoversEveryKey) {
  for (int64_t groups : {1, 2}) {
    DsaCase c;
    c.n = test::sized(83);
    c.m = test::sized(83) + 20;
    c.groups = groups;
    c.top_k = c.m;
    const uint64_t seed = fresh_seed();
    SCOPED_TRACE(c.describe() + " " + test::seed_note(seed));
    DsaInputs in(c, seed);
    const DsaRun r = run_dsa(c, in, 2);
    AttentionOptions ao;
    ao.threads = 2;
    const ForwardResult f = attention_forward(in.q.view, in.k.view, in.v.view, in.spec, ao);
    const BackwardResult g = attention_backward(in.q.view, in.k.view, in.v.view, f.out, f.lse,
                                                in.dout.view, in.spec, ao);
    const double tol = 3e-5, unit = 0.1 * std::sqrt(double(c.dv()));
    EXPECT_TRUE(
        test::rows_close(test::to_f64(r.out), test::to_f64(f.out), c.dv(), tol, "out", 1e-3));
    EXPECT_TRUE(test::lse_close(test::to_f64(r.lse), test::to_f64(f.lse), 2e-6));
    EXPECT_TRUE(test::rows_close(test::to_f64(r.dq), test::to_f64(g.dq), c.dim, tol, "dq", unit));
    EXPECT_TRUE(test::rows_close(test::to_f64(r.dk), test::to_f64(g.dk), c.dim, tol, "dk", unit));
    EXPECT_TRUE(test::rows_close(test::to_f64(r.dv), test::to_f64(g.dv), c.dv(), tol, "dv", unit));
  }
}

TEST(DsaAttention, RowsWithoutKeysGiveZeroAndMinusInfinity) {
  DsaCase c;
  c.n = 30;
  c.m = 10;  // queries 0..19 sit before the first key
  c.heads = c.kv_heads = 2;
  DsaInputs in(c, fresh_seed());
  const DsaRun r = run_dsa(c, in, 2);
  const std::vector<double> out = test::to_f64(r.out), lse = test::to_f64(r.lse);
  for (int64_t h = 0; h < c.heads; ++h)
    for (int64_t t = 0; t < 20; ++t) {
      EXPECT_EQ(lse[size_t(h * c.n + t)], -std::numeric_limits<double>::infinity());
      for (int64_t x = 0; x < c.dv(); ++x)
        EXPECT_EQ(out[size_t((t * c.heads + h) * c.dv() + x)], 0.0);
    }
}

TEST(DsaAttention, BitwiseDeterministicAcrossThreadCounts) {
  DsaCase c;
  c.n = c.m = test::sized(151);
  c.groups = 2;
  c.top_k = 31;
  DsaInputs in(c, fresh_seed());
  const DsaRun a = run_dsa(c, in, 1, true, 40), b = run_dsa(c, in, 2, true, 40);
  EXPECT_EQ(a.sel.index, b.sel.index);
  for (auto [x, y] : {std::pair{&a.out, &b.out},
                      {&a.lse, &b.lse},
                      {&a.dq, &b.dq},
                      {&a.dk, &b.dk},
                      {&a.dv, &b.dv}})
    EXPECT_TRUE(test::bitwise_equal(*x, *y));
}

TEST(DsaAttention, BadSelectionNamesTheArgument) {
  DsaCase c;
  c.n = c.m = 16;
  DsaInputs in(c, 3);
  Tensor out(DType::f32, {1, 16, c.heads, c.dim}), lse(DType::f32, {1, c.heads, 16});
  const auto expect_selection_error = [&](const TopkSelection& sel) {
    try {
      dsa_forward(in.q.view, in.k.view, in.v.view, sel, in.spec, out, lse);
      ADD_FAILURE() << "no error";
    } catch (const ArgumentError& e) {
      EXPECT_EQ(e.argument(), "selection") << e.what();
    }
  };
  expect_selection_error(TopkSelection(1, 1, 15, 4));  // wrong N
  expect_selection_error(TopkSelection(1, 3, 16, 4));  // groups neither 1 nor G = 2
  TopkSelection out_of_range(1, 1, 16, 4);
  out_of_range.count[3] = 1;
  out_of_range.index[3 * 4] = 16;  // key 16 of M = 16
  expect_selection_error(out_of_range);
  // Mismatched attention shapes are the dense API's errors (naming the tensor).
  test::Operand k_bad = test::make_operand(DType::f32, 1, 16, 3, c.dim);
  TopkSelection ok(1, 1, 16, 4);
  EXPECT_THROW(dsa_forward(in.q.view, k_bad.view, in.v.view, ok, in.spec, out, lse), ArgumentError);
}

}  // namespace
}  // namespace longctx::sparse
