// Internal: the lightning indexer's SIMD kernels (indexer_kernel.cpp, Highway per-target code
// chosen at run time) and the packed operand layouts they read (indexer_pack.cpp).
//
// Keys are packed per (batch, selection group) in panels of 16 keys so that one SIMD vector
// holds one coordinate of 16 (or 8, 4) consecutive keys:
//   f32:  [panels][d_I][16]
//   int8: values as int16 pairs [panels][d_I / 2][16][2] (the pair layout the int16 widening
//         multiply-add reads), scales [panels][d_I / 32][16]; on CPUs with AVX-512 VNNI instead
//         as biased bytes v + 128 in groups of 4, [panels][d_I / 4][16][4] (vpdpbusd's layout).
// A query row is packed as [heads_padded][d_I] (f32, or int16 values + [heads_padded][d_I/32]
// scales) with its weights [heads_padded]; padding heads are zero and contribute nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/core/tensor.hpp"
#include "longctx/sparse/indexer.hpp"
#include "padding.hpp"

namespace longctx::sparse {

constexpr int64_t kKeyPanel = 16;  // keys per panel
constexpr int64_t kHeadTile = 4;   // query heads per register tile (heads padded to this)

struct PackedIndexerKeys {
  int64_t keys = 0, dim = 0, panels = 0;
  std::vector<float> f32;    // [panels][dim][16]
  std::vector<int16_t> i16;  // [panels][dim / 2][16][2]    (int8 without VNNI)
  std::vector<uint8_t> u8;   // [panels][dim / 4][16][4]    (int8 with VNNI: value + 128)
  std::vector<float> scale;  // [panels][dim / 32][16]
};

struct PackedIndexerQuery {
  int64_t heads_padded = 0, dim = 0;
  std::vector<float> f32;      // [heads_padded][dim]
  std::vector<int16_t> i16;    // [heads_padded][dim]
  std::vector<float> scale;    // [heads_padded][dim / 32]
  std::vector<int32_t> bias;   // [heads_padded][dim / 32]: 128 · Σ q over the block (VNNI)
  std::vector<int32_t> quads;  // [heads_padded][dim / 4]: 4 int8 values per int32 (VNNI)
  std::vector<float> w;        // [heads_padded]
};

// True when the int8 path runs on AVX-512 VNNI (this CPU has it and the test hook allows it).
bool indexer_uses_vnni();
// The VNNI score kernel (indexer_vnni.cpp); same contract as indexer_scores.
void indexer_scores_vnni(const PackedIndexerQuery& q, const PackedIndexerKeys& k, int64_t begin,
                         int64_t end, float* scores);

// Packs k_I[b, :, s, :] (all M keys) with `threads` threads (every decoding step packs all M).
void pack_indexer_keys(const TensorView& k, int64_t b, int64_t s, IndexerPrecision precision,
                       PackedIndexerKeys& out, int threads = 1);
// Packs q_I[b, t, s·H_I : (s+1)·H_I, :] and w[b, t, s, :].
void pack_indexer_query(const IndexerInputs& in, int64_t b, int64_t s, int64_t t,
                        IndexerPrecision precision, PackedIndexerQuery& out);

// Scores of one packed query against keys [begin, end): writes scores[j] for j from
// begin rounded down to a multiple of 16 up to end rounded up to one, so `scores` must hold
// round_up(M, 16) floats; entries outside [begin, end) are scratch.
void indexer_scores(const PackedIndexerQuery& q, const PackedIndexerKeys& k, int64_t begin,
                    int64_t end, IndexerPrecision precision, float* scores);

}  // namespace longctx::sparse
