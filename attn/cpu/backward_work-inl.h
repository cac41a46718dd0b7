// The CPU backward's shared state: problem sizes, the packed float32 operands every task reads,
// the per-thread scratch of one key block, and the scalar packing / output helpers
// (backward_pack.cpp). Target-independent: an ordinary header (ordinary include guard), named
// *-inl.h only because it lives beside and is included by the per-target backward code.
//
// Work split (see backward.cpp for why): a task is (batch b, KV head g, head split s, chunk c).
// It owns the contiguous key blocks of chunk c for the query heads of split s of g's GQA group.
// It writes dK, dV of those blocks summed over its heads (to the outputs when there is one
// split, else to split s's buffer), and accumulates dQ of its heads into chunk c's own buffer,
// which covers only the query rows those key blocks can reach (a band for windowed masks).
// Buffers are summed in the fixed order s, c = 0, 1, ... at the end.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "longctx/attn/block_layout.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/tensor.hpp"

namespace longctx::cpu::backward_detail {

// Packed rows and probability tiles are padded to whole 16-float vectors (one AVX-512 vector,
// two AVX2 vectors) so that the SIMD kernels have no column tails. Padding is zero-filled.
constexpr int64_t kColumnPad = 16;

inline int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// A float32 operand of [B, H, N, cols] rows the kernels read: row (b, h, i) starts at
// base + b·batch + h·head + i·row and holds round_up(cols, kColumnPad) readable floats (zero
// beyond cols). Either a packed copy or, for float32 inputs with contiguous rows whose length is
// already a multiple of kColumnPad, the caller's tensor itself (no copy).
struct RowOperand {
  const float* base = nullptr;
  int64_t batch = 0, head = 0, row = 0;  // strides in floats
  const float* at(int64_t b, int64_t h, int64_t i) const {
    return base + b * batch + h * head + i * row;
  }
};

// Chunk c of batch b reaches query rows [q_lo, q_hi); their dQ accumulator is
// [H, q_hi - q_lo, dim_pad] floats starting at BackwardWork::dq + offset.
struct DqChunk {
  int64_t q_lo = 0, q_hi = 0, offset = 0;
};

struct BackwardWork {
  const BackwardProblem* problem = nullptr;
  TensorView dq_out, dk, dv;  // outputs [B, N, H, D], [B, M, G, D], [B, M, G, DV]
  int64_t batch = 0, n = 0, m = 0, heads = 0, kv_heads = 0, group = 0, dim = 0, dim_v = 0;
  int64_t dim_pad = 0, dim_v_pad = 0;  // packed row lengths: round_up(D / DV, kColumnPad)
  int block_q = 0, block_k = 0;
  int64_t key_pad = 0;      // row stride of the [block_q, key_pad] probability tiles
  int64_t chunks = 1;       // key-block chunks per (batch, KV head); fixed by the problem only
  int64_t head_splits = 1;  // parts of each GQA group; fixed by the problem only
  float scale = 0.f;

  RowOperand q;                  // [B, H, N, dim_pad]
  RowOperand dout;               // [B, H, N, dim_v_pad]
  const float* lse = nullptr;    // [B, H, N]; +inf where the forward LSE is -inf (no key)
  const float* delta = nullptr;  // [B, H, N]: D_i = rowsum(dO_i ∘ O_i)
  float* dq = nullptr;           // dQ accumulators of every (batch, chunk); see DqChunk
  float* dk_split = nullptr;     // [head_splits, B, G, M, dim_pad] when head_splits > 1
  float* dv_split = nullptr;     // [head_splits, B, G, M, dim_v_pad] when head_splits > 1

  std::vector<BlockLayout> layouts;  // one (no document ids) or one per batch
  std::vector<int64_t> chunk_begin;  // [chunks + 1] first key block of each chunk
  std::vector<DqChunk> dq_chunks;    // [B, chunks]
  int64_t dq_floats = 0;             // size of the dq buffer

