// The attention spec: softmax scale, mask, and the global positions of query and key rows.
//
// A mask is a predicate on global positions (SPEC §2): visible(q_pos, k_pos) is the AND of
//   causal:    k_pos <= q_pos
//   window:    q_pos - left <= k_pos <= q_pos + right
//   documents: q_doc == k_doc (packed variable-length sequences)
// with two extensions (issue 3):
//   global tokens (Longformer / ModernBERT): positions [0, n_g) see and are seen by every
//     position the window would hide; causal and documents still apply. Without a window they
//     change nothing (there is nothing to relax).
//   block-sparse (block_sparse.hpp): a grid over positions overrides the predicate per block:
//     full blocks are visible, empty ones invisible, partial ones evaluate everything above.
// Positions default to bottom-right alignment: query i sits at M - N + i, key j at j (as in
// FlashAttention >= 2.1). Ring, zigzag and striped layouts only supply other positions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "longctx/attn/block_sparse.hpp"

namespace longctx {

enum class MaskKind : uint8_t { full, causal };

struct Window {
  int64_t left = 0;   // keys up to `left` positions before the query are visible
  int64_t right = 0;  // keys up to `right` positions after the query are visible
};

// Global position of row i: explicit[i] when given, else offset + i.
struct Positions {
  int64_t offset = 0;
  const int64_t* explicit_positions = nullptr;  // [rows], not owned

  int64_t at(int64_t i) const { return explicit_positions ? explicit_positions[i] : offset + i; }
  static Positions from_offset(int64_t off) { return Positions{off, nullptr}; }
  static Positions from_array(const int64_t* p) { return Positions{0, p}; }
};

struct AttentionSpec {
  float scale = 0.f;  // 0: 1/sqrt(D)
  MaskKind mask = MaskKind::full;
  std::optional<Window> window;
  // Document ids, [B, N] and [B, M] row-major int32, not owned; both or neither.
  const int32_t* q_doc_ids = nullptr;
  const int32_t* k_doc_ids = nullptr;
  std::optional<Positions> q_positions;  // default offset M - N
  std::optional<Positions> k_positions;  // default offset 0
  // Global tokens: positions [0, global_tokens) escape the window (see above). >= 0.
  int64_t global_tokens = 0;
  // Block-sparse layout over positions, not owned; it must cover every query and key position.
  const BlockSparseGrid* block_sparse = nullptr;

  std::string describe() const;  // "causal window(64,0) docs" for logs
};

// A spec bound to concrete sizes: positions resolved, scale resolved, ready for kernels.
// visible() is the single definition of the mask used by every backend.
struct ResolvedMask {
  bool causal = false;
  bool has_window = false;
  int64_t left = 0, right = 0;
  const int32_t* q_doc_ids = nullptr;  // [B, N]
  const int32_t* k_doc_ids = nullptr;  // [B, M]
  Positions q_pos, k_pos;
  int64_t n = 0, m = 0;  // rows of q and k
  int64_t n_global = 0;  // positions [0, n_global) are global; 0 unless has_window
  const BlockSparseGrid* block_sparse = nullptr;  // not owned

  bool has_docs() const { return q_doc_ids != nullptr; }
  bool is_global(int64_t p) const { return uint64_t(p) < uint64_t(n_global); }
  // Position-only part of the predicate below the block-sparse grid (causal + window + global).
  bool visible_positions(int64_t qp, int64_t kp) const {
    if (causal && kp > qp) return false;
    if (has_window && (kp < qp - left || kp > qp + right) && !is_global(qp) && !is_global(kp))
      return false;
    return true;
  }
  // The predicate without the block-sparse grid (what its partial blocks evaluate).
  bool visible_inner(int64_t b, int64_t i, int64_t j) const {
    if (q_doc_ids && q_doc_ids[b * n + i] != k_doc_ids[b * m + j]) return false;
    return visible_positions(q_pos.at(i), k_pos.at(j));
  }
  // Full predicate for query row i, key row j of batch b.
  bool visible(int64_t b, int64_t i, int64_t j) const {
    if (block_sparse) {
      const BlockKind kind = block_sparse->kind_of(q_pos.at(i), k_pos.at(j));
      if (kind != BlockKind::partial) return kind == BlockKind::full;
    }
    return visible_inner(b, i, j);
  }
  // This mask without its block-sparse grid.
  ResolvedMask inner() const {
    ResolvedMask r = *this;
    r.block_sparse = nullptr;
    return r;
  }
  // True when no pair can be masked out (pure full attention).
  bool is_full() const { return !causal && !has_window && !q_doc_ids && !block_sparse; }
};

// Validates the spec against N, M and resolves defaults. Throws ArgumentError on bad input
// (negative window, one doc-id array without the other, a block-sparse grid that does not cover
// the positions, ...).
ResolvedMask resolve_mask(const AttentionSpec& spec, int64_t n, int64_t m);

}  // namespace longctx
