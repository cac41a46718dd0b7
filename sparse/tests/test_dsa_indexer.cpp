// The lightning indexer: kernel scores against the float64 definition, the fused selection
// against a full sort of those scores, the quantized path's recall, a planted needle, and the
// errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dsa_test_inputs.hpp"
#include "longctx/core/error.hpp"
#include "longctx/sparse/indexer.hpp"

namespace longctx::sparse {
namespace {

using test::DsaCase;
using test::DsaInputs;

// Top k of a row by full sort (score descending, index ascending), returned ascending.
std::vector<int32_t> sorted_topk(const std::vector<float>& row, int64_t k) {
  std::vector<int32_t> order;
  for (size_t j = 0; j < row.size(); ++j)
    if (std::isfinite(row[j])) order.push_back(int32_t(j));
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return row[size_t(a)] > row[size_t(b)]; });
  if (int64_t(order.size()) > k) order.resize(size_t(k));
  std::sort(order.begin(), order.end());
  return order;
}

// The indexer paths: float32, and int8 on AVX-512 VNNI (where the CPU has it) and on the
// portable Highway kernel.
struct Path {
  IndexerPrecision precision;
  bool vnni;
  const char* name;
};
const Path kPaths[] = {{IndexerPrecision::f32, false, "f32"},
                       {IndexerPrecision::int8, true, "int8 (VNNI if available)"},
                       {IndexerPrecision::int8, false, "int8 (portable)"}};

// Selects a path for the duration of a scope.
struct UsePath {
  explicit UsePath(const Path& p) { indexer_allow_vnni(p.vnni); }
  ~UsePath() { indexer_allow_vnni(true); }
};

std::vector<DsaCase> indexer_cases() {
  std::vector<DsaCase> cases;
  DsaCase c;
  c.n = c.m = test::sized(301);
  c.top_k = 17;
  cases.push_back(c);  // causal, MQA selection
  c.n = 53;
  c.m = test::sized(211);
  c.groups = 2;
  c.indexer_heads = 5;
  c.indexer_dim = 64;
  c.top_k = 40;
  cases.push_back(c);  // N != M (bottom-right), one selection per KV group
  c.causal = false;
  c.batch = 2;
  c.top_k = 300;  // more than M: every key
  cases.push_back(c);
  // Decoding shapes: fewer query blocks than threads, so the threads split the keys (chunks of
  // 1024, several of them; packing over threads from 4096 keys).
  DsaCase d;
  d.n = 1;
  d.m = test::sized(4501);
  d.top_k = 100;
  cases.push_back(d);
  d.n = 7;
  d.m = test::sized(2999);
  d.groups = 2;
  d.top_k = 33;
  cases.push_back(d);
  return cases;
}

TEST(DsaIndexer, KernelScoresMatchTheDefinition) {
  for (const DsaCase& c : indexer_cases()) {
    for (const Path& path : kPaths) {
      const UsePath use(path);
      const IndexerPrecision precision = path.precision;
      const uint64_t seed = fresh_seed();
      SCOPED_TRACE(c.describe() + " " + path.name + " " + test::seed_note(seed));
      DsaInputs in(c, seed);
      // int8: per-block scales of |x|max/127 leave ~1% of a dot's typical size.
      const double tol = precision == IndexerPrecision::f32 ? 2e-6 : 2e-2;
      for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t s = 0; s < c.groups; ++s)
          for (int64_t t : {int64_t(0), c.n / 2, c.n - 1}) {
            const std::vector<double> ref =
                indexer_scores_reference(in.indexer(), in.spec, b, s, t);
            const std::vector<float> got =
                indexer_scores_row(in.indexer(), in.spec, b, s, t, precision);
            // Scale: the typical size of one head's term, Σ_j |w_j| · |q_j| |k| (d_I-dim N(0,1)).
            double w_sum = 0.0;
            for (int64_t j = 0; j < c.indexer_heads; ++j)
              w_sum += std::fabs(in.iw.view.load(b, t, s, j));
            const double unit = w_sum * double(c.indexer_dim);
            for (int64_t j = 0; j < c.m; ++j) {
              if (std::isinf(ref[size_t(j)])) {
                EXPECT_TRUE(std::isinf(got[size_t(j)]) && got[size_t(j)] < 0) << "key " << j;
                continue;
              }
              ASSERT_NEAR(got[size_t(j)], ref[size_t(j)], tol * unit) << "t=" << t << " key " << j;
            }
          }
    }
  }
}

