// Dilated attention forward and backward (see longctx/sparse/dilated.hpp): every compact group
// of dilated_plan.hpp reads its rows through strided views of the inputs (or float32 gathers),
// runs through the dense attention API, and its results go back to their rows — merged into
// (O, LSE) by the LSE merge in the forward, added into dQ, dK, dV in the backward.
//
// Backward of a mixture. Let pattern i see keys P_i of a row, with lse_i = log Σ_{j∈P_i} e^{S_j},
// O_i = Σ_{j∈P_i} e^{S_j − lse_i} v_j, and the merge lse = log Σ_i e^{lse_i},
// O = Σ_i w_i O_i with w_i = e^{lse_i − lse}. The gradient reaches S_j (j ∈ P_i) along two
// paths: through O_i with dO_i = w_i·dO, giving e^{S_j − lse_i}(dO_i·v_j − dO_i·O_i); and through
// lse_i, since ∂O/∂lse_i = w_i (O_i − O), giving e^{S_j − lse_i}·w_i·(dO·O_i − dO·O). Their sum is
//   dS_j = e^{S_j − lse} (dO·v_j − dO·O),
// the FlashAttention-2 backward of pattern i evaluated with the merged LSE and the merged O in
// place of its own (P = e^{S − lse} = w_i e^{S − lse_i}, D = dO·O) and the unweighted dO. So each
// pattern's backward is the dense backward on its compact rows with (O, LSE, dO) of the mixture:
// no per-pattern O_i needs to be kept, and the weights never appear explicitly.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "cpu/pack.hpp"
#include "dilated_plan.hpp"
#include "longctx/attn/problem.hpp"
#include "longctx/attn/softmax_state.hpp"
#include "longctx/core/error.hpp"
#include "longctx/core/memory.hpp"
#include "longctx/core/threads.hpp"

