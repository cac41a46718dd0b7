// Dispatch of a layer's attention: dense and DSA over the contiguous cache, the sliding window
// over the rolling buffer (ring part + chunk part merged by LSE, so the chunk never overwrites
// keys its own earlier queries still need), dilated and topk-exact via attention_rows.cpp, and
// single-token decoding of dense and windowed layers via decode_attention.cpp.
#include "layer_attention.hpp"

#include <vector>

#include "longctx/attention.hpp"
#include "longctx/attn/softmax_state.hpp"
#include "longctx/sparse/dsa.hpp"
#include "longctx/sparse/indexer.hpp"

namespace longctx::model {
namespace {

TensorView rows_view(const float* p, int64_t rows, int64_t heads, int64_t dim) {
  return TensorView::contiguous(const_cast<float*>(p), DType::f32, {1, rows, heads, dim});
}

AttentionOptions cpu_options(int threads) {
  AttentionOptions o;
  o.backend = Backend::cpu;
  o.threads = threads;
  return o;
}

// Sliding window of W tokens (q − k < W): the ring (earlier tokens, explicit slot positions)
// and the chunk itself, merged.
void window_attention(int64_t window, LayerKvCache& cache, const ChunkQkv& c, float* out,
                      int threads) {
  const int64_t C = c.tokens, H = c.heads, G = c.kv_heads, D = c.head_dim;
  const TensorView q = rows_view(c.q, C, H, D), o = rows_view(out, C, H, D);
  Tensor lse(DType::f32, {1, H, C});  // [1, H, C]
  AttentionSpec chunk_spec;
  chunk_spec.mask = MaskKind::causal;
  chunk_spec.window = Window{window - 1, 0};
  chunk_spec.q_positions = Positions::from_offset(c.start);
  chunk_spec.k_positions = Positions::from_offset(c.start);
  if (cache.length() == 0) {
    attention_forward(q, rows_view(c.k, C, G, D), rows_view(c.v, C, G, D), chunk_spec, o, lse,
                      cpu_options(threads));
  } else {
    AttentionSpec ring_spec = chunk_spec;
    ring_spec.k_positions = Positions::from_array(cache.slot_positions());
    const int64_t W = cache.slots();
    attention_forward(q, rows_view(cache.keys(), W, G, D), rows_view(cache.values(), W, G, D),
                      ring_spec, o, lse, cpu_options(threads));
    Tensor out_chunk(DType::f32, {1, C, H, D});  // [1, C, H, D]
    Tensor lse_chunk(DType::f32, {1, H, C});     // [1, H, C]
    attention_forward(q, rows_view(c.k, C, G, D), rows_view(c.v, C, G, D), chunk_spec, out_chunk,
                      lse_chunk, cpu_options(threads));
    merge_partials(o, lse, out_chunk, lse_chunk);
  }
  cache.append(c.k, c.v, C);
}

}  // namespace

void layer_attention(const LayerAttention& a, LayerKvCache& cache, const ChunkQkv& c, float* out,
                     int threads) {
  // Decoding with dense or windowed attention: append, then one split-KV pass over the cache
  // (in a rolling buffer the new token replaces position p − W, which it cannot see anyway).
  if (c.tokens == 1 && (a.kind == AttentionKind::dense || a.kind == AttentionKind::window)) {
    cache.append(c.k, c.v, 1);
    const bool ring = cache.rolling();
    decode_attention(c, cache.keys(), cache.values(), ring ? cache.slot_positions() : nullptr,
                     ring ? cache.slots() : cache.length(),
                     a.kind == AttentionKind::window ? a.window : 0, out, threads);
    return;
  }
  if (a.kind == AttentionKind::window) {
    window_attention(a.window, cache, c, out, threads);
    return;
  }
  cache.append(c.k, c.v, c.tokens);
  const int64_t C = c.tokens, H = c.heads, G = c.kv_heads, D = c.head_dim, M = cache.length();
  const TensorView q = rows_view(c.q, C, H, D), o = rows_view(out, C, H, D);
  const TensorView k = rows_view(cache.keys(), M, G, D), v = rows_view(cache.values(), M, G, D);
  AttentionSpec causal;  // queries at M − C + t = start + t, keys at their indices
  causal.mask = MaskKind::causal;
  switch (a.kind) {
    case AttentionKind::dense: {
      Tensor lse(DType::f32, {1, H, C});  // [1, H, C]
      attention_forward(q, k, v, causal, o, lse, cpu_options(threads));
      return;
    }
    case AttentionKind::dilated:
      dilated_rows(a.patterns, c, cache.keys(), cache.values(), out, threads);
      return;
    case AttentionKind::dsa: {
      sparse::IndexerOptions io;
      io.threads = threads;
      sparse::TopkSelection sel;
      if (c.indexer_keys != nullptr) {
        // The trained indexer: one selection shared by every query head (S = 1).
        const int64_t HI = c.indexer_heads;
        const sparse::IndexerInputs in{rows_view(c.indexer_q, C, HI, D),
                                       rows_view(c.indexer_keys, M, 1, D),
                                       rows_view(c.indexer_w, C, 1, HI)};
        sel = sparse::indexer_select(in, causal, a.top_k, io);
      } else {
        // Indexer from the layer's own q and k: group s's indexer heads are its H/G query heads.
        std::vector<float> ones(size_t(C * H), 1.f);  // w [1, C, G, H/G]
        const sparse::IndexerInputs in{
            q, k, TensorView::contiguous(ones.data(), DType::f32, {1, C, G, H / G})};
        sel = sparse::indexer_select(in, causal, a.top_k, io);
      }
      Tensor lse(DType::f32, {1, H, C});
      sparse::DsaOptions dso;
      dso.threads = threads;
      sparse::dsa_forward(q, k, v, sel, causal, o, lse, dso);
      return;
    }
    case AttentionKind::topk_exact: {
      Tensor lse(DType::f32, {1, H, C});  // dense LSE: the normaliser of the true probabilities
      attention_forward(q, k, v, causal, o, lse, cpu_options(threads));
      const sparse::TopkSelection sel =
          exact_topk_selection(c, cache.keys(), lse.data<float>(), a.top_k, threads);
      sparse::DsaOptions dso;
      dso.threads = threads;
      sparse::dsa_forward(q, k, v, sel, causal, o, lse, dso);
      return;
    }
    case AttentionKind::window:
      break;  // handled above
  }
}

}  // namespace longctx::model