  const BlockLayout& layout(int64_t b) const {
    return layouts[layouts.size() == 1 ? 0 : size_t(b)];
  }
  int64_t num_key_blocks() const { return layouts.front().num_k_blocks(); }
  int64_t num_tasks() const { return batch * kv_heads * head_splits * chunks; }
  const DqChunk& dq_chunk(int64_t b, int64_t c) const { return dq_chunks[size_t(b * chunks + c)]; }
  // Query heads [begin, end) of split s of KV head g's group.
  int64_t split_begin(int64_t g, int64_t s) const { return g * group + s * group / head_splits; }
  // Row offset of key j of (b, g) in one split's [B, G, M, ·] buffer.
  int64_t key_row(int64_t b, int64_t g, int64_t j) const { return (b * kv_heads + g) * m + j; }
  // Row-major offset of (b, h, i) in the [B, H, N, ·] packed arrays, in rows.
  int64_t row(int64_t b, int64_t h, int64_t i) const { return (b * heads + h) * n + i; }
};

// Scratch of one thread for one key block (reused across blocks), counted as workspace.
struct KeyBlockScratch {
  WorkspaceBuffer<float> k_rows;   // [key_pad, dim_pad]  K block, row-major (for dQ = dS·K)
  WorkspaceBuffer<float> k_t;      // [dim, key_pad]      Kᵀ (for S = Q·Kᵀ)
  WorkspaceBuffer<float> v_t;      // [dim_v, key_pad]    Vᵀ (for dP = dO·Vᵀ)
  WorkspaceBuffer<float> dk;       // [key_pad, dim_pad]  dK accumulator of the block
  WorkspaceBuffer<float> dv;       // [key_pad, dim_v_pad]
  WorkspaceBuffer<float> p;        // [block_q, key_pad]  P = exp(scale·S − LSE)
  WorkspaceBuffer<float> ds;       // [block_q, key_pad]  dP, then dS (scaled)
  WorkspaceBuffer<uint32_t> keep;  // [block_q, key_pad]  all-ones where visible (partial blocks)
  WorkspaceBuffer<float> row;      // [2 · max(dim_pad, dim_v_pad)] conversion scratch

  explicit KeyBlockScratch(const BackwardWork& w);
};

// Elements of each KeyBlockScratch buffer, in member order (all 4-byte types): the single
// definition of their sizes, read by the constructor and by the workspace estimate.
std::array<int64_t, 9> key_block_scratch_floats(const BackwardWork& w);

// Floats of the call-wide buffers, in allocation order: packed Q and dO (0 when read in
// place), LSE, delta, the dQ accumulators, per-split dK and dV (0 with one split). Needs the
// work split (plan_work_split). The single definition of their sizes, read by backward() and
// by the workspace estimate.
std::array<int64_t, 7> call_buffer_floats(const BackwardWork& w, bool q_in_place,
                                          bool dout_in_place);

// Chooses head_splits and chunks (from the problem only, never the thread count) and fills
// chunk_begin, dq_chunks and dq_floats. Needs the layouts. See backward_plan.cpp.
void plan_work_split(BackwardWork& w);

// Converts rows [k0, k1) of K and V for (b, g) into s.k_rows, s.k_t, s.v_t, zero-padding the
// rows beyond k1 - k0 and the columns beyond D so that padded lanes contribute nothing.
void pack_key_block(const BackwardWork& w, int64_t b, int64_t g, int64_t k0, int64_t k1,
                    KeyBlockScratch& s);
// Fills s.keep for rows [q0, q1) × keys [k0, k1) of batch b: all-ones bits where the mask lets
// the query see the key, 0 elsewhere (also on padded keys). Shared by every head of a group.
void build_keep_mask(const BackwardWork& w, int64_t b, int64_t q0, int64_t q1, int64_t k0,
                     int64_t k1, KeyBlockScratch& s);
// Writes s.dk, s.dv rows [0, k1 - k0): to the dk, dv outputs (any dtype and strides) when
// there is one head split, else to split `split`'s float32 buffers.
void store_key_block(const BackwardWork& w, int64_t b, int64_t g, int64_t split, int64_t k0,
                     int64_t k1, const KeyBlockScratch& s);
// head_splits > 1 only: sums key row (b, j, g) over the splits in order and writes dk, dv.
// sum: [max(dim, dim_v)].
void store_split_key_row(const BackwardWork& w, int64_t b, int64_t j, int64_t g, float* sum);

// True when the kernels can read `t` ([B, ·, ·, cols]) in place: float32, contiguous rows,
// cols a multiple of kColumnPad.
bool readable_in_place(const TensorView& t, int64_t cols);
// The same for a tensor of `dtype` whose rows are contiguous.
bool readable_in_place(DType dtype, int64_t cols);
// Query-side preparation of row (b, i, h): the row's adjusted LSE (see BackwardWork::lse) and
// delta = rowsum(dO ∘ O), and the padded float32 copies of Q and dO into q_row ([dim_pad]) and
// dout_row ([dim_v_pad]) unless those are null (operand read in place).
// scratch: [2 · max(dim_pad, dim_v_pad)].
void pack_query_rows(const BackwardWork& w, int64_t b, int64_t i, int64_t h, float* q_row,
                     float* dout_row, float* scratch, float* lse, float* delta);
// Sums the dQ of row (b, i, h) over the chunks that reach it, in chunk order, and writes it to
// dq_out (0 where no chunk reaches the row). sum: [dim].
void store_dq_row(const BackwardWork& w, int64_t b, int64_t i, int64_t h, float* sum);

}  // namespace longctx::cpu::backward_detail
