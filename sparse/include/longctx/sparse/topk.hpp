// Top-k selection of DeepSeek Sparse Attention: per query row, the k keys with the largest
// indexer scores, ties broken by the lower key index, without sorting the whole row.
//
// A selection is stored as fixed-width rows: index [B, S, N, k] (selected key rows in ascending
// order, -1 past the row's count) and count [B, S, N], where S is the number of selection
// groups (1 in MQA mode: one selection shared by every head; G: one per KV group).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace longctx::sparse {

struct TopkSelection {
  int64_t batch = 0, groups = 0, rows = 0, k = 0;  // B, S, N, k
  std::vector<int32_t> index;                      // [B, S, N, k] ascending, -1 padded
  std::vector<int32_t> count;                      // [B, S, N]

  TopkSelection() = default;
  TopkSelection(int64_t batch, int64_t groups, int64_t rows, int64_t k);
  int64_t row_id(int64_t b, int64_t s, int64_t t) const { return (b * groups + s) * rows + t; }
  const int32_t* keys(int64_t b, int64_t s, int64_t t) const {
    return index.data() + row_id(b, s, t) * k;
  }
  int32_t* keys(int64_t b, int64_t s, int64_t t) { return index.data() + row_id(b, s, t) * k; }
  int64_t size(int64_t b, int64_t s, int64_t t) const { return count[size_t(row_id(b, s, t))]; }
  // Total number of selected (query, key) pairs over all rows.
  int64_t pairs() const;
};

// Reusable per-thread buffers of topk_select_row (grown on demand).
struct TopkScratch {
  std::vector<int32_t> candidates;
  std::vector<float> sample, values;
};

// Writes the indices of the k largest entries of scores[0, n) into out in ascending order and
// returns how many were written: min(k, number of finite entries). Order: larger score first,
// then lower index. -inf entries (masked keys) and NaN are never selected. Cost O(n) with one
// vectorised pass in the common case: a threshold from a strided sample keeps ~1.3·k
// candidates, among which std::nth_element finds the k-th score (retried with a lower threshold
// when the sample was unlucky).
int64_t topk_select_row(const float* scores, int64_t n, int64_t k, int32_t* out,
                        TopkScratch& scratch);

// Mean over rows of |approx ∩ reference| / |reference| (rows with an empty reference count as
// 1). Both selections must have the same B, S, N.
double topk_recall(const TopkSelection& reference, const TopkSelection& approx);

}  // namespace longctx::sparse
