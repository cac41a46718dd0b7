// Checkpoints of training: the model in the Hugging Face layout (config.json + model.safetensors,
// loadable by transformers as LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM and by
// model::load_model_config + model::load_decoder_weights), and the state that resumes training
// (optimizer moments in optimizer.safetensors, counters and options in trainer_state.json).
//
// Every file is written under a temporary name and renamed into place, so an interrupted save
// leaves the previous file (or none), never a truncated one. Training data is generated from
// (seed, step), so no random-number state is saved.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "longctx/model/config.hpp"
#include "longctx/model/weights.hpp"
#include "longctx/train/adamw.hpp"

namespace longctx::train {

inline constexpr const char* kOptimizerStateFile = "optimizer.safetensors";
inline constexpr const char* kTrainerStateFile = "trainer_state.json";

// config.json text for `config` in its architecture's HF form, read identically by
// model::parse_model_config (every field round-trips), transformers 5 ("rope_parameters",
// "dtype") and 4.x ("rope_theta" + "rope_scaling", "torch_dtype"). ArgumentError naming the
// field when the architecture cannot express the config: per-layer sliding windows other than
// Mistral's uniform window or Qwen2's one window on some layers, Llama with a window, or biases
// that the architecture does not have.
std::string model_config_json(const model::ModelConfig& config);

// Creates `dir` and writes config.json (weight dtype float32), model.safetensors (float32, HF
// names in named_parameters order, metadata {"format": "pt"}, trained indexers included) and
// generation_config.json. ArgumentError when `weights` do not fit `config` (layer count,
// embedding size, an LM head exactly when untied).
void save_model_checkpoint(const std::filesystem::path& dir, const model::ModelConfig& config,
                           const model::DecoderWeights& weights);

// What resumes a run besides the weights and the optimizer moments.
struct TrainingState {
  int64_t step = 0;         // training steps completed: the next step to run
  int64_t tokens_seen = 0;  // training tokens consumed so far
  nlohmann::json options;   // the run's training options, stored and returned as given
};

// Writes DIR/optimizer.safetensors ("exp_avg.<param>", "exp_avg_sq.<param>", float32, metadata
// "optimizer_steps") and then DIR/trainer_state.json (step, tokens_seen, the optimizer's step
// count and options, `state.options`), creating DIR.
void save_training_state(const std::filesystem::path& dir, const AdamW& optimizer,
                         const TrainingState& state);

// Restores `optimizer` (moments and step count; its options stay those it was built with) and
// returns the state. Every moment is checked against the parameter of the same name in `shapes`
// (the weights being trained): ArgumentError naming the file and the tensor on a missing, extra
// or mis-shaped tensor, a missing or malformed file, or files from two different saves.
TrainingState load_training_state(const std::filesystem::path& dir, AdamW& optimizer,
                                  const model::DecoderWeights& shapes);

}  // namespace longctx::train