namespace longctx::sparse {
namespace {

using detail::CompactGroup;
using detail::KvMode;

// A float32 workspace tensor of logical shape [d0, d1, d2, d3] (or rank 3 when d3 == 0).
struct Compact {
  WorkspaceBuffer<float> buffer;
  TensorView view;
  Compact(int64_t d0, int64_t d1, int64_t d2, int64_t d3)
      : buffer(size_t(d0 * d1 * d2 * (d3 ? d3 : 1))),
        view(d3 ? TensorView::contiguous(buffer.data(), DType::f32, {d0, d1, d2, d3})
                : TensorView::contiguous(buffer.data(), DType::f32, {d0, d1, d2})) {}
  float* row(int64_t i0, int64_t i1, int64_t i2) {
    return buffer.data() + view.offset(i0, i1, i2, 0);
  }
};

// Validates the call and returns the shape (self-attention: M == N).
AttentionShape check_call(const TensorView& q, const TensorView& k, const TensorView& v,
                          const DilatedSpec& spec) {
  validate_dilated(spec);
  AttentionSpec plain;
  plain.scale = spec.scale;
  const ForwardProblem p = make_forward_problem(q, k, v, plain);
  LONGCTX_CHECK_ARG(p.shape.m == p.shape.n, "k",
                    "as many key rows as query rows (dilated attention is self-attention)",
                    "M = " << p.shape.m << " with N = " << p.shape.n);
  return p.shape;
}

float resolved_scale(const DilatedSpec& spec, int64_t dim) {
  return spec.scale > 0.f ? spec.scale : float(1.0 / std::sqrt(double(dim)));
}

// Q, K, V of one compact problem, [B·S, len, Hs, D], [B·S, len, Gs, D], [B·S, len, Gs, DV]
// (Hs = heads of the group, Gs = its KV heads): strided views of the caller's tensors when the
// group has one offset and the batch's segments fit one stride (see dilated_plan.hpp), float32
// gathers otherwise.
struct GroupOperands {
  int64_t batch = 0, kv_heads = 0;
  TensorView q, k, v;
  std::optional<Compact> q_copy, k_copy, v_copy;
};

// Rows s0 + o + c·r of the group's segments and `count` heads from `head0`, `head_step` apart,
// of a logical [B, N, heads, ·] tensor, as a [B·S, len, count, ·] view; nullopt when the
// segments of several batch entries cannot share one stride.
std::optional<TensorView> strided_view(const TensorView& full, const CompactGroup& g, int64_t head0,
                                       int64_t head_step, int64_t count) {
  const int64_t batch = full.dim(0);
  const int64_t segment_stride = g.segment * full.stride(1);
  if (g.segments > 1 && batch > 1 && full.stride(0) != g.segments * segment_stride)
    return std::nullopt;
  TensorView view = full;
  view.data =
      static_cast<char*>(full.data) +
      (g.row(0, 0, g.offset) * full.stride(1) + head0 * full.stride(2)) * dtype_size(full.dtype);
  view.shape = {batch * g.segments, g.len, count, full.dim(3)};
  view.strides = {g.segments > 1 ? segment_stride : full.stride(0), g.dilation * full.stride(1),
                  head_step * full.stride(2), full.stride(3)};
  return view;
}

// Runs f(b, seg, bs, c) for every compact row (bs = b·segments + seg, c) of group g: the index
// map every gather, merge and scatter of a group shares. Parallel over the rows; f must only
// touch what row (bs, c) owns.
template <class F>
void for_each_compact_row(const CompactGroup& g, int64_t compact_batch, int threads, const F& f) {
  const int64_t rows = compact_batch * g.len;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t t = 0; t < rows; ++t) {
    const int64_t bs = t / g.len, c = t % g.len;
    f(bs / g.segments, bs % g.segments, bs, c);
  }
}

// Gathers [B·S, len, heads, ·] rows of a full [B, N, heads_full, ·] tensor: compact head c
// reads full head head_of(c) at the rows of offset offset_of(c). Parallel over (b·s, c).
template <class HeadOf, class OffsetOf>
void gather(const CompactGroup& g, const TensorView& full, Compact& dst, int64_t heads,
            const HeadOf& head_of, const OffsetOf& offset_of, int threads) {
  const int64_t cols = full.dim(3);
  for_each_compact_row(
      g, dst.view.dim(0), threads, [&](int64_t b, int64_t s, int64_t bs, int64_t c) {
        for (int64_t h = 0; h < heads; ++h)
          cpu::load_row(full, b, g.row(s, c, offset_of(h)), head_of(h), cols, dst.row(bs, c, h));
      });
}

GroupOperands group_operands(const CompactGroup& g, const AttentionShape& s, const TensorView& q,
                             const TensorView& k, const TensorView& v, int threads) {
  GroupOperands o;
  o.batch = s.batch * g.segments;
  o.kv_heads = g.kv_heads(s.kv_heads);
  const int64_t hs = int64_t(g.heads.size());
  if (g.kv_mode != KvMode::gathered) {
    // Query heads o, o + r, ...; KV heads all (shared) or the same ones (strided).
    const int64_t kv0 = g.kv_mode == KvMode::shared ? 0 : g.heads[0];
    const int64_t kv_step = g.kv_mode == KvMode::shared ? 1 : g.dilation;
    const auto qv = strided_view(q, g, g.heads[0], g.dilation, hs);
    const auto kv = strided_view(k, g, kv0, kv_step, o.kv_heads);
    const auto vv = strided_view(v, g, kv0, kv_step, o.kv_heads);
    if (qv && kv && vv) {
      o.q = *qv;
      o.k = *kv;
      o.v = *vv;
      return o;
    }
  }
  o.q_copy.emplace(o.batch, g.len, hs, s.dim);
  o.k_copy.emplace(o.batch, g.len, o.kv_heads, s.dim);
  o.v_copy.emplace(o.batch, g.len, o.kv_heads, s.dim_v);
  const auto query_head = [&](int64_t c) { return g.heads[size_t(c)]; };
  const auto query_offset = [&](int64_t c) { return g.offset_of_head(g.heads[size_t(c)]); };
  gather(g, q, *o.q_copy, hs, query_head, query_offset, threads);
  const auto kv_head = [&](int64_t c) { return g.kv_source(c, s.group()); };
  const auto kv_offset = [&](int64_t c) { return g.kv_offset(c); };
  gather(g, k, *o.k_copy, o.kv_heads, kv_head, kv_offset, threads);
  gather(g, v, *o.v_copy, o.kv_heads, kv_head, kv_offset, threads);
  o.q = o.q_copy->view;
  o.k = o.k_copy->view;
  o.v = o.v_copy->view;
  return o;
}

AttentionSpec compact_spec(const DilatedSpec& spec, float scale) {
  AttentionSpec a;
  a.scale = scale;
  a.mask = spec.causal ? MaskKind::causal : MaskKind::full;
  return a;
}

}  // namespace

