// Per-device memory of a layout: model state under ZeRO, stored activations, attention workspace,
// communication buffers and KV cache.
#include "longctx/plan/memory_model.hpp"

#include <algorithm>

namespace longctx::plan {
namespace {

bool has_ring(const Layout& l) {
  return l.ring > 1 && l.cp_kind != CpKind::allgather;
}

}  // namespace

StateBytes state_bytes_per_param(int dtype_bytes) {
  if (dtype_bytes == 4) return {4, 4, 8};
  return {2, 2, 12};
}

DeviceShapes device_shapes(const ModelConfig& m, const Layout& l, const Workload& w) {
  DeviceShapes d;
  const double t = double(l.tp), c = double(l.cp), u = double(l.ulysses);
  const double h = double(m.hidden), hd = double(m.head_dim);
  // KV heads per rank: split over TP down to one head (t > g replicates), then over Ulysses
  // down to one head (U > g/t replicates: the all-to-all sends each rank a copy).
  const int64_t kv_tp = std::max<int64_t>(m.kv_heads / l.tp, 1);
  const int64_t kv_ulysses = std::max<int64_t>(kv_tp / l.ulysses, 1);

  ActivationSharding& sh = d.sharding;
  sh.tokens = double(w.seq) * double(w.batch) / c;
  sh.keys = double(w.seq);
  sh.norm_div = l.sequence_parallel ? t : 1;
  sh.tensor_div = t;
  sh.query_div = t;
  sh.kv_div = double(m.kv_heads) / (u * double(kv_ulysses));

  d.q_elems = sh.tokens * double(m.q_width()) / t;
  d.kv_elems = sh.tokens * u * double(kv_ulysses) * hd;
  d.kv_token_elems = sh.tokens * double(kv_tp) * hd;
  d.rows = sh.tokens * double(m.heads) / t;

  d.layer_params = 2 * h * double(m.q_width()) / t + 2 * h * double(kv_tp) * hd +
                   3 * h * double(m.intermediate) / t + 2 * h;
  const ParamCounts pc = count_params(m);
  d.model_params = double(m.layers) * d.layer_params + double(pc.embedding + pc.lm_head) / t +
                   double(pc.final_norm);
  d.zero_group = double(l.dp) * c;
  return d;
}

DeviceMemory predict_memory(const ModelConfig& m, const Layout& l, const Workload& w) {
  const DeviceShapes d = device_shapes(m, l, w);
  const ActivationSharding& sh = d.sharding;
  const double e = w.dtype_bytes;
  const double t = double(l.tp), n = d.zero_group;
  const bool train = !w.inference;
  DeviceMemory mem;

  const StateBytes sb = state_bytes_per_param(w.dtype_bytes);
  mem.params = d.model_params * sb.params / (l.zero >= 3 ? n : 1);
  if (train) {
    mem.grads = d.model_params * sb.grads / (l.zero >= 2 ? n : 1);
    mem.optimizer = d.model_params * sb.optimizer / (l.zero >= 1 ? n : 1);
  }

  const std::vector<ActivationTerm> terms = llama_layer_terms(m, w.dtype_bytes);
  const double all_of_one_layer = stored_layer_bytes(terms, sh, Recompute::none, l.flash);
  const double logits_per_token = 4.0 * double(m.vocab) / t;  // fp32 for the cross entropy
  if (train) {
    mem.activations_per_layer = stored_layer_bytes(terms, sh, l.recompute, l.flash);
    mem.recompute_working_set = all_of_one_layer - mem.activations_per_layer;
    mem.head_activations =
        2 * sh.tokens * double(m.hidden) * e / sh.norm_div + sh.tokens * logits_per_token;
    mem.activations = double(m.layers) * mem.activations_per_layer + mem.recompute_working_set +
                      mem.head_activations;
  } else {
    // Prefill: one layer's tensors are alive at a time; logits only for the last position.
    mem.recompute_working_set = all_of_one_layer;
    mem.head_activations = double(w.batch) * logits_per_token;
    mem.activations = all_of_one_layer + mem.head_activations;
    mem.kv_cache = double(m.layers) * 2 * d.kv_elems * e;
  }

  // Attention workspace: ring merges keep an fp32 accumulator and the step's partial (O, LSE);
  // backward keeps dQ in fp32 and D = rowsum(dO∘O). Without flash: an fp32 score matrix plus
  // its probabilities for each local row against every key.
  if (l.flash) {
    const double merge = has_ring(l) ? 2 * (d.q_elems + d.rows) * 4 : 0;
    const double backward = train ? (d.q_elems + d.rows) * 4 : 0;
    mem.workspace = std::max(merge, backward);
  } else {
    mem.workspace = d.rows * sh.keys * (4 + e);
  }

  // Communication buffers (transient, the largest set alive at once is assumed to be the sum).
  double comm = 0;
  if (l.tp > 1 && l.sequence_parallel) comm += sh.tokens * double(m.hidden) * e;  // gathered input
  if (has_ring(l)) {
    comm += 2 * 2 * d.kv_elems * e;             // K, V double buffer
    if (train) comm += 2 * 2 * d.kv_elems * 4;  // dK, dV (fp32) travelling with their block
  }
  if (l.cp_kind == CpKind::allgather && l.cp > 1) {
    const double full_kv = double(l.cp) * d.kv_elems;
    comm += 2 * full_kv * e;             // gathered K, V
    if (train) comm += 2 * full_kv * 4;  // dK, dV (fp32) before the reduce-scatter
  }
  if (l.ulysses > 1) {
    // All-to-all send (token layout) and receive (head layout) buffers of q, k, v.
    comm += (d.q_elems + 2 * d.kv_token_elems) * e + (d.q_elems + 2 * d.kv_elems) * e;
  }
  if (n > 1) {
    if (train && l.zero >= 2) comm += d.layer_params * e;  // gradient bucket to reduce-scatter
    if (l.zero >= 3) comm += 2 * d.layer_params * e;       // gathered layer + prefetched next
  }
  mem.comm_buffers = comm;
  return mem;
}

int64_t max_context(const ModelConfig& m, const Layout& l, Workload w, double usable_bytes) {
  const int64_t step = sequence_granularity(l);
  auto fits = [&](int64_t k) {
    w.seq = k * step;
    return predict_memory(m, l, w).total() <= usable_bytes;
  };
  if (!fits(1)) return 0;
  int64_t lo = 1, hi = 2;
  const int64_t limit = (int64_t(1) << 36) / step;  // 64 Gi tokens: beyond any device
  while (hi < limit && fits(hi)) {
    lo = hi;
    hi *= 2;
  }
  if (hi >= limit) return lo * step;
  while (hi - lo > 1) {  // invariant: fits(lo), !fits(hi)
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo * step;
}

}  // namespace longctx::plan