TEST(DsaIndexer, SelectionIsTheTopKOfTheScores) {
  for (const DsaCase& c : indexer_cases()) {
    for (const Path& path : kPaths) {
      const UsePath use(path);
      const IndexerPrecision precision = path.precision;
      const uint64_t seed = fresh_seed();
      SCOPED_TRACE(c.describe() + " " + path.name + " " + test::seed_note(seed));
      DsaInputs in(c, seed);
      IndexerOptions options;
      options.precision = precision;
      options.threads = 2;
      const TopkSelection sel = indexer_select(in.indexer(), in.spec, c.top_k, options);
      ASSERT_EQ(sel.k, std::min(c.top_k, c.m));
      for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t s = 0; s < c.groups; ++s)
          for (int64_t t = 0; t < c.n; ++t) {
            const std::vector<float> row =
                indexer_scores_row(in.indexer(), in.spec, b, s, t, precision);
            const std::vector<int32_t> want = sorted_topk(row, c.top_k);
            const std::vector<int32_t> got(sel.keys(b, s, t),
                                           sel.keys(b, s, t) + sel.size(b, s, t));
            ASSERT_EQ(got, want) << "b=" << b << " s=" << s << " t=" << t;
          }
    }
  }
}

TEST(DsaIndexer, QuantizedRecallOnRandomInputs) {
  DsaCase c;
  c.n = c.m = test::sized(1500);
  c.indexer_heads = 8;
  c.indexer_dim = 64;
  c.top_k = test::small_sizes() ? 16 : 64;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(c.describe() + " " + test::seed_note(seed));
  DsaInputs in(c, seed);
  IndexerOptions f32, int8;
  int8.precision = IndexerPrecision::int8;
  const TopkSelection exact = indexer_select(in.indexer(), in.spec, c.top_k, f32);
  for (bool vnni : {true, false}) {
    const UsePath use(kPaths[vnni ? 1 : 2]);
    const TopkSelection approx = indexer_select(in.indexer(), in.spec, c.top_k, int8);
    const double recall = topk_recall(exact, approx);
    RecordProperty(vnni ? "recall" : "recall_portable", std::to_string(recall));
    EXPECT_GE(recall, 0.95);
    EXPECT_LT(recall, 1.0 + 1e-12);
  }
}

