// Top-k per row without a full sort (see longctx/sparse/topk.hpp).
//
// 1. A threshold τ from a strided sample of the row: the sample value whose rank predicts
//    ~1.3·k + 16 entries ≥ τ in the whole row.
// 2. One vectorised pass (Highway Compress) keeps the indices of entries ≥ τ.
// 3. When fewer than k survive, τ drops (a deeper rank of the sample, finally "every finite
//    entry") and step 2 repeats; otherwise std::nth_element on the candidates' scores finds the
//    k-th largest score v, and one pass over the candidates (ascending index order) keeps every
//    score > v and the lowest-index scores == v up to k. Every entry outside the candidates is
//    < τ ≤ v, so the result is exactly the top k with ties to the lower index, and it comes out
//    in ascending order without a sort.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "topk_select.cpp"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep (must precede highway.h)
// clang-format on

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "hwy/highway.h"
#include "longctx/core/error.hpp"
#include "longctx/sparse/topk.hpp"

HWY_BEFORE_NAMESPACE();
namespace longctx::sparse::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Writes the indices i of scores[0, n) with scores[i] >= tau into out (ascending); returns their
// number. out must have room for n + one vector of lanes (CompressStore writes whole vectors).
int64_t FilterAtLeast(const float* scores, int64_t n, float tau, int32_t* out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = int64_t(hn::Lanes(d));
  const auto threshold = hn::Set(d, tau);
  auto index = hn::Iota(di, 0);
  const auto step = hn::Set(di, int32_t(lanes));
  int64_t count = 0, i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto keep = hn::RebindMask(di, hn::Ge(hn::LoadU(d, scores + i), threshold));
    // Compress in a register and store the whole vector (the buffer has a vector of slack):
    // a compressing store to memory is microcoded and slow on some CPUs (AMD Zen 4).
    hn::StoreU(hn::Compress(index, keep), di, out + count);
    count += int64_t(hn::CountTrue(di, keep));
    index = hn::Add(index, step);
  }
  for (; i < n; ++i)
    if (scores[i] >= tau) out[count++] = int32_t(i);
  return count;
}

}  // namespace longctx::sparse::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::sparse {
HWY_EXPORT(FilterAtLeast);

namespace {

constexpr int64_t kSampleSize = 1024;
constexpr float kLowestFinite = -FLT_MAX;

// Sample rank (0 = largest) whose value is expected to have `want` entries of n at or above it.
int64_t rank_for(int64_t want, int64_t n, int64_t samples) {
  const double fraction = double(want) / double(n);
  return std::min<int64_t>(samples - 1, int64_t(std::ceil(fraction * double(samples))));
}

}  // namespace

TopkSelection::TopkSelection(int64_t batch_, int64_t groups_, int64_t rows_, int64_t k_)
    : batch(batch_),
      groups(groups_),
      rows(rows_),
      k(k_),
      index(size_t(batch_ * groups_ * rows_ * k_), -1),
      count(size_t(batch_ * groups_ * rows_), 0) {}

int64_t TopkSelection::pairs() const {
  int64_t total = 0;
  for (int32_t c : count) total += c;
  return total;
}

int64_t topk_select_row(const float* scores, int64_t n, int64_t k, int32_t* out,
                        TopkScratch& scratch) {
  LONGCTX_CHECK_ARG(k > 0, "top_k", "a positive number of keys", k);
  if (n <= 0) return 0;
  scratch.candidates.resize(size_t(n + 64));
  int32_t* cand = scratch.candidates.data();

  float tau = kLowestFinite;  // "every finite entry"
  int64_t rank = -1;
  const int64_t samples = std::min(n, kSampleSize);
  if (n > k) {
    scratch.sample.resize(size_t(samples));
    const double stride = double(n) / double(samples);
    for (int64_t i = 0; i < samples; ++i)
      scratch.sample[size_t(i)] = scores[int64_t(double(i) * stride)];
    rank = rank_for(k + k / 3 + 16, n, samples);
  }
  // Descending order with NaN last (the smallest), for nth_element on the sample.
  const auto descending = [](float a, float b) {
    return a > b || (!std::isnan(a) && std::isnan(b));
  };
  int64_t found = 0;
  for (;;) {
    if (rank >= 0) {
      std::nth_element(scratch.sample.begin(), scratch.sample.begin() + rank, scratch.sample.end(),
                       descending);
      tau = scratch.sample[size_t(rank)];
      if (!(tau > kLowestFinite)) tau = kLowestFinite;  // -inf or NaN in the sample
    }
    found = HWY_DYNAMIC_DISPATCH(FilterAtLeast)(scores, n, tau, cand);
    if (found >= k || tau == kLowestFinite) break;
    rank = rank >= samples - 1 ? -1 : std::min(samples - 1, 2 * rank + 16);
    if (rank < 0) tau = kLowestFinite;
  }
  if (found > k) {
    // The k-th largest candidate score, then one pass over the candidates (ascending indices):
    // every score above it, and as many equal to it as are still missing, lowest index first.
    // The output comes out ascending, with no sort.
    std::vector<float>& values = scratch.values;
    values.resize(size_t(found));
    for (int64_t i = 0; i < found; ++i) values[size_t(i)] = scores[cand[i]];
    std::nth_element(values.begin(), values.begin() + (k - 1), values.end(), std::greater<>());
    const float kth = values[size_t(k - 1)];
    int64_t above = 0;
    for (int64_t i = 0; i < k - 1; ++i) above += values[size_t(i)] > kth;
    int64_t ties = k - above;  // entries equal to kth that make the cut
    // Branch-free: about three in four candidates are kept, in no predictable pattern.
    int64_t written = 0;
    for (int64_t i = 0; i < found && written < k; ++i) {
      const float x = scores[cand[i]];
      const int64_t tie = x == kth && ties > 0;
      const int64_t keep = (x > kth) | tie;
      ties -= tie;
      out[written] = cand[i];
      written += keep;
    }
    return written;
  }
  std::copy(cand, cand + found, out);
  return found;
}

double topk_recall(const TopkSelection& reference, const TopkSelection& approx) {
  LONGCTX_CHECK_ARG(reference.batch == approx.batch && reference.groups == approx.groups &&
                        reference.rows == approx.rows,
                    "approx", "a selection of the same batch, groups and rows as the reference",
                    approx.batch << "x" << approx.groups << "x" << approx.rows);
  const int64_t rows = reference.batch * reference.groups * reference.rows;
  if (rows == 0) return 1.0;
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* a = reference.index.data() + r * reference.k;
    const int32_t* b = approx.index.data() + r * approx.k;
    const int64_t na = reference.count[size_t(r)], nb = approx.count[size_t(r)];
    if (na == 0) {
      sum += 1.0;
      continue;
    }
    int64_t common = 0;
    for (int64_t i = 0, j = 0; i < na && j < nb;) {  // both ascending: a merge
      if (a[i] == b[j]) {
        ++common, ++i, ++j;
      } else if (a[i] < b[j]) {
        ++i;
      } else {
        ++j;
      }
    }
    sum += double(common) / double(na);
  }
  return sum / double(rows);
}

}  // namespace longctx::sparse
#endif  // HWY_ONCE