void dilated_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                     const DilatedSpec& spec, const TensorView& out, const TensorView& lse,
                     const AttentionOptions& options) {
  const AttentionShape s = check_call(q, k, v, spec);
  {
    AttentionSpec plain;
    check_forward_outputs(make_forward_problem(q, k, v, plain), out, lse);
  }
  const int threads = resolve_threads(options.threads);
  const float scale = resolved_scale(spec, s.dim);
  // The merged state in float32: o [B, N, H, DV], l [B, H, N]; starts empty (0, −inf).
  Compact o(s.batch, s.n, s.heads, s.dim_v), l(s.batch, s.heads, s.n, 0);
  std::fill_n(o.buffer.data(), s.batch * s.n * s.heads * s.dim_v, 0.f);
  std::fill_n(l.buffer.data(), s.batch * s.heads * s.n, kNegInf);

  for (const CompactGroup& g : detail::compact_groups(spec, s.n, s.heads, s.kv_heads)) {
    const GroupOperands ops = group_operands(g, s, q, k, v, threads);
    const int64_t hs = int64_t(g.heads.size());
    Compact o_part(ops.batch, g.len, hs, s.dim_v), l_part(ops.batch, hs, g.len, 0);
    attention_forward(ops.q, ops.k, ops.v, compact_spec(spec, scale), o_part.view, l_part.view,
                      options);
    // Merge into the rows they came from; each full row appears once per group.
    for_each_compact_row(g, ops.batch, threads, [&](int64_t b, int64_t seg, int64_t bs, int64_t c) {
      for (int64_t hc = 0; hc < hs; ++hc) {
        const int64_t h = g.heads[size_t(hc)], i = g.row(seg, c, g.offset_of_head(h));
        merge_row(o.row(b, i, h), l.buffer.data() + (b * s.heads + h) * s.n + i,
                  o_part.row(bs, c, hc), l_part.buffer.data()[(bs * hs + hc) * g.len + c], s.dim_v);
      }
    });
  }

  float* lse_out = static_cast<float*>(lse.data);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t t = 0; t < s.batch * s.n; ++t) {
    const int64_t b = t / s.n, i = t % s.n;
    for (int64_t h = 0; h < s.heads; ++h) {
      cpu::store_row(o.row(b, i, h), out, b, i, h);
      lse_out[b * lse.stride(0) + h * lse.stride(1) + i * lse.stride(2)] =
          l.buffer.data()[(b * s.heads + h) * s.n + i];
    }
  }
}

ForwardResult dilated_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                              const DilatedSpec& spec, const AttentionOptions& options) {
  const AttentionShape s = check_call(q, k, v, spec);
  ForwardResult r{Tensor(q.dtype, {s.batch, s.n, s.heads, s.dim_v}),
                  Tensor(DType::f32, {s.batch, s.heads, s.n})};
  dilated_forward(q, k, v, spec, r.out, r.lse, options);
  return r;
}

