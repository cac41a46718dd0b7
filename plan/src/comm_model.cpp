// Per-layer communication volumes of TP (all-reduce, or all-gather/reduce-scatter with SP), CP
// (ring send/recv, Ulysses all-to-all, KV all-gather) and DP/ZeRO gradient and weight traffic.
#include "longctx/plan/comm_model.hpp"

#include "longctx/plan/memory_model.hpp"

namespace longctx::plan {

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::all_reduce:
      return "all-reduce";
    case Collective::all_gather:
      return "all-gather";
    case Collective::reduce_scatter:
      return "reduce-scatter";
    case Collective::all_to_all:
      return "all-to-all";
    case Collective::send_recv:
      return "send/recv";
  }
  return "?";
}

std::vector<CommVolume> comm_per_layer(const ModelConfig& m, const Layout& l, const Workload& w) {
  const DeviceShapes d = device_shapes(m, l, w);
  const double e = w.dtype_bytes;
  const bool train = !w.inference;
  const bool full = train && l.recompute == Recompute::full;
  // Forward passes per step: 1, plus the recomputed forward under full recompute.
  const int64_t forwards = 1 + (full ? 1 : 0);
  std::vector<CommVolume> out;

  if (l.tp > 1) {
    const double t = double(l.tp);
    const double msg = d.sharding.tokens * double(m.hidden) * e;  // [s/c·b, h] per block
    if (!l.sequence_parallel) {
      // Megatron f/g: one all-reduce after each block in forward, one per block in backward.
      const int64_t calls = 2 * forwards + (train ? 2 : 0);
      out.push_back({"tp_all_reduce", Collective::all_reduce, l.tp, 1, calls,
                     calls * 2 * (t - 1) / t * msg, false});
    } else {
      // SP: all-gather before and reduce-scatter after each block; backward swaps them and
      // re-gathers the block input for the weight gradient.
      const int64_t gathers = 2 * forwards + (train ? 4 : 0);
      const int64_t scatters = 2 * forwards + (train ? 2 : 0);
      out.push_back({"tp_all_gather", Collective::all_gather, l.tp, 1, gathers,
                     gathers * (t - 1) / t * msg, false});
      out.push_back({"tp_reduce_scatter", Collective::reduce_scatter, l.tp, 1, scatters,
                     scatters * (t - 1) / t * msg, false});
    }
  }

  if (l.ulysses > 1) {
    const double u = double(l.ulysses);
    // Forward: q, k, v in, o out. Backward: do in, dq, dk, dv out. Symmetric all-to-all: each
    // device sends (U-1)/U of its buffer.
    const double fwd = 2 * d.q_elems + 2 * d.kv_elems;
    const double bwd = train ? 2 * d.q_elems + 2 * d.kv_elems : 0;
    const int64_t calls = 2 * forwards + (train ? 2 : 0);
    out.push_back({"cp_all_to_all", Collective::all_to_all, l.ulysses, l.tp, calls,
                   (u - 1) / u * (forwards * fwd + bwd) * e, false});
  }
  if (l.ring > 1 && l.cp_kind != CpKind::allgather) {
    const double r = double(l.ring);
    const double kv_block = 2 * d.kv_elems * e;  // K and V of one block
    // Forward: R-1 hops of KV. Backward: KV again (R-1 hops) and fp32 dK, dV home after R hops.
    const double fwd = (r - 1) * kv_block;
    const double bwd = train ? (r - 1) * kv_block + r * 2 * d.kv_elems * 4 : 0;
    const int64_t calls = forwards * (l.ring - 1) + (train ? 2 * l.ring - 1 : 0);
    out.push_back({"cp_ring_send_recv", Collective::send_recv, l.ring, l.tp * l.ulysses, calls,
                   forwards * fwd + bwd, true});
  }
  if (l.cp_kind == CpKind::allgather && l.cp > 1) {
    const double c = double(l.cp);
    const double gathered = (c - 1) * 2 * d.kv_elems * e;  // receive the other c-1 shards of K, V
    const int64_t gathers = forwards + (train ? 1 : 0);    // backward re-gathers instead of keeping
    out.push_back(
        {"cp_all_gather", Collective::all_gather, l.cp, l.tp, gathers, gathers * gathered, false});
    if (train) {
      out.push_back({"cp_reduce_scatter", Collective::reduce_scatter, l.cp, l.tp, 1,
                     (c - 1) * 2 * d.kv_elems * 4, false});
    }
  }

  const int64_t n = l.dp * l.cp;
  if (n > 1) {
    const double share = double(n - 1) / double(n) * d.layer_params * e;
    if (train && l.zero == 0) {
      out.push_back({"dp_all_reduce", Collective::all_reduce, n, l.tp, 1, 2 * share, true});
    } else if (train) {
      out.push_back({"dp_reduce_scatter", Collective::reduce_scatter, n, l.tp, 1, share, true});
      // ZeRO 1/2 gather the updated weights once; ZeRO-3 gathers them before every use.
      const int64_t gathers = l.zero >= 3 ? forwards + 1 : 1;
      out.push_back(
          {"dp_all_gather", Collective::all_gather, n, l.tp, gathers, gathers * share, true});
    } else if (l.zero >= 3) {
      out.push_back({"dp_all_gather", Collective::all_gather, n, l.tp, 1, share, true});
    }
  }
  return out;
}

}  // namespace longctx::plan
