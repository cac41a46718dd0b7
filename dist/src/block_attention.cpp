// Attention of local queries against one key block, per (query run, key run) pair (see
// block_attention.hpp).
#include "block_attention.hpp"

#include <algorithm>
#include <limits>

#include "longctx/attn/block_layout.hpp"
#include "longctx/attn/softmax_state.hpp"
#include "longctx/core/error.hpp"

namespace longctx::dist {
namespace {

int64_t sat_add(int64_t x, int64_t y) {
  int64_t r;
  if (__builtin_add_overflow(x, y, &r))
    return y > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  return r;
}

bool run_may_see(const Run& q, const Run& k, const AttentionSpec& spec) {
  if (q.length == 0 || k.length == 0) return false;
  const int64_t q_lo = q.global_start, q_hi = q.last_position();
  const int64_t k_lo = k.global_start, k_hi = k.last_position();
  if (spec.mask == MaskKind::causal && k_lo > q_hi) return false;
  if (spec.window &&
      (k_lo > sat_add(q_hi, spec.window->right) || k_hi < sat_add(q_lo, -spec.window->left)))
    return false;
  return true;
}

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Kernel positions of one (query run, key run) pair that reproduce the global mask.
struct PairPositions {
  std::vector<int64_t> q_explicit, k_explicit;  // owned arrays when offsets cannot do
  AttentionSpec spec;
};

void set_pair_positions(const Run& q, const Run& k, const AttentionSpec& base, PairPositions& p) {
  p.spec = base;
  const bool unit = (q.stride == 1 || q.length == 1) && (k.stride == 1 || k.length == 1);
  if (unit) {
    p.spec.q_positions = Positions::from_offset(q.global_start);
    p.spec.k_positions = Positions::from_offset(k.global_start);
    return;
  }
  if (q.stride == k.stride && !base.window) {
    // Only the order k ≤ q matters: with equal strides S, key j ≤ query i exactly when
    // j ≤ i + ⌊(q₀ − k₀)/S⌋.
    p.spec.q_positions =
        Positions::from_offset(floor_div(q.global_start - k.global_start, q.stride));
    p.spec.k_positions = Positions::from_offset(0);
    return;
  }
  p.q_explicit.resize(static_cast<size_t>(q.length));
  p.k_explicit.resize(static_cast<size_t>(k.length));
  for (int64_t i = 0; i < q.length; ++i) p.q_explicit[size_t(i)] = q.position(i);
  for (int64_t j = 0; j < k.length; ++j) p.k_explicit[size_t(j)] = k.position(j);
  p.spec.q_positions = Positions::from_array(p.q_explicit.data());
  p.spec.k_positions = Positions::from_array(p.k_explicit.data());
}

// acc[b, begin + i, ...] += part[b, i, ...] for contiguous [B, rows, width] buffers.
void add_rows(float* acc, int64_t acc_rows, int64_t begin, const float* part, int64_t rows,
              int64_t batch, int64_t width, int threads) {
  const int64_t n = rows * width;
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < n; ++i) acc[(b * acc_rows + begin) * width + i] += part[b * n + i];
}

}  // namespace

bool runs_may_see(const std::vector<Run>& q_runs, const std::vector<Run>& k_runs,
                  const AttentionSpec& spec) {
  for (const Run& q : q_runs)
    for (const Run& k : k_runs)
      if (run_may_see(q, k, spec)) return true;
  return false;
}

void for_each_visible_pair(const std::vector<Run>& q_runs, const std::vector<Run>& k_runs,
                           const AttentionSpec& spec,
                           const std::function<void(const VisiblePair&)>& visit) {
  PairPositions pos;
  for (const Run& qr : q_runs) {
    for (size_t kri = 0; kri < k_runs.size(); ++kri) {
      const Run& kr = k_runs[kri];
      if (!run_may_see(qr, kr, spec)) continue;
      set_pair_positions(qr, kr, spec, pos);
      visit(VisiblePair{qr, kr, kri, pos.spec});
    }
  }
}

