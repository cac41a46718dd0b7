// The decoder of model/ (Llama / Mistral / Qwen2) as a differentiable function for training:
// a forward pass over a batch of whole sequences that keeps the activations the backward needs,
// the weighted next-token cross-entropy, and the backward through every layer — LM head, final
// RMSNorm, SwiGLU MLP, attention through the attention backends' backward (dense, window,
// local-global, dilated, dsa, topk-exact as the schedule says), RoPE, q/k/v/o projections with
// their biases, RMSNorms, the embedding (tied or not). float32, on the CPU.
//
// DSA layers with a trained indexer (model::IndexerWeights) select their keys with it and it
// learns from its KL loss against the layer's attention (SPEC §3); its input is detached, so the
// KL loss only reaches the indexer's weights. During the warm-up stage (dense_dsa) such layers
// run dense attention and the indexer learns the dense KL.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "longctx/model/config.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/model/weights.hpp"

namespace longctx::train {

struct TokenBatch {
  int64_t rows = 0, seq_len = 0;        // B, T
  std::span<const int32_t> tokens;      // [B, T]
  std::span<const float> loss_weights;  // [B, T]: weight of predicting tokens[b][t+1] at t
};

struct StepLoss {
  double loss = 0.0;          // Σ w·CE / Σ w over the batch (natural log)
  double weight_sum = 0.0;    // Σ w
  double accuracy = 0.0;      // share of weighted positions whose argmax is the next token
  double indexer_loss = 0.0;  // mean KL per query row and DSA layer with an indexer (0 if none)
  int64_t tokens = 0;         // B·T
};

struct TrainableOptions {
  int threads = 0;                   // 0: OpenMP default
  bool dense_dsa = false;            // dsa layers run dense attention (indexer warm-up stage)
  double indexer_loss_weight = 1.0;  // scales the KL loss's gradient (its own parameters only)
};

class TrainableDecoder {
 public:
  // Keeps references to config and schedule; both must outlive the object.
  TrainableDecoder(const model::ModelConfig& config, const model::AttentionSchedule& schedule,
                   TrainableOptions options = {});
  ~TrainableDecoder();
  TrainableDecoder(const TrainableDecoder&) = delete;
  TrainableDecoder& operator=(const TrainableDecoder&) = delete;

  // Forward, loss and backward: adds ∂loss/∂θ into `grads` (same shapes as weights, e.g. from
  // model::zeros_like). Ids must lie in [0, vocab); weights ≥ 0 with a positive sum.
  StepLoss forward_backward(const model::DecoderWeights& weights, const TokenBatch& batch,
                            model::DecoderWeights& grads);
  // Forward and loss only.
  StepLoss evaluate(const model::DecoderWeights& weights, const TokenBatch& batch);

  // Per-position logits [B, T, V] of the last forward (for tests and tools).
  std::span<const float> logits() const;

  TrainableOptions& options() { return options_; }

 private:
  struct Activations;
  StepLoss run(const model::DecoderWeights& weights, const TokenBatch& batch,
               model::DecoderWeights* grads);
  void forward(const model::DecoderWeights& weights, const TokenBatch& batch);
  void backward(const model::DecoderWeights& weights, const TokenBatch& batch,
                model::DecoderWeights& grads);

  const model::ModelConfig& config_;
  const model::AttentionSchedule& schedule_;
  TrainableOptions options_;
  std::unique_ptr<Activations> acts_;
};

}  // namespace longctx::train
