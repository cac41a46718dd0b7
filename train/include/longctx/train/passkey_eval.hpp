// Passkey retrieval over a grid of context lengths × needle depths (SPEC §7, the
// needle-in-a-haystack grid): `trials` samples per cell, each answered by greedy decoding of
// key_digits + 2 tokens (stopping once the key is out or an EOS appears) and scored by
// passkey_found. Trial t draws its keys from derive(seed, t) in every cell, so cells differ only
// in length and depth. Cells run one after another; each prefill uses the decoder's threads.
//
// Generation sits behind PasskeyGenerateFn so the bookkeeping can be tested with a scripted
// "model"; evaluate_passkey_model is the production path (one Decoder, reset per trial).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "longctx/model/config.hpp"
#include "longctx/model/decoder.hpp"
#include "longctx/model/schedule.hpp"
#include "longctx/model/tokenizer.hpp"
#include "longctx/model/weights.hpp"
#include "longctx/train/heatmap.hpp"
#include "longctx/train/passkey_data.hpp"

namespace longctx::train {

struct PasskeyEvalOptions {
  std::vector<int64_t> lengths;  // prompt tokens, one grid column each
  std::vector<double> depths;    // depth percents, one grid row each
  int trials = 1;                // samples per cell
  int key_digits = 5;
  int needles = 1;  // > 1: the multi-needle variant (distractor doors)
  uint64_t seed = 0;
};

struct PasskeyCell {
  int64_t length = 0;
  double depth_percent = 0;
  int trials = 0, found = 0;
  double seconds = 0;  // wall time of the cell's trials
  double accuracy() const { return trials > 0 ? double(found) / trials : 0.0; }
};

struct PasskeyEvalResult {
  std::vector<int64_t> lengths;
  std::vector<double> depths;
  std::vector<PasskeyCell> cells;  // [lengths, depths]: cells[l * depths.size() + d]
  int64_t trials = 0, found = 0;   // over the whole grid
  double seconds = 0;
  double accuracy() const { return trials > 0 ? double(found) / double(trials) : 0.0; }
  const PasskeyCell& cell(size_t length_index, size_t depth_index) const {
    return cells[length_index * depths.size() + depth_index];
  }
};

// The text a model continues `sample.prompt_tokens` with, at most max_new_tokens tokens.
using PasskeyGenerateFn =
    std::function<std::string(const PasskeySample& sample, int64_t max_new_tokens)>;
// Called after each cell: the cell and how many cells are done out of how many.
using PasskeyProgressFn = std::function<void(const PasskeyCell& cell, size_t done, size_t total)>;

// ArgumentError naming "lengths" (empty, or shorter than the prompt needs), "depths" (empty or
// outside [0, 100]), "trials" (< 1), "key_digits", "needles".
void validate(const PasskeyEvalOptions& options, const model::Tokenizer& tokenizer);
// The shortest length every trial's sample can take (the minimum over lengths must reach it).
int64_t passkey_eval_min_length(const PasskeyEvalOptions& options,
                                const model::Tokenizer& tokenizer);

PasskeyEvalResult evaluate_passkey(const PasskeyEvalOptions& options,
                                   const model::Tokenizer& tokenizer,
                                   const PasskeyGenerateFn& generate,
                                   const PasskeyProgressFn& progress = {});

// Greedy decoding with `decoder` (reset for every sample), stopping as soon as the decoded text
// holds the sample's key or one of `stop_tokens` (EOS) comes out.
PasskeyGenerateFn greedy_passkey_generator(model::Decoder& decoder,
                                           const model::Tokenizer& tokenizer,
                                           std::vector<int32_t> stop_tokens);

// A model on the grid: one Decoder with `schedule` and `decoder_options` (threads), EOS from
// the config. The tokenizer's ids must lie in the model's vocabulary.
PasskeyEvalResult evaluate_passkey_model(const model::ModelConfig& config,
                                         const model::DecoderWeights& weights,
                                         const model::AttentionSchedule& schedule,
                                         const model::Tokenizer& tokenizer,
                                         const PasskeyEvalOptions& options,
                                         const model::DecoderOptions& decoder_options = {},
                                         const PasskeyProgressFn& progress = {});

// The result as a heatmap grid (depth rows × length columns) titled `title`.
HeatmapGrid passkey_heatmap(const PasskeyEvalResult& result, std::string title);

}  // namespace longctx::train
