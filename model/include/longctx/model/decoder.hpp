// A LLaMA-family decoder on the CPU (Llama, Mistral, Qwen2): embedding, per layer RMSNorm →
// q/k/v projections (+ biases) → RoPE → attention of the layer's schedule over its KV cache →
// output projection → residual, RMSNorm → SwiGLU MLP → residual; final RMSNorm and the LM head.
// Everything is float32; prompts are processed in chunks (chunked prefill) so activations stay
// [chunk, ·] whatever the prompt length, and decoding is a forward of one token.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "longctx/model/config.hpp"
#include "longctx/model/kv_cache.hpp"
#include "longctx/model/rope.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/model/weights.hpp"

namespace longctx::model {

struct DecoderOptions {
  int threads = 0;               // 0: OpenMP default
  int64_t prefill_chunk = 1024;  // tokens per prefill chunk (>= 1)
};

class Decoder {
 public:
  // Keeps references to config and weights: they must outlive the decoder.
  Decoder(const ModelConfig& config, const DecoderWeights& weights, AttentionSchedule schedule,
          DecoderOptions options = {});
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Empties the caches; contiguous caches reserve room for `max_tokens` tokens.
  void reset(int64_t max_tokens = 0);
  // Runs `tokens` at positions [length(), length() + n). Returns logits [n, V] when all_logits,
  // else [1, V] of the last token. Ids must lie in [0, vocab_size).
  std::vector<float> forward(std::span<const int32_t> tokens, bool all_logits);

  int64_t length() const { return length_; }
  const ModelConfig& config() const { return config_; }
  const AttentionSchedule& schedule() const { return schedule_; }
  int64_t kv_cache_bytes() const;

 private:
  struct Scratch;
  void prepare_rope(int64_t seq_len);
  const RotaryEmbedding& rope_for(int64_t layer) const;
  bool uses_indexer(int64_t layer) const;  // a dsa layer with trained indexer weights
  void run_chunk(const int32_t* tokens, int64_t count, float* logits, bool all_logits);

  const ModelConfig& config_;
  const DecoderWeights& weights_;
  AttentionSchedule schedule_;
  DecoderOptions options_;
  std::vector<LayerKvCache> caches_;              // [num_layers]
  std::vector<std::vector<float>> indexer_keys_;  // [num_layers][tokens, D] trained indexer keys
  std::map<double, RotaryEmbedding> ropes_;       // by RoPE theta (local-global uses two)
  int64_t length_ = 0;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace longctx::model
