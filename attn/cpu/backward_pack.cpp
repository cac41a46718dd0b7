// Scalar plumbing of the CPU backward: converting strided inputs of any dtype into the padded
// float32 layouts the SIMD kernels read, the keep-masks of partially masked blocks, and
// writing the float32 gradients back to outputs of any dtype and strides.
#include <algorithm>
#include <limits>

#include "cpu/backward_work-inl.h"
#include "cpu/forward_mask.hpp"
#include "cpu/pack.hpp"

namespace longctx::cpu::backward_detail {

std::array<int64_t, 9> key_block_scratch_floats(const BackwardWork& w) {
  static_assert(sizeof(uint32_t) == sizeof(float), "keep is counted in floats");
  return {w.key_pad * w.dim_pad, w.dim * w.key_pad,       w.dim_v * w.key_pad,
          w.key_pad * w.dim_pad, w.key_pad * w.dim_v_pad, w.block_q * w.key_pad,
          w.block_q * w.key_pad, w.block_q * w.key_pad,   2 * std::max(w.dim_pad, w.dim_v_pad)};
}

KeyBlockScratch::KeyBlockScratch(const BackwardWork& w) {
  const std::array<int64_t, 9> f = key_block_scratch_floats(w);
  k_rows = WorkspaceBuffer<float>(size_t(f[0]));
  k_t = WorkspaceBuffer<float>(size_t(f[1]));
  v_t = WorkspaceBuffer<float>(size_t(f[2]));
  dk = WorkspaceBuffer<float>(size_t(f[3]));
  dv = WorkspaceBuffer<float>(size_t(f[4]));
  p = WorkspaceBuffer<float>(size_t(f[5]));
  ds = WorkspaceBuffer<float>(size_t(f[6]));
  keep = WorkspaceBuffer<uint32_t>(size_t(f[7]));
  row = WorkspaceBuffer<float>(size_t(f[8]));
}

void pack_key_block(const BackwardWork& w, int64_t b, int64_t g, int64_t k0, int64_t k1,
                    KeyBlockScratch& s) {
  const BackwardProblem& p = *w.problem;
  const int64_t cols = k1 - k0;
  // Zero first: padded rows of K and padded columns of Kᵀ, Vᵀ must read as 0.
  std::fill_n(s.k_rows.data(), w.key_pad * w.dim_pad, 0.f);
  std::fill_n(s.k_t.data(), w.dim * w.key_pad, 0.f);
  std::fill_n(s.v_t.data(), w.dim_v * w.key_pad, 0.f);
  for (int64_t j = 0; j < cols; ++j) {
    float* k_row = s.k_rows.data() + j * w.dim_pad;
    load_row(p.fwd.k, b, k0 + j, g, w.dim, k_row);
    for (int64_t c = 0; c < w.dim; ++c) s.k_t[size_t(c * w.key_pad + j)] = k_row[c];
    load_row(p.fwd.v, b, k0 + j, g, w.dim_v, s.row.data());
    for (int64_t c = 0; c < w.dim_v; ++c) s.v_t[size_t(c * w.key_pad + j)] = s.row[size_t(c)];
  }
}

void store_key_block(const BackwardWork& w, int64_t b, int64_t g, int64_t split, int64_t k0,
                     int64_t k1, const KeyBlockScratch& s) {
  if (w.head_splits == 1) {
    for (int64_t j = 0; j < k1 - k0; ++j) {
      store_row(s.dk.data() + j * w.dim_pad, w.dk, b, k0 + j, g);
      store_row(s.dv.data() + j * w.dim_v_pad, w.dv, b, k0 + j, g);
    }
    return;
  }
  const int64_t key_rows = w.batch * w.kv_heads * w.m;  // rows of one split's buffer
  const int64_t first = split * key_rows + w.key_row(b, g, k0);
  std::copy_n(s.dk.data(), (k1 - k0) * w.dim_pad, w.dk_split + first * w.dim_pad);
  std::copy_n(s.dv.data(), (k1 - k0) * w.dim_v_pad, w.dv_split + first * w.dim_v_pad);
}

void store_split_key_row(const BackwardWork& w, int64_t b, int64_t j, int64_t g, float* sum) {
  const int64_t key_rows = w.batch * w.kv_heads * w.m;
  const int64_t row = w.key_row(b, g, j);
  // Fixed split order: the sum does not depend on which thread ran which split.
  const auto reduce = [&](const float* base, int64_t pad, int64_t dim) {
    std::copy_n(base + row * pad, dim, sum);
    for (int64_t s = 1; s < w.head_splits; ++s) {
      const float* part = base + (s * key_rows + row) * pad;
      for (int64_t d = 0; d < dim; ++d) sum[d] += part[d];
    }
  };
  reduce(w.dk_split, w.dim_pad, w.dim);
  store_row(sum, w.dk, b, j, g);
  reduce(w.dv_split, w.dim_v_pad, w.dim_v);
  store_row(sum, w.dv, b, j, g);
}

void build_keep_mask(const BackwardWork& w, int64_t b, int64_t q0, int64_t q1, int64_t k0,
                     int64_t k1, KeyBlockScratch& s) {
  // The forward's masking code (forward_mask.hpp), so that both passes see one predicate.
  keep_partial_block(w.problem->fwd.mask, b, q0, q1 - q0, k0, k1 - k0, s.keep.data(),
                     size_t(w.key_pad));
}

bool readable_in_place(DType dtype, int64_t cols) {
  return dtype == DType::f32 && cols % kColumnPad == 0;
}

bool readable_in_place(const TensorView& t, int64_t cols) {
  return t.stride(3) == 1 && readable_in_place(t.dtype, cols);
}

void pack_query_rows(const BackwardWork& w, int64_t b, int64_t i, int64_t h, float* q_row,
                     float* dout_row, float* scratch, float* lse, float* delta) {
  const BackwardProblem& p = *w.problem;
  if (q_row) {
    load_row(p.fwd.q, b, i, h, w.dim, q_row);
    std::fill(q_row + w.dim, q_row + w.dim_pad, 0.f);
  }
  float* dout = dout_row ? dout_row : scratch;
  load_row(p.dout, b, i, h, w.dim_v, dout);
  std::fill(dout + w.dim_v, dout + w.dim_v_pad, 0.f);
  float* out = scratch + std::max(w.dim_pad, w.dim_v_pad);
  load_row(p.out, b, i, h, w.dim_v, out);
  double d = 0.0;
  for (int64_t c = 0; c < w.dim_v; ++c) d += double(dout[c]) * double(out[c]);
  *delta = float(d);
  const float l = static_cast<const float*>(
      p.lse.data)[b * p.lse.stride(0) + h * p.lse.stride(1) + i * p.lse.stride(2)];
  // -inf (no visible key) becomes +inf so that exp(scale·s − lse) is exactly 0 on that row.
  *lse = l == -std::numeric_limits<float>::infinity() ? std::numeric_limits<float>::infinity() : l;
}

void store_dq_row(const BackwardWork& w, int64_t b, int64_t i, int64_t h, float* sum) {
  std::fill_n(sum, w.dim, 0.f);
  // Fixed chunk order: the sum does not depend on which thread ran which chunk.
  for (int64_t c = 0; c < w.chunks; ++c) {
    const DqChunk& ch = w.dq_chunk(b, c);
    if (i < ch.q_lo || i >= ch.q_hi) continue;
    const float* part = w.dq + ch.offset + (h * (ch.q_hi - ch.q_lo) + i - ch.q_lo) * w.dim_pad;
    for (int64_t d = 0; d < w.dim; ++d) sum[d] += part[d];
  }
  store_row(sum, w.dq_out, b, i, h);
}

}  // namespace longctx::cpu::backward_detail
