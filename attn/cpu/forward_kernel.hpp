// The per-query-block kernel of the CPU forward: one query tile of one head against every
// non-empty key block of its row in the block layout, with online softmax. Written once with
// Highway (forward_kernel.cpp) and dispatched at run time to the best ISA of the CPU.
#pragma once

#include <cstdint>

#include "longctx/attn/block_layout.hpp"
#include "longctx/attn/mask.hpp"

namespace longctx::cpu {

// Query rows per register tile of the kernels: query tiles are padded to a multiple of it.
constexpr int64_t kQueryRowTile = 6;

struct ForwardBlockArgs {
  // Operands of one (batch, kv head), packed by pack.hpp.
  const float* key_panels = nullptr;  // [key blocks][packed_key_block_floats(block_k, D)]
  int64_t key_block_floats = 0;       // stride between key blocks in key_panels
  const float* values = nullptr;      // [M][dv_stride]
  int64_t dv_stride = 0;              // packed_value_stride(DV)
  int64_t dim = 0;                    // D

  // Which keys to visit and how to mask them.
  const BlockLayout* layout = nullptr;
  const ResolvedMask* mask = nullptr;
  int64_t batch = 0;
  int64_t query_block = 0;

  // Query tile [rows_padded][D] in f32, pre-multiplied by scale·log2(e); rows beyond the
  // block's real rows are zero.
  const float* q = nullptr;
  int64_t rows_padded = 0;  // multiple of kQueryRowTile

  // Per-thread scratch, sized by the caller.
  float* scores = nullptr;    // [rows_padded][score_stride]
  int64_t score_stride = 0;   // ≥ round_up(keys of any block, 16)
  float* acc = nullptr;       // [rows_padded][dv_stride], out: unnormalised Σ p·v
  float* row_max = nullptr;   // [rows_padded], out: running max in log2 units (−inf if none)
  float* row_sum = nullptr;   // [rows_padded], out: Σ p (0 if the row saw no key)
  float* alpha = nullptr;     // [rows_padded]
  float* lane_max = nullptr;  // [rows_padded][kPanelWidth], per-lane row maxima of a block
};

// Computes acc, row_max, row_sum for one query block (see ForwardBlockArgs).
void forward_query_block(const ForwardBlockArgs& args);

}  // namespace longctx::cpu
