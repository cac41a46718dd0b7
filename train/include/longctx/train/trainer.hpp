// The training loop behind `longctx train`: synthetic passkey batches (passkey_data.hpp, a fresh
// batch per step drawn from (seed, step) so a resumed run sees the same data), the trainable
// decoder's forward and backward, global-norm clipping, AdamW with warm-up and cosine decay,
// progress reports, a loss log (CSV) and checkpoints in the Hugging Face layout that
// transformers loads, with the optimizer state beside them so that a run resumes exactly.
//
// Output directory layout:
//   DIR/config.json, DIR/model.safetensors, DIR/generation_config.json   the latest weights
//   DIR/optimizer.safetensors, DIR/trainer_state.json                    resume state
//   DIR/loss.csv                                                          step,loss,... per log
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "longctx/model/config.hpp"
#include "longctx/model/weights.hpp"
#include "longctx/train/adamw.hpp"

namespace longctx::train {

struct TrainerOptions {
  int64_t steps = 1000;     // total optimizer steps of the run
  int64_t batch_rows = 8;   // sequences per step
  int64_t seq_len = 512;    // tokens per sequence (the training length)
  int64_t min_seq_len = 0;  // > 0: each step's length uniform in [min_seq_len, seq_len]
  LrSchedule lr;            // total_steps is set to `steps`
  AdamWOptions adamw;
  double clip_norm = 1.0;            // <= 0: no clipping
  uint64_t seed = 1;                 // data (and fresh weights: seed + 1)
  std::string attention = "dense";   // the runtime's schedule syntax (model/schedule.hpp)
  int64_t indexer_heads = 0;         // > 0: dsa layers get a trained indexer of this many heads
  int64_t indexer_warmup_steps = 0;  // dsa layers run dense while the indexer learns (dense KL)
  double indexer_loss_weight = 1.0;
  double answer_weight = 1.0;    // loss weight of the answer tokens
  double text_weight = 1.0;      // loss weight of the other tokens
  double needle_fraction = 0.0;  // share of multi-needle rows
  int key_digits = 5;
  int64_t log_every = 10;
  int64_t save_every = 0;  // 0: save at the end only
  int threads = 0;
  // Not part of the run's identity (not saved): > 0 stops after this many steps of this call
  // (saving a checkpoint), for time-limited machines; --resume continues.
  int64_t stop_after = 0;
};

nlohmann::json to_json(const TrainerOptions& options);
TrainerOptions trainer_options_from_json(const nlohmann::json& j);
// ArgumentError naming the option ("steps", "batch", "seq_len", ...).
void validate(const TrainerOptions& options, const model::ModelConfig& config);

struct TrainProgress {
  int64_t step = 0, steps = 0;  // step just finished (1-based), total
  double loss = 0.0, accuracy = 0.0, indexer_loss = 0.0, grad_norm = 0.0, lr = 0.0;
  // Share of rows whose every key digit after "The pass key is" is the argmax (teacher forced):
  // retrieval success on the training batches, where the plain loss barely moves.
  double answer_accuracy = 0.0;
  double steps_per_second = 0.0, tokens_per_second = 0.0;  // over the last log interval
  int64_t seq_len = 0;
  bool saved = false;  // a checkpoint was written after this step
};

struct TrainResult {
  int64_t first_step = 0;  // 0, or where a resumed run started
  int64_t steps_run = 0;
  double final_loss = 0.0;  // mean loss of the last log interval
  double seconds = 0.0;
  int64_t tokens = 0;
};

// Trains `weights` in place for options.steps steps in total (from `start_step` when resuming,
// with the optimizer's moments loaded and `tokens_seen` from the saved state), writing
// checkpoints and the loss log to `dir`. `report` is called every log_every steps and at the end.
// DSA layers without an indexer get a fresh one when options.indexer_heads > 0.
TrainResult train(const TrainerOptions& options, const model::ModelConfig& config,
                  model::DecoderWeights& weights, AdamW& optimizer, int64_t start_step,
                  int64_t tokens_seen, const std::filesystem::path& dir,
                  const std::function<void(const TrainProgress&)>& report);

// One step's batch (deterministic in (options.seed, step)): tokens [B, T] and loss weights.
struct StepBatch {
  int64_t rows = 0, seq_len = 0;
  std::vector<int32_t> tokens;      // [B, T]
  std::vector<float> loss_weights;  // [B, T]
  std::vector<std::string> keys;    // [B] the asked key, the last tokens of its row
};

// Rows of `batch` whose key digits (the row's last tokens) are each the argmax of the logits
// [B, T, V] at the position before them.
int64_t rows_answered(const StepBatch& batch, std::span<const float> logits, int64_t vocab);
StepBatch training_batch(const TrainerOptions& options, int64_t step);

}  // namespace longctx::train
