// The synthetic passkey task of SPEC §7 (Landmark Attention's template, also LongLoRA's):
//
//   There is an important info hidden inside a lot of irrelevant text. Find it and memorize
//   them. I will quiz you about the important information there.
//   The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. …
//   The pass key is 12345. Remember it. 12345 is the pass key.
//   The grass is green. … (filler up to the requested length)
//   What is the pass key? The pass key is
//
// and the model must continue with " 12345". Lines are joined by '\n'; the needle line sits at a
// sentence boundary of the filler chosen by the depth (0: right after the instruction, 100: right
// before the question). The multi-needle variant holds one needle per door of a distinct colour
// ("The pass key of the red door is 12345. Remember it. 12345 is the pass key of the red door.")
// and asks for one of them; the others, at random depths, are distractors with distinct keys.
//
// Lengths are in tokens of the given tokenizer and include the special tokens its encode adds
// (BOS): the filler is whole sentences plus the longest prefix of the next sentence that still
// fits, so a prompt never exceeds the length and, with the byte tokenizer, meets it exactly
// (except length = minimum + 1, where the filler's own line would need two bytes). A sample is a
// pure function of (options, seed): keys, colours and distractor depths are drawn from the seed
// alone, so the same seed at another length or depth asks the same keys.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "longctx/model/tokenizer.hpp"

namespace longctx::train {

constexpr int kPasskeyMaxNeedles = 8;  // one door per colour

struct PasskeyOptions {
  int64_t length = 0;         // prompt tokens, at most (exact for the byte tokenizer)
  double depth_percent = 50;  // [0, 100]: position of the asked needle in the filler
  int key_digits = 5;         // [1, 18] digits per key, no leading zero
  int needles = 1;            // [1, kPasskeyMaxNeedles]: 1 plain, more: doors, distractors
};

struct PasskeySample {
  std::string prompt;                  // ends with the question: "... The pass key is"
  std::string answer;                  // " 12345": what must come next
  std::string key;                     // "12345"
  std::vector<int32_t> prompt_tokens;  // [<= length] tokenizer.encode(prompt, true)
  std::vector<int32_t> answer_tokens;  // tokenizer.encode(answer, false)
  // Byte ranges [begin, end) in `prompt` of every key's first occurrence (one per needle, the
  // asked key first): random digits no model can predict, unlike the repetition that follows.
  std::vector<std::pair<size_t, size_t>> random_key_bytes;
};

// ArgumentError naming the field ("length", "depth_percent", "key_digits", "needles"); "length"
// when it cannot hold the instruction, the needle(s) and the question.
PasskeySample make_passkey_sample(const PasskeyOptions& options, const model::Tokenizer& tokenizer,
                                  uint64_t seed);

// The shortest length make_passkey_sample accepts for these options and seed (length is
// ignored): door colours and, with subword tokenizers, the keys change it from seed to seed.
int64_t passkey_min_length(const PasskeyOptions& options, const model::Tokenizer& tokenizer,
                           uint64_t seed);

// SPEC §7's score: the generated text contains the key (anywhere). ArgumentError for an empty key.
bool passkey_found(std::string_view generated_text, std::string_view key);

// Training batches: every row is one sample (prompt + answer) at a depth uniform in [0, 100],
// exactly seq_len tokens. With tokenizers other than bytes a prompt may end a token or two
// short: filler text after the answer pads the row with weight 0.
struct PasskeyBatchOptions {
  int64_t rows = 1;
  int64_t seq_len = 0;
  double answer_weight = 1.0;  // weight of predicting each answer token
  double text_weight = 1.0;    // weight of predicting the other prompt tokens
  int key_digits = 5;
  double needle_fraction = 0.0;  // probability that a row is multi-needle (drawn per row)
  int needles = 3;               // needles of a multi-needle row
};

struct PasskeyBatch {
  int64_t rows = 0, seq_len = 0;
  std::vector<int32_t> tokens;  // [rows, seq_len]
  // [rows, seq_len]: weight of predicting tokens[r][t + 1] from position t. 0 for the last
  // column, the padding, and the tokens of each key's first (unpredictable) occurrence.
  std::vector<float> loss_weights;
  std::vector<std::string> keys;  // [rows] the asked key of each row
  std::vector<double> depths;     // [rows] its depth percent
};

// ArgumentError naming the field ("rows", "seq_len", "answer_weight", ...).
PasskeyBatch make_passkey_batch(const PasskeyBatchOptions& options,
                                const model::Tokenizer& tokenizer, uint64_t seed);

}  // namespace longctx::train
