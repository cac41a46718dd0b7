// A decoder's parameters in float32, in Hugging Face's layout ([out, in] row-major linear
// weights), loaded from a checkpoint (any of F32 / BF16 / F16 converted once) or drawn at random
// for benchmarks and training from scratch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "longctx/model/config.hpp"
#include "longctx/model/safetensors.hpp"

namespace longctx::model {

struct Linear {
  int64_t out = 0, in = 0;
  std::vector<float> weight;  // [out, in]
  std::vector<float> bias;    // [out], empty without bias
};

struct LayerWeights {
  Linear q, k, v, o;              // q [H·D, hidden], k/v [G·D, hidden], o [hidden, H·D]
  Linear gate, up, down;          // gate/up [I, hidden], down [hidden, I]
  std::vector<float> input_norm;  // [hidden] RMSNorm before attention
  std::vector<float> post_norm;   // [hidden] RMSNorm before the MLP
};

struct DecoderWeights {
  std::vector<float> embed;  // [V, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [hidden]
  std::vector<float> lm_head;     // [V, hidden]; empty when tied to embed
  const float* lm_head_data() const { return lm_head.empty() ? embed.data() : lm_head.data(); }
  int64_t parameter_count() const;
};

// HF tensor names: model.embed_tokens.weight,
// model.layers.N.self_attn.{q,k,v,o}_proj.{weight,bias},
// model.layers.N.mlp.{gate,up,down}_proj.weight,
// model.layers.N.{input,post_attention}_layernorm.weight, model.norm.weight, lm_head.weight (absent
// when tied). Shapes are checked against the config.
DecoderWeights load_decoder_weights(const Checkpoint& checkpoint, const ModelConfig& config);

// Normal(0, std) weights (std 0.02 as HF initialises), norms at 1, biases 0 — seeded.
DecoderWeights random_decoder_weights(const ModelConfig& config, uint64_t seed, float std = 0.02f);

}  // namespace longctx::model
