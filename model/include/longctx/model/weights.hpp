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

// A trained DSA lightning indexer for one layer (SPEC §3), one selection shared by the layer's
// query heads (S = 1, DeepSeek's MQA mode), reading the layer's normalised input:
//   q_I = RoPE(x · wqᵀ) [H_I, d_I], k_I = RoPE(x · wkᵀ) [d_I], w = x · weightsᵀ / sqrt(H_I) [H_I].
// d_I equals the model's head_dim so that the layer's rotary table serves both. Absent (empty)
// in plain Llama checkpoints: dsa:K then derives the indexer from the layer's own q and k.
struct IndexerWeights {
  Linear wq;       // [H_I·d_I, hidden]
  Linear wk;       // [d_I, hidden]
  Linear weights;  // [H_I, hidden]
  bool present() const { return !wk.weight.empty(); }
  int64_t heads() const { return weights.out; }  // H_I
  int64_t dim() const { return wk.out; }         // d_I
};

struct LayerWeights {
  Linear q, k, v, o;              // q [H·D, hidden], k/v [G·D, hidden], o [hidden, H·D]
  Linear gate, up, down;          // gate/up [I, hidden], down [hidden, I]
  std::vector<float> input_norm;  // [hidden] RMSNorm before attention
  std::vector<float> post_norm;   // [hidden] RMSNorm before the MLP
  IndexerWeights indexer;         // empty unless trained (dsa layers)
};

struct DecoderWeights {
  std::vector<float> embed;  // [V, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [hidden]
  std::vector<float> lm_head;     // [V, hidden]; empty when tied to embed
  const float* lm_head_data() const { return lm_head.empty() ? embed.data() : lm_head.data(); }
  int64_t parameter_count() const;
};

// One parameter tensor under its Hugging Face name, in a fixed order (embedding, layers in
// order, final norm, LM head): the optimizer, the checkpoint writer and the gradient buffers all
// walk this list, so gradients (a DecoderWeights of the same shape) pair up by index.
// The const overload lists the same tensors read-only.
template <typename Values>
struct BasicNamedParameter {
  std::string name;            // "model.layers.3.mlp.up_proj.weight"
  std::vector<int64_t> shape;  // [out, in] or [n]
  Values* values = nullptr;
  bool is_matrix() const { return shape.size() == 2; }  // weight decay applies to matrices
};
using NamedParameter = BasicNamedParameter<std::vector<float>>;
using ConstNamedParameter = BasicNamedParameter<const std::vector<float>>;
std::vector<NamedParameter> named_parameters(DecoderWeights& weights);
std::vector<ConstNamedParameter> named_parameters(const DecoderWeights& weights);

// Zeros in the shape of `weights` (gradient buffers).
DecoderWeights zeros_like(const DecoderWeights& weights);

// Adds a fresh indexer (H_I heads of d_I = head_dim) to every layer in `layers`, Normal(0, std).
void add_random_indexers(DecoderWeights& weights, const ModelConfig& config,
                         const std::vector<int64_t>& layers, int64_t heads, uint64_t seed,
                         float std = 0.02f);

// HF tensor names: model.embed_tokens.weight,
// model.layers.N.self_attn.{q,k,v,o}_proj.{weight,bias},
// model.layers.N.mlp.{gate,up,down}_proj.weight,
// model.layers.N.{input,post_attention}_layernorm.weight, model.norm.weight, lm_head.weight (absent
// when tied); optional model.layers.N.self_attn.indexer.{wq,wk,weights_proj}.weight. Shapes are
// checked against the config.
DecoderWeights load_decoder_weights(const Checkpoint& checkpoint, const ModelConfig& config);

// Normal(0, std) weights (std 0.02 as HF initialises), norms at 1, biases 0 — seeded.
DecoderWeights random_decoder_weights(const ModelConfig& config, uint64_t seed, float std = 0.02f);

}  // namespace longctx::model