void dilated_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                      const TensorView& out, const TensorView& lse, const TensorView& dout,
                      const DilatedSpec& spec, const TensorView& dq, const TensorView& dk,
                      const TensorView& dv, const AttentionOptions& options) {
  const AttentionShape s = check_call(q, k, v, spec);
  {
    AttentionSpec plain;
    const BackwardProblem p = make_backward_problem(q, k, v, out, lse, dout, plain);
    check_backward_outputs(p, dq, dk, dv);
  }
  const int threads = resolve_threads(options.threads);
  const float scale = resolved_scale(spec, s.dim);
  // float32 accumulators: dq [B, N, H, D], dk [B, N, G, D], dv [B, N, G, DV].
  Compact dq_acc(s.batch, s.n, s.heads, s.dim), dk_acc(s.batch, s.n, s.kv_heads, s.dim),
      dv_acc(s.batch, s.n, s.kv_heads, s.dim_v);
  std::fill_n(dq_acc.buffer.data(), s.batch * s.n * s.heads * s.dim, 0.f);
  std::fill_n(dk_acc.buffer.data(), s.batch * s.n * s.kv_heads * s.dim, 0.f);
  std::fill_n(dv_acc.buffer.data(), s.batch * s.n * s.kv_heads * s.dim_v, 0.f);
  const float* lse_in = static_cast<const float*>(lse.data);

  for (const CompactGroup& g : detail::compact_groups(spec, s.n, s.heads, s.kv_heads)) {
    const GroupOperands ops = group_operands(g, s, q, k, v, threads);
    const int64_t hs = int64_t(g.heads.size());
    // The mixture's O, LSE and dO on the group's rows (see the comment at the top); O and dO
    // are views like Q's when the group has one offset, gathered otherwise.
    const auto query_head = [&](int64_t c) { return g.heads[size_t(c)]; };
    const auto query_offset = [&](int64_t c) { return g.offset_of_head(g.heads[size_t(c)]); };
    const auto query_rows = [&](const TensorView& full, std::optional<Compact>& copy) {
      if (g.kv_mode != KvMode::gathered)
        if (std::optional<TensorView> view = strided_view(full, g, g.heads[0], g.dilation, hs))
          return *view;
      copy.emplace(ops.batch, g.len, hs, full.dim(3));
      gather(g, full, *copy, hs, query_head, query_offset, threads);
      return copy->view;
    };
    std::optional<Compact> o_copy, do_copy;
    const TensorView o_c = query_rows(out, o_copy), do_c = query_rows(dout, do_copy);
    Compact l_c(ops.batch, hs, g.len, 0);
    for_each_compact_row(g, ops.batch, threads, [&](int64_t b, int64_t seg, int64_t bs, int64_t c) {
      for (int64_t hc = 0; hc < hs; ++hc) {
        const int64_t h = g.heads[size_t(hc)], i = g.row(seg, c, g.offset_of_head(h));
        l_c.buffer.data()[(bs * hs + hc) * g.len + c] =
            lse_in[b * lse.stride(0) + h * lse.stride(1) + i * lse.stride(2)];
      }
    });
    Compact dq_c(ops.batch, g.len, hs, s.dim), dk_c(ops.batch, g.len, ops.kv_heads, s.dim),
        dv_c(ops.batch, g.len, ops.kv_heads, s.dim_v);
    attention_backward(ops.q, ops.k, ops.v, o_c, l_c.view, do_c, compact_spec(spec, scale),
                       dq_c.view, dk_c.view, dv_c.view, options);
    // Scatter-add. Two compact entries reach the same full row only when they share (b·s, c)
    // (query heads of one KV group with one offset), so the loop over (b·s, c) is race-free
    // and every sum runs in a fixed order.
    for_each_compact_row(g, ops.batch, threads, [&](int64_t b, int64_t seg, int64_t bs, int64_t c) {
      for (int64_t hc = 0; hc < hs; ++hc) {
        const int64_t h = g.heads[size_t(hc)], i = g.row(seg, c, g.offset_of_head(h));
        float* acc = dq_acc.row(b, i, h);
        const float* part = dq_c.row(bs, c, hc);
        for (int64_t e = 0; e < s.dim; ++e) acc[e] += part[e];
      }
      for (int64_t kc = 0; kc < ops.kv_heads; ++kc) {
        const int64_t gh = g.kv_source(kc, s.group()), j = g.row(seg, c, g.kv_offset(kc));
        float* acc_k = dk_acc.row(b, j, gh);
        const float* part_k = dk_c.row(bs, c, kc);
        for (int64_t e = 0; e < s.dim; ++e) acc_k[e] += part_k[e];
        float* acc_v = dv_acc.row(b, j, gh);
        const float* part_v = dv_c.row(bs, c, kc);
        for (int64_t e = 0; e < s.dim_v; ++e) acc_v[e] += part_v[e];
      }
    });
  }

#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t t = 0; t < s.batch * s.n; ++t) {
    const int64_t b = t / s.n, i = t % s.n;
    for (int64_t h = 0; h < s.heads; ++h) cpu::store_row(dq_acc.row(b, i, h), dq, b, i, h);
    for (int64_t g = 0; g < s.kv_heads; ++g) {
      cpu::store_row(dk_acc.row(b, i, g), dk, b, i, g);
      cpu::store_row(dv_acc.row(b, i, g), dv, b, i, g);
    }
  }
}

BackwardResult dilated_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                                const TensorView& out, const TensorView& lse,
                                const TensorView& dout, const DilatedSpec& spec,
                                const AttentionOptions& options) {
  const AttentionShape s = check_call(q, k, v, spec);
  BackwardResult r{Tensor(q.dtype, {s.batch, s.n, s.heads, s.dim}),
                   Tensor(q.dtype, {s.batch, s.n, s.kv_heads, s.dim}),
                   Tensor(q.dtype, {s.batch, s.n, s.kv_heads, s.dim_v})};
  dilated_backward(q, k, v, out, lse, dout, spec, r.dq, r.dk, r.dv, options);
  return r;
}

}  // namespace longctx::sparse
