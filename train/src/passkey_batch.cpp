// Training batches of passkey samples: one sample per row (prompt then answer) at a random
// depth, exactly seq_len tokens, with per-position loss weights that stress the answer and skip
// what cannot be learned (each key's first, random occurrence; the padding).
#include <algorithm>
#include <cmath>

#include "longctx/core/error.hpp"
#include "longctx/train/passkey_data.hpp"
#include "passkey_rng.hpp"
#include "passkey_template.hpp"

namespace longctx::train {
namespace {

void validate(const PasskeyBatchOptions& o) {
  LONGCTX_CHECK_ARG(o.rows >= 1, "rows", "at least one row", o.rows);
  LONGCTX_CHECK_ARG(o.seq_len >= 2, "seq_len", "at least 2 tokens", o.seq_len);
  LONGCTX_CHECK_ARG(std::isfinite(o.answer_weight) && o.answer_weight >= 0, "answer_weight",
                    "a finite weight >= 0", o.answer_weight);
  LONGCTX_CHECK_ARG(std::isfinite(o.text_weight) && o.text_weight >= 0, "text_weight",
                    "a finite weight >= 0", o.text_weight);
  LONGCTX_CHECK_ARG(o.needle_fraction >= 0 && o.needle_fraction <= 1, "needle_fraction",
                    "a fraction of rows in [0, 1]", o.needle_fraction);
  PasskeyOptions sample;
  sample.key_digits = o.key_digits;
  sample.needles = o.needles;
  detail::validate_passkey_options(sample);  // names key_digits / needles
}

// `count` tokens of filler text (after the answer, weight 0) for tokenizers whose prompt fell
// short of the budget.
std::vector<int32_t> padding_tokens(const model::Tokenizer& tokenizer, int64_t count) {
  std::vector<int32_t> ids;
  for (size_t bytes = size_t(count) * 8 + 32; int64_t(ids.size()) < count; bytes *= 2) {
    std::string text(1, '\n');
    text += detail::filler_text(bytes);
    ids = tokenizer.encode(text, /*add_special_tokens=*/false);
  }
  ids.resize(size_t(count));
  return ids;
}

bool starts_with(const std::vector<int32_t>& all, const std::vector<int32_t>& prefix) {
  return prefix.size() <= all.size() && std::equal(prefix.begin(), prefix.end(), all.begin());
}

// Token indices [begin, end) of the prompt that hold the byte range [first, last) of a key.
// Exact when the encodings of the text before and through the key are prefixes of the prompt's
// (always for bytes); otherwise widened by one token each side, as a merge may straddle them.
std::pair<int64_t, int64_t> key_token_span(const PasskeySample& s,
                                           const model::Tokenizer& tokenizer,
                                           std::pair<size_t, size_t> bytes) {
  const auto before = tokenizer.encode(s.prompt.substr(0, bytes.first), true);
  const auto through = tokenizer.encode(s.prompt.substr(0, bytes.second), true);
  auto begin = int64_t(before.size()), end = int64_t(through.size());
  if (!starts_with(s.prompt_tokens, before) || !starts_with(s.prompt_tokens, through)) {
    begin -= 1;
    end += 1;
  }
  const auto n = int64_t(s.prompt_tokens.size());
  return {std::clamp<int64_t>(begin, 0, n), std::clamp<int64_t>(end, 0, n)};
}

// A sample whose prompt + answer fill at most seq_len tokens. The draw (keys, colours) does not
// depend on the length, so the answer's token count is known before the prompt is fitted.
PasskeySample fitted_sample(PasskeyOptions po, int64_t seq_len, const model::Tokenizer& tokenizer,
                            uint64_t seed) {
  const detail::PasskeyDraw draw = detail::draw_passkey(po, seed);
  const auto answer_len =
      int64_t(tokenizer.encode(detail::passkey_answer(draw), /*add_special_tokens=*/false).size());
  const int64_t minimum = passkey_min_length(po, tokenizer, seed) + answer_len;
  LONGCTX_CHECK_ARG(seq_len >= minimum, "seq_len",
                    "at least " << minimum << " tokens (prompt and answer of a " << po.needles
                                << "-needle sample)",
                    seq_len);
  po.length = seq_len - answer_len;
  return make_passkey_sample(po, tokenizer, seed);
}

}  // namespace

PasskeyBatch make_passkey_batch(const PasskeyBatchOptions& o, const model::Tokenizer& tokenizer,
                                uint64_t seed) {
  validate(o);
  PasskeyBatch batch;
  batch.rows = o.rows;
  batch.seq_len = o.seq_len;
  batch.tokens.assign(size_t(o.rows * o.seq_len), 0);
  batch.loss_weights.assign(size_t(o.rows * o.seq_len), 0.f);
  for (int64_t r = 0; r < o.rows; ++r) {
    detail::PasskeyRng rng(detail::derive_seed(seed, uint64_t(r)));
    PasskeyOptions po;
    po.depth_percent = 100.0 * rng.unit();
    po.key_digits = o.key_digits;
    po.needles = rng.unit() < o.needle_fraction ? o.needles : 1;
    const uint64_t sample_seed = rng.next();
    const PasskeySample s = fitted_sample(po, o.seq_len, tokenizer, sample_seed);
    batch.keys.push_back(s.key);
    batch.depths.push_back(po.depth_percent);

    // Row layout: [prompt P][answer A][padding], seq_len in all.
    const auto p = int64_t(s.prompt_tokens.size()), a = int64_t(s.answer_tokens.size());
    int32_t* row = batch.tokens.data() + r * o.seq_len;         // [seq_len]
    float* weight = batch.loss_weights.data() + r * o.seq_len;  // [seq_len]
    std::copy(s.prompt_tokens.begin(), s.prompt_tokens.end(), row);
    std::copy(s.answer_tokens.begin(), s.answer_tokens.end(), row + p);
    const std::vector<int32_t> pad = padding_tokens(tokenizer, o.seq_len - p - a);
    std::copy(pad.begin(), pad.end(), row + p + a);

    // weight[t] scores predicting row[t + 1]: prompt text, then the answer, then nothing.
    for (int64_t t = 0; t + 1 < p; ++t) weight[t] = float(o.text_weight);
    for (int64_t t = p - 1; t + 1 < p + a; ++t) weight[t] = float(o.answer_weight);
    for (const auto& bytes : s.random_key_bytes) {
      const auto [begin, end] = key_token_span(s, tokenizer, bytes);
      for (int64_t j = std::max<int64_t>(begin, 1); j < end; ++j) weight[j - 1] = 0.f;
    }
  }
  return batch;
}

}  // namespace longctx::train