// A key that matches a query strongly in indexer space is always selected, at any position.
TEST(DsaIndexer, PlantedNeedleIsSelected) {
  DsaCase c;
  c.n = c.m = test::sized(400);
  c.indexer_heads = 4;
  c.indexer_dim = 64;
  c.top_k = 4;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  DsaInputs in(c, seed);
  Rng rng(seed + 1);
  std::vector<std::pair<int64_t, int64_t>> needles;  // (query, key)
  for (int64_t i = 0; i < 12; ++i) {
    const int64_t t = rng.uniform_int(c.n / 4, c.n - 1), key = rng.uniform_int(0, t);
    bool clash = false;
    for (auto [t2, k2] : needles) clash = clash || t2 == t || k2 == key;
    if (!clash) needles.push_back({t, key});
  }
  float* iq = in.iq.storage.data<float>();
  float* ik = in.ik.storage.data<float>();
  float* iw = in.iw.storage.data<float>();
  for (auto [t, key] : needles) {
    // k_I(key) = 4 · mean_j q_I(t, j), and positive weights for t: every head's dot is large.
    for (int64_t c2 = 0; c2 < c.indexer_dim; ++c2) {
      float mean = 0.f;
      for (int64_t j = 0; j < c.indexer_heads; ++j)
        mean += iq[(t * c.indexer_heads + j) * c.indexer_dim + c2];
      ik[key * c.indexer_dim + c2] = 4.f * mean / float(c.indexer_heads);
    }
    for (int64_t j = 0; j < c.indexer_heads; ++j)
      iw[t * c.indexer_heads + j] = std::fabs(iw[t * c.indexer_heads + j]) + 0.1f;
  }
  for (const Path& path : kPaths) {
    const UsePath use(path);
    SCOPED_TRACE(path.name);
    IndexerOptions options;
    options.precision = path.precision;
    const TopkSelection sel = indexer_select(in.indexer(), in.spec, c.top_k, options);
    for (auto [t, key] : needles) {
      const int32_t* keys = sel.keys(0, 0, t);
      EXPECT_TRUE(std::find(keys, keys + sel.size(0, 0, t), int32_t(key)) !=
                  keys + sel.size(0, 0, t))
          << "needle key " << key << " of query " << t << " not selected";
    }
  }
}

// Runs `f` and expects an ArgumentError naming `argument`.
template <typename F>
void expect_argument_error(F f, const std::string& argument) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming '" << argument << "'";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
  }
}

TEST(DsaIndexer, BadInputNamesTheArgument) {
  DsaCase c;
  c.n = c.m = 20;
  DsaInputs in(c, 1);
  expect_argument_error([&] { indexer_select(in.indexer(), in.spec, 0); }, "top_k");
  expect_argument_error([&] { indexer_select(in.indexer(), in.spec, -5); }, "top_k");
  // d_I not a multiple of 32.
  test::Operand q48 = test::make_operand(DType::f32, 1, 20, c.indexer_heads, 48);
  test::Operand k48 = test::make_operand(DType::f32, 1, 20, 1, 48);
  expect_argument_error(
      [&] {
        indexer_select({q48.view, k48.view, in.iw.view}, in.spec, 4);
      },
      "indexer_dim");
  // q_I heads do not match w's H_I.
  test::Operand q_bad = test::make_operand(DType::f32, 1, 20, c.indexer_heads + 1, 32);
  expect_argument_error(
      [&] {
        indexer_select({q_bad.view, in.ik.view, in.iw.view}, in.spec, 4);
      },
      "indexer_q");
  // Key length differs from the attention's M; S neither 1 nor G.
  expect_argument_error([&] { check_indexer_inputs(in.indexer(), 1, 20, 21, 2); }, "indexer_k");
  test::Operand k3 = test::make_operand(DType::f32, 1, 20, 3, 32);
  test::Operand w3 = test::make_operand(DType::f32, 1, 20, 3, c.indexer_heads);
  test::Operand q3 = test::make_operand(DType::f32, 1, 20, 3 * c.indexer_heads, 32);
  expect_argument_error(
      [&] {
        check_indexer_inputs({q3.view, k3.view, w3.view}, 1, 20, 20, 2);
      },
      "indexer_k");
  // More indexer heads than supported.
  const int64_t many = kMaxIndexerHeads + 1;
  test::Operand w_many = test::make_operand(DType::f32, 1, 20, 1, many);
  test::Operand q_many = test::make_operand(DType::f32, 1, 20, many, 32);
  expect_argument_error(
      [&] {
        check_indexer_inputs({q_many.view, in.ik.view, w_many.view}, 1, 20, 20, 2);
      },
      "indexer_heads");
  expect_argument_error(
      [&] {
        check_indexer_inputs({in.iq.view, in.ik.view, TensorView{}}, 1, 20, 20, 2);
      },
      "indexer_w");
}

}  // namespace
}  // namespace longctx::sparse
