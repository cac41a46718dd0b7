// Plain structs passed by value from the host launcher to the CUDA kernels: tensor addresses with
// their strides (in elements), the mask as position predicates, and the tile schedule (which
// (query block, key block) tiles exist and which need the predicate). Shared by host and device
// code, so only POD members.
#pragma once

#include <cstdint>

namespace longctx::cuda {

// The attention mask on the device: the same predicate as ResolvedMask::visible (mask.hpp).
struct DeviceMask {
  int64_t n = 0, m = 0;  // query and key rows
  bool causal = false;
  bool has_window = false;
  int64_t left = 0, right = 0;
  int64_t n_global = 0;                  // positions [0, n_global) escape the window
  int64_t q_offset = 0, k_offset = 0;    // positions when no explicit array is given
  const int64_t* q_positions = nullptr;  // [N] device, or null
  const int64_t* k_positions = nullptr;  // [M] device, or null
  const int32_t* q_doc_ids = nullptr;    // [B, N] device, or null
  const int32_t* k_doc_ids = nullptr;    // [B, M] device, or null

#ifdef __CUDACC__
  __device__ __forceinline__ int64_t q_pos(int64_t i) const {
    return q_positions ? q_positions[i] : q_offset + i;
  }
  __device__ __forceinline__ int64_t k_pos(int64_t j) const {
    return k_positions ? k_positions[j] : k_offset + j;
  }
  // Row i of the queries sees row j of the keys (both in range).
  __device__ __forceinline__ bool visible(int64_t b, int64_t i, int64_t j) const {
    if (q_doc_ids && q_doc_ids[b * n + i] != k_doc_ids[b * m + j]) return false;
    const int64_t qp = q_pos(i), kp = k_pos(j);
    if (causal && kp > qp) return false;
    if (has_window && (kp < qp - left || kp > qp + right) && !(uint64_t(qp) < uint64_t(n_global)) &&
        !(uint64_t(kp) < uint64_t(n_global)))
      return false;
    return true;
  }
#endif
};

// Tile kinds, as BlockKind in block_layout.hpp: 0 empty, 1 full, 2 partial.
constexpr uint8_t kTileEmpty = 0, kTileFull = 1, kTilePartial = 2;

// Which tiles a CTA visits. Two forms:
// - analytic (csr_begin == nullptr): positions are offsets and there are no documents, so the
//   visible range and each tile's kind follow from position arithmetic — no per-tile storage,
//   which is what lets a million-token causal problem run without a 30-million-entry list;
// - CSR: a BlockLayout built on the host per batch (explicit positions, documents), uploaded as
//   csr_begin [B·outer + 1] offsets into csr_block / csr_kind.
struct TileList {
  int block_outer = 0, block_inner = 0;  // rows of the CTA's own block and of the visited blocks
  int64_t outer_blocks = 0, inner_blocks = 0;
  const int64_t* csr_begin = nullptr;  // [B * outer_blocks + 1]
  const int32_t* csr_block = nullptr;
  const uint8_t* csr_kind = nullptr;
};

// Forward: O = softmax(scale·Q·Kᵀ + mask)·V and LSE, for one (batch, head, query block) per CTA.
struct ForwardParams {
  const void* q = nullptr;  // [B, N, H, D]
  const void* k = nullptr;  // [B, M, G, D]
  const void* v = nullptr;  // [B, M, G, D]
  void* out = nullptr;      // [B, N, H, D]
  float* lse = nullptr;     // [B, H, N]
  // Strides in elements: (b, row, head) for the [B, rows, heads, D] tensors, (b, head, row)
  // for lse.
  int64_t q_stride[3], k_stride[3], v_stride[3], out_stride[3], lse_stride[3];
  int batch = 0, heads = 0, kv_heads = 0;
  float scale_log2 = 0.f;  // softmax scale · log2(e): scores are kept in base 2
  DeviceMask mask;
  TileList tiles;  // outer = query blocks, inner = key blocks
};

// Backward: dQ, dK, dV for one (batch, KV head, key block) per CTA; dQ accumulates in fp32.
struct BackwardParams {
  const void* q = nullptr;       // [B, N, H, D]
  const void* k = nullptr;       // [B, M, G, D]
  const void* v = nullptr;       // [B, M, G, D]
  const void* dout = nullptr;    // [B, N, H, D]
  const float* lse = nullptr;    // [B, H, N] (strided)
  const float* delta = nullptr;  // [B, H, N] contiguous: rowsum(dO ∘ O)
  float* dq_accum = nullptr;     // [B, H, N, D] contiguous fp32
  void* dk = nullptr;            // [B, M, G, D]
  void* dv = nullptr;            // [B, M, G, D]
  int64_t q_stride[3], k_stride[3], v_stride[3], dout_stride[3], lse_stride[3], dk_stride[3],
      dv_stride[3];
  int batch = 0, heads = 0, kv_heads = 0;
  float scale = 0.f;
  float scale_log2 = 0.f;
  DeviceMask mask;
  TileList tiles;  // outer = key blocks, inner = query blocks
};

// The forward's output, read by the backward's preprocessing step (delta = rowsum(dO ∘ O)).
struct ForwardOutputs {
  const void* out = nullptr;  // [B, N, H, D]
  int64_t out_stride[3];      // b, row, head
};

}  // namespace longctx::cuda
