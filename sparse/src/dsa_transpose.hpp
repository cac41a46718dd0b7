// Internal: a selection transposed per (batch, selection group): for every key, the queries that
// selected it, in ascending order (CSR). The DSA backward and the restricted indexer loss use it
// to give each key row one owner that sums its contributions in a fixed order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "longctx/sparse/topk.hpp"

namespace longctx::sparse {

struct KeyToQueries {
  int64_t keys = 0;
  std::vector<int64_t> offsets;  // [M + 1]
  std::vector<int32_t> queries;  // [pairs], ascending within a key

  const int32_t* begin(int64_t j) const { return queries.data() + offsets[size_t(j)]; }
  int64_t size(int64_t j) const { return offsets[size_t(j) + 1] - offsets[size_t(j)]; }
};

// Transposes the rows of (b, s); `keys` is M.
KeyToQueries transpose_selection(const TopkSelection& sel, int64_t b, int64_t s, int64_t keys);

}  // namespace longctx::sparse
