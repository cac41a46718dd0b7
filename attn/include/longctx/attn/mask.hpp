// The attention spec: softmax scale, mask, and the global positions of query and key rows.
//
// A mask is a predicate on global positions (SPEC §2): visible(q_pos, k_pos) is the AND of
//   causal:    k_pos <= q_pos
//   window:    q_pos - left <= k_pos <= q_pos + right
//   documents: q_doc == k_doc (packed variable-length sequences)
// Positions default to bottom-right alignment: query i sits at M - N + i, key j at j (as in
// FlashAttention >= 2.1). Ring, zigzag and striped layouts only supply other positions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

  bool has_docs() const { return q_doc_ids != nullptr; }
  // Position-only part of the predicate (causal + window).
  bool visible_positions(int64_t qp, int64_t kp) const {
    if (causal && kp > qp) return false;
    if (has_window && (kp < qp - left || kp > qp + right)) return false;
    return true;
  }
  // Full predicate for query row i, key row j of batch b.
  bool visible(int64_t b, int64_t i, int64_t j) const {
    if (q_doc_ids && q_doc_ids[b * n + i] != k_doc_ids[b * m + j]) return false;
    return visible_positions(q_pos.at(i), k_pos.at(j));
  }
  // True when no pair can be masked out (pure full attention).
  bool is_full() const { return !causal && !has_window && !q_doc_ids; }
};

// Validates the spec against N, M and resolves defaults. Throws ArgumentError on bad input
// (negative window, one doc-id array without the other, ...).
ResolvedMask resolve_mask(const AttentionSpec& spec, int64_t n, int64_t m);

}  // namespace longctx
