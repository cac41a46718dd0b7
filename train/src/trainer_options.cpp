// TrainerOptions to and from JSON (stored in trainer_state.json so that a run resumes with the
// options it started with) and their validation.
#include <algorithm>

#include "longctx/core/error.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/train/trainer.hpp"

namespace longctx::train {

nlohmann::json to_json(const TrainerOptions& o) {
  return {{"steps", o.steps},
          {"batch_rows", o.batch_rows},
          {"seq_len", o.seq_len},
          {"min_seq_len", o.min_seq_len},
          {"peak_lr", o.lr.peak_lr},
          {"min_lr", o.lr.min_lr},
          {"warmup_steps", o.lr.warmup_steps},
          {"beta1", o.adamw.beta1},
          {"beta2", o.adamw.beta2},
          {"eps", o.adamw.eps},
          {"weight_decay", o.adamw.weight_decay},
          {"clip_norm", o.clip_norm},
          {"seed", o.seed},
          {"attention", o.attention},
          {"indexer_heads", o.indexer_heads},
          {"indexer_warmup_steps", o.indexer_warmup_steps},
          {"indexer_loss_weight", o.indexer_loss_weight},
          {"answer_weight", o.answer_weight},
          {"text_weight", o.text_weight},
          {"needle_fraction", o.needle_fraction},
          {"key_digits", o.key_digits},
          {"log_every", o.log_every},
          {"save_every", o.save_every}};
}

TrainerOptions trainer_options_from_json(const nlohmann::json& j) {
  TrainerOptions o;
  auto get = [&](const char* key, auto& value) {
    LONGCTX_CHECK_ARG(j.contains(key), "trainer_state.json options", "a key \"" << key << "\"",
                      "none");
    value = j.at(key).get<std::decay_t<decltype(value)>>();
  };
  get("steps", o.steps);
  get("batch_rows", o.batch_rows);
  get("seq_len", o.seq_len);
  get("min_seq_len", o.min_seq_len);
  get("peak_lr", o.lr.peak_lr);
  get("min_lr", o.lr.min_lr);
  get("warmup_steps", o.lr.warmup_steps);
  get("beta1", o.adamw.beta1);
  get("beta2", o.adamw.beta2);
  get("eps", o.adamw.eps);
  get("weight_decay", o.adamw.weight_decay);
  get("clip_norm", o.clip_norm);
  get("seed", o.seed);
  get("attention", o.attention);
  get("indexer_heads", o.indexer_heads);
  get("indexer_warmup_steps", o.indexer_warmup_steps);
  get("indexer_loss_weight", o.indexer_loss_weight);
  get("answer_weight", o.answer_weight);
  get("text_weight", o.text_weight);
  get("needle_fraction", o.needle_fraction);
  get("key_digits", o.key_digits);
  get("log_every", o.log_every);
  get("save_every", o.save_every);
  return o;
}

void validate(const TrainerOptions& o, const model::ModelConfig& c) {
  LONGCTX_CHECK_ARG(o.steps >= 1, "steps", ">= 1", o.steps);
  LONGCTX_CHECK_ARG(o.batch_rows >= 1, "batch", ">= 1", o.batch_rows);
  LONGCTX_CHECK_ARG(o.seq_len >= 2, "seq_len", ">= 2", o.seq_len);
  LONGCTX_CHECK_ARG(o.min_seq_len >= 0 && o.min_seq_len <= o.seq_len, "min_seq_len",
                    "in [0, seq_len = " << o.seq_len << "]", o.min_seq_len);
  LONGCTX_CHECK_ARG(c.vocab_size >= 256, "vocab_size", ">= 256 (the passkey data is byte-level)",
                    c.vocab_size);
  LONGCTX_CHECK_ARG(o.indexer_heads >= 0, "indexer_heads", ">= 0", o.indexer_heads);
  LONGCTX_CHECK_ARG(o.indexer_warmup_steps >= 0, "indexer_warmup", ">= 0", o.indexer_warmup_steps);
  LONGCTX_CHECK_ARG(o.indexer_loss_weight >= 0, "indexer_loss_weight", ">= 0",
                    o.indexer_loss_weight);
  LONGCTX_CHECK_ARG(
      o.answer_weight >= 0 && o.text_weight >= 0 && o.answer_weight + o.text_weight > 0,
      "answer_weight/text_weight", "non-negative, not both 0",
      o.answer_weight << ", " << o.text_weight);
  LONGCTX_CHECK_ARG(o.log_every >= 1, "log_every", ">= 1", o.log_every);
  LONGCTX_CHECK_ARG(o.save_every >= 0, "save_every", ">= 0", o.save_every);
  LrSchedule lr = o.lr;
  lr.total_steps = std::max(o.steps, lr.warmup_steps);
  validate(lr);
  validate(o.adamw);
  (void)model::parse_attention_schedule(o.attention, c);  // throws naming --attention
}

}  // namespace longctx::train
