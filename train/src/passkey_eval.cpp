// The passkey grid's bookkeeping: validation, one sample per (cell, trial), scoring, per-cell
// accuracy and time. Generation is the caller's (passkey_greedy.cpp for a real model).
#include "longctx/train/passkey_eval.hpp"

#include <algorithm>
#include <cmath>

#include "longctx/core/error.hpp"
#include "longctx/core/timer.hpp"
#include "passkey_rng.hpp"
#include "passkey_template.hpp"

namespace longctx::train {
namespace {

PasskeyOptions sample_options(const PasskeyEvalOptions& o, int64_t length, double depth) {
  PasskeyOptions s;
  s.length = length;
  s.depth_percent = depth;
  s.key_digits = o.key_digits;
  s.needles = o.needles;
  return s;
}

uint64_t trial_seed(const PasskeyEvalOptions& o, int trial) {
  return detail::derive_seed(o.seed, uint64_t(trial));
}

}  // namespace

int64_t passkey_eval_min_length(const PasskeyEvalOptions& o, const model::Tokenizer& tokenizer) {
  int64_t minimum = 0;
  for (int t = 0; t < o.trials; ++t)
    minimum =
        std::max(minimum, passkey_min_length(sample_options(o, 0, 0), tokenizer, trial_seed(o, t)));
  return minimum;
}

void validate(const PasskeyEvalOptions& o, const model::Tokenizer& tokenizer) {
  LONGCTX_CHECK_ARG(o.trials >= 1, "trials", "at least 1 sample per cell", o.trials);
  detail::validate_passkey_options(sample_options(o, 0, 0));  // key_digits, needles
  LONGCTX_CHECK_ARG(!o.depths.empty(), "depths", "at least one depth", "none");
  for (double d : o.depths)
    LONGCTX_CHECK_ARG(std::isfinite(d) && d >= 0 && d <= 100, "depths", "percentages in [0, 100]",
                      d);
  LONGCTX_CHECK_ARG(!o.lengths.empty(), "lengths", "at least one length", "none");
  const int64_t minimum = passkey_eval_min_length(o, tokenizer);
  for (int64_t length : o.lengths)
    LONGCTX_CHECK_ARG(length >= minimum, "lengths",
                      "at least " << minimum << " tokens (instruction, needle"
                                  << (o.needles > 1 ? "s" : "") << " and question)",
                      length);
}

PasskeyEvalResult evaluate_passkey(const PasskeyEvalOptions& o, const model::Tokenizer& tokenizer,
                                   const PasskeyGenerateFn& generate,
                                   const PasskeyProgressFn& progress) {
  validate(o, tokenizer);
  // " " + the digits + one token of slack for tokenizers that split the answer differently.
  const int64_t max_new_tokens = o.key_digits + 2;
  PasskeyEvalResult r;
  r.lengths = o.lengths;
  r.depths = o.depths;
  const Stopwatch total;
  for (int64_t length : o.lengths) {
    for (double depth : o.depths) {
      const Stopwatch watch;
      PasskeyCell cell;
      cell.length = length;
      cell.depth_percent = depth;
      for (int t = 0; t < o.trials; ++t) {
        const PasskeySample sample =
            make_passkey_sample(sample_options(o, length, depth), tokenizer, trial_seed(o, t));
        cell.found += passkey_found(generate(sample, max_new_tokens), sample.key);
        ++cell.trials;
      }
      cell.seconds = watch.elapsed_ms() / 1e3;
      r.trials += cell.trials;
      r.found += cell.found;
      r.cells.push_back(cell);
      if (progress) progress(cell, r.cells.size(), o.lengths.size() * o.depths.size());
    }
  }
  r.seconds = total.elapsed_ms() / 1e3;
  return r;
}

HeatmapGrid passkey_heatmap(const PasskeyEvalResult& r, std::string title) {
  HeatmapGrid g;
  g.lengths = r.lengths;
  g.depths = r.depths;
  g.accuracy.resize(r.depths.size() * r.lengths.size());  // [depths, lengths]
  for (size_t d = 0; d < r.depths.size(); ++d)
    for (size_t l = 0; l < r.lengths.size(); ++l)
      g.accuracy[d * r.lengths.size() + l] = r.cell(l, d).accuracy();
  g.title = std::move(title);
  g.overall_accuracy = r.accuracy();
  return g;
}

}  // namespace longctx::train
