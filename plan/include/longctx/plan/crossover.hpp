// Where splitting the sequence beats splitting the weights for one block (attention or MLP).
// Over t devices, per device and per layer:
//   TP (no SP):           W·B/t + R·s·b + T·s·b/t
//   sequence/context par: W·B   + (R + T)·s·b/t
// where W is the block's weights, B the bytes per weight that the sequence-parallel group keeps
// replicated (16 for mixed-precision Adam without ZeRO), R the bytes per token that TP replicates
// (the norm region) and T the bytes per token it splits. The difference is (1 - 1/t)(R·s·b - W·B),
// so the sequence split wins beyond s* = W·B / (R·b), for every t.
#pragma once

#include <vector>

#include "longctx/plan/activation_terms.hpp"
#include "longctx/plan/model_config.hpp"

namespace longctx::plan {

struct Crossover {
  Block block;
  double weights = 0;               // W (parameters of the block incl. its norm)
  double replicated_per_token = 0;  // R, bytes
  double bytes_per_weight = 0;      // B
  double seq = 0;                   // s* for a micro-batch of 1
  double seq_over_hidden = 0;       // s* / h
};

// For the LLaMA block of `m` with activations of `dtype_bytes`.
std::vector<Crossover> tp_vs_sp_crossover(const ModelConfig& m, int dtype_bytes,
                                          double bytes_per_weight);

}  // namespace longctx::plan
