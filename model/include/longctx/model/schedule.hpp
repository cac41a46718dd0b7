// The per-layer attention schedule: which attention mechanism each decoder layer runs.
//
//   dense              causal attention over every earlier token (contiguous KV cache)
//   window:W           causal sliding window of W tokens incl. the query (HF/Mistral: a key is
//                      visible when q − k < W); rolling KV buffer of W slots (slot = pos mod W)
//   local-global[:E[:W[:THETA]]]  ModernBERT style: layer % E == 0 is dense (global) with the
//                      model's RoPE, the others window:W with RoPE theta THETA
//                      (defaults E = 3, W = 128, THETA = 10000, SPEC §6)
//   dilated[:w:r,w:r,...]  LongNet dilated mixture (default the LongNet LM patterns), causal
//   dsa:K              DeepSeek Sparse Attention: the lightning indexer selects K keys per query
//                      and KV group, attention runs over them. Without trained indexer weights
//                      the indexer reuses the layer's own rotated q and k (q_I = q, k_I = k,
//                      w = 1), i.e. I(t,s) = Σ_{h in group} ReLU(q_h(t)·k(s)).
//   topk-exact:K       the K keys with the largest true attention probability summed over the
//                      KV group's heads (an upper bound for any trained selector)
//
// A schedule is one item for every layer, or one item per layer separated by ';'
// ("dense;window:4096;dense"). "config" keeps what config.json says (Mistral / Qwen2 windows).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "longctx/model/config.hpp"
#include "longctx/sparse/dilated.hpp"

namespace longctx::model {

enum class AttentionKind : uint8_t { dense, window, dilated, dsa, topk_exact };

struct LayerAttention {
  AttentionKind kind = AttentionKind::dense;
  int64_t window = 0;                            // window: tokens visible incl. the query
  std::vector<sparse::DilatedPattern> patterns;  // dilated
  int64_t top_k = 0;                             // dsa, topk-exact
  std::optional<double> rope_theta;              // local layers of local-global
  bool uses_rolling_cache() const { return kind == AttentionKind::window; }
  std::string describe() const;  // "window:4096"
};

struct AttentionSchedule {
  std::vector<LayerAttention> layers;  // [num_layers]
  std::string describe() const;        // "dense x2, window:8 x4" in layer order runs
};

// What config.json implies: window:sliding_window[i] where set, dense elsewhere.
AttentionSchedule schedule_from_config(const ModelConfig& config);
// Parses the syntax above; ArgumentError naming "--attention" with the expected form.
AttentionSchedule parse_attention_schedule(std::string_view text, const ModelConfig& config);

}  // namespace longctx::model
