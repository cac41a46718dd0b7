// Binds Hugging Face tensor names to the decoder's float32 parameters, checking every shape
// against the config so that a mismatched checkpoint fails with the tensor's name.
#include "longctx/model/weights.hpp"

#include <array>
#include <string>

#include "longctx/core/error.hpp"
#include "longctx/core/rng.hpp"

namespace longctx::model {
namespace {

std::vector<float> load(const Checkpoint& ckpt, const std::string& name,
                        std::initializer_list<int64_t> shape) {
  return ckpt.load_f32(name, std::span<const int64_t>(shape.begin(), shape.size()));
}

Linear load_linear(const Checkpoint& ckpt, const std::string& prefix, int64_t out, int64_t in,
                   bool bias) {
  Linear l;
  l.out = out;
  l.in = in;
  l.weight = load(ckpt, prefix + ".weight", {out, in});
  if (bias) l.bias = load(ckpt, prefix + ".bias", {out});
  return l;
}

}  // namespace

int64_t DecoderWeights::parameter_count() const {
  int64_t n = int64_t(embed.size() + final_norm.size() + lm_head.size());
  for (const LayerWeights& l : layers) {
    for (const Linear* x : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      n += int64_t(x->weight.size() + x->bias.size());
    n += int64_t(l.input_norm.size() + l.post_norm.size());
  }
  return n;
}

DecoderWeights load_decoder_weights(const Checkpoint& ckpt, const ModelConfig& c) {
  const int64_t hidden = c.hidden_size, q_out = c.num_heads * c.head_dim,
                kv_out = c.num_kv_heads * c.head_dim, inter = c.intermediate_size;
  DecoderWeights w;
  w.embed = load(ckpt, "model.embed_tokens.weight", {c.vocab_size, hidden});
  w.layers.resize(size_t(c.num_layers));
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    LayerWeights& l = w.layers[size_t(i)];
    l.q = load_linear(ckpt, p + ".self_attn.q_proj", q_out, hidden, c.qkv_bias);
    l.k = load_linear(ckpt, p + ".self_attn.k_proj", kv_out, hidden, c.qkv_bias);
    l.v = load_linear(ckpt, p + ".self_attn.v_proj", kv_out, hidden, c.qkv_bias);
    l.o = load_linear(ckpt, p + ".self_attn.o_proj", hidden, q_out, c.o_bias);
    l.gate = load_linear(ckpt, p + ".mlp.gate_proj", inter, hidden, c.mlp_bias);
    l.up = load_linear(ckpt, p + ".mlp.up_proj", inter, hidden, c.mlp_bias);
    l.down = load_linear(ckpt, p + ".mlp.down_proj", hidden, inter, c.mlp_bias);
    l.input_norm = load(ckpt, p + ".input_layernorm.weight", {hidden});
    l.post_norm = load(ckpt, p + ".post_attention_layernorm.weight", {hidden});
  }
  w.final_norm = load(ckpt, "model.norm.weight", {hidden});
  // Some tied checkpoints still store lm_head.weight; untied ones must.
  if (!c.tie_word_embeddings || ckpt.contains("lm_head.weight"))
    w.lm_head = load(ckpt, "lm_head.weight", {c.vocab_size, hidden});
  return w;
}

DecoderWeights random_decoder_weights(const ModelConfig& c, uint64_t seed, float std) {
  LONGCTX_CHECK_ARG(std > 0.f, "std", "a positive standard deviation", std);
  Rng rng(seed);
  auto normal = [&](int64_t n) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = rng.normal(0.f, std);
    return x;
  };
  auto linear = [&](int64_t out, int64_t in, bool bias) {
    Linear l;
    l.out = out;
    l.in = in;
    l.weight = normal(out * in);
    if (bias) l.bias.assign(size_t(out), 0.f);
    return l;
  };
  const int64_t hidden = c.hidden_size, q_out = c.num_heads * c.head_dim,
                kv_out = c.num_kv_heads * c.head_dim, inter = c.intermediate_size;
  DecoderWeights w;
  w.embed = normal(c.vocab_size * hidden);
  w.layers.resize(size_t(c.num_layers));
  for (LayerWeights& l : w.layers) {
    l.q = linear(q_out, hidden, c.qkv_bias);
    l.k = linear(kv_out, hidden, c.qkv_bias);
    l.v = linear(kv_out, hidden, c.qkv_bias);
    l.o = linear(hidden, q_out, c.o_bias);
    l.gate = linear(inter, hidden, c.mlp_bias);
    l.up = linear(inter, hidden, c.mlp_bias);
    l.down = linear(hidden, inter, c.mlp_bias);
    l.input_norm.assign(size_t(hidden), 1.f);
    l.post_norm.assign(size_t(hidden), 1.f);
  }
  w.final_norm.assign(size_t(hidden), 1.f);
  if (!c.tie_word_embeddings) w.lm_head = normal(c.vocab_size * hidden);
  return w;
}

}  // namespace longctx::model
