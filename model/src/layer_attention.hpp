// One decoder layer's attention over its KV cache, for a chunk of new tokens, with the
// mechanism the schedule gives the layer (schedule.hpp). Internal to model/.
#pragma once

#include <cstdint>

#include "longctx/model/kv_cache.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/sparse/topk.hpp"

namespace longctx::model {

struct ChunkQkv {
  const float* q = nullptr;  // [C, H, D] rotated
  const float* k = nullptr;  // [C, G, D] rotated
  const float* v = nullptr;  // [C, G, D]
  int64_t tokens = 0;        // C
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  int64_t start = 0;  // position of the first new token == cache.length() before the call
  // A trained DSA indexer (weights.hpp IndexerWeights), else null: its queries [C, H_I, D] and
  // weights [C, H_I] of the chunk, and its keys [start + C, D] of every token so far.
  const float* indexer_q = nullptr;
  const float* indexer_w = nullptr;
  const float* indexer_keys = nullptr;
  int64_t indexer_heads = 0;
};

// Appends the chunk's k, v to `cache` and writes out [C, H, D]: softmax(q·kᵀ/√D)·v over the keys
// the layer's mechanism makes visible (causal always).
void layer_attention(const LayerAttention& attention, LayerKvCache& cache, const ChunkQkv& chunk,
                     float* out, int threads);

// Decoding (one new token, chunk.tokens == 1, already appended to the cache): attention over
// `slots` cache rows keys/values [slots, G, D] whose positions are positions[slot] (null: the
// slot index), visible when position <= the token's and, with window > 0, > its position − W.
void decode_attention(const ChunkQkv& chunk, const float* keys, const float* values,
                      const int64_t* positions, int64_t slots, int64_t window, float* out,
                      int threads);

// The dilated mixture (sparse/dilated.hpp) for query rows at positions start + t over a
// contiguous cache holding positions [0, start + C): each (pattern, head) row takes the keys of
// its segment on its dilation grid, patterns merged by LSE. Row by row, so any chunk works.
void dilated_rows(const std::vector<sparse::DilatedPattern>& patterns, const ChunkQkv& chunk,
                  const float* keys, const float* values, float* out, int threads);

// topk-exact: per query row and KV group, the top_k keys by Σ_{h in group} p_h(t, s) (the true
// attention probabilities, from the dense LSE), as a selection with groups = G.
sparse::TopkSelection exact_topk_selection(const ChunkQkv& chunk, const float* keys,
                                           const float* lse, int64_t top_k, int threads);

}  // namespace longctx::model
