// The passkey prompt's text (SPEC §7, see passkey_data.hpp): what a seed draws (keys, door
// colours, distractor depths), the endless filler stream and the prompt laid out for a given
// number of filler bytes. Fitting that number to a token budget is passkey_data.cpp's job.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "longctx/train/passkey_data.hpp"

namespace longctx::train::detail {

struct PasskeyNeedle {
  std::string key;        // "12345"
  std::string colour;     // "red" in the multi-needle variant, empty in the plain one
  double depth_fraction;  // [0, 1]: where in the filler (the asked needle's is the option's)
};

// What a seed decides, independent of the length: needles[0] is the one the question asks.
struct PasskeyDraw {
  std::vector<PasskeyNeedle> needles;  // [options.needles], distinct keys and colours
};

// Validates depth_percent, key_digits and needles (ArgumentError naming the field).
void validate_passkey_options(const PasskeyOptions& options);
PasskeyDraw draw_passkey(const PasskeyOptions& options, uint64_t seed);

// The filler: the five sentences repeated, joined by single spaces; its first `bytes` bytes.
std::string filler_text(size_t bytes);
// Bytes of the first n whole sentences with their joining spaces (0 for n = 0).
size_t filler_sentence_end(int64_t n);
// The largest n whose first n whole sentences fit in `bytes`.
int64_t filler_sentences_within(size_t bytes);

struct PasskeyText {
  std::string prompt;
  std::vector<std::pair<size_t, size_t>> random_key_bytes;  // [needles] first key occurrences
};
// Instruction, filler with the needle lines at their sentence boundaries, question; '\n' between.
PasskeyText layout_passkey_prompt(const PasskeyDraw& draw, std::string_view filler);
std::string passkey_answer(const PasskeyDraw& draw);  // " 12345"

}  // namespace longctx::train::detail
