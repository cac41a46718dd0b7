// The decoder's forward pass over chunks of tokens (see decoder.hpp).
#include "longctx/model/decoder.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "decoder_ops.hpp"
#include "indexer_projection.hpp"
#include "layer_attention.hpp"
#include "longctx/core/error.hpp"

namespace longctx::model {

// Activations of one chunk, reused across chunks and decode steps.
struct Decoder::Scratch {
  std::vector<float> x, xn;        // [C, hidden] residual stream, normalised copy
  std::vector<float> q, k, v;      // [C, H·D], [C, G·D], [C, G·D]
  std::vector<float> attn;         // [C, H·D]
  std::vector<float> gate, up;     // [C, I]
  std::vector<int64_t> positions;  // [C]
  std::vector<float> iq, iw;       // trained indexer: [C, H_I·D] queries, [C, H_I] weights
  void size_for(const ModelConfig& c, int64_t rows) {
    x.resize(size_t(rows * c.hidden_size));
    xn.resize(x.size());
    q.resize(size_t(rows * c.num_heads * c.head_dim));
    attn.resize(q.size());
    k.resize(size_t(rows * c.num_kv_heads * c.head_dim));
    v.resize(k.size());
    gate.resize(size_t(rows * c.intermediate_size));
    up.resize(gate.size());
    positions.resize(size_t(rows));
  }
};

Decoder::Decoder(const ModelConfig& config, const DecoderWeights& weights,
                 AttentionSchedule schedule, DecoderOptions options)
    : config_(config),
      weights_(weights),
      schedule_(std::move(schedule)),
      options_(options),
      scratch_(std::make_unique<Scratch>()) {
  LONGCTX_CHECK_ARG(int64_t(schedule_.layers.size()) == config.num_layers, "schedule",
                    config.num_layers << " layers", schedule_.layers.size());
  LONGCTX_CHECK_ARG(int64_t(weights.layers.size()) == config.num_layers, "weights",
                    config.num_layers << " layers", weights.layers.size());
  LONGCTX_CHECK_ARG(options.prefill_chunk >= 1, "prefill_chunk", ">= 1", options.prefill_chunk);
  for (const LayerAttention& a : schedule_.layers) {
    caches_.emplace_back(config.num_kv_heads, config.head_dim,
                         a.uses_rolling_cache() ? a.window : 0);
    ropes_.emplace(a.rope_theta.value_or(config.rope.theta), RotaryEmbedding{});
  }
  indexer_keys_.resize(size_t(config.num_layers));
}

Decoder::~Decoder() = default;

void Decoder::reset(int64_t max_tokens) {
  length_ = 0;
  for (LayerKvCache& c : caches_) {
    c.clear();
    c.reserve(max_tokens);
  }
  for (std::vector<float>& k : indexer_keys_) k.clear();
}

bool Decoder::uses_indexer(int64_t layer) const {
  return schedule_.layers[size_t(layer)].kind == AttentionKind::dsa &&
         weights_.layers[size_t(layer)].indexer.present();
}

int64_t Decoder::kv_cache_bytes() const {
  int64_t bytes = 0;
  for (const LayerKvCache& c : caches_) bytes += c.bytes();
  for (const std::vector<float>& k : indexer_keys_) bytes += int64_t(k.size() * sizeof(float));
  return bytes;
}

// Frequencies for a forward that ends at sequence length seq_len: only dynamic NTK and longrope
// change with it, exactly when Hugging Face recomputes them.
void Decoder::prepare_rope(int64_t seq_len) {
  for (auto& [theta, rope] : ropes_) {
    RopeConfig rc = config_.rope;
    rc.theta = theta;
    RopeFrequencies f =
        rope_frequencies(rc, config_.head_dim, config_.max_position_embeddings, seq_len);
    if (rope.head_dim() == 0 || f.inv_freq != rope.frequencies().inv_freq ||
        f.attention_scaling != rope.frequencies().attention_scaling)
      rope = RotaryEmbedding(std::move(f), config_.head_dim);
    rope.reserve(seq_len);
  }
}

const RotaryEmbedding& Decoder::rope_for(int64_t layer) const {
  return ropes_.at(schedule_.layers[size_t(layer)].rope_theta.value_or(config_.rope.theta));
}

std::vector<float> Decoder::forward(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t n = int64_t(tokens.size()), V = config_.vocab_size;
  LONGCTX_CHECK_ARG(n > 0, "tokens", "at least one token", n);
  for (int64_t i = 0; i < n; ++i)
    LONGCTX_CHECK_ARG(tokens[size_t(i)] >= 0 && tokens[size_t(i)] < V, "tokens",
                      "ids in [0, " << V << ")", tokens[size_t(i)] << " at index " << i);
  prepare_rope(length_ + n);
  for (LayerKvCache& c : caches_) c.reserve(length_ + n);
  // The projections split their columns over OpenMP threads (decoder_ops.cpp): BLAS itself
  // runs single-threaded inside them.
  openblas_set_num_threads(1);
  if (options_.threads > 0) omp_set_num_threads(options_.threads);
  std::vector<float> logits(size_t((all_logits ? n : 1) * V));
  for (int64_t c0 = 0; c0 < n; c0 += options_.prefill_chunk) {
    const int64_t count = std::min(options_.prefill_chunk, n - c0);
    const bool last = c0 + count == n;
    float* out = all_logits ? logits.data() + c0 * V : (last ? logits.data() : nullptr);
    run_chunk(tokens.data() + c0, count, out, all_logits);
  }
  return logits;
}

void Decoder::run_chunk(const int32_t* tokens, int64_t C, float* logits, bool all_logits) {
  const ModelConfig& cfg = config_;
  const int64_t hidden = cfg.hidden_size, H = cfg.num_heads, G = cfg.num_kv_heads, D = cfg.head_dim,
                I = cfg.intermediate_size;
  const int threads = options_.threads;
  Scratch& s = *scratch_;
  s.size_for(cfg, C);
  for (int64_t t = 0; t < C; ++t) {
    std::memcpy(s.x.data() + t * hidden, weights_.embed.data() + int64_t(tokens[t]) * hidden,
                size_t(hidden) * sizeof(float));
    s.positions[size_t(t)] = length_ + t;
  }
  for (int64_t li = 0; li < cfg.num_layers; ++li) {
    const LayerWeights& w = weights_.layers[size_t(li)];
    rms_norm(s.x.data(), w.input_norm.data(), C, hidden, cfg.rms_norm_eps, s.xn.data(), threads);
    linear(s.xn.data(), C, w.q, s.q.data());
    linear(s.xn.data(), C, w.k, s.k.data());
    linear(s.xn.data(), C, w.v, s.v.data());
    const RotaryEmbedding& rope = rope_for(li);
    rope.apply(s.q.data(), C, H, H * D, s.positions.data());
    rope.apply(s.k.data(), C, G, G * D, s.positions.data());
    ChunkQkv chunk{s.q.data(), s.k.data(), s.v.data(), C, H, G, D, length_};
    if (uses_indexer(li)) {
      // The trained indexer reads the same normalised rows; its keys join the layer's cache.
      const IndexerWeights& ix = w.indexer;
      const int64_t HI = ix.heads();
      std::vector<float>& keys = indexer_keys_[size_t(li)];  // [length_ + C, D]
      keys.resize(size_t((length_ + C) * D));
      s.iq.resize(size_t(C * HI * D));
      s.iw.resize(size_t(C * HI));
      indexer_projection(s.xn.data(), C, ix, rope, s.positions.data(), s.iq.data(),
                         keys.data() + length_ * D, s.iw.data());
      chunk.indexer_q = s.iq.data();
      chunk.indexer_w = s.iw.data();
      chunk.indexer_keys = keys.data();
      chunk.indexer_heads = HI;
    }
    layer_attention(schedule_.layers[size_t(li)], caches_[size_t(li)], chunk, s.attn.data(),
                    threads);
    linear(s.attn.data(), C, w.o, s.x.data(), /*accumulate=*/true);
    rms_norm(s.x.data(), w.post_norm.data(), C, hidden, cfg.rms_norm_eps, s.xn.data(), threads);
    linear(s.xn.data(), C, w.gate, s.gate.data());
    linear(s.xn.data(), C, w.up, s.up.data());
    silu_mul(s.gate.data(), s.up.data(), C * I, threads);
    linear(s.gate.data(), C, w.down, s.x.data(), /*accumulate=*/true);
  }
  length_ += C;
  if (!logits) return;
  // Logits of every row, or of the chunk's last row only (generation needs no more).
  const int64_t first = all_logits ? 0 : C - 1, rows = C - first;
  rms_norm(s.x.data() + first * hidden, weights_.final_norm.data(), rows, hidden, cfg.rms_norm_eps,
           s.xn.data(), threads);
  linear(s.xn.data(), rows, weights_.lm_head_data(), cfg.vocab_size, hidden, nullptr, logits);
}

}  // namespace longctx::model
