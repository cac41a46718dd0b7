// The lightning indexer of DeepSeek Sparse Attention (SPEC §3) and the selection it drives.
//
//   I(t, s) = Σ_{j < H_I} w(t, j) · ReLU(q_I(t, j) · k_I(s))
//
// Inputs (logical shapes, any strides, f32 / bf16 / f16):
//   q_I [B, N, S·H_I, d_I]   indexer queries; head s·H_I + j belongs to selection group s
//   k_I [B, M, S, d_I]       one indexer key per token (and selection group), shared by its heads
//   w   [B, N, S, H_I]       per-query, per-head weights
// S, the number of selection groups, is 1 (MQA mode, DeepSeek's choice: one selection shared by
// every query head) or G (each KV group gets its own indexer heads and its own selection, shared
// by the H/G query heads of that group). Visibility is the attention spec's mask (causal in DSA;
// positions follow the foundation's convention: query i at M − N + i unless given).
//
// Scores are computed for a block of queries against all their visible keys at a time
// ([block_q, M] floats per thread), never as the whole N × M matrix.
#pragma once

#include <cstdint>
#include <vector>

#include "longctx/attn/mask.hpp"
#include "longctx/core/tensor.hpp"
#include "longctx/sparse/topk.hpp"

namespace longctx::sparse {

constexpr int64_t kDefaultTopK = 2048;
// The quantized path scales blocks of this many elements of d_I; d_I must be a multiple of it.
constexpr int64_t kIndexerQuantBlock = 32;
constexpr int64_t kMaxIndexerDim = 256;
constexpr int64_t kMaxIndexerHeads = 1024;

struct IndexerInputs {
  TensorView q;  // [B, N, S·H_I, d_I]
  TensorView k;  // [B, M, S, d_I]
  TensorView w;  // [B, N, S, H_I]

  int64_t groups() const { return k.dim(2); }  // S
  int64_t heads() const { return w.dim(3); }   // H_I
  int64_t dim() const { return q.dim(3); }     // d_I
};

enum class IndexerPrecision : uint8_t {
  f32,   // full precision: float32 products and sums
  int8,  // q_I and k_I quantized to int8 with one scale per 32-element block, int32 dot products
};

// Where indexer_select spends its time: thread-seconds summed over the threads (divide by the
// thread count for a share of the wall time).
struct IndexerProfile {
  double scores_s = 0.0;  // packing queries and the score kernels
  double topk_s = 0.0;    // top-k selection of the score rows
  double pack_s = 0.0;    // packing (and quantizing) the keys, wall time
};

struct IndexerOptions {
  IndexerPrecision precision = IndexerPrecision::f32;
  int threads = 0;                    // 0: OpenMP default
  IndexerProfile* profile = nullptr;  // when set, the call adds its timings here
};

// Validates the indexer inputs against each other and against the attention sizes
// (batch, N, M, and G when groups == G); throws ArgumentError naming the tensor or value:
// "indexer_q", "indexer_k", "indexer_w", "indexer_heads", "indexer_dim".
void check_indexer_inputs(const IndexerInputs& in, int64_t batch, int64_t n, int64_t m,
                          int64_t kv_heads);

// Runs the indexer and selects, per (batch, selection group, query), the top_k visible keys
// (all visible keys when fewer). Throws ArgumentError "top_k" when top_k <= 0.
TopkSelection indexer_select(const IndexerInputs& in, const AttentionSpec& spec, int64_t top_k,
                             const IndexerOptions& options = {});

// The float64 scores of one query row over all M keys (−inf where the mask hides a key), from
// the definition: the oracle of the indexer kernels. [M]
std::vector<double> indexer_scores_reference(const IndexerInputs& in, const AttentionSpec& spec,
                                             int64_t b, int64_t s, int64_t t);

// Test hook: whether the int8 path may use AVX-512 VNNI where the CPU has it (default true);
// false runs the portable Highway kernel. Not thread-safe: call while no indexer runs.
void indexer_allow_vnni(bool allow);

// The same row as the kernels compute it (f32 or quantized), [M] with −inf where hidden.
std::vector<float> indexer_scores_row(const IndexerInputs& in, const AttentionSpec& spec, int64_t b,
                                      int64_t s, int64_t t, IndexerPrecision precision);

}  // namespace longctx::sparse