PairRows pair_rows(const VisiblePair& pair, const BlockInputs& in, const QueryResults* results) {
  const int64_t qb = pair.q.local_begin, qn = pair.q.length;
  const int64_t kb = pair.k.local_begin, kn = pair.k.length;
  PairRows r{slice_rows(in.q, 1, qb, qn), slice_rows(in.k, 1, kb, kn), slice_rows(in.v, 1, kb, kn)};
  if (results) {
    r.out = slice_rows(results->out, 1, qb, qn);
    r.lse = slice_rows(results->lse, 2, qb, qn);
    r.dout = slice_rows(results->dout, 1, qb, qn);
  }
  return r;
}

double pair_forward_flops(const AttentionSpec& pair_spec, int64_t batch, int64_t n, int64_t m,
                          int64_t heads, int64_t d, int64_t dv) {
  const int64_t pairs = count_visible_pairs(resolve_mask(pair_spec, n, m), batch);
  return 2.0 * double(pairs) * double(heads) * double(d + dv);
}

BlockCost accumulate_forward(const BlockInputs& in, const TensorView& acc_out,
                             const TensorView& acc_lse, ScratchTensor& tmp_out,
                             ScratchTensor& tmp_lse) {
  if (in.options.backend == Backend::cuda)
    return cuda_accumulate_forward(in, acc_out, acc_lse, tmp_out, tmp_lse);
  const AttentionOptions& options = in.options;
  const int64_t B = in.q.dim(0), n = in.q.dim(1), H = in.q.dim(2), D = in.q.dim(3),
                DV = in.v.dim(3);
  float* out = static_cast<float*>(acc_out.data);  // [B, n, H, DV]
  float* lse = static_cast<float*>(acc_lse.data);  // [B, H, n]
  const int threads = std::max(1, options.threads);
  BlockCost cost;
  for_each_visible_pair(in.q_runs, in.k_runs, in.spec, [&](const VisiblePair& pair) {
    const Run &qr = pair.q, &kr = pair.k;
    const PairRows r = pair_rows(pair, in);
    tmp_out.reset(DType::f32, {B, qr.length, H, DV});
    tmp_lse.reset(DType::f32, {B, H, qr.length});
    attention_forward(r.q, r.k, r.v, pair.spec, tmp_out, tmp_lse, options);
    cost.flops += pair_forward_flops(pair.spec, B, qr.length, kr.length, H, D, DV);
    cost.computed = true;
    // Merge rows [local_begin, +length) of the accumulator with the partial (SPEC §1).
    const float* po = tmp_out.f32();
    const float* pl = tmp_lse.f32();
    const int64_t len = qr.length, lb = qr.local_begin;
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < len; ++i)
        for (int64_t h = 0; h < H; ++h)
          merge_row(out + ((b * n + lb + i) * H + h) * DV, lse + (b * H + h) * n + lb + i,
                    po + ((b * len + i) * H + h) * DV, pl[(b * H + h) * len + i], DV);
  });
  return cost;
}

