// Counting-sort transpose of a selection (dsa_transpose.hpp): one pass counts the queries of
// each key, a prefix sum places them, a second pass over queries in ascending order fills them
// in, so every key's list is ascending.
#include "dsa_transpose.hpp"

namespace longctx::sparse {

KeyToQueries transpose_selection(const TopkSelection& sel, int64_t b, int64_t s, int64_t keys) {
  KeyToQueries kq;
  kq.keys = keys;
  kq.offsets.assign(size_t(keys + 1), 0);
  for (int64_t t = 0; t < sel.rows; ++t) {
    const int32_t* idx = sel.keys(b, s, t);
    for (int64_t i = 0; i < sel.size(b, s, t); ++i) ++kq.offsets[size_t(idx[i]) + 1];
  }
  for (int64_t j = 0; j < keys; ++j) kq.offsets[size_t(j) + 1] += kq.offsets[size_t(j)];
  kq.queries.resize(size_t(kq.offsets[size_t(keys)]));
  std::vector<int64_t> fill(kq.offsets.begin(), kq.offsets.end() - 1);
  for (int64_t t = 0; t < sel.rows; ++t) {
    const int32_t* idx = sel.keys(b, s, t);
    for (int64_t i = 0; i < sel.size(b, s, t); ++i)
      kq.queries[size_t(fill[size_t(idx[i])]++)] = int32_t(t);
  }
  return kq;
}

}  // namespace longctx::sparse
