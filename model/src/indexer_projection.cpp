// Projections of the trained DSA indexer (see indexer_projection.hpp).
#include "indexer_projection.hpp"

#include <cmath>

#include "decoder_ops.hpp"

namespace longctx::model {

float indexer_weight_scale(const IndexerWeights& indexer) {
  return 1.f / std::sqrt(float(indexer.heads()));
}

void indexer_projection(const float* x, int64_t rows, const IndexerWeights& ix,
                        const RotaryEmbedding& rope, const int64_t* positions, float* q, float* k,
                        float* w) {
  const int64_t heads = ix.heads(), dim = ix.dim();
  linear(x, rows, ix.wq, q);
  linear(x, rows, ix.wk, k);
  linear(x, rows, ix.weights, w);
  rope.apply(q, rows, heads, heads * dim, positions);
  rope.apply(k, rows, 1, dim, positions);
  const float scale = indexer_weight_scale(ix);
  for (int64_t i = 0; i < rows * heads; ++i) w[i] *= scale;
}

}  // namespace longctx::model
