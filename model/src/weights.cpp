// Binds Hugging Face tensor names to the decoder's float32 parameters, checking every shape
// against the config so that a mismatched checkpoint fails with the tensor's name.
#include "longctx/model/weights.hpp"

#include <algorithm>
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
  int64_t n = 0;
  for (const ConstNamedParameter& p : named_parameters(*this)) n += int64_t(p.values->size());
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
    const std::string ix = p + ".self_attn.indexer";
    if (ckpt.contains(ix + ".wk.weight")) {
      const int64_t heads = ckpt.get(ix + ".weights_proj.weight").shape.at(0);
      l.indexer.wq = load_linear(ckpt, ix + ".wq", heads * c.head_dim, hidden, false);
      l.indexer.wk = load_linear(ckpt, ix + ".wk", c.head_dim, hidden, false);
      l.indexer.weights = load_linear(ckpt, ix + ".weights_proj", heads, hidden, false);
    }
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

namespace {

// One walk for both overloads: W is DecoderWeights or const DecoderWeights.
template <typename Parameter, typename W>
std::vector<Parameter> list_parameters(W& w) {
  std::vector<Parameter> out;
  auto vec = [&](const std::string& name, auto& v) {
    if (!v.empty()) out.push_back({name, {int64_t(v.size())}, &v});
  };
  auto lin = [&](const std::string& name, auto& l) {
    if (l.weight.empty()) return;
    out.push_back({name + ".weight", {l.out, l.in}, &l.weight});
    vec(name + ".bias", l.bias);
  };
  const int64_t hidden = int64_t(w.final_norm.size());
  out.push_back(
      {"model.embed_tokens.weight", {int64_t(w.embed.size()) / hidden, hidden}, &w.embed});
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    auto& l = w.layers[i];
    lin(p + ".self_attn.q_proj", l.q);
    lin(p + ".self_attn.k_proj", l.k);
    lin(p + ".self_attn.v_proj", l.v);
    lin(p + ".self_attn.o_proj", l.o);
    lin(p + ".mlp.gate_proj", l.gate);
    lin(p + ".mlp.up_proj", l.up);
    lin(p + ".mlp.down_proj", l.down);
    vec(p + ".input_layernorm.weight", l.input_norm);
    vec(p + ".post_attention_layernorm.weight", l.post_norm);
    lin(p + ".self_attn.indexer.wq", l.indexer.wq);
    lin(p + ".self_attn.indexer.wk", l.indexer.wk);
    lin(p + ".self_attn.indexer.weights_proj", l.indexer.weights);
  }
  vec("model.norm.weight", w.final_norm);
  if (!w.lm_head.empty())
    out.push_back({"lm_head.weight", {int64_t(w.lm_head.size()) / hidden, hidden}, &w.lm_head});
  return out;
}

}  // namespace

std::vector<NamedParameter> named_parameters(DecoderWeights& w) {
  return list_parameters<NamedParameter>(w);
}

std::vector<ConstNamedParameter> named_parameters(const DecoderWeights& w) {
  return list_parameters<ConstNamedParameter>(w);
}

DecoderWeights zeros_like(const DecoderWeights& weights) {
  DecoderWeights z = weights;
  for (NamedParameter& p : named_parameters(z)) std::fill(p.values->begin(), p.values->end(), 0.f);
  return z;
}

void add_random_indexers(DecoderWeights& w, const ModelConfig& c,
                         const std::vector<int64_t>& layers, int64_t heads, uint64_t seed,
                         float std) {
  LONGCTX_CHECK_ARG(heads >= 1 && heads <= 1024, "indexer_heads", "in [1, 1024]", heads);
  LONGCTX_CHECK_ARG(std > 0.f, "std", "a positive standard deviation", std);
  Rng rng(seed);
  auto linear = [&](int64_t out, int64_t in) {
    Linear l;
    l.out = out;
    l.in = in;
    l.weight.resize(size_t(out * in));
    for (float& v : l.weight) v = rng.normal(0.f, std);
    return l;
  };
  for (int64_t i : layers) {
    LONGCTX_CHECK_ARG(i >= 0 && i < int64_t(w.layers.size()), "layer",
                      "in [0, " << w.layers.size() << ")", i);
    IndexerWeights& ix = w.layers[size_t(i)].indexer;
    ix.wq = linear(heads * c.head_dim, c.hidden_size);
    ix.wk = linear(c.head_dim, c.hidden_size);
    ix.weights = linear(heads, c.hidden_size);
  }
}

}  // namespace longctx::model
