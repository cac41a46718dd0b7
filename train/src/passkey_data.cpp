// Passkey samples fitted to a token budget: the largest filler (whole sentences, then the
// longest prefix of the next one) whose prompt still encodes to at most `length` tokens. The
// search only ever accepts a filler it has encoded and found to fit, so the budget holds for
// any tokenizer, even where adding text can merge tokens; for bytes it is met exactly.
#include "longctx/train/passkey_data.hpp"

#include <algorithm>

#include "longctx/core/error.hpp"
#include "passkey_template.hpp"

namespace longctx::train {
namespace {

using detail::filler_sentence_end;

class PromptFitter {
 public:
  PromptFitter(const detail::PasskeyDraw& draw, const model::Tokenizer& tokenizer)
      : draw_(draw), tokenizer_(tokenizer) {}

  int64_t tokens(size_t filler_bytes) const {
    const std::string text =
        detail::layout_passkey_prompt(draw_, detail::filler_text(filler_bytes)).prompt;
    return int64_t(tokenizer_.encode(text, /*add_special_tokens=*/true).size());
  }
  bool fits(size_t filler_bytes, int64_t length) const { return tokens(filler_bytes) <= length; }

  // The largest filler (in bytes) found to fit; tokens(0) <= length must hold.
  size_t fit(int64_t length) const {
    const int64_t whole = fit_whole_sentences(length);
    // Then as much of the next sentence as fits: bytes in [end(whole), end(whole + 1)).
    size_t lo = filler_sentence_end(whole), hi = filler_sentence_end(whole + 1);
    while (hi - lo > 1) {
      const size_t mid = lo + (hi - lo) / 2;
      (fits(mid, length) ? lo : hi) = mid;
    }
    return lo;
  }

 private:
  // Whole sentences: start from the filler's measured bytes per token, gallop to a bracket
  // [lo fits, hi does not], bisect. A sentence is at least one token, so length + 1 sentences
  // bound the search even for a tokenizer that would swallow text.
  int64_t fit_whole_sentences(int64_t length) const {
    const std::string probe = detail::filler_text(filler_sentence_end(50));
    const double bytes_per_token =
        double(probe.size()) /
        double(std::max<size_t>(1, tokenizer_.encode(probe, /*add_special_tokens=*/false).size()));
    const int64_t spare = std::max<int64_t>(0, length - tokens(0));
    const int64_t cap = length + 1;
    const auto fits_n = [&](int64_t n) { return fits(filler_sentence_end(n), length); };
    int64_t lo = 0, hi = cap + 1;  // fits(lo); hi: first known not to fit (cap + 1: none yet)
    int64_t guess = std::min(cap, detail::filler_sentences_within(size_t(spare * bytes_per_token)));
    if (fits_n(guess)) {
      lo = guess;
      for (int64_t step = 1; lo < cap; step *= 2) {
        const int64_t probe_n = std::min(cap, lo + step);
        if (!fits_n(probe_n)) {
          hi = probe_n;
          break;
        }
        lo = probe_n;
      }
      if (lo == cap) return cap;
    } else {
      hi = guess;
      for (int64_t step = 1;; step *= 2) {
        const int64_t probe_n = std::max<int64_t>(0, hi - step);
        if (probe_n == 0 || fits_n(probe_n)) {
          lo = probe_n;
          break;
        }
        hi = probe_n;
      }
    }
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      (fits_n(mid) ? lo : hi) = mid;
    }
    return lo;
  }

  const detail::PasskeyDraw& draw_;
  const model::Tokenizer& tokenizer_;
};

}  // namespace

PasskeySample make_passkey_sample(const PasskeyOptions& options, const model::Tokenizer& tokenizer,
                                  uint64_t seed) {
  const detail::PasskeyDraw draw = detail::draw_passkey(options, seed);
  const PromptFitter fitter(draw, tokenizer);
  const int64_t minimum = fitter.tokens(0);
  LONGCTX_CHECK_ARG(options.length >= minimum, "length",
                    "at least " << minimum << " tokens (instruction, needle"
                                << (options.needles > 1 ? "s" : "") << " and question)",
                    options.length);
  detail::PasskeyText text =
      detail::layout_passkey_prompt(draw, detail::filler_text(fitter.fit(options.length)));
  PasskeySample s;
  s.prompt = std::move(text.prompt);
  s.random_key_bytes = std::move(text.random_key_bytes);
  s.key = draw.needles[0].key;
  s.answer = detail::passkey_answer(draw);
  s.prompt_tokens = tokenizer.encode(s.prompt, /*add_special_tokens=*/true);
  s.answer_tokens = tokenizer.encode(s.answer, /*add_special_tokens=*/false);
  return s;
}

int64_t passkey_min_length(const PasskeyOptions& options, const model::Tokenizer& tokenizer,
                           uint64_t seed) {
  return PromptFitter(detail::draw_passkey(options, seed), tokenizer).tokens(0);
}

bool passkey_found(std::string_view generated_text, std::string_view key) {
  LONGCTX_CHECK_ARG(!key.empty(), "key", "a non-empty pass key", "''");
  return generated_text.find(key) != std::string_view::npos;
}

}  // namespace longctx::train
