// The tensors one transformer layer keeps for its backward pass, per token, with how each one is
// split across devices. Summing them reproduces Korthikanti et al. (arXiv 2205.05198, §4):
// GPT block sbh(34 + 5as/h) bytes in 16-bit; the LLaMA table adapts the same bookkeeping to
// RMSNorm, RoPE, GQA, a SwiGLU MLP and no dropout (derivation in docs/PLAN.md).
#pragma once

#include <string>
#include <vector>

#include "longctx/plan/layout.hpp"
#include "longctx/plan/model_config.hpp"

namespace longctx::plan {

enum class Block { attention, mlp };

// How a stored tensor is split (see ActivationSharding for the divisors).
enum class Region {
  norm,       // replicated over the TP group unless Megatron sequence parallel is on
  tensor,     // split over the TP group (column/row-parallel GEMM activations)
  query,      // attention tensors laid out by query heads (Q, O, LSE): split over TP
  key_value,  // K, V: split over TP only down to one KV head per rank (GQA replication)
  score,      // s×s score-sized tensors: bytes_per_token is per (token, key); gone with flash
};

struct ActivationTerm {
  std::string name;
  Block block;
  Region region;
  double bytes_per_token;    // unsharded; for Region::score, per (query token, key)
  bool flash_only = false;   // kept only with flash attention (the LSE)
  bool layer_input = false;  // the one tensor full recompute keeps
};

// GPT-style block of Korthikanti et al. (LayerNorm, GeLU MLP of 4h, dropout with 1-byte masks).
std::vector<ActivationTerm> gpt_layer_terms(int64_t hidden, int64_t heads);

// LLaMA block (RMSNorm, RoPE, GQA, SwiGLU, no dropout), activations of `dtype_bytes` each,
// LSE and dropout-free softmax as described in docs/PLAN.md.
std::vector<ActivationTerm> llama_layer_terms(const ModelConfig& m, int dtype_bytes);

// Per-device divisors and extents for one layout. Token-layout tensors hold `tokens` rows
// (s·b/c); every divisor is relative to that row count.
struct ActivationSharding {
  double tokens = 0;      // s·b / c
  double keys = 0;        // keys each query row is scored against (s)
  double norm_div = 1;    // t with Megatron SP, else 1
  double tensor_div = 1;  // t
  double query_div = 1;   // t (Ulysses moves tokens and heads without changing the count)
  double kv_div = 1;      // g / (U · max(max(g/t,1)/U, 1)): < t when KV heads are replicated
};

// Bytes one layer stores for backward under `recompute` (none: all; selective: no score-sized
// tensors; full: only the layer input).
double stored_layer_bytes(const std::vector<ActivationTerm>& terms, const ActivationSharding& sh,
                          Recompute recompute, bool flash, Block block);
double stored_layer_bytes(const std::vector<ActivationTerm>& terms, const ActivationSharding& sh,
                          Recompute recompute, bool flash);

// Bytes per token of the terms of `block` in `region` (unsharded), e.g. the replicated norm
// region that decides the TP-vs-SP crossover.
double region_bytes_per_token(const std::vector<ActivationTerm>& terms, Block block, Region region);

}  // namespace longctx::plan