BlockCost accumulate_backward(const BlockInputs& in, const QueryResults& results,
                              const GradientAccumulators& acc, BackwardScratch& s) {
  if (in.options.backend == Backend::cuda) return cuda_accumulate_backward(in, results, acc, s);
  const AttentionOptions& options = in.options;
  const TensorView &dq_acc = acc.dq, &dk_acc = acc.dk, &dv_acc = acc.dv;
  const int64_t B = in.q.dim(0), n = in.q.dim(1), H = in.q.dim(2), D = in.q.dim(3);
  const int64_t m = in.k.dim(1), G = in.k.dim(2), DV = in.v.dim(3);
  const int threads = std::max(1, options.threads);
  BlockCost cost;
  // Key runs whose dK, dV rows already hold a contribution of this call (or may be non-zero):
  // the first pair of any other key run writes straight into the accumulator, saving a buffer.
  std::vector<bool> touched(in.k_runs.size(), !acc.dkv_zero);
  for_each_visible_pair(in.q_runs, in.k_runs, in.spec, [&](const VisiblePair& pair) {
    const Run &qr = pair.q, &kr = pair.k;
    const PairRows r = pair_rows(pair, in, &results);
    const bool direct = !touched[pair.k_index];
    s.dq.reset(DType::f32, {B, qr.length, H, D});
    if (!direct) {
      s.dk.reset(DType::f32, {B, kr.length, G, D});
      s.dv.reset(DType::f32, {B, kr.length, G, DV});
    }
    const TensorView dk_out =
        direct ? slice_rows(dk_acc, 1, kr.local_begin, kr.length) : s.dk.view();
    const TensorView dv_out =
        direct ? slice_rows(dv_acc, 1, kr.local_begin, kr.length) : s.dv.view();
    attention_backward(r.q, r.k, r.v, r.out, r.lse, r.dout, pair.spec, s.dq, dk_out, dv_out,
                       options);
    cost.flops += 2.5 * pair_forward_flops(pair.spec, B, qr.length, kr.length, H, D, DV);
    cost.computed = true;
    add_rows(static_cast<float*>(dq_acc.data), n, qr.local_begin, s.dq.f32(), qr.length, B, H * D,
             threads);
    if (direct) {
      touched[pair.k_index] = true;
      return;
    }
    add_rows(static_cast<float*>(dk_acc.data), m, kr.local_begin, s.dk.f32(), kr.length, B, G * D,
             threads);
    add_rows(static_cast<float*>(dv_acc.data), m, kr.local_begin, s.dv.f32(), kr.length, B, G * DV,
             threads);
  });
  return cost;
}

void copy_f32_to_view(const float* src, const TensorView& dst) {
  LONGCTX_CHECK_ARG(dst.rank == 3 || dst.rank == 4, "dst", "a 3-d or 4-d tensor", dst.rank);
  const int64_t d0 = dst.dim(0), d1 = dst.dim(1), d2 = dst.dim(2),
                d3 = dst.rank == 4 ? dst.dim(3) : 1;
  const int64_t s3 = dst.rank == 4 ? dst.stride(3) : 0;
  for (int64_t a = 0; a < d0; ++a)
    for (int64_t b = 0; b < d1; ++b)
      for (int64_t c = 0; c < d2; ++c) {
        const int64_t base = a * dst.stride(0) + b * dst.stride(1) + c * dst.stride(2);
        const float* row = src + ((a * d1 + b) * d2 + c) * d3;
        if (s3 == 1 || dst.rank == 3) {
          convert_from_f32(row, d3, dst.dtype,
                           static_cast<char*>(dst.data) + base * dtype_size(dst.dtype));
        } else {
          for (int64_t e = 0; e < d3; ++e)
            store_from_f32(dst.data, dst.dtype, base + e * s3, row[e]);
        }
      }
}

void copy_view_to_f32(const TensorView& src, float* dst) {
  LONGCTX_CHECK_ARG(src.rank == 3 || src.rank == 4, "src", "a 3-d or 4-d tensor", src.rank);
  const int64_t d0 = src.dim(0), d1 = src.dim(1), d2 = src.dim(2),
                d3 = src.rank == 4 ? src.dim(3) : 1;
  const int64_t s3 = src.rank == 4 ? src.stride(3) : 0;
  for (int64_t a = 0; a < d0; ++a)
    for (int64_t b = 0; b < d1; ++b)
      for (int64_t c = 0; c < d2; ++c) {
        const int64_t base = a * src.stride(0) + b * src.stride(1) + c * src.stride(2);
        float* row = dst + ((a * d1 + b) * d2 + c) * d3;
        if (s3 == 1 || src.rank == 3) {
          convert_to_f32(static_cast<const char*>(src.data) + base * dtype_size(src.dtype),
                         src.dtype, d3, row);
        } else {
          for (int64_t e = 0; e < d3; ++e) row[e] = load_as_f32(src.data, src.dtype, base + e * s3);
        }
      }
}

}  // namespace longctx::dist
