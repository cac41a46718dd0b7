// Per-device memory of one layout: model state (params, grads, optimizer under ZeRO), stored
// activations (per layer × layers + the LM head), attention workspace, communication buffers and,
// for inference, the KV cache. All values in bytes; assumptions are listed in docs/PLAN.md.
#pragma once

#include "longctx/plan/activation_terms.hpp"
#include "longctx/plan/layout.hpp"
#include "longctx/plan/model_config.hpp"

namespace longctx::plan {

struct DeviceMemory {
  double params = 0;
  double grads = 0;
  double optimizer = 0;
  double activations = 0;            // layers·per_layer + recompute working set + LM head
  double activations_per_layer = 0;  // stored by one layer
  double recompute_working_set = 0;  // one layer re-materialised during backward
  double head_activations = 0;       // final norm, LM-head input and fp32 logits
  double workspace = 0;              // attention kernel scratch (fp32 accumulators, scores)
  double comm_buffers = 0;           // ring/all-to-all/all-gather/ZeRO buffers
  double kv_cache = 0;               // inference only
  double total() const {
    return params + grads + optimizer + activations + workspace + comm_buffers + kv_cache;
  }
};

// Element counts on one device that several models share.
struct DeviceShapes {
  ActivationSharding sharding;
  double layer_params = 0;    // one layer's weights on this device (after TP, before ZeRO-3)
  double model_params = 0;    // all weights on this device (after TP, before ZeRO-3)
  double zero_group = 1;      // ranks that hold the same weights: dp·c
  double q_elems = 0;         // Q (or O) elements per device in the attention layout
  double kv_elems = 0;        // K (or V) elements per device in the attention layout
  double kv_token_elems = 0;  // K (or V) elements per device in the token layout (before a2a)
  double rows = 0;            // query rows × heads per device (LSE entries)
};

DeviceShapes device_shapes(const ModelConfig& m, const Layout& l, const Workload& w);

// Assumes `validate(m, l, w)` passed.
DeviceMemory predict_memory(const ModelConfig& m, const Layout& l, const Workload& w);

// Bytes per parameter for (params, grads, optimizer) at `dtype_bytes`: mixed precision Adam is
// (2, 2, 12): fp32 master copy, m and v; pure fp32 is (4, 4, 8).
struct StateBytes {
  double params, grads, optimizer;
};
StateBytes state_bytes_per_param(int dtype_bytes);

// Longest sequence (a multiple of sequence_granularity) whose predicted total fits
// `usable_bytes`; 0 when even the shortest does not fit. Memory grows monotonically with s.
int64_t max_context(const ModelConfig& m, const Layout& l, Workload w, double usable_bytes);

}  // namespace longctx::plan
