// Training attention per mechanism (see train_attention.hpp).
#include "train_attention.hpp"

#include <algorithm>

#include "layer_attention.hpp"  // model/src: exact_topk_selection
#include "longctx/attention.hpp"
#include "longctx/core/error.hpp"
#include "longctx/sparse/dilated.hpp"
#include "longctx/sparse/dsa.hpp"
#include "longctx/sparse/indexer.hpp"
#include "longctx/sparse/indexer_loss.hpp"

namespace longctx::train {
namespace {

using model::AttentionKind;

TensorView view(const float* p, int64_t b, int64_t t, int64_t h, int64_t d) {
  return TensorView::contiguous(const_cast<float*>(p), DType::f32, {b, t, h, d});
}

AttentionOptions cpu_options(int threads) {
  AttentionOptions o;
  o.backend = Backend::cpu;
  o.threads = threads;
  return o;
}

// Causal, plus the window of a window layer (a key is visible when q − k < W).
AttentionSpec exact_spec(const model::LayerAttention& a) {
  AttentionSpec spec;
  spec.mask = MaskKind::causal;
  if (a.kind == AttentionKind::window) spec.window = Window{a.window - 1, 0};
  return spec;
}

sparse::IndexerInputs indexer_inputs(const AttentionShape& s, const IndexerActivations& ix) {
  return {view(ix.q, s.batch, s.seq, ix.heads, s.head_dim),
          view(ix.k, s.batch, s.seq, 1, s.head_dim), view(ix.w, s.batch, s.seq, 1, ix.heads)};
}

// topk-exact over the batch: each row's selection from its dense LSE [H, T].
sparse::TopkSelection exact_selection(const AttentionShape& s, const float* q, const float* k,
                                      const float* lse, int64_t top_k) {
  const int64_t B = s.batch, T = s.seq, H = s.heads, G = s.kv_heads, D = s.head_dim;
  const int64_t kk = std::min(top_k, T);
  sparse::TopkSelection all(B, G, T, kk);
  for (int64_t b = 0; b < B; ++b) {
    const model::ChunkQkv c{q + b * T * H * D, k + b * T * G * D, nullptr, T, H, G, D, 0};
    const sparse::TopkSelection one =
        model::exact_topk_selection(c, k + b * T * G * D, lse + b * H * T, top_k, s.threads);
    std::copy(one.index.begin(), one.index.end(), all.index.begin() + b * G * T * kk);
    std::copy(one.count.begin(), one.count.end(), all.count.begin() + b * G * T);
  }
  return all;
}

bool runs_exact(const model::LayerAttention& a, const AttentionSaved& saved) {
  return a.kind == AttentionKind::dense || a.kind == AttentionKind::window || saved.ran_dense;
}

}  // namespace

void train_attention_forward(const model::LayerAttention& a, const AttentionShape& s,
                             const float* q, const float* k, const float* v,
                             const IndexerActivations* indexer, bool dense_dsa, float* out,
                             AttentionSaved& saved) {
  const int64_t B = s.batch, T = s.seq, H = s.heads, G = s.kv_heads, D = s.head_dim;
  const TensorView qv = view(q, B, T, H, D), kv = view(k, B, T, G, D), vv = view(v, B, T, G, D),
                   ov = view(out, B, T, H, D);
  saved.lse.assign(size_t(B * H * T), 0.f);
  const TensorView lse = TensorView::contiguous(saved.lse.data(), DType::f32, {B, H, T});
  saved.ran_dense = a.kind == AttentionKind::dsa && dense_dsa;
  if (runs_exact(a, saved)) {
    attention_forward(qv, kv, vv, exact_spec(a), ov, lse, cpu_options(s.threads));
    return;
  }
  AttentionSpec causal;
  causal.mask = MaskKind::causal;
  sparse::DsaOptions dso;
  dso.threads = s.threads;
  switch (a.kind) {
    case AttentionKind::dilated: {
      sparse::DilatedSpec ds;
      ds.patterns = a.patterns;
      sparse::dilated_forward(qv, kv, vv, ds, ov, lse, cpu_options(s.threads));
      return;
    }
    case AttentionKind::dsa: {
      sparse::IndexerOptions io;
      io.threads = s.threads;
      if (indexer != nullptr) {
        saved.selection = sparse::indexer_select(indexer_inputs(s, *indexer), causal, a.top_k, io);
      } else {
        // The runtime's derived indexer: q_I = q, k_I = k, w = 1, one selection per KV group.
        std::vector<float> ones(size_t(B * T * H), 1.f);  // [B, T, G, H/G]
        const sparse::IndexerInputs in{
            qv, kv, TensorView::contiguous(ones.data(), DType::f32, {B, T, G, H / G})};
        saved.selection = sparse::indexer_select(in, causal, a.top_k, io);
      }
      break;
    }
    case AttentionKind::topk_exact:
      attention_forward(qv, kv, vv, causal, ov, lse, cpu_options(s.threads));
      saved.selection = exact_selection(s, q, k, saved.lse.data(), a.top_k);
      break;
    case AttentionKind::dense:
    case AttentionKind::window:
      break;  // handled above
  }
  sparse::dsa_forward(qv, kv, vv, saved.selection, causal, ov, lse, dso);
}

void train_attention_backward(const model::LayerAttention& a, const AttentionShape& s,
                              const float* q, const float* k, const float* v, const float* out,
                              const AttentionSaved& saved, const float* dout, float* dq, float* dk,
                              float* dv) {
  const int64_t B = s.batch, T = s.seq, H = s.heads, G = s.kv_heads, D = s.head_dim;
  const TensorView qv = view(q, B, T, H, D), kv = view(k, B, T, G, D), vv = view(v, B, T, G, D),
                   ov = view(out, B, T, H, D), dov = view(dout, B, T, H, D),
                   dqv = view(dq, B, T, H, D), dkv = view(dk, B, T, G, D),
                   dvv = view(dv, B, T, G, D);
  const TensorView lse =
      TensorView::contiguous(const_cast<float*>(saved.lse.data()), DType::f32, {B, H, T});
  if (runs_exact(a, saved)) {
    attention_backward(qv, kv, vv, ov, lse, dov, exact_spec(a), dqv, dkv, dvv,
                       cpu_options(s.threads));
    return;
  }
  if (a.kind == AttentionKind::dilated) {
    sparse::DilatedSpec ds;
    ds.patterns = a.patterns;
    sparse::dilated_backward(qv, kv, vv, ov, lse, dov, ds, dqv, dkv, dvv, cpu_options(s.threads));
    return;
  }
  AttentionSpec causal;
  causal.mask = MaskKind::causal;
  sparse::DsaOptions dso;
  dso.threads = s.threads;
  sparse::dsa_backward(qv, kv, vv, ov, lse, dov, saved.selection, causal, dqv, dkv, dvv, dso);
}

double indexer_loss_backward(const AttentionShape& s, const float* q, const float* k,
                             const IndexerActivations& ix, const AttentionSaved& saved,
                             float* dq_indexer, float* dk_indexer, float* dw_indexer) {
  const int64_t B = s.batch, T = s.seq, H = s.heads, G = s.kv_heads, D = s.head_dim;
  AttentionSpec causal;
  causal.mask = MaskKind::causal;
  const sparse::IndexerLoss l = sparse::indexer_kl_loss(
      view(q, B, T, H, D), view(k, B, T, G, D), causal, indexer_inputs(s, ix),
      saved.ran_dense ? nullptr : &saved.selection, s.threads);
  std::transform(l.dq.begin(), l.dq.end(), dq_indexer, [](double x) { return float(x); });
  std::transform(l.dk.begin(), l.dk.end(), dk_indexer, [](double x) { return float(x); });
  std::transform(l.dw.begin(), l.dw.end(), dw_indexer, [](double x) { return float(x); });
  return l.loss;
}

}  // namespace longctx::train
