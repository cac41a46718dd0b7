// Top-k selection (sparse/src/topk_select.cpp) against a full sort of the row, including ties,
// masked (−inf) entries, rows shorter than k, and the recall measure.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"
#include "longctx/sparse/topk.hpp"
#include "test_util.hpp"

namespace longctx::sparse {
namespace {

// The definition: sort all finite entries by (score descending, index ascending), keep k,
// return them ascending.
std::vector<int32_t> full_sort_topk(const std::vector<float>& scores, int64_t k) {
  std::vector<int32_t> order;
  for (size_t i = 0; i < scores.size(); ++i)
    if (std::isfinite(scores[i])) order.push_back(int32_t(i));
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return scores[size_t(a)] > scores[size_t(b)] ||
           (scores[size_t(a)] == scores[size_t(b)] && a < b);
  });
  if (int64_t(order.size()) > k) order.resize(size_t(k));
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<int32_t> select(const std::vector<float>& scores, int64_t k) {
  std::vector<int32_t> out(size_t(k), -1);
  TopkScratch scratch;
  const int64_t found =
      topk_select_row(scores.data(), int64_t(scores.size()), k, out.data(), scratch);
  out.resize(size_t(found));
  return out;
}

TEST(DsaTopk, MatchesFullSortOnRandomRows) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  for (int64_t n : {1, 7, 100, 1000, 4099, 20011}) {
    for (int64_t k : {1, 5, 64, 2048}) {
      std::vector<float> scores(static_cast<size_t>(n));
      for (float& x : scores) x = rng.normal();
      EXPECT_EQ(select(scores, k), full_sort_topk(scores, k)) << "n=" << n << " k=" << k;
    }
  }
}

TEST(DsaTopk, TiesGoToTheLowerIndex) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  for (int64_t n : {50, 3001, 10007}) {
    std::vector<float> scores(static_cast<size_t>(n));
    // Few distinct values: most of the row is tied, the k-th value is shared by many entries.
    for (float& x : scores) x = float(rng.uniform_int(0, 4));
    for (int64_t k : {1, 10, 333, 2048})
      EXPECT_EQ(select(scores, k), full_sort_topk(scores, k)) << "n=" << n << " k=" << k;
    std::fill(scores.begin(), scores.end(), 1.5f);  // all equal: the first k
    std::vector<int32_t> first(size_t(std::min<int64_t>(n, 17)));
    std::iota(first.begin(), first.end(), 0);
    EXPECT_EQ(select(scores, 17), first);
  }
}

TEST(DsaTopk, MaskedEntriesAreNeverSelected) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(test::seed_note(seed));
  Rng rng(seed);
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> scores(5000);
  for (float& x : scores) x = rng.uniform(0.f, 1.f) < 0.7f ? -inf : rng.normal();
  for (int64_t k : {3, 100, 1000, 5000}) EXPECT_EQ(select(scores, k), full_sort_topk(scores, k));
  std::fill(scores.begin(), scores.end(), -inf);
  EXPECT_TRUE(select(scores, 10).empty());
}

// A row whose large values all sit where the strided sample does not look: the threshold
// from the sample is too high at first and the selection must retry.
TEST(DsaTopk, AdversarialRowForTheSample) {
  const int64_t n = 8192, k = 300;
  std::vector<float> scores(size_t(n), 0.f);
  for (int64_t i = 0; i < n; ++i) scores[size_t(i)] = (i % 8 == 3) ? 10.f + float(i) : -float(i);
  EXPECT_EQ(select(scores, k), full_sort_topk(scores, k));
}

TEST(DsaTopk, RecallMeasure) {
  TopkSelection a(1, 1, 2, 3), b(1, 1, 2, 3);
  const int32_t ra[] = {1, 4, 7, 0, 2, -1}, rb[] = {1, 5, 7, 0, 2, -1};
  std::copy(ra, ra + 6, a.index.begin());
  std::copy(rb, rb + 6, b.index.begin());
  a.count = {3, 2};
  b.count = {3, 2};
  EXPECT_NEAR(topk_recall(a, b), (2.0 / 3.0 + 1.0) / 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(topk_recall(a, a), 1.0);
}

TEST(DsaTopk, RejectsNonPositiveK) {
  std::vector<float> scores(10, 1.f);
  std::vector<int32_t> out(10);
  TopkScratch scratch;
  for (int64_t k : {0, -3}) {
    try {
      topk_select_row(scores.data(), 10, k, out.data(), scratch);
      FAIL() << "no error for k = " << k;
    } catch (const ArgumentError& e) {
      EXPECT_EQ(e.argument(), "top_k");
    }
  }
}

}  // namespace
}  // namespace longctx::sparse
